//! Projectathon scenarios: suites of producer and consumer scenarios (N1/N2/N3), their steps,
//! the participants of an event (`suites/README.md`), their check (`banc suite check`) and the
//! runner (`banc run`).

pub mod fetch;
pub mod hooks;
pub mod inbox;
pub mod lint;
pub mod model;
pub mod report;
pub mod results;
pub mod run;
pub mod scope;
pub mod steps;

use crate::finding::Severity;
use std::path::Path;

/// What `banc suite check` found: the suite's size and every issue (errors and warnings).
#[derive(Debug)]
pub struct SuiteCheck {
    pub scenarios: usize,
    pub steps: usize,
    pub issues: Vec<lint::Issue>,
    pub errors: usize,
    pub warnings: usize,
}

/// Check a suite, and a participants file with it, without running anything.
pub fn check(suite_dir: &Path, participants: Option<&Path>) -> SuiteCheck {
    let mut issues: Vec<lint::Issue> = Vec::new();
    let suite = model::load_suite(suite_dir);
    let participants = participants.map(model::load_participants);
    let (n_scen, n_steps) = match &suite {
        Ok(s) => (
            s.scenarios.len(),
            s.scenarios.iter().map(|x| x.steps.len()).sum(),
        ),
        Err(_) => (0, 0),
    };
    match (&suite, &participants) {
        (Ok(s), Some(Ok(p))) => issues.extend(lint::check(s, Some(p))),
        (Ok(s), None) => issues.extend(lint::check(s, None)),
        (Ok(s), Some(Err(e))) => {
            issues.push(e.clone().into());
            issues.extend(lint::check(s, None));
        }
        (Err(errs), p) => {
            issues.extend(errs.iter().cloned().map(Into::into));
            if let Some(Err(e)) = p {
                issues.push(e.clone().into());
            }
        }
    }
    let errors = issues
        .iter()
        .filter(|i| i.severity == Severity::Error)
        .count();
    let warnings = issues.len() - errors;
    SuiteCheck {
        scenarios: n_scen,
        steps: n_steps,
        issues,
        errors,
        warnings,
    }
}

/// Why a run (`banc run`, `banc rehearse`, a simulator) could not be played to its reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The suite or the participants file cannot be read, or has lint errors.
    #[error("{0}")]
    Suite(String),
    /// A participant or a scenario asked for is not in the participants file or the suite.
    #[error("{0}")]
    Selection(String),
    /// The validators' decisions file cannot be used.
    #[error("{0}")]
    Decisions(String),
    /// The kit cannot be opened or compiled.
    #[error(transparent)]
    Kit(#[from] crate::kit::KitError),
    /// banc's SMTP server, its HTTP listener or a simulator could not start.
    #[error("{0}")]
    Listen(String),
    /// The results could not be written.
    #[error("{0}")]
    Reports(String),
    /// The asynchronous runtime failed.
    #[error("{0}")]
    Runtime(String),
}
