//! The `xml` layer: safe reading of a document, before any rule engine sees it.
//!
//! Two passes. A pre-scan (quick-xml, over the text decoded to UTF-8) checks encoding, refuses
//! DTDs (so no entity can be declared, expanded or fetched), bounds the depth and records the
//! line and column of every element. Then libxml2 parses the bytes with hardened options (no
//! network, no entity substitution, no DTD loading) into the tree the other layers query.
//! Rules: `xml.io.*`, `xml.limit.*`, `xml.binary`, `xml.bom.*`, `xml.encoding.*`, `xml.dtd.*`,
//! `xml.not-well-formed.<libxml2 code>`, `xml.root.*`.

pub mod ffi;

use crate::finding::{Finding, Layer, Location, Rule, Severity, quote};
use crate::lines::Cursor;
use quick_xml::events::Event;
use std::cell::OnceCell;
use std::collections::HashMap;

pub const CDA_NS: &str = "urn:hl7-org:v3";
/// The XSLT namespace (an auto-presentable CDA sits in a stylesheet).
pub const XSL_NS: &str = "http://www.w3.org/1999/XSL/Transform";

/// Safety limits applied to every input.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_depth: usize,
    /// Attributes (namespace declarations included) of one element: libxml2 2.9 checks them
    /// for duplicates pairwise, so tens of thousands on one element cost minutes.
    pub max_attributes: usize,
    /// Namespace declarations in scope at an element: libxml2 2.9 looks every prefix up
    /// through all of them, so thousands in scope make each prefixed name cost thousands.
    pub max_namespaces: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        // A CR-BIO with its PDF copy is a few MB; CDA nesting stays far below 100 levels, a
        // CDA element carries a handful of attributes and a document declares a handful of
        // namespaces (the ANS kit's examples and reports: at most 13 attributes, 16 in scope).
        Limits {
            max_bytes: 64 * 1024 * 1024,
            max_depth: 256,
            max_attributes: 256,
            max_namespaces: 64,
        }
    }
}

impl Limits {
    /// Largest `max_bytes` accepted (`--max-size`): libxml2 counts in 32-bit integers.
    pub const MAX_BYTES: u64 = 1 << 30;
    /// Largest `max_depth` accepted (`--max-depth`).
    pub const MAX_DEPTH: u64 = 10_000;
}

fn finding(rule: &Rule, msg: impl Into<String>) -> Finding {
    Finding::new(rule.id, rule.severity, rule.layer, msg)
}

// The `xml.*` rules: one declaration per id; the findings below complete their messages.

pub const NOT_UTF8: &Rule = &crate::rule! {
    id: "xml.encoding.not-utf8",
    layer: Layer::Xml,
    severity: Severity::Warning,
    message: "Le document est encodé en … ; le CI-SIS attend des documents CDA encodés en UTF-8.",
    hint: "Re-encode the document as UTF-8.",
    spec: "",
};
pub const ENCODING_INVALID: &Rule = &crate::rule! {
    id: "xml.encoding.invalid",
    layer: Layer::Xml,
    severity: Severity::Error,
    message: "Le contenu n'est pas du … valide.",
    hint: "",
    spec: "",
};
pub const BINARY: &Rule = &crate::rule! {
    id: "xml.binary",
    layer: Layer::Xml,
    severity: Severity::Error,
    message: "Le fichier contient des octets nuls : ce n'est pas un document XML texte (fichier binaire, archive ou PDF ?).",
    hint: "Submit the CDA XML itself, not a binary or compressed file.",
    spec: "",
};
pub const BOM_UTF8: &Rule = &crate::rule! {
    id: "xml.bom.utf8",
    layer: Layer::Xml,
    severity: Severity::Info,
    message: "Le document commence par une marque d'ordre des octets (BOM) UTF-8. Elle est permise par XML, mais certains logiciels de réception la refusent.",
    hint: "Prefer UTF-8 without BOM for the widest acceptance.",
    spec: "",
};
pub const ENCODING_UNKNOWN: &Rule = &crate::rule! {
    id: "xml.encoding.unknown",
    layer: Layer::Xml,
    severity: Severity::Error,
    message: "L'encodage déclaré … est inconnu.",
    hint: "Declare encoding=\"UTF-8\" and encode the file as UTF-8.",
    spec: "",
};
pub const INVALID_UTF8: &Rule = &crate::rule! {
    id: "xml.encoding.invalid-utf8",
    layer: Layer::Xml,
    severity: Severity::Error,
    message: "Le document … UTF-8, mais un octet n'est pas de l'UTF-8 valide : le fichier semble encodé en ISO-8859-1/Windows-1252.",
    hint: "Re-encode the file as UTF-8, or declare the encoding it really uses.",
    spec: "",
};
pub const ENCODING_MISMATCH: &Rule = &crate::rule! {
    id: "xml.encoding.mismatch",
    layer: Layer::Xml,
    severity: Severity::Error,
    message: "Le document déclare un autre encodage mais son contenu est en UTF-8 : les caractères accentués seront mal lus par le destinataire.",
    hint: "Declare encoding=\"UTF-8\" in the XML declaration.",
    spec: "",
};
pub const DTD_FORBIDDEN: &Rule = &crate::rule! {
    id: "xml.dtd.forbidden",
    layer: Layer::Xml,
    severity: Severity::Error,
    message: "Le document contient une déclaration DOCTYPE. Un document CDA ne doit pas en comporter ; banc ne charge ni DTD ni entité externe et n'analyse pas ce document plus loin (risque d'entité externe ou d'expansion d'entités).",
    hint: "Remove the <!DOCTYPE ...> declaration: CDA documents are validated by XML Schema, and entities are a security risk.",
    spec: "",
};
pub const LIMIT_DEPTH: &Rule = &crate::rule! {
    id: "xml.limit.depth",
    layer: Layer::Xml,
    severity: Severity::Error,
    message: "Le document imbrique trop de niveaux d'éléments : limite de sécurité atteinte, document non analysé.",
    hint: "Raise --max-depth if this nesting is legitimate.",
    spec: "",
};
pub const LIMIT_ATTRIBUTES: &Rule = &crate::rule! {
    id: "xml.limit.attributes",
    layer: Layer::Xml,
    severity: Severity::Error,
    message: "Un élément porte trop d'attributs : limite de sécurité atteinte, document non analysé.",
    hint: "A CDA element carries a handful of attributes; a document with thousands on one element is built to exhaust the parser.",
    spec: "",
};
pub const LIMIT_NAMESPACES: &Rule = &crate::rule! {
    id: "xml.limit.namespaces",
    layer: Layer::Xml,
    severity: Severity::Error,
    message: "Trop de déclarations d'espaces de noms sont en portée à un élément : limite de sécurité atteinte, document non analysé.",
    hint: "A CDA document declares a handful of namespaces; thousands in scope are built to exhaust the parser.",
    spec: "",
};
/// `xml.not-well-formed.0`; libxml2's errors give `xml.not-well-formed.<code>` (same rule, its code).
pub const NOT_WELL_FORMED: &Rule = &crate::rule! {
    id: "xml.not-well-formed.0",
    layer: Layer::Xml,
    severity: Severity::Error,
    message: "Document XML mal formé",
    hint: "Fix the XML syntax first: no other check can run on a malformed document.",
    spec: "",
};
pub const ROOT_NAMESPACE: &Rule = &crate::rule! {
    id: "xml.root.namespace",
    layer: Layer::Xml,
    severity: Severity::Error,
    message: "L'élément racine ClinicalDocument n'est pas dans l'espace de noms HL7 « urn:hl7-org:v3 ».",
    hint: "Declare xmlns=\"urn:hl7-org:v3\" on ClinicalDocument.",
    spec: "",
};
pub const ROOT_NOT_CDA: &Rule = &crate::rule! {
    id: "xml.root.not-cda",
    layer: Layer::Xml,
    severity: Severity::Error,
    message: "L'élément racine n'est pas un document CDA (ClinicalDocument de l'espace de noms urn:hl7-org:v3).",
    hint: "banc validates HL7 CDA R2 documents; check that the right file was submitted.",
    spec: "",
};
pub const AUTO_PRESENTABLE: &Rule = &crate::rule! {
    id: "xml.root.auto-presentable",
    layer: Layer::Xml,
    severity: Severity::Info,
    message: "Document CDA auto-présentable : le ClinicalDocument est embarqué dans une feuille de style XSL ; c'est lui qui est validé.",
    hint: "",
    spec: "",
};
pub const LIMIT_SIZE: &Rule = &crate::rule! {
    id: "xml.limit.size",
    layer: Layer::Xml,
    severity: Severity::Error,
    message: "Le fichier dépasse la limite de taille : document non analysé.",
    hint: "Raise --max-size if such a large document is legitimate.",
    spec: "",
};
pub const LIMIT_ERRORS: &Rule = &crate::rule! {
    id: "xml.limit.errors",
    layer: Layer::Xml,
    severity: Severity::Info,
    message: "erreurs supplémentaires n'ont pas été conservées (limite de 1000 par document).",
    hint: "",
    spec: "",
};
/// The file could not be read (the pipeline reads it, the id is of this layer).
pub const IO_READ: &Rule = &crate::rule! {
    id: "xml.io.read",
    layer: Layer::Xml,
    severity: Severity::Error,
    message: "Lecture du fichier impossible :",
    hint: "",
    spec: "",
};
/// The XML pass as a whole (the JUnit test case of a sound document).
pub const WELLFORMED: &Rule = &crate::rule! {
    id: "xml.wellformed",
    layer: Layer::Xml,
    severity: Severity::Error,
    message: "Document XML bien formé, sûr et encodé en UTF-8",
    hint: "",
    spec: "",
};

/// Every `xml.*` rule.
pub static RULES: &[&Rule] = &[
    NOT_UTF8,
    ENCODING_INVALID,
    BINARY,
    BOM_UTF8,
    ENCODING_UNKNOWN,
    INVALID_UTF8,
    ENCODING_MISMATCH,
    DTD_FORBIDDEN,
    LIMIT_DEPTH,
    LIMIT_ATTRIBUTES,
    LIMIT_NAMESPACES,
    NOT_WELL_FORMED,
    ROOT_NAMESPACE,
    ROOT_NOT_CDA,
    AUTO_PRESENTABLE,
    LIMIT_SIZE,
    LIMIT_ERRORS,
    IO_READ,
    WELLFORMED,
];

fn memchr_iter(needle: u8, hay: &[u8]) -> impl Iterator<Item = usize> + '_ {
    hay.iter()
        .enumerate()
        .filter(move |(_, b)| **b == needle)
        .map(|(i, _)| i)
}

/// At most `max` characters of submitted text for a message, `…` marking a cut.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", s.get(..at).unwrap_or(s)),
        None => s.to_string(),
    }
}

/// Source position of one element, in document order.
#[derive(Debug, Clone, Copy)]
struct ElementPos {
    line: u32,
    column: u32,
}

/// What the pre-scan learnt.
struct Prescan {
    elements: Vec<ElementPos>,
    /// False when quick-xml stopped early (libxml2 then reports the well-formedness error).
    complete: bool,
}

enum Stop {
    /// The document is definitely non-conforming (verdict fail).
    Fail,
    /// The document could not be checked (verdict error).
    Unchecked,
}

/// Outcome of [`load`].
pub enum Load {
    Ready(Box<Loaded>),
    /// Stopped before the tree: the findings say why.
    Failed,
    /// Could not be checked at all (binary, over a limit).
    Unchecked,
}

/// Where a document comes from and its raw bytes.
pub struct Input<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
}

/// A parsed, well-formed document whose root (or embedded root) is a CDA `ClinicalDocument`.
pub struct Loaded {
    pub doc: ffi::Doc,
    prescan: Prescan,
    cda_addr: usize,
    index: OnceCell<TreeIndex>,
    /// Addresses of the tree's other nodes (attributes, text…), built on the first
    /// non-element node located: rules may fire on them.
    others: OnceCell<std::collections::HashSet<usize>>,
}

struct TreeIndex {
    ordinal: HashMap<usize, usize>,
    step: Vec<String>,
}

impl Loaded {
    /// The `ClinicalDocument` element (the root, or the one inside an auto-presentable stylesheet).
    pub fn cda(&self) -> ffi::Node<'_> {
        // SAFETY: the address was taken from this tree at load time, the tree is never mutated
        // and the node borrows `self`, which owns the tree.
        unsafe { ffi::Node::from_raw(self.cda_addr as libxml::bindings::xmlNodePtr) }
    }

    /// Built once per document, on the first location asked: each element's ordinal (document
    /// order, as the pre-scan counted them) and its XPath step, so locating a finding costs its
    /// depth, not a scan of its siblings.
    fn index(&self) -> &TreeIndex {
        self.index.get_or_init(|| {
            let elements = self.doc.elements();
            let ordinal: HashMap<usize, usize> = elements
                .iter()
                .enumerate()
                .map(|(i, n)| (n.addr(), i))
                .collect();
            let mut step = vec![String::new(); elements.len()];
            for (i, n) in elements.iter().enumerate() {
                if n.parent().is_none() {
                    step[i] = step_name(*n);
                }
                // Children: count each name, then number those that repeat.
                let kids = children(*n);
                let names: Vec<String> = kids.iter().map(|k| step_name(*k)).collect();
                let mut total: HashMap<&str, usize> = HashMap::new();
                for name in &names {
                    *total.entry(name).or_default() += 1;
                }
                let mut seen: HashMap<&str, usize> = HashMap::new();
                for (k, name) in kids.iter().zip(&names) {
                    let pos = seen.entry(name).or_default();
                    *pos += 1;
                    let text = if total[name.as_str()] > 1 {
                        format!("{name}[{pos}]")
                    } else {
                        name.clone()
                    };
                    step[ordinal[&k.addr()]] = text;
                }
            }
            TreeIndex { ordinal, step }
        })
    }

    fn ordinal(&self, addr: usize) -> Option<usize> {
        self.index().ordinal.get(&addr).copied()
    }

    /// Positional XPath of an element: local names for the CDA namespace, `prefix:name`
    /// otherwise, `[n]` whenever the element has same-named siblings.
    pub fn xpath_of(&self, node: ffi::Node<'_>) -> String {
        let idx = self.index();
        let mut steps = Vec::new();
        let mut cur = Some(node);
        while let Some(n) = cur {
            match idx.ordinal.get(&n.addr()) {
                Some(&i) => steps.push(idx.step[i].as_str()),
                None => steps.push("?"),
            }
            cur = n.parent();
        }
        steps.reverse();
        format!("/{}", steps.join("/"))
    }

    /// Location of a node of this document: positional XPath, line and column.
    pub fn locate(&self, node: ffi::Node<'_>) -> Location {
        let (element, attr) = if node.is_element() {
            (Some(node), None)
        } else {
            (node.parent(), Some(node.local_name()))
        };
        let Some(element) = element else {
            return Location::default();
        };
        let mut xpath = self.xpath_of(element);
        if let Some(a) = attr {
            xpath.push_str("/@");
            xpath.push_str(&a);
        }
        let (line, column) = match self.element_pos(element.addr()) {
            Some(p) => (Some(p.line), Some(p.column)),
            None => (Some(element.line()).filter(|l| *l > 0), None),
        };
        Location {
            xpath: Some(xpath),
            line,
            column,
        }
    }

    /// Location of a node given by address (as libxml2 reports it in errors).
    pub fn locate_addr(&self, addr: usize, fallback_line: u32) -> Location {
        // Only addresses of this tree's elements are turned back into nodes.
        if addr != 0 && self.ordinal(addr).is_some() {
            // SAFETY: addr is an element of this tree (indexed above), alive while self is.
            return self
                .locate(unsafe { ffi::Node::from_raw(addr as libxml::bindings::xmlNodePtr) });
        }
        Location {
            xpath: None,
            line: Some(fallback_line).filter(|l| *l > 0),
            column: None,
        }
    }

    /// The node of this tree at `addr` (an element, or an attribute or other child of an
    /// element or of the document), or None: an address from elsewhere is never dereferenced.
    pub fn node_at(&self, addr: usize) -> Option<ffi::Node<'_>> {
        let known = addr != 0
            && (self.ordinal(addr).is_some()
                || self
                    .others
                    .get_or_init(|| self.doc.other_node_addrs())
                    .contains(&addr));
        // SAFETY: addr is a node of this tree (checked above), alive and unmodified while
        // self is borrowed.
        known.then(|| unsafe { ffi::Node::from_raw(addr as libxml::bindings::xmlNodePtr) })
    }

    fn element_pos(&self, addr: usize) -> Option<ElementPos> {
        // Positions line up with libxml2's elements only when the pre-scan saw them all.
        if !self.prescan.complete {
            return None;
        }
        self.prescan.elements.get(self.ordinal(addr)?).copied()
    }
}

fn step_name(n: ffi::Node<'_>) -> String {
    let local = n.local_name();
    match n.namespace().as_deref() {
        None | Some(CDA_NS) => local,
        Some(ns) => match ffi::NAMESPACES.iter().find(|(_, u)| *u == ns) {
            Some((p, _)) => format!("{p}:{local}"),
            None => format!("*[local-name()='{local}']"),
        },
    }
}

/// Element children of a node.
pub fn children<'d>(n: ffi::Node<'d>) -> Vec<ffi::Node<'d>> {
    n.children()
}

/// The encoding named in the XML declaration, if any (ASCII-compatible documents only).
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(512)];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let (_, rest) = decl.split_once("encoding")?;
    let rest = rest.trim_start().strip_prefix('=')?;
    let rest = rest.trim_start();
    let quote = rest.chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let (value, _) = rest.strip_prefix(quote)?.split_once(quote)?;
    Some(value.to_string())
}

/// Decode the bytes to UTF-8 text, with findings on the BOM and the encoding declaration.
fn decode(bytes: &[u8], out: &mut Vec<Finding>) -> Result<String, Stop> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        let enc = if bytes[0] == 0xFF {
            encoding_rs::UTF_16LE
        } else {
            encoding_rs::UTF_16BE
        };
        out.push(
            finding(NOT_UTF8, format!(
                    "Le document est encodé en {} ; le CI-SIS attend des documents CDA encodés en UTF-8.",
                    enc.name()
                ))
            .at(Location::at(1, 1))
            .hint(NOT_UTF8.hint),
        );
        let (text, _, malformed) = enc.decode(bytes);
        if malformed {
            out.push(
                finding(
                    ENCODING_INVALID,
                    format!("Le contenu n'est pas du {} valide.", enc.name()),
                )
                .at(Location::at(1, 1)),
            );
            return Err(Stop::Fail);
        }
        return Ok(text.into_owned());
    }
    if memchr_iter(0, bytes).next().is_some() {
        out.push(
            finding(BINARY, "Le fichier contient des octets nuls : ce n'est pas un document XML texte (fichier binaire, archive ou PDF ?).")
            .hint(BINARY.hint),
        );
        return Err(Stop::Unchecked);
    }
    let bom = bytes.starts_with(&[0xEF, 0xBB, 0xBF]);
    let body = if bom { &bytes[3..] } else { bytes };
    if bom {
        out.push(
            finding(BOM_UTF8, "Le document commence par une marque d'ordre des octets (BOM) UTF-8. Elle est permise par XML, mais certains logiciels de réception la refusent.")
            .at(Location::at(1, 1))
            .hint(BOM_UTF8.hint),
        );
    }
    let declared = declared_encoding(body);
    let label = declared.as_deref().unwrap_or("UTF-8");
    let Some(enc) = encoding_rs::Encoding::for_label(label.trim().as_bytes()) else {
        out.push(
            finding(
                ENCODING_UNKNOWN,
                format!("L'encodage déclaré « {} » est inconnu.", quote(label)),
            )
            .at(Location::at(1, 1))
            .hint(ENCODING_UNKNOWN.hint),
        );
        return Err(Stop::Fail);
    };
    let utf8 = std::str::from_utf8(body);
    if enc == encoding_rs::UTF_8 {
        return match utf8 {
            Ok(t) => Ok(t.to_string()),
            Err(e) => {
                let good = e.valid_up_to();
                let prefix = std::str::from_utf8(&body[..good]).unwrap_or_default();
                let (line, col) = Cursor::new(prefix.as_bytes()).position(good);
                let byte = body[good];
                let latin = encoding_rs::WINDOWS_1252.decode(&body[good..=good]).0;
                out.push(
                    finding(INVALID_UTF8, format!(
                            "Le document {} UTF-8, mais l'octet 0x{byte:02X} (ligne {line}, colonne {col}) n'est pas de l'UTF-8 valide : le fichier semble encodé en ISO-8859-1/Windows-1252 (« {latin} »).",
                            if declared.is_some() { "déclare l'encodage" } else { "ne déclare pas d'encodage, donc est lu en" }
                        ))
                    .at(Location::at(line, col))
                    .hint(INVALID_UTF8.hint),
                );
                Err(Stop::Fail)
            }
        };
    }
    // A non-UTF-8 declaration (legal XML, but not what the CI-SIS expects).
    if let Ok(t) = utf8
        && !t.is_ascii()
        && enc != encoding_rs::UTF_8
    {
        let first = t
            .char_indices()
            .find(|(_, c)| !c.is_ascii())
            .map(|(i, _)| i);
        let (line, col) = Cursor::new(t.as_bytes()).position(first.unwrap_or(0));
        out.push(
            finding(ENCODING_MISMATCH, format!(
                    "Le document déclare l'encodage « {} » mais son contenu est en UTF-8 : les caractères accentués seront mal lus par le destinataire (« Ã© » au lieu de « é »).",
                    quote(label)
                ))
            .at(Location::at(line, col))
            .hint(ENCODING_MISMATCH.hint),
        );
    } else {
        out.push(
            finding(NOT_UTF8, format!(
                    "Le document est encodé en « {} » ; le CI-SIS attend des documents CDA encodés en UTF-8.",
                    quote(label)
                ))
            .at(Location::at(1, 1))
            .hint(NOT_UTF8.hint),
        );
    }
    Ok(enc.decode_without_bom_handling(body).0.into_owned())
}

/// The quick-xml pass: DTD refusal, bounds on depth, on the attributes of an element and on the
/// namespace declarations in scope, element positions. Namespaces are not resolved here
/// (libxml2 does): a resolver would stop at its own binding limit before the element is
/// counted, and leave it to libxml2.
fn prescan(text: &str, limits: &Limits, out: &mut Vec<Finding>) -> Result<Prescan, Stop> {
    let lines = Cursor::new(text.as_bytes());
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut elements = Vec::new();
    let mut depth = 0usize;
    let mut scope = Scope::default();
    // False once quick-xml met an error: libxml2 reports it, positions no longer line up.
    let mut complete = true;
    loop {
        let before = reader.buffer_position() as usize;
        let ev = match reader.read_event() {
            Ok(ev) => ev,
            Err(_) => {
                // libxml2 reads on after an error, floods included: so does this pass, for
                // the attribute and namespace bounds only, while the reader moves forward
                // (end tags that do not match still close their element).
                complete = false;
                reader.config_mut().check_end_names = false;
                if reader.buffer_position() as usize <= before {
                    // Stuck: the rest is read by a plain scan of its tags.
                    if let Some((at, over)) =
                        scan_tags(text.get(before..).unwrap_or(""), limits, scope)
                    {
                        let (line, column) = lines.position(before + at);
                        out.push(over.finding(limits, line, column));
                        return Err(Stop::Unchecked);
                    }
                    break;
                }
                continue;
            }
        };
        match ev {
            Event::DocType(_) if complete => {
                let (line, column) = lines.position(before);
                out.push(
                    finding(DTD_FORBIDDEN, "Le document contient une déclaration DOCTYPE. Un document CDA ne doit pas en comporter ; banc ne charge ni DTD ni entité externe et n'analyse pas ce document plus loin (risque d'entité externe ou d'expansion d'entités).")
                    .at(Location::at(line, column))
                    .hint(DTD_FORBIDDEN.hint),
                );
                return Err(Stop::Fail);
            }
            Event::Start(ref tag) | Event::Empty(ref tag) => {
                // Counted without quick-xml's duplicate check (itself pairwise), up to the limit.
                let (mut attributes, mut declarations) = (0usize, 0usize);
                for a in tag
                    .attributes()
                    .with_checks(false)
                    .take(limits.max_attributes.saturating_add(1))
                {
                    attributes += 1;
                    if a.is_ok_and(|a| a.key.as_namespace_binding().is_some()) {
                        declarations += 1;
                    }
                }
                let open = matches!(ev, Event::Start(_));
                if let Err(over) =
                    scope.enter(tag.name().as_ref(), attributes, declarations, open, limits)
                {
                    let (line, column) = lines.position(before);
                    out.push(over.finding(limits, line, column));
                    return Err(Stop::Unchecked);
                }
                if !complete {
                    continue;
                }
                let (line, column) = lines.position(before);
                elements.push(ElementPos { line, column });
                if open {
                    depth += 1;
                    if depth > limits.max_depth {
                        out.push(
                            finding(LIMIT_DEPTH, format!(
                                    "Le document imbrique plus de {} niveaux d'éléments : limite de sécurité atteinte, document non analysé.",
                                    limits.max_depth
                                ))
                            .at(Location::at(line, column))
                            .hint(LIMIT_DEPTH.hint),
                        );
                        return Err(Stop::Unchecked);
                    }
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                scope.leave();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(Prescan { elements, complete })
}

/// A bound of the pre-scan that an element goes over.
enum Over {
    /// Its attributes (namespace declarations included).
    Attributes(String),
    /// The namespace declarations in scope at it.
    Namespaces(String),
}

impl Over {
    fn finding(&self, limits: &Limits, line: u32, column: u32) -> Finding {
        let (rule, message) = match self {
            Over::Attributes(name) => (
                LIMIT_ATTRIBUTES,
                format!(
                    "L'élément « {} » porte plus de {} attributs : limite de sécurité atteinte, document non analysé.",
                    clip(name, 80),
                    limits.max_attributes
                ),
            ),
            Over::Namespaces(name) => (
                LIMIT_NAMESPACES,
                format!(
                    "Plus de {} déclarations d'espaces de noms sont en portée à l'élément « {} » : limite de sécurité atteinte, document non analysé.",
                    limits.max_namespaces,
                    clip(name, 80)
                ),
            ),
        };
        finding(rule, message)
            .at(Location::at(line, column))
            .hint(rule.hint)
    }
}

/// The namespace declarations of the open elements (libxml2 2.9 looks a prefix up through all
/// of them, for every prefixed name: their number multiplies the cost of the document).
#[derive(Default, Clone)]
struct Scope {
    open: Vec<usize>,
    declared: usize,
}

impl Scope {
    /// An element with `attributes` attributes of which `declarations` declare namespaces;
    /// `open` when its content follows (a start tag, not an empty element).
    fn enter(
        &mut self,
        name: &str,
        attributes: usize,
        declarations: usize,
        open: bool,
        limits: &Limits,
    ) -> Result<(), Over> {
        if attributes > limits.max_attributes {
            return Err(Over::Attributes(name.to_string()));
        }
        if self.declared + declarations > limits.max_namespaces {
            return Err(Over::Namespaces(name.to_string()));
        }
        if open {
            self.open.push(declarations);
            self.declared += declarations;
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.declared -= self.open.pop().unwrap_or(0);
    }
}

/// The pre-scan's bounds over `text` read as plain tags (offset and bound of the first element
/// over one), when quick-xml cannot read on: `=` outside quotes are attributes, `xmlns` ones
/// declarations. Comments, CDATA sections and processing instructions are skipped whole; one
/// pass, each byte looked at once. `scope` is what was open where the scan starts.
fn scan_tags(text: &str, limits: &Limits, mut scope: Scope) -> Option<(usize, Over)> {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(k) = b[i..].iter().position(|&c| c == b'<') {
        let start = i + k;
        // Offsets below are of ASCII delimiters (`<`, `=`, spaces): char boundaries.
        let rest = text.get(start..).unwrap_or("");
        let skip = [("<!--", "-->"), ("<![CDATA[", "]]>"), ("<?", "?>")]
            .iter()
            .find(|(open, _)| rest.starts_with(open))
            .map(|(open, close)| {
                rest.get(open.len()..)
                    .and_then(|r| r.find(close))
                    .map_or(b.len(), |e| start + open.len() + e + close.len())
            });
        if let Some(next) = skip {
            i = next;
            continue;
        }
        let name: String = rest
            .get(1..)
            .unwrap_or("")
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '>' | '/' | '='))
            .take(81)
            .collect();
        let (mut j, mut attributes, mut declarations) = (start + 1, 0usize, 0usize);
        // The word being read and the last one (the attribute name, before ` = `).
        let (mut quote, mut word, mut last) = (None::<u8>, None::<usize>, "");
        while j < b.len() {
            match (quote, b[j]) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, c @ (b'"' | b'\'')) => {
                    quote = Some(c);
                    word = None;
                }
                (None, b'=') => {
                    attributes += 1;
                    let key = word.map_or(last, |w| text.get(w..j).unwrap_or(""));
                    if key == "xmlns" || key.starts_with("xmlns:") {
                        declarations += 1;
                    }
                    if attributes > limits.max_attributes {
                        return Some((start, Over::Attributes(name)));
                    }
                    (word, last) = (None, "");
                }
                (None, c) if c.is_ascii_whitespace() => {
                    if let Some(w) = word.take() {
                        last = text.get(w..j).unwrap_or("");
                    }
                }
                (None, b'>') => break,
                _ => {
                    word.get_or_insert(j);
                }
            }
            j += 1;
        }
        let closing = rest.starts_with("</");
        let empty = j > start + 1 && b.get(j - 1) == Some(&b'/');
        if closing {
            scope.leave();
        } else if !rest.starts_with("<!")
            && let Err(over) = scope.enter(&name, attributes, declarations, !empty, limits)
        {
            return Some((start, over));
        }
        i = j.max(start + 1);
        if i >= b.len() {
            break;
        }
    }
    None
}

/// Read a document safely and find its CDA element, adding `xml.*` findings to `out`.
pub fn load(input: Input<'_>, limits: &Limits, out: &mut Vec<Finding>) -> Load {
    let stop = |s: Stop| match s {
        Stop::Fail => Load::Failed,
        Stop::Unchecked => Load::Unchecked,
    };
    if input.bytes.len() as u64 > limits.max_bytes {
        out.push(size_finding(input.bytes.len() as u64, limits.max_bytes));
        return Load::Unchecked;
    }
    let text = match decode(input.bytes, out) {
        Ok(t) => t,
        Err(s) => return stop(s),
    };
    let scan = match prescan(&text, limits, out) {
        Ok(p) => p,
        Err(s) => return stop(s),
    };
    let parsed = ffi::parse(input.bytes, input.name);
    let Some(doc) = parsed.doc else {
        for e in parsed.errors.iter().filter(|e| e.level >= 2) {
            out.push(
                Finding::new(
                    format!("xml.not-well-formed.{}", e.code),
                    NOT_WELL_FORMED.severity,
                    NOT_WELL_FORMED.layer,
                    format!("Document XML mal formé : {}", e.message),
                )
                .at(Location {
                    xpath: None,
                    line: Some(e.line).filter(|l| *l > 0),
                    column: Some(e.column).filter(|c| *c > 0),
                })
                .hint(NOT_WELL_FORMED.hint),
            );
        }
        if !out
            .iter()
            .any(|f| f.rule.starts_with("xml.not-well-formed"))
        {
            out.push(finding(
                NOT_WELL_FORMED,
                "Document XML mal formé (aucun élément racine lisible).",
            ));
        }
        if parsed.dropped > 0 {
            out.push(truncated(parsed.dropped));
        }
        return Load::Failed;
    };
    let Some(root) = doc.root() else {
        out.push(finding(
            NOT_WELL_FORMED,
            "Document XML sans élément racine.",
        ));
        return Load::Failed;
    };
    let root_is_cda = root.local_name() == "ClinicalDocument";
    let mut auto_presentable = false;
    let cda_addr = if root_is_cda && root.namespace().as_deref() == Some(CDA_NS) {
        root.addr()
    } else if root_is_cda {
        out.push(
            finding(ROOT_NAMESPACE, format!(
                    "L'élément racine ClinicalDocument n'est pas dans l'espace de noms HL7 « {CDA_NS} » (trouvé : « {} »).",
                    quote(root.namespace().unwrap_or_default())
                ))
            .at(Location { xpath: Some(format!("/{}", root.local_name())), ..Location::at(root.line(), 1) })
            .hint(ROOT_NAMESPACE.hint),
        );
        return Load::Failed;
    } else if let Some(embedded) = (root.local_name() == "stylesheet"
        && root.namespace().as_deref() == Some(XSL_NS))
    .then(|| {
        doc.elements().into_iter().find(|n| {
            n.local_name() == "ClinicalDocument" && n.namespace().as_deref() == Some(CDA_NS)
        })
    })
    .flatten()
    {
        auto_presentable = true;
        embedded.addr()
    } else {
        out.push(
            finding(ROOT_NOT_CDA, format!(
                    "L'élément racine est « {} » ({}) : ce n'est pas un document CDA (ClinicalDocument de l'espace de noms {CDA_NS}).",
                    quote(root.local_name()),
                    quote(root.namespace().unwrap_or_else(|| "sans espace de noms".into()))
                ))
            .at(Location { xpath: Some(format!("/{}", step_name(root))), line: Some(root.line()), column: None })
            .hint(ROOT_NOT_CDA.hint),
        );
        return Load::Failed;
    };
    let loaded = Loaded {
        doc,
        prescan: scan,
        cda_addr,
        index: OnceCell::new(),
        others: OnceCell::new(),
    };
    if auto_presentable {
        out.push(
            finding(AUTO_PRESENTABLE, "Document CDA auto-présentable : le ClinicalDocument est embarqué dans une feuille de style XSL ; c'est lui qui est validé.")
            .at(loaded.locate(loaded.cda())),
        );
    }
    Load::Ready(Box::new(loaded))
}

pub fn size_finding(size: u64, max: u64) -> Finding {
    finding(
        LIMIT_SIZE,
        format!(
            "Le fichier fait {} octets, au-delà de la limite de {} octets : document non analysé.",
            size, max
        ),
    )
    .hint(LIMIT_SIZE.hint)
}

pub fn truncated(dropped: usize) -> Finding {
    finding(
        LIMIT_ERRORS,
        format!(
            "{dropped} erreurs supplémentaires n'ont pas été conservées (limite de 1000 par document)."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_encoding_is_read_from_the_declaration() {
        assert_eq!(
            declared_encoding(b"<?xml version='1.0' encoding = 'ISO-8859-1'?><a/>").as_deref(),
            Some("ISO-8859-1")
        );
        assert_eq!(declared_encoding(b"<?xml version=\"1.0\"?><a/>"), None);
        assert_eq!(declared_encoding(b"<a/>"), None);
    }

    #[test]
    fn the_tag_scan_counts_tags_not_text() {
        let limits = Limits {
            max_attributes: 3,
            max_namespaces: 2,
            ..Limits::default()
        };
        let scan = |t: &str| scan_tags(t, &limits, Scope::default());
        let tag = |n: usize| {
            let attrs: String = (0..n).map(|i| format!(" a{i}='=>'")).collect();
            format!("<t{attrs}/>")
        };
        assert!(scan(&tag(3)).is_none());
        assert!(matches!(scan(&tag(4)), Some((0, Over::Attributes(n))) if n == "t"));
        // `=` in text, comments, CDATA and processing instructions are no attributes.
        let quiet = "a=b=c=d=e <!-- = = = = > --> <![CDATA[= = = = >]]> <?pi = = = = ?>";
        assert!(scan(&format!("{quiet}{}", tag(3))).is_none());
        assert_eq!(
            scan(&format!("{quiet}{}", tag(4))).map(|f| f.0),
            Some(quiet.len())
        );
        // Declarations count while their element is open.
        assert!(scan("<a xmlns='u'><b xmlns:p='v'/></a><c xmlns:q='w'><d/></c>").is_none());
        assert!(matches!(
            scan("<a xmlns='u'><b xmlns:p = 'v'><c\nxmlns:q\t=\"w\"/></b></a>"),
            Some((_, Over::Namespaces(n))) if n == "c"
        ));
        // Unterminated constructs end the scan, they do not loop.
        assert!(scan("<!-- = = = = =").is_none());
        assert!(scan("<a x='= = = = =").is_none());
    }

    #[test]
    fn the_prescan_bounds_namespaces_in_scope() {
        let limits = Limits {
            max_namespaces: 2,
            ..Limits::default()
        };
        let mut out = Vec::new();
        // Siblings redeclaring the same namespace: never more than two in scope.
        let siblings = "<r xmlns='u'>".to_string() + &"<e xmlns:x='v'/>".repeat(50) + "</r>";
        assert!(prescan(&siblings, &limits, &mut out).is_ok());
        for doc in [
            "<r xmlns='u'><a xmlns:p='v'><b xmlns:q='w'/></a></r>",
            "<r xmlns='u' xmlns:p='v' xmlns:q='w'/>",
            // After an error (a mismatched end tag still closes its element).
            "<r xmlns='u'><a></b><c xmlns:p='v'><d xmlns:q='w'/></c></r>",
            "<r xmlns='u'><!x><c xmlns:p='v'><d xmlns:q='w'/></c></r>",
        ] {
            let mut out = Vec::new();
            assert!(
                matches!(prescan(doc, &limits, &mut out), Err(Stop::Unchecked)),
                "{doc}"
            );
            assert_eq!(out.len(), 1, "{doc}");
            assert_eq!(out[0].rule, "xml.limit.namespaces", "{doc}");
        }
        let after_error = "<r xmlns='u'><a></b><c xmlns:p='v'/><d xmlns:q='w'/></r>";
        assert!(prescan(after_error, &limits, &mut out).is_ok());
    }

    #[test]
    fn the_prescan_bounds_attributes_per_element() {
        let limits = Limits {
            max_attributes: 3,
            ..Limits::default()
        };
        let mut out = Vec::new();
        assert!(prescan("<a x='1' y='2' z='3'><b/></a>", &limits, &mut out).is_ok());
        for doc in [
            "<a x='1' y='2' z='3' w='4'/>",
            "<a xmlns:p='u' xmlns:q='v' xmlns:r='w' xmlns:s='x'/>",
            "<r><a></b><c x='1' y='2' z='3' w='4'/></r>",
            "<r><!x><c x='1' y='2' z='3' w='4'/></r>",
        ] {
            let mut out = Vec::new();
            assert!(
                matches!(prescan(doc, &limits, &mut out), Err(Stop::Unchecked)),
                "{doc}"
            );
            assert_eq!(out.len(), 1, "{doc}");
            assert_eq!(out[0].rule, "xml.limit.attributes", "{doc}");
        }
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let l = Cursor::new("ab\nééx<".as_bytes());
        assert_eq!(l.position(0), (1, 1));
        assert_eq!(l.position(3), (2, 1));
        // 'x' follows two 2-byte characters.
        assert_eq!(l.position(7), (2, 3));
        // Increasing offsets on one line continue from the last answer; going back recounts.
        assert_eq!(l.position(8), (2, 4));
        assert_eq!(l.position(5), (2, 2));
        assert_eq!(l.position(1), (1, 2));
    }
}
