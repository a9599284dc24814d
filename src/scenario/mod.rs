//! Projectathon scenarios: suites of producer and consumer scenarios (N1/N2/N3), their steps,
//! the participants of an event (`suites/README.md`), and `banc suite check`.

pub mod hooks;
pub mod inbox;
pub mod lint;
pub mod model;
pub mod report;
pub mod results;
pub mod run;
pub mod steps;

use crate::finding::Severity;
use std::path::PathBuf;
use std::process::ExitCode;

/// `banc suite check SUITE [--participants FILE]`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Suite folder (e.g. suites/cr-bio).
    pub suite: PathBuf,
    /// Participants file to check with it.
    #[arg(long, value_name = "FILE")]
    pub participants: Option<PathBuf>,
    /// Output: a table, or JSON (`{"suite", "scenarios", "steps", "issues": [{"severity",
    /// "file", "line", "message"}]}`) for scripts.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

pub fn check(a: CheckArgs) -> Result<ExitCode, String> {
    let mut issues: Vec<lint::Issue> = Vec::new();
    let suite = model::load_suite(&a.suite);
    let participants = a.participants.as_deref().map(model::load_participants);
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
    if a.format == "json" {
        let list: Vec<serde_json::Value> = issues
            .iter()
            .map(|i| {
                serde_json::json!({
                    "severity": i.severity.as_str(),
                    "file": i.file.display().to_string(),
                    "line": i.line,
                    "message": i.message,
                })
            })
            .collect();
        let v = serde_json::json!({
            "suite": a.suite.display().to_string(),
            "scenarios": n_scen,
            "steps": n_steps,
            "errors": errors,
            "warnings": warnings,
            "issues": list,
        });
        crate::report::emit(&format!("{v:#}\n"));
    } else if !issues.is_empty() {
        let mut t = comfy_table::Table::new();
        t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
            .set_width(crate::report::terminal_width())
            .set_header(vec!["Sévérité", "Fichier", "Problème"]);
        for i in &issues {
            let at = match i.line {
                Some(l) => format!("{}:{l}", i.file.display()),
                None => i.file.display().to_string(),
            };
            t.add_row(vec![i.severity.as_str().to_string(), at, i.message.clone()]);
        }
        crate::report::emit(&format!("{t}\n"));
    }
    if a.format != "json" {
        crate::report::emit(&format!(
            "Suite {} : {n_scen} scénario(s), {n_steps} étape(s) ; {errors} erreur(s), {warnings} avertissement(s).\n",
            a.suite.display()
        ));
    }
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
