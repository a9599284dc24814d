//! `--format json`: the versioned contract (see [`super::JSON_SCHEMA`]), and its streamed form
//! `--format jsonl`: one line per document as it finishes, then one line for the run.

use super::{DocumentReport, KitStamp, RunReport, Summary, TerminologyStamp};
use crate::finding::Severity;
use serde::Serialize;

pub fn render(report: &RunReport) -> String {
    // Serialising plain data into a String cannot fail.
    serde_json::to_string_pretty(report).unwrap_or_default()
}

/// A document's JSON Lines line: the object of `documents[]` in the JSON contract, on one line.
pub fn document_line(doc: &DocumentReport) -> String {
    serde_json::to_string(doc).unwrap_or_default() + "\n"
}

/// The last JSON Lines line: the run's object of the JSON contract without `documents` (they
/// are the lines before it).
pub fn run_line(report: &RunReport) -> String {
    #[derive(Serialize)]
    struct RunLine<'a> {
        banc: &'a str,
        schema: &'a str,
        kit: &'a Option<KitStamp>,
        #[serde(skip_serializing_if = "Option::is_none")]
        terminology: &'a Option<TerminologyStamp>,
        fail_on: Severity,
        summary: &'a Summary,
    }
    let line = RunLine {
        banc: &report.banc,
        schema: &report.schema,
        kit: &report.kit,
        terminology: &report.terminology,
        fail_on: report.fail_on,
        summary: &report.summary,
    };
    serde_json::to_string(&line).unwrap_or_default() + "\n"
}

/// A whole run as JSON Lines (the documents, then the run line).
pub fn render_lines(report: &RunReport) -> String {
    let mut out: String = report.documents.iter().map(document_line).collect();
    out.push_str(&run_line(report));
    out
}
