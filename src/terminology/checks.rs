//! Checks of the coded elements of a document against the terminology store (layer
//! `terminology`). Every rule is one row of [`RULES`] (id, severity, French message, English hint,
//! source); the code below decides where each applies.
//!
//! What the official CR-BIO schematrons leave out, and projectathons ask of producers: that a
//! LOINC code exists in form (syntax, check digit), fits its declared code system, belongs to the
//! "circuit de la biologie" value set, fits its role (request or result) and carries the
//! recommended UCUM unit.

use super::circuit::Circuit;
use super::{EN_ATTENTE, LOINC, SNOMED_CT, Store, loinc};
use crate::clock::Deadline;
use crate::finding::report::RuleRun;
use crate::finding::{Finding, Layer, MAX_FINDINGS_PER_RULE, Rule, Severity, quote};
use crate::profile::{Family, Profile};
use crate::schematron::query::Query;
use crate::xml::Loaded;
use crate::xml::ffi::Node;

const LOINC_GUIDE: &str = "LOINC Users' Guide, format du code et chiffre de contrôle mod 10";
const CIRCUIT: &str =
    "ANS, jeu de valeurs circuit de la biologie (bioloinc) : règles de choix des codes et unités";
const CRBIO_RESULT: &str = "CI-SIS volet CR-BIO, FR-Resultat-examens-de-biologie-element-clinique-pertinent : code de l'analyse";
const UCUM: &str = "CI-SIS volet CR-BIO : unités exprimées en UCUM (PQ/@unit)";

pub const LOINC_SYNTAX: &Rule = &crate::rule! {
    id: "terminology.loinc.syntax",
    layer: Layer::Terminology,
    severity: Severity::Error,
    message: "Le code déclaré dans le système LOINC (2.16.840.1.113883.6.1) n'a pas la forme d'un code LOINC (chiffres, tiret, chiffre de contrôle).",
    hint: "A LOINC code is a number, a hyphen and one check digit, e.g. 2951-2.",
    spec: LOINC_GUIDE,
};
pub const LOINC_CHECK_DIGIT: &Rule = &crate::rule! {
    id: "terminology.loinc.check-digit",
    layer: Layer::Terminology,
    severity: Severity::Error,
    message: "Le chiffre de contrôle du code LOINC est faux : ce code n'existe pas.",
    hint: "The digit after the hyphen is the mod-10 check digit of the number; a typo in the code usually breaks it.",
    spec: LOINC_GUIDE,
};
pub const SYSTEM_MISMATCH: &Rule = &crate::rule! {
    id: "terminology.code-system.mismatch",
    layer: Layer::Terminology,
    severity: Severity::Error,
    message: "La forme du code ne correspond pas au système de codage déclaré.",
    hint: "Declare the code system the code belongs to (a LOINC code under 2.16.840.1.113883.6.1).",
    spec: "CI-SIS, types de données CD/CE : codeSystem = OID du système auquel appartient le code",
};
pub const RESULT_LOCAL: &Rule = &crate::rule! {
    id: "terminology.result.local-code",
    layer: Layer::Terminology,
    severity: Severity::Warning,
    message: "Résultat identifié seulement par un code local (translation d'un code sans @code) : admis faute de code LOINC ou de code en attente, mais le résultat ne sera pas comparable d'un laboratoire à l'autre.",
    hint: "Ask for the LOINC code of the analysis (or an ANS 'en attente' code) and send it in code/@code, keeping the local code in translation.",
    spec: CRBIO_RESULT,
};
pub const RESULT_UNCODED: &Rule = &crate::rule! {
    id: "terminology.result.uncoded",
    layer: Layer::Terminology,
    severity: Severity::Error,
    message: "Résultat sans code : l'analyse doit être identifiée par un code LOINC, un code LOINC en attente ou, à défaut, un code local dans translation.",
    hint: "Give the observation a code (LOINC in code/@code, or a local code in code/translation).",
    spec: CRBIO_RESULT,
};
pub const RESULT_SYSTEM: &Rule = &crate::rule! {
    id: "terminology.result.code-system",
    layer: Layer::Terminology,
    severity: Severity::Error,
    message: "Le code d'un résultat doit être un code LOINC (2.16.840.1.113883.6.1) ou un code LOINC en attente (1.2.250.1.213.1.1.5.130) ; un code local se place dans translation d'un code sans @code.",
    hint: "Move the local code into <translation> and leave code/@code for LOINC.",
    spec: CRBIO_RESULT,
};
pub const EN_ATTENTE_INFO: &Rule = &crate::rule! {
    id: "terminology.loinc.en-attente",
    layer: Layer::Terminology,
    severity: Severity::Info,
    message: "Code LOINC en attente (1.2.250.1.213.1.1.5.130) : code provisoire de l'ANS, à remplacer par le code LOINC quand il sera créé.",
    hint: "Follow the ANS releases: the pending code will map to a LOINC code.",
    spec: CIRCUIT,
};
pub const CIRCUIT_ABSENT: &Rule = &crate::rule! {
    id: "terminology.circuit-bio.absent",
    layer: Layer::Terminology,
    severity: Severity::Warning,
    message: "Code LOINC absent du jeu de valeurs circuit de la biologie.",
    hint: "Prefer the code the value set retains for this analysis; ask ANS to add it if none fits.",
    spec: CIRCUIT,
};
pub const CIRCUIT_ROLE: &Rule = &crate::rule! {
    id: "terminology.circuit-bio.role",
    layer: Layer::Terminology,
    severity: Severity::Error,
    message: "Le type du code LOINC ne convient pas à son rôle : une demande (acte, batterie) se code Order ou Both, un résultat Both ou Observation.",
    hint: "Use an Order/Both code for the act or battery and a Both/Observation code for each result.",
    spec: CIRCUIT,
};
pub const CIRCUIT_NOT_CONFIGURED: &Rule = &crate::rule! {
    id: "terminology.circuit-bio.not-configured",
    layer: Layer::Terminology,
    severity: Severity::Info,
    message: "Jeu de valeurs circuit de la biologie non fourni (--circuit-bio) : appartenance, rôle et unité recommandée des codes LOINC non vérifiés.",
    hint: "Point banc at the official circuit-bio spreadsheet with --circuit-bio FILE or BANC_CIRCUIT_BIO.",
    spec: CIRCUIT,
};
pub const TECHNIQUE_MISSING: &Rule = &crate::rule! {
    id: "terminology.circuit-bio.technique-missing",
    layer: Layer::Terminology,
    severity: Severity::Info,
    message: "Résultat de niveau de comparabilité 2 (la technique compte pour comparer deux résultats) sans technique d'analyse (methodCode).",
    hint: "Carry the analysis technique in observation/methodCode so that the receiver can tell comparable results apart.",
    spec: CIRCUIT,
};
pub const UNIT_MISSING: &Rule = &crate::rule! {
    id: "terminology.unit.missing",
    layer: Layer::Terminology,
    severity: Severity::Error,
    message: "Valeur numérique (PQ) sans unité (@unit).",
    hint: "Give the UCUM unit of the value, e.g. unit=\"mmol/L\" (\"1\" for a dimensionless number).",
    spec: UCUM,
};
pub const UNIT_UCUM: &Rule = &crate::rule! {
    id: "terminology.unit.ucum",
    layer: Layer::Terminology,
    severity: Severity::Error,
    message: "Unité non conforme à la syntaxe UCUM.",
    hint: "Write the unit in UCUM case-sensitive code: umol/L (not µmol/L), 10*9/L (not G/L), [IU]/L (not UI/L).",
    spec: UCUM,
};
pub const UNIT_NOT_RECOMMENDED: &Rule = &crate::rule! {
    id: "terminology.unit.not-recommended",
    layer: Layer::Terminology,
    severity: Severity::Warning,
    message: "Unité différente de l'unité recommandée par le jeu de valeurs circuit de la biologie.",
    hint: "Send the result in the recommended (SI) unit; another unit may be added as a second value.",
    spec: CIRCUIT,
};
pub const DISPLAY_DIFFERS: &Rule = &crate::rule! {
    id: "terminology.display-name.differs",
    layer: Layer::Terminology,
    severity: Severity::Info,
    message: "Libellé (displayName) différent de celui du jeu de valeurs.",
    hint: "Informative: the kit does not check labels, which differ in case and spacing between releases.",
    spec: "Kit CI-SIS : test du displayName désactivé volontairement",
};
pub const BINDING_INTERPRETATION: &Rule = &crate::rule! {
    id: "terminology.binding.interpretation",
    layer: Layer::Terminology,
    severity: Severity::Error,
    message: "Code d'interprétation (interpretationCode) hors du jeu de valeurs JDV_HL7_ObservationInterpretation-CISIS (2.16.840.1.113883.1.11.78).",
    hint: "Use an HL7 ObservationInterpretation code: N, L, H, LL, HH, A, S, R, I, POS, NEG...",
    spec: "CI-SIS volet CR-BIO, FR-Resultat-examens-de-biologie-element-clinique-pertinent : interpretationCode",
};
pub const BINDING_SPECIMEN: &Rule = &crate::rule! {
    id: "terminology.binding.specimen-type",
    layer: Layer::Terminology,
    severity: Severity::Error,
    message: "Nature d'échantillon hors du jeu de valeurs JDV_HL7_SpecimenType-CISIS (2.16.840.1.113883.21.327).",
    hint: "Code the specimen with HL7 table 0487 (BLD, SER, PLAS, UR...).",
    spec: "CI-SIS volet CR-BIO, FR-Prelevement : participant PRD / playingEntity/code",
};
pub const BINDING_CONFIDENTIALITY: &Rule = &crate::rule! {
    id: "terminology.binding.confidentiality",
    layer: Layer::Terminology,
    severity: Severity::Error,
    message: "Niveau de confidentialité hors du jeu de valeurs JDV_HL7_Confidentiality-CISIS (2.16.840.1.113883.1.11.10228).",
    hint: "Use an HL7 Confidentiality code (N, R or V in a CI-SIS header).",
    spec: "CI-SIS Structuration minimale, en-tête : confidentialityCode",
};
pub const BINDING_UNAVAILABLE: &Rule = &crate::rule! {
    id: "terminology.binding.unavailable",
    layer: Layer::Terminology,
    severity: Severity::Info,
    message: "Jeu de valeurs non chargé : les codes qui lui sont liés ne sont pas vérifiés.",
    hint: "Give the kit (--kit) or the value set file (--terminology).",
    spec: "banc",
};

pub static RULES: &[&Rule] = &[
    LOINC_SYNTAX,
    LOINC_CHECK_DIGIT,
    SYSTEM_MISMATCH,
    RESULT_LOCAL,
    RESULT_UNCODED,
    RESULT_SYSTEM,
    EN_ATTENTE_INFO,
    CIRCUIT_ABSENT,
    CIRCUIT_ROLE,
    CIRCUIT_NOT_CONFIGURED,
    TECHNIQUE_MISSING,
    UNIT_MISSING,
    UNIT_UCUM,
    UNIT_NOT_RECOMMENDED,
    DISPLAY_DIFFERS,
    BINDING_INTERPRETATION,
    BINDING_SPECIMEN,
    BINDING_CONFIDENTIALITY,
    BINDING_UNAVAILABLE,
];

const RESULT_OBS: &str = ".//cda:observation[cda:templateId/@root='1.3.6.1.4.1.19376.1.3.1.6']";
const BATTERY: &str = ".//cda:organizer[cda:templateId/@root='1.3.6.1.4.1.19376.1.3.1.4']";
/// FR-Resultats-examens-de-biologie-medicale: the templateIds sit on the entry, not the act.
const REQUEST_ACT: &str = ".//cda:entry[cda:templateId/@root='1.3.6.1.4.1.19376.1.3.1']/cda:act | .//cda:act[cda:templateId/@root='1.3.6.1.4.1.19376.1.3.1']";
const SPECIMEN: &str = ".//cda:participant[@typeCode='PRD']/cda:participantRole[@classCode='SPEC']/cda:playingEntity/cda:code";

const INTERPRETATION_VS: &str = "2.16.840.1.113883.1.11.78";
const SPECIMEN_VS: &str = "2.16.840.1.113883.21.327";
const CONFIDENTIALITY_VS: &str = "2.16.840.1.113883.1.11.10228";

struct Run<'a, 'd> {
    doc: &'a Loaded,
    xpath: Query<'d>,
    store: &'a Store,
    findings: Vec<Finding>,
    counts: std::collections::HashMap<&'static str, usize>,
    deadline: &'a Deadline,
    /// The deadline passed: every loop stops at its next node.
    stopped: bool,
}

impl<'d> Run<'_, 'd> {
    /// Whether the deadline has passed (looked at between nodes).
    fn over(&mut self) -> bool {
        self.stopped = self.stopped || self.deadline.passed();
        self.stopped
    }

    fn report(&mut self, rule: &'static Rule, node: Node<'d>, detail: String) {
        let n = self.counts.entry(rule.id).or_default();
        *n += 1;
        if *n > MAX_FINDINGS_PER_RULE {
            return;
        }
        let message = if detail.is_empty() {
            rule.message.to_string()
        } else {
            format!("{} {detail}", rule.message)
        };
        self.findings.push(
            Finding::new(rule.id, rule.severity, Layer::Terminology, message)
                .at(self.doc.locate(node))
                .hint(rule.hint)
                .spec(rule.spec),
        );
    }

    fn select(&self, expr: &str, node: Node<'d>) -> Vec<Node<'d>> {
        self.xpath.select(expr, node).unwrap_or_default()
    }
}

fn attr(n: Node<'_>, name: &str) -> Option<String> {
    n.attr(name)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `xsi:type` without its prefix.
fn xsi_type(n: Node<'_>) -> Option<String> {
    let x = n.attr_ns("type", "http://www.w3.org/2001/XMLSchema-instance")?;
    Some(x.rsplit(':').next().unwrap_or(&x).to_string())
}

/// Run the terminology checks that apply to `profile`.
pub fn run(
    doc: &Loaded,
    profile: &Profile,
    store: &Store,
    deadline: &Deadline,
) -> (Vec<Finding>, Vec<RuleRun>, bool) {
    let mut r = Run {
        doc,
        xpath: Query::new(&doc.doc),
        store,
        findings: Vec::new(),
        counts: Default::default(),
        deadline,
        stopped: false,
    };
    let cda = doc.cda();
    let mut ran: Vec<&'static Rule> = vec![LOINC_SYNTAX, LOINC_CHECK_DIGIT, SYSTEM_MISMATCH];
    code_shapes(&mut r, cda);
    ran.push(binding(
        &mut r,
        cda,
        "cda:confidentialityCode[@code]",
        CONFIDENTIALITY_VS,
        BINDING_CONFIDENTIALITY,
    ));
    let structured = profile.family == Family::CrBio;
    if structured {
        ran.extend([RESULT_LOCAL, RESULT_UNCODED, RESULT_SYSTEM, EN_ATTENTE_INFO]);
        ran.extend([UNIT_MISSING, UNIT_UCUM]);
        let circuit = store.circuit.as_ref();
        match circuit {
            Some(_) => ran.extend([
                CIRCUIT_ABSENT,
                CIRCUIT_ROLE,
                TECHNIQUE_MISSING,
                UNIT_NOT_RECOMMENDED,
                DISPLAY_DIFFERS,
            ]),
            None => {
                r.report(CIRCUIT_NOT_CONFIGURED, cda, String::new());
                ran.push(CIRCUIT_NOT_CONFIGURED);
            }
        }
        for obs in r.select(RESULT_OBS, cda) {
            if r.over() {
                break;
            }
            result(&mut r, obs, circuit);
        }
        for org in r.select(BATTERY, cda) {
            if r.over() {
                break;
            }
            if let Some(code) = r.select("cda:code[@code]", org).into_iter().next() {
                request(&mut r, code, circuit, "batterie");
            }
        }
        for act in r.select(REQUEST_ACT, cda) {
            if r.over() {
                break;
            }
            if let Some(code) = r.select("cda:code[@code]", act).into_iter().next() {
                request(&mut r, code, circuit, "acte");
            }
        }
        ran.push(binding(
            &mut r,
            cda,
            ".//cda:observation/cda:interpretationCode[@code]",
            INTERPRETATION_VS,
            BINDING_INTERPRETATION,
        ));
        ran.push(binding(
            &mut r,
            cda,
            SPECIMEN,
            SPECIMEN_VS,
            BINDING_SPECIMEN,
        ));
    }
    let mut runs: Vec<RuleRun> = Vec::new();
    for rule in ran {
        if !runs.iter().any(|x| x.rule == rule.id) {
            runs.push(RuleRun {
                rule: rule.id.to_string(),
                layer: Layer::Terminology,
                title: rule.message.to_string(),
            });
        }
    }
    let stopped = r.stopped;
    let mut findings = r.findings;
    for (id, n) in r.counts {
        if n > MAX_FINDINGS_PER_RULE {
            findings.push(crate::finding::limit_finding(
                id,
                n - MAX_FINDINGS_PER_RULE,
                Layer::Terminology,
            ));
        }
    }
    (findings, runs, stopped)
}

/// Every element with a code and a code system: LOINC syntax and check digit, code shape
/// against the declared system.
fn code_shapes<'d>(r: &mut Run<'_, 'd>, cda: Node<'d>) {
    for n in r.select("descendant-or-self::*[@code and @codeSystem]", cda) {
        if r.over() {
            return;
        }
        let (Some(code), Some(system)) = (attr(n, "code"), attr(n, "codeSystem")) else {
            continue;
        };
        match system.as_str() {
            LOINC => match loinc::check(&code) {
                Ok(()) => {}
                Err(loinc::LoincError::Syntax(why)) => r.report(LOINC_SYNTAX, n, why),
                Err(loinc::LoincError::CheckDigit(found, expected)) => r.report(
                    LOINC_CHECK_DIGIT,
                    n,
                    format!(
                        "« {} » : chiffre de contrôle {found}, attendu {expected} pour le nombre {}.",
                        quote(&code),
                        quote(code.split('-').next().unwrap_or(""))
                    ),
                ),
            },
            SNOMED_CT => {
                if loinc::looks_like_loinc(&code) {
                    r.report(
                        SYSTEM_MISMATCH,
                        n,
                        format!("« {} » a la forme d'un code LOINC mais est déclaré dans SNOMED CT ({SNOMED_CT}), dont les codes sont des nombres.", quote(&code)),
                    );
                } else if !code.bytes().all(|b| b.is_ascii_digit()) || code.len() < 6 {
                    r.report(
                        SYSTEM_MISMATCH,
                        n,
                        format!("« {} » n'est pas un identifiant SNOMED CT (nombre de 6 à 18 chiffres).", quote(&code)),
                    );
                }
            }
            EN_ATTENTE if loinc::looks_like_loinc(&code) => r.report(
                SYSTEM_MISMATCH,
                n,
                format!("« {} » a la forme d'un code LOINC mais est déclaré comme code en attente ({EN_ATTENTE}) : déclarer 2.16.840.1.113883.6.1.", quote(&code)),
            ),
            _ => {}
        }
    }
}

fn result<'d>(r: &mut Run<'_, 'd>, obs: Node<'d>, circuit: Option<&Circuit>) {
    let Some(code) = r.select("cda:code", obs).into_iter().next() else {
        r.report(RESULT_UNCODED, obs, "(élément code absent)".into());
        return;
    };
    let display = attr(code, "displayName").unwrap_or_default();
    // The circuit-bio row of the code, looked up once for its role, label and recommended unit.
    let entry = match (circuit, attr(code, "code")) {
        (Some(k), Some(c)) => k.get(&c),
        _ => None,
    };
    match (attr(code, "code"), attr(code, "codeSystem")) {
        (Some(c), Some(s)) if s == LOINC => {
            if let Some(circuit) = circuit
                && loinc::check(&c).is_ok()
            {
                match entry {
                    None => absent(r, code, &c, &display, circuit, "résultat"),
                    Some(e) => {
                        if !e.kind.result() && e.kind != super::Kind::Inconnu {
                            r.report(
                                CIRCUIT_ROLE,
                                code,
                                format!(
                                    "Résultat codé {c} « {} », de type {} dans le jeu de valeurs.",
                                    quote(&e.label),
                                    e.kind.label()
                                ),
                            );
                        }
                        label(r, code, &display, e);
                        if e.comparability == Some(2) && r.select("cda:methodCode", obs).is_empty()
                        {
                            r.report(
                                TECHNIQUE_MISSING,
                                code,
                                format!("Code {c} « {} ».", quote(&e.label)),
                            );
                        }
                    }
                }
            }
        }
        (Some(c), Some(s)) if s == EN_ATTENTE => {
            let name = entry
                .map(|e| e.label.clone())
                .filter(|l| !l.is_empty())
                .unwrap_or(display.clone());
            r.report(
                EN_ATTENTE_INFO,
                code,
                format!("Code {} « {} ».", quote(&c), quote(&name)),
            );
        }
        // Already reported as a code put under the wrong system.
        (Some(c), Some(s))
            if (s == SNOMED_CT || s == EN_ATTENTE) && loinc::looks_like_loinc(&c) => {}
        (Some(c), s) => r.report(
            RESULT_SYSTEM,
            code,
            format!(
                "Trouvé : code « {} » dans le système {}.",
                quote(&c),
                quote(s.unwrap_or_else(|| "non déclaré".into()))
            ),
        ),
        (None, _) => {
            // En attente and local codes are carried in translation (volet CR-BIO).
            let translations = r.select("cda:translation[@code]", code);
            let pending = translations
                .iter()
                .find(|t| attr(**t, "codeSystem").as_deref() == Some(EN_ATTENTE));
            if let Some(t) = pending {
                let c = attr(*t, "code").unwrap_or_default();
                let name = circuit
                    .and_then(|k| k.get(&c))
                    .map(|e| e.label.clone())
                    .filter(|l| !l.is_empty())
                    .or_else(|| attr(*t, "displayName"))
                    .unwrap_or(display.clone());
                r.report(
                    EN_ATTENTE_INFO,
                    *t,
                    format!("Code {} « {} ».", quote(&c), quote(&name)),
                );
            } else {
                match translations.first() {
                    Some(t) => r.report(
                        RESULT_LOCAL,
                        code,
                        format!(
                            "Code local « {} » ({}{}).",
                            quote(attr(*t, "code").unwrap_or_default()),
                            quote(attr(*t, "codeSystem").unwrap_or_default()),
                            attr(*t, "displayName")
                                .map(|d| format!(", « {} »", quote(&d)))
                                .unwrap_or_default()
                        ),
                    ),
                    None => r.report(
                        RESULT_UNCODED,
                        code,
                        match attr(code, "nullFlavor") {
                            Some(nf) => {
                                format!("(code nullFlavor=\"{}\" sans translation)", quote(&nf))
                            }
                            None => "(code sans @code ni translation)".into(),
                        },
                    ),
                }
            }
        }
    }
    // The unit of the result itself (recommended), then those of the reference ranges (syntax).
    let recommended = entry.and_then(|e| e.unit.clone());
    for v in r.select("cda:value", obs) {
        quantities(r, v, recommended.as_deref());
    }
    for v in r.select("cda:referenceRange/cda:observationRange/cda:value", obs) {
        quantities(r, v, None);
    }
}

/// PQ and IVL_PQ (low, high, center) of a value.
fn quantities<'d>(r: &mut Run<'_, 'd>, value: Node<'d>, recommended: Option<&str>) {
    let ty = xsi_type(value).unwrap_or_default();
    let parts = match ty.as_str() {
        "PQ" => vec![value],
        "IVL_PQ" => r.select("cda:low | cda:high | cda:center", value),
        _ => return,
    };
    for q in parts {
        if attr(q, "nullFlavor").is_some() {
            continue;
        }
        let Some(unit) = q.attr("unit") else {
            r.report(
                UNIT_MISSING,
                q,
                format!(
                    "(valeur « {} »)",
                    quote(attr(q, "value").unwrap_or_else(|| "absente".into()))
                ),
            );
            continue;
        };
        if octofhir_ucum::validate(&unit).is_err() {
            r.report(UNIT_UCUM, q, ucum_detail(&unit));
            continue;
        }
        if let Some(rec) = recommended
            && rec != unit
        {
            let same = octofhir_ucum::convert(1.0, &unit, rec)
                .map(|f| (f - 1.0).abs() < 1e-9)
                .unwrap_or(false);
            let comparable = octofhir_ucum::is_comparable(&unit, rec).unwrap_or(false);
            let note = if same {
                " (même grandeur, écriture différente)"
            } else if comparable {
                " (convertible)"
            } else {
                " (grandeur différente : vérifier le code LOINC)"
            };
            r.report(
                UNIT_NOT_RECOMMENDED,
                q,
                format!(
                    "Trouvé « {} », recommandé « {} »{note}.",
                    quote(&unit),
                    quote(rec)
                ),
            );
        }
    }
}

/// French reason for a unit that is not UCUM, with the usual fix when banc knows it.
fn ucum_detail(unit: &str) -> String {
    let fix = if unit.contains('µ') || unit.contains('μ') {
        Some(unit.replace(['µ', 'μ'], "u"))
    } else if unit.contains("UI") || unit.contains("ui") {
        Some(unit.replace("UI", "[IU]").replace("ui", "[IU]"))
    } else {
        None
    };
    match fix {
        Some(f) if octofhir_ucum::validate(&f).is_ok() => {
            format!("Trouvé « {} » ; en UCUM : « {} ».", quote(unit), quote(&f))
        }
        _ => format!("Trouvé « {} ».", quote(unit)),
    }
}

/// Act or battery code: a request.
fn request<'d>(r: &mut Run<'_, 'd>, code: Node<'d>, circuit: Option<&Circuit>, what: &str) {
    let (Some(c), Some(LOINC)) = (attr(code, "code"), attr(code, "codeSystem").as_deref()) else {
        return;
    };
    let Some(circuit) = circuit else { return };
    if loinc::check(&c).is_err() {
        return;
    }
    let display = attr(code, "displayName").unwrap_or_default();
    match circuit.get(&c) {
        None => absent(r, code, &c, &display, circuit, what),
        Some(e) => {
            // An act carries a chapter (or sub-chapter) code, or the request's own code.
            let fits = e.kind.request()
                || e.kind == super::Kind::Inconnu
                || (what == "acte" && e.kind.chapter());
            if !fits {
                r.report(
                    CIRCUIT_ROLE,
                    code,
                    format!(
                        "Code {c} « {} » de type {} utilisé pour {} : attendu Order ou Both{}.",
                        quote(&e.label),
                        e.kind.label(),
                        if what == "acte" {
                            "un acte"
                        } else {
                            "une batterie"
                        },
                        if what == "acte" {
                            " (ou un chapitre)"
                        } else {
                            ""
                        }
                    ),
                );
            }
            label(r, code, &display, e);
        }
    }
}

fn absent<'d>(
    r: &mut Run<'_, 'd>,
    code: Node<'d>,
    c: &str,
    display: &str,
    circuit: &Circuit,
    what: &str,
) {
    let sugg: Vec<String> = if what == "résultat" {
        circuit
            .suggestions(display)
            .iter()
            .take(3)
            .map(|e| {
                format!(
                    "{} « {} »{}",
                    quote(&e.code),
                    quote(&e.label),
                    e.unit
                        .as_deref()
                        .map(|u| format!(" en {}", quote(u)))
                        .unwrap_or_default()
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let tail = if sugg.is_empty() {
        String::new()
    } else {
        format!(" Code retenu pour la même analyse : {}.", sugg.join(" ; "))
    };
    r.report(
        CIRCUIT_ABSENT,
        code,
        format!(
            "{} codé {c}{}.{tail}",
            capitalise(what),
            if display.is_empty() {
                String::new()
            } else {
                format!(" « {} »", quote(display))
            }
        ),
    );
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Case, accents, spacing and punctuation are not differences (the kit disabled its label test
/// because labels differ that way between releases).
fn same_label(a: &str, b: &str) -> bool {
    super::circuit::fold(a) == super::circuit::fold(b)
}

fn label<'d>(r: &mut Run<'_, 'd>, code: Node<'d>, display: &str, e: &super::CircuitEntry) {
    if display.is_empty() || e.label.is_empty() {
        return;
    }
    let print = e.print_label.as_deref().unwrap_or("");
    if same_label(display, &e.label) || same_label(display, print) {
        return;
    }
    r.report(
        DISPLAY_DIFFERS,
        code,
        format!(
            "Code {} : « {} » ; jeu de valeurs : « {} »{}.",
            quote(&e.code),
            quote(display),
            quote(&e.label),
            if print.is_empty() {
                String::new()
            } else {
                format!(" (libellé d'édition « {} »)", quote(print))
            }
        ),
    );
}

/// Codes of `expr` (from the ClinicalDocument) must be in value set `vs`.
fn binding<'d>(
    r: &mut Run<'_, 'd>,
    cda: Node<'d>,
    expr: &str,
    vs: &str,
    rule: &'static Rule,
) -> &'static Rule {
    let nodes = r.select(expr, cda);
    if nodes.is_empty() {
        return rule;
    }
    let store = r.store;
    let Some(set) = store.value_set(vs) else {
        r.report(
            BINDING_UNAVAILABLE,
            nodes[0],
            format!("{vs} (règle {}).", rule.id),
        );
        return BINDING_UNAVAILABLE;
    };
    for n in nodes {
        if r.over() {
            break;
        }
        let code = attr(n, "code").unwrap_or_default();
        let system = attr(n, "codeSystem");
        let found = match &system {
            Some(s) => set.get(s, &code).is_some(),
            None => set.get_code(&code).is_some(),
        };
        if !found {
            r.report(
                rule,
                n,
                format!(
                    "Trouvé : « {} »{} ; jeu de valeurs {} ({} codes, {}).",
                    quote(&code),
                    system
                        .map(|s| format!(" ({})", quote(&s)))
                        .unwrap_or_default(),
                    set.name,
                    set.concepts.len(),
                    set.source
                ),
            );
        }
    }
    rule
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_and_namespaced() {
        let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
        assert!(ids.iter().all(|id| id.starts_with("terminology.")));
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(n, ids.len());
    }

    #[test]
    fn ucum_detail_proposes_the_ucum_spelling() {
        assert!(ucum_detail("µmol/L").contains("« umol/L »"));
        assert!(ucum_detail("mUI/L").contains("m[IU]/L"));
        assert!(!ucum_detail("truc").contains("en UCUM"));
    }

    #[test]
    fn labels_differing_in_case_and_spaces_are_the_same() {
        assert!(same_label(
            "Glucose  [Moles/Volume]",
            "glucose [moles/volume]"
        ));
        assert!(same_label("Electrophorèse", "Électrophorèse"));
        assert!(!same_label("Kaliémie", "Potassium [Moles/Volume]"));
    }
}
