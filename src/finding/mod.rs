//! Findings and verdicts: what every layer of the pipeline produces.
//!
//! A finding's `rule` id is `<layer>.<source>.<name>`; the first segment names the module that owns
//! the rule (`xml.*` → `src/xml`, `xsd.*` → `src/xsd.rs`, `banc.*` → `src/banc`, ...).

pub mod report;
mod rule;

pub use rule::Rule;

use serde::Serialize;
use std::fmt;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The layer of the pipeline a rule belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Xml,
    Xsd,
    Schematron,
    /// banc's own rules on the document model (`src/banc`).
    Banc,
    Terminology,
    Xdm,
    Mail,
    Transport,
    Scenario,
    /// The project file (`banc.toml`): an expired waiver.
    Project,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Xml => "xml",
            Layer::Xsd => "xsd",
            Layer::Schematron => "schematron",
            Layer::Terminology => "terminology",
            Layer::Banc => "banc",
            Layer::Xdm => "xdm",
            Layer::Mail => "mail",
            Layer::Transport => "transport",
            Layer::Scenario => "scenario",
            Layer::Project => "project",
        }
    }

    /// French label for reports.
    pub fn label_fr(self) -> &'static str {
        match self {
            Layer::Xml => "XML (syntaxe, sécurité, encodage)",
            Layer::Xsd => "Schéma CDA (XSD)",
            Layer::Schematron => "Schématrons CI-SIS",
            Layer::Terminology => "Terminologies et jeux de valeurs",
            Layer::Banc => "Règles banc (modèle de document)",
            Layer::Xdm => "Paquet IHE_XDM",
            Layer::Mail => "Message MSSanté",
            Layer::Transport => "Transport",
            Layer::Scenario => "Scénario",
            Layer::Project => "Fichier de projet (banc.toml)",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a finding points: a positional XPath plus the source position of the node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Location {
    /// `/ClinicalDocument/component/structuredBody/component[2]/section`: a `[n]` is given whenever
    /// the element has same-named siblings, so the path designates exactly one node.
    pub xpath: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
}

impl Location {
    /// `l. 12, col. 5` (or what is known of it), for text outputs.
    pub fn position_text(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("l. {l}, col. {c}"),
            (Some(l), None) => format!("l. {l}"),
            _ => String::new(),
        }
    }

    pub fn at(line: u32, column: u32) -> Location {
        Location {
            xpath: None,
            line: Some(line),
            column: Some(column),
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub layer: Layer,
    /// French message, the official text where one exists.
    pub message: String,
    pub location: Location,
    /// English hint on how to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Specification section the rule comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    /// The schematron check behind a `schematron` finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schematron: Option<SchematronRef>,
    /// Identity of the finding across runs and reformatting (rule, document, positional XPath,
    /// occurrence; see `gate::fingerprint`), set by the judging commands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Against the run's baseline (`--baseline`): new, or known already.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineState>,
    /// The project file's waiver covering it: shown everywhere, never fails a run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waived: Option<Waived>,
    /// The project file changed its severity (`[[severity]]`): the rule's own, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overridden: Option<Overridden>,
}

/// A finding against a baseline (JSON `baseline`, SARIF `baselineState` `new` / `unchanged`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaselineState {
    New,
    Known,
}

impl BaselineState {
    /// French label for tables and pages.
    pub fn label_fr(self) -> &'static str {
        match self {
            BaselineState::New => "nouveau",
            BaselineState::Known => "connu",
        }
    }
}

/// The waiver that covers a finding (`[[waiver]]` of `banc.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Waived {
    pub reason: String,
    /// Last day the waiver holds (`AAAA-MM-JJ`), if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Where the waiver is written (`banc.toml:12`).
    pub source: String,
}

/// A severity the project file changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Overridden {
    /// The severity the rule gave.
    pub from: Severity,
    pub reason: String,
}

/// Which schematron check produced a finding (JSON `schematron` object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchematronRef {
    /// Path relative to the kit (or as given, for a user's schematron outside it).
    pub file: String,
    /// `assert` or `report`.
    pub kind: &'static str,
    pub pattern: String,
    /// The rule context, as written.
    pub context: String,
    /// The test after abstract-pattern substitution.
    pub test: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// A [`SchematronRef`] read back (`banc merge`): the kind is one of two words.
#[derive(serde::Deserialize)]
struct SchematronRefRead {
    file: String,
    kind: String,
    pattern: String,
    context: String,
    test: String,
    id: Option<String>,
    role: Option<String>,
}

// By hand: serde's derive would tie a `&'static str` field to the input's lifetime.
impl<'de> serde::Deserialize<'de> for SchematronRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SchematronRef, D::Error> {
        let r = SchematronRefRead::deserialize(d)?;
        let kind = match r.kind.as_str() {
            "assert" => "assert",
            "report" => "report",
            other => {
                return Err(serde::de::Error::unknown_variant(
                    other,
                    &["assert", "report"],
                ));
            }
        };
        Ok(SchematronRef {
            file: r.file,
            kind,
            pattern: r.pattern,
            context: r.context,
            test: r.test,
            id: r.id,
            role: r.role,
        })
    }
}

impl Finding {
    pub fn new(
        rule: impl Into<String>,
        severity: Severity,
        layer: Layer,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            rule: rule.into(),
            severity,
            layer,
            message: cap(message.into()),
            location: Location::default(),
            hint: None,
            spec: None,
            schematron: None,
            fingerprint: None,
            baseline: None,
            waived: None,
            overridden: None,
        }
    }

    /// Whether this finding fails its document: at or above `fail_on`, not waived, and new
    /// when only new findings gate (`--fail-on-new`).
    pub fn gates(&self, fail_on: Severity, only_new: bool) -> bool {
        self.severity >= fail_on
            && self.waived.is_none()
            && (!only_new || self.baseline != Some(BaselineState::Known))
    }

    /// The marks a CI reader needs beside the severity: « nouveau », « connu », « dérogé ».
    pub fn marks_fr(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(b) = self.baseline {
            out.push(b.label_fr().to_string());
        }
        if let Some(w) = &self.waived {
            out.push(format!("dérogé : {}", w.reason));
        }
        if let Some(o) = &self.overridden {
            out.push(format!(
                "sévérité {} → {} : {}",
                o.from, self.severity, o.reason
            ));
        }
        out
    }

    pub fn at(mut self, location: Location) -> Finding {
        self.location = location;
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Finding {
        self.hint = Some(hint.into());
        self
    }

    pub fn spec(mut self, spec: impl Into<String>) -> Finding {
        self.spec = Some(spec.into());
        self
    }
}

/// Characters of submitted text a message quotes (a value, a header, a title): past them,
/// [`quote`] cuts. A 3 MB title must not become a 3 MB message in every report.
pub const QUOTE_CHARS: usize = 200;

/// Characters of a finding's message past which [`Finding::new`] cuts it, whatever the message:
/// the last resort for text that reached a message unquoted (a libxml2 error naming a value).
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// `text` as a message quotes it: whole when short, else its first [`QUOTE_CHARS`] characters,
/// `…` and its length (`ABC… (3000000 caractères)`).
pub fn quote(text: impl AsRef<str>) -> String {
    shorten(text.as_ref(), QUOTE_CHARS)
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => {
            let head = text.get(..end).unwrap_or_default();
            format!("{head}… ({} caractères)", text.chars().count())
        }
    }
}

fn cap(message: String) -> String {
    if message.len() <= MAX_MESSAGE_CHARS {
        return message;
    }
    shorten(&message, MAX_MESSAGE_CHARS)
}

/// Findings kept per rule and document: a broken generator can repeat one defect per entry.
pub const MAX_FINDINGS_PER_RULE: usize = 1000;

/// Findings not kept past a limit; every layer caps its findings with it, so it lives here.
pub const LIMIT_FINDINGS: &Rule = &crate::rule! {
    id: "banc.limit.findings",
    layer: Layer::Banc,
    severity: Severity::Info,
    message: "constats supplémentaires non conservés (limite par règle)",
    hint: "",
    spec: "banc",
};

/// A document's checks stopped at the end of its work budget (base + size × rate, see
/// `pipeline::Budget`): the finding carries the layer of the engine that stopped.
pub const LIMIT_BUDGET: &Rule = &crate::rule! {
    id: "banc.limit.budget",
    layer: Layer::Banc,
    severity: Severity::Error,
    message: "Budget de travail du document dépassé : vérification arrêtée, document non entièrement vérifié.",
    hint: "The document costs far more work than its size warrants (a hostile or degenerate document); if it is legitimate, raise the budget (pipeline::Options::budget).",
    spec: "banc",
};

/// The rules owned by this module (`banc.limit.*`).
pub static RULES: &[&Rule] = &[LIMIT_FINDINGS, LIMIT_BUDGET];

/// `banc.limit.budget`: the checks stopped `elapsed` after the document's start, its budget
/// being `budget`, `when` saying where (« pendant le schématron X », « avant la validation
/// XSD »), in `layer`; what was not done yet is not checked.
pub fn budget_finding(
    when: &str,
    layer: Layer,
    elapsed: std::time::Duration,
    budget: std::time::Duration,
) -> Finding {
    let secs = |d: std::time::Duration| format!("{:.1}", d.as_secs_f64()).replace('.', ",");
    Finding::new(
        LIMIT_BUDGET.id,
        LIMIT_BUDGET.severity,
        layer,
        format!(
            "Budget de travail du document dépassé : vérification arrêtée au bout de {} s (budget de {} s pour ce document), {when} ; la suite n'a pas été vérifiée, le document n'est pas entièrement vérifié.",
            secs(elapsed),
            secs(budget)
        ),
    )
    .hint(LIMIT_BUDGET.hint)
}

/// `banc.limit.findings`: `dropped` more findings of `rule` were not kept. Its layer is the layer
/// of the capped rule, so the note sits beside what it completes.
pub fn limit_finding(rule: &str, dropped: usize, layer: Layer) -> Finding {
    Finding::new(
        LIMIT_FINDINGS.id,
        LIMIT_FINDINGS.severity,
        layer,
        format!(
            "{dropped} constats supplémentaires de la règle {rule} n'ont pas été conservés (limite de {MAX_FINDINGS_PER_RULE} par règle)."
        ),
    )
}

/// The outcome for one checked object (a document here; later a step, a scenario, a participant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// Could not be checked (unreadable, too large, binary, over a safety limit).
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_short_and_cut_on_a_character() {
        assert_eq!(quote("court"), "court");
        let q = quote("é".repeat(3_000_000));
        assert_eq!(q, format!("{}… (3000000 caractères)", "é".repeat(200)));
        let exact = "a".repeat(QUOTE_CHARS);
        assert_eq!(quote(&exact), exact);
    }

    #[test]
    fn a_message_past_the_last_resort_is_cut() {
        let f = Finding::new("x.y", Severity::Error, Layer::Xml, "ü".repeat(5000));
        assert_eq!(
            f.message.chars().count(),
            MAX_MESSAGE_CHARS + "… (5000 caractères)".chars().count()
        );
        assert!(f.message.ends_with("… (5000 caractères)"));
        let short = "ü".repeat(MAX_MESSAGE_CHARS);
        assert_eq!(
            Finding::new("x.y", Severity::Error, Layer::Xml, short.clone()).message,
            short
        );
    }
}
