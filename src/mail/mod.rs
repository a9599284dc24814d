//! MSSanté e-mail: reading a message and judging it (M01–M16), then its IHE_XDM package and its
//! documents; composing and sending one; acknowledgements (MDN, DSN); reading a mailbox (IMAP).
//! Rule ids: `mail.*` (all in `rules.rs`).

pub mod checks;
pub mod compose;
pub mod conventions;
pub mod mdn;
pub mod mime;
pub mod rules;
pub mod submit;
pub mod tls;

use crate::finding::report::DocumentReport;
use crate::finding::{Finding, Location, Severity};
use crate::pipeline::Validator;

/// The MSSanté conventions a received message is judged against; UNCONFIRMED facts of
/// mssante-xdm.md are settings with the documented default.
#[derive(Debug, Clone)]
pub struct Policy {
    /// M16: largest message accepted, in bytes (25 MB, Mon espace santé's cap; UNCONFIRMED).
    pub max_size: u64,
    /// Deepest multipart nesting examined: an MSSanté message needs two levels.
    pub max_depth: usize,
    /// Most MIME parts examined.
    pub max_parts: usize,
    /// Severity of a missing or misnamed PDF (M09): ECO.2.1.1/2.1.6 are quoted second-hand
    /// only, so a warning by default.
    pub pdf_severity: Severity,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            max_size: 25 * 1024 * 1024,
            max_depth: 8,
            max_parts: 256,
            pdf_severity: Severity::Warning,
        }
    }
}

impl Policy {
    fn settings(&self) -> checks::Settings {
        checks::Settings {
            max_size: self.max_size,
            max_depth: self.max_depth,
            max_parts: self.max_parts,
            pdf_severity: self.pdf_severity,
        }
    }
}

/// The CDA headers of the documents of a package (for the cross checks).
pub fn package_headers(zip: &[u8]) -> Vec<crate::cda::header::CdaHeader> {
    crate::xdm::inspect(zip, &crate::xdm::Limits::default())
        .documents
        .into_iter()
        .filter_map(|d| d.header)
        .collect()
}

/// Judge a received message (raw RFC 5322 bytes): the message's report (`mssante-message`),
/// then its package's and each document's (see `xdm::check`), named `<name>!<attachment>`.
pub fn analyse(name: &str, raw: &[u8], v: &Validator, policy: &Policy) -> Vec<DocumentReport> {
    let start = std::time::Instant::now();
    let limits = crate::xdm::Limits::default();
    // Each package is opened once: its CDA headers serve the cross checks, then its report.
    let opened = std::cell::RefCell::new(Vec::new());
    let headers_of = |zip: &[u8]| {
        let p = crate::xdm::inspect_with(zip, &limits, Some(v.terminology()));
        let headers = p
            .documents
            .iter()
            .filter_map(|d| d.header.clone())
            .collect();
        opened.borrow_mut().push(p);
        headers
    };
    let judged = checks::judge(raw, &policy.settings(), &headers_of);
    let mut report = v.container_report(name, "mssante-message", judged.findings, judged.ran);
    report.duration_ms = start.elapsed().as_secs_f64() * 1000.0;
    let mut out = vec![report];
    // `judge` opens the packages it returns, in their order.
    for (p, package) in judged.packages.iter().zip(opened.into_inner()) {
        out.extend(crate::xdm::reports(
            &format!("{name}!{}", p.name),
            package,
            v,
        ));
    }
    out
}

/// The message's own findings only (no package or document checks), with the rules that ran.
pub fn judge_message(raw: &[u8], policy: &Policy) -> checks::Judged {
    checks::judge(raw, &policy.settings(), &package_headers)
}

/// The Message-ID of a message, as written (`<...>`), when it has one.
pub fn message_id(raw: &[u8]) -> Option<String> {
    header_text(raw, "Message-ID")
}

/// The address a message asks its MDN to be sent to (`Disposition-Notification-To`).
pub fn disposition_notification_to(raw: &[u8]) -> Option<String> {
    header_text(raw, "Disposition-Notification-To").map(|v| checks::angle_address(&v))
}

/// The unfolded text of the first header `name` of a message.
pub fn header_text(raw: &[u8], name: &str) -> Option<String> {
    let tree = mime::parse(
        raw,
        mime::Limits {
            max_depth: 0,
            max_parts: 1,
        },
    );
    tree.root().field(name).map(|f| f.text(raw))
}

/// M02 across messages: every message whose Message-ID an earlier one already carried, with a
/// `mail.header.message-id-reused` finding (for the scenario runner, which sees several
/// messages of one participant).
pub fn reused_message_ids(messages: &[(&str, &[u8])]) -> Vec<(String, Finding)> {
    let mut seen: Vec<(String, &str)> = Vec::new();
    let mut out = Vec::new();
    for (name, raw) in messages {
        let Some(id) = message_id(raw) else { continue };
        match seen.iter().find(|(s, _)| *s == id) {
            Some((_, first)) => out.push((
                name.to_string(),
                rules::MESSAGE_ID_REUSED
                    .finding(format!(
                        "« {} » (déjà dans {}).",
                        crate::finding::quote(&id),
                        crate::finding::quote(first)
                    ))
                    .at(Location {
                        xpath: Some("header:Message-ID".into()),
                        ..Location::default()
                    }),
            )),
            None => seen.push((id, name)),
        }
    }
    out
}
