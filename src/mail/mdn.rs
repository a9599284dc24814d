//! Acknowledgements: MDN (RFC 8098, MSSanté conventions of the IG LPS struct-msg-mdn) and DSN
//! (RFC 3464): reading and judging them (A01), and making the MDN a receiving system sends.
//! Rule ids `mail.mdn.*`, `mail.dsn.*`, `mail.ack.*` (in `rules.rs`).

use super::checks::{angle_address, valid_address};
use super::conventions::{self, KO_PREFIX, SUBJECT_PREFIX};
use super::mime::{self, Part, Tree};
use super::rules as r;
use crate::finding::report::{RuleRun, RunReport};
use crate::finding::{Finding, Location, Rule, Severity};
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};
use regex::Regex;
use std::sync::LazyLock;

const LIMITS: mime::Limits = mime::Limits {
    max_depth: 4,
    max_parts: 64,
};

/// The `Disposition:` field of an MDN (RFC 8098 §3.2.6).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Disposition {
    /// `automatic-action` or `manual-action`.
    pub action_mode: String,
    /// `MDN-sent-automatically` or `MDN-sent-manually`.
    pub sending_mode: String,
    /// `processed`, `displayed`, `dispatched` or `deleted`.
    pub kind: String,
    /// Modifiers after `/` (`error`), lower case.
    pub modifiers: Vec<String>,
}

/// The application error an MDN carries (`<code>^<label>[^...]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppError {
    pub code: Option<u16>,
    pub label: String,
    /// The string as written.
    pub text: String,
}

/// An MDN as read.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Mdn {
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub reporting_ua: Option<String>,
    pub original_recipient: Option<String>,
    pub final_recipient: Option<String>,
    pub original_message_id: Option<String>,
    pub disposition: Disposition,
    pub error: Option<AppError>,
    /// The error was written in the modifier (`processed/Error: 902^...`, IG LPS ≤ 1.1.2).
    pub legacy_error_form: bool,
    /// Types of the top-level parts, in order.
    pub parts: Vec<String>,
    /// Part 3, the original message, when present.
    #[serde(skip)]
    pub original: Option<Vec<u8>>,
}

impl Mdn {
    pub fn is_error(&self) -> bool {
        self.disposition.modifiers.iter().any(|m| m == "error") || self.error.is_some()
    }

    /// `processed`, `processed-with-error 902`, `displayed`...: what a scenario expects.
    pub fn outcome(&self) -> String {
        if self.is_error() {
            match self.error.as_ref().and_then(|e| e.code) {
                Some(c) => format!("{}-with-error {c}", self.disposition.kind),
                None => format!("{}-with-error", self.disposition.kind),
            }
        } else {
            self.disposition.kind.clone()
        }
    }
}

/// One recipient block of a DSN (RFC 3464 §2.3).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DsnRecipient {
    pub final_recipient: Option<String>,
    pub original_recipient: Option<String>,
    pub action: Option<String>,
    pub status: Option<String>,
    pub diagnostic_code: Option<String>,
    pub remote_mta: Option<String>,
}

/// A DSN as read.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Dsn {
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub reporting_mta: Option<String>,
    pub original_envelope_id: Option<String>,
    pub recipients: Vec<DsnRecipient>,
    /// Message-ID of the returned message or headers (part 3).
    pub returned_message_id: Option<String>,
    pub parts: Vec<String>,
}

impl Dsn {
    /// Every recipient delivered (or relayed/expanded).
    pub fn delivered(&self) -> bool {
        !self.recipients.is_empty()
            && self.recipients.iter().all(|r| {
                matches!(
                    r.action.as_deref(),
                    Some("delivered" | "relayed" | "expanded")
                )
            })
    }
}

fn at_message() -> Location {
    Location {
        xpath: Some("message".into()),
        line: None,
        column: None,
    }
}

fn at_header(name: &str) -> Location {
    Location {
        xpath: Some(format!("header:{name}")),
        line: None,
        column: None,
    }
}

/// What kind of acknowledgement a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckKind {
    Mdn,
    Dsn,
}

fn readable(tree: &Tree<'_>) -> bool {
    let root = tree.root();
    root.fields.first().is_some_and(|f| f.start == 0)
        && [
            "From",
            "Date",
            "Subject",
            "To",
            "Message-ID",
            "Content-Type",
        ]
        .iter()
        .any(|k| root.field(k).is_some())
}

/// Read the kind from the top Content-Type; `Err` says why it is neither.
// The finding is the answer a scenario reports as is; boxing it would only add noise.
#[allow(clippy::result_large_err)]
pub fn ack_kind(raw: &[u8]) -> Result<AckKind, Finding> {
    let tree = mime::parse(raw, LIMITS);
    if !readable(&tree) {
        return Err(r::ACK_UNREADABLE.finding("").at(at_message()));
    }
    let root = tree.root();
    let ty = root.effective_type();
    let report_type = root
        .type_param("report-type")
        .map(|t| t.to_ascii_lowercase());
    match (ty.as_str(), report_type.as_deref()) {
        ("multipart/report", Some("disposition-notification")) => Ok(AckKind::Mdn),
        ("multipart/report", Some("delivery-status")) => Ok(AckKind::Dsn),
        _ => Err(r::ACK_NOT_REPORT
            .finding(format!(
                "{ty}{}.",
                report_type
                    .map(|t| format!("; report-type={t}"))
                    .unwrap_or_default()
            ))
            .at(at_header("Content-Type"))),
    }
}

/// Header-like fields of a body (message/disposition-notification, message/delivery-status
/// blocks): name (lower case) → unfolded value.
fn fields_of(block: &[u8]) -> Vec<(String, String)> {
    let t = mime::parse(
        block,
        mime::Limits {
            max_depth: 0,
            max_parts: 1,
        },
    );
    t.root()
        .fields
        .iter()
        .map(|f| (f.name.to_ascii_lowercase(), f.text(block)))
        .collect()
}

fn get(fields: &[(String, String)], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

fn root_header(tree: &Tree<'_>, name: &str) -> Option<String> {
    tree.root().field(name).map(|f| f.text(tree.raw))
}

fn subject_of(tree: &Tree<'_>) -> Option<String> {
    let root = tree.root();
    root.parsed
        .as_ref()
        .and_then(|m| m.subject())
        .map(str::to_string)
        .or_else(|| root_header(tree, "Subject"))
}

fn address_list(tree: &Tree<'_>, name: &str) -> Vec<String> {
    root_header(tree, name)
        .map(|v| {
            v.split(',')
                .map(angle_address)
                .filter(|a| !a.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

static APP_ERROR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*(\d{3})\s*\^([^^]*)").expect("static regex"));

fn app_error(text: &str) -> AppError {
    let text = text.trim().to_string();
    match APP_ERROR.captures(&text) {
        Some(c) => AppError {
            code: c[1].parse().ok(),
            label: c[2].trim().to_string(),
            text: text.clone(),
        },
        None => AppError {
            code: None,
            label: String::new(),
            text,
        },
    }
}

/// Parse a `Disposition:` value; also returns the legacy error text
/// (`processed/Error: 902^...`) when the modifier carries one.
pub fn parse_disposition(v: &str) -> Option<(Disposition, Option<String>)> {
    let (mode, rest) = v.split_once(';')?;
    let (action, sending) = mode.split_once('/')?;
    let (action, sending) = (action.trim(), sending.trim());
    let actions = ["manual-action", "automatic-action"];
    let sendings = ["MDN-sent-manually", "MDN-sent-automatically"];
    if !actions.iter().any(|a| a.eq_ignore_ascii_case(action))
        || !sendings.iter().any(|s| s.eq_ignore_ascii_case(sending))
    {
        return None;
    }
    let (kind, modifiers) = match rest.split_once('/') {
        Some((k, m)) => (k.trim().to_ascii_lowercase(), Some(m.trim())),
        None => (rest.trim().to_ascii_lowercase(), None),
    };
    if !["displayed", "deleted", "dispatched", "processed"].contains(&kind.as_str()) {
        return None;
    }
    let mut legacy = None;
    let mut mods = Vec::new();
    if let Some(m) = modifiers {
        let lower = m.to_ascii_lowercase();
        if lower.starts_with("error") && m[5..].trim_start().starts_with(':') {
            // IG LPS ≤ 1.1.2: the error string inside the modifier.
            let text = m[5..].trim_start()[1..].trim().to_string();
            mods.push("error".to_string());
            legacy = Some(text);
        } else {
            mods.extend(
                m.split(',')
                    .map(|x| x.trim().to_ascii_lowercase())
                    .filter(|x| !x.is_empty()),
            );
        }
    }
    Some((
        Disposition {
            action_mode: action.to_ascii_lowercase(),
            sending_mode: sending.to_string(),
            kind,
            modifiers: mods,
        },
        legacy,
    ))
}

/// The top-level parts (children of the root), with their types.
fn top_parts<'t, 'a>(tree: &'t Tree<'a>) -> Vec<&'t Part<'a>> {
    tree.root()
        .children
        .iter()
        .map(|&i| &tree.parts[i])
        .collect()
}

/// Read an MDN. `Err` when the message is not an MDN or has no readable Disposition.
// The finding is the answer a scenario reports as is; boxing it would only add noise.
#[allow(clippy::result_large_err)]
pub fn parse_mdn(raw: &[u8]) -> Result<Mdn, Finding> {
    match ack_kind(raw)? {
        AckKind::Mdn => {}
        AckKind::Dsn => {
            return Err(r::ACK_NOT_REPORT
                .finding("multipart/report; report-type=delivery-status (un DSN, pas un MDN).")
                .at(at_header("Content-Type")));
        }
    }
    let tree = mime::parse(raw, LIMITS);
    let parts = top_parts(&tree);
    let Some(dn) = parts
        .iter()
        .find(|p| p.effective_type() == "message/disposition-notification")
    else {
        return Err(r::MDN_STRUCTURE
            .finding("aucune partie message/disposition-notification.")
            .at(at_message()));
    };
    let body = dn.decoded(raw).map(|b| b.into_owned()).unwrap_or_default();
    let fields = fields_of(&body);
    let disp_text = get(&fields, "disposition");
    let Some((disposition, legacy)) = disp_text.as_deref().and_then(parse_disposition) else {
        return Err(r::MDN_DISPOSITION
            .finding(match &disp_text {
                Some(t) => format!("« {t} »."),
                None => "champ absent.".into(),
            })
            .at(Location {
                xpath: Some(format!("{}/Disposition", dn.path)),
                ..Location::default()
            }));
    };
    let error = get(&fields, "error")
        .or(legacy.clone())
        .map(|t| app_error(&t));
    let original = parts
        .iter()
        .find(|p| {
            matches!(
                p.effective_type().as_str(),
                "message/rfc822" | "text/rfc822-headers" | "message/global"
            )
        })
        .and_then(|p| p.decoded(raw).ok().map(|b| b.into_owned()));
    Ok(Mdn {
        message_id: root_header(&tree, "Message-ID"),
        subject: subject_of(&tree),
        from: root_header(&tree, "From").map(|v| angle_address(&v)),
        to: address_list(&tree, "To"),
        reporting_ua: get(&fields, "reporting-ua"),
        original_recipient: get(&fields, "original-recipient"),
        final_recipient: get(&fields, "final-recipient"),
        original_message_id: get(&fields, "original-message-id"),
        disposition,
        error,
        legacy_error_form: legacy.is_some(),
        parts: parts.iter().map(|p| p.effective_type()).collect(),
        original,
    })
}

/// `rfc822;addr` (RFC 8098 §3.2.3/3.2.4, RFC 3464 §2.3.2): the address when well-formed.
fn typed_address(v: &str) -> Option<String> {
    let (ty, addr) = v.split_once(';')?;
    let addr = angle_address(addr);
    (ty.trim().eq_ignore_ascii_case("rfc822") && valid_address(&addr)).then_some(addr)
}

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
                    Some(v) => format!("« {v} »."),
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
                .finding(format!("(valeur invalide « {v} »)"))
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
                Some(e) => format!("« {} ».", e.text),
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
                            "« {subject} » : « {KO_PREFIX}[{}] XDM/1.0/DDM+… » attendu pour une erreur.",
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
                    "« {subject} » : l'objet doit reprendre « XDM/1.0/DDM+… »."
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
            let want = super::message_id(o);
            if want.as_deref().map(str::trim) != Some(got.trim()) {
                findings.push(
                    r::MDN_ORIGINAL_MESSAGE_ID_MISMATCH
                        .finding(format!(
                            "« {got} » pour « {} ».",
                            want.unwrap_or_else(|| "(aucun Message-ID)".into())
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
        match super::disposition_notification_to(o) {
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
        if super::header_text(o, "Original-Recipient").is_some() && mdn.original_recipient.is_none()
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
                            "« {x} » ne reprend pas l'objet du message « {os} »."
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

/// Read a DSN.
// The finding is the answer a scenario reports as is; boxing it would only add noise.
#[allow(clippy::result_large_err)]
pub fn parse_dsn(raw: &[u8]) -> Result<Dsn, Finding> {
    match ack_kind(raw)? {
        AckKind::Dsn => {}
        AckKind::Mdn => {
            return Err(r::ACK_NOT_REPORT
                .finding(
                    "multipart/report; report-type=disposition-notification (un MDN, pas un DSN).",
                )
                .at(at_header("Content-Type")));
        }
    }
    let tree = mime::parse(raw, LIMITS);
    let parts = top_parts(&tree);
    let Some(ds) = parts.iter().find(|p| {
        matches!(
            p.effective_type().as_str(),
            "message/delivery-status" | "message/global-delivery-status"
        )
    }) else {
        return Err(r::DSN_STRUCTURE
            .finding("aucune partie message/delivery-status.")
            .at(at_message()));
    };
    let body = ds.decoded(raw).map(|b| b.into_owned()).unwrap_or_default();
    let mut blocks: Vec<Vec<(String, String)>> = Vec::new();
    let mut pos = 0;
    let mut start = 0;
    // Blocks are separated by blank lines (RFC 3464 §2.1).
    while pos <= body.len() {
        let (text_end, next) = if pos < body.len() {
            mime::line_at(&body, pos, body.len())
        } else {
            (pos, pos + 1)
        };
        let blank = text_end == pos;
        if blank || pos >= body.len() {
            let block = &body[start..pos.min(body.len())];
            if block.iter().any(|b| !b.is_ascii_whitespace()) {
                blocks.push(fields_of(block));
            }
            start = next.min(body.len());
        }
        pos = next;
    }
    let per_message = blocks.first().cloned().unwrap_or_default();
    let recipients = blocks
        .iter()
        .skip(1)
        .map(|b| DsnRecipient {
            final_recipient: get(b, "final-recipient"),
            original_recipient: get(b, "original-recipient"),
            action: get(b, "action").map(|a| a.to_ascii_lowercase()),
            status: get(b, "status"),
            diagnostic_code: get(b, "diagnostic-code"),
            remote_mta: get(b, "remote-mta"),
        })
        .collect();
    let returned = parts
        .iter()
        .find(|p| {
            matches!(
                p.effective_type().as_str(),
                "message/rfc822"
                    | "text/rfc822-headers"
                    | "message/global"
                    | "message/global-headers"
            )
        })
        .and_then(|p| p.decoded(raw).ok())
        .and_then(|b| super::message_id(&b));
    Ok(Dsn {
        message_id: root_header(&tree, "Message-ID"),
        subject: subject_of(&tree),
        reporting_mta: get(&per_message, "reporting-mta"),
        original_envelope_id: get(&per_message, "original-envelope-id"),
        recipients,
        returned_message_id: returned,
        parts: parts.iter().map(|p| p.effective_type()).collect(),
    })
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
                        rc.final_recipient.as_deref().unwrap_or("absent")
                    ))
                    .at(at.clone()),
            );
        }
        let action = rc.action.as_deref();
        let actions = ["failed", "delayed", "delivered", "relayed", "expanded"];
        if !action.is_some_and(|a| actions.contains(&a)) {
            findings.push(
                r::DSN_ACTION
                    .finding(format!("{who} : « {} ».", action.unwrap_or("absent")))
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
                        rc.status.as_deref().unwrap_or("absent"),
                        action.unwrap_or("absente")
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
            let want = super::message_id(o);
            if want.as_deref() != Some(got.as_str()) {
                findings.push(
                    r::DSN_ORIGINAL_MISMATCH
                        .finding(format!(
                            "« {got} » pour « {} ».",
                            want.unwrap_or_else(|| "(aucun Message-ID)".into())
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

/// What the receiving system did with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Processed,
    Error { code: u16, label: String },
}

impl Outcome {
    /// An error with its built-in French label (900–906); `None` for another code.
    pub fn error(code: u16) -> Option<Outcome> {
        conventions::error_label(code).map(|l| Outcome::Error {
            code,
            label: l.to_string(),
        })
    }
}

crate::choice_enum! {
    /// Where the error string goes in the MDN.
    pub enum MdnStyle {
        /// `processed/Error: <code>^<label>` in Disposition (mssante-xdm.md §4; IG LPS ≤ 1.1.2).
        Legacy = "legacy",
        /// `processed/error` and a separate `Error: <code>^<label>` field (RFC 8098 §3.2.7; IG LPS
        /// 1.1.3).
        Rfc8098 = "rfc8098",
    }
}

// choice_enum! takes doc comments only, so no `#[default]` on a variant.
#[allow(clippy::derivable_impls)]
impl Default for MdnStyle {
    fn default() -> MdnStyle {
        MdnStyle::Legacy
    }
}

/// How to make an MDN.
#[derive(Debug, Clone, Default)]
pub struct MdnOptions {
    /// Make one even when the original does not ask for it.
    pub force: bool,
    pub style: MdnStyle,
    /// Reporting-UA (default: `<domain>; banc <version>`).
    pub reporting_ua: Option<String>,
    /// Unix time of the Date header (default: now).
    pub date: Option<i64>,
    /// Without angle brackets (default: generated).
    pub message_id: Option<String>,
}

/// The MDN a receiving system (`reporting`, its mailbox) returns for `original_raw` (IG LPS
/// struct-msg-mdn: text, notification, original message). Refused when the original does not
/// ask for one (no Disposition-Notification-To).
pub fn make_mdn(original_raw: &[u8], reporting: &str, outcome: Outcome) -> Result<Vec<u8>, String> {
    make_mdn_with(original_raw, reporting, outcome, &MdnOptions::default())
}

pub fn make_mdn_with(
    original_raw: &[u8],
    reporting: &str,
    outcome: Outcome,
    opts: &MdnOptions,
) -> Result<Vec<u8>, String> {
    let o_tree = mime::parse(original_raw, LIMITS);
    if !readable(&o_tree) {
        return Err("le message d'origine n'est pas un message électronique lisible".into());
    }
    let dnt = super::disposition_notification_to(original_raw);
    let to = match (&dnt, opts.force) {
        (Some(d), _) => d.clone(),
        (None, true) => root_header(&o_tree, "From")
            .map(|f| angle_address(&f))
            .ok_or("le message d'origine n'a ni Disposition-Notification-To ni From")?,
        (None, false) => {
            return Err("le message d'origine ne demande pas d'accusé de lecture (pas de Disposition-Notification-To) : --force pour en produire un quand même".into());
        }
    };
    if !valid_address(reporting) {
        return Err(format!(
            "« {reporting} » : adresse de la boîte qui rend compte invalide"
        ));
    }
    let original_id = super::message_id(original_raw);
    let o_subject = subject_of(&o_tree).unwrap_or_default();
    let subject = match &outcome {
        Outcome::Processed => o_subject.clone(),
        Outcome::Error { code, .. } => format!("{KO_PREFIX}[{code}] {o_subject}"),
    };
    let domain = reporting
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("banc.invalid");
    let date = opts.date.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    });
    let message_id = opts.message_id.clone().unwrap_or_else(|| {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(original_raw);
        h.update(date.to_le_bytes());
        h.update(format!("{outcome:?}"));
        format!("mdn.{}@{domain}", hex::encode(&h.finalize()[..8]))
    });
    let boundary = {
        use sha2::{Digest, Sha256};
        format!(
            "banc-report-{}",
            hex::encode(&Sha256::digest(message_id.as_bytes())[..8])
        )
    };
    let text = match &outcome {
        Outcome::Processed => format!(
            "Le message « {o_subject} »{} a été reçu et traité automatiquement : le document a été intégré.\r\n",
            original_id
                .as_deref()
                .map(|i| format!(" ({i})"))
                .unwrap_or_default()
        ),
        Outcome::Error { code, label } => format!(
            "Le message ci-dessous n'a pas pu être intégré automatiquement dans le DPI pour la raison suivante : {label}\r\nCode d'erreur : {code} ({code}^{label})\r\n\r\nLe message d'origine est joint, avec son archive IHE_XDM.zip et sa copie PDF.\r\n"
        ),
    };
    let mut fields = format!(
        "Reporting-UA: {}\r\n",
        opts.reporting_ua
            .clone()
            .unwrap_or_else(|| format!("{domain}; banc {}", env!("CARGO_PKG_VERSION")))
    );
    if let Some(or) = super::header_text(original_raw, "Original-Recipient") {
        let addr = or.split_once(';').map(|(_, a)| a).unwrap_or(&or);
        fields.push_str(&format!(
            "Original-Recipient: rfc822;{}\r\n",
            angle_address(addr)
        ));
    }
    fields.push_str(&format!("Final-Recipient: rfc822;{reporting}\r\n"));
    if let Some(id) = &original_id {
        fields.push_str(&format!("Original-Message-ID: {id}\r\n"));
    }
    match (&outcome, opts.style) {
        (Outcome::Processed, _) => {
            fields.push_str("Disposition: automatic-action/MDN-sent-automatically; processed\r\n")
        }
        (Outcome::Error { code, label }, MdnStyle::Legacy) => fields.push_str(&format!(
            "Disposition: automatic-action/MDN-sent-automatically; processed/Error: {code}^{label}\r\n"
        )),
        (Outcome::Error { code, label }, MdnStyle::Rfc8098) => fields.push_str(&format!(
            "Disposition: automatic-action/MDN-sent-automatically; processed/error\r\nError: {code}^{label}\r\n"
        )),
    }
    let eight_bit = |b: &[u8]| b.iter().any(|x| *x >= 0x80);
    let notification = MimePart::new(
        ContentType::new("message/disposition-notification"),
        BodyPart::Binary(fields.clone().into_bytes().into()),
    )
    .header(
        "Content-Transfer-Encoding",
        Raw::new(if eight_bit(fields.as_bytes()) {
            "8bit"
        } else {
            "7bit"
        }),
    );
    // message/rfc822 admits no base64 (RFC 2046 §5.2.1): the original goes as it is.
    let original_part = MimePart::new(
        ContentType::new("message/rfc822"),
        BodyPart::Binary(original_raw.to_vec().into()),
    )
    .header(
        "Content-Transfer-Encoding",
        Raw::new(if eight_bit(original_raw) {
            "8bit"
        } else {
            "7bit"
        }),
    );
    let report = MimePart::new(
        ContentType::new("multipart/report")
            .attribute("report-type", "disposition-notification")
            .attribute("boundary", boundary),
        BodyPart::Multipart(vec![
            MimePart::new(
                ContentType::new("text/plain").attribute("charset", "utf-8"),
                BodyPart::Text(text.into()),
            ),
            notification,
            original_part,
        ]),
    );
    let mut b = MessageBuilder::new()
        .from(Address::from(reporting))
        .to(Address::from(to.as_str()))
        .subject(subject)
        .date(date)
        .message_id(MessageId::new(message_id));
    if let Some(id) = &original_id {
        let bare = id.trim().trim_matches(['<', '>']).to_string();
        b = b
            .in_reply_to(MessageId::new(bare.clone()))
            .references(MessageId::new(bare));
    }
    b.header("MIME-Version", Raw::new("1.0"))
        .body(report)
        .write_to_vec()
        .map_err(|e| format!("écriture du MDN : {e}"))
}

/// `banc mail ack`: an acknowledgement judged alone (and against the message it answers, when
/// given), as a run of one container report.
pub fn ack_report(name: &str, raw: &[u8], original: Option<&[u8]>) -> Result<RunReport, String> {
    let (kind, findings, ran) = judge_ack(raw, original);
    let v = crate::pipeline::Validator::new(None, crate::pipeline::Options::default())?;
    let doc = v.container_report(name, kind, findings, ran);
    Ok(RunReport::new(None, Severity::Error, vec![doc]))
}

/// Judge an acknowledgement: its kind (`mdn`, `dsn`, or `ack` when neither) and its findings.
pub fn judge_ack(
    raw: &[u8],
    original: Option<&[u8]>,
) -> (&'static str, Vec<Finding>, Vec<RuleRun>) {
    match ack_kind(raw) {
        Ok(AckKind::Mdn) => {
            let (f, r) = judge_mdn(raw, original);
            ("mdn", f, r)
        }
        Ok(AckKind::Dsn) => {
            let (f, r) = judge_dsn(raw, original);
            ("dsn", f, r)
        }
        Err(f) => {
            let run = if f.rule == r::ACK_UNREADABLE.id {
                r::ACK_UNREADABLE.ran()
            } else {
                r::ACK_NOT_REPORT.ran()
            };
            ("ack", vec![f], vec![run])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions() {
        let (d, legacy) =
            parse_disposition("automatic-action/MDN-sent-automatically; processed").unwrap();
        assert_eq!(d.kind, "processed");
        assert!(d.modifiers.is_empty() && legacy.is_none());
        let (d, legacy) = parse_disposition(
            "automatic-action/MDN-sent-automatically; processed/Error: 902^Identifiant patient inconnu",
        )
        .unwrap();
        assert_eq!(d.modifiers, ["error"]);
        assert_eq!(legacy.as_deref(), Some("902^Identifiant patient inconnu"));
        let (d, legacy) =
            parse_disposition("automatic-action/MDN-sent-automatically; processed/error").unwrap();
        assert_eq!(d.modifiers, ["error"]);
        assert!(legacy.is_none());
        assert!(parse_disposition("automatic-action; processed").is_none());
        assert!(parse_disposition("automatic-action/MDN-sent-automatically; read").is_none());
        let e = app_error("902^Identifiant de patient inconnu^applicationErrorCondition| E^Error");
        assert_eq!(e.code, Some(902));
        assert_eq!(e.label, "Identifiant de patient inconnu");
    }
}
