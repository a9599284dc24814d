//! `banc diff OLD NEW`: new, fixed and persisting findings between two runs.

use super::common::{emit, emit_json};
use banc::report::diff;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DiffArgs {
    /// The earlier run: a JSON report (`--format json`, `--json FILE`) or a baseline.
    pub old: PathBuf,
    /// The later run, likewise.
    pub new: PathBuf,
    /// Output on stdout.
    #[arg(long, default_value = "table", value_parser = ["table", "json", "html"])]
    pub format: String,
}

/// Exit 1 when a new error (not waived) appeared, else 0; 2 when a file cannot be read.
pub fn run(a: DiffArgs) -> Result<ExitCode, String> {
    let side = |p: &PathBuf| {
        banc::gate::read_findings(p).map(|(f, kit)| (p.display().to_string(), f, kit))
    };
    let d = diff::compute(side(&a.old)?, side(&a.new)?);
    match a.format.as_str() {
        "json" => emit_json(&diff::render_json(&d)),
        "html" => emit_json(&diff::render_html(&d)),
        _ => emit(&diff::render_table(&d)),
    }
    Ok(ExitCode::from(d.exit_status()))
}
