//! banc's own rules on the document model (layer `banc`, ids `banc.*`): the built-in profile that
//! works with no kit, and that runs beside the kit's rules when one is given.
//!
//! Each rule is one row of [`RULES`]: which profiles it applies to, the nodes it looks at (XPath
//! 1.0 from the `ClinicalDocument` element, prefix `cda:`), the test each of those nodes must pass,
//! the French message, an English hint and the specification it comes from (`spec`: the volet,
//! section and element, then the kit's schematron and pattern that also check it, if any).
//!
//! Result codes (LOINC, "en attente", local codes) are checked by the `terminology` layer, not here.

pub mod ins;
pub mod internal;

use crate::cda::{ids, ts};
use crate::finding::report::RuleRun;
use crate::finding::{Finding, Layer, MAX_FINDINGS_PER_RULE, Rule, Severity, quote};
use crate::profile::{Family, Profile};
use crate::schematron::query::Query;
use crate::xml::Loaded;
use crate::xml::ffi::Node;

/// What a context node must satisfy.
pub enum Test {
    /// Effective boolean value of an XPath 1.0 expression evaluated on the node.
    XPath(&'static str),
    /// Native check: `Some(detail)` when the node fails, the detail completing the message.
    Native(fn(&Ctx<'_, '_>, Node<'_>) -> Option<String>),
}

/// What a native test can see.
pub struct Ctx<'a, 'd> {
    pub xpath: &'a Query<'d>,
    pub profile: &'a Profile,
}

/// A rule of the document model and how banc checks it.
pub struct Check {
    /// Id, severity, French message, English hint and the specification it comes from.
    pub rule: &'static Rule,
    pub applies: fn(&Profile) -> bool,
    /// XPath selecting the nodes to check; `.` is the ClinicalDocument.
    pub context: &'static str,
    pub test: Test,
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

/// `spec` of a header rule of structuration minimale that the kit's StrucMin schematron also
/// checks: the element, then the Art-Decor item (template) of the assert.
macro_rules! strucmin {
    ($element:literal, $item:literal) => {
        concat!(
            "CI-SIS Volet Structuration minimale des documents de santé — en-tête, ",
            $element,
            " ; kit: ASIP-STRUCT-MIN-StrucMin.sch, pattern template-1.2.250.1.213.1.1.1.1-2017-12-13T103531 (",
            $item,
            ")"
        )
    };
}

/// `spec` of a rule of the CR-BIO volet: the part of the volet, then the kit's checks.
macro_rules! crbio {
    ($part:literal, $kit:literal) => {
        concat!(
            "CI-SIS Volet Compte rendu d'examens de biologie médicale (BIO-CR-BIO 2024.01) — ",
            $part,
            " ; kit: ",
            $kit
        )
    };
    ($part:literal) => {
        concat!(
            "CI-SIS Volet Compte rendu d'examens de biologie médicale (BIO-CR-BIO 2024.01) — ",
            $part
        )
    };
}

const INS_OIDS: &str = "(@root='1.2.250.1.213.1.4.8' or @root='1.2.250.1.213.1.4.9' or @root='1.2.250.1.213.1.4.10' or @root='1.2.250.1.213.1.4.11')";

/// FR-Resultats-examens-de-biologie-medicale (IHE PaLM Laboratory Report Data Processing Entry):
/// the templateId sits on the `entry`, whose child is an `act`.
const ENTRY_RESULTS: &str = "1.3.6.1.4.1.19376.1.3.1";
/// FR-Resultat-examens-de-biologie-element-clinique-pertinent (Laboratory Observation).
const RESULT: &str = "1.3.6.1.4.1.19376.1.3.1.6";

pub static CHECKS: &[Check] = &[
    Check {
        rule: &crate::rule! {
            id: "banc.header.realm-code",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "L'élément realmCode doit être présent avec l'attribut code=\"FR\".",
            hint: "Add <realmCode code=\"FR\"/> as the first child of ClinicalDocument.",
            spec: strucmin!("ClinicalDocument/realmCode", "SMDS_CDAClinicalDocument"),
        },
        applies: any_cda,
        context: ".",
        test: Test::XPath("cda:realmCode[@code='FR']"),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.header.type-id",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "L'élément typeId doit valoir root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\".",
            hint: "Declare the CDA R2 type: <typeId root=\"2.16.840.1.113883.1.3\" extension=\"POCD_HD000040\"/>.",
            spec: strucmin!("ClinicalDocument/typeId", "SMDS_CDAClinicalDocument"),
        },
        applies: any_cda,
        context: ".",
        test: Test::XPath(
            "cda:typeId[@root='2.16.840.1.113883.1.3' and @extension='POCD_HD000040']",
        ),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.header.template-hl7-france",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "L'en-tête doit déclarer la conformité HL7 France (templateId 2.16.840.1.113883.2.8.2.1).",
            hint: "Add <templateId root=\"2.16.840.1.113883.2.8.2.1\"/>.",
            spec: strucmin!(
                "ClinicalDocument/templateId 2.16.840.1.113883.2.8.2.1",
                "SMDS_CDAClinicalDocument"
            ),
        },
        applies: any_cda,
        context: ".",
        test: Test::XPath("cda:templateId[@root='2.16.840.1.113883.2.8.2.1']"),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.header.template-ci-sis",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "L'en-tête doit déclarer la conformité au CI-SIS (templateId 1.2.250.1.213.1.1.1.1).",
            hint: "Add <templateId root=\"1.2.250.1.213.1.1.1.1\"/>.",
            spec: strucmin!(
                "ClinicalDocument/templateId 1.2.250.1.213.1.1.1.1",
                "SMDS_CDAClinicalDocument"
            ),
        },
        applies: any_cda,
        context: ".",
        test: Test::XPath("cda:templateId[@root='1.2.250.1.213.1.1.1.1']"),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.header.model-template",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "L'en-tête doit déclarer le templateId du modèle de document.",
            hint: "Declare the model templateId (root and version extension) of the document's volet.",
            spec: "CI-SIS Volet Structuration minimale des documents de santé — en-tête, ClinicalDocument/templateId du modèle (volet) ; CR-BIO : templateId 1.2.250.1.213.1.1.1.55 + version du volet",
        },
        applies: has_model,
        context: ".",
        test: Test::Native(model_template),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.header.id",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "L'identifiant unique du document (id/@root) doit être présent.",
            hint: "Give the document a globally unique id (OID or UUID in @root).",
            spec: strucmin!("ClinicalDocument/id", "SMDS_CDAClinicalDocument"),
        },
        applies: any_cda,
        context: ".",
        test: Test::XPath("cda:id[@root]"),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.header.code",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "Le type de document (code) doit être présent avec code et codeSystem.",
            hint: "Code the document type with LOINC (e.g. 11502-2 for a CR-BIO).",
            spec: strucmin!("ClinicalDocument/code", "SMDS_CDAClinicalDocument"),
        },
        applies: any_cda,
        context: ".",
        test: Test::XPath("cda:code[@code and @codeSystem]"),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.header.effective-time",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "La date de création du document (effectiveTime) doit donner la date et l'heure, au moins à la minute, avec le décalage horaire (AAAAMMJJhhmm[ss]±hhmm).",
            hint: "Use the local time and its UTC offset, e.g. <effectiveTime value=\"20240312143000+0100\"/>.",
            spec: "CI-SIS Volet Structuration minimale des documents de santé — en-tête, ClinicalDocument/effectiveTime ; format CI-SIS des dates et heures (kit: abstract/IVL_TS.sch : aaaammjjhh[mm[ss]][+/-]zzzz en temps local du producteur)",
        },
        applies: any_cda,
        context: ".",
        test: Test::Native(effective_time),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.header.confidentiality",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "Le niveau de confidentialité (confidentialityCode) doit valoir N, R ou V dans le système 2.16.840.1.113883.5.25.",
            hint: "Use <confidentialityCode code=\"N\" codeSystem=\"2.16.840.1.113883.5.25\"/> unless the report is restricted.",
            spec: strucmin!(
                "ClinicalDocument/confidentialityCode (jeu de valeurs 2.16.840.1.113883.1.11.10228)",
                "SMDS_CDAClinicalDocument"
            ),
        },
        applies: any_cda,
        context: ".",
        test: Test::XPath(
            "cda:confidentialityCode[@codeSystem='2.16.840.1.113883.5.25' and (@code='N' or @code='R' or @code='V')]",
        ),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.header.language",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "La langue du document (languageCode) doit valoir fr-FR.",
            hint: "Add <languageCode code=\"fr-FR\"/>.",
            spec: strucmin!("ClinicalDocument/languageCode", "SMDS_CDAClinicalDocument"),
        },
        applies: any_cda,
        context: ".",
        test: Test::XPath("cda:languageCode[@code='fr-FR']"),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.header.set-id-version",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "L'identifiant de lot de versions (setId) et le numéro de version (versionNumber) doivent être présents.",
            hint: "A replacement document keeps the setId and increments versionNumber.",
            spec: strucmin!(
                "ClinicalDocument/setId, ClinicalDocument/versionNumber",
                "SMDS_CDAClinicalDocument"
            ),
        },
        applies: any_cda,
        context: ".",
        test: Test::XPath("cda:setId[@root] and cda:versionNumber[@value]"),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.patient.record-target",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "Le document doit concerner un et un seul patient (un seul recordTarget).",
            hint: "Send one document per patient.",
            spec: strucmin!(
                "ClinicalDocument/recordTarget [1..1]",
                "SMDS_CDAClinicalDocument"
            ),
        },
        applies: any_cda,
        context: ".",
        test: Test::XPath("count(cda:recordTarget) = 1"),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.patient.ins-missing",
            layer: Layer::Banc,
            severity: Severity::Warning,
            message: "Aucun identifiant national de santé (INS, OID 1.2.250.1.213.1.4.8, .9, .10 ou .11) pour le patient : le destinataire ne pourra pas rapprocher automatiquement le document du dossier (erreur 903).",
            hint: "Carry the patient's qualified INS (matricule INS) in patientRole/id.",
            spec: "CI-SIS Volet Structuration minimale des documents de santé — en-tête, recordTarget/patientRole/id (INS : OID 1.2.250.1.213.1.4.8 NIR, .9 NIA, .10 et .11 de test) ; Référentiel national d'identitovigilance (INS)",
        },
        applies: any_cda,
        context: "cda:recordTarget/cda:patientRole",
        test: Test::XPath(
            "cda:id[@root='1.2.250.1.213.1.4.8' or @root='1.2.250.1.213.1.4.9' or @root='1.2.250.1.213.1.4.10' or @root='1.2.250.1.213.1.4.11']",
        ),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.patient.ins-format",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "Le matricule INS doit comporter 15 caractères (13 + clé de contrôle à 2 chiffres) et sa clé doit être juste.",
            hint: "The INS (NIR/NIA) is 13 characters plus a 2-digit key equal to 97 - (number mod 97).",
            spec: "CI-SIS Volet Structuration minimale des documents de santé — en-tête, recordTarget/patientRole/id/@extension (matricule INS) ; NIR : 13 caractères + clé 97 − (n mod 97), 2A/2B comptés 19/18",
        },
        applies: any_cda,
        context: "cda:recordTarget/cda:patientRole/cda:id",
        test: Test::Native(ins_format),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.author.present",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "L'auteur du document (author/assignedAuthor) doit être présent et identifié.",
            hint: "Identify the author (RPPS for a person, FINESS or SIRET for a device's organisation).",
            spec: strucmin!("author/assignedAuthor/id", "CI-SISAuthor"),
        },
        applies: any_cda,
        context: ".",
        test: Test::XPath("cda:author/cda:assignedAuthor/cda:id[@root]"),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.author.id-format",
            layer: Layer::Banc,
            severity: Severity::Warning,
            message: "L'identifiant national de l'auteur (idNat_PS, OID 1.2.250.1.71.4.2.1) doit être 8 + numéro RPPS (11 chiffres, clé de Luhn juste) ou 0 + numéro ADELI (9 caractères).",
            hint: "Write the RPPS number with its type prefix: extension=\"8\" + the 11 digits of the RPPS, whose last digit is a Luhn key.",
            spec: "CI-SIS Volet Structuration minimale des documents de santé — en-tête, author/assignedAuthor/id (idNat_PS 1.2.250.1.71.4.2.1 : 8 + RPPS, 0 + ADELI) ; RPPS : 11 chiffres dont une clé de Luhn",
        },
        applies: any_cda,
        context: "cda:author/cda:assignedAuthor/cda:id[@root='1.2.250.1.71.4.2.1']",
        test: Test::Native(ps_id),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.author.organization-id-format",
            layer: Layer::Banc,
            severity: Severity::Warning,
            message: "L'identifiant national de l'organisation de l'auteur (idNat_Struct, OID 1.2.250.1.71.4.2.2) doit être 1 + FINESS (9 caractères), 2 + SIREN (9 chiffres) ou 3 + SIRET (14 chiffres), clé de Luhn juste.",
            hint: "Write the FINESS number with its type prefix: extension=\"1\" + the 9 characters of the FINESS, whose last digit is a Luhn key.",
            spec: "CI-SIS Volet Structuration minimale des documents de santé — en-tête, author/assignedAuthor/representedOrganization/id (idNat_Struct 1.2.250.1.71.4.2.2 : 1 + FINESS, 2 + SIREN, 3 + SIRET) ; FINESS, SIREN, SIRET : clé de Luhn",
        },
        applies: any_cda,
        context: "cda:author/cda:assignedAuthor/cda:representedOrganization/cda:id[@root='1.2.250.1.71.4.2.2']",
        test: Test::Native(struct_id),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.custodian.id",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "L'organisation chargée de la conservation du document (custodian) doit être identifiée.",
            hint: "Identify the custodian organisation (e.g. FINESS of the lab).",
            spec: strucmin!(
                "custodian/assignedCustodian/representedCustodianOrganization/id",
                "CI-SISCustodian"
            ),
        },
        applies: any_cda,
        context: ".",
        test: Test::XPath(
            "cda:custodian/cda:assignedCustodian/cda:representedCustodianOrganization/cda:id[@root]",
        ),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.custodian.id-format",
            layer: Layer::Banc,
            severity: Severity::Warning,
            message: "L'identifiant national de l'organisation chargée de la conservation (idNat_Struct, OID 1.2.250.1.71.4.2.2) doit être 1 + FINESS (9 caractères), 2 + SIREN (9 chiffres) ou 3 + SIRET (14 chiffres), clé de Luhn juste.",
            hint: "Write the lab's FINESS number with its type prefix: extension=\"1\" + the 9 characters of the FINESS, whose last digit is a Luhn key.",
            spec: "CI-SIS Volet Structuration minimale des documents de santé — en-tête, custodian/assignedCustodian/representedCustodianOrganization/id (idNat_Struct 1.2.250.1.71.4.2.2 : 1 + FINESS, 2 + SIREN, 3 + SIRET) ; FINESS, SIREN, SIRET : clé de Luhn",
        },
        applies: any_cda,
        context: "cda:custodian/cda:assignedCustodian/cda:representedCustodianOrganization/cda:id[@root='1.2.250.1.71.4.2.2']",
        test: Test::Native(struct_id),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.time.format",
            layer: Layer::Banc,
            // A warning: the schema and the official schematrons accept these values (the kit's own
            // Electrophorese examples carry month 20), and banc's verdict stays the reference's.
            severity: Severity::Warning,
            message: "Date et heure invalides : une valeur de type TS s'écrit AAAA[MM[JJ[hh[mm[ss[.f]]]]]][±hhmm] avec une date du calendrier et une heure qui existent.",
            hint: "Write dates as YYYYMMDDhhmmss+hhmm (local time and UTC offset); check the day against the month (e.g. no 31 April) and the order year, month, day.",
            spec: "HL7 V3 Data Types R1 (CDA R2), type TS : AAAA[MM[JJ[hh[mm[ss[.f]]]]]][±hhmm] ; kit: ASIP-STRUCT-MIN-StrucMin.sch, règles abstraites TS et IVL_TS (dtr1-2-TS, dtr1-9-IVL_TS), appliquées aux seuls éléments de l'en-tête",
        },
        applies: any_cda,
        context: ".//*[@value][self::cda:effectiveTime or self::cda:time or self::cda:birthTime or (self::cda:value and (@xsi:type='TS' or @xsi:type='IVL_TS' or substring-after(@xsi:type, ':')='TS' or substring-after(@xsi:type, ':')='IVL_TS')) or ((self::cda:low or self::cda:high or self::cda:center) and (parent::cda:effectiveTime or parent::cda:time or parent::cda:phase or parent::*[@xsi:type='IVL_TS' or substring-after(@xsi:type, ':')='IVL_TS']))]",
        test: Test::Native(time_format),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.cr-bio.document-code",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "Le type de document d'un CR-BIO doit être le code LOINC 11502-2 « CR d'examens biologiques ».",
            hint: "Use <code code=\"11502-2\" codeSystem=\"2.16.840.1.113883.6.1\" displayName=\"CR d'examens biologiques\"/>.",
            spec: crbio!(
                "en-tête, ClinicalDocument/code",
                "CI-SIS_BIO-CR-BIO_2024.01.sch, pattern Entete_CR-BIO"
            ),
        },
        applies: cr_bio,
        context: ".",
        test: Test::XPath("cda:code[@code='11502-2' and @codeSystem='2.16.840.1.113883.6.1']"),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.cr-bio.template-ihe-palm",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "Un CR-BIO structuré doit déclarer le modèle IHE PaLM « Laboratory Report » (templateId 1.3.6.1.4.1.19376.1.3.3).",
            hint: "Add <templateId root=\"1.3.6.1.4.1.19376.1.3.3\"/>.",
            spec: crbio!(
                "en-tête, ClinicalDocument/templateId 1.3.6.1.4.1.19376.1.3.3",
                "CI-SIS_BIO-CR-BIO_2024.01.sch, pattern Entete_CR-BIO"
            ),
        },
        applies: cr_bio_l3,
        context: ".",
        test: Test::XPath("cda:templateId[@root='1.3.6.1.4.1.19376.1.3.3']"),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.cr-bio.structured-body",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "Un CR-BIO structuré (niveau 3) doit avoir un corps structuré (structuredBody).",
            hint: "A level-3 report carries sections and coded entries in structuredBody.",
            spec: crbio!(
                "corps, component/structuredBody (CDA niveau 3)",
                "ASIP-STRUCT-MIN-StrucMin.sch, pattern template-1.2.250.1.213.1.1.1.1-2017-12-13T103531 (SMDS_CDAClinicalDocument : structuredBody, ou nonXMLBody avec le seul templateId 1.3.6.1.4.1.19376.1.2.20)"
            ),
        },
        applies: cr_bio_l3,
        context: ".",
        test: Test::XPath("cda:component/cda:structuredBody"),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.cr-bio.section-biologie",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "Le corps doit comporter au moins une section FR-CR-de-biologie (templateId 1.3.6.1.4.1.19376.1.3.3.2.1).",
            hint: "Put each chapter of results in a level-1 section with templateId 1.3.6.1.4.1.19376.1.3.3.2.1.",
            spec: crbio!(
                "corps, section FR-CR-de-biologie (1.3.6.1.4.1.19376.1.3.3.2.1) [1..*]",
                "CI-SIS_BIO-CR-BIO_2024.01.sch, pattern variables"
            ),
        },
        applies: cr_bio_l3,
        context: "cda:component/cda:structuredBody",
        test: Test::XPath(
            "cda:component/cda:section[cda:templateId/@root='1.3.6.1.4.1.19376.1.3.3.2.1']",
        ),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.cr-bio.section-pdf-copie",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "Le corps doit comporter la section FR-Document-PDF-copie (templateId 1.2.250.1.213.1.1.2.243) portant la copie PDF du compte rendu.",
            hint: "Add the PDF copy section with its observationMedia entry (application/pdf, B64).",
            spec: crbio!(
                "corps, section FR-Document-PDF-copie (1.2.250.1.213.1.1.2.243) [1..1]",
                "CI-SIS_BIO-CR-BIO_2024.01.sch, pattern variables"
            ),
        },
        applies: cr_bio_2024,
        context: "cda:component/cda:structuredBody",
        test: Test::XPath(
            "cda:component/cda:section[cda:templateId/@root='1.2.250.1.213.1.1.2.243']",
        ),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.cr-bio.entry-structure",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "Une entrée de section FR-CR-de-biologie doit être une entrée FR-Resultats-examens-de-biologie-medicale : entry avec le templateId 1.3.6.1.4.1.19376.1.3.1, un act, et au moins un résultat (observation 1.3.6.1.4.1.19376.1.3.1.6) dans ses entryRelationship, directement ou dans une batterie (organizer 1.3.6.1.4.1.19376.1.3.1.4).",
            hint: "Wrap the results of each entry in <act classCode=\"ACT\" moodCode=\"EVN\"> with <entryRelationship typeCode=\"COMP\"> holding the battery organizers and/or result observations.",
            spec: crbio!(
                "entrée FR-Resultats-examens-de-biologie-medicale (entry 1.3.6.1.4.1.19376.1.3.1 / act, IHE PaLM Laboratory Report Data Processing Entry) dans les sections FR-CR-de-biologie et leurs sous-sections",
                "CI-SIS_BIO-CR-BIO_2024.01.sch, pattern E_FR-Resultats-examens-de-biologie-medicale ; IHE.sch, pattern E_laboratoryReportDataProcessing_int"
            ),
        },
        applies: cr_bio_l3,
        context: "cda:component/cda:structuredBody/cda:component/cda:section[cda:templateId/@root='1.3.6.1.4.1.19376.1.3.3.2.1']//cda:entry",
        test: Test::Native(entry_structure),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.cr-bio.act-status",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "Le statut de l'act d'une entrée FR-Resultats-examens-de-biologie-medicale (statusCode) doit valoir completed, active ou aborted.",
            hint: "completed for a final report, active while results are still pending, aborted when the whole request was cancelled.",
            spec: crbio!(
                "entrée FR-Resultats-examens-de-biologie-medicale, act/statusCode",
                "CI-SIS_BIO-CR-BIO_2024.01.sch, pattern E_FR-Resultats-examens-de-biologie-medicale ; IHE.sch, pattern E_laboratoryReportDataProcessing_int"
            ),
        },
        applies: cr_bio_l3,
        context: ".//cda:entry[cda:templateId/@root='1.3.6.1.4.1.19376.1.3.1']/cda:act",
        test: Test::Native(act_status),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.cr-bio.battery-status",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "Le statut d'une batterie FR-Batterie-examens-de-biologie-medicale (statusCode) doit valoir completed, active ou aborted.",
            hint: "completed when every result of the battery is final, active while some are pending, aborted when the battery was cancelled.",
            spec: crbio!(
                "entrée FR-Batterie-examens-de-biologie-medicale (organizer 1.3.6.1.4.1.19376.1.3.1.4), statusCode",
                "CI-SIS_BIO-CR-BIO_2024.01.sch, pattern E_FR-Batterie-examens-de-biologie-medicale (IHE.sch, pattern E_laboratoryBatteryOrganizer_int, admet aussi obsolete)"
            ),
        },
        applies: cr_bio_l3,
        context: ".//cda:organizer[cda:templateId/@root='1.3.6.1.4.1.19376.1.3.1.4']",
        test: Test::Native(battery_status),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.cr-bio.result-status",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "Le statut d'un résultat (statusCode) doit valoir completed ou aborted.",
            hint: "Only final results (completed) or cancelled ones (aborted) are sent in a report.",
            spec: crbio!(
                "entrée FR-Resultat-examens-de-biologie-element-clinique-pertinent (observation 1.3.6.1.4.1.19376.1.3.1.6), statusCode",
                "CI-SIS_BIO-CR-BIO_2024.01.sch, pattern E_FR-Resultat-examens-de-biologie-element-clinique-pertinent (IHE.sch E_laboratoryObservation_int et CI-SIS_ModelesDeContenusCDA.sch E_laboratoryObservation_fr admettent aussi active et obsolete)"
            ),
        },
        applies: cr_bio_l3,
        context: ".//cda:observation[cda:templateId/@root='1.3.6.1.4.1.19376.1.3.1.6']",
        test: Test::Native(result_status),
    },
    Check {
        rule: &crate::rule! {
            id: "banc.cr-bio.n1-pdf-body",
            layer: Layer::Banc,
            severity: Severity::Error,
            message: "Un CR-BIO non structuré (niveau 1) doit porter le PDF en base 64 dans nonXMLBody/text (mediaType application/pdf, representation B64).",
            hint: "Embed the report as <text mediaType=\"application/pdf\" representation=\"B64\">.",
            spec: crbio!(
                "document non structuré (CDA niveau 1, IHE XDS-SD 1.3.6.1.4.1.19376.1.2.20), nonXMLBody/text en PDF base 64"
            ),
        },
        applies: cr_bio_n1,
        context: ".",
        test: Test::XPath(
            "cda:component/cda:nonXMLBody/cda:text[@mediaType='application/pdf' and @representation='B64']",
        ),
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

/// What is wrong with the header effectiveTime, given its `@value`; `None` when it is a timestamp
/// precise to the minute with a zone. A value that is not a timestamp at all is only quoted here:
/// `banc.time.format` says why.
pub fn header_time_problem(value: &str) -> Option<String> {
    let Ok(ts) = ts::parse(value) else {
        return Some(format!("trouvé : « {} »", quote(value)));
    };
    let mut missing = Vec::new();
    if !ts.has_minutes() {
        missing.push("heure et minutes");
    }
    if ts.zone.is_none() {
        missing.push("décalage horaire");
    }
    (!missing.is_empty()).then(|| {
        format!(
            "trouvé : « {} », il manque : {}",
            quote(value),
            missing.join(", ")
        )
    })
}

fn effective_time(cx: &Ctx<'_, '_>, node: Node<'_>) -> Option<String> {
    let v = cx
        .xpath
        .string("string(cda:effectiveTime/@value)", node)
        .unwrap_or_default();
    if v.is_empty() {
        return Some("effectiveTime absent ou sans @value".into());
    }
    header_time_problem(&v)
}

fn time_format(_: &Ctx<'_, '_>, node: Node<'_>) -> Option<String> {
    let v = node.attr("value").unwrap_or_default();
    ts::parse(&v)
        .err()
        .map(|why| format!("{} « {} » : {why}", node.local_name(), quote(&v)))
}

fn ins_format(_: &Ctx<'_, '_>, node: Node<'_>) -> Option<String> {
    let root = node.attr("root").unwrap_or_default();
    if !INS_OIDS.contains(&format!("'{root}'")) {
        return None;
    }
    let ext = node.attr("extension").unwrap_or_default();
    ins::check(&ext).err()
}

fn ps_id(_: &Ctx<'_, '_>, node: Node<'_>) -> Option<String> {
    ids::check_ps(node.attr("extension").unwrap_or_default().trim()).err()
}

fn struct_id(_: &Ctx<'_, '_>, node: Node<'_>) -> Option<String> {
    ids::check_struct(node.attr("extension").unwrap_or_default().trim()).err()
}

fn has_template(cx: &Ctx<'_, '_>, node: Node<'_>, root: &str) -> bool {
    cx.xpath
        .boolean(&format!("cda:templateId[@root='{root}']"), node)
        .unwrap_or(false)
}

fn entry_structure(cx: &Ctx<'_, '_>, entry: Node<'_>) -> Option<String> {
    let children: Vec<String> = cx
        .xpath
        .select("*[not(self::cda:templateId)]", entry)
        .unwrap_or_default()
        .iter()
        .map(|n| quote(n.local_name()))
        .collect();
    let act = cx.xpath.select("cda:act", entry).unwrap_or_default();
    let Some(&act) = act.first() else {
        return Some(if children.is_empty() {
            "l'entrée ne porte aucun élément clinique (act attendu)".to_string()
        } else {
            format!(
                "l'entrée porte <{}> au lieu d'un <act>",
                children.join(">, <")
            )
        });
    };
    if !has_template(cx, entry, ENTRY_RESULTS) {
        return Some(format!(
            "l'entrée ne déclare pas le templateId {ENTRY_RESULTS} (FR-Resultats-examens-de-biologie-medicale)"
        ));
    }
    let results = cx
        .xpath
        .boolean(
            &format!("cda:entryRelationship//cda:observation[cda:templateId/@root='{RESULT}']"),
            act,
        )
        .unwrap_or(false);
    (!results).then(|| {
        format!(
            "l'act ne contient aucun résultat (observation {RESULT}) dans ses entryRelationship"
        )
    })
}

/// `statusCode/@code` of `node` against the allowed values; the detail quotes what was found.
fn status_in(cx: &Ctx<'_, '_>, node: Node<'_>, allowed: &[&str]) -> Option<String> {
    let found = cx.xpath.select("cda:statusCode", node).unwrap_or_default();
    let code = found.first().map(|s| {
        s.attr("code")
            .or_else(|| s.attr("nullFlavor").map(|n| format!("nullFlavor {n}")))
            .unwrap_or_default()
    });
    match code {
        None => Some("statusCode absent".into()),
        Some(c) if allowed.contains(&c.as_str()) => None,
        Some(c) if c.is_empty() => Some("statusCode sans @code".into()),
        Some(c) => Some(format!("trouvé : « {} »", quote(&c))),
    }
}

fn act_status(cx: &Ctx<'_, '_>, node: Node<'_>) -> Option<String> {
    status_in(cx, node, &["completed", "active", "aborted"])
}

fn battery_status(cx: &Ctx<'_, '_>, node: Node<'_>) -> Option<String> {
    status_in(cx, node, &["completed", "active", "aborted"])
}

fn result_status(cx: &Ctx<'_, '_>, node: Node<'_>) -> Option<String> {
    status_in(cx, node, &["completed", "aborted"])
}

/// Run every rule that applies to `profile`; returns the findings and the rules that ran.
/// banc's rules on `doc`, until `deadline` (looked at before each rule and each node): the
/// findings, the rules that ran, and whether the deadline stopped them.
pub fn run(
    doc: &Loaded,
    profile: &Profile,
    deadline: &crate::clock::Deadline,
) -> (Vec<Finding>, Vec<RuleRun>, bool) {
    let xpath = Query::new(&doc.doc);
    let cx = Ctx {
        xpath: &xpath,
        profile,
    };
    let cda = doc.cda();
    let mut findings = Vec::new();
    let mut ran = Vec::new();
    for check in CHECKS.iter().filter(|c| (c.applies)(profile)) {
        if deadline.passed() {
            return (findings, ran, true);
        }
        let rule = check.rule;
        ran.push(RuleRun {
            rule: rule.id.to_string(),
            layer: Layer::Banc,
            title: rule.message.to_string(),
        });
        let nodes = match xpath.select(check.context, cda) {
            Ok(n) => n,
            Err(e) => {
                findings.push(internal(rule, &e));
                continue;
            }
        };
        let mut kept = 0usize;
        let mut dropped = 0usize;
        for node in nodes {
            if deadline.passed() {
                return (findings, ran, true);
            }
            let failure = match &check.test {
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
            findings.push(crate::finding::limit_finding(rule.id, dropped, Layer::Banc));
        }
    }
    (findings, ran, false)
}

use internal::XPATH as INTERNAL_XPATH;

/// Every rule of the document model (those of [`CHECKS`]; banc's own defects are in
/// [`internal`]).
pub fn rules() -> impl Iterator<Item = &'static Rule> {
    CHECKS.iter().map(|c| c.rule)
}

fn internal(rule: &Rule, expr: &str) -> Finding {
    Finding::new(
        INTERNAL_XPATH.id,
        INTERNAL_XPATH.severity,
        INTERNAL_XPATH.layer,
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
        let mut ids: Vec<_> = rules().map(|r| r.id).collect();
        assert!(ids.iter().all(|id| id.starts_with("banc.")));
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(n, ids.len());
    }

    #[test]
    fn every_rule_says_where_it_comes_from() {
        for r in CHECKS.iter().map(|c| c.rule) {
            assert!(r.spec.len() > 20, "{}: {}", r.id, r.spec);
            assert!(!r.message.is_empty() && !r.hint.is_empty(), "{}", r.id);
        }
        assert!(
            !rules().any(|r| r.id == "banc.cr-bio.result-code"),
            "result codes belong to the terminology layer"
        );
    }

    #[test]
    fn header_time_needs_minutes_and_zone() {
        assert_eq!(header_time_problem("20240312143000+0100"), None);
        assert_eq!(header_time_problem("20240312143000.123-0500"), None);
        assert_eq!(header_time_problem("202403121430+0100"), None);
        let e = header_time_problem("20240312143000").unwrap();
        assert!(
            e.contains("décalage horaire") && !e.contains("minutes"),
            "{e}"
        );
        let e = header_time_problem("2024031214+0100").unwrap();
        assert!(e.contains("minutes") && !e.contains("décalage"), "{e}");
        assert!(header_time_problem("20240312").unwrap().contains(", "));
        // Not a timestamp at all: quoted (banc.time.format gives the reason).
        assert_eq!(
            header_time_problem("20240312143000Z").as_deref(),
            Some("trouvé : « 20240312143000Z »")
        );
        assert!(header_time_problem("20240431143000+0100").is_some());
    }
}
