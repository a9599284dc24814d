//! Profiles: which rules apply to one document model, and how a document's model is detected
//! from its header templateIds. Rules `banc.profile.*`.

use crate::finding::{Finding, Layer, Location, Rule, Severity, quote};
use crate::xml::{Loaded, ffi::XPath};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// Any CDA R2 document (no volet recognised).
    Cda,
    /// CR-BIO, structured (level 3).
    CrBio,
    /// CR-BIO as a CDA level-1 document (PDF in nonXMLBody).
    CrBioN1,
    BioTrod,
    Ldl,
}

/// The six official schematrons of the kit (issue "schematron" runs them), in the kit's order.
const GENERIC_SCH: [&str; 5] = [
    "schematrons/profils/IHE.sch",
    "schematrons/profils/terminologies/schematron/terminologie.sch",
    "schematrons/profils/CI-SIS_ModelesDeContenusCDA.sch",
    "schematrons/profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
    "schematrons/profils/CI-SIS_Modeles_ANS.sch",
];

#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub id: &'static str,
    pub title: &'static str,
    pub family: Family,
    /// The kit's volet name (`BIO-CR-BIO_2024.01`), when the model has one.
    pub volet: Option<&'static str>,
    /// The model's header templateId root and extension.
    pub template_root: Option<&'static str>,
    pub template_extension: Option<&'static str>,
    /// Kit-relative schematrons that apply, in the kit's order.
    pub schematrons: Vec<&'static str>,
}

/// Schematrons whose results the reference records but does not count in the verdict
/// (terminologie: the kit lacks several terminology files); banc caps their findings at warning.
pub const UNCOUNTED_SCH: &[&str] = &[GENERIC_SCH[1]];

fn level3(
    id: &'static str,
    title: &'static str,
    family: Family,
    volet: &'static str,
    root: &'static str,
    ext: Option<&'static str>,
    volet_sch: &'static str,
) -> Profile {
    let mut schematrons = GENERIC_SCH.to_vec();
    schematrons.push(volet_sch);
    Profile {
        id,
        title,
        family,
        volet: Some(volet),
        template_root: Some(root),
        template_extension: ext,
        schematrons,
    }
}

pub const CR_BIO_TEMPLATE: &str = "1.2.250.1.213.1.1.1.55";
/// IHE XDS-SD: the templateId of a scanned/PDF (level-1) document.
const XDS_SD_TEMPLATE: &str = "1.3.6.1.4.1.19376.1.2.20";

/// Every profile banc knows, newest first within a model.
pub fn all() -> Vec<Profile> {
    vec![
        level3(
            "cr-bio-2024.01",
            "Compte rendu d'examens de biologie médicale (CR-BIO) 2024.01",
            Family::CrBio,
            "BIO-CR-BIO_2024.01",
            CR_BIO_TEMPLATE,
            Some("2024.01"),
            "schematrons/CI-SIS_BIO-CR-BIO_2024.01.sch",
        ),
        level3(
            "cr-bio-2023.01",
            "Compte rendu d'examens de biologie médicale (CR-BIO) 2023.01",
            Family::CrBio,
            "BIO-CR-BIO_2023.01",
            CR_BIO_TEMPLATE,
            Some("2023.01"),
            "schematrons/CI-SIS_BIO-CR-BIO_2023.01.sch",
        ),
        level3(
            "cr-bio-2021.01",
            "Compte rendu d'examens de biologie médicale (CR-BIO) 2021.01",
            Family::CrBio,
            "BIO-CR-BIO_2021.01",
            CR_BIO_TEMPLATE,
            None,
            "schematrons/CI-SIS_BIO-CR-BIO_2021.01.sch",
        ),
        Profile {
            id: "cr-bio-n1",
            title: "CR-BIO non structuré (CDA R2 niveau 1, PDF)",
            family: Family::CrBioN1,
            volet: Some("BIO-CR-BIO_2021.01"),
            template_root: None,
            template_extension: None,
            schematrons: vec![GENERIC_SCH[1], GENERIC_SCH[3]],
        },
        level3(
            "bio-trod-2024.01",
            "Test rapide d'orientation diagnostique (BIO-TROD) 2024.01",
            Family::BioTrod,
            "BIO-TROD_2024.01",
            "1.2.250.1.213.1.1.1.59",
            Some("2024.01"),
            "schematrons/CI-SIS_BIO-TROD_2024.01.sch",
        ),
        level3(
            "ldl-ees-2022.01",
            "Lettre de liaison à l'entrée en établissement de santé (LDL-EES) 2022.01",
            Family::Ldl,
            "LDL-EES_2022.01",
            "1.2.250.1.213.1.1.1.21",
            Some("2022.01"),
            "schematrons/CI-SIS_LDL-EES_2022.01.sch",
        ),
        level3(
            "ldl-ses-2022.01",
            "Lettre de liaison à la sortie d'un établissement de santé (LDL-SES) 2022.01",
            Family::Ldl,
            "LDL-SES_2022.01",
            "1.2.250.1.213.1.1.1.29",
            Some("2022.01"),
            "schematrons/CI-SIS_LDL-SES_2022.01.sch",
        ),
        Profile {
            id: "cda",
            title: "Document CDA R2 (modèle non reconnu : schéma et en-tête seulement)",
            family: Family::Cda,
            volet: None,
            template_root: None,
            template_extension: None,
            schematrons: vec![GENERIC_SCH[1], GENERIC_SCH[3]],
        },
    ]
}

pub fn by_id(id: &str) -> Option<Profile> {
    all().into_iter().find(|p| p.id == id)
}

/// The profile detection's own findings (`banc.profile.*`): declared here, below `banc`, since
/// detection runs before any layer of checks.
pub const UNKNOWN_VERSION: &Rule = &crate::rule! {
    id: "banc.profile.unknown-version",
    layer: Layer::Banc,
    severity: Severity::Warning,
    message: "Version du modèle inconnue de banc : le document est vérifié selon la version la plus récente.",
    hint: "",
    spec: "",
};
pub const GENERIC: &Rule = &crate::rule! {
    id: "banc.profile.generic",
    layer: Layer::Banc,
    severity: Severity::Info,
    message: "Aucun modèle de document connu dans les templateId de l'en-tête : seuls le schéma CDA et les règles d'en-tête communes s'appliquent.",
    hint: "",
    spec: "",
};
pub const NO_VERSION: &Rule = &crate::rule! {
    id: "banc.profile.no-version",
    layer: Layer::Banc,
    severity: Severity::Info,
    message: "Le templateId du modèle n'a pas d'attribut extension (version du volet).",
    hint: "",
    spec: "",
};
pub const MISMATCH: &Rule = &crate::rule! {
    id: "banc.profile.mismatch",
    layer: Layer::Banc,
    severity: Severity::Warning,
    message: "Profil imposé alors que les templateId du document indiquent un autre modèle.",
    hint: "",
    spec: "",
};

/// Every `banc.profile.*` rule.
pub static RULES: &[&Rule] = &[UNKNOWN_VERSION, GENERIC, NO_VERSION, MISMATCH];

fn profile_finding(rule: &Rule, msg: String, loc: Location) -> Finding {
    Finding::new(rule.id, rule.severity, rule.layer, msg).at(loc)
}

/// Detect the document model from the header templateIds (and, for level 1, the body).
pub fn detect(doc: &Loaded, out: &mut Vec<Finding>) -> Profile {
    let xp = XPath::new(&doc.doc);
    let cda = doc.cda();
    let profiles = all();
    let templates: Vec<(String, Option<String>)> = xp
        .select("cda:templateId", cda)
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.attr("root").unwrap_or_default(), t.attr("extension")))
        .collect();
    for (root, ext) in &templates {
        let candidates: Vec<&Profile> = profiles
            .iter()
            .filter(|p| p.template_root == Some(root.as_str()))
            .collect();
        if candidates.is_empty() {
            continue;
        }
        if let Some(p) = candidates
            .iter()
            .find(|p| ext.is_some() && p.template_extension.map(str::to_string) == *ext)
        {
            return (*p).clone();
        }
        if ext.is_none() {
            return without_version(doc, &xp, &candidates, out);
        }
        let newest = candidates[0];
        out.push(profile_finding(
            UNKNOWN_VERSION,
            format!(
                "Version « {} » du modèle {} inconnue de banc : le document est vérifié selon {}.",
                quote(ext.as_deref().unwrap_or("(aucune)")),
                root,
                newest.id
            ),
            doc.locate(cda),
        ));
        return newest.clone();
    }
    let has = |root: &str| templates.iter().any(|(r, _)| r == root);
    let code = xp.string("string(cda:code/@code)", cda).unwrap_or_default();
    let non_xml = xp
        .boolean("cda:component/cda:nonXMLBody", cda)
        .unwrap_or(false);
    if code == "11502-2" && (non_xml || has(XDS_SD_TEMPLATE)) {
        return by_id("cr-bio-n1").expect("built-in profile");
    }
    out.push(profile_finding(
        GENERIC,
        "Aucun modèle de document connu dans les templateId de l'en-tête : seuls le schéma CDA et les règles d'en-tête communes s'appliquent.".into(),
        doc.locate(cda),
    ));
    by_id("cda").expect("built-in profile")
}

/// A model templateId without its version extension. CR-BIO 2021.01 had none, yet the kit also
/// ships 2024.01 examples without it: the kit's `<?oxygen SCHSchema?>` processing instruction,
/// when present, names the volet the document was written for.
fn without_version(
    doc: &Loaded,
    xp: &XPath<'_>,
    candidates: &[&Profile],
    out: &mut Vec<Finding>,
) -> Profile {
    let cda = doc.cda();
    let pis = xp
        .select("/processing-instruction('oxygen')", cda)
        .unwrap_or_default();
    let named = pis.iter().map(|pi| pi.text()).find_map(|text| {
        candidates.iter().find(|p| {
            p.schematrons
                .last()
                .and_then(|s| s.rsplit('/').next())
                .is_some_and(|file| text.contains(file))
        })
    });
    let chosen = named
        .or_else(|| candidates.iter().find(|p| p.template_extension.is_none()))
        .unwrap_or(&candidates[0]);
    let how = if named.is_some() {
        "d'après l'instruction <?oxygen SCHSchema?> du document"
    } else {
        "version par défaut d'un templateId sans extension"
    };
    out.push(profile_finding(
        NO_VERSION,
        format!(
            "Le templateId du modèle n'a pas d'attribut extension (version du volet) : profil {} retenu ({how}).",
            chosen.id
        ),
        doc.locate(cda),
    ));
    (*chosen).clone()
}

/// Use the profile forced by the user; warn when the document declares another model.
pub fn forced(doc: &Loaded, profile: Profile, out: &mut Vec<Finding>) -> Profile {
    let mut scratch = Vec::new();
    let detected = detect(doc, &mut scratch);
    if detected.id != profile.id {
        out.push(profile_finding(
            MISMATCH,
            format!(
                "Profil imposé {} alors que les templateId du document indiquent {}.",
                profile.id, detected.id
            ),
            doc.locate(doc.cda()),
        ));
    }
    profile
}
