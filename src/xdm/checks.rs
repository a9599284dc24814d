//! The package's structure (Z04–Z05) and its metadata (X02–X10), against the documents it holds.

use super::metadata::{LCM_NS, Metadata, Object, RIM_NS};
use crate::cda::header::{CdaHeader, INS_OIDS};
use crate::finding::{Finding, Layer, Rule, Severity, quote};
use crate::terminology::Store;
use sha1::Digest;

/// IHE ITI TF-3 §4.2 identifiers (schemes and object types).
pub mod uuid {
    pub const DOCUMENT_ENTRY: &str = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1";
    pub const SUBMISSION_SET: &str = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd";
    pub const DE_PATIENT_ID: &str = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427";
    pub const DE_UNIQUE_ID: &str = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab";
    pub const TYPE_CODE: &str = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983";
    pub const CLASS_CODE: &str = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a";
    pub const FORMAT_CODE: &str = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d";
    pub const CONFIDENTIALITY: &str = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f";
    pub const FACILITY: &str = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1";
    pub const PRACTICE: &str = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead";
    pub const EVENT_CODE: &str = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4";
    pub const DE_AUTHOR: &str = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d";
    pub const SS_AUTHOR: &str = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d";
    pub const CONTENT_TYPE: &str = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500";
    pub const SS_PATIENT_ID: &str = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446";
    pub const SS_SOURCE_ID: &str = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832";
    pub const SS_UNIQUE_ID: &str = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8";
    pub const HAS_MEMBER: &str = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember";
}

/// formatCode of a CR-BIO (TRE_A11; ASS_A11 maps the CR-BIO templateIds to it).
pub const XD_LAB: &str = "urn:ihe:lab:xd-lab:2008";
/// templateIds that call for [`XD_LAB`] (ASS_A11).
pub const XD_LAB_TEMPLATES: [&str; 2] = ["1.2.250.1.213.1.1.1.55", "1.3.6.1.4.1.19376.1.3.3"];

/// One coded DocumentEntry classification: scheme, label, accepted coding schemes, value set
/// (file stem in the kit's jeuxDeValeurs), and the CDA source.
pub struct Coded {
    pub scheme: &'static str,
    pub label: &'static str,
    pub coding_schemes: &'static [&'static str],
    pub value_set: Option<&'static str>,
    pub source: fn(&CdaHeader) -> Option<String>,
}

pub const CODED: &[Coded] = &[
    Coded {
        scheme: uuid::TYPE_CODE,
        label: "typeCode",
        coding_schemes: &["2.16.840.1.113883.6.1"],
        value_set: Some("JDV_J07_XdsTypeCode_CISIS"),
        source: |h| h.code.as_ref().map(|c| c.code.clone()),
    },
    Coded {
        scheme: uuid::CLASS_CODE,
        label: "classCode",
        coding_schemes: &["1.2.250.1.213.1.1.4.1"],
        value_set: None,
        source: |_| None,
    },
    Coded {
        scheme: uuid::FORMAT_CODE,
        label: "formatCode",
        coding_schemes: &["1.3.6.1.4.1.19376.1.2.3"],
        value_set: None,
        source: |_| None,
    },
    Coded {
        scheme: uuid::CONFIDENTIALITY,
        label: "confidentialityCode",
        coding_schemes: &["2.16.840.1.113883.5.25", "1.2.250.1.213.1.1.4.13"],
        value_set: Some("JDV_J08_XdsConfidentialityCode_CISIS"),
        source: |h| h.confidentiality.as_ref().map(|c| c.code.clone()),
    },
    Coded {
        scheme: uuid::FACILITY,
        label: "healthcareFacilityTypeCode",
        coding_schemes: &["1.2.250.1.71.4.2.4"],
        value_set: Some("JDV_J02_XdsHealthcareFacilityTypeCode_CISIS"),
        source: |h| h.facility_type.as_ref().map(|c| c.code.clone()),
    },
    Coded {
        scheme: uuid::PRACTICE,
        label: "practiceSettingCode",
        coding_schemes: &["1.2.250.1.213.1.1.4.9"],
        value_set: Some("JDV_J04_XdsPracticeSettingCode_CISIS"),
        source: |h| h.practice_setting.as_ref().map(|c| c.code.clone()),
    },
];

const MAPPING: &str =
    "CI-SIS volet Transmission de documents CDA R2, correspondance en-tête CDA → métadonnées XDS";

pub const INDEX_HTM: &Rule = &crate::rule! {
    id: "xdm.layout.index-htm",
    layer: Layer::Xdm,
    severity: Severity::Warning,
    message: "INDEX.HTM absent à la racine du paquet.",
    hint: "IHE XDM requires INDEX.HTM (an XHTML page naming the sender and linking README.TXT) at the root.",
    spec: "MSSanté Z04 — IHE ITI TF-1 §16.1.1 (structure du support XDM)",
};
pub const README_TXT: &Rule = &crate::rule! {
    id: "xdm.layout.readme-txt",
    layer: Layer::Xdm,
    severity: Severity::Warning,
    message: "README.TXT absent à la racine du paquet.",
    hint: "IHE XDM requires README.TXT (sender, software and vendor, instructions) at the root.",
    spec: "MSSanté Z04 — IHE ITI TF-1 §16.1.1",
};
pub const METADATA_MISSING: &Rule = &crate::rule! {
    id: "xdm.layout.metadata-missing",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "Aucun fichier IHE_XDM/<SUBSET>/METADATA.XML : le destinataire ne peut identifier ni le patient ni les documents.",
    hint: "Put the ebRIM metadata in IHE_XDM/SUBSET01/METADATA.XML beside the documents.",
    spec: "MSSanté Z04 — IHE ITI TF-1 §16.1.1 ; IG LPS (la PFI vérifie la présence des métadonnées)",
};
pub const NAME_CASE: &Rule = &crate::rule! {
    id: "xdm.layout.name-case",
    layer: Layer::Xdm,
    severity: Severity::Info,
    message: "Nom de fichier hors convention ISO 9660 (majuscules, 8.3) :",
    hint: "XDM file names are upper-case 8.3 (DOC0001.XML); receivers match them case-insensitively.",
    spec: "MSSanté §2 (structure de l'archive) — IHE ITI TF-1 §16.1.1",
};
pub const OUTSIDE: &Rule = &crate::rule! {
    id: "xdm.layout.outside",
    layer: Layer::Xdm,
    severity: Severity::Warning,
    message: "Fichier hors de la structure XDM (ni à la racine ni sous IHE_XDM/<SUBSET>/) :",
    hint: "Only INDEX.HTM, README.TXT and IHE_XDM/SUBSETnn/ belong in the package.",
    spec: "MSSanté Z04 — IHE ITI TF-1 §16.1.1",
};
pub const URI_MISSING: &Rule = &crate::rule! {
    id: "xdm.layout.uri-missing",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "Le document annoncé par le slot URI d'une fiche DocumentEntry est absent du SUBSET :",
    hint: "The URI slot names the document's file, relative to its SUBSET folder (e.g. DOC0001.XML).",
    spec: "MSSanté Z05 — IHE ITI TF-3 §4.2.3.2.23 (URI), ITI-32",
};
pub const UNREFERENCED: &Rule = &crate::rule! {
    id: "xdm.layout.unreferenced",
    layer: Layer::Xdm,
    severity: Severity::Warning,
    message: "Fichier du SUBSET qu'aucune fiche DocumentEntry ne référence : il ne sera pas intégré.",
    hint: "Describe every document in METADATA.XML, or leave it out of the package.",
    spec: "MSSanté Z05 — IHE ITI-32",
};
pub const ROOT: &Rule = &crate::rule! {
    id: "xdm.metadata.root",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "METADATA.XML n'a pas pour racine lcm:SubmitObjectsRequest (ebRIM 3.0) contenant rim:RegistryObjectList :",
    hint: "Root: SubmitObjectsRequest in urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0, then RegistryObjectList in ...:rim:3.0.",
    spec: "MSSanté X02 — IHE ITI TF-3 §4.1 (ebRIM 3.0)",
};
pub const SUBMISSION_SET: &Rule = &crate::rule! {
    id: "xdm.metadata.submission-set",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "METADATA.XML doit décrire exactement un lot de soumission (RegistryPackage classé SubmissionSet) :",
    hint: "Declare one RegistryPackage and a Classification with classificationNode urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd.",
    spec: "MSSanté X02 — IHE ITI TF-3 §4.1.9",
};
pub const HAS_MEMBER: &Rule = &crate::rule! {
    id: "xdm.metadata.has-member",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "Fiche DocumentEntry sans association HasMember depuis le lot de soumission :",
    hint: "Link the SubmissionSet to each DocumentEntry with an Association of type HasMember (slot SubmissionSetStatus=Original).",
    spec: "MSSanté X02 — IHE ITI TF-3 §4.2.2",
};
pub const NO_DOCUMENT: &Rule = &crate::rule! {
    id: "xdm.metadata.no-document",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "METADATA.XML ne décrit aucun document (ExtrinsicObject de type DocumentEntry).",
    hint: "Describe the CDA with an ExtrinsicObject of objectType urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1.",
    spec: "MSSanté X02 — IHE ITI TF-3 §4.1.5",
};
pub const REQUIRED: &Rule = &crate::rule! {
    id: "xdm.metadata.required",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "Métadonnée obligatoire absente :",
    hint: "See the DocumentEntry/SubmissionSet table of the CI-SIS mapping: every listed slot, classification and identifier is required.",
    spec: "MSSanté X03 — IHE ITI TF-3 §4.3 (option XDM), CI-SIS volet Transmission (correspondance)",
};
pub const CODE_SCHEME: &Rule = &crate::rule! {
    id: "xdm.metadata.code-scheme",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "Système de codes (slot codingScheme) inattendu pour une métadonnée codée :",
    hint: "Each XDS code carries the OID of its code system in the codingScheme slot (e.g. 2.16.840.1.113883.6.1 for LOINC typeCode).",
    spec: "MSSanté X04 — CI-SIS jeux de valeurs J02, J04, J06/J57, J07, J08, J10 ; IG PDSm",
};
pub const CODE_VALUE: &Rule = &crate::rule! {
    id: "xdm.metadata.code-value",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "Code absent de son jeu de valeurs :",
    hint: "Use a code of the CI-SIS value set named in the message (kit jeuxDeValeurs/).",
    spec: "MSSanté X04 — CI-SIS jeux de valeurs J02, J04, J07, J08",
};
pub const FORMAT_CODE: &Rule = &crate::rule! {
    id: "xdm.metadata.format-code",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "formatCode inattendu pour un CR-BIO :",
    hint: "A CR-BIO (templateId 1.2.250.1.213.1.1.1.55) has formatCode urn:ihe:lab:xd-lab:2008 (scheme 1.3.6.1.4.1.19376.1.2.3).",
    spec: "MSSanté X05 — ANS ASS_A11 (modèle CDA → formatCode) v5.0.0",
};
pub const HASH: &Rule = &crate::rule! {
    id: "xdm.metadata.hash",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "Le slot hash ne correspond pas au SHA-1 du fichier :",
    hint: "hash is the SHA-1 of the document's bytes, in hexadecimal.",
    spec: "MSSanté X06 — IHE ITI TF-3 §4.2.3.2.4 (hash), option XDM",
};
pub const SIZE: &Rule = &crate::rule! {
    id: "xdm.metadata.size",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "Le slot size ne correspond pas à la taille du fichier :",
    hint: "size is the document's length in bytes.",
    spec: "MSSanté X06 — IHE ITI TF-3 §4.2.3.2.19 (size)",
};
pub const PATIENT_ID_FORMAT: &Rule = &crate::rule! {
    id: "xdm.metadata.patient-id-format",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "patientId n'a pas la forme CX attendue pour un INS (<matricule>^^^&<OID INS>&ISO^NH) :",
    hint: "Write the INS as e.g. 279035121518989^^^&1.2.250.1.213.1.4.8&ISO^NH.",
    spec: "MSSanté X07 — IG PDLGC xdmPatientId ; IHE ITI TF-3 §4.2.3.2.16",
};
pub const PATIENT_ID_SUBMISSION: &Rule = &crate::rule! {
    id: "xdm.metadata.patient-id-submission",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "Le patientId du lot de soumission diffère de celui de la fiche DocumentEntry :",
    hint: "The SubmissionSet and its DocumentEntries are about one patient: same patientId.",
    spec: "MSSanté X08 — IHE ITI TF-3 §4.1.4",
};
pub const SEVERAL_PATIENTS: &Rule = &crate::rule! {
    id: "xdm.metadata.several-patients",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "Le paquet concerne plusieurs patients :",
    hint: "One patient per message and per package: send one message per patient.",
    spec: "MSSanté M08 — Référentiel #2 ECO.2.1.1 (cité de seconde main)",
};
pub const DUPLICATE_UNIQUE_ID: &Rule = &crate::rule! {
    id: "xdm.metadata.duplicate-unique-id",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "Deux fiches DocumentEntry portent le même uniqueId :",
    hint: "Every document has its own uniqueId (ClinicalDocument/id).",
    spec: "IHE ITI TF-3 §4.2.3.2.26 (uniqueId)",
};
pub const CDA_PATIENT_ID: &Rule = &crate::rule! {
    id: "xdm.metadata.cda-patient-id",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "Le patientId des métadonnées n'est pas l'INS du document (recordTarget/patientRole/id) :",
    hint: "patientId must carry the INS of the CDA's recordTarget: the receiver files the document by it (error 904 otherwise).",
    spec: "MSSanté X09 — Référentiel #2 ECO.2.1.2 ; CI-SIS correspondance (recordTarget/patientRole/id)",
};
pub const CDA_UNIQUE_ID: &Rule = &crate::rule! {
    id: "xdm.metadata.cda-unique-id",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "uniqueId ne correspond pas à l'identifiant du document (ClinicalDocument/id) :",
    hint: "uniqueId is ClinicalDocument/id: root^extension, or root alone.",
    spec: MAPPING,
};
pub const CDA_FIELD: &Rule = &crate::rule! {
    id: "xdm.metadata.cda-mismatch",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "Métadonnée différente de sa source dans l'en-tête CDA :",
    hint: "Generate the metadata from the CDA header (CI-SIS mapping); they must agree.",
    spec: MAPPING,
};
pub const CDA_FIELD_WARN: &Rule = &crate::rule! {
    id: "xdm.metadata.cda-mismatch-minor",
    layer: Layer::Xdm,
    severity: Severity::Warning,
    message: "Métadonnée descriptive différente de sa source dans l'en-tête CDA :",
    hint: "title, languageCode and service times come from the CDA header (CI-SIS mapping).",
    spec: MAPPING,
};
pub const SUBMISSION_OID: &Rule = &crate::rule! {
    id: "xdm.metadata.submission-oid",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "Identifiant du lot de soumission (uniqueId ou sourceId) absent ou qui n'est pas un OID :",
    hint: "SubmissionSet uniqueId and sourceId are OIDs (digits and dots, e.g. 2.25.<uuid as integer>).",
    spec: "MSSanté X10 — IG PDLGC xdm-submission-set ; IHE ITI TF-3 §4.2.3.3",
};
pub const SUBMISSION_TIME: &Rule = &crate::rule! {
    id: "xdm.metadata.submission-time",
    layer: Layer::Xdm,
    severity: Severity::Error,
    message: "submissionTime absent ou mal formé (AAAAMMJJ[hhmm[ss]], UTC) :",
    hint: "Give the SubmissionSet a submissionTime slot in UTC, e.g. 20261122143000.",
    spec: "MSSanté X10 — IHE ITI TF-3 §4.2.3.3.11",
};
pub const MIME_TYPE: &Rule = &crate::rule! {
    id: "xdm.metadata.mime-type",
    layer: Layer::Xdm,
    severity: Severity::Warning,
    message: "mimeType de la fiche DocumentEntry autre que text/xml pour un CDA :",
    hint: "A CDA is described with mimeType text/xml (application/xml trips some receivers, cf. ETT case 29).",
    spec: "IHE ITI TF-3 §4.2.3.2.13 ; ETT cas 29 ; ouvert : application/xslt+xml pour un CDA auto-présentable (mssante-xdm.md §7)",
};

/// Every rule of this file.
pub const RULES: &[&Rule] = &[
    INDEX_HTM,
    README_TXT,
    METADATA_MISSING,
    NAME_CASE,
    OUTSIDE,
    URI_MISSING,
    UNREFERENCED,
    ROOT,
    SUBMISSION_SET,
    HAS_MEMBER,
    NO_DOCUMENT,
    REQUIRED,
    CODE_SCHEME,
    CODE_VALUE,
    FORMAT_CODE,
    HASH,
    SIZE,
    PATIENT_ID_FORMAT,
    PATIENT_ID_SUBMISSION,
    SEVERAL_PATIENTS,
    DUPLICATE_UNIQUE_ID,
    CDA_PATIENT_ID,
    CDA_UNIQUE_ID,
    CDA_FIELD,
    CDA_FIELD_WARN,
    SUBMISSION_OID,
    SUBMISSION_TIME,
    MIME_TYPE,
];

/// Upper-case 8.3 (ISO 9660 level 1).
pub fn is_8_3(name: &str) -> bool {
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    let ok = |s: &str, max| {
        s.len() <= max
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    };
    !stem.is_empty() && ok(stem, 8) && ok(ext, 3)
}

pub fn is_oid(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|arc| {
            !arc.is_empty()
                && arc.bytes().all(|b| b.is_ascii_digit())
                && (arc == "0" || !arc.starts_with('0'))
        })
}

/// `AAAAMMJJ[hh[mm[ss]]]`, digits only (XDS DTM in UTC), and a real instant: no month 13, no
/// 31 April, no 25 o'clock.
fn is_dtm(s: &str) -> bool {
    matches!(s.len(), 4 | 6 | 8 | 10 | 12 | 14)
        && s.bytes().all(|b| b.is_ascii_digit())
        && crate::cda::ts::parse(s).is_ok()
}

/// An HL7 TS with its zone, in UTC as XDS writes it (`AAAAMMJJhhmmss`, as precise as the
/// source). A TS without zone is returned as is (its zone is unknown).
pub fn ts_to_utc(ts: &str) -> Option<String> {
    let t = crate::cda::ts::parse(ts).ok()?;
    let digits = ts.get(..t.digits)?;
    let Some(zone) = t.zone else {
        return Some(digits.to_string());
    };
    if t.digits < 10 {
        return Some(digits.to_string());
    }
    let n = |a: usize, b: usize| digits.get(a..b).and_then(|s| s.parse::<i64>().ok());
    let (y, mo, d, h) = (n(0, 4)?, n(4, 6)?, n(6, 8)?, n(8, 10)?);
    let mi = n(10, 12).unwrap_or(0);
    let month = time::Month::try_from(u8::try_from(mo).ok()?).ok()?;
    let local =
        time::Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?)
            .ok()?
            .with_hms(u8::try_from(h).ok()?, u8::try_from(mi).ok()?, 0)
            .ok()?;
    let utc = local.checked_sub(time::Duration::minutes(i64::from(zone)))?;
    let full = format!(
        "{:04}{:02}{:02}{:02}{:02}{}",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        digits.get(12..14).unwrap_or("00")
    );
    full.get(..t.digits).map(str::to_string)
}

/// A DocumentEntry with the document its URI names.
pub struct Entry<'a> {
    pub object: &'a Object,
    /// The document's bytes and header, when the URI resolved.
    pub document: Option<(&'a [u8], Option<&'a CdaHeader>)>,
}

fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(bytes))
}

fn required(o: &Object, what: &str, out: &mut Vec<Finding>) {
    out.push(
        REQUIRED
            .finding(format!("{what} ({} « {} »).", o.kind, quote(&o.id)))
            .at(o.location(o.line)),
    );
}

/// The CX of a patientId: (id, assigning authority OID, type code).
fn cx(value: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = value.split('^').collect();
    if parts.len() < 4 {
        return None;
    }
    let auth: Vec<&str> = parts[3].split('&').collect();
    if auth.len() != 3 || auth[2] != "ISO" || !auth[0].is_empty() {
        return None;
    }
    Some((parts[0], auth[1], parts.get(4).copied().unwrap_or("")))
}

/// X02–X10 on parsed metadata. `entries` are the DocumentEntries with their files (Z05 done by
/// the caller).
pub fn metadata(
    md: &Metadata,
    entries: &[Entry<'_>],
    store: Option<&Store>,
    out: &mut Vec<Finding>,
) {
    if md.root != (LCM_NS.to_string(), "SubmitObjectsRequest".to_string()) || !md.has_object_list {
        out.push(ROOT.finding(format!(
            "racine « {} » dans « {} ».",
            quote(&md.root.1),
            quote(if md.root.0.is_empty() {
                "aucun espace de noms"
            } else {
                &md.root.0
            })
        )));
        if md.root.0 != LCM_NS && md.root.0 != RIM_NS {
            return;
        }
    }
    // The SubmissionSet: a RegistryPackage classified by the SubmissionSet node.
    let marked = |o: &Object| {
        o.classifications
            .iter()
            .chain(&md.classifications)
            .any(|c| {
                c.node == uuid::SUBMISSION_SET
                    && (c.classified_object == o.id || c.classified_object.is_empty())
            })
    };
    let sets: Vec<&Object> = md
        .objects
        .iter()
        .filter(|o| o.kind == "RegistryPackage" && marked(o))
        .collect();
    if sets.len() != 1 {
        out.push(SUBMISSION_SET.finding(format!("{} trouvé(s).", sets.len())));
    }
    let ss = sets.first().copied();
    if entries.is_empty() {
        out.push(NO_DOCUMENT.finding(""));
    }
    if let Some(ss) = ss {
        submission_set(ss, out);
        for e in entries {
            let linked = md.associations.iter().any(|a| {
                a.kind == uuid::HAS_MEMBER && a.source == ss.id && a.target == e.object.id
            });
            if !linked {
                out.push(
                    HAS_MEMBER
                        .finding(format!("« {} ».", quote(&e.object.id)))
                        .at(e.object.location(e.object.line)),
                );
            }
        }
    }
    let mut patients: Vec<&str> = Vec::new();
    let mut unique_ids: Vec<&str> = Vec::new();
    for e in entries {
        let o = e.object;
        document_entry(e, store, out);
        if let Some(p) = o.external_id(uuid::DE_PATIENT_ID) {
            if !patients.contains(&p.value.as_str()) {
                patients.push(&p.value);
            }
            if let Some(ss_pid) = ss.and_then(|s| s.external_id(uuid::SS_PATIENT_ID))
                && ss_pid.value != p.value
            {
                out.push(
                    PATIENT_ID_SUBMISSION
                        .finding(format!(
                            "« {} » / « {} ».",
                            quote(&ss_pid.value),
                            quote(&p.value)
                        ))
                        .at(o.location(p.line)),
                );
            }
        }
        if let Some(u) = o.external_id(uuid::DE_UNIQUE_ID) {
            if unique_ids.contains(&u.value.as_str()) {
                out.push(
                    DUPLICATE_UNIQUE_ID
                        .finding(format!("« {} ».", quote(&u.value)))
                        .at(o.location(u.line)),
                );
            }
            unique_ids.push(&u.value);
        }
    }
    if patients.len() > 1 {
        let shown: Vec<String> = patients.iter().take(10).map(quote).collect();
        let more = match patients.len().saturating_sub(shown.len()) {
            0 => String::new(),
            n => format!(" ; et {n} autres"),
        };
        out.push(SEVERAL_PATIENTS.finding(format!("{}{more}.", shown.join(" ; "))));
    }
}

fn submission_set(ss: &Object, out: &mut Vec<Finding>) {
    for (scheme, what) in [
        (uuid::SS_UNIQUE_ID, "uniqueId"),
        (uuid::SS_SOURCE_ID, "sourceId"),
    ] {
        match ss.external_id(scheme) {
            Some(x) if is_oid(&x.value) => {}
            Some(x) => out.push(
                SUBMISSION_OID
                    .finding(format!("{what} « {} ».", quote(&x.value)))
                    .at(ss.location(x.line)),
            ),
            None => out.push(
                SUBMISSION_OID
                    .finding(format!("{what} absent."))
                    .at(ss.location(ss.line)),
            ),
        }
    }
    match ss.slot_value("submissionTime") {
        Some(t) if is_dtm(t) => {}
        Some(t) => out.push(
            SUBMISSION_TIME
                .finding(format!("« {} ».", quote(t)))
                .at(ss.location(ss.line)),
        ),
        None => out.push(SUBMISSION_TIME.finding("absent.").at(ss.location(ss.line))),
    }
    if ss.external_id(uuid::SS_PATIENT_ID).is_none() {
        required(ss, "patientId du lot de soumission", out);
    }
    if ss.classification(uuid::CONTENT_TYPE).is_none() {
        required(ss, "contentTypeCode du lot de soumission", out);
    }
}

fn document_entry(e: &Entry<'_>, store: Option<&Store>, out: &mut Vec<Finding>) {
    let o = e.object;
    let header = e.document.and_then(|(_, h)| h);
    match o.mime_type.as_deref() {
        None => required(o, "attribut mimeType", out),
        Some("text/xml") => {}
        Some(m) => out.push(
            MIME_TYPE
                .finding(format!("« {} ».", quote(m)))
                .at(o.location(o.line)),
        ),
    }
    for slot in [
        "creationTime",
        "languageCode",
        "sourcePatientId",
        "hash",
        "size",
        "URI",
    ] {
        if o.slot(slot)
            .is_none_or(|s| s.values.iter().all(String::is_empty))
        {
            required(o, &format!("slot {slot}"), out);
        }
    }
    if o.classification(uuid::DE_AUTHOR).is_none() {
        required(o, "auteur (classification author)", out);
    }
    for x in [
        (uuid::DE_PATIENT_ID, "patientId"),
        (uuid::DE_UNIQUE_ID, "uniqueId"),
    ] {
        if o.external_id(x.0).is_none() {
            required(o, x.1, out);
        }
    }
    // Coded metadata: presence, coding scheme, value set, CDA source.
    for c in CODED {
        let Some(cl) = o.classification(c.scheme) else {
            required(o, &format!("classification {}", c.label), out);
            continue;
        };
        let scheme = cl.coding_scheme.as_deref().unwrap_or("");
        if !c.coding_schemes.contains(&scheme) {
            out.push(
                CODE_SCHEME
                    .finding(format!(
                        "{} « {} » dans « {} » (attendu : {}).",
                        c.label,
                        quote(&cl.code),
                        quote(scheme),
                        c.coding_schemes.join(" ou ")
                    ))
                    .at(o.location(cl.line)),
            );
        } else if let Some(vs) = c.value_set.and_then(|id| store?.value_set(id))
            && vs.get(scheme, &cl.code).is_none()
            && vs.get_code(&cl.code).is_none()
        {
            out.push(
                CODE_VALUE
                    .finding(format!(
                        "{} « {} » n'est pas dans {} ({}).",
                        c.label,
                        quote(&cl.code),
                        vs.name,
                        vs.id
                    ))
                    .at(o.location(cl.line)),
            );
        }
        if let Some(want) = header.and_then(|h| (c.source)(h))
            && want != cl.code
        {
            out.push(
                CDA_FIELD
                    .finding(format!(
                        "{} « {} », le document dit « {} ».",
                        c.label,
                        quote(&cl.code),
                        quote(&want)
                    ))
                    .at(o.location(cl.line)),
            );
        }
    }
    if let Some(h) = header {
        let lab = XD_LAB_TEMPLATES.iter().any(|t| h.has_template(t));
        if let Some(f) = o.classification(uuid::FORMAT_CODE)
            && lab
            && f.code != XD_LAB
        {
            out.push(
                FORMAT_CODE
                    .finding(format!("« {} » (attendu : {XD_LAB}).", quote(&f.code)))
                    .at(o.location(f.line)),
            );
        }
        cda_cross_checks(o, h, out);
    }
    if let Some((bytes, _)) = e.document {
        if let Some(hash) = o.slot_value("hash") {
            let real = sha1_hex(bytes);
            if !hash.eq_ignore_ascii_case(&real) {
                out.push(
                    HASH.finding(format!("« {} », le fichier a « {real} ».", quote(hash)))
                        .at(o.location(o.line)),
                );
            }
        }
        if let Some(size) = o.slot_value("size")
            && size.parse::<usize>().ok() != Some(bytes.len())
        {
            out.push(
                SIZE.finding(format!(
                    "« {} », le fichier fait {} octets.",
                    quote(size),
                    bytes.len()
                ))
                .at(o.location(o.line)),
            );
        }
    }
}

/// X07 and X09: identifiers and descriptive metadata against the CDA header.
fn cda_cross_checks(o: &Object, h: &CdaHeader, out: &mut Vec<Finding>) {
    if let Some(pid) = o.external_id(uuid::DE_PATIENT_ID) {
        match cx(&pid.value) {
            Some((id, oid, kind)) if INS_OIDS.contains(&oid) && kind == "NH" => {
                let ins = h.patient.ins.as_ref();
                let same = ins.is_some_and(|i| i.extension.as_deref() == Some(id) && i.root == oid);
                if !same {
                    out.push(
                        CDA_PATIENT_ID
                            .finding(format!(
                                "« {} », le document porte {}.",
                                quote(&pid.value),
                                ins.map(|i| format!(
                                    "l'INS {}^^^&{}&ISO^NH",
                                    quote(i.extension.as_deref().unwrap_or("")),
                                    quote(&i.root)
                                ))
                                .unwrap_or_else(|| "aucun INS".into())
                            ))
                            .at(o.location(pid.line)),
                    );
                }
            }
            _ => out.push(
                PATIENT_ID_FORMAT
                    .finding(format!(
                        "« {} » (OID INS admis : {}).",
                        quote(&pid.value),
                        INS_OIDS.join(", ")
                    ))
                    .at(o.location(pid.line)),
            ),
        }
    }
    if let (Some(u), Some(id)) = (o.external_id(uuid::DE_UNIQUE_ID), h.id.as_ref())
        && u.value != id.xds()
    {
        out.push(
            CDA_UNIQUE_ID
                .finding(format!(
                    "« {} », le document a « {} ».",
                    quote(&u.value),
                    quote(id.xds())
                ))
                .at(o.location(u.line)),
        );
    }
    let mut differs = |rule: &Rule, what: &str, got: Option<&str>, want: Option<String>| {
        if let (Some(got), Some(want)) = (got, want)
            && !same_time_or_text(got, &want)
        {
            out.push(
                rule.finding(format!(
                    "{what} « {} », le document dit « {} ».",
                    quote(got),
                    quote(&want)
                ))
                .at(o.location(o.line)),
            );
        }
    };
    differs(
        CDA_FIELD,
        "creationTime",
        o.slot_value("creationTime"),
        h.effective_time.as_deref().and_then(ts_to_utc),
    );
    differs(
        CDA_FIELD_WARN,
        "serviceStartTime",
        o.slot_value("serviceStartTime"),
        h.service_start.as_deref().and_then(ts_to_utc),
    );
    differs(
        CDA_FIELD_WARN,
        "serviceStopTime",
        o.slot_value("serviceStopTime"),
        h.service_stop.as_deref().and_then(ts_to_utc),
    );
    differs(CDA_FIELD_WARN, "title", o.name.as_deref(), h.title.clone());
    differs(
        CDA_FIELD_WARN,
        "languageCode",
        o.slot_value("languageCode"),
        h.language.clone(),
    );
}

/// Equal, or timestamps equal at the precision of the shorter (XDS may drop trailing fields).
fn same_time_or_text(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let digits = |s: &str| s.len() >= 8 && s.bytes().all(|c| c.is_ascii_digit());
    if digits(a) && digits(b) {
        // Equal on the shorter length: the shorter is a prefix of the longer.
        return a.starts_with(b) || b.starts_with(a);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_conversion_crosses_days() {
        assert_eq!(ts_to_utc("20261122093000+0100").unwrap(), "20261122083000");
        assert_eq!(ts_to_utc("20260101003000+0200").unwrap(), "20251231223000");
        assert_eq!(ts_to_utc("202611220930+0100").unwrap(), "202611220830");
        assert_eq!(ts_to_utc("20261122").unwrap(), "20261122");
        // Back over a leap day, and over a year's end the other way.
        assert_eq!(ts_to_utc("20240301003000+0100").unwrap(), "20240229233000");
        assert_eq!(ts_to_utc("20251231230000-0200").unwrap(), "20260101010000");
        assert_eq!(ts_to_utc("2026112é+0100"), None);
    }

    #[test]
    fn times_compare_at_the_shorter_precision() {
        assert!(same_time_or_text("20261122083000", "202611220830"));
        assert!(same_time_or_text("202611220830", "20261122083000"));
        assert!(!same_time_or_text("20261122083000", "202611220831"));
        assert!(!same_time_or_text("2026112é", "20261122"));
        assert!(same_time_or_text("é", "é"));
    }

    #[test]
    fn oids_names_and_cx() {
        assert!(is_oid("1.2.250.1.213.1.4.8") && !is_oid("1..2") && !is_oid("1.02") && !is_oid(""));
        assert!(is_8_3("DOC0001.XML") && !is_8_3("doc0001.xml") && !is_8_3("DOCUMENT01.XML"));
        assert_eq!(
            cx("279035121518989^^^&1.2.250.1.213.1.4.8&ISO^NH"),
            Some(("279035121518989", "1.2.250.1.213.1.4.8", "NH"))
        );
        assert_eq!(cx("279035121518989"), None);
    }
}
