//! Renderings of a run (table, JSON, JUnit, HTML) and their output. The data they render is the
//! report model of `crate::finding::report`, re-exported here for readers of a run.

pub mod html;
pub mod json;
pub mod junit;
pub mod table;

pub use crate::finding::report::*;

/// Width of the terminal tables (`COLUMNS`, else 140).
pub fn terminal_width() -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(140)
}

/// Write to stdout; a reader that went away (`| head`) is not an error of banc's.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// Print a run (table, or the JSON contract) and write its JUnit and HTML files: what every
/// judging command (`validate`, `xdm check`, `mail fetch`, ...) does with its run.
pub fn output(
    run: &RunReport,
    json_out: bool,
    junit_file: Option<&std::path::Path>,
    html_file: Option<&std::path::Path>,
) -> Result<std::process::ExitCode, String> {
    if json_out {
        emit(&(json::render(run) + "\n"));
    } else {
        emit(&table::render(run, terminal_width()));
    }
    if let Some(path) = junit_file {
        let xml = junit::render(run)?;
        std::fs::write(path, xml).map_err(|e| format!("{} : {e}", path.display()))?;
    }
    if let Some(path) = html_file {
        std::fs::write(path, html::render(run)).map_err(|e| format!("{} : {e}", path.display()))?;
    }
    Ok(std::process::ExitCode::from(run.exit_status()))
}
