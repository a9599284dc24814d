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

mod dsn;
mod judge;
mod make;

pub use dsn::parse_dsn;
pub use judge::{judge_dsn, judge_mdn};
pub use make::{MdnOptions, MdnStyle, Outcome, make_mdn, make_mdn_with};

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
    root.fields.first().is_some_and(|f| f.start == root.start)
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
        let legacy_error = m
            .split_at_checked(5)
            .filter(|(head, _)| head.eq_ignore_ascii_case("error"))
            .and_then(|(_, rest)| rest.trim_start().strip_prefix(':'));
        if let Some(text) = legacy_error {
            // IG LPS ≤ 1.1.2: the error string inside the modifier.
            mods.push("error".to_string());
            legacy = Some(text.trim().to_string());
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
