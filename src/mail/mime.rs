//! The raw MIME structure of a message: header fields with their bytes and line numbers, multipart
//! boundaries and whether they are closed, nesting (bounded), bodies decoded from their transfer
//! encoding. mail-parser reads the header *values* (RFC 2047 words, addresses, RFC 2231
//! parameters, dates); this module keeps what a lenient parser smooths over, which is what M03 and
//! M06 judge. Linear in the message size times the nesting limit: nothing here recurses or backs
//! off without bound.
//!
//! Hand-written on purpose: MIME libraries (mail-parser included) repair what they read —
//! unclosed boundaries, bad transfer encodings, stray bytes — and a test bench must report those
//! defects, not smooth them over.

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use mail_parser::{MessageParser, MimeHeaders};
use std::borrow::Cow;

/// Base64 as found in mail: padding optional, stray trailing bits tolerated (whitespace is
/// removed before decoding).
pub const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Base64 for what banc writes.
pub const BASE64: GeneralPurpose = general_purpose::STANDARD;

/// Bounds on the walk.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest multipart nesting examined (the root is level 0).
    pub max_depth: usize,
    /// Most parts examined.
    pub max_parts: usize,
}

pub use crate::lines::Lines;

/// One line of `raw[pos..end]`: (end of its text, start of the next line). The text excludes the
/// line break (CRLF or LF).
pub fn line_at(raw: &[u8], pos: usize, end: usize) -> (usize, usize) {
    match raw[pos..end].iter().position(|b| *b == b'\n') {
        Some(i) => {
            let nl = pos + i;
            let text_end = if nl > pos && raw[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            (text_end, nl + 1)
        }
        None => (end, end),
    }
}

/// A header field as written.
#[derive(Debug, Clone)]
pub struct Field {
    /// The name as written (ASCII checked by the reader).
    pub name: String,
    /// Offset of the name.
    pub start: usize,
    /// Offset just after the colon.
    pub value_start: usize,
    /// Offset after the field's last line break.
    pub end: usize,
}

impl Field {
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The value's raw bytes, folding line breaks included.
    pub fn raw_value<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        &raw[self.value_start..self.end]
    }

    /// The value unfolded (RFC 5322 §2.2.3) and trimmed, undecoded (non-UTF-8 bytes replaced).
    pub fn text(&self, raw: &[u8]) -> String {
        let v = self.raw_value(raw);
        let mut out = Vec::with_capacity(v.len());
        for &b in v {
            if b != b'\r' && b != b'\n' {
                out.push(b);
            }
        }
        String::from_utf8_lossy(&out).trim().to_string()
    }
}

/// A line-level defect of a header block (M03).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// A byte ≥ 0x80 (at this offset).
    EightBit(usize),
    /// A control byte other than HT.
    Control(usize),
    /// A CR not followed by LF.
    BareCr(usize),
    /// A line ending in LF alone among lines ending in CRLF.
    BareLf(usize),
    /// A line that is neither a field (`name:`) nor a continuation (starting with a space).
    NotAField(usize),
}

impl Defect {
    pub fn offset(self) -> usize {
        match self {
            Defect::EightBit(o)
            | Defect::Control(o)
            | Defect::BareCr(o)
            | Defect::BareLf(o)
            | Defect::NotAField(o) => o,
        }
    }
}

struct HeaderBlock {
    fields: Vec<Field>,
    defects: Vec<Defect>,
    body_start: usize,
    /// The blank line that ends the header block was found.
    terminated: bool,
}

fn valid_field_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|b| (33..=126).contains(b) && *b != b':')
}

/// Both line endings in one header block: the minority kind is the odd one out (an LF among
/// CRLF lines, or a CR before LF among LF lines, which is a bare CR to that block).
fn mixed_endings(
    crlf: usize,
    lf: usize,
    first_crlf: Option<usize>,
    first_lf: Option<usize>,
    defects: &mut Vec<Defect>,
) {
    if crlf == 0 || lf == 0 {
        return;
    }
    match (lf <= crlf, first_lf, first_crlf) {
        (true, Some(at), _) => defects.push(Defect::BareLf(at)),
        (false, _, Some(at)) => defects.push(Defect::BareCr(at)),
        _ => {}
    }
}

fn read_headers(raw: &[u8], start: usize, end: usize) -> HeaderBlock {
    let mut fields: Vec<Field> = Vec::new();
    let mut defects = Vec::new();
    // Line endings: CRLF lines, LF-only lines, and where each kind first appears.
    let (mut crlf, mut lf) = (0usize, 0usize);
    let (mut first_crlf, mut first_lf) = (None, None);
    let mut pos = start;
    while pos < end {
        let (text_end, next) = line_at(raw, pos, end);
        let has_break = next > text_end;
        if has_break {
            if next - text_end == 2 {
                crlf += 1;
                first_crlf.get_or_insert(text_end);
            } else {
                lf += 1;
                first_lf.get_or_insert(pos);
            }
        }
        let text = &raw[pos..text_end];
        if text.is_empty() && has_break {
            mixed_endings(crlf, lf, first_crlf, first_lf, &mut defects);
            return HeaderBlock {
                fields,
                defects,
                body_start: next,
                terminated: true,
            };
        }
        let mut seen = (false, false, false);
        for (i, &b) in text.iter().enumerate() {
            if b >= 0x80 && !seen.0 {
                seen.0 = true;
                defects.push(Defect::EightBit(pos + i));
            } else if b == b'\r' && !seen.1 {
                seen.1 = true;
                defects.push(Defect::BareCr(pos + i));
            } else if b < 0x20 && b != b'\t' && b != b'\r' && !seen.2 {
                seen.2 = true;
                defects.push(Defect::Control(pos + i));
            }
        }
        if text.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            match fields.last_mut() {
                Some(f) => f.end = next,
                None => defects.push(Defect::NotAField(pos)),
            }
        } else {
            let colon = text.iter().position(|b| *b == b':');
            // Obsolete syntax (RFC 5322 §4.5) allows spaces before the colon.
            let name = colon.map(|c| text[..c].trim_ascii_end());
            match (colon, name) {
                (Some(c), Some(n)) if valid_field_name(n) => fields.push(Field {
                    name: String::from_utf8_lossy(n).into_owned(),
                    start: pos,
                    value_start: pos + c + 1,
                    end: next,
                }),
                _ => defects.push(Defect::NotAField(pos)),
            }
        }
        pos = next;
    }
    mixed_endings(crlf, lf, first_crlf, first_lf, &mut defects);
    HeaderBlock {
        fields,
        defects,
        body_start: end,
        terminated: false,
    }
}

/// What a multipart part's body holds.
#[derive(Debug, Clone, Default)]
pub struct Multipart {
    /// The `boundary` parameter.
    pub boundary: Option<String>,
    /// Delimiter lines found (opening and intermediate).
    pub delimiters: usize,
    /// The close delimiter (`--boundary--`) was found.
    pub closed: bool,
    /// Not split: nested beyond the limit.
    pub too_deep: bool,
}

/// A MIME entity: the message itself (path `""`) or one of its parts.
#[derive(Debug)]
pub struct Part<'a> {
    /// `part[2]/part[1]`; empty for the message itself.
    pub path: String,
    pub depth: usize,
    pub start: usize,
    pub body_start: usize,
    pub end: usize,
    pub fields: Vec<Field>,
    pub defects: Vec<Defect>,
    pub header_terminated: bool,
    /// The header block read by mail-parser (values decoded).
    pub parsed: Option<mail_parser::Message<'a>>,
    /// Indices of the child parts in [`Tree::parts`].
    pub children: Vec<usize>,
    pub multipart: Option<Multipart>,
}

impl<'a> Part<'a> {
    /// The first field of that name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.is(name))
    }

    pub fn fields_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Field> + 's {
        self.fields.iter().filter(move |f| f.is(name))
    }

    /// `type/subtype` in lower case, when declared.
    pub fn mime_type(&self) -> Option<String> {
        let ct = self.parsed.as_ref()?.content_type()?;
        Some(format!(
            "{}/{}",
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("").to_ascii_lowercase()
        ))
    }

    /// `type/subtype` with the RFC 2045 default (`text/plain`).
    pub fn effective_type(&self) -> String {
        self.mime_type()
            .filter(|t| t.contains('/') && !t.ends_with('/'))
            .unwrap_or_else(|| "text/plain".into())
    }

    /// A Content-Type parameter (RFC 2231 decoded by mail-parser).
    pub fn type_param(&self, name: &str) -> Option<String> {
        let ct = self.parsed.as_ref()?.content_type()?;
        ct.attribute(name).map(str::to_string)
    }

    /// A Content-Disposition parameter.
    pub fn disposition_param(&self, name: &str) -> Option<String> {
        let cd = self.parsed.as_ref()?.content_disposition()?;
        cd.attribute(name).map(str::to_string)
    }

    /// `attachment`, `inline`... in lower case.
    pub fn disposition(&self) -> Option<String> {
        let cd = self.parsed.as_ref()?.content_disposition()?;
        Some(cd.ctype().to_ascii_lowercase())
    }

    /// The file name: Content-Disposition `filename`, else Content-Type `name`.
    pub fn filename(&self) -> Option<String> {
        self.disposition_param("filename")
            .or_else(|| self.type_param("name"))
    }

    /// The Content-Transfer-Encoding, lower case, when declared.
    pub fn transfer_encoding(&self, raw: &[u8]) -> Option<String> {
        self.field("Content-Transfer-Encoding")
            .map(|f| f.text(raw).to_ascii_lowercase())
    }

    pub fn is_multipart(&self) -> bool {
        self.multipart.is_some()
    }

    /// The body as transmitted.
    pub fn body<'r>(&self, raw: &'r [u8]) -> &'r [u8] {
        &raw[self.body_start.min(self.end)..self.end]
    }

    /// The body decoded from its transfer encoding.
    pub fn decoded<'r>(&self, raw: &'r [u8]) -> Result<Cow<'r, [u8]>, DecodeError> {
        decode(
            self.body(raw),
            self.transfer_encoding(raw).as_deref().unwrap_or("7bit"),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Base64,
    Unknown(String),
}

/// Decode a body from a Content-Transfer-Encoding.
pub fn decode<'r>(body: &'r [u8], encoding: &str) -> Result<Cow<'r, [u8]>, DecodeError> {
    match encoding.trim().to_ascii_lowercase().as_str() {
        "base64" => {
            let clean: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            BASE64_LENIENT
                .decode(&clean)
                .map(Cow::Owned)
                .map_err(|_| DecodeError::Base64)
        }
        "quoted-printable" => Ok(Cow::Owned(decode_qp(body))),
        "7bit" | "8bit" | "binary" | "" => Ok(Cow::Borrowed(body)),
        other => Err(DecodeError::Unknown(other.to_string())),
    }
}

/// Quoted-printable (RFC 2045 §6.7); malformed escapes are kept as written.
pub fn decode_qp(body: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b != b'=' {
            out.push(b);
            i += 1;
            continue;
        }
        match (body.get(i + 1), body.get(i + 2)) {
            (Some(b'\r'), Some(b'\n')) => i += 3,
            (Some(b'\n'), _) => i += 2,
            (Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push(hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0));
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The parts of a message, in document order (index 0 is the message itself).
#[derive(Debug)]
pub struct Tree<'a> {
    pub raw: &'a [u8],
    pub parts: Vec<Part<'a>>,
    pub lines: Lines,
    /// The part limit stopped the walk.
    pub truncated: bool,
    /// The bytes opened with a UTF-8 byte-order mark, left out of the root part (an editor's
    /// artefact of a saved `.eml`: no header starts with it).
    pub bom: bool,
}

impl<'a> Tree<'a> {
    pub fn root(&self) -> &Part<'a> {
        &self.parts[0]
    }

    /// Leaf parts (no children), the message itself included when it is not multipart.
    pub fn leaves(&self) -> impl Iterator<Item = &Part<'a>> {
        self.parts.iter().filter(|p| p.multipart.is_none())
    }

    pub fn line(&self, offset: usize) -> u32 {
        self.lines.line(offset)
    }
}

/// Read the structure of `raw` (never fails: whatever cannot be read is left as a leaf).
/// The UTF-8 byte-order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

pub fn parse<'a>(raw: &'a [u8], limits: Limits) -> Tree<'a> {
    let bom = raw.starts_with(BOM);
    let mut tree = Tree {
        raw,
        parts: Vec::new(),
        lines: Lines::new(raw),
        truncated: false,
        bom,
    };
    // The root part starts after a BOM: offsets stay those of `raw`, so do lines and columns.
    let first = if bom { BOM.len() } else { 0 };
    // Depth-first with an explicit stack, so that `parts` is in document order.
    let mut stack: Vec<(usize, usize, usize, String, Option<usize>)> =
        vec![(first, raw.len(), 0, String::new(), None)];
    while let Some((start, end, depth, path, parent)) = stack.pop() {
        if tree.parts.len() >= limits.max_parts.max(1) {
            tree.truncated = true;
            break;
        }
        let hb = read_headers(raw, start, end);
        let parsed = MessageParser::new().parse_headers(&raw[start..hb.body_start]);
        let idx = tree.parts.len();
        let mut part = Part {
            path: path.clone(),
            depth,
            start,
            body_start: hb.body_start,
            end,
            fields: hb.fields,
            defects: hb.defects,
            header_terminated: hb.terminated,
            parsed,
            children: Vec::new(),
            multipart: None,
        };
        let is_multipart = part
            .parsed
            .as_ref()
            .and_then(|m| m.content_type())
            .is_some_and(|ct| ct.ctype().eq_ignore_ascii_case("multipart"));
        let mut children = Vec::new();
        if is_multipart {
            let boundary = part.type_param("boundary");
            let mut mp = Multipart {
                boundary: boundary.clone(),
                ..Multipart::default()
            };
            match boundary {
                Some(b) if !b.is_empty() => {
                    if depth >= limits.max_depth {
                        mp.too_deep = true;
                    } else {
                        let (ranges, found, closed) =
                            split(raw, part.body_start.min(end), end, b.as_bytes());
                        mp.delimiters = found;
                        mp.closed = closed;
                        children = ranges;
                    }
                }
                _ => {}
            }
            part.multipart = Some(mp);
        }
        if let Some(p) = parent {
            tree.parts[p].children.push(idx);
        }
        tree.parts.push(part);
        for (n, (s, e)) in children.into_iter().enumerate().rev() {
            let child_path = if path.is_empty() {
                format!("part[{}]", n + 1)
            } else {
                format!("{path}/part[{}]", n + 1)
            };
            stack.push((s, e, depth + 1, child_path, Some(idx)));
        }
    }
    tree
}

/// The ranges of the parts of a multipart body, the number of delimiter lines and whether the
/// close delimiter was found (RFC 2046 §5.1.1: a delimiter is a whole line `--boundary`, `--`
/// after it closes, trailing spaces allowed).
fn split(
    raw: &[u8],
    start: usize,
    end: usize,
    boundary: &[u8],
) -> (Vec<(usize, usize)>, usize, bool) {
    let mut delim = Vec::with_capacity(boundary.len() + 2);
    delim.extend_from_slice(b"--");
    delim.extend_from_slice(boundary);
    let mut ranges = Vec::new();
    let mut open: Option<usize> = None;
    let mut found = 0;
    let mut pos = start;
    while pos < end {
        let (text_end, next) = line_at(raw, pos, end);
        let text = &raw[pos..text_end];
        if let Some(rest) = text.strip_prefix(delim.as_slice()) {
            let (close, rest) = match rest.strip_prefix(b"--") {
                Some(r) => (true, r),
                None => (false, rest),
            };
            if rest.iter().all(|b| *b == b' ' || *b == b'\t') {
                if let Some(s) = open.take() {
                    // The line break before a delimiter belongs to the delimiter.
                    let mut e = pos;
                    if e > s && raw[e - 1] == b'\n' {
                        e -= 1;
                        if e > s && raw[e - 1] == b'\r' {
                            e -= 1;
                        }
                    }
                    ranges.push((s, e.max(s)));
                }
                if close {
                    return (ranges, found, true);
                }
                found += 1;
                open = Some(next);
            }
        }
        pos = next;
    }
    if let Some(s) = open {
        ranges.push((s, end));
    }
    (ranges, found, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_depth: 8,
        max_parts: 100,
    };

    #[test]
    fn parts_and_paths() {
        let raw = b"Subject: x\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\n\r\ninner\r\n--b2--\r\n--b1--\r\n";
        let t = parse(raw, LIMITS);
        let paths: Vec<_> = t.parts.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["", "part[1]", "part[2]", "part[2]/part[1]"]);
        assert_eq!(t.parts[1].body(raw), b"hello");
        assert_eq!(t.parts[3].body(raw), b"inner");
        assert!(t.parts[0].multipart.as_ref().unwrap().closed);
        assert_eq!(t.line(t.parts[1].start), 6);
    }

    #[test]
    fn unterminated_and_defects() {
        let raw = b"Subject: caf\xc3\xa9\r\nX-A: 1\nbroken line\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\ncut";
        let t = parse(raw, LIMITS);
        let mp = t.root().multipart.as_ref().unwrap();
        assert!(!mp.closed);
        assert_eq!(mp.delimiters, 1);
        let d = &t.root().defects;
        assert!(d.iter().any(|d| matches!(d, Defect::EightBit(_))));
        assert!(d.iter().any(|d| matches!(d, Defect::NotAField(_))));
        assert!(d.iter().any(|d| matches!(d, Defect::BareLf(_))));
    }

    #[test]
    fn line_endings_minority_is_flagged() {
        // Mostly LF (a file saved on Unix) with one CRLF line: the CR is the odd one.
        let raw = b"From: a@b.fr\nTo: c@d.fr\r\nSubject: x\nDate: y\n\nbody";
        let t = parse(raw, LIMITS);
        assert_eq!(t.root().defects, [Defect::BareCr(23)]);
        let raw = b"From: a@b.fr\nTo: c@d.fr\nSubject: x\n\nbody";
        assert!(parse(raw, LIMITS).root().defects.is_empty());
    }

    #[test]
    fn nesting_is_bounded() {
        let mut raw = Vec::new();
        for i in 0..50 {
            raw.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n")
                    .as_bytes(),
            );
        }
        let t = parse(&raw, LIMITS);
        assert_eq!(t.parts.len(), 9);
        assert!(
            t.parts
                .iter()
                .any(|p| p.multipart.as_ref().is_some_and(|m| m.too_deep))
        );
    }

    #[test]
    fn qp_and_base64() {
        assert_eq!(decode_qp(b"caf=C3=A9=\r\n!"), "café!".as_bytes());
        assert_eq!(
            decode(b"Y2Fm\r\nw6k=", "base64").unwrap().as_ref(),
            "café".as_bytes()
        );
        assert_eq!(decode(b"@@@", "base64"), Err(DecodeError::Base64));
    }
}
