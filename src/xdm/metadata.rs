//! METADATA.XML: an ebRIM 3.0 `SubmitObjectsRequest` (IHE ITI TF-3 §4.2), read safely (X01) into
//! a small model of what the checks need: the registry objects, their slots, classifications and
//! external identifiers, with the source line of each.

use crate::finding::{Finding, Layer, Location, Rule, Severity};
use quick_xml::events::{BytesStart, Event};

pub const LCM_NS: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0";
pub const RIM_NS: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0";

pub const DTD: &Rule = &crate::rule! {
    id: "xdm.metadata.dtd-forbidden",
    severity: Severity::Error,
    layer: Layer::Xdm,
    message: "METADATA.XML déclare une DTD (<!DOCTYPE>) : refusée (entités externes, XXE, « billion laughs ») ; métadonnées non lues.",
    hint: "METADATA.XML is plain ebRIM 3.0: remove the DOCTYPE.",
    spec: "MSSanté X01 — sécurité (OWASP XXE)",
};
pub const NOT_WELL_FORMED: &Rule = &crate::rule! {
    id: "xdm.metadata.not-well-formed",
    severity: Severity::Error,
    layer: Layer::Xdm,
    message: "METADATA.XML n'est pas un XML bien formé :",
    hint: "Fix the XML syntax of METADATA.XML.",
    spec: "MSSanté X01 — XML 1.0",
};
pub const ENCODING: &Rule = &crate::rule! {
    id: "xdm.metadata.encoding",
    severity: Severity::Error,
    layer: Layer::Xdm,
    message: "METADATA.XML n'est pas encodé en UTF-8 valide.",
    hint: "Write METADATA.XML in UTF-8.",
    spec: "MSSanté X01 — IHE ITI TF-3 (UTF-8)",
};

pub const RULES: &[&Rule] = &[DTD, NOT_WELL_FORMED, ENCODING];

/// Deepest nesting read (ebRIM metadata is about 6 levels deep).
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, Default)]
pub struct Slot {
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Classification {
    pub scheme: String,
    pub classified_object: String,
    /// For a node classification (SubmissionSet marker).
    pub node: String,
    pub code: String,
    pub coding_scheme: Option<String>,
    pub display: Option<String>,
    pub slots: Vec<Slot>,
    pub line: u32,
}

#[derive(Debug, Clone, Default)]
pub struct ExternalId {
    pub scheme: String,
    pub value: String,
    pub line: u32,
}

/// An `ExtrinsicObject` (DocumentEntry) or a `RegistryPackage` (SubmissionSet, Folder).
#[derive(Debug, Clone, Default)]
pub struct Object {
    /// `ExtrinsicObject` or `RegistryPackage`.
    pub kind: String,
    pub id: String,
    pub mime_type: Option<String>,
    pub object_type: Option<String>,
    pub slots: Vec<Slot>,
    pub classifications: Vec<Classification>,
    pub external_ids: Vec<ExternalId>,
    pub name: Option<String>,
    pub line: u32,
    /// Position among objects of the same kind (1-based), for XPaths.
    pub position: usize,
}

impl Object {
    pub fn slot(&self, name: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| s.name == name)
    }

    pub fn slot_value(&self, name: &str) -> Option<&str> {
        self.slot(name)
            .and_then(|s| s.values.first())
            .map(String::as_str)
    }

    pub fn classification(&self, scheme: &str) -> Option<&Classification> {
        self.classifications.iter().find(|c| c.scheme == scheme)
    }

    pub fn external_id(&self, scheme: &str) -> Option<&ExternalId> {
        self.external_ids.iter().find(|e| e.scheme == scheme)
    }

    pub fn xpath(&self) -> String {
        format!(
            "/lcm:SubmitObjectsRequest/rim:RegistryObjectList/rim:{}[{}]",
            self.kind, self.position
        )
    }

    pub fn location(&self, line: u32) -> Location {
        Location {
            xpath: Some(self.xpath()),
            line: Some(line.max(self.line)),
            column: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Association {
    pub kind: String,
    pub source: String,
    pub target: String,
    pub slots: Vec<Slot>,
    pub line: u32,
}

#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// Namespace and local name of the root.
    pub root: (String, String),
    /// Whether a `RegistryObjectList` in the rim namespace was found under the root.
    pub has_object_list: bool,
    pub objects: Vec<Object>,
    /// Classifications outside any object (the SubmissionSet marker is usually one).
    pub classifications: Vec<Classification>,
    pub associations: Vec<Association>,
}

fn local(name: &str) -> String {
    name.rsplit_once(':').map_or(name, |(_, l)| l).to_string()
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| local(a.key.as_ref()) == name)
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

/// Namespace URI bound to the prefix of `name`, looking through the declarations in scope.
fn ns_of(name: &str, scopes: &[Vec<(String, String)>]) -> String {
    let prefix = name.split_once(':').map_or("", |(p, _)| p);
    scopes
        .iter()
        .rev()
        .flat_map(|s| s.iter().rev())
        .find(|(p, _)| *p == prefix)
        .map(|(_, u)| u.clone())
        .unwrap_or_default()
}

fn declarations(e: &BytesStart<'_>) -> Vec<(String, String)> {
    e.attributes()
        .flatten()
        .filter_map(|a| {
            let k: &str = a.key.as_ref();
            let prefix = if k == "xmlns" {
                String::new()
            } else if let Some(p) = k.strip_prefix("xmlns:") {
                p.to_string()
            } else {
                return None;
            };
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()?;
            Some((prefix, v.into_owned()))
        })
        .collect()
}

/// What is being filled while reading.
enum Open {
    Object(Object),
    Classification(Classification),
    Association(Association),
}

/// Parse METADATA.XML. `Err` holds the X01 finding (with its line) when it cannot be read.
/// What is open while reading.
#[derive(Default)]
struct State {
    md: Metadata,
    /// Namespace declarations of each open element.
    scopes: Vec<Vec<(String, String)>>,
    /// Local names of the open elements.
    stack: Vec<String>,
    open: Vec<Open>,
    slot: Option<Slot>,
    in_value: bool,
    value: String,
}

pub fn parse(bytes: &[u8]) -> Result<Metadata, Box<Finding>> {
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(Box::new(ENCODING.finding("")));
    };
    let lines = crate::lines::Lines::new(text.as_bytes());
    let line_of = |pos: u64| -> u32 { lines.line(usize::try_from(pos).unwrap_or(usize::MAX)) };
    let mut reader = quick_xml::Reader::from_str(text);
    let mut st = State::default();
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    loop {
        let pos = reader.buffer_position();
        let ev = reader.read_event().map_err(|e| {
            Box::new(
                NOT_WELL_FORMED
                    .finding(e.to_string())
                    .at(Location::at(line_of(pos), 1)),
            )
        })?;
        match ev {
            Event::DocType(_) => {
                return Err(Box::new(DTD.finding("").at(Location::at(line_of(pos), 1))));
            }
            Event::Start(_) | Event::Empty(_) => {
                let is_empty = matches!(ev, Event::Empty(_));
                let (Event::Start(e) | Event::Empty(e)) = ev else {
                    continue;
                };
                let line = line_of(pos);
                st.scopes.push(declarations(&e));
                let name = local(e.name().as_ref());
                if st.stack.is_empty() {
                    st.md.root = (ns_of(e.name().as_ref(), &st.scopes), name.clone());
                }
                if name == "RegistryObjectList" && ns_of(e.name().as_ref(), &st.scopes) == RIM_NS {
                    st.md.has_object_list = true;
                }
                match name.as_str() {
                    "ExtrinsicObject" | "RegistryPackage" => {
                        let n = counts.entry(name.clone()).or_default();
                        *n += 1;
                        st.open.push(Open::Object(Object {
                            kind: name.clone(),
                            id: attr(&e, "id").unwrap_or_default(),
                            mime_type: attr(&e, "mimeType"),
                            object_type: attr(&e, "objectType"),
                            line,
                            position: *n,
                            ..Object::default()
                        }));
                    }
                    "Classification" => st.open.push(Open::Classification(Classification {
                        scheme: attr(&e, "classificationScheme").unwrap_or_default(),
                        classified_object: attr(&e, "classifiedObject").unwrap_or_default(),
                        node: attr(&e, "classificationNode").unwrap_or_default(),
                        code: attr(&e, "nodeRepresentation").unwrap_or_default(),
                        line,
                        ..Classification::default()
                    })),
                    "Association" => st.open.push(Open::Association(Association {
                        kind: attr(&e, "associationType").unwrap_or_default(),
                        source: attr(&e, "sourceObject").unwrap_or_default(),
                        target: attr(&e, "targetObject").unwrap_or_default(),
                        line,
                        ..Association::default()
                    })),
                    "ExternalIdentifier" => {
                        if let Some(Open::Object(o)) = st.open.last_mut() {
                            o.external_ids.push(ExternalId {
                                scheme: attr(&e, "identificationScheme").unwrap_or_default(),
                                value: attr(&e, "value").unwrap_or_default(),
                                line,
                            });
                        }
                    }
                    "Slot" => {
                        st.slot = Some(Slot {
                            name: attr(&e, "name").unwrap_or_default(),
                            values: Vec::new(),
                        })
                    }
                    "Value" => {
                        st.in_value = true;
                        st.value.clear();
                    }
                    "LocalizedString" => {
                        let v = attr(&e, "value");
                        // Only the Name of the object itself (not of its ExternalIdentifiers).
                        let n = st.stack.len();
                        let owner =
                            (n >= 2 && st.stack[n - 1] == "Name").then(|| st.stack[n - 2].as_str());
                        match (st.open.last_mut(), owner) {
                            (
                                Some(Open::Object(o)),
                                Some("ExtrinsicObject" | "RegistryPackage"),
                            ) => o.name = v,
                            (Some(Open::Classification(c)), Some("Classification")) => {
                                c.display = v
                            }
                            _ => {}
                        }
                    }
                    _ => {}
                }
                st.stack.push(name);
                if st.stack.len() > MAX_DEPTH {
                    return Err(Box::new(
                        NOT_WELL_FORMED
                            .finding(format!("imbrication au-delà de {MAX_DEPTH} niveaux."))
                            .at(Location::at(line, 1)),
                    ));
                }
                if is_empty {
                    st.close();
                }
            }
            Event::Text(t) if st.in_value => {
                st.value.push_str(&t.xml10_content());
            }
            Event::GeneralRef(r) if st.in_value => {
                // Only the five predefined entities and character references exist without a DTD.
                let name = r.xml10_content().into_owned();
                let ch = match name.as_str() {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    _ => r.resolve_char_ref().ok().flatten(),
                };
                match ch {
                    Some(c) => st.value.push(c),
                    None => {
                        return Err(Box::new(
                            NOT_WELL_FORMED
                                .finding(format!(
                                    "entité « &{}; » non déclarée.",
                                    crate::finding::quote(&name)
                                ))
                                .at(Location::at(line_of(pos), 1)),
                        ));
                    }
                }
            }
            Event::End(_) => st.close(),
            Event::Eof => break,
            _ => {}
        }
    }
    if !st.stack.is_empty() {
        return Err(Box::new(
            NOT_WELL_FORMED.finding("document tronqué (éléments non fermés)."),
        ));
    }
    Ok(st.md)
}

impl State {
    /// End of the innermost element: attach what it filled to its parent.
    fn close(&mut self) {
        self.scopes.pop();
        let Some(name) = self.stack.pop() else { return };
        match name.as_str() {
            "Value" => {
                if let Some(s) = self.slot.as_mut() {
                    s.values.push(self.value.trim().to_string());
                }
                self.in_value = false;
            }
            "Slot" => {
                if let Some(s) = self.slot.take() {
                    match self.open.last_mut() {
                        Some(Open::Object(o)) => o.slots.push(s),
                        Some(Open::Classification(c)) => {
                            if s.name == "codingScheme" {
                                c.coding_scheme = s.values.first().cloned();
                            }
                            c.slots.push(s)
                        }
                        Some(Open::Association(a)) => a.slots.push(s),
                        None => {}
                    }
                }
            }
            "ExtrinsicObject" | "RegistryPackage" => {
                if let Some(Open::Object(o)) = self.open.pop() {
                    self.md.objects.push(o);
                }
            }
            "Classification" => {
                if let Some(Open::Classification(c)) = self.open.pop() {
                    match self.open.last_mut() {
                        Some(Open::Object(o)) => o.classifications.push(c),
                        _ => self.md.classifications.push(c),
                    }
                }
            }
            "Association" => {
                if let Some(Open::Association(a)) = self.open.pop() {
                    self.md.associations.push(a);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxe_and_billion_laughs_are_refused() {
        let xxe = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert_eq!(parse(xxe).unwrap_err().rule, DTD.id);
        let undeclared = br#"<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"><rim:Slot xmlns:rim="x" name="a"><rim:ValueList><rim:Value>&x;</rim:Value></rim:ValueList></rim:Slot></lcm:SubmitObjectsRequest>"#;
        assert_eq!(parse(undeclared).unwrap_err().rule, NOT_WELL_FORMED.id);
    }

    #[test]
    fn lines_are_counted_in_one_pass_and_stay_right() {
        // 200 000 lines: a quadratic count would take minutes; the last object's line is exact.
        let mut x = String::from(
            "<lcm:SubmitObjectsRequest xmlns:lcm=\"urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0\" xmlns:rim=\"urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0\">\n<rim:RegistryObjectList>\n",
        );
        for i in 0..100_000 {
            x.push_str(&format!(
                "<rim:ExtrinsicObject id=\"D{i}\">\n</rim:ExtrinsicObject>\n"
            ));
        }
        x.push_str("</rim:RegistryObjectList></lcm:SubmitObjectsRequest>\n");
        let md = parse(x.as_bytes()).unwrap();
        assert_eq!(md.objects.len(), 100_000);
        assert_eq!(md.objects[99_999].line, 3 + 2 * 99_999);
    }

    #[test]
    fn reads_objects_slots_and_classifications() {
        let x = br#"<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
<rim:RegistryObjectList>
<rim:ExtrinsicObject id="Doc1" mimeType="text/xml">
<rim:Slot name="hash"><rim:ValueList><rim:Value>ab&amp;cd</rim:Value></rim:ValueList></rim:Slot>
<rim:Name><rim:LocalizedString value="CR"/></rim:Name>
<rim:Classification classificationScheme="S" classifiedObject="Doc1" nodeRepresentation="11502-2" id="c1">
<rim:Slot name="codingScheme"><rim:ValueList><rim:Value>2.16.840.1.113883.6.1</rim:Value></rim:ValueList></rim:Slot>
</rim:Classification>
<rim:ExternalIdentifier identificationScheme="P" value="123^^^&amp;1.2&amp;ISO^NH" id="e1" registryObject="Doc1"/>
</rim:ExtrinsicObject>
<rim:RegistryPackage id="SS"/>
<rim:Classification classificationScheme="x" classifiedObject="SS" classificationNode="N" id="c2"/>
<rim:Association associationType="urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember" sourceObject="SS" targetObject="Doc1" id="a1"/>
</rim:RegistryObjectList></lcm:SubmitObjectsRequest>"#;
        let md = parse(x).unwrap();
        assert_eq!(
            md.root,
            (LCM_NS.to_string(), "SubmitObjectsRequest".to_string())
        );
        assert!(md.has_object_list);
        assert_eq!(md.objects.len(), 2);
        let d = &md.objects[0];
        assert_eq!(d.slot_value("hash"), Some("ab&cd"));
        assert_eq!(d.name.as_deref(), Some("CR"));
        assert_eq!(d.line, 3);
        let c = d.classification("S").unwrap();
        assert_eq!(c.code, "11502-2");
        assert_eq!(c.coding_scheme.as_deref(), Some("2.16.840.1.113883.6.1"));
        assert_eq!(d.external_id("P").unwrap().value, "123^^^&1.2&ISO^NH");
        assert_eq!(md.objects[1].kind, "RegistryPackage");
        assert_eq!(md.classifications.len(), 1);
        assert_eq!(md.associations[0].target, "Doc1");
    }
}
