//! Judging an MDN or a DSN received for a message (A01): rules `mail.mdn.*`, `mail.dsn.*`,
//! `mail.ack.*`.

use super::*;
use crate::finding::quote;

fn ran(rules: &[&'static Rule]) -> Vec<RuleRun> {
    rules.iter().map(|r| r.ran()).collect()
}

fn required_headers(tree: &Tree<'_>, findings: &mut Vec<Finding>) {
    for name in ["Date", "From", "To", "Message-ID", "Subject"] {
        if tree.root().field(name).is_none() {
            findings.push(
                r::HEADER_REQUIRED
                    .finding(format!("{name}."))
                    .at(at_header(name)),
            );
        }
    }
}

/// An acknowledgement that could not be read: its one finding, as the one rule that ran.
fn unreadable(f: Finding) -> (Vec<Finding>, Vec<RuleRun>) {
    let run = crate::pipeline::engine_run(&f.rule, f.layer, &f.message);
    (vec![f], vec![run])
}

/// Judge an MDN (A01), against the original message when given (Original-Message-ID, subject,
/// recipient); without it, against the original the MDN carries in part 3.
pub fn judge_mdn(raw: &[u8], original: Option<&[u8]>) -> (Vec<Finding>, Vec<RuleRun>) {
    let mut findings = Vec::new();
    let mdn = match parse_mdn(raw) {
        Ok(m) => m,
        Err(f) => return unreadable(f),
    };
    let tree = mime::parse(raw, LIMITS);
    let mut runs = ran(&[
        r::HEADER_REQUIRED,
        r::MDN_STRUCTURE,
        r::MDN_ORIGINAL_MISSING,
        r::MDN_FINAL_RECIPIENT,
        r::MDN_DISPOSITION,
        r::MDN_ERROR_CODE,
        r::MDN_ORIGINAL_MESSAGE_ID_MISSING,
        r::MDN_REPORTING_UA,
        r::MDN_SUBJECT,
        r::MDN_HUMAN_PART,
        r::MDN_OUTCOME,
    ]);
    required_headers(&tree, &mut findings);
    let parts = top_parts(&tree);
    let dn_path = parts
        .iter()
        .find(|p| p.effective_type() == "message/disposition-notification")
        .map(|p| p.path.clone())
        .unwrap_or_default();
    let at_dn = |field: &str| Location {
        xpath: Some(format!("{dn_path}/{field}")),
        ..Location::default()
    };
    // Structure (RFC 6522 §3, IG LPS): text, notification, original.
    match mdn.parts.first().map(String::as_str) {
        Some("text/plain") => {}
        other => findings.push(
            r::MDN_HUMAN_PART
                .finding(format!("1re partie {}.", other.unwrap_or("absente")))
                .at(at_message()),
        ),
    }
    if mdn.parts.get(1).map(String::as_str) != Some("message/disposition-notification") {
        findings.push(
            r::MDN_STRUCTURE
                .finding(format!(
                    "la 2e partie doit être message/disposition-notification (parties : {}).",
                    mdn.parts.join(", ")
                ))
                .at(at_message()),
        );
    }
    if mdn.original.is_none() {
        findings.push(r::MDN_ORIGINAL_MISSING.finding("").at(at_message()));
    }
    // Fields.
    match &mdn.final_recipient {
        Some(v) if typed_address(v).is_some() => {}
        other => findings.push(
            r::MDN_FINAL_RECIPIENT
                .finding(match other {
                    Some(v) => format!("« {} ».", quote(v)),
                    None => "champ absent.".into(),
                })
                .at(at_dn("Final-Recipient")),
        ),
    }
    if let Some(v) = &mdn.original_recipient
        && typed_address(v).is_none()
    {
        runs.push(r::MDN_ORIGINAL_RECIPIENT.ran());
        findings.push(
            r::MDN_ORIGINAL_RECIPIENT
                .finding(format!("(valeur invalide « {} »)", quote(v)))
                .at(at_dn("Original-Recipient")),
        );
    }
    if mdn.reporting_ua.is_none() {
        findings.push(r::MDN_REPORTING_UA.finding("").at(at_dn("Reporting-UA")));
    }
    let is_error = mdn.is_error();
    let code = mdn.error.as_ref().and_then(|e| e.code);
    if is_error {
        let ok = code.is_some_and(|c| conventions::error_label(c).is_some());
        if !ok {
            let what = match &mdn.error {
                Some(e) => format!("« {} ».", quote(&e.text)),
                None => "modificateur error sans champ Error:.".into(),
            };
            findings.push(r::MDN_ERROR_CODE.finding(what).at(at_dn("Error")));
        }
        if mdn.legacy_error_form {
            runs.push(r::MDN_LEGACY_ERROR.ran());
            findings.push(r::MDN_LEGACY_ERROR.finding("").at(at_dn("Disposition")));
        }
        // The human-readable part gives the code.
        if let (Some(c), Some(p)) = (code, parts.first()) {
            let text = p
                .decoded(raw)
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            if text.is_ok_and(|t| !t.contains(&c.to_string())) {
                findings.push(
                    r::MDN_HUMAN_PART
                        .finding(format!("le texte ne cite pas le code d'erreur {c}."))
                        .at(at_message()),
                );
            }
        }
    }
    // Subject convention.
    let subject = mdn.subject.clone().unwrap_or_default();
    let xdm_part = if is_error {
        let want = match code {
            Some(c) => format!("{KO_PREFIX}[{c}] "),
            None => format!("{KO_PREFIX}["),
        };
        match subject.strip_prefix(&want) {
            Some(rest) if code.is_some() => Some(rest.to_string()),
            _ => {
                findings.push(
                    r::MDN_SUBJECT
                        .finding(format!(
                            "« {} » : « {KO_PREFIX}[{}] XDM/1.0/DDM+… » attendu pour une erreur.",
                            quote(&subject),
                            code.map(|c| c.to_string()).unwrap_or_else(|| "code".into())
                        ))
                        .at(at_header("Subject")),
                );
                None
            }
        }
    } else {
        Some(subject.clone())
    };
    if let Some(x) = &xdm_part
        && !x.starts_with(SUBJECT_PREFIX)
    {
        findings.push(
            r::MDN_SUBJECT
                .finding(format!(
                    "« {} » : l'objet doit reprendre « XDM/1.0/DDM+… ».",
                    quote(&subject)
                ))
                .at(at_header("Subject")),
        );
    }
    // Against the original message.
    let original_raw: Option<Vec<u8>> = original.map(<[u8]>::to_vec).or(mdn.original.clone());
    match (&mdn.original_message_id, &original_raw) {
        (None, _) => findings.push(
            r::MDN_ORIGINAL_MESSAGE_ID_MISSING
                .finding("")
                .at(at_dn("Original-Message-ID")),
        ),
        (Some(got), Some(o)) => {
            runs.push(r::MDN_ORIGINAL_MESSAGE_ID_MISMATCH.ran());
            let want = crate::mail::message_id(o);
            if want.as_deref().map(str::trim) != Some(got.trim()) {
                findings.push(
                    r::MDN_ORIGINAL_MESSAGE_ID_MISMATCH
                        .finding(format!(
                            "« {} » pour « {} ».",
                            quote(got),
                            quote(want.unwrap_or_else(|| "(aucun Message-ID)".into()))
                        ))
                        .at(at_dn("Original-Message-ID")),
                );
            }
        }
        (Some(_), None) => {}
    }
    if let Some(o) = original {
        runs.extend(ran(&[
            r::MDN_RECIPIENT,
            r::MDN_NOT_REQUESTED,
            r::MDN_ORIGINAL_RECIPIENT,
        ]));
        match crate::mail::disposition_notification_to(o) {
            None => findings.push(r::MDN_NOT_REQUESTED.finding("").at(at_message())),
            Some(dnt) => {
                if !mdn.to.iter().any(|t| t.eq_ignore_ascii_case(&dnt)) {
                    findings.push(
                        r::MDN_RECIPIENT
                            .finding(format!("To {} au lieu de {dnt}.", mdn.to.join(", ")))
                            .at(at_header("To")),
                    );
                }
            }
        }
        if crate::mail::header_text(o, "Original-Recipient").is_some()
            && mdn.original_recipient.is_none()
        {
            findings.push(
                r::MDN_ORIGINAL_RECIPIENT
                    .finding("")
                    .at(at_dn("Original-Recipient")),
            );
        }
        let o_tree = mime::parse(o, LIMITS);
        if let (Some(os), Some(x)) = (subject_of(&o_tree), &xdm_part) {
            let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
            if x.starts_with(SUBJECT_PREFIX) && norm(x) != norm(&os) {
                findings.push(
                    r::MDN_SUBJECT
                        .finding(format!(
                            "« {} » ne reprend pas l'objet du message « {} ».",
                            quote(x),
                            quote(os)
                        ))
                        .at(at_header("Subject")),
                );
            }
        }
    }
    let outcome = match (&mdn.error, is_error) {
        (Some(e), true) => format!(
            "{} ({}).",
            mdn.outcome(),
            if e.label.is_empty() {
                &e.text
            } else {
                &e.label
            }
        ),
        _ => format!("{}.", mdn.outcome()),
    };
    findings.push(r::MDN_OUTCOME.finding(outcome).at(at_dn("Disposition")));
    (findings, runs)
}

static STATUS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([245])\.\d{1,3}\.\d{1,3}$").expect("static regex"));

/// Judge a DSN (RFC 3464), against the original message when given.
pub fn judge_dsn(raw: &[u8], original: Option<&[u8]>) -> (Vec<Finding>, Vec<RuleRun>) {
    let dsn = match parse_dsn(raw) {
        Ok(d) => d,
        Err(f) => return unreadable(f),
    };
    let tree = mime::parse(raw, LIMITS);
    let mut findings = Vec::new();
    let mut runs = ran(&[
        r::HEADER_REQUIRED,
        r::DSN_STRUCTURE,
        r::DSN_REPORTING_MTA,
        r::DSN_FINAL_RECIPIENT,
        r::DSN_ACTION,
        r::DSN_STATUS,
        r::DSN_DIAGNOSTIC,
        r::DSN_ORIGINAL_MISSING,
        r::DSN_OUTCOME,
    ]);
    required_headers(&tree, &mut findings);
    if dsn.parts.get(1).map(String::as_str) != Some("message/delivery-status") {
        findings.push(
            r::DSN_STRUCTURE
                .finding(format!(
                    "la 2e partie doit être message/delivery-status (parties : {}).",
                    dsn.parts.join(", ")
                ))
                .at(at_message()),
        );
    }
    let valid_mta = |v: &str| {
        v.split_once(';')
            .is_some_and(|(t, h)| t.trim().eq_ignore_ascii_case("dns") && !h.trim().is_empty())
    };
    if !dsn.reporting_mta.as_deref().is_some_and(valid_mta) {
        findings.push(r::DSN_REPORTING_MTA.finding("").at(at_message()));
    }
    if dsn.recipients.is_empty() {
        findings.push(
            r::DSN_STRUCTURE
                .finding("aucun bloc destinataire (Final-Recipient, Action, Status).")
                .at(at_message()),
        );
    }
    let mut outcomes = Vec::new();
    for (i, rc) in dsn.recipients.iter().enumerate() {
        let at = Location {
            xpath: Some(format!("delivery-status/recipient[{}]", i + 1)),
            ..Location::default()
        };
        let who = rc
            .final_recipient
            .as_deref()
            .and_then(typed_address)
            .unwrap_or_else(|| format!("destinataire {}", i + 1));
        if rc
            .final_recipient
            .as_deref()
            .and_then(typed_address)
            .is_none()
        {
            findings.push(
                r::DSN_FINAL_RECIPIENT
                    .finding(format!(
                        "« {} ».",
                        quote(rc.final_recipient.as_deref().unwrap_or("absent"))
                    ))
                    .at(at.clone()),
            );
        }
        let action = rc.action.as_deref();
        let actions = ["failed", "delayed", "delivered", "relayed", "expanded"];
        if !action.is_some_and(|a| actions.contains(&a)) {
            findings.push(
                r::DSN_ACTION
                    .finding(format!(
                        "{who} : « {} ».",
                        quote(action.unwrap_or("absent"))
                    ))
                    .at(at.clone()),
            );
        }
        let status = rc
            .status
            .as_deref()
            .map(|s| s.split_whitespace().next().unwrap_or(""));
        let class = status
            .and_then(|s| STATUS.captures(s))
            .map(|c| c[1].to_string());
        let consistent = match (action, class.as_deref()) {
            (Some("failed"), Some("5")) | (Some("delayed"), Some("4")) => true,
            (Some("delivered" | "relayed" | "expanded"), Some("2")) => true,
            (_, Some(_)) => !action.is_some_and(|a| actions.contains(&a)),
            (_, None) => false,
        };
        if !consistent {
            findings.push(
                r::DSN_STATUS
                    .finding(format!(
                        "{who} : Status « {} » avec Action « {} ».",
                        quote(rc.status.as_deref().unwrap_or("absent")),
                        quote(action.unwrap_or("absente"))
                    ))
                    .at(at.clone()),
            );
        }
        if action == Some("failed") && rc.diagnostic_code.is_none() {
            findings.push(r::DSN_DIAGNOSTIC.finding(format!("({who})")).at(at.clone()));
        }
        outcomes.push(format!(
            "{who} : {} {}{}",
            action.unwrap_or("?"),
            rc.status.as_deref().unwrap_or("?"),
            rc.diagnostic_code
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ));
    }
    match (&dsn.returned_message_id, original) {
        (None, _) => findings.push(r::DSN_ORIGINAL_MISSING.finding("").at(at_message())),
        (Some(got), Some(o)) => {
            runs.push(r::DSN_ORIGINAL_MISMATCH.ran());
            let want = crate::mail::message_id(o);
            if want.as_deref() != Some(got.as_str()) {
                findings.push(
                    r::DSN_ORIGINAL_MISMATCH
                        .finding(format!(
                            "« {} » pour « {} ».",
                            quote(got),
                            quote(want.unwrap_or_else(|| "(aucun Message-ID)".into()))
                        ))
                        .at(at_message()),
                );
            }
        }
        (Some(_), None) => {}
    }
    findings.push(
        r::DSN_OUTCOME
            .finding(format!("{}.", outcomes.join(" ; ")))
            .at(at_message()),
    );
    (findings, runs)
}
