//! banc's own rules on the document model (layer `banc`, ids `banc.*`): the built-in profile that
//! works with no kit, and that runs beside the kit's rules when one is given.
//!
//! Each rule is one row of [`RULES`]: which profiles it applies to, the nodes it looks at (XPath
//! 1.0 from the `ClinicalDocument` element, prefix `cda:`), the test each of those nodes must pass,
//! the French message, an English hint and the specification it comes from.

pub mod ins;

use crate::finding::{Finding, Layer, Severity};
use crate::profile::{Family, Profile};
use crate::report::RuleRun;
use crate::xml::Loaded;
use crate::xml::ffi::{Node, XPath};

/// What a context node must satisfy.
pub enum Test {
    /// Effective boolean value of an XPath 1.0 expression evaluated on the node.
    XPath(&'static str),
    /// Native check: `Some(detail)` when the node fails, the detail completing the message.
    Native(fn(&Ctx<'_, '_>, Node<'_>) -> Option<String>),
}

/// What a native test can see.
pub struct Ctx<'a, 'd> {
    pub xpath: &'a XPath<'d>,
    pub profile: &'a Profile,
}

pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub applies: fn(&Profile) -> bool,
    /// XPath selecting the nodes to check; `.` is the ClinicalDocument.
    pub context: &'static str,
    pub test: Test,
    /// French message, shown to the integrator.
    pub message: &'static str,
    /// English hint on the fix.
    pub hint: &'static str,
    /// Where the requirement comes from.
    pub spec: &'static str,
}

fn any_cda(_: &Profile) -> bool {
    true
}
fn cr_bio(p: &Profile) -> bool {
    matches!(p.family, Family::CrBio | Family::CrBioN1)
}
fn cr_bio_l3(p: &Profile) -> bool {
    p.family == Family::CrBio
}
fn cr_bio_2024(p: &Profile) -> bool {
    p.id == "cr-bio-2024.01"
}
fn cr_bio_n1(p: &Profile) -> bool {
    p.family == Family::CrBioN1
}
fn has_model(p: &Profile) -> bool {
    p.template_root.is_some()
}

const SM: &str = "CI-SIS Volet Structuration minimale des documents de santé, en-tête";
const CRBIO: &str = "CI-SIS Volet Compte rendu d'examens de biologie médicale (CR-BIO)";
const INS_OIDS: &str = "(@root='1.2.250.1.213.1.4.8' or @root='1.2.250.1.213.1.4.9' or @root='1.2.250.1.213.1.4.10' or @root='1.2.250.1.213.1.4.11')";

pub static RULES: &[Rule] = &[
    Rule {
        id: "banc.header.realm-code",
        severity: Severity::Error,
        applies: any_cda,
        context: ".",
        test: Test::XPath("cda:realmCode[@code='FR']"),
        message: "L'élément realmCode doit être présent avec l'attribut code=\"FR\".",
        hint: "Add <realmCode code=\"FR\"/> as the first child of ClinicalDocument.",
        spec: SM,
    },
    Rule {
        id: "banc.header.type-id",
        severity: Severity::Error,
        applies: any_cda,
        context: ".",
        test: Test::XPath(
            "cda:typeId[@root='2.16.840.1.113883.1.3' and @extension='POCD_HD000040']",
        ),
        message: "L'élément typeId doit valoir root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\".",
        hint: "Declare the CDA R2 type: <typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>.",
        spec: SM,
    },
    Rule {
        id: "banc.header.template-hl7-france",
        severity: Severity::Error,
        applies: any_cda,
        context: ".",
        test: Test::XPath("cda:templateId[@root='2.16.840.1.113883.2.8.2.1']"),
        message: "L'en-tête doit déclarer la conformité HL7 France (templateId 2.16.840.1.113883.2.8.2.1).",
        hint: "Add <templateId root=\"2.16.840.1.113883.2.8.2.1\"/>.",
        spec: SM,
    },
    Rule {
        id: "banc.header.template-ci-sis",
        severity: Severity::Error,
        applies: any_cda,
        context: ".",
        test: Test::XPath("cda:templateId[@root='1.2.250.1.213.1.1.1.1']"),
        message: "L'en-tête doit déclarer la conformité au CI-SIS (templateId 1.2.250.1.213.1.1.1.1).",
        hint: "Add <templateId root=\"1.2.250.1.213.1.1.1.1\"/>.",
        spec: SM,
    },
    Rule {
        id: "banc.header.model-template",
        severity: Severity::Error,
        applies: has_model,
        context: ".",
        test: Test::Native(model_template),
        message: "L'en-tête doit déclarer le templateId du modèle de document.",
        hint: "Declare the model templateId (root and version extension) of the document's volet.",
        spec: SM,
    },
    Rule {
        id: "banc.header.id",
        severity: Severity::Error,
        applies: any_cda,
        context: ".",
        test: Test::XPath("cda:id[@root]"),
        message: "L'identifiant unique du document (id/@root) doit être présent.",
        hint: "Give the document a globally unique id (OID or UUID in @root).",
        spec: SM,
    },
    Rule {
        id: "banc.header.code",
        severity: Severity::Error,
        applies: any_cda,
        context: ".",
        test: Test::XPath("cda:code[@code and @codeSystem]"),
        message: "Le type de document (code) doit être présent avec code et codeSystem.",
        hint: "Code the document type with LOINC (e.g. 11502-2 for a CR-BIO).",
        spec: SM,
    },
    Rule {
        id: "banc.header.effective-time",
        severity: Severity::Error,
        applies: any_cda,
        context: ".",
        test: Test::Native(effective_time),
        message: "La date de création du document (effectiveTime) doit être précise à la seconde avec le fuseau horaire (AAAAMMJJhhmmss+hhmm).",
        hint: "Use e.g. <effectiveTime value=\"20240312143000+0100\"/>.",
        spec: SM,
    },
    Rule {
        id: "banc.header.confidentiality",
        severity: Severity::Error,
        applies: any_cda,
        context: ".",
        test: Test::XPath(
            "cda:confidentialityCode[@codeSystem='2.16.840.1.113883.5.25' and (@code='N' or @code='R' or @code='V')]",
        ),
        message: "Le niveau de confidentialité (confidentialityCode) doit valoir N, R ou V dans le système 2.16.840.1.113883.5.25.",
        hint: "Use <confidentialityCode code=\"N\" codeSystem=\"2.16.840.1.113883.5.25\"/> unless the report is restricted.",
        spec: SM,
    },
    Rule {
        id: "banc.header.language",
        severity: Severity::Error,
        applies: any_cda,
        context: ".",
        test: Test::XPath("cda:languageCode[@code='fr-FR']"),
        message: "La langue du document (languageCode) doit valoir fr-FR.",
        hint: "Add <languageCode code=\"fr-FR\"/>.",
        spec: SM,
    },
    Rule {
        id: "banc.header.set-id-version",
        severity: Severity::Error,
        applies: any_cda,
        context: ".",
        test: Test::XPath("cda:setId[@root] and cda:versionNumber[@value]"),
        message: "L'identifiant de lot de versions (setId) et le numéro de version (versionNumber) doivent être présents.",
        hint: "A replacement document keeps the setId and increments versionNumber.",
        spec: SM,
    },
    Rule {
        id: "banc.patient.record-target",
        severity: Severity::Error,
        applies: any_cda,
        context: ".",
        test: Test::XPath("count(cda:recordTarget) = 1"),
        message: "Le document doit concerner un et un seul patient (un seul recordTarget).",
        hint: "Send one document per patient.",
        spec: SM,
    },
    Rule {
        id: "banc.patient.ins-missing",
        severity: Severity::Warning,
        applies: any_cda,
        context: "cda:recordTarget/cda:patientRole",
        test: Test::XPath(
            "cda:id[@root='1.2.250.1.213.1.4.8' or @root='1.2.250.1.213.1.4.9' or @root='1.2.250.1.213.1.4.10' or @root='1.2.250.1.213.1.4.11']",
        ),
        message: "Aucun identifiant national de santé (INS, OID 1.2.250.1.213.1.4.8, .9, .10 ou .11) pour le patient : le destinataire ne pourra pas rapprocher automatiquement le document du dossier (erreur 903).",
        hint: "Carry the patient's qualified INS (matricule INS) in patientRole/id.",
        spec: "CI-SIS Volet Structuration minimale, patientRole ; Référentiel INS",
    },
    Rule {
        id: "banc.patient.ins-format",
        severity: Severity::Error,
        applies: any_cda,
        context: "cda:recordTarget/cda:patientRole/cda:id",
        test: Test::Native(ins_format),
        message: "Le matricule INS doit comporter 15 caractères (13 + clé de contrôle à 2 chiffres) et sa clé doit être juste.",
        hint: "The INS (NIR/NIA) is 13 characters plus a 2-digit key equal to 97 - (number mod 97).",
        spec: "Référentiel INS ; NIR (décret 82-103)",
    },
    Rule {
        id: "banc.author.present",
        severity: Severity::Error,
        applies: any_cda,
        context: ".",
        test: Test::XPath("cda:author/cda:assignedAuthor/cda:id[@root]"),
        message: "L'auteur du document (author/assignedAuthor) doit être présent et identifié.",
        hint: "Identify the author (RPPS for a person, FINESS or SIRET for a device's organisation).",
        spec: SM,
    },
    Rule {
        id: "banc.custodian.id",
        severity: Severity::Error,
        applies: any_cda,
        context: ".",
        test: Test::XPath(
            "cda:custodian/cda:assignedCustodian/cda:representedCustodianOrganization/cda:id[@root]",
        ),
        message: "L'organisation chargée de la conservation du document (custodian) doit être identifiée.",
        hint: "Identify the custodian organisation (e.g. FINESS of the lab).",
        spec: SM,
    },
    Rule {
        id: "banc.cr-bio.document-code",
        severity: Severity::Error,
        applies: cr_bio,
        context: ".",
        test: Test::XPath("cda:code[@code='11502-2' and @codeSystem='2.16.840.1.113883.6.1']"),
        message: "Le type de document d'un CR-BIO doit être le code LOINC 11502-2 « CR d'examens biologiques ».",
        hint: "Use <code code=\"11502-2\" codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"CR d'examens biologiques\"/>.",
        spec: CRBIO,
    },
    Rule {
        id: "banc.cr-bio.template-ihe-palm",
        severity: Severity::Error,
        applies: cr_bio_l3,
        context: ".",
        test: Test::XPath("cda:templateId[@root='1.3.6.1.4.1.19376.1.3.3']"),
        message: "Un CR-BIO structuré doit déclarer le modèle IHE PaLM « Laboratory Report » (templateId 1.3.6.1.4.1.19376.1.3.3).",
        hint: "Add <templateId root=\"1.3.6.1.4.1.19376.1.3.3\"/>.",
        spec: CRBIO,
    },
    Rule {
        id: "banc.cr-bio.structured-body",
        severity: Severity::Error,
        applies: cr_bio_l3,
        context: ".",
        test: Test::XPath("cda:component/cda:structuredBody"),
        message: "Un CR-BIO structuré (niveau 3) doit avoir un corps structuré (structuredBody).",
        hint: "A level-3 report carries sections and coded entries in structuredBody.",
        spec: CRBIO,
    },
    Rule {
        id: "banc.cr-bio.section-biologie",
        severity: Severity::Error,
        applies: cr_bio_l3,
        context: "cda:component/cda:structuredBody",
        test: Test::XPath(
            "cda:component/cda:section[cda:templateId/@root='1.3.6.1.4.1.19376.1.3.3.2.1']",
        ),
        message: "Le corps doit comporter au moins une section FR-CR-de-biologie (templateId 1.3.6.1.4.1.19376.1.3.3.2.1).",
        hint: "Put each chapter of results in a level-1 section with templateId 1.3.6.1.4.1.19376.1.3.3.2.1.",
        spec: CRBIO,
    },
    Rule {
        id: "banc.cr-bio.section-pdf-copie",
        severity: Severity::Error,
        applies: cr_bio_2024,
        context: "cda:component/cda:structuredBody",
        test: Test::XPath(
            "cda:component/cda:section[cda:templateId/@root='1.2.250.1.213.1.1.2.243']",
        ),
        message: "Le corps doit comporter la section FR-Document-PDF-copie (templateId 1.2.250.1.213.1.1.2.243) portant la copie PDF du compte rendu.",
        hint: "Add the PDF copy section with its observationMedia entry (application/pdf, B64).",
        spec: CRBIO,
    },
    Rule {
        id: "banc.cr-bio.result-code",
        severity: Severity::Error,
        applies: cr_bio_l3,
        context: ".//cda:observation[cda:templateId/@root='1.3.6.1.4.1.19376.1.3.1.6']",
        test: Test::XPath("cda:code[@code or cda:translation/@code]"),
        message: "Chaque résultat (FR-Resultat-examens-de-biologie-element-clinique-pertinent) doit être codé : code LOINC, code LOINC en attente, ou code local dans translation.",
        hint: "Code each result observation with LOINC (2.16.840.1.113883.6.1).",
        spec: CRBIO,
    },
    Rule {
        id: "banc.cr-bio.result-status",
        severity: Severity::Error,
        applies: cr_bio_l3,
        context: ".//cda:observation[cda:templateId/@root='1.3.6.1.4.1.19376.1.3.1.6']",
        test: Test::XPath("cda:statusCode[@code='completed' or @code='aborted']"),
        message: "Le statut d'un résultat (statusCode) doit valoir completed ou aborted.",
        hint: "Only final results (completed) or cancelled ones (aborted) are sent in a report.",
        spec: CRBIO,
    },
    Rule {
        id: "banc.cr-bio.n1-pdf-body",
        severity: Severity::Error,
        applies: cr_bio_n1,
        context: ".",
        test: Test::XPath(
            "cda:component/cda:nonXMLBody/cda:text[@mediaType='application/pdf' and @representation='B64']",
        ),
        message: "Un CR-BIO non structuré (niveau 1) doit porter le PDF en base 64 dans nonXMLBody/text (mediaType application/pdf, representation B64).",
        hint: "Embed the report as <text mediaType=\"application/pdf\" representation=\"B64\">.",
        spec: CRBIO,
    },
];

fn model_template(cx: &Ctx<'_, '_>, node: Node<'_>) -> Option<String> {
    // The version (extension) is what selected the profile; here the model itself must be declared.
    let root = cx.profile.template_root?;
    let found = cx
        .xpath
        .select("cda:templateId", node)
        .unwrap_or_default()
        .into_iter()
        .any(|t| t.attr("root").as_deref() == Some(root));
    (!found).then(|| format!("attendu : root=\"{root}\" ({})", cx.profile.id))
}

/// `AAAAMMJJhhmmss` then `+hhmm`/`-hhmm`, fractions of a second allowed.
pub fn is_precise_ts(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() < 19 || !b[..14].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let rest = &v[14..];
    let rest = match rest.strip_prefix('.') {
        Some(r) => r.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => rest,
    };
    let tz = rest.as_bytes();
    tz.len() == 5 && (tz[0] == b'+' || tz[0] == b'-') && tz[1..].iter().all(u8::is_ascii_digit)
}

fn effective_time(cx: &Ctx<'_, '_>, node: Node<'_>) -> Option<String> {
    let v = cx
        .xpath
        .string("string(cda:effectiveTime/@value)", node)
        .unwrap_or_default();
    if v.is_empty() {
        return Some("effectiveTime absent".into());
    }
    (!is_precise_ts(&v)).then(|| format!("trouvé : « {v} »"))
}

fn ins_format(_: &Ctx<'_, '_>, node: Node<'_>) -> Option<String> {
    let root = node.attr("root").unwrap_or_default();
    if !INS_OIDS.contains(&format!("'{root}'")) {
        return None;
    }
    let ext = node.attr("extension").unwrap_or_default();
    ins::check(&ext).err()
}

/// Run every rule that applies to `profile`; returns the findings and the rules that ran.
pub fn run(doc: &Loaded, profile: &Profile) -> (Vec<Finding>, Vec<RuleRun>) {
    let xpath = XPath::new(&doc.doc);
    let cx = Ctx {
        xpath: &xpath,
        profile,
    };
    let cda = doc.cda();
    let mut findings = Vec::new();
    let mut ran = Vec::new();
    for rule in RULES.iter().filter(|r| (r.applies)(profile)) {
        ran.push(RuleRun {
            rule: rule.id.to_string(),
            layer: Layer::Banc,
            title: rule.message.to_string(),
        });
        let nodes = match xpath.select(rule.context, cda) {
            Ok(n) => n,
            Err(e) => {
                findings.push(internal(rule, &e));
                continue;
            }
        };
        let mut kept = 0usize;
        let mut dropped = 0usize;
        for node in nodes {
            let failure = match &rule.test {
                Test::XPath(t) => match xpath.boolean(t, node) {
                    Ok(true) => None,
                    Ok(false) => Some(None),
                    Err(e) => {
                        findings.push(internal(rule, &e));
                        None
                    }
                },
                Test::Native(f) => f(&cx, node).map(Some),
            };
            if let Some(detail) = failure {
                // Bounded like the XSD errors: a broken generator can repeat one defect per entry.
                if kept == MAX_FINDINGS_PER_RULE {
                    dropped += 1;
                    continue;
                }
                kept += 1;
                let message = match detail {
                    Some(d) => format!("{} ({d})", rule.message),
                    None => rule.message.to_string(),
                };
                findings.push(
                    Finding::new(rule.id, rule.severity, Layer::Banc, message)
                        .at(doc.locate(node))
                        .hint(rule.hint)
                        .spec(rule.spec),
                );
            }
        }
        if dropped > 0 {
            findings.push(Finding::new(
                "banc.limit.findings",
                Severity::Info,
                Layer::Banc,
                format!(
                    "{dropped} constats supplémentaires de la règle {} n'ont pas été conservés (limite de {MAX_FINDINGS_PER_RULE} par règle).",
                    rule.id
                ),
            ));
        }
    }
    (findings, ran)
}

/// Findings kept per rule and document.
pub const MAX_FINDINGS_PER_RULE: usize = 1000;

fn internal(rule: &Rule, expr: &str) -> Finding {
    Finding::new(
        "banc.internal.xpath",
        Severity::Error,
        Layer::Banc,
        format!(
            "Règle {} : expression XPath invalide « {expr} » (défaut de banc, merci de le signaler).",
            rule.id
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_and_namespaced() {
        let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
        assert!(ids.iter().all(|id| id.starts_with("banc.")));
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(n, ids.len());
    }

    #[test]
    fn timestamps_need_seconds_and_zone() {
        assert!(is_precise_ts("20240312143000+0100"));
        assert!(is_precise_ts("20240312143000.123-0500"));
        assert!(!is_precise_ts("20240312143000"));
        assert!(!is_precise_ts("20240312143000Z"));
        assert!(!is_precise_ts("202403121430+0100"));
    }
}
