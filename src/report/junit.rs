//! `--junit FILE`: one testsuite per document, one testcase per rule that ran; a failure carries
//! every finding of that rule at or above `--fail-on`, lower ones go to the case's system-out.

use super::{DocumentReport, RunReport};
use crate::finding::{Finding, Verdict};
use junit_report::{Duration, ReportBuilder, TestCase, TestSuiteBuilder};

fn describe(f: &Finding) -> String {
    let mut s = format!("[{}] {}", f.severity, f.message);
    let pos = f.location.position_text();
    if !pos.is_empty() {
        s.push_str(&format!(" ({pos})"));
    }
    if let Some(x) = &f.location.xpath {
        s.push_str(&format!(" {x}"));
    }
    s
}

fn suite(doc: &DocumentReport, fail_on: crate::finding::Severity) -> junit_report::TestSuite {
    let per_case =
        Duration::seconds_f64(doc.duration_ms / 1000.0 / doc.rules_run.len().max(1) as f64);
    let cases = doc.rules_run.iter().map(|run| {
        let found: Vec<&Finding> = doc.findings.iter().filter(|f| f.rule == run.rule).collect();
        let failing: Vec<&Finding> = found
            .iter()
            .copied()
            .filter(|f| f.severity >= fail_on)
            .collect();
        let mut case = if doc.verdict == Verdict::Error && !failing.is_empty() {
            TestCase::error(&run.rule, per_case, &run.rule, &failing[0].message)
        } else if let Some(first) = failing.first() {
            let msg = if failing.len() > 1 {
                format!("{} (+{} autres)", first.message, failing.len() - 1)
            } else {
                first.message.clone()
            };
            TestCase::failure(&run.rule, per_case, &run.rule, &msg)
        } else {
            TestCase::success(&run.rule, per_case)
        };
        // CI servers split classnames on '.', so a file path would scatter: the layer groups cases.
        case.set_classname(&format!("banc.{}", run.layer));
        if !found.is_empty() {
            let text: Vec<String> = found.iter().map(|f| describe(f)).collect();
            case.set_system_out(&text.join("\n"));
        }
        case
    });
    let mut b = TestSuiteBuilder::new(&doc.path);
    b.add_testcases(cases);
    b.set_system_out(&format!(
        "profile: {}\nverdict: {}",
        doc.profile.as_deref().unwrap_or("-"),
        doc.verdict
    ));
    b.build()
}

pub fn render(report: &RunReport) -> Result<Vec<u8>, String> {
    let suites: Vec<_> = report
        .documents
        .iter()
        .map(|d| suite(d, report.fail_on))
        .collect();
    let r = ReportBuilder::new().add_testsuites(suites).build();
    let mut out = Vec::new();
    r.write_xml(&mut out).map_err(|e| e.to_string())?;
    Ok(plain_timestamps(&String::from_utf8_lossy(&out)).into_bytes())
}

/// junit-report writes RFC 3339 timestamps (`2026-11-22T21:04:51.279Z`); the common JUnit schema
/// (Ant/Jenkins) wants `YYYY-MM-DDThh:mm:ss` with no fraction and no zone. Times are UTC.
fn plain_timestamps(xml: &str) -> String {
    const KEY: &str = "timestamp=\"";
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(i) = rest.find(KEY) {
        let (head, tail) = rest.split_at(i + KEY.len());
        out.push_str(head);
        let end = tail.find('"').unwrap_or(tail.len());
        out.push_str(tail.get(..19).filter(|_| end >= 19).unwrap_or(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_lose_fraction_and_zone() {
        assert_eq!(
            super::plain_timestamps(r#"<a timestamp="2026-11-22T21:04:51.279379993Z" b="1"/>"#),
            r#"<a timestamp="2026-11-22T21:04:51" b="1"/>"#
        );
        assert_eq!(super::plain_timestamps("<a/>"), "<a/>");
    }
}
