//! Judging a spooled message, after the `250` (on a blocking thread): the transport report built
//! from the envelope record, then the MSSanté message checks of [`crate::mail::analyse`]; the
//! whole run goes to `msg/<ID>.report.json`.

use super::rules;
use super::spool::{Envelope, Spool};
use crate::finding::report::{DocumentReport, RunReport};
use crate::finding::{Finding, Severity, Verdict, quote};
use crate::mail::Policy;
use crate::pipeline::Validator;

/// The outcome of one analysis, for the server's log line.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Verdict,
    pub errors: usize,
    pub warnings: usize,
}

/// A message stored and judged, handed to a caller embedding the server (`banc run`, the
/// simulators) with the bytes it was judged on, so that nobody reads it again.
#[derive(Debug, Clone)]
pub struct Analysed {
    pub envelope: Envelope,
    pub raw: Vec<u8>,
    /// The analysis as written to `<ID>.report.json`: transport, message, package, documents.
    pub report: RunReport,
}

/// The transport findings and the rules that ran, from what the session recorded.
pub fn transport_findings(
    env: &Envelope,
    asked_client_cert: bool,
) -> (Vec<Finding>, Vec<crate::finding::report::RuleRun>) {
    let mut findings = Vec::new();
    let mut ran = vec![
        rules::TLS_NONE.ran(),
        rules::BARE_LF.ran(),
        rules::EIGHT_BIT.ran(),
    ];
    match &env.tls {
        None => findings.push(rules::TLS_NONE.finding(format!(
            "(session de {}, HELO {})",
            env.peer,
            quote(&env.helo)
        ))),
        Some(t) => {
            findings.push(rules::TLS_SESSION.finding(format!("{}, suite {}", t.version, t.cipher)));
            match &t.client_cert {
                Some(c) => findings.push(rules::CLIENT_CERT.finding(format!(
                    "sujet « {} », émetteur « {} », valide du {} au {}{}.",
                    quote(&c.subject),
                    quote(&c.issuer),
                    c.not_before,
                    c.not_after,
                    if c.san.is_empty() {
                        String::new()
                    } else {
                        format!(", noms {}", quote(c.san.join(", ")))
                    }
                ))),
                None if asked_client_cert => {
                    findings.push(rules::CLIENT_CERT_ABSENT.finding(""));
                }
                None => {}
            }
            if asked_client_cert {
                ran.push(rules::CLIENT_CERT_ABSENT.ran());
            }
        }
    }
    if env.bare_lf_lines > 0 {
        let line = env.first_bare_lf_line.unwrap_or(0);
        let mut f = rules::BARE_LF.finding(format!(
            "{} ligne(s), la première à la ligne {line} du message.",
            env.bare_lf_lines
        ));
        f.location.line = u32::try_from(line).ok();
        findings.push(f);
    }
    if env.eight_bit && env.body.as_deref() != Some("8BITMIME") {
        findings.push(rules::EIGHT_BIT.finding(""));
    }
    (findings, ran)
}

/// Analyse message `id` and write its report. Blocking (reads the message, runs the pipeline).
pub fn analyse(
    spool: &Spool,
    id: &str,
    validator: &Validator,
    policy: &Policy,
    asked_client_cert: bool,
) -> Result<(Outcome, Analysed), String> {
    let env_path = spool.envelope(id);
    let env: Envelope = std::fs::read(&env_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .map_err(|e| format!("{} : {e}", env_path.display()))?;
    let raw = std::fs::read(spool.message(id))
        .map_err(|e| format!("{} : {e}", spool.message(id).display()))?;
    let (findings, ran) = transport_findings(&env, asked_client_cert);
    let mut reports: Vec<DocumentReport> = vec![validator.container_report(
        &format!("{id} (transport)"),
        "smtp-session",
        findings,
        ran,
    )];
    // The mail pipeline must not take the server down, whatever the message holds.
    let name = format!("{id}.eml");
    match crate::banc::internal::guard(|| crate::mail::analyse(&name, &raw, validator, policy)) {
        Ok(r) => reports.extend(r),
        Err(f) => reports.push(validator.internal_error_report(&name, *f)),
    }
    let run = RunReport::new(validator.kit_stamp(), Severity::Error, reports);
    spool.write_report(id, &crate::report::json::render(&run))?;
    let verdict = run.verdict();
    let count = |s: Severity| {
        run.documents
            .iter()
            .flat_map(|d| &d.findings)
            .filter(|f| f.severity == s)
            .count()
    };
    let outcome = Outcome {
        verdict,
        errors: count(Severity::Error),
        warnings: count(Severity::Warning),
    };
    Ok((
        outcome,
        Analysed {
            envelope: env,
            raw,
            report: run,
        },
    ))
}
