//! What a `banc run` produced, as data: the run → participants → scenarios → steps, each with a
//! status, log lines, the expectations checked and the validation findings. `results.json` is this
//! structure serialised; `junit.xml` and `report.html` are rendered from it (`scenario::report`).

use super::model::{Kind, Level, Role};
use crate::finding::Finding;
use serde::{Deserialize, Serialize};

/// Version of the `results.json` layout (bump on an incompatible change).
pub const RESULTS_SCHEMA: &str = "banc-run/1";

/// Status of a step or a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every step passed (a scenario), or the step's expectations held.
    Passed,
    /// An expectation did not hold, or the SUT did not answer in time.
    Failed,
    /// A person's step (`evidence`, `monitor`) waiting for a validator's decision; a scenario with
    /// no failure and at least one pending step is pending.
    Pending,
    /// Not run: a prerequisite did not pass, or an earlier step of the scenario failed.
    Skipped,
    /// banc could not run it (its own fault or the environment's: unreadable fixture, no SMTP
    /// endpoint for the participant...), not the SUT's.
    Error,
    /// Stopped by Ctrl-C (or SIGTERM) before it ended.
    Interrupted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Pending => "pending",
            Status::Skipped => "skipped",
            Status::Error => "error",
            Status::Interrupted => "interrupted",
        }
    }

    /// French label for the reports.
    pub fn label_fr(self) -> &'static str {
        match self {
            Status::Passed => "réussi",
            Status::Failed => "échoué",
            Status::Pending => "en attente (manuel)",
            Status::Skipped => "non joué",
            Status::Error => "erreur banc",
            Status::Interrupted => "interrompu",
        }
    }
}

/// The whole run (`results.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResults {
    /// `banc-run/1`.
    pub schema: String,
    /// banc's version.
    pub banc: String,
    pub suite: SuiteInfo,
    /// RFC 3339 UTC.
    pub started: String,
    pub finished: String,
    pub duration_ms: u64,
    /// Ctrl-C (or SIGTERM) stopped the run: unfinished scenarios are `interrupted`.
    pub interrupted: bool,
    /// The kit used to judge documents, as `banc validate` stamps it (null: built-in rules only).
    pub kit: Option<serde_json::Value>,
    pub participants: Vec<ParticipantResult>,
    pub summary: RunSummary,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuiteInfo {
    pub id: String,
    pub title: String,
    pub version: Option<String>,
    /// The suite folder, as given.
    pub dir: String,
}

/// Counts over every participant; `passed` is the exit status's question.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunSummary {
    pub scenarios: usize,
    pub required: usize,
    pub required_passed: usize,
    pub required_failed: usize,
    pub required_pending: usize,
    pub optional_passed: usize,
    pub optional_failed: usize,
    pub pending_steps: usize,
    /// Every required scenario of every participant passed.
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParticipantResult {
    pub id: String,
    pub organisation: String,
    pub system: String,
    pub roles: Vec<Role>,
    /// Set for banc's own simulators (`banc rehearse`): what it simulates and its faults.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub simulated: Option<String>,
    pub scenarios: Vec<ScenarioResult>,
    pub score: Score,
}

/// A participant's scoreboard line (per role in the reports, here over both).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Score {
    pub required: usize,
    pub required_passed: usize,
    pub required_failed: usize,
    pub optional: usize,
    pub optional_passed: usize,
    pub optional_failed: usize,
    /// Scenarios waiting for a validator (no failure, a pending manual step).
    pub pending: usize,
    /// Manual steps waiting for a validator.
    pub pending_steps: usize,
    pub skipped: usize,
    pub errors: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub id: String,
    pub title: String,
    pub role: Role,
    pub level: Level,
    pub required: bool,
    pub status: Status,
    /// Why it failed, was skipped or errored, in French (one line).
    pub reason: Option<String>,
    /// RFC 3339 UTC; null when it never started (skipped).
    pub started: Option<String>,
    pub duration_ms: u64,
    pub steps: Vec<StepResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepResult {
    /// The step's id, else `étape N`.
    pub id: String,
    pub kind: Kind,
    pub title: Option<String>,
    pub status: Status,
    /// One line in French: what happened.
    pub message: String,
    pub duration_ms: u64,
    /// Time-stamped lines (`12:03:04.120 envoi à <...> par 127.0.0.1:2531 : 250 ...`).
    pub log: Vec<String>,
    /// Each expectation of the step, checked.
    pub checks: Vec<Check>,
    /// Validation findings on what the SUT produced (document, package, message,
    /// acknowledgement), per judged object.
    pub reports: Vec<JudgedObject>,
    /// For manual steps: what the person must do and check, and the evidence received.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instructions: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub checklist: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub evidence: Vec<String>,
    /// A validator's decision on a manual step (from `--decisions`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub decision: Option<Decision>,
}

/// One expectation and its outcome: `verdict = pass` → `verdict: pass (attendu pass)`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    /// The expectation key (`verdict`, `rules_absent`, `loinc_include`, `disposition`...).
    pub name: String,
    pub ok: bool,
    /// What was expected and what was found, in French.
    pub detail: String,
}

/// A judged object (a CDA, a package, a message, an acknowledgement) and its findings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JudgedObject {
    /// Name as in `banc validate` (`<id>.eml!IHE_XDM.zip!IHE_XDM/SUBSET01/DOC0001.XML`).
    pub path: String,
    pub profile: Option<String>,
    /// pass, fail or error.
    pub verdict: String,
    pub findings: Vec<FindingView>,
}

/// A finding as stored in results (the layer and severity as strings keep the file readable by
/// other tools without banc's enums).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindingView {
    pub rule: String,
    pub severity: String,
    pub layer: String,
    pub message: String,
    pub xpath: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
}

impl From<&Finding> for FindingView {
    fn from(f: &Finding) -> FindingView {
        FindingView {
            rule: f.rule.clone(),
            severity: f.severity.as_str().to_string(),
            layer: f.layer.as_str().to_string(),
            message: f.message.clone(),
            xpath: f.location.xpath.clone(),
            line: f.location.line,
            column: f.location.column,
        }
    }
}

impl From<&crate::finding::report::DocumentReport> for JudgedObject {
    fn from(d: &crate::finding::report::DocumentReport) -> JudgedObject {
        JudgedObject {
            path: d.path.clone(),
            profile: d.profile.clone(),
            verdict: d.verdict.to_string(),
            findings: d.findings.iter().map(FindingView::from).collect(),
        }
    }
}

/// A validator's decision on a manual step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Decision {
    /// pass or fail.
    pub verdict: String,
    pub by: Option<String>,
    pub note: Option<String>,
}

impl ScenarioResult {
    /// The scenario's status from its steps: any failed/error/interrupted step decides, else any
    /// pending step, else passed.
    pub fn status_from_steps(steps: &[StepResult]) -> Status {
        let has = |s: Status| steps.iter().any(|x| x.status == s);
        if has(Status::Interrupted) {
            Status::Interrupted
        } else if has(Status::Error) {
            Status::Error
        } else if has(Status::Failed) {
            Status::Failed
        } else if has(Status::Pending) {
            Status::Pending
        } else if steps.is_empty() || steps.iter().all(|x| x.status == Status::Skipped) {
            Status::Skipped
        } else {
            Status::Passed
        }
    }
}

impl Score {
    pub fn of(scenarios: &[ScenarioResult]) -> Score {
        let mut s = Score::default();
        for sc in scenarios {
            if sc.required {
                s.required += 1;
            } else {
                s.optional += 1;
            }
            match (sc.status, sc.required) {
                (Status::Passed, true) => s.required_passed += 1,
                (Status::Passed, false) => s.optional_passed += 1,
                (Status::Failed, true) => s.required_failed += 1,
                (Status::Failed, false) => s.optional_failed += 1,
                (Status::Pending, _) => s.pending += 1,
                (Status::Skipped, _) => s.skipped += 1,
                (Status::Error | Status::Interrupted, _) => s.errors += 1,
            }
            s.pending_steps += sc
                .steps
                .iter()
                .filter(|x| x.status == Status::Pending)
                .count();
        }
        s
    }
}

impl RunSummary {
    pub fn of(participants: &[ParticipantResult]) -> RunSummary {
        let mut s = RunSummary::default();
        for p in participants {
            for sc in &p.scenarios {
                s.scenarios += 1;
                s.pending_steps += sc
                    .steps
                    .iter()
                    .filter(|x| x.status == Status::Pending)
                    .count();
                if sc.required {
                    s.required += 1;
                    match sc.status {
                        Status::Passed => s.required_passed += 1,
                        Status::Pending => s.required_pending += 1,
                        _ => s.required_failed += 1,
                    }
                } else {
                    match sc.status {
                        Status::Passed => s.optional_passed += 1,
                        Status::Failed | Status::Error => s.optional_failed += 1,
                        _ => {}
                    }
                }
            }
        }
        s.passed = s.required_passed == s.required;
        s
    }
}
