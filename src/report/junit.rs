//! `--junit FILE`: one testsuite per document, one testcase per rule that ran; a failure carries
//! every finding of that rule that fails the document (at or above `--fail-on`, not waived, new
//! under `--fail-on-new`); every finding, marked (known, waived…), goes to the case's system-out.
//!
//! Both JUnit reports (this one and `banc run`'s) are written by quick-junit, which escapes
//! markup and drops characters XML cannot hold; [`to_xml`] fits its output to the common JUnit
//! schema (tests/schemas/junit.xsd).

use super::{DocumentReport, RunReport};
use crate::finding::{Finding, Verdict};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

fn describe(f: &Finding) -> String {
    let mut s = format!("[{}] {}", f.severity, f.message);
    let pos = f.location.position_text();
    if !pos.is_empty() {
        s.push_str(&format!(" ({pos})"));
    }
    if let Some(x) = &f.location.xpath {
        s.push_str(&format!(" {x}"));
    }
    for m in f.marks_fr() {
        s.push_str(&format!(" [{m}]"));
    }
    s
}

/// A failed (`Failure`) or errored (`Error`) case status with its type and message.
pub(crate) fn non_success(kind: NonSuccessKind, ty: &str, message: &str) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(kind);
    s.set_type(ty).set_message(message);
    s
}

/// A skipped case status with its type and message.
pub(crate) fn skipped(ty: &str, message: &str) -> TestCaseStatus {
    let mut s = TestCaseStatus::skipped();
    s.set_type(ty).set_message(message);
    s
}

/// A suite's `timestamp` as the common JUnit schema wants it: `YYYY-MM-DDThh:mm:ss`, no zone
/// (quick-junit would write RFC 3339 with a zone), then the `time` summed over its cases.
pub(crate) fn stamp(suite: &mut TestSuite, timestamp: &str) {
    let time: Duration = suite.test_cases.iter().filter_map(|c| c.time).sum();
    suite.set_time(time);
    suite.extra.insert("timestamp".into(), timestamp.into());
}

/// The report as XML. quick-junit writes a `skipped` count on the root `testsuites`, which the
/// common JUnit schema does not have (it is on each `testsuite`): taken out of the root tag.
pub(crate) fn to_xml(report: &Report) -> Result<Vec<u8>, String> {
    let xml = report.to_string().map_err(|e| e.to_string())?;
    let Some(root) = xml.find("<testsuites") else {
        return Ok(xml.into_bytes());
    };
    let (head, rest) = xml.split_at(root);
    let (tag, tail) = rest.split_at(rest.find('>').unwrap_or(rest.len()));
    let tag = match tag.split_once(" skipped=\"") {
        Some((before, value)) => {
            let after = value.split_once('"').map_or("", |(_, a)| a);
            format!("{before}{after}")
        }
        None => tag.to_string(),
    };
    Ok(format!("{head}{tag}{tail}").into_bytes())
}

fn suite(
    i: usize,
    doc: &DocumentReport,
    fail_on: crate::finding::Severity,
    only_new: bool,
    now: &str,
) -> TestSuite {
    let per_case = Duration::from_secs_f64(
        doc.duration_ms.max(0.0) / 1000.0 / doc.rules_run.len().max(1) as f64,
    );
    let cases = doc.rules_run.iter().map(|run| {
        let found: Vec<&Finding> = doc.findings.iter().filter(|f| f.rule == run.rule).collect();
        let failing: Vec<&Finding> = found
            .iter()
            .copied()
            .filter(|f| f.gates(fail_on, only_new))
            .collect();
        let status = if doc.verdict == Verdict::Error && !failing.is_empty() {
            non_success(NonSuccessKind::Error, &run.rule, &failing[0].message)
        } else if let Some(first) = failing.first() {
            let msg = if failing.len() > 1 {
                format!("{} (+{} autres)", first.message, failing.len() - 1)
            } else {
                first.message.clone()
            };
            non_success(NonSuccessKind::Failure, &run.rule, &msg)
        } else {
            TestCaseStatus::success()
        };
        let mut case = TestCase::new(run.rule.as_str(), status);
        // CI servers split classnames on '.', so a file path would scatter: the layer groups cases.
        case.set_classname(format!("banc.{}", run.layer));
        case.set_time(per_case);
        if !found.is_empty() {
            let text: Vec<String> = found.iter().map(|f| describe(f)).collect();
            case.set_system_out(text.join("\n"));
        }
        case
    });
    let mut s = TestSuite::new(doc.path.as_str());
    s.add_test_cases(cases);
    for (k, v) in [
        ("id", i.to_string()),
        ("package", format!("testsuite/{}", doc.path)),
        ("hostname", "localhost".to_string()),
    ] {
        s.extra.insert(k.into(), v.into());
    }
    stamp(&mut s, now);
    s.set_system_out(format!(
        "profile: {}\nverdict: {}",
        doc.profile.as_deref().unwrap_or("-"),
        doc.verdict
    ));
    s
}

pub fn render(report: &RunReport) -> Result<Vec<u8>, String> {
    // UTC, to the second, as the common JUnit schema writes it.
    let now = crate::clock::Utc::now().rfc3339();
    let now = now
        .split_once('.')
        .map_or(now.as_str(), |(seconds, _)| seconds);
    let mut r = Report::unnamed();
    r.add_test_suites(
        report
            .documents
            .iter()
            .enumerate()
            .map(|(i, d)| suite(i, d, report.fail_on, report.only_new(), now)),
    );
    // Which rules judged, on every suite: the kit (its ref when fetched) or banc's own rules.
    for s in &mut r.test_suites {
        match &report.kit {
            Some(k) => {
                s.add_property(("banc.kit", k.path.as_str()));
                s.add_property(("banc.kit.fingerprint", k.fingerprint.as_str()));
                if let Some(src) = &k.source {
                    s.add_property(("banc.kit.ref", src.reference.as_str()));
                    s.add_property(("banc.kit.archive_sha256", src.archive_sha256.as_str()));
                }
            }
            None => {
                s.add_property(("banc.kit", "aucun (règles intégrées de banc)"));
            }
        }
    }
    to_xml(&r)
}

#[cfg(test)]
mod tests {
    use quick_junit::{Report, TestCase, TestCaseStatus, TestSuite};

    #[test]
    fn the_root_loses_its_skipped_count_and_keeps_the_others() {
        let mut s = TestSuite::new("s");
        s.add_test_case(TestCase::new("a", TestCaseStatus::skipped()));
        let mut r = Report::unnamed();
        r.add_test_suite(s);
        let xml = String::from_utf8(super::to_xml(&r).unwrap()).unwrap();
        assert!(
            xml.contains("<testsuites tests=\"1\" failures=\"0\" errors=\"0\">"),
            "{xml}"
        );
        assert!(
            xml.contains("<testsuite name=\"s\" tests=\"1\" skipped=\"1\""),
            "{xml}"
        );
    }
}
