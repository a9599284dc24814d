//! `--format json`: the versioned contract (see [`super::JSON_SCHEMA`]).

use super::RunReport;

pub fn render(report: &RunReport) -> String {
    // Serialising plain data into a String cannot fail.
    serde_json::to_string_pretty(report).unwrap_or_default()
}
