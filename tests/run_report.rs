//! The run report (`report.html` of `banc run` / `banc rehearse`) in a real browser: rendered
//! with no console error, the scoreboard in the live DOM, the run's hostile text kept as text.
//!
//! The browser tests use `/usr/bin/chromium` when it exists; without it they are skipped with a
//! note, unless `BANC_REQUIRE_BROWSER=1` (CI), where a missing browser fails them.

use banc::scenario::model::{Kind, Level, Role};
use banc::scenario::report;
use banc::scenario::results::{
    Check, FindingView, JudgedObject, ParticipantResult, RESULTS_SCHEMA, RunResults, RunSummary,
    ScenarioResult, Score, Status, StepResult, SuiteInfo,
};
mod common;

use common::browser::{TempDir, assert_script_ran, chromium, console_messages, run_chromium};

const HOSTILE: &str = "<script>alert(1)</script> \"><img src=x onerror=alert(1)> ]]> \u{1} é 中文";

fn step(id: &str, kind: Kind, status: Status, message: &str) -> StepResult {
    StepResult {
        id: id.into(),
        kind,
        title: Some(format!("étape {id}")),
        status,
        message: message.into(),
        duration_ms: 40,
        log: vec![format!("09:00:00.000 {message}")],
        checks: vec![],
        reports: vec![],
        instructions: None,
        checklist: vec![],
        evidence: vec![],
        decision: None,
    }
}

fn participant(
    id: &str,
    system: &str,
    simulated: Option<&str>,
    role: Role,
    steps: Vec<(bool, StepResult)>,
) -> ParticipantResult {
    let scenarios: Vec<ScenarioResult> = steps
        .into_iter()
        .enumerate()
        .map(|(i, (required, st))| ScenarioResult {
            id: format!("{id}-S{}", i + 1),
            title: format!("scénario {} {HOSTILE}", i + 1),
            role,
            level: Level::N2,
            required,
            status: ScenarioResult::status_from_steps(std::slice::from_ref(&st)),
            reason: (st.status != Status::Passed).then(|| st.message.clone()),
            started: Some("2026-03-02T09:00:00Z".into()),
            duration_ms: 900,
            steps: vec![st],
        })
        .collect();
    ParticipantResult {
        id: id.into(),
        organisation: format!("Organisation {id} é"),
        system: system.into(),
        roles: vec![role],
        simulated: simulated.map(Into::into),
        score: Score::of(&scenarios),
        scenarios,
    }
}

/// A producer that passes one required scenario, fails one (hostile finding) and waits on a
/// manual step; a simulated consumer with a banc error and an optional pass.
fn results() -> RunResults {
    let mut failed = step("mail", Kind::AwaitMail, Status::Failed, HOSTILE);
    failed.checks.push(Check {
        name: "verdict".into(),
        ok: false,
        detail: format!("fail (attendu pass) {HOSTILE}"),
    });
    failed.reports.push(JudgedObject {
        path: format!("m.eml!{HOSTILE}.xml"),
        profile: None,
        verdict: "fail".into(),
        findings: vec![FindingView {
            rule: "banc.header.realm-code".into(),
            severity: "error".into(),
            layer: "banc".into(),
            message: HOSTILE.into(),
            xpath: Some("/ClinicalDocument".into()),
            line: Some(2),
            column: Some(1),
        }],
    });
    let mut manual = step("suivi", Kind::Monitor, Status::Pending, "à décider");
    manual.instructions = Some(HOSTILE.into());
    manual.checklist = vec!["résultats intégrés".into()];
    let participants = vec![
        participant(
            "labo",
            "SGL 1.0",
            None,
            Role::Producer,
            vec![
                (true, step("depot", Kind::Submit, Status::Passed, "ok")),
                (true, failed),
                (true, manual),
            ],
        ),
        participant(
            "recepteur",
            "banc simulate receiver",
            Some("receiver"),
            Role::Consumer,
            vec![
                (
                    true,
                    step("envoi", Kind::SendMail, Status::Error, "pas de SMTP"),
                ),
                (
                    false,
                    step("ack", Kind::AwaitAck, Status::Passed, "MDN reçu"),
                ),
            ],
        ),
    ];
    RunResults {
        schema: RESULTS_SCHEMA.into(),
        banc: env!("CARGO_PKG_VERSION").into(),
        suite: SuiteInfo {
            id: "cr-bio".into(),
            title: "Projectathon CR-BIO".into(),
            version: None,
            dir: "suites/cr-bio".into(),
        },
        started: "2026-03-02T09:00:00Z".into(),
        finished: "2026-03-02T09:01:00Z".into(),
        duration_ms: 60_000,
        interrupted: false,
        kit: None,
        summary: RunSummary::of(&participants),
        participants,
    }
}

#[test]
fn chromium_renders_the_run_report_with_its_scoreboard() {
    let Some(browser) = chromium() else { return };
    let tmp = TempDir::new("browser");
    let paths = report::write_all(tmp.path(), &results()).expect("reports written");
    let page = paths
        .iter()
        .find(|p| p.ends_with("report.html"))
        .expect("report.html");
    let out = run_chromium(browser, page, &["--dump-dom"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium failed: {}\n{stderr}",
        out.status
    );
    let console = console_messages(&stderr);
    assert!(
        console.is_empty(),
        "console messages from the page:\n{}",
        console.join("\n")
    );
    // The scoreboard: one row per participant × role, with its numbers.
    let board = dom
        .find(r#"<table class="board">"#)
        .map(|i| &dom[i..])
        .expect("scoreboard in the rendered DOM");
    let board = &board[..board.find("</table>").expect("end of scoreboard")];
    assert_eq!(board.matches("<tr class=").count(), 2, "{board}");
    assert!(board.contains("Organisation labo é"));
    assert!(board.contains(r##"href="#p1-consumer""##));
    assert!(board.contains(r#"<td class="num">1/3</td>"#), "{board}");
    assert!(board.contains(r#"<td class="num">1/1</td>"#), "{board}");
    assert!(board.contains("simulé"));
    // The drill-down reached the DOM, the run's text stayed text.
    assert!(dom.contains("banc.header.realm-code"));
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!dom.contains("<img"), "an element was injected");
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "only the page's own script"
    );
    assert_script_ran(&dom);
}

/// The report of a real rehearsal (banc's simulators on suites/cr-bio) renders with no console
/// error and shows the four simulated participants in its scoreboard.
#[test]
fn chromium_renders_a_rehearsal_report() {
    let Some(browser) = chromium() else { return };
    let tmp = TempDir::new("rehearsal");
    let r = common::run(&["rehearse", "suites/cr-bio", "--out", &common::s(tmp.path())]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let out = run_chromium(browser, &tmp.path().join("report.html"), &["--dump-dom"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(console_messages(&stderr).is_empty(), "{stderr}");
    let dom = String::from_utf8_lossy(&out.stdout);
    for id in [
        "labo-reference",
        "labo-defaillant",
        "recepteur-reference",
        "recepteur-defaillant",
    ] {
        assert!(dom.contains(id), "{id} in the rendered scoreboard");
    }
    assert!(dom.contains("CRBIO-P12"), "drill-down present");
    assert_script_ran(&dom);
}
