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
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const CHROMIUM: &str = "/usr/bin/chromium";
const HOSTILE: &str = "<script>alert(1)</script> \"><img src=x onerror=alert(1)> ]]> \u{1} é 中文";

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "banc-run-report-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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

/// The browser, or `None` to skip (after a note); panics when CI requires it.
fn chromium() -> Option<&'static str> {
    if Path::new(CHROMIUM).exists() {
        return Some(CHROMIUM);
    }
    if std::env::var("BANC_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!("BANC_REQUIRE_BROWSER=1 but {CHROMIUM} is not installed");
    }
    eprintln!(
        "skipped: chromium not installed ({CHROMIUM}); set BANC_REQUIRE_BROWSER=1 to require it"
    );
    None
}

/// `file://` URL of an absolute path, bytes outside the unreserved set percent-encoded.
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// Headless chromium dumping the DOM of `page`; killed after 90 s.
fn run_chromium(browser: &str, page: &Path) -> Output {
    let profile = TempDir::new("chromium-profile");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=2000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(file_url(page))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    // Drain the pipes on threads so a chatty browser cannot block on a full pipe.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut v).ok();
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut v).ok();
        v
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait chromium") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out_t.join().expect("stdout thread"),
        stderr: err_t.join().expect("stderr thread"),
    }
}

/// Console messages of the page in chromium's `--enable-logging=stderr` output (errors,
/// uncaught exceptions, CSP violations): `…:INFO:CONSOLE:12] "message", source: …` (older
/// versions: `CONSOLE(12)`). The page logs nothing, so any such line is a defect.
fn console_messages(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect()
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
    let out = run_chromium(browser, page);
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
    // The page's script ran under its Content-Security-Policy: it shows the filters.
    let filters = dom.find(r#"id="filtres""#).expect("filters in the DOM");
    let tag_end = filters + dom[filters..].find('>').expect("end of tag");
    assert!(
        !dom[filters..tag_end].contains("hidden"),
        "the script did not run: filters still hidden"
    );
}

/// Proves that [`console_messages`] catches a page error with this chromium: otherwise the test
/// above could pass because the log format changed, not because the page is clean.
#[test]
fn console_error_detector_catches_page_errors() {
    let Some(browser) = chromium() else { return };
    let tmp = TempDir::new("detector");
    let bad = tmp.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>t</title></head>\
         <body><p>x</p><script>undefinedFunction();</script></body></html>",
    )
    .expect("write page");
    let out = run_chromium(browser, &bad);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        console_messages(&stderr)
            .iter()
            .any(|l| l.contains("undefinedFunction")),
        "the detector missed a deliberate error; chromium stderr:\n{stderr}"
    );
}
