//! Playing one step of a scenario against one participant, and checking its `expect` table.

use super::inbox::{Hit, PATIENT_DOMAIN, Received};
use super::model::{Accept, AckKind, Disposition, Expect, ExpectedVerdict, Kind, Step};
use super::results::{Check, JudgedObject, Status, StepResult};
use super::run::{Ctx, Deadline};
use crate::cda::header::CdaHeader;
use crate::finding::report::DocumentReport;
use crate::finding::{Finding, Layer, Severity};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// LOINC's OID.
const LOINC: &str = "2.16.840.1.113883.6.1";
/// Largest submitted file or downloaded body read.
const MAX_INPUT: u64 = 64 * 1024 * 1024;
/// How often the submissions folder is looked at.
const POLL: Duration = Duration::from_millis(200);

/// What an earlier step left for later ones (`of`, `replaces`).
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// send-mail: the Message-ID sent (with brackets) and the message.
    pub sent: Option<(String, Vec<u8>)>,
    /// submit, await-mail: the CDA headers judged.
    pub documents: Vec<CdaHeader>,
    /// What the step received, sent or was given (documents, messages, acknowledgements,
    /// evidence), as bytes: an event keeps each one (`event` stores them as blobs).
    pub artifacts: Vec<Artifact>,
}

/// One thing a step used, kept as evidence of what was judged.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// `submission`, `received`, `sent`, `ack` or `evidence`.
    pub kind: &'static str,
    /// A file name: the submitted file's, `<message id>.eml`...
    pub name: String,
    pub bytes: std::sync::Arc<[u8]>,
}

impl Output {
    fn keep(&mut self, kind: &'static str, name: impl Into<String>, bytes: &[u8]) {
        self.artifacts.push(Artifact {
            kind,
            name: name.into(),
            bytes: bytes.into(),
        });
    }
}

/// A step being played: its result so far, with a log.
pub struct Play {
    pub result: StepResult,
    pub output: Output,
    start: Instant,
}

impl Play {
    pub fn new(step: &Step, n: usize) -> Play {
        Play {
            result: StepResult {
                id: step.label(n),
                kind: step.kind,
                title: step.title.clone(),
                status: Status::Passed,
                message: String::new(),
                duration_ms: 0,
                log: Vec::new(),
                checks: Vec::new(),
                reports: Vec::new(),
                instructions: step.instructions.clone(),
                checklist: step.checklist.clone().unwrap_or_default(),
                evidence: Vec::new(),
                decision: None,
            },
            output: Output::default(),
            start: Instant::now(),
        }
    }

    pub fn log(&mut self, line: impl AsRef<str>) {
        self.result
            .log
            .push(format!("{} {}", clock(), line.as_ref()));
    }

    pub fn end(mut self, status: Status, message: impl Into<String>) -> (StepResult, Output) {
        self.result.status = status;
        self.result.message = message.into();
        self.result.duration_ms = self.start.elapsed().as_millis() as u64;
        (self.result, self.output)
    }

    /// Passed when every check held, else failed with the first failing check.
    fn judged(self, what: &str) -> (StepResult, Output) {
        match self.result.checks.iter().find(|c| !c.ok) {
            Some(c) => {
                let m = format!("{what} : {} — {}", c.name, c.detail);
                self.end(Status::Failed, m)
            }
            None => {
                let m = format!("{what} : attentes satisfaites");
                self.end(Status::Passed, m)
            }
        }
    }

    fn check(&mut self, name: &str, ok: bool, detail: impl Into<String>) {
        self.result.checks.push(Check {
            name: name.to_string(),
            ok,
            detail: detail.into(),
        });
    }
}

/// `HH:MM:SS.mmm` UTC, for log lines.
pub fn clock() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

/// Play `step` (number `n`, 1-based) of the context's scenario.
pub async fn play(
    cx: &Ctx,
    step: &Step,
    n: usize,
    earlier: &HashMap<String, Output>,
    previous_send: Option<&Output>,
    deadline: Deadline,
) -> (StepResult, Output) {
    let mut p = Play::new(step, n);
    match step.kind {
        Kind::Submit => submit(cx, step, p, deadline).await,
        Kind::AwaitMail => await_mail(cx, step, p, earlier, deadline).await,
        Kind::SendMail => send_mail(cx, step, p).await,
        Kind::AwaitAck => {
            let of = match &step.of {
                Some(id) => earlier.get(id),
                None => previous_send,
            };
            match of.and_then(|o| o.sent.clone()) {
                Some(sent) => await_ack(cx, step, p, sent, deadline).await,
                None => {
                    p.log("aucun message envoyé par une étape send-mail précédente");
                    p.end(Status::Skipped, "pas de message envoyé à accuser")
                }
            }
        }
        Kind::Http if step.wait == Some(true) => http_wait(cx, step, p, deadline).await,
        Kind::Http => http_call(cx, step, p, deadline).await,
        Kind::Evidence | Kind::Monitor => manual(cx, step, p),
    }
}

// ---------------------------------------------------------------------------------------------
// submit

async fn submit(cx: &Ctx, step: &Step, mut p: Play, deadline: Deadline) -> (StepResult, Output) {
    let dir = cx.step_dir(&p.result.id);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return p.end(Status::Error, format!("{} : {e}", dir.display()));
    }
    p.log(format!(
        "en attente d'un dépôt dans {} (document .xml, paquet .zip, message .eml, ou fichier .url donnant une adresse) — délai {}",
        dir.display(),
        human(deadline.left())
    ));
    cx.announce(
        step,
        &p.result.id,
        &format!("déposer le fichier dans {}", dir.display()),
    );
    if let Some(lab) = cx.lab() {
        lab.submit(cx, step, &dir);
    }
    let file = loop {
        if let Some(f) = first_file(&dir) {
            break f;
        }
        if deadline.left().is_zero() {
            let m = format!(
                "aucun dépôt reçu en {} dans {}",
                human(deadline.total),
                dir.display()
            );
            return p.end(Status::Failed, m);
        }
        tokio::time::sleep(POLL.min(deadline.left())).await;
    };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    p.log(format!("dépôt reçu : {name}"));
    let bytes = match read_capped(&file) {
        Ok(b) => b,
        Err(e) => return p.end(Status::Failed, e),
    };
    let (name, bytes) = if name.to_ascii_lowercase().ends_with(".url") {
        let url = String::from_utf8_lossy(&bytes).trim().to_string();
        let shown = super::fetch::shown(&url);
        p.log(format!("téléchargement de {shown}"));
        match download(&url, cx, deadline).await {
            Ok((u, b)) => (
                u.path_segments()
                    .and_then(|mut s| s.next_back())
                    .filter(|n| !n.is_empty())
                    .unwrap_or("document")
                    .to_string(),
                b,
            ),
            Err(e) => return p.end(Status::Failed, format!("{shown} : {e}")),
        }
    } else {
        (name, bytes)
    };
    p.output.keep("submission", name.as_str(), &bytes);
    let kind = sniff(&name, &bytes);
    let accepted = step
        .accept
        .clone()
        .unwrap_or(vec![Accept::Cda, Accept::Xdm, Accept::Eml]);
    if !accepted.contains(&kind) {
        let m = format!(
            "« {name} » est un {} ; ce scénario attend : {}",
            accept_label(kind),
            accepted
                .iter()
                .map(|a| accept_label(*a))
                .collect::<Vec<_>>()
                .join(", ")
        );
        return p.end(Status::Failed, m);
    }
    let v = cx.env.validator.clone();
    let judged = tokio::task::spawn_blocking(move || {
        let reports = match kind {
            Accept::Cda => vec![v.validate_bytes(&name, &bytes)],
            Accept::Xdm => crate::xdm::check(&name, &bytes, &v, &crate::xdm::Limits::default()),
            Accept::Eml => crate::mail::analyse(&name, &bytes, &v, &crate::mail::Policy::default()),
        };
        let cdas = match kind {
            Accept::Cda => vec![bytes.clone()],
            Accept::Xdm => package_documents(&bytes),
            Accept::Eml => message_documents(&bytes),
        };
        let raw = (kind == Accept::Eml).then_some(bytes);
        (reports, cdas, raw)
    })
    .await;
    let Ok((reports, cdas, raw)) = judged else {
        return p.end(Status::Error, "la validation s'est arrêtée (panique)");
    };
    judge_and_end(
        p,
        step,
        &reports,
        &cdas,
        raw.as_deref(),
        &HashMap::new(),
        "dépôt",
    )
}

/// The first file of `dir` that is complete: not hidden, not `.tmp`/`.part` (write there, then
/// rename), by name order.
fn first_file(dir: &Path) -> Option<PathBuf> {
    complete_files(dir).into_iter().next()
}

/// The complete files of `dir` (not hidden, not `.tmp`/`.part`), by name; none when it cannot
/// be read.
pub fn complete_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.path())
                .filter(|p| {
                    let n = p
                        .file_name()
                        .map(|n| n.to_string_lossy().to_ascii_lowercase())
                        .unwrap_or_default();
                    !n.starts_with('.') && !n.ends_with(".tmp") && !n.ends_with(".part")
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A Message-ID as a file name part: without brackets, one path component.
fn file_id(message_id: &str) -> String {
    super::run::safe(message_id.trim_start_matches('<').trim_end_matches('>'))
}

fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    Ok(crate::files::read_bounded(path, MAX_INPUT)?)
}

fn sniff(name: &str, bytes: &[u8]) -> Accept {
    let n = name.to_ascii_lowercase();
    if n.ends_with(".zip") || bytes.starts_with(b"PK") {
        Accept::Xdm
    } else if n.ends_with(".eml") {
        Accept::Eml
    } else if n.ends_with(".xml") || bytes.trim_ascii_start().starts_with(b"<") {
        Accept::Cda
    } else {
        Accept::Eml
    }
}

fn accept_label(a: Accept) -> &'static str {
    match a {
        Accept::Cda => "document CDA (.xml)",
        Accept::Xdm => "paquet IHE_XDM (.zip)",
        Accept::Eml => "message (.eml)",
    }
}

/// The CDA documents of a package.
pub fn package_documents(zip: &[u8]) -> Vec<Vec<u8>> {
    crate::xdm::inspect(zip, &crate::xdm::Limits::default())
        .documents
        .into_iter()
        .map(|d| d.bytes)
        .collect()
}

/// The CDA documents of every package of a message.
pub fn message_documents(raw: &[u8]) -> Vec<Vec<u8>> {
    crate::mail::judge_message(raw, &crate::mail::Policy::default())
        .packages
        .iter()
        .flat_map(|p| package_documents(&p.bytes))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// await-mail

async fn await_mail(
    cx: &Ctx,
    step: &Step,
    mut p: Play,
    earlier: &HashMap<String, Output>,
    deadline: Deadline,
) -> (StepResult, Output) {
    let Some(sender) = cx.participant.mailbox.clone() else {
        return p.end(
            Status::Error,
            format!(
                "le participant {} n'a pas de boîte MSSanté (clé mailbox) : impossible de reconnaître ses messages",
                cx.participant.id
            ),
        );
    };
    let mailbox = step.mailbox.clone().unwrap_or_else(|| "banc".into());
    let patient = mailbox == "patient";
    let local = format!("{mailbox}+{}", cx.scenario_id.to_ascii_lowercase());
    let to = if patient {
        format!("<INS>@{PATIENT_DOMAIN}")
    } else {
        format!("{local}@{}", cx.env.domain)
    };
    p.log(format!(
        "en attente d'un message de <{sender}> pour <{to}> (SMTP de banc : {}) — délai {}",
        cx.env.smtp_addr,
        human(deadline.left())
    ));
    cx.announce(step, &p.result.id, &format!("envoyer à <{to}>"));
    if let Some(lab) = cx.lab() {
        lab.send(cx, step, &to);
    }
    let wanted = move |r: &Received| {
        r.sent_by(&sender)
            && if patient {
                r.to_domain(PATIENT_DOMAIN)
            } else {
                r.to_local(&local)
            }
    };
    let Some(r) = cx.env.inbox.wait_for(&wanted, deadline.at).await else {
        let m = format!(
            "aucun message reçu pour <{to}> en {}",
            human(deadline.total)
        );
        return p.end(Status::Failed, m);
    };
    p.log(format!(
        "reçu {} de <{}> pour {} ({} octets, {})",
        r.envelope.id,
        r.envelope.mail_from,
        r.envelope.rcpt_to.join(", "),
        r.envelope.size,
        r.envelope
            .tls
            .as_ref()
            .map_or("sans TLS".to_string(), |t| t.version.clone())
    ));
    p.output
        .keep("received", format!("{}.eml", r.envelope.id), &r.raw);
    let raw = r.raw.clone();
    let docs = tokio::task::spawn_blocking(move || message_documents(&raw))
        .await
        .unwrap_or_default();
    judge_and_end(
        p,
        step,
        &r.report.documents,
        &docs,
        Some(&r.raw),
        earlier,
        "message",
    )
}

// ---------------------------------------------------------------------------------------------
// send-mail

async fn send_mail(cx: &Ctx, step: &Step, mut p: Play) -> (StepResult, Output) {
    let Some(server) = cx.participant.smtp.clone() else {
        return p.end(
            Status::Error,
            format!(
                "le participant {} n'a pas de point d'accès SMTP (clé smtp) : banc ne peut rien lui envoyer",
                cx.participant.id
            ),
        );
    };
    let mut docs = Vec::new();
    for d in step.document.iter().flatten() {
        let path = match cx.env.documents.file(d) {
            Ok(p) => p,
            Err(r) => return p.end(Status::Error, format!("document « {d} » {r}")),
        };
        match crate::files::read_bounded(&path, MAX_INPUT) {
            Ok(b) => docs.push((
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                b,
            )),
            Err(e) => return p.end(Status::Error, e.to_string()),
        }
    }
    let mut faults = Vec::new();
    for f in step.faults.iter().flatten() {
        match <crate::mail::compose::Fault as crate::choice::Choice>::from_name(f) {
            Some(x) => faults.push(x),
            None => return p.end(Status::Error, format!("défaut « {f} » inconnu")),
        }
    }
    let from = cx.banc_address();
    let to = match step.to {
        Some(super::model::SendTo::Patient) => {
            match docs
                .first()
                .and_then(|(n, b)| crate::cda::header::read(n, b).ok())
                .and_then(|h| h.patient.ins.and_then(|i| i.extension))
            {
                Some(ins) => format!("{ins}@{PATIENT_DOMAIN}"),
                None => {
                    return p.end(
                        Status::Error,
                        "to = patient : le document n'a pas d'INS lisible",
                    );
                }
            }
        }
        _ => match &cx.participant.mailbox {
            Some(m) => m.clone(),
            None => {
                return p.end(
                    Status::Error,
                    format!(
                        "le participant {} n'a pas de boîte MSSanté (clé mailbox)",
                        cx.participant.id
                    ),
                );
            }
        },
    };
    let opts = crate::mail::compose::ComposeOptions {
        from: from.clone(),
        to: vec![to.clone()],
        disposition_notification_to: (step.request_mdn == Some(true)).then(|| from.clone()),
        faults,
        ..Default::default()
    };
    let message = match crate::mail::compose::compose(&docs, &opts) {
        Ok(m) => m,
        Err(e) => return p.end(Status::Error, format!("composition du message : {e}")),
    };
    let message_id = crate::mail::message_id(&message)
        .map(|m| super::inbox::normalise_id(&m))
        .unwrap_or_default();
    let submit = match cx.submit_options(&server, &from, &to) {
        Ok(s) => s,
        Err(e) => return p.end(Status::Error, e),
    };
    p.log(format!(
        "envoi de {message_id} ({} octets{}) à <{to}> par {server}",
        message.len(),
        if step.faults.as_ref().is_some_and(|f| !f.is_empty()) {
            format!(
                ", défauts : {}",
                step.faults
                    .iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            String::new()
        }
    ));
    cx.announce(
        step,
        &p.result.id,
        &format!("banc envoie {message_id} à <{to}>"),
    );
    match crate::mail::submit::submit(&submit, &message).await {
        Ok(reply) => {
            p.log(format!("réponse du serveur : {}", reply.text()));
            p.output
                .keep("sent", format!("{}.eml", file_id(&message_id)), &message);
            p.output.sent = Some((message_id.clone(), message));
            p.end(Status::Passed, format!("{message_id} remis à {server}"))
        }
        Err(e) => {
            let m = format!("envoi à {server} impossible : {e}");
            p.log(&m);
            p.end(Status::Failed, m)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// await-ack

async fn await_ack(
    cx: &Ctx,
    step: &Step,
    mut p: Play,
    (message_id, original): (String, Vec<u8>),
    deadline: Deadline,
) -> (StepResult, Output) {
    let what = match step.ack {
        Some(AckKind::Dsn) => "DSN",
        _ => "accusé de lecture (MDN)",
    };
    p.log(format!(
        "en attente d'un {what} de {message_id} — délai {}",
        human(deadline.left())
    ));
    let id = message_id.clone();
    let wanted = move |r: &Received| r.acknowledges.as_deref() == Some(id.as_str());
    let Some(r) = cx.env.inbox.wait_for(&wanted, deadline.at).await else {
        let m = format!(
            "aucun {what} reçu pour {message_id} en {}",
            human(deadline.total)
        );
        return p.end(Status::Failed, m);
    };
    p.log(format!(
        "reçu {} de <{}> ({} octets)",
        r.envelope.id, r.envelope.mail_from, r.envelope.size
    ));
    p.output
        .keep("ack", format!("{}.eml", r.envelope.id), &r.raw);
    let (kind, findings, ran) = crate::mail::mdn::judge_ack(&r.raw, Some(&original));
    let report = cx.env.validator.container_report(
        &format!("{}.eml", r.envelope.id),
        &format!("mssante-{kind}"),
        findings,
        ran,
    );
    let want_kind = match step.ack {
        Some(AckKind::Dsn) => "dsn",
        _ => "mdn",
    };
    p.check(
        "ack",
        kind == want_kind,
        format!("attendu {want_kind}, reçu {kind}"),
    );
    let expect = step.expect.clone().unwrap_or_default();
    if kind == "mdn" {
        match crate::mail::mdn::parse_mdn(&r.raw) {
            Ok(m) => {
                let outcome = m.outcome();
                p.log(format!("disposition : {outcome}"));
                if let Some(d) = expect.disposition {
                    let ok = match d {
                        Disposition::Processed => {
                            !m.is_error() && m.disposition.kind == "processed"
                        }
                        Disposition::ProcessedWithError => m.is_error(),
                        _ => false,
                    };
                    p.check(
                        "disposition",
                        ok,
                        format!("attendu {}, reçu {outcome}", disposition_label(d)),
                    );
                }
                if let Some(code) = expect.error_code {
                    let got = m.error.as_ref().and_then(|e| e.code);
                    p.check(
                        "error_code",
                        got == Some(code),
                        format!(
                            "attendu {code}, reçu {}",
                            got.map_or("aucun code".to_string(), |c| c.to_string())
                        ),
                    );
                }
            }
            Err(f) => p.check("disposition", false, f.message),
        }
    } else if kind == "dsn"
        && let Some(d) = expect.disposition
    {
        match crate::mail::mdn::parse_dsn(&r.raw) {
            Ok(dsn) => {
                let ok = match d {
                    Disposition::Delivered => dsn.delivered(),
                    Disposition::Failed => dsn
                        .recipients
                        .iter()
                        .any(|x| x.action.as_deref() == Some("failed")),
                    _ => false,
                };
                let actions: Vec<String> = dsn
                    .recipients
                    .iter()
                    .filter_map(|x| x.action.clone())
                    .collect();
                p.check(
                    "disposition",
                    ok,
                    format!(
                        "attendu {}, reçu {}",
                        disposition_label(d),
                        actions.join(", ")
                    ),
                );
            }
            Err(f) => p.check("disposition", false, f.message),
        }
    }
    check_expect(&mut p, &expect, std::slice::from_ref(&report), &[], None);
    p.result.reports.push(JudgedObject::from(&report));
    p.judged(what)
}

fn disposition_label(d: Disposition) -> &'static str {
    match d {
        Disposition::Processed => "processed",
        Disposition::ProcessedWithError => "processed-with-error",
        Disposition::Delivered => "delivered",
        Disposition::Failed => "failed",
    }
}

// ---------------------------------------------------------------------------------------------
// http

async fn http_call(cx: &Ctx, step: &Step, mut p: Play, deadline: Deadline) -> (StepResult, Output) {
    let Some(url) = step.url.as_deref() else {
        return p.end(Status::Error, "url manquante");
    };
    let url = if url.contains("{participant.http}") {
        match &cx.participant.http {
            Some(base) => url.replace("{participant.http}", base.trim_end_matches('/')),
            None => {
                return p.end(
                    Status::Error,
                    format!(
                        "le participant {} n'a pas d'adresse http",
                        cx.participant.id
                    ),
                );
            }
        }
    } else {
        url.to_string()
    };
    let method = step
        .method
        .clone()
        .unwrap_or_else(|| "GET".into())
        .to_ascii_uppercase();
    p.log(format!("{method} {url}"));
    // The suite names the address: it too may only reach the participant's declared hosts.
    let declared = super::fetch::Declared::of(&cx.participant);
    let target = match super::fetch::target(&url, &declared, deadline.left()).await {
        Ok(t) => t,
        Err(e) => return p.end(Status::Error, format!("{method} {url} : {e}")),
    };
    let client = match cx.http_client(&target, deadline.left()) {
        Ok(c) => c,
        Err(e) => return p.end(Status::Error, e),
    };
    let Ok(m) = reqwest::Method::from_bytes(method.as_bytes()) else {
        return p.end(Status::Error, format!("méthode « {method} » invalide"));
    };
    let resp = match client.request(m, target.url.clone()).send().await {
        Ok(r) => r,
        Err(e) => {
            let m = format!("{method} {url} : {}", describe_http_error(&e));
            return p.end(Status::Failed, m);
        }
    };
    if let Err(e) = super::fetch::redirect_refused(&resp, &target) {
        return p.end(Status::Failed, format!("{method} {url} : {e}"));
    }
    let status = resp.status().as_u16();
    let body = match read_body(resp).await {
        Ok(b) => b,
        Err(e) => return p.end(Status::Failed, format!("{method} {url} : {e}")),
    };
    p.log(format!("réponse {status}, {} octets", body.len()));
    let want = step.status.unwrap_or(200);
    p.check(
        "status",
        status == want,
        format!("attendu {want}, reçu {status}"),
    );
    if let Some(needle) = &step.body_contains {
        let text = String::from_utf8_lossy(&body);
        p.check(
            "body_contains",
            text.contains(needle.as_str()),
            format!(
                "« {needle} » {} dans la réponse",
                if text.contains(needle.as_str()) {
                    "présent"
                } else {
                    "absent"
                }
            ),
        );
    }
    p.judged("appel HTTP")
}

async fn read_body(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe_http_error(&e))? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > MAX_INPUT {
            return Err(format!("réponse de plus de {MAX_INPUT} octets, abandonnée"));
        }
    }
    Ok(body)
}

fn describe_http_error(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut s = if e.is_timeout() {
        "pas de réponse dans le délai".to_string()
    } else if e.is_connect() {
        "connexion impossible".to_string()
    } else {
        e.to_string()
    };
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(&format!(" : {x}"));
        src = x.source();
    }
    s
}

/// A `.url` submission: only from a host declared for the participant (see `fetch`), within
/// the step's wait and [`super::fetch::MAX_TIME`], at most [`MAX_INPUT`] bytes. The URL
/// fetched and the body.
async fn download(
    url: &str,
    cx: &Ctx,
    deadline: Deadline,
) -> Result<(reqwest::Url, Vec<u8>), String> {
    let timeout = deadline.left().min(super::fetch::MAX_TIME);
    let declared = super::fetch::Declared::of(&cx.participant);
    let target = super::fetch::target(url, &declared, timeout).await?;
    let client = cx.http_client(&target, timeout)?;
    let resp = client
        .get(target.url.clone())
        .send()
        .await
        .map_err(|e| describe_http_error(&e))?;
    super::fetch::redirect_refused(&resp, &target)?;
    if !resp.status().is_success() {
        return Err(format!("statut HTTP {}", resp.status().as_u16()));
    }
    if resp.content_length().is_some_and(|n| n > MAX_INPUT) {
        return Err(format!(
            "réponse annoncée de plus de {MAX_INPUT} octets, non téléchargée"
        ));
    }
    Ok((target.url, read_body(resp).await?))
}

async fn http_wait(cx: &Ctx, step: &Step, mut p: Play, deadline: Deadline) -> (StepResult, Output) {
    let Some(base) = cx.env.http_base.clone() else {
        return p.end(
            Status::Error,
            "cette étape attend un appel du SUT : lancer banc run avec --http-listen ADRESSE:PORT",
        );
    };
    let path = format!(
        "/{}/{}",
        cx.participant.id,
        step.path.as_deref().unwrap_or("").trim_start_matches('/')
    );
    let method = step.method.as_ref().map(|m| m.to_ascii_uppercase());
    p.log(format!(
        "en attente d'un appel {} {base}{path} — délai {}",
        method.as_deref().unwrap_or("(toute méthode)"),
        human(deadline.left())
    ));
    cx.announce(step, &p.result.id, &format!("appeler {base}{path}"));
    let want_path = path.clone();
    let wanted =
        move |h: &Hit| h.path == want_path && method.as_ref().is_none_or(|m| *m == h.method);
    let Some(hit) = cx.env.hooks.wait_for(&wanted, deadline.at).await else {
        let m = format!("aucun appel de {path} en {}", human(deadline.total));
        return p.end(Status::Failed, m);
    };
    p.log(format!(
        "appel {} {} de {} ({} octets)",
        hit.method,
        hit.path,
        hit.peer,
        hit.body.len()
    ));
    if let Some(needle) = &step.body_contains {
        let ok = hit.body.contains(needle.as_str());
        p.check(
            "body_contains",
            ok,
            format!(
                "« {needle} » {} dans le corps reçu",
                if ok { "présent" } else { "absent" }
            ),
        );
    }
    p.judged("appel reçu")
}

// ---------------------------------------------------------------------------------------------
// evidence, monitor

fn manual(cx: &Ctx, step: &Step, mut p: Play) -> (StepResult, Output) {
    let dir = cx.step_dir(&p.result.id);
    let mut evidence: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default();
    evidence.sort();
    for f in &evidence {
        let path = Path::new(f);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match read_capped(path) {
            Ok(b) => p.output.keep("evidence", name, &b),
            Err(e) => p.log(format!("preuve {name} illisible : {e}")),
        }
    }
    if step.kind == Kind::Evidence {
        p.log(format!(
            "preuves attendues dans {} : {}",
            dir.display(),
            step.attachments.clone().unwrap_or_default().join(" ; ")
        ));
    }
    p.result.evidence = evidence;
    match cx.decision(&p.result.id) {
        Some(d) => {
            let status = if d.verdict == "pass" {
                Status::Passed
            } else {
                Status::Failed
            };
            let m = format!(
                "décision du validateur{} : {}{}",
                d.by.as_ref().map(|b| format!(" ({b})")).unwrap_or_default(),
                d.verdict,
                d.note
                    .as_ref()
                    .map(|n| format!(" — {n}"))
                    .unwrap_or_default()
            );
            p.result.decision = Some(d);
            p.end(status, m)
        }
        None => p.end(
            Status::Pending,
            "en attente de la décision d'un validateur (étape manuelle)",
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// expectations

fn judge_and_end(
    mut p: Play,
    step: &Step,
    reports: &[DocumentReport],
    cdas: &[Vec<u8>],
    raw: Option<&[u8]>,
    earlier: &HashMap<String, Output>,
    what: &str,
) -> (StepResult, Output) {
    let headers: Vec<CdaHeader> = cdas
        .iter()
        .filter_map(|b| crate::cda::header::read("cda", b).ok())
        .collect();
    let expect = step.expect.clone().unwrap_or_default();
    check_expect(&mut p, &expect, reports, cdas, raw);
    if let Some(target) = &expect.replaces {
        let before = earlier
            .get(target)
            .map(|o| o.documents.clone())
            .unwrap_or_default();
        let (ok, detail) = replaces(headers.first(), before.first());
        p.check("replaces", ok, detail);
    }
    p.result.reports = reports.iter().map(JudgedObject::from).collect();
    p.output.documents = headers;
    p.judged(what)
}

/// Does `finding` match `pattern` (an id, or a prefix ending in `*`)?
fn matches(pattern: &str, rule: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => rule.starts_with(prefix),
        None => rule == pattern,
    }
}

fn check_expect(
    p: &mut Play,
    e: &Expect,
    reports: &[DocumentReport],
    cdas: &[Vec<u8>],
    raw: Option<&[u8]>,
) {
    let all: Vec<&Finding> = reports.iter().flat_map(|r| &r.findings).collect();
    if let Some(v) = e.verdict {
        let counted = |l: Layer| e.layers.is_empty() || e.layers.contains(&l);
        let errors: Vec<&&Finding> = all
            .iter()
            .filter(|f| f.severity == Severity::Error && counted(f.layer))
            .collect();
        let scope = if e.layers.is_empty() {
            "toutes couches".to_string()
        } else {
            e.layers
                .iter()
                .map(|l| l.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let listed = errors
            .iter()
            .take(5)
            .map(|f| f.rule.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let (ok, want) = match v {
            ExpectedVerdict::Pass => (errors.is_empty(), "pass"),
            ExpectedVerdict::Fail => (!errors.is_empty(), "fail"),
        };
        p.check(
            "verdict",
            ok,
            format!(
                "attendu {want} ({scope}) : {} erreur(s){}",
                errors.len(),
                if listed.is_empty() {
                    String::new()
                } else {
                    format!(" — {listed}")
                }
            ),
        );
    }
    if let Some(want) = &e.profile {
        let got: BTreeSet<&str> = reports
            .iter()
            .filter_map(|r| r.profile.as_deref())
            .collect();
        p.check(
            "profile",
            got.contains(want.as_str()),
            format!(
                "attendu {want}, reconnu : {}",
                join_or_none(got.iter().copied())
            ),
        );
    }
    for pat in &e.rules_present {
        let hit = all.iter().find(|f| matches(pat, &f.rule));
        p.check(
            "rules_present",
            hit.is_some(),
            match hit {
                Some(f) => format!("{pat} levée ({} : {})", f.rule, f.message),
                None => format!("{pat} attendue, non levée"),
            },
        );
    }
    for pat in &e.rules_absent {
        let hits: Vec<&&Finding> = all
            .iter()
            .filter(|f| f.severity == Severity::Error && matches(pat, &f.rule))
            .collect();
        p.check(
            "rules_absent",
            hits.is_empty(),
            match hits.first() {
                Some(f) => format!(
                    "{pat} : {} erreur(s), dont {} — {}",
                    hits.len(),
                    f.rule,
                    f.message
                ),
                None => format!("{pat} : aucune erreur"),
            },
        );
    }
    if !e.loinc_include.is_empty() {
        let codes: BTreeSet<String> = cdas.iter().flat_map(|c| result_codes(c)).collect();
        let missing: Vec<&str> = e
            .loinc_include
            .iter()
            .filter(|c| !codes.contains(c.as_str()))
            .map(String::as_str)
            .collect();
        p.check(
            "loinc_include",
            missing.is_empty(),
            if missing.is_empty() {
                format!("{} présents", e.loinc_include.join(", "))
            } else {
                format!(
                    "absents : {} (codes des résultats : {})",
                    missing.join(", "),
                    join_or_none(codes.iter().map(String::as_str))
                )
            },
        );
    }
    for (name, want) in &e.headers {
        let got = raw.and_then(|r| crate::mail::header_text(r, name));
        p.check(
            "headers",
            got.as_deref().map(str::trim) == Some(want.as_str()),
            format!(
                "{name} : attendu « {want} », reçu {}",
                got.map_or("(absent)".to_string(), |g| format!("« {} »", g.trim()))
            ),
        );
    }
    if let Some(want) = e.mdn_requested {
        let got = raw.and_then(crate::mail::disposition_notification_to);
        p.check(
            "mdn_requested",
            got.is_some() == want,
            match (&got, want) {
                (Some(a), _) => {
                    format!("accusé de lecture demandé (Disposition-Notification-To: {a})")
                }
                (None, true) => {
                    "pas de Disposition-Notification-To : accusé de lecture non demandé".into()
                }
                (None, false) => "pas d'accusé de lecture demandé".into(),
            },
        );
    }
}

fn join_or_none<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = it.collect();
    if v.is_empty() {
        "aucun".into()
    } else {
        v.join(", ")
    }
}

/// `new` replaces `old`: same setId, higher versionNumber, relatedDocument RPLC to old's id.
fn replaces(new: Option<&CdaHeader>, old: Option<&CdaHeader>) -> (bool, String) {
    let (Some(n), Some(o)) = (new, old) else {
        return (
            false,
            "document de l'étape ou de l'étape remplacée illisible".into(),
        );
    };
    let show =
        |i: &Option<crate::cda::header::Id>| i.as_ref().map_or("(absent)".into(), |i| i.xds());
    if n.set_id.is_none() || n.set_id != o.set_id {
        return (
            false,
            format!(
                "setId {} ≠ setId remplacé {}",
                show(&n.set_id),
                show(&o.set_id)
            ),
        );
    }
    let version = |h: &CdaHeader| {
        h.version_number
            .as_deref()
            .and_then(|v| v.parse::<u32>().ok())
    };
    if !matches!((version(n), version(o)), (Some(a), Some(b)) if a > b) {
        return (
            false,
            format!(
                "versionNumber {} n'est pas supérieur à {}",
                n.version_number.as_deref().unwrap_or("(absent)"),
                o.version_number.as_deref().unwrap_or("(absent)")
            ),
        );
    }
    if n.replaces.is_none() || n.replaces != o.id {
        return (
            false,
            format!(
                "relatedDocument RPLC désigne {} au lieu de {}",
                show(&n.replaces),
                show(&o.id)
            ),
        );
    }
    (
        true,
        format!(
            "même setId {}, version {} → {}, parent {}",
            show(&n.set_id),
            o.version_number.as_deref().unwrap_or("?"),
            n.version_number.as_deref().unwrap_or("?"),
            show(&o.id)
        ),
    )
}

/// LOINC codes of the results (`observation/code`) of a CDA.
pub fn result_codes(cda: &[u8]) -> BTreeSet<String> {
    use quick_xml::events::Event;
    let mut out = BTreeSet::new();
    let mut reader = quick_xml::Reader::from_reader(cda);
    let mut stack: Vec<String> = Vec::new();
    let mut buf = Vec::new();
    while let Ok(ev) = reader.read_event_into(&mut buf) {
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = e.local_name().into_inner().to_string();
                if name == "code" && stack.last().is_some_and(|p| p == "observation") {
                    let attr = |k: &str| {
                        e.attributes()
                            .flatten()
                            .find(|a| a.key.local_name().into_inner() == k)
                            .map(|a| a.value.to_string())
                    };
                    if attr("codeSystem").as_deref() == Some(LOINC)
                        && let Some(c) = attr("code")
                    {
                        out.insert(c);
                    }
                }
                if matches!(ev, Event::Start(_)) {
                    if stack.len() > 256 {
                        break;
                    }
                    stack.push(name);
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    out
}

/// `30s`, `12m`, `1h05`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{}s", s.max(u64::from(d.as_millis() > 0)))
    } else if s < 3600 {
        format!("{}m{:02}", s / 60, s % 60)
    } else {
        format!("{}h{:02}", s / 3600, s / 60 % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes_are_the_observation_loinc_codes() {
        let cda = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/cr-bio/valid/nfs-crp.xml"),
        )
        .expect("fixture");
        let codes = result_codes(&cda);
        for c in ["718-7", "6690-2", "777-3", "1988-5"] {
            assert!(codes.contains(c), "{c} in {codes:?}");
        }
        // The document type (11502-2) is a LOINC code but not a result.
        assert!(!codes.contains("11502-2"));
    }

    #[test]
    fn rule_patterns() {
        assert!(matches("mail.*", "mail.header.required"));
        assert!(!matches("mail.*", "xdm.zip.bomb"));
        assert!(matches("xdm.zip.bomb", "xdm.zip.bomb"));
        assert!(!matches("xdm.zip", "xdm.zip.bomb"));
    }
}
