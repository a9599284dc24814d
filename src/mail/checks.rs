//! The checks of a received MSSanté message (M01–M16 of `docs/mssante-xdm.md` §6, and the bad
//! inputs of §6 that concern the message itself). The package and the documents inside are the
//! `xdm` layer's; this module only lists the zips and reads the CDA headers they carry for the
//! cross checks (M05, M08, M11, M12, M14).

use super::conventions::{self, Subject, SubjectError};
use super::mime::{self, Defect, Field, Part, Tree};
use super::rules::{self as r};
use crate::cda::header::{CdaHeader, Patient};
use crate::finding::report::RuleRun;
use crate::finding::{Finding, Location, Rule, Severity, quote};
use regex::Regex;
use std::sync::LazyLock;

/// Most findings of one rule in one message: a broken generator repeats its fault on every line.
const MAX_PER_RULE: usize = 20;
/// Most packages opened in one message.
pub const MAX_PACKAGES: usize = 4;

/// The settings of a run (see `mail::Policy`).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub max_size: u64,
    pub max_depth: usize,
    pub max_parts: usize,
    pub pdf_severity: Severity,
}

/// An IHE_XDM candidate found in the message.
#[derive(Debug, Clone)]
pub struct Package {
    /// The attachment's file name, or its part path when it has none.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// What the judge found.
#[derive(Debug, Default)]
pub struct Judged {
    pub findings: Vec<Finding>,
    pub ran: Vec<RuleRun>,
    /// The zips to check as packages (at most [`MAX_PACKAGES`]).
    pub packages: Vec<Package>,
}

static MSG_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^<[^<>@\s]+@[^<>@\s]+>$").expect("static regex"));
static MSG_ID_LIST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:<[^<>@\s]+@[^<>@\s]+>\s*)+$").expect("static regex"));
static ADDR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$",
    )
    .expect("static regex")
});
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),\s*)?\d{1,2}\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{4}\s+\d{2}:\d{2}(?::\d{2})?\s+(?:[+-]\d{4}|UT|GMT|[ECMP][SD]T|[A-IK-Za-ik-z])(?:\s*\(.*\))?$",
    )
    .expect("static regex")
});
static ENCODED_WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"=\?([^?\s]*)\?([^?\s]*)\?([^?\s]*)\?=").expect("static regex"));
static ENCODED_WORD_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"=\?[A-Za-z0-9_.:-]+\?").expect("static regex"));
static INS_LOCAL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]{13}[0-9]{2}$").expect("static regex"));

/// Is `s` a plain address `local@domain`?
pub fn valid_address(s: &str) -> bool {
    ADDR.is_match(s)
}

/// The address inside `Name <addr>` (or the text itself).
pub fn angle_address(s: &str) -> String {
    let s = s.trim();
    // After the last `<`, up to the last `>`.
    match s.rsplit_once('<').and_then(|(_, r)| r.rsplit_once('>')) {
        Some((addr, _)) => addr.trim().to_string(),
        None => s.to_string(),
    }
}

/// The location of a header field of a part.
pub fn header_path(part_path: &str, name: &str) -> String {
    if part_path.is_empty() {
        format!("header:{name}")
    } else {
        format!("{part_path}/header:{name}")
    }
}

struct Ctx<'t, 'a> {
    tree: &'t Tree<'a>,
    raw: &'a [u8],
    findings: Vec<Finding>,
    ran: Vec<&'static Rule>,
}

impl<'t, 'a> Ctx<'t, 'a> {
    fn ran(&mut self, rules: &[&'static Rule]) {
        for rule in rules {
            if !self.ran.iter().any(|x| x.id == rule.id) {
                self.ran.push(rule);
            }
        }
    }

    fn report(&mut self, rule: &'static Rule, detail: impl AsRef<str>, at: Location) {
        self.report_as(rule, rule.severity, detail, at);
    }

    fn report_as(
        &mut self,
        rule: &'static Rule,
        severity: Severity,
        detail: impl AsRef<str>,
        at: Location,
    ) {
        self.ran(&[rule]);
        if self.findings.iter().filter(|f| f.rule == rule.id).count() >= MAX_PER_RULE {
            return;
        }
        let mut f = rule.finding(detail).at(at);
        f.severity = severity;
        self.findings.push(f);
    }

    fn at_field(&self, part: &Part<'_>, f: &Field) -> Location {
        Location {
            xpath: Some(header_path(&part.path, &f.name)),
            line: Some(self.tree.line(f.start)),
            column: None,
        }
    }

    /// A header that is missing: its would-be place.
    fn at_missing(&self, part: &Part<'_>, name: &str) -> Location {
        Location {
            xpath: Some(header_path(&part.path, name)),
            line: None,
            column: None,
        }
    }

    fn at_part(&self, part: &Part<'_>) -> Location {
        Location {
            xpath: Some(if part.path.is_empty() {
                "message".into()
            } else {
                part.path.clone()
            }),
            line: Some(self.tree.line(part.start)),
            column: None,
        }
    }

    fn at_offset(&self, part: &Part<'_>, offset: usize) -> Location {
        let field = part
            .fields
            .iter()
            .find(|f| f.start <= offset && offset < f.end);
        Location {
            xpath: Some(match field {
                Some(f) => header_path(&part.path, &f.name),
                None => header_path(&part.path, "*"),
            }),
            line: Some(self.tree.line(offset)),
            column: None,
        }
    }
}

/// Does the message start like one: a header field on its first line, and at least one of the
/// headers every message has?
fn readable(tree: &Tree<'_>) -> bool {
    let root = tree.root();
    let starts_with_field = root.fields.first().is_some_and(|f| f.start == root.start);
    const KNOWN: [&str; 10] = [
        "From",
        "Date",
        "Subject",
        "To",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
        "Received",
        "Return-Path",
        "Sender",
    ];
    starts_with_field && root.fields.iter().any(|f| KNOWN.iter().any(|k| f.is(k)))
}

/// Judge a raw message. `headers_of` gives the CDA headers of the documents of a package (in
/// banc: `xdm::inspect`); the cross checks use them.
pub fn judge(
    raw: &[u8],
    settings: &Settings,
    headers_of: &dyn Fn(&[u8]) -> Vec<CdaHeader>,
) -> Judged {
    let tree = mime::parse(
        raw,
        mime::Limits {
            max_depth: settings.max_depth,
            max_parts: settings.max_parts,
        },
    );
    let mut cx = Ctx {
        tree: &tree,
        raw,
        findings: Vec::new(),
        ran: Vec::new(),
    };
    // M16
    cx.ran(&[r::OVERSIZE]);
    if raw.len() as u64 > settings.max_size {
        let at = Location {
            xpath: Some("message".into()),
            ..Location::default()
        };
        cx.report(
            r::OVERSIZE,
            format!(
                "{} octets pour une limite de {} octets.",
                raw.len(),
                settings.max_size
            ),
            at,
        );
    }
    cx.ran(&[r::UNREADABLE]);
    if !readable(&tree) {
        let at = Location {
            xpath: Some("message".into()),
            line: Some(1),
            column: None,
        };
        cx.report(r::UNREADABLE, "", at);
        return finish(cx, Vec::new());
    }
    cx.ran(&[r::BOM]);
    if tree.bom {
        let at = Location {
            xpath: Some("message".into()),
            ..Location::at(1, 1)
        };
        cx.report(r::BOM, "", at);
    }
    let root = tree.root();
    headers(&mut cx, root);
    for part in &tree.parts {
        header_bytes(&mut cx, part);
    }
    let subject = subject(&mut cx, root);
    structure(&mut cx);
    let (packages, has_zip) = attachments(&mut cx, settings);
    let mut docs: Vec<CdaHeader> = Vec::new();
    for p in &packages {
        docs.extend(headers_of(&p.bytes));
    }
    cross(&mut cx, root, subject.as_ref(), &docs, has_zip);
    pdf_identity(&mut cx, &docs, settings);
    finish(cx, packages)
}

fn finish(cx: Ctx<'_, '_>, packages: Vec<Package>) -> Judged {
    Judged {
        ran: cx.ran.iter().map(|r| r.ran()).collect(),
        findings: cx.findings,
        packages,
    }
}

/// M01, M02, M15: the message's own headers.
fn headers(cx: &mut Ctx<'_, '_>, root: &Part<'_>) {
    let raw = cx.raw;
    cx.ran(&[r::HEADER_REQUIRED, r::HEADER_DUPLICATE, r::HEADER_DATE]);
    cx.ran(&[r::HEADER_ADDRESS, r::MESSAGE_ID, r::DNT_SYNTAX, r::DNT_LOOP]);
    for name in ["Date", "From", "To", "Message-ID", "Subject"] {
        if root.field(name).is_none() {
            cx.report(
                r::HEADER_REQUIRED,
                format!("{name}."),
                cx.at_missing(root, name),
            );
        }
    }
    const SINGLE: [&str; 19] = [
        "Date",
        "From",
        "Sender",
        "Reply-To",
        "To",
        "Cc",
        "Bcc",
        "Message-ID",
        "In-Reply-To",
        "References",
        "Subject",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Disposition-Notification-To",
        "X-MSS-CODECDA",
        "X-MSS-INS",
        "X-MSS-NIL",
        "X-MSS-MES",
    ];
    for name in SINGLE {
        if let Some(second) = root.fields_named(name).nth(1) {
            let n = root.fields_named(name).count();
            cx.report(
                r::HEADER_DUPLICATE,
                format!("{name} ({n} fois)."),
                cx.at_field(root, second),
            );
        }
    }
    if let Some(f) = root.field("Date") {
        let text = f.text(raw);
        let parsed_ok = root
            .parsed
            .as_ref()
            .and_then(|m| m.date())
            .is_some_and(|d| d.is_valid());
        if !DATE.is_match(&text) || !parsed_ok {
            cx.report(
                r::HEADER_DATE,
                format!("« {} ».", quote(&text)),
                cx.at_field(root, f),
            );
        }
    }
    for name in ["From", "To", "Cc", "Reply-To", "Sender"] {
        for f in root.fields_named(name) {
            let list = addresses(f, raw);
            let bad: Vec<String> = list
                .iter()
                .filter(|a| !valid_address(a))
                .map(|a| format!("« {} »", quote(a)))
                .collect();
            if list.is_empty() || !bad.is_empty() {
                let what = if bad.is_empty() {
                    "aucune adresse".to_string()
                } else {
                    bad.join(", ")
                };
                cx.report(
                    r::HEADER_ADDRESS,
                    format!("{what} dans {name}."),
                    cx.at_field(root, f),
                );
            }
        }
    }
    if let Some(f) = root.field("Message-ID") {
        let v = f.text(raw);
        if !MSG_ID.is_match(&v) {
            cx.report(
                r::MESSAGE_ID,
                format!("« {} ».", quote(&v)),
                cx.at_field(root, f),
            );
        }
    }
    for name in ["In-Reply-To", "References"] {
        if let Some(f) = root.field(name) {
            let v = f.text(raw);
            if !MSG_ID_LIST.is_match(&v) {
                cx.report(
                    r::MESSAGE_ID,
                    format!("{name} : « {} ».", quote(&v)),
                    cx.at_field(root, f),
                );
            }
        }
    }
    // M15
    if let Some(f) = root.field("Disposition-Notification-To") {
        let v = f.text(raw);
        let addrs: Vec<String> = v.split(',').map(angle_address).collect();
        match addrs.as_slice() {
            [a] if valid_address(a) => {
                cx.report(
                    r::MDN_REQUESTED,
                    format!("{}.", quote(a)),
                    cx.at_field(root, f),
                );
                if let Some(rp) = root.field("Return-Path") {
                    let rp_addr = angle_address(&rp.text(raw));
                    if !rp_addr.eq_ignore_ascii_case(a) {
                        cx.report(
                            r::DNT_LOOP,
                            format!(
                                "(Disposition-Notification-To {}, Return-Path <{}>)",
                                quote(a),
                                quote(&rp_addr)
                            ),
                            cx.at_field(root, f),
                        );
                    }
                }
            }
            _ => cx.report(
                r::DNT_SYNTAX,
                format!("« {} ».", quote(&v)),
                cx.at_field(root, f),
            ),
        }
    }
}

/// The addresses of an address field, as mail-parser reads them (a name with no address gives
/// the name, which then fails the syntax check).
fn addresses(f: &Field, raw: &[u8]) -> Vec<String> {
    let mut block = Vec::with_capacity(f.end - f.start + 2);
    block.extend_from_slice(b"To:");
    block.extend_from_slice(f.raw_value(raw));
    block.extend_from_slice(b"\r\n\r\n");
    let Some(m) = mail_parser::MessageParser::new().parse_headers(&block) else {
        return Vec::new();
    };
    let Some(list) = m.to() else {
        return Vec::new();
    };
    list.iter()
        .map(|a| match (&a.address, &a.name) {
            (Some(ad), _) => ad.to_string(),
            (None, Some(n)) => n.to_string(),
            (None, None) => String::new(),
        })
        .collect()
}

/// M03: the bytes of the header blocks, and the encoded words of the message's headers.
fn header_bytes(cx: &mut Ctx<'_, '_>, part: &Part<'_>) {
    cx.ran(&[r::NON_ASCII, r::CRLF_INJECTION, r::ENCODED_WORD]);
    for d in &part.defects {
        let at = cx.at_offset(part, d.offset());
        match d {
            Defect::EightBit(_) => cx.report(r::NON_ASCII, "", at),
            Defect::Control(_) => cx.report(r::NON_ASCII, "(octet de contrôle)", at),
            Defect::BareCr(_) => cx.report(
                r::CRLF_INJECTION,
                "CR isolé (sans LF) dans une ligne d'en-tête.",
                at,
            ),
            Defect::BareLf(_) => cx.report(
                r::CRLF_INJECTION,
                "ligne terminée par LF seul parmi des lignes terminées par CRLF.",
                at,
            ),
            Defect::NotAField(_) => cx.report(
                r::CRLF_INJECTION,
                "ligne qui n'est ni un champ « Nom: valeur » ni la suite repliée du précédent.",
                at,
            ),
        }
    }
    if !part.path.is_empty() {
        return;
    }
    for f in &part.fields {
        // Parameters of Content-* fields follow RFC 2231, not RFC 2047.
        if f.name.to_ascii_lowercase().starts_with("content-") {
            continue;
        }
        let text = f.text(cx.raw);
        if !text.contains("=?") {
            continue;
        }
        let mut covered = Vec::new();
        for m in ENCODED_WORD.captures_iter(&text) {
            let (all, cs, enc, payload) = (&m[0], &m[1], &m[2], &m[3]);
            if let Some(whole) = m.get(0) {
                covered.push(whole.range());
            }
            match decode_word(cs, enc, payload) {
                Err(why) => cx.report(
                    r::ENCODED_WORD,
                    format!("{} : « {} » ({why}).", f.name, quote(all)),
                    cx.at_field(part, f),
                ),
                Ok(t) if t.contains(['\r', '\n']) => cx.report(
                    r::CRLF_INJECTION,
                    format!("la valeur décodée de {} contient un saut de ligne.", f.name),
                    cx.at_field(part, f),
                ),
                Ok(_) => {}
            }
        }
        for m in ENCODED_WORD_START.find_iter(&text) {
            if !covered.iter().any(|c| c.contains(&m.start())) {
                cx.report(
                    r::ENCODED_WORD,
                    format!(
                        "{} : mot encodé non terminé à « {} ».",
                        f.name,
                        quote(m.as_str())
                    ),
                    cx.at_field(part, f),
                );
            }
        }
    }
}

/// Decode one RFC 2047 encoded word (UTF-8, US-ASCII and the Latin charsets only).
pub fn decode_word(charset: &str, encoding: &str, payload: &str) -> Result<String, String> {
    let cs = charset.split('*').next().unwrap_or("").to_ascii_lowercase();
    let bytes = match encoding {
        "B" | "b" => mime::decode(payload.as_bytes(), "base64")
            .map(|b| b.into_owned())
            .map_err(|_| "base64 invalide".to_string())?,
        "Q" | "q" => mime::decode_qp(payload.replace('_', " ").as_bytes()),
        other => return Err(format!("encodage « {other} » inconnu (B ou Q)")),
    };
    match cs.as_str() {
        "utf-8" | "utf8" => String::from_utf8(bytes).map_err(|_| "octets non UTF-8".to_string()),
        "us-ascii" => {
            if bytes.is_ascii() {
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            } else {
                Err("octets non ASCII".into())
            }
        }
        "iso-8859-1" | "iso-8859-15" | "latin1" | "windows-1252" | "cp1252" => {
            Ok(bytes.iter().map(|&b| b as char).collect())
        }
        other => Err(format!("jeu de caractères « {other} » non pris en charge")),
    }
}

/// M04: the subject's form. Returns it cut, for M05.
fn subject(cx: &mut Ctx<'_, '_>, root: &Part<'_>) -> Option<Subject> {
    cx.ran(&[r::SUBJECT_PREFIX, r::SUBJECT_FORMAT, r::SUBJECT_DATE]);
    let f = root.field("Subject")?;
    let text = root
        .parsed
        .as_ref()
        .and_then(|m| m.subject())
        .map(str::to_string)
        .unwrap_or_else(|| f.text(cx.raw));
    match conventions::parse_subject(&text) {
        Err(SubjectError::NoPrefix) => {
            cx.report(
                r::SUBJECT_PREFIX,
                format!("« {} ».", quote(&text)),
                cx.at_field(root, f),
            );
            None
        }
        Err(SubjectError::Incomplete) => {
            cx.report(
                r::SUBJECT_FORMAT,
                format!("« {} ».", quote(&text)),
                cx.at_field(root, f),
            );
            None
        }
        Ok(s) => {
            if s.bad_date {
                cx.report(
                    r::SUBJECT_DATE,
                    format!("« {} ».", quote(s.date.as_deref().unwrap_or(""))),
                    cx.at_field(root, f),
                );
            }
            Some(s)
        }
    }
}

/// RFC 2046 §5.1.1 bchars.
fn valid_boundary(b: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || "'()+_,-./:=? ".contains(c);
    (1..=70).contains(&b.len()) && b.chars().all(ok) && !b.ends_with(' ')
}

/// M06: the MIME structure.
fn structure(cx: &mut Ctx<'_, '_>) {
    let tree = cx.tree;
    let raw = cx.raw;
    let root = tree.root();
    cx.ran(&[
        r::MIME_VERSION,
        r::NOT_MIXED,
        r::BOUNDARY_MISSING,
        r::BOUNDARY_SYNTAX,
    ]);
    cx.ran(&[
        r::BOUNDARY_ABSENT,
        r::UNTERMINATED,
        r::TOO_DEEP,
        r::TOO_MANY_PARTS,
    ]);
    cx.ran(&[r::CTE_TYPO, r::CTE_UNKNOWN, r::BAD_BASE64]);
    if root.field("MIME-Version").is_none() {
        cx.report(r::MIME_VERSION, "", cx.at_missing(root, "MIME-Version"));
    }
    let t = root.effective_type();
    if t != "multipart/mixed" {
        let at = match root.field("Content-Type") {
            Some(f) => cx.at_field(root, f),
            None => cx.at_missing(root, "Content-Type"),
        };
        let declared = if root.field("Content-Type").is_some() {
            t
        } else {
            "aucun Content-Type (text/plain par défaut)".into()
        };
        cx.report(r::NOT_MIXED, format!("{declared}."), at);
    }
    for part in &tree.parts {
        if let Some(mp) = &part.multipart {
            let at = match part.field("Content-Type") {
                Some(f) => cx.at_field(part, f),
                None => cx.at_part(part),
            };
            match &mp.boundary {
                None => cx.report(r::BOUNDARY_MISSING, "", at),
                Some(b) => {
                    if !valid_boundary(b) {
                        cx.report(
                            r::BOUNDARY_SYNTAX,
                            format!("« {} » ({} caractères).", quote(b), b.chars().count()),
                            at.clone(),
                        );
                    }
                    if mp.too_deep {
                        cx.report(
                            r::TOO_DEEP,
                            format!("(niveau {}).", part.depth),
                            cx.at_part(part),
                        );
                    } else if mp.delimiters == 0 {
                        cx.report(r::BOUNDARY_ABSENT, format!("(« --{} »)", quote(b)), at);
                    } else if !mp.closed {
                        let end = Location {
                            xpath: Some(if part.path.is_empty() {
                                "message".into()
                            } else {
                                part.path.clone()
                            }),
                            line: Some(tree.line(part.end.saturating_sub(1))),
                            column: None,
                        };
                        cx.report(r::UNTERMINATED, format!("(« --{}-- »)", quote(b)), end);
                    }
                }
            }
        }
        for f in part.fields_named("Content-Transfert-Encoding") {
            cx.report(r::CTE_TYPO, "", cx.at_field(part, f));
        }
        if let Some(f) = part.field("Content-Transfer-Encoding") {
            let v = f.text(raw).to_ascii_lowercase();
            let known = ["7bit", "8bit", "binary", "quoted-printable", "base64"];
            if !known.contains(&v.as_str()) {
                cx.report(
                    r::CTE_UNKNOWN,
                    format!("« {} ».", quote(&v)),
                    cx.at_field(part, f),
                );
            } else if v == "base64"
                && part.multipart.is_none()
                && matches!(part.decoded(raw), Err(mime::DecodeError::Base64))
            {
                cx.report(r::BAD_BASE64, "", cx.at_part(part));
            }
        }
    }
    if tree.truncated {
        cx.report(
            r::TOO_MANY_PARTS,
            format!("({} parties examinées)", tree.parts.len()),
            Location {
                xpath: Some("message".into()),
                ..Location::default()
            },
        );
    }
}

fn ends_with_ci(name: &str, ext: &str) -> bool {
    name.len()
        .checked_sub(ext.len())
        .and_then(|n| name.get(n..))
        .is_some_and(|tail| tail.eq_ignore_ascii_case(ext))
}

const ZIP_TYPES: [&str; 4] = [
    "application/zip",
    "application/x-zip-compressed",
    "application/x-zip",
    "multipart/x-zip",
];

/// M07, M09, M10: the leaves of the message. Returns the packages and whether a zip is
/// attached (`None`: unknown, parts went unexamined).
fn attachments(cx: &mut Ctx<'_, '_>, settings: &Settings) -> (Vec<Package>, Option<bool>) {
    let tree = cx.tree;
    let raw = cx.raw;
    cx.ran(&[
        r::ZIP_MISSING,
        r::ZIP_SEVERAL,
        r::ZIP_NAME,
        r::ZIP_OCTET_STREAM,
    ]);
    cx.ran(&[r::ZIP_CONTENT_TYPE, r::ZIP_ENCODING, r::ZIP_DISPOSITION]);
    cx.ran(&[r::PDF_MISSING, r::PDF_NAME, r::PDF_CONTENT]);
    cx.ran(&[
        r::TEXT_BODY_MISSING,
        r::TEXT_CHARSET_MISSING,
        r::TEXT_CHARSET,
    ]);
    cx.ran(&[r::TEXT_INVALID_UTF8]);
    let (mut zips, mut pdfs, mut texts) = (Vec::new(), Vec::new(), Vec::new());
    for (i, part) in tree.parts.iter().enumerate() {
        if part.multipart.is_some() {
            continue;
        }
        let name = part.filename().unwrap_or_default();
        let ty = part.effective_type();
        let decoded = part.decoded(raw).ok();
        let zip_magic = decoded
            .as_ref()
            .is_some_and(|d| d.starts_with(b"PK\x03\x04"));
        if ends_with_ci(&name, ".zip")
            || ZIP_TYPES.contains(&ty.as_str())
            || (ty == "application/octet-stream" && zip_magic)
        {
            zips.push(i);
        } else if ends_with_ci(&name, ".pdf") || ty == "application/pdf" {
            pdfs.push(i);
        } else if (ty == "text/plain" || ty == "text/html")
            && part.disposition().as_deref() != Some("attachment")
        {
            texts.push(i);
        }
    }
    // Parts beyond the limits were not examined: what seems absent may be there.
    let complete = !tree.truncated
        && !tree
            .parts
            .iter()
            .any(|p| p.multipart.as_ref().is_some_and(|m| m.too_deep));
    // M07
    if zips.is_empty() && complete {
        cx.report(
            r::ZIP_MISSING,
            "",
            Location {
                xpath: Some("message".into()),
                ..Location::default()
            },
        );
    }
    if zips.len() > 1 {
        let names: Vec<String> = zips
            .iter()
            .map(|&i| {
                let p = &tree.parts[i];
                format!(
                    "{} ({})",
                    quote(p.filename().unwrap_or_else(|| "sans nom".into())),
                    p.path
                )
            })
            .collect();
        let second = &tree.parts[zips[1]];
        cx.report(
            r::ZIP_SEVERAL,
            format!("{}.", names.join(", ")),
            cx.at_part(second),
        );
    }
    let mut packages: Vec<Package> = Vec::new();
    for &i in &zips {
        let part = &tree.parts[i];
        let name = part.filename();
        let ct_at = match part.field("Content-Type") {
            Some(f) => cx.at_field(part, f),
            None => cx.at_missing(part, "Content-Type"),
        };
        if !name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case("IHE_XDM.zip"))
        {
            cx.report(
                r::ZIP_NAME,
                format!("« {} ».", quote(name.as_deref().unwrap_or("(sans nom)"))),
                cx.at_part(part),
            );
        }
        let ty = part.effective_type();
        if ty == "application/octet-stream" {
            cx.report(r::ZIP_OCTET_STREAM, "", ct_at);
        } else if ty != "application/zip" {
            cx.report(r::ZIP_CONTENT_TYPE, format!("{}.", quote(&ty)), ct_at);
        }
        let cte = part.transfer_encoding(raw);
        if cte.as_deref() != Some("base64") {
            let at = match part.field("Content-Transfer-Encoding") {
                Some(f) => cx.at_field(part, f),
                None => cx.at_missing(part, "Content-Transfer-Encoding"),
            };
            cx.report(
                r::ZIP_ENCODING,
                format!("{}.", quote(cte.as_deref().unwrap_or("aucun (7bit)"))),
                at,
            );
        }
        let disposition_ok = part.disposition().as_deref() == Some("attachment")
            && part.disposition_param("filename").is_some();
        if !disposition_ok {
            let at = match part.field("Content-Disposition") {
                Some(f) => cx.at_field(part, f),
                None => cx.at_missing(part, "Content-Disposition"),
            };
            let found = part
                .field("Content-Disposition")
                .map(|f| format!("« {} »", quote(f.text(raw))))
                .unwrap_or_else(|| "absent".into());
            cx.report(r::ZIP_DISPOSITION, format!("{found}."), at);
        }
        if packages.len() < MAX_PACKAGES
            && let Ok(bytes) = part.decoded(raw)
        {
            let base = name.clone().unwrap_or_else(|| part.path.clone());
            let mut unique = base.clone();
            let mut n = 2;
            while packages.iter().any(|p| p.name == unique) {
                unique = format!("{base}#{n}");
                n += 1;
            }
            packages.push(Package {
                name: unique,
                bytes: bytes.into_owned(),
            });
        }
    }
    // M09
    if pdfs.is_empty() && complete {
        cx.report_as(
            r::PDF_MISSING,
            settings.pdf_severity,
            "",
            Location {
                xpath: Some("message".into()),
                ..Location::default()
            },
        );
    }
    for &i in &pdfs {
        let part = &tree.parts[i];
        match part.filename() {
            None => cx.report_as(
                r::PDF_NAME,
                settings.pdf_severity,
                "(sans nom).",
                cx.at_part(part),
            ),
            Some(n) => {
                if let Err(why) = conventions::parse_pdf_name(&n) {
                    cx.report_as(
                        r::PDF_NAME,
                        settings.pdf_severity,
                        format!("« {} » : {why}.", quote(&n)),
                        cx.at_part(part),
                    );
                }
            }
        }
        if let Ok(bytes) = part.decoded(raw) {
            let head = &bytes[..bytes.len().min(1024)];
            if !head.windows(5).any(|w| w == b"%PDF-") {
                cx.report(r::PDF_CONTENT, "", cx.at_part(part));
            }
        }
    }
    // M10
    if texts.is_empty() && complete {
        cx.report(
            r::TEXT_BODY_MISSING,
            "",
            Location {
                xpath: Some("message".into()),
                ..Location::default()
            },
        );
    }
    for &i in &texts {
        text_part(cx, &tree.parts[i]);
    }
    // Whether a zip is attached: unknown when parts went unexamined and none was seen.
    let has_zip = (!zips.is_empty() || complete).then_some(!zips.is_empty());
    (packages, has_zip)
}

fn text_part(cx: &mut Ctx<'_, '_>, part: &Part<'_>) {
    let raw = cx.raw;
    let at = match part.field("Content-Type") {
        Some(f) => cx.at_field(part, f),
        None => cx.at_missing(part, "Content-Type"),
    };
    let Ok(bytes) = part.decoded(raw) else {
        return;
    };
    let charset = part.type_param("charset").map(|c| c.to_ascii_lowercase());
    match charset.as_deref() {
        None => {
            // Undeclared means US-ASCII (RFC 2045 §5.2): harmless for ASCII text, wrong otherwise.
            let (sev, what) = if bytes.is_ascii() {
                (Severity::Warning, "texte ASCII")
            } else {
                (Severity::Error, "texte non ASCII, illisible sans charset")
            };
            cx.report_as(
                r::TEXT_CHARSET_MISSING,
                sev,
                format!("{} ({what}).", quote(part.effective_type())),
                at,
            );
        }
        Some("utf-8" | "utf8") => {
            if let Err(e) = std::str::from_utf8(&bytes) {
                let plain = matches!(
                    part.transfer_encoding(raw).as_deref(),
                    None | Some("7bit" | "8bit" | "binary")
                );
                let offset = e.valid_up_to();
                let line_at = if plain {
                    Location {
                        xpath: Some(part.path.clone()).filter(|p| !p.is_empty()),
                        line: Some(cx.tree.line(part.body_start + offset)),
                        column: None,
                    }
                } else {
                    cx.at_part(part)
                };
                cx.report(
                    r::TEXT_INVALID_UTF8,
                    format!("premier octet invalide 0x{:02X}.", bytes[offset]),
                    line_at,
                );
            }
        }
        // ASCII is UTF-8; only non-ASCII text in it would be wrong.
        Some("us-ascii") if bytes.is_ascii() => {}
        Some(other) => cx.report(r::TEXT_CHARSET, format!("{}.", quote(other)), at),
    }
}

/// A key that tells patients apart: the INS, else the identity traits.
fn patient_key(p: &Patient) -> String {
    match &p.ins {
        Some(i) => format!("INS {}", quote(i.extension.as_deref().unwrap_or_default())),
        None => format!(
            "{} {} {}",
            conventions::fold(p.birth_name.as_deref().unwrap_or("")),
            conventions::fold(p.given.first().map(String::as_str).unwrap_or("")),
            p.birth_time.as_deref().unwrap_or("")
        ),
    }
}

/// M05, M08, M11–M14: what the envelope says against the documents.
fn cross(
    cx: &mut Ctx<'_, '_>,
    root: &Part<'_>,
    subject: Option<&Subject>,
    docs: &[CdaHeader],
    has_zip: Option<bool>,
) {
    let raw = cx.raw;
    cx.ran(&[
        r::NIL_MISSING,
        r::INS_VALUE,
        r::MES_VALUE,
        r::MES_UNEXPECTED,
    ]);
    cx.ran(&[r::PATIENT_ADDRESS_FORMAT, r::CODECDA_UNEXPECTED]);
    // M13
    match root.field("X-MSS-NIL") {
        None => cx.report(r::NIL_MISSING, "", cx.at_missing(root, "X-MSS-NIL")),
        Some(f) if f.text(raw).is_empty() => cx.report(r::NIL_MISSING, "", cx.at_field(root, f)),
        Some(_) => {}
    }
    // M11, M12: presence whenever a package is attached, values against the documents.
    let codecda = root.field("X-MSS-CODECDA");
    let ins = root.field("X-MSS-INS");
    if has_zip == Some(true) {
        cx.ran(&[r::CODECDA_MISSING, r::INS_MISSING]);
        if codecda.is_none() {
            cx.report(r::CODECDA_MISSING, "", cx.at_missing(root, "X-MSS-CODECDA"));
        }
        if ins.is_none() {
            cx.report(r::INS_MISSING, "", cx.at_missing(root, "X-MSS-INS"));
        }
    } else if let (Some(false), Some(f)) = (has_zip, codecda) {
        cx.report(r::CODECDA_UNEXPECTED, "", cx.at_field(root, f));
    }
    if let Some(f) = ins {
        let v = f.text(raw);
        if v != "O" && v != "N" {
            cx.report(
                r::INS_VALUE,
                format!("« {} ».", quote(&v)),
                cx.at_field(root, f),
            );
        }
    }
    let mut patients: Vec<(String, &Patient)> = Vec::new();
    for d in docs {
        let k = patient_key(&d.patient);
        if !patients.iter().any(|(x, _)| *x == k) {
            patients.push((k, &d.patient));
        }
    }
    if !docs.is_empty() {
        cx.ran(&[r::CODECDA_MISMATCH, r::INS_MISMATCH, r::PATIENT_SEVERAL]);
        if let Some(f) = codecda {
            let v = f.text(raw);
            let mut got: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            let mut want: Vec<&str> = docs
                .iter()
                .filter_map(|d| d.code.as_ref().map(|c| c.code.as_str()))
                .collect();
            got.sort_unstable();
            got.dedup();
            want.sort_unstable();
            want.dedup();
            if got != want {
                cx.report(
                    r::CODECDA_MISMATCH,
                    format!("« {} » pour « {} ».", quote(&v), quote(want.join(","))),
                    cx.at_field(root, f),
                );
            }
        }
        if let Some(f) = ins {
            let v = f.text(raw);
            let qualified = docs.iter().all(|d| d.patient.ins_qualified());
            let want = if qualified { "O" } else { "N" };
            if (v == "O" || v == "N") && v != want {
                let why = if qualified {
                    "l'INS du CDA est qualifié (matricule, OID et traits)"
                } else if docs.iter().any(|d| d.patient.ins.is_none()) {
                    "le CDA ne porte pas d'INS"
                } else {
                    "l'INS du CDA n'a pas tous ses traits d'identité"
                };
                cx.report(
                    r::INS_MISMATCH,
                    format!(
                        "X-MSS-INS: {} alors que {why} ({} attendu).",
                        quote(&v),
                        quote(want)
                    ),
                    cx.at_field(root, f),
                );
            }
        }
        if patients.len() > 1 {
            let keys: Vec<String> = patients.iter().map(|(k, _)| quote(k)).collect();
            cx.report(
                r::PATIENT_SEVERAL,
                format!("{}.", keys.join(" ; ")),
                Location {
                    xpath: Some("message".into()),
                    ..Location::default()
                },
            );
        }
    }
    let single = (patients.len() == 1).then(|| patients[0].1);
    // M05
    if let (Some(s), Some(p), Some(f)) = (subject, single, root.field("Subject")) {
        cx.ran(&[r::SUBJECT_IDENTITY]);
        // A malformed date is M04's finding; M05 then compares the names only.
        let names_only;
        let s = if s.bad_date {
            names_only = Subject {
                date: None,
                ..s.clone()
            };
            &names_only
        } else {
            s
        };
        if let Err(why) = conventions::subject_matches(s, p) {
            cx.report(
                r::SUBJECT_IDENTITY,
                format!("« {} » : {why}.", quote(&s.text)),
                cx.at_field(root, f),
            );
        }
    }
    // M14
    let mut patient_rcpt = false;
    for name in ["To", "Cc"] {
        for f in root.fields_named(name) {
            for a in addresses(f, raw) {
                if !conventions::is_patient_address(&a) {
                    continue;
                }
                patient_rcpt = true;
                let local = a.rsplit_once('@').map(|(l, _)| l).unwrap_or("");
                if !INS_LOCAL.is_match(local) {
                    cx.report(
                        r::PATIENT_ADDRESS_FORMAT,
                        format!("« {} ».", quote(&a)),
                        cx.at_field(root, f),
                    );
                    continue;
                }
                if let Some(p) = single {
                    cx.ran(&[r::PATIENT_ADDRESS_INS, r::PATIENT_ADDRESS_NOT_QUALIFIED]);
                    let ins = p.ins.as_ref().and_then(|i| i.extension.as_deref());
                    if ins != Some(local) {
                        cx.report(
                            r::PATIENT_ADDRESS_INS,
                            format!(
                                "« {} », INS du CDA {}.",
                                quote(&a),
                                quote(ins.unwrap_or("absent"))
                            ),
                            cx.at_field(root, f),
                        );
                    } else if !p.ins_qualified() {
                        cx.report(r::PATIENT_ADDRESS_NOT_QUALIFIED, "", cx.at_field(root, f));
                    }
                }
            }
        }
    }
    if let Some(f) = root.field("X-MSS-MES") {
        let v = f.text(raw);
        if v != "FIN" {
            cx.report(
                r::MES_VALUE,
                format!("« {} ».", quote(&v)),
                cx.at_field(root, f),
            );
        }
        if !patient_rcpt {
            cx.report(r::MES_UNEXPECTED, "", cx.at_field(root, f));
        }
    }
}

/// M09: the PDF name's NOM and prénom against the CDA.
fn pdf_identity(cx: &mut Ctx<'_, '_>, docs: &[CdaHeader], settings: &Settings) {
    let tree = cx.tree;
    let Some(p) = docs.first().map(|d| &d.patient) else {
        return;
    };
    if docs
        .iter()
        .any(|d| patient_key(&d.patient) != patient_key(p))
    {
        return;
    }
    for part in tree.leaves() {
        let Some(n) = part.filename() else { continue };
        let Ok(pdf) = conventions::parse_pdf_name(&n) else {
            continue;
        };
        let fam = conventions::fold(&pdf.family);
        let giv = conventions::fold(&pdf.given);
        let families = [&p.birth_name, &p.used_name];
        let fam_ok = families
            .iter()
            .filter_map(|x| x.as_deref())
            .any(|x| conventions::fold(x) == fam);
        let giv_ok = p.first_given.iter().chain(p.given.iter()).any(|g| {
            conventions::fold(g) == giv
                || g.split_whitespace()
                    .next()
                    .is_some_and(|w| conventions::fold(w) == giv)
        });
        if !(fam_ok && giv_ok) {
            let want = conventions::identity(p)
                .map(|i| format!("{}_{}", i.family, i.given))
                .unwrap_or_default();
            cx.report_as(
                r::PDF_NAME,
                settings.pdf_severity,
                format!(
                    "« {} » : NOM/prénom différents du CDA ({}).",
                    quote(&n),
                    quote(&want)
                ),
                cx.at_part(part),
            );
        }
    }
}
