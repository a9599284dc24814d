//! `junit.xml` of a run: one testsuite per participant × role, one testcase per scenario.

use super::*;

// ---------------------------------------------------------------------------------------------
// JUnit

/// One testsuite per participant × role, one testcase per scenario; the steps in the
/// testcase's system-out. A pending scenario is skipped (never green) with the reason.
pub fn junit(r: &RunResults) -> Result<Vec<u8>, String> {
    let mut report = Report::unnamed();
    report.add_test_suites(rows(r).iter().map(|row| junit_suite(r, row)));
    to_xml(&report)
}

/// The `YYYY-MM-DDThh:mm:ss` head of an RFC 3339 time; the epoch when it is not one.
fn plain_time(rfc3339: &str) -> &str {
    rfc3339
        .get(..19)
        .filter(|t| {
            t.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                10 => b == b'T',
                13 | 16 => b == b':',
                _ => b.is_ascii_digit(),
            })
        })
        .unwrap_or("1970-01-01T00:00:00")
}

/// A classname segment: CI servers split classnames on `.` (and some on other punctuation).
fn segment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn junit_suite(r: &RunResults, row: &Row) -> TestSuite {
    let p = row.p;
    let classname = format!(
        "banc.{}.{}.{}",
        segment(&r.suite.id),
        segment(&p.id),
        row.role.as_str()
    );
    let cases = row.scenarios.iter().map(|sc| {
        let mut case = junit_case(sc);
        case.set_classname(classname.as_str());
        case.set_system_out(visible(&steps_text(sc)));
        case
    });
    let mut b = TestSuite::new(visible(&format!(
        "{} ({}) — {}",
        p.id,
        row.role.as_str(),
        p.system
    )));
    b.add_test_cases(cases);
    stamp(&mut b, plain_time(&r.started));
    let s = &row.score;
    let mut out = format!(
        "Organisation : {}\nSystème : {}\n",
        p.organisation, p.system
    );
    if let Some(sim) = &p.simulated {
        writeln!(out, "Simulé par banc : {sim}").ok();
    }
    write!(
        out,
        "Suite : {} — {}\nVerdict : {}\nObligatoires réussis : {}, échoués : {}\nOptionnels réussis : {}\nEn attente : {} scénario(s), {} étape(s) manuelle(s)\nNon joués : {}\nErreurs : {}",
        r.suite.id,
        r.suite.title,
        row.verdict().label_fr(),
        ratio(s.required_passed, s.required),
        s.required_failed,
        ratio(s.optional_passed, s.optional),
        s.pending,
        s.pending_steps,
        s.skipped,
        s.errors
    )
    .ok();
    b.set_system_out(visible(&out));
    b
}

fn junit_case(sc: &ScenarioResult) -> TestCase {
    let name = visible(&format!(
        "{}{} — {}",
        if sc.required { "" } else { "[optionnel] " },
        sc.id,
        sc.title
    ))
    .into_owned();
    let time = Duration::from_millis(sc.duration_ms);
    let reason = visible(sc.reason.as_deref().unwrap_or(sc.status.label_fr())).into_owned();
    // The type names the step that decided, so that a CI server groups failures by step.
    let first = |s: Status| {
        visible(
            sc.steps
                .iter()
                .find(|x| x.status == s)
                .map_or(sc.id.as_str(), |x| x.id.as_str()),
        )
        .into_owned()
    };
    let status = match sc.status {
        Status::Passed => TestCaseStatus::success(),
        Status::Failed => non_success(NonSuccessKind::Failure, &first(Status::Failed), &reason),
        Status::Error | Status::Interrupted => {
            non_success(NonSuccessKind::Error, &first(sc.status), &reason)
        }
        Status::Skipped => skipped("skipped", &reason),
        Status::Pending => {
            let waiting: Vec<String> = sc
                .steps
                .iter()
                .filter(|x| x.status == Status::Pending)
                .map(|x| visible(&x.id).into_owned())
                .collect();
            skipped(
                "pending",
                &format!(
                    "en attente de la décision d'un validateur : {} étape(s) manuelle(s) ({})",
                    waiting.len(),
                    waiting.join(", ")
                ),
            )
        }
    };
    let mut case = TestCase::new(name, status);
    // Skipped and pending scenarios did not run: no time.
    case.set_time(if matches!(sc.status, Status::Skipped | Status::Pending) {
        Duration::ZERO
    } else {
        time
    });
    case
}

/// The scenario and each of its steps as plain text (a testcase's system-out).
fn steps_text(sc: &ScenarioResult) -> String {
    let mut out = format!(
        "{} — {} ({}, {}) : {}",
        sc.id,
        sc.title,
        level_str(sc.level),
        if sc.required {
            "obligatoire"
        } else {
            "optionnel"
        },
        sc.status.label_fr()
    );
    if let Some(r) = &sc.reason {
        write!(out, " — {r}").ok();
    }
    for st in &sc.steps {
        write!(
            out,
            "\n\n[{}] {} {}",
            st.status.label_fr(),
            st.kind.as_str(),
            st.id
        )
        .ok();
        if let Some(t) = &st.title {
            write!(out, " — {t}").ok();
        }
        write!(out, " ({}) : {}", duration(st.duration_ms), st.message).ok();
        for c in &st.checks {
            write!(
                out,
                "\n  {} {} : {}",
                if c.ok { "✓" } else { "✗" },
                c.name,
                c.detail
            )
            .ok();
        }
        if let Some(i) = &st.instructions {
            write!(out, "\n  consignes : {i}").ok();
        }
        for c in &st.checklist {
            write!(out, "\n  à vérifier : {c}").ok();
        }
        for e in &st.evidence {
            write!(out, "\n  preuve : {e}").ok();
        }
        if let Some(d) = &st.decision {
            write!(out, "\n  décision : {}", decision_text(d)).ok();
        }
        for l in &st.log {
            write!(out, "\n  | {l}").ok();
        }
        for o in &st.reports {
            write!(
                out,
                "\n  objet jugé : {} [{}] : {}",
                o.path,
                o.profile.as_deref().unwrap_or("profil non déterminé"),
                o.verdict
            )
            .ok();
            for f in &o.findings {
                write!(out, "\n    {}", finding_line(f)).ok();
            }
        }
    }
    out
}
