//! What the envelope and the package say about a document, read from the CDA header: the
//! sources of the XDS metadata (IG transmission, mapping) and of the MSSanté message conventions
//! (subject, X-MSS-* headers, patient address).

use crate::finding::Finding;
use crate::xml::{self, CDA_NS, Limits, Load, ffi::Node};

/// OIDs of the INS: NIR, NIA, and their test variants.
pub const INS_OIDS: [&str; 4] = [
    "1.2.250.1.213.1.4.8",
    "1.2.250.1.213.1.4.9",
    "1.2.250.1.213.1.4.10",
    "1.2.250.1.213.1.4.11",
];

/// A coded value (`code`, `codeSystem`, `displayName`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Code {
    pub code: String,
    pub system: String,
    pub display: String,
}

/// An instance identifier (`root`, `extension`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Id {
    pub root: String,
    pub extension: Option<String>,
}

impl Id {
    /// XDS form: `root^extension`, or the root alone.
    pub fn xds(&self) -> String {
        match &self.extension {
            Some(e) => format!("{}^{e}", self.root),
            None => self.root.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Patient {
    /// The INS (`id` whose root is one of [`INS_OIDS`]).
    pub ins: Option<Id>,
    /// Other patient identifiers (IPP...).
    pub other_ids: Vec<Id>,
    /// Birth name (`family qualifier="BR"`, else the first family).
    pub birth_name: Option<String>,
    /// Used name (`family qualifier="SP"` or `"CL"`), when given.
    pub used_name: Option<String>,
    /// Every `given`, in document order.
    pub given: Vec<String>,
    /// First birth given name (`given qualifier="BR"`, else the first word of the unqualified
    /// list of birth given names): the "prénom" of the message subject and INS traits.
    pub first_given: Option<String>,
    /// `birthTime/@value` (`AAAAMMJJ...`).
    pub birth_time: Option<String>,
    /// `administrativeGenderCode/@code` (`M`, `F`, `UN`).
    pub gender: Option<String>,
}

impl Patient {
    /// The INS with its identity traits (birth name, first given name, birth date, sex): what
    /// `X-MSS-INS: O` asserts.
    pub fn ins_qualified(&self) -> bool {
        self.ins.as_ref().is_some_and(|i| i.extension.is_some())
            && self.birth_name.is_some()
            && self.first_given.is_some()
            && self.birth_time.is_some()
            && self.gender.is_some()
    }

    /// Birth date as `JJ/MM/AAAA` (the message subject's form).
    pub fn birth_date_fr(&self) -> Option<String> {
        // `get` is None when byte 8 cuts a character: a hostile value is no date, never a panic.
        let d = self.birth_time.as_deref()?.get(..8)?;
        let (year, month_day) = d.split_at_checked(4)?;
        let (month, day) = month_day.split_at_checked(2)?;
        d.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| format!("{day}/{month}/{year}"))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Author {
    pub id: Option<Id>,
    pub family: Option<String>,
    pub given: Option<String>,
    /// `assignedAuthor/code` (specialty, TRE_G15 / TRE_R38...).
    pub specialty: Option<Code>,
    pub organization_id: Option<Id>,
    pub organization_name: Option<String>,
}

/// The CDA header fields banc needs outside the document pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CdaHeader {
    pub template_ids: Vec<String>,
    pub id: Option<Id>,
    pub set_id: Option<Id>,
    pub version_number: Option<String>,
    /// Document type (`11502-2` for a CR-BIO).
    pub code: Option<Code>,
    pub title: Option<String>,
    /// `effectiveTime/@value` as written (`AAAAMMJJhhmmss+zzzz`).
    pub effective_time: Option<String>,
    pub confidentiality: Option<Code>,
    pub language: Option<String>,
    pub patient: Patient,
    pub authors: Vec<Author>,
    pub legal_authenticator: Option<Author>,
    /// `documentationOf/serviceEvent/code` (one per serviceEvent).
    pub event_codes: Vec<Code>,
    pub service_start: Option<String>,
    pub service_stop: Option<String>,
    /// `serviceEvent/performer//representedOrganization/standardIndustryClassCode` (practice
    /// setting, TRE_A01).
    pub practice_setting: Option<Code>,
    /// `componentOf//healthCareFacility/code` (facility type, TRE_R02).
    pub facility_type: Option<Code>,
    /// Parent document of a replacement (`relatedDocument[@typeCode='RPLC']/parentDocument/id`).
    pub replaces: Option<Id>,
    /// `custodian/assignedCustodian/representedCustodianOrganization/id`: the organisation
    /// (lab, establishment) that keeps the document.
    pub custodian: Option<Id>,
    /// Its `name`.
    pub custodian_name: Option<String>,
}

impl CdaHeader {
    pub fn has_template(&self, root: &str) -> bool {
        self.template_ids.iter().any(|t| t == root)
    }
}

/// Read the header of a CDA document, safely (same reading as the pipeline's `xml` layer).
/// On failure, the `xml.*` findings say why.
pub fn read(name: &str, bytes: &[u8]) -> Result<CdaHeader, Vec<Finding>> {
    let mut findings = Vec::new();
    let loaded = match xml::load(
        xml::Input { name, bytes },
        &Limits::default(),
        &mut findings,
    ) {
        Load::Ready(l) => l,
        Load::Failed | Load::Unchecked => return Err(findings),
    };
    Ok(from_node(loaded.cda()))
}

fn kids<'d>(n: Node<'d>, name: &str) -> Vec<Node<'d>> {
    xml::children(n)
        .into_iter()
        .filter(|k| k.local_name() == name && k.namespace().as_deref() == Some(CDA_NS))
        .collect()
}

fn kid<'d>(n: Node<'d>, name: &str) -> Option<Node<'d>> {
    kids(n, name).into_iter().next()
}

/// Follow a path of child names, first match at each step.
fn path<'d>(n: Node<'d>, steps: &[&str]) -> Option<Node<'d>> {
    steps.iter().try_fold(n, |cur, s| kid(cur, s))
}

fn text(n: Option<Node<'_>>) -> Option<String> {
    let t = n?.text();
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    (!t.is_empty()).then_some(t)
}

fn id_of(n: Node<'_>) -> Option<Id> {
    Some(Id {
        root: n.attr("root").filter(|r| !r.is_empty())?,
        extension: n.attr("extension").filter(|e| !e.is_empty()),
    })
}

fn code_of(n: Node<'_>) -> Option<Code> {
    Some(Code {
        code: n.attr("code").filter(|c| !c.is_empty())?,
        system: n.attr("codeSystem").unwrap_or_default(),
        display: n.attr("displayName").unwrap_or_default(),
    })
}

fn person(assigned: Node<'_>, person_tag: &str) -> Author {
    let who = kid(assigned, person_tag);
    let name = who.and_then(|p| kid(p, "name"));
    let org = kid(assigned, "representedOrganization");
    Author {
        id: kid(assigned, "id").and_then(id_of),
        family: text(name.and_then(|n| kid(n, "family"))),
        given: text(name.and_then(|n| kid(n, "given"))),
        specialty: kid(assigned, "code").and_then(code_of),
        organization_id: org.and_then(|o| kid(o, "id")).and_then(id_of),
        organization_name: text(org.and_then(|o| kid(o, "name"))),
    }
}

/// `ClinicalDocument/id` as `root^extension` (the root alone without extension).
pub fn document_id(cda: Node<'_>) -> Option<String> {
    kid(cda, "id").and_then(id_of).map(|id| id.xds())
}

/// The header of a `ClinicalDocument` element.
pub fn from_node(cda: Node<'_>) -> CdaHeader {
    let mut h = CdaHeader {
        template_ids: kids(cda, "templateId")
            .into_iter()
            .filter_map(|t| t.attr("root"))
            .collect(),
        id: kid(cda, "id").and_then(id_of),
        set_id: kid(cda, "setId").and_then(id_of),
        version_number: kid(cda, "versionNumber").and_then(|v| v.attr("value")),
        code: kid(cda, "code").and_then(code_of),
        title: text(kid(cda, "title")),
        effective_time: kid(cda, "effectiveTime").and_then(|e| e.attr("value")),
        confidentiality: kid(cda, "confidentialityCode").and_then(code_of),
        language: kid(cda, "languageCode").and_then(|l| l.attr("code")),
        ..CdaHeader::default()
    };
    if let Some(role) = path(cda, &["recordTarget", "patientRole"]) {
        for id in kids(role, "id").into_iter().filter_map(id_of) {
            if INS_OIDS.contains(&id.root.as_str()) && h.patient.ins.is_none() {
                h.patient.ins = Some(id);
            } else {
                h.patient.other_ids.push(id);
            }
        }
        if let Some(p) = kid(role, "patient") {
            if let Some(name) = kid(p, "name") {
                let families = kids(name, "family");
                let qualified = |q: &str| {
                    families
                        .iter()
                        .find(|f| f.attr("qualifier").as_deref() == Some(q))
                        .and_then(|f| text(Some(*f)))
                };
                h.patient.birth_name =
                    qualified("BR").or_else(|| families.first().and_then(|f| text(Some(*f))));
                h.patient.used_name = qualified("SP").or_else(|| qualified("CL"));
                let given = kids(name, "given");
                h.patient.given = given.iter().filter_map(|g| text(Some(*g))).collect();
                h.patient.first_given = given
                    .iter()
                    .find(|g| g.attr("qualifier").as_deref() == Some("BR"))
                    .and_then(|g| text(Some(*g)))
                    .or_else(|| {
                        given
                            .iter()
                            .find(|g| g.attr("qualifier").is_none())
                            .and_then(|g| text(Some(*g)))
                            .and_then(|t| t.split(' ').next().map(str::to_string))
                    });
            }
            h.patient.birth_time = kid(p, "birthTime").and_then(|b| b.attr("value"));
            h.patient.gender = kid(p, "administrativeGenderCode").and_then(|g| g.attr("code"));
        }
    }
    h.authors = kids(cda, "author")
        .into_iter()
        .filter_map(|a| kid(a, "assignedAuthor"))
        .map(|a| person(a, "assignedPerson"))
        .collect();
    h.legal_authenticator =
        path(cda, &["legalAuthenticator", "assignedEntity"]).map(|a| person(a, "assignedPerson"));
    for doc_of in kids(cda, "documentationOf") {
        let Some(ev) = kid(doc_of, "serviceEvent") else {
            continue;
        };
        if let Some(c) = kid(ev, "code").and_then(code_of) {
            h.event_codes.push(c);
        }
        if h.service_start.is_none() {
            let t = kid(ev, "effectiveTime");
            h.service_start = t.and_then(|t| kid(t, "low")).and_then(|l| l.attr("value"));
            h.service_stop = t.and_then(|t| kid(t, "high")).and_then(|l| l.attr("value"));
        }
        if h.practice_setting.is_none() {
            h.practice_setting = kids(ev, "performer")
                .into_iter()
                .filter_map(|p| {
                    path(
                        p,
                        &[
                            "assignedEntity",
                            "representedOrganization",
                            "standardIndustryClassCode",
                        ],
                    )
                })
                .find_map(code_of);
        }
    }
    h.facility_type = path(
        cda,
        &[
            "componentOf",
            "encompassingEncounter",
            "location",
            "healthCareFacility",
            "code",
        ],
    )
    .and_then(code_of);
    h.replaces = kids(cda, "relatedDocument")
        .into_iter()
        .find(|r| r.attr("typeCode").as_deref() == Some("RPLC"))
        .and_then(|r| path(r, &["parentDocument", "id"]))
        .and_then(id_of);
    let custodian = path(
        cda,
        &[
            "custodian",
            "assignedCustodian",
            "representedCustodianOrganization",
        ],
    );
    h.custodian = custodian.and_then(|c| kid(c, "id")).and_then(id_of);
    h.custodian_name = text(custodian.and_then(|c| kid(c, "name")));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_header_of_a_valid_cr_bio() {
        let bytes = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/cr-bio/valid/glycemie-ionogramme.xml"),
        )
        .unwrap();
        let h = read("glycemie-ionogramme.xml", &bytes).unwrap();
        assert_eq!(h.code.as_ref().unwrap().code, "11502-2");
        assert!(h.has_template("1.2.250.1.213.1.1.1.55"));
        let ins = h.patient.ins.as_ref().unwrap();
        assert!(INS_OIDS.contains(&ins.root.as_str()));
        assert_eq!(ins.extension.as_ref().unwrap().len(), 15);
        assert!(h.patient.ins_qualified());
        assert_eq!(h.patient.birth_name.as_deref(), Some("LEFEBVRE"));
        assert_eq!(h.patient.used_name.as_deref(), Some("ROUSSEL"));
        assert_eq!(h.patient.first_given.as_deref(), Some("CAMILLE"));
        assert!(h.patient.birth_date_fr().unwrap().contains('/'));
        assert!(!h.authors.is_empty());
        assert!(h.id.is_some() && h.effective_time.is_some());
        assert_eq!(h.custodian.as_ref().unwrap().root, "1.2.250.1.71.4.2.2");
        assert!(h.custodian_name.is_some());
    }

    #[test]
    fn a_non_cda_reports_why() {
        let err = read("x.xml", b"<a/>").unwrap_err();
        assert!(err.iter().any(|f| f.rule == "xml.root.not-cda"));
    }

    #[test]
    fn a_birth_time_with_a_multibyte_character_is_no_date() {
        let mut p = Patient::default();
        for v in ["1990é101", "1990010é1", "é", "19900101"] {
            p.birth_time = Some(v.into());
            let d = p.birth_date_fr();
            assert_eq!(d.is_some(), v == "19900101", "{v}: {d:?}");
        }
    }
}
