//! The `xsd` layer: validation against the kit's CDA schema (`infrastructure/cda/CDA_extended.xsd`).
//!
//! Rule ids are `xsd.<libxml2 code>.<constraint>`, e.g. `xsd.1871.element-content`,
//! `xsd.1840.cvc-enumeration-valid`: the code is libxml2's `xmlParserErrors` value.

use crate::finding::{Finding, Layer, Rule, Severity};
use crate::xml::{self, Loaded, XSL_NS, ffi};
use std::path::{Path, PathBuf};

/// The XSD pass as a whole (the JUnit test case of a valid document). Its errors are the family
/// `xsd.<code>.<constraint>`, one id per libxml2 code, built in [`XsdValidator::validate`].
pub const SCHEMA: &Rule = &crate::rule! {
    id: "xsd.schema",
    layer: Layer::Xsd,
    severity: Severity::Error,
    message: "Document valide selon le schéma CDA du kit (CDA_extended.xsd)",
    hint: "",
    spec: "HL7 CDA R2 schema, infrastructure/cda/CDA_extended.xsd",
};

/// Every static `xsd.*` rule.
pub static RULES: &[&Rule] = &[SCHEMA];

/// libxml2's schema-validity error names, 1801 onwards (`XML_SCHEMAV_*` in xmlerror.h).
const NAMES: &[&str] = &[
    "NOROOT",
    "UNDECLAREDELEM",
    "NOTTOPLEVEL",
    "MISSING",
    "WRONGELEM",
    "NOTYPE",
    "NOROLLBACK",
    "ISABSTRACT",
    "NOTEMPTY",
    "ELEMCONT",
    "HAVEDEFAULT",
    "NOTNILLABLE",
    "EXTRACONTENT",
    "INVALIDATTR",
    "INVALIDELEM",
    "NOTDETERMINIST",
    "CONSTRUCT",
    "INTERNAL",
    "NOTSIMPLE",
    "ATTRUNKNOWN",
    "ATTRINVALID",
    "VALUE",
    "FACET",
    "CVC_DATATYPE_VALID_1_2_1",
    "CVC_DATATYPE_VALID_1_2_2",
    "CVC_DATATYPE_VALID_1_2_3",
    "CVC_TYPE_3_1_1",
    "CVC_TYPE_3_1_2",
    "CVC_FACET_VALID",
    "CVC_LENGTH_VALID",
    "CVC_MINLENGTH_VALID",
    "CVC_MAXLENGTH_VALID",
    "CVC_MININCLUSIVE_VALID",
    "CVC_MAXINCLUSIVE_VALID",
    "CVC_MINEXCLUSIVE_VALID",
    "CVC_MAXEXCLUSIVE_VALID",
    "CVC_TOTALDIGITS_VALID",
    "CVC_FRACTIONDIGITS_VALID",
    "CVC_PATTERN_VALID",
    "CVC_ENUMERATION_VALID",
    "CVC_COMPLEX_TYPE_2_1",
    "CVC_COMPLEX_TYPE_2_2",
    "CVC_COMPLEX_TYPE_2_3",
    "CVC_COMPLEX_TYPE_2_4",
    "CVC_ELT_1",
    "CVC_ELT_2",
    "CVC_ELT_3_1",
    "CVC_ELT_3_2_1",
    "CVC_ELT_3_2_2",
    "CVC_ELT_4_1",
    "CVC_ELT_4_2",
    "CVC_ELT_4_3",
    "CVC_ELT_5_1_1",
    "CVC_ELT_5_1_2",
    "CVC_ELT_5_2_1",
    "CVC_ELT_5_2_2_1",
    "CVC_ELT_5_2_2_2_1",
    "CVC_ELT_5_2_2_2_2",
    "CVC_ELT_6",
    "CVC_ELT_7",
    "CVC_ATTRIBUTE_1",
    "CVC_ATTRIBUTE_2",
    "CVC_ATTRIBUTE_3",
    "CVC_ATTRIBUTE_4",
    "CVC_COMPLEX_TYPE_3_1",
    "CVC_COMPLEX_TYPE_3_2_1",
    "CVC_COMPLEX_TYPE_3_2_2",
    "CVC_COMPLEX_TYPE_4",
    "CVC_COMPLEX_TYPE_5_1",
    "CVC_COMPLEX_TYPE_5_2",
    "ELEMENT_CONTENT",
    "DOCUMENT_ELEMENT_MISSING",
    "CVC_COMPLEX_TYPE_1",
    "CVC_AU",
    "CVC_TYPE_1",
    "CVC_TYPE_2",
    "CVC_IDC",
    "CVC_WILDCARD",
    "MISC",
];

/// `CVC_COMPLEX_TYPE_2_4` → `cvc-complex-type.2.4`; `ELEMENT_CONTENT` → `element-content`.
fn constraint_slug(code: i32) -> String {
    let Some(name) = usize::try_from(code - 1801).ok().and_then(|i| NAMES.get(i)) else {
        return "other".into();
    };
    let parts: Vec<&str> = name.split('_').collect();
    let first_digit = parts
        .iter()
        .position(|p| p.chars().all(|c| c.is_ascii_digit()));
    match first_digit {
        Some(i) => format!(
            "{}.{}",
            parts[..i].join("-").to_lowercase(),
            parts[i..].join(".")
        ),
        None => parts.join("-").to_lowercase(),
    }
}

/// French wording of the constraint family, put before libxml2's own (English) detail.
fn label_fr(code: i32) -> &'static str {
    match code {
        1824..=1826 | 1822 => "Valeur invalide pour son type de données",
        1829..=1838 => "Valeur hors des limites autorisées par le type",
        1839 => "Valeur non conforme au format (motif) attendu par le type",
        1840 => "Valeur absente de la liste (énumération) autorisée par le schéma",
        1841..=1844 | 1871 | 1810 | 1813 | 1873 => {
            "Contenu non conforme au modèle CDA (élément inattendu, manquant ou mal placé)"
        }
        1845 | 1802 => "Élément non déclaré dans le schéma CDA",
        1866 | 1867 | 1820 | 1814 => "Attribut non autorisé à cet endroit par le schéma CDA",
        1868 => "Attribut obligatoire absent",
        1861..=1865 | 1821 => "Attribut invalide",
        1875 | 1876 | 1827 | 1828 | 1806 => "Type (xsi:type) inconnu ou invalide",
        1846..=1860 => "Élément non conforme à sa déclaration (nil, abstrait, valeur fixe)",
        _ => "Non-conformité au schéma CDA",
    }
}

/// The namespace of `xml:lang`, `xml:space`…, which the XSLT and XML Schema schemas import.
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// The kit's `CDA_extended.xsd` imports the schema for XSLT 2.0, which imports XML Schema's own
/// (two fifths of the compile time, for components no CDA type uses): the namespaces whose
/// components only that import brings.
const LEFT_OUT: &[&str] = &[XSL_NS, ffi::XS_NS, XML_NS];

/// The compiled CDA schema of a kit, compiled once per run and shared by all threads.
///
/// The schema is compiled without the XSLT import when what that import reads declares nothing
/// outside [`LEFT_OUT`]. A document can only reach a component of those namespaces by naming
/// it: an element or attribute in one of them, or a prefix bound to one (for an `xsi:type`).
/// Such a document is validated against the whole schema, compiled on first need; every
/// other document gets the same errors from either.
pub struct XsdValidator {
    lean: Option<ffi::Schema>,
    full: std::sync::OnceLock<Result<ffi::Schema, String>>,
    pub path: PathBuf,
}

impl XsdValidator {
    pub fn compile(path: &Path) -> Result<XsdValidator, String> {
        let base = path.parent().unwrap_or(Path::new("."));
        let lean = ffi::Schema::compile_without(path, |ns, location| {
            ns == XSL_NS
                && !location.is_empty()
                && import_closure(&base.join(location))
                    .is_some_and(|found| found.iter().all(|n| LEFT_OUT.contains(&n.as_str())))
        });
        let full = std::sync::OnceLock::new();
        if lean.is_none() {
            let _ = full.set(Ok(compile_full(path)?));
        }
        Ok(XsdValidator {
            lean,
            full,
            path: path.to_path_buf(),
        })
    }

    /// The schema `doc` is validated against (see the type's documentation).
    fn schema_for(&self, doc: &Loaded) -> Result<&ffi::Schema, String> {
        match &self.lean {
            Some(lean) if !ffi::mentions_namespaces(&doc.doc, LEFT_OUT) => Ok(lean),
            _ => self
                .full
                .get_or_init(|| compile_full(&self.path))
                .as_ref()
                .map_err(Clone::clone),
        }
    }

    /// Validate the document's CDA element; every schema error becomes a finding.
    pub fn validate(&self, doc: &Loaded) -> Vec<Finding> {
        let schema = match self.schema_for(doc) {
            Ok(s) => s,
            Err(message) => {
                return vec![
                    Finding::new(SCHEMA.id, SCHEMA.severity, SCHEMA.layer, message)
                        .spec(SCHEMA.spec),
                ];
            }
        };
        let (errors, dropped) = schema.validate(&doc.doc, doc.cda());
        let mut out: Vec<Finding> = errors
            .iter()
            .filter(|e| e.level >= 2)
            .map(|e| {
                Finding::new(
                    format!("xsd.{}.{}", e.code, constraint_slug(e.code)),
                    SCHEMA.severity,
                    SCHEMA.layer,
                    format!("{} : {}", label_fr(e.code), e.message),
                )
                .at(doc.locate_addr(e.node, e.line))
                .spec(SCHEMA.spec)
            })
            .collect();
        if dropped > 0 {
            out.push(xml::truncated(dropped));
        }
        out
    }
}

fn compile_full(path: &Path) -> Result<ffi::Schema, String> {
    ffi::Schema::compile(path).map_err(|errors| {
        format!(
            "le schéma {} ne compile pas : {}",
            path.display(),
            errors
                .iter()
                .map(|e| e.message.as_str())
                .take(3)
                .collect::<Vec<_>>()
                .join(" ; ")
        )
    })
}

/// The namespaces the schema document at `path` and every document it imports or includes
/// (transitively, by `schemaLocation`) declare components in or import; `None` when one of
/// them cannot be read, or past 64 documents.
fn import_closure(path: &Path) -> Option<std::collections::BTreeSet<String>> {
    use quick_xml::events::Event;
    use quick_xml::name::ResolveResult;
    let mut found = std::collections::BTreeSet::new();
    let mut seen = std::collections::HashSet::new();
    let mut todo = vec![path.to_path_buf()];
    while let Some(file) = todo.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        if seen.len() > 64 {
            return None;
        }
        // A schema location may name anything (a device, a FIFO): a bounded read of a file.
        let text = crate::files::read_text(&file, 16 << 20).ok()?;
        let base = file.parent().unwrap_or(Path::new("."));
        let mut reader = quick_xml::NsReader::from_str(&text);
        loop {
            match reader.read_resolved_event().ok()? {
                (ResolveResult::Bound(ns), Event::Start(e) | Event::Empty(e))
                    if ns.as_ref() == ffi::XS_NS =>
                {
                    let attr = |name: &str| -> Option<String> {
                        e.try_get_attribute(name)
                            .ok()
                            .flatten()
                            .and_then(|a| {
                                a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok()
                            })
                            .map(|v| v.into_owned())
                    };
                    let local = e.local_name();
                    match local.as_ref() {
                        "schema" => found.insert(attr("targetNamespace").unwrap_or_default()),
                        "import" => found.insert(attr("namespace").unwrap_or_default()),
                        _ => false,
                    };
                    if matches!(local.as_ref(), "import" | "include" | "redefine")
                        && let Some(loc) = attr("schemaLocation")
                    {
                        todo.push(base.join(loc));
                    }
                }
                (_, Event::Eof) => break,
                _ => {}
            }
        }
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_xsd_constraint_names() {
        assert_eq!(constraint_slug(1844), "cvc-complex-type.2.4");
        assert_eq!(constraint_slug(1871), "element-content");
        assert_eq!(constraint_slug(1824), "cvc-datatype-valid.1.2.1");
        assert_eq!(constraint_slug(1840), "cvc-enumeration-valid");
        assert_eq!(constraint_slug(1879), "misc");
        assert_eq!(constraint_slug(42), "other");
    }
}
