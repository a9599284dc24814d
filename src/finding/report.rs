//! The report data model: what a run judged, as data every renderer (table, JSON, JUnit, HTML)
//! and every door reads. Rendering lives above (`crate::report`), never here.

use super::{Finding, Layer, Severity, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the JSON contract; additions keep it, a breaking change would bump it.
pub const JSON_SCHEMA: &str = "banc.validate/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KitStamp {
    pub path: String,
    /// `sha256:<hex>` over the kit's files (see `kit::fingerprint`).
    pub fingerprint: String,
    /// Defects of the kit met during the run (each once), e.g. a case-insensitive include.
    pub issues: Vec<KitIssueView>,
    /// The ref and archive of a kit installed by `banc kit fetch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<KitSource>,
}

/// Where an installed kit came from: the ref fetched and the archive's sha256.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KitSource {
    #[serde(rename = "ref")]
    pub reference: String,
    /// Hex sha256 of the downloaded archive.
    pub archive_sha256: String,
    pub url: String,
}

/// A kit defect as reported (`kit.*` rule ids, see `schematron::KitIssue`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KitIssueView {
    pub rule: String,
    pub severity: Severity,
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub message: String,
}

/// One validated document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocumentReport {
    /// As given on the command line (or found under a given folder).
    pub path: String,
    /// Profile id (`cr-bio-2024.01`, ...), or null when the document could not be read that far.
    pub profile: Option<String>,
    /// `ClinicalDocument/id` (`root^extension`), the document's identity in fingerprints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    /// Every rule that ran on the document, findings or not (JUnit test cases, coverage).
    pub rules_run: Vec<RuleRun>,
    /// Wall time spent on this document, in milliseconds.
    pub duration_ms: f64,
    /// Source lines around the findings (line number → text), for excerpts; not serialised.
    /// Only these lines are kept, so a large batch does not hold every document in memory.
    #[serde(skip)]
    pub excerpts: BTreeMap<u32, String>,
}

/// A rule (or a whole engine pass such as the XSD) that ran on a document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleRun {
    pub rule: String,
    pub layer: Layer,
    /// What the rule checks, in French.
    pub title: String,
}

impl DocumentReport {
    /// Findings at or above `min` severity.
    pub fn count_at_least(&self, min: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity >= min).count()
    }

    /// The text of source line `line` (1-based), for excerpts.
    pub fn source_line(&self, line: u32) -> Option<&str> {
        self.excerpts.get(&line).map(String::as_str)
    }
}

/// Longest excerpt line kept (a base64 PDF can sit on one line of megabytes).
const MAX_EXCERPT_CHARS: usize = 10_000;

/// The lines of `source` around each finding's line (one before, one after).
pub fn excerpts(source: &[u8], findings: &[Finding]) -> BTreeMap<u32, String> {
    let mut wanted: Vec<u32> = findings
        .iter()
        .filter_map(|f| f.location.line)
        .flat_map(|l| [l.saturating_sub(1), l, l + 1])
        .filter(|l| *l > 0)
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut out = BTreeMap::new();
    if wanted.is_empty() {
        return out;
    }
    let source = source.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(source);
    let mut next = wanted.iter().peekable();
    for (i, line) in source.split(|b| *b == b'\n').enumerate() {
        let n = i as u32 + 1;
        let Some(&&w) = next.peek() else { break };
        if n == w {
            let text = String::from_utf8_lossy(line);
            let text = text.trim_end_matches('\r');
            out.insert(n, text.chars().take(MAX_EXCERPT_CHARS).collect());
            next.next();
        }
    }
    out
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub documents: usize,
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
}

/// A whole `banc validate` run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub banc: String,
    pub schema: String,
    pub kit: Option<KitStamp>,
    /// Value sets and circuit-bio file the terminology checks used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminology: Option<TerminologyStamp>,
    /// Severity at or above which a finding fails a document.
    pub fail_on: Severity,
    /// Project file, baseline and waivers applied to the run (`gate`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateStamp>,
    pub documents: Vec<DocumentReport>,
    pub summary: Summary,
}

/// What the CI gate did to a run (JSON `gate`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GateStamp {
    /// The project file read (`banc.toml`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// The baseline the findings were compared with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Only new findings fail the run (`--fail-on-new`).
    pub fail_on_new: bool,
    /// Findings not in the baseline.
    pub new: usize,
    /// Findings already in the baseline.
    pub known: usize,
    /// Baseline findings this run no longer has.
    pub fixed: usize,
    /// Findings a waiver covers.
    pub waived: usize,
}

impl Summary {
    /// Count one more document.
    pub fn add(&mut self, verdict: Verdict) {
        self.documents += 1;
        match verdict {
            Verdict::Pass => self.pass += 1,
            Verdict::Fail => self.fail += 1,
            Verdict::Error => self.error += 1,
        }
    }
}

impl RunReport {
    pub fn new(kit: Option<KitStamp>, fail_on: Severity, documents: Vec<DocumentReport>) -> Self {
        let mut summary = Summary::default();
        for d in &documents {
            summary.add(d.verdict);
        }
        RunReport {
            banc: env!("CARGO_PKG_VERSION").to_string(),
            schema: JSON_SCHEMA.to_string(),
            kit,
            terminology: None,
            fail_on,
            gate: None,
            documents,
            summary,
        }
    }

    /// Only new findings fail (`--fail-on-new`).
    pub fn only_new(&self) -> bool {
        self.gate.as_ref().is_some_and(|g| g.fail_on_new)
    }

    /// Judge every document again after the gate marked its findings (waived, known, severity
    /// overridden): a document that could not be checked stays `error`.
    pub fn rejudge(&mut self) {
        let (fail_on, only_new) = (self.fail_on, self.only_new());
        let mut summary = Summary {
            documents: self.documents.len(),
            ..Summary::default()
        };
        for d in &mut self.documents {
            if d.verdict != Verdict::Error {
                d.verdict = if d.findings.iter().any(|f| f.gates(fail_on, only_new)) {
                    Verdict::Fail
                } else {
                    Verdict::Pass
                };
            }
            match d.verdict {
                Verdict::Pass => summary.pass += 1,
                Verdict::Fail => summary.fail += 1,
                Verdict::Error => summary.error += 1,
            }
        }
        self.summary = summary;
    }
}

impl RunReport {
    /// The run as one verdict: error if a document could not be checked, else fail if one
    /// failed, else pass.
    pub fn verdict(&self) -> Verdict {
        if self.summary.error > 0 {
            Verdict::Error
        } else if self.summary.fail > 0 {
            Verdict::Fail
        } else {
            Verdict::Pass
        }
    }

    /// Exit status of every command that judges: 0 pass, 1 fail, 2 error. With
    /// `--fail-on-new`, a document that could not be checked is an error only when that is new.
    pub fn exit_status(&self) -> u8 {
        if self.only_new() {
            let new_error = self.documents.iter().any(|d| {
                d.verdict == Verdict::Error
                    && d.findings
                        .iter()
                        .any(|f| f.baseline != Some(super::BaselineState::Known))
            });
            return if new_error {
                2
            } else if self.summary.fail > 0 {
                1
            } else {
                0
            };
        }
        match self.verdict() {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Error => 2,
        }
    }
}

/// What a run's terminology was (JSON `terminology`, first lines of the table); made by
/// `terminology::Store::stamp`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TerminologyStamp {
    pub value_sets: usize,
    pub concepts: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit_bio: Option<CircuitStamp>,
    /// Files that could not be read, rows of the circuit-bio file that were skipped.
    pub issues: Vec<LoadIssue>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CircuitStamp {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub codes: usize,
}

/// A file that could not be read, or that was not a terminology file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadIssue {
    pub source: String,
    pub message: String,
}
