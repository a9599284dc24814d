//! Run reports rendered from [`super::results::RunResults`]: `junit.xml`, `report.html`,
//! `results.json` and the terminal scoreboard.
//!
//! The scoreboard has one line per participant × role. Text from the run (messages, logs,
//! findings quoting documents) is untrusted: control and bidi characters are made visible
//! ([`visible`]) in every format, maud escapes the page, and the page's Content-Security-Policy
//! pins its own CSS and script by hash, as in `report::html`.

use super::model::{Level, Role};
use super::results::{
    Decision, FindingView, JudgedObject, ParticipantResult, RunResults, RunSummary, ScenarioResult,
    Score, Status, StepResult,
};
use crate::finding::{Layer, Severity};
use crate::report::html::{head, visible};
use crate::report::junit::{non_success, skipped, stamp, to_xml};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod html;
mod junit;
mod table;

pub use html::html;
pub use junit::junit;
pub use table::table;

/// `results.json`: the results as they are, pretty-printed.
pub fn json(r: &RunResults) -> String {
    // serde_json fails only on non-string map keys or a failing `Serialize` impl: none here.
    let mut s = serde_json::to_string_pretty(r).expect("RunResults serialises to JSON");
    s.push('\n');
    s
}

/// Writes `results.json`, `junit.xml` and `report.html` in `dir` (created), each through a
/// `.tmp` file synced then renamed: an interrupted run leaves the previous file or the new one,
/// never half of one.
pub fn write_all(dir: &Path, r: &RunResults) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("création du dossier {} : {e}", dir.display()))?;
    let files = [
        ("results.json", json(r).into_bytes()),
        ("junit.xml", junit(r)?),
        ("report.html", html(r).into_bytes()),
    ];
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        let tmp = dir.join(format!("{name}.tmp"));
        let res = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = res {
            let _ = std::fs::remove_file(&tmp);
            return Err(format!("écriture de {} : {e}", path.display()));
        }
        written.push(path);
    }
    // Make the renames themselves durable (not possible everywhere, hence best effort).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(written)
}

// ---------------------------------------------------------------------------------------------
// The scoreboard, shared by every format

/// A participant in one role, with the scenarios of that role.
struct Row<'a> {
    /// Index of the participant in the run (for page anchors).
    n: usize,
    p: &'a ParticipantResult,
    role: Role,
    scenarios: Vec<&'a ScenarioResult>,
    score: Score,
}

impl Row<'_> {
    /// Passed when every required scenario passed, pending when the rest only awaits a
    /// validator, failed otherwise.
    fn verdict(&self) -> Status {
        verdict(
            self.scenarios
                .iter()
                .filter(|s| s.required && s.status != Status::Passed)
                .map(|s| s.status),
        )
    }

    fn pending_text(&self) -> String {
        format!("{} · {}", self.score.pending, self.score.pending_steps)
    }
}

fn verdict(mut left: impl Iterator<Item = Status>) -> Status {
    match left.next() {
        None => Status::Passed,
        Some(Status::Pending) if left.all(|s| s == Status::Pending) => Status::Pending,
        Some(_) => Status::Failed,
    }
}

/// One row per participant × role that has scenarios, producers first.
fn rows(r: &RunResults) -> Vec<Row<'_>> {
    let mut rows = Vec::new();
    for (n, p) in r.participants.iter().enumerate() {
        for role in [Role::Producer, Role::Consumer] {
            let scenarios: Vec<&ScenarioResult> =
                p.scenarios.iter().filter(|s| s.role == role).collect();
            if scenarios.is_empty() {
                continue;
            }
            let owned: Vec<ScenarioResult> = scenarios.iter().map(|s| (*s).clone()).collect();
            rows.push(Row {
                n,
                p,
                role,
                score: Score::of(&owned),
                scenarios,
            });
        }
    }
    rows
}

fn overall(s: &RunSummary) -> Status {
    if s.passed {
        Status::Passed
    } else if s.required_failed == 0 {
        Status::Pending
    } else {
        Status::Failed
    }
}

fn overall_text(s: &RunSummary) -> String {
    if s.required == 0 {
        return "Aucun scénario obligatoire joué.".into();
    }
    if s.passed {
        return format!(
            "Réussite : les {} scénarios obligatoires sont réussis.",
            s.required
        );
    }
    let mut text = format!(
        "Échec : {} scénario(s) obligatoire(s) réussi(s) sur {}",
        s.required_passed, s.required
    );
    if s.required_failed > 0 {
        write!(
            text,
            " ; {} non réussi(s) (échoué, non joué, erreur ou interrompu)",
            s.required_failed
        )
        .ok();
    }
    if s.required_pending > 0 {
        write!(
            text,
            " ; {} en attente de la décision d'un validateur",
            s.required_pending
        )
        .ok();
    }
    text + "."
}

fn role_fr(r: Role) -> &'static str {
    match r {
        Role::Producer => "producteur",
        Role::Consumer => "consommateur",
    }
}

fn level_str(l: Level) -> &'static str {
    match l {
        Level::N1 => "N1",
        Level::N2 => "N2",
        Level::N3 => "N3",
    }
}

fn icon(s: Status) -> &'static str {
    match s {
        Status::Passed => "✓",
        Status::Failed => "✗",
        Status::Pending => "…",
        Status::Skipped => "–",
        Status::Error => "!",
        Status::Interrupted => "■",
    }
}

/// `n/of`, a dash when there is nothing to count.
fn ratio(n: usize, of: usize) -> String {
    if of == 0 {
        "—".into()
    } else {
        format!("{n}/{of}")
    }
}

fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {:02} s", ms / 60_000, ms / 1000 % 60),
    }
}

/// `[error] rule message (l. 3, col. 5) /xpath`
fn finding_line(f: &FindingView) -> String {
    let mut s = format!("[{}] {} {}", f.severity, f.rule, f.message);
    let pos = position(f.line, f.column);
    if !pos.is_empty() {
        write!(s, " ({pos})").ok();
    }
    if let Some(x) = &f.xpath {
        write!(s, " {x}").ok();
    }
    s
}

fn position(line: Option<u32>, column: Option<u32>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("l. {l}, col. {c}"),
        (Some(l), None) => format!("l. {l}"),
        _ => String::new(),
    }
}

fn decision_text(d: &Decision) -> String {
    let mut s = d.verdict.clone();
    if let Some(by) = &d.by {
        write!(s, " par {by}").ok();
    }
    if let Some(n) = &d.note {
        write!(s, " — {n}").ok();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::Kind;
    use crate::scenario::results::{Check, RESULTS_SCHEMA, SuiteInfo};
    use crate::xml::ffi;

    /// Markup, a CDATA end, control characters (one a terminal escape), a bidi override,
    /// accents and CJK.
    const HOSTILE: &str = "<script>alert(1)</script> ]]> \u{1}\u{1b}[31m é 中文 \u{202E}fin";

    fn step(id: &str, kind: Kind, status: Status, message: &str) -> StepResult {
        StepResult {
            id: id.into(),
            kind,
            title: None,
            status,
            message: message.into(),
            duration_ms: 12,
            log: vec![],
            checks: vec![],
            reports: vec![],
            instructions: None,
            checklist: vec![],
            evidence: vec![],
            decision: None,
        }
    }

    fn scenario(
        id: &str,
        role: Role,
        required: bool,
        reason: Option<&str>,
        steps: Vec<StepResult>,
    ) -> ScenarioResult {
        ScenarioResult {
            id: id.into(),
            title: format!("Titre de {id}"),
            role,
            level: Level::N1,
            required,
            status: ScenarioResult::status_from_steps(&steps),
            reason: reason.map(Into::into),
            started: Some("2026-03-02T09:15:00.250Z".into()),
            duration_ms: 1500,
            steps,
        }
    }

    fn participant(
        id: &str,
        organisation: &str,
        system: &str,
        simulated: Option<&str>,
        scenarios: Vec<ScenarioResult>,
    ) -> ParticipantResult {
        ParticipantResult {
            id: id.into(),
            organisation: organisation.into(),
            system: system.into(),
            roles: vec![scenarios[0].role],
            simulated: simulated.map(Into::into),
            score: Score::of(&scenarios),
            scenarios,
        }
    }

    /// A producer with passed, failed (required and optional), pending and skipped scenarios;
    /// a simulated consumer with an error, an interrupted scenario and a decided manual step.
    fn sample() -> RunResults {
        use Kind::*;
        use Role::*;
        use Status::*;
        let mut submitted = step("P01-depot", Submit, Passed, "document déposé");
        submitted.checks.push(Check {
            name: "verdict".into(),
            ok: true,
            detail: "pass (attendu pass)".into(),
        });
        let mut mail = step("P09-mail", AwaitMail, Failed, HOSTILE);
        mail.checks = vec![
            Check {
                name: "verdict".into(),
                ok: true,
                detail: "fail (attendu fail)".into(),
            },
            Check {
                name: "loinc_include".into(),
                ok: false,
                detail: format!("14749-6 absent ; trouvé {HOSTILE}"),
            },
        ];
        mail.log = vec![format!("09:15:01.120 reçu de <lab@armor.fr> : {HOSTILE}")];
        mail.reports.push(JudgedObject {
            path: "m1.eml!IHE_XDM.zip!IHE_XDM/SUBSET01/DOC0001.XML".into(),
            profile: Some("cr-bio-2024.01".into()),
            verdict: "fail".into(),
            findings: vec![FindingView {
                rule: "banc.header.realm-code".into(),
                severity: "error".into(),
                layer: "banc".into(),
                message: HOSTILE.into(),
                xpath: Some("/ClinicalDocument/realmCode".into()),
                line: Some(3),
                column: Some(5),
            }],
        });
        let mut monitor = step("P12-integration", Monitor, Pending, "en attente");
        monitor.instructions = Some("Vérifier l'intégration des résultats".into());
        monitor.checklist = vec!["résultats affichés".into()];
        let mut decided = step("C03-preuve", Evidence, Passed, "preuve acceptée");
        decided.evidence = vec!["capture é.png".into()];
        decided.decision = Some(Decision {
            verdict: "pass".into(),
            by: Some("Validateur ANS".into()),
            note: Some("conforme".into()),
        });
        let producer = participant(
            "armor-bio",
            "Laboratoire Armor Bio",
            "SGL Kermes 7.3",
            None,
            vec![
                scenario("CRBIO-P01", Producer, true, None, vec![submitted]),
                scenario(
                    "CRBIO-P09",
                    Producer,
                    true,
                    Some(&format!("document non conforme : {HOSTILE}")),
                    vec![step("P09-depot", Submit, Passed, "déposé"), mail],
                ),
                scenario("CRBIO-P12", Producer, true, None, vec![monitor]),
                scenario(
                    "CRBIO-P06",
                    Producer,
                    true,
                    Some("prérequis CRBIO-P09 non réussi"),
                    vec![step("P06-envoi", SendMail, Skipped, "non joué")],
                ),
                scenario(
                    "CRBIO-P05",
                    Producer,
                    false,
                    Some("remplacement refusé"),
                    vec![step("P05-depot", Submit, Failed, "setId différent")],
                ),
                scenario(
                    "CRBIO-P07",
                    Producer,
                    false,
                    None,
                    vec![step("P07-depot", Submit, Passed, "ok")],
                ),
            ],
        );
        let consumer = participant(
            "lab-ko",
            "Récepteur simulé 中文",
            "banc simulate receiver",
            Some("receiver (fautes : ins-mismatch)"),
            vec![
                scenario(
                    "CRBIO-C01",
                    Consumer,
                    true,
                    Some("pas de serveur SMTP pour ce participant"),
                    vec![step("C01-envoi", SendMail, Error, "pas de SMTP")],
                ),
                scenario(
                    "CRBIO-C02",
                    Consumer,
                    true,
                    Some("interrompu par Ctrl-C"),
                    vec![step("C02-ack", AwaitAck, Interrupted, "arrêt")],
                ),
                scenario("CRBIO-C03", Consumer, true, None, vec![decided]),
            ],
        );
        let participants = vec![producer, consumer];
        RunResults {
            schema: RESULTS_SCHEMA.into(),
            banc: "0.1.0".into(),
            suite: SuiteInfo {
                id: "cr-bio".into(),
                title: format!("Projectathon CR-BIO {HOSTILE}"),
                version: Some("2024.01".into()),
                dir: "suites/cr-bio".into(),
            },
            started: "2026-03-02T09:15:00.123Z".into(),
            finished: "2026-03-02T09:17:30.000Z".into(),
            duration_ms: 149_877,
            interrupted: true,
            kit: None,
            summary: RunSummary::of(&participants),
            participants,
        }
    }

    /// The text of an HTML fragment: tags dropped, whitespace collapsed.
    fn text_of(html: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => {
                    in_tag = true;
                    out.push(' ');
                }
                '>' => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn json_round_trips() {
        let r = sample();
        let back: RunResults = serde_json::from_str(&json(&r)).expect("results.json reads back");
        assert_eq!(back.participants.len(), 2);
        assert_eq!(back.summary.scenarios, 9);
        assert_eq!(back.summary.required, 7);
        assert_eq!(back.summary.required_passed, 2);
        assert_eq!(back.summary.required_pending, 1);
        assert!(!back.summary.passed);
        let p09 = &back.participants[0].scenarios[1];
        assert_eq!(p09.status, Status::Failed);
        assert_eq!(p09.steps[1].reports[0].findings[0].message, HOSTILE);
        assert_eq!(
            back.participants[1].scenarios[1].status,
            Status::Interrupted
        );
    }

    #[test]
    fn junit_validates_and_counts_per_participant_and_role() {
        let r = sample();
        let xml = junit(&r).expect("junit renders");
        let schema = ffi::Schema::compile(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/schemas/junit.xsd"
        )))
        .expect("schema compiles");
        let parsed = ffi::parse(&xml, "junit.xml");
        let doc = parsed.doc.expect("well-formed JUnit XML");
        let root = doc.root().expect("root");
        let (errors, _) = schema.validate(&doc, root);
        assert!(
            errors.is_empty(),
            "{:?}",
            errors.iter().map(|e| &e.message).collect::<Vec<_>>()
        );
        let xp = ffi::XPath::new(&doc);
        let at = |expr: &str, node| xp.string(expr, node).expect(expr);
        let suites = xp.select("/testsuites/testsuite", root).expect("suites");
        let counts: Vec<[String; 8]> = suites
            .iter()
            .map(|&s| {
                [
                    "@name",
                    "@tests",
                    "@failures",
                    "@errors",
                    "count(testcase)",
                    "count(testcase/failure)",
                    "count(testcase/error)",
                    "count(testcase/skipped)",
                ]
                .map(|e| at(e, s))
            })
            .collect();
        assert_eq!(
            counts,
            [
                [
                    "armor-bio (producer) — SGL Kermes 7.3",
                    "6",
                    "2",
                    "0",
                    "6",
                    "2",
                    "0",
                    "2"
                ],
                [
                    "lab-ko (consumer) — banc simulate receiver",
                    "3",
                    "0",
                    "2",
                    "3",
                    "0",
                    "2",
                    "0"
                ],
            ]
            .map(|a| a.map(String::from))
        );
        let case = |name: &str| {
            xp.select(&format!("//testcase[starts-with(@name, '{name}')]"), root)
                .expect("case")
                .into_iter()
                .next()
                .unwrap_or_else(|| panic!("no testcase {name}"))
        };
        // Pending is skipped with the reason, never a success.
        let p12 = case("CRBIO-P12 — ");
        assert_eq!(at("skipped/@type", p12), "pending");
        assert!(at("skipped/@message", p12).contains("décision d'un validateur"));
        assert!(at("skipped/@message", p12).contains("P12-integration"));
        // An optional scenario is marked, and its failure shows.
        let p05 = case("[optionnel] CRBIO-P05 — ");
        assert_eq!(at("failure/@message", p05), "remplacement refusé");
        // The failure names the failed step; the steps are in system-out, hostile text intact
        // (escaped, `]]>` included) but for the control characters, made visible.
        let p09 = case("CRBIO-P09 — ");
        assert_eq!(at("@classname", p09), "banc.cr-bio.armor-bio.producer");
        assert_eq!(at("failure/@type", p09), "P09-mail");
        let shown = "<script>alert(1)</script> ]]> ␁␛[31m é 中文 \u{FFFD}fin";
        assert_eq!(
            at("failure/@message", p09),
            format!("document non conforme : {shown}")
        );
        let out = at("system-out", p09);
        for part in [
            "[réussi] submit P09-depot",
            "[échoué] await-mail P09-mail",
            "✓ verdict : fail (attendu fail)",
            &format!("✗ loinc_include : 14749-6 absent ; trouvé {shown}"),
            &format!("| 09:15:01.120 reçu de <lab@armor.fr> : {shown}"),
            "objet jugé : m1.eml!IHE_XDM.zip!IHE_XDM/SUBSET01/DOC0001.XML [cr-bio-2024.01] : fail",
            &format!(
                "[error] banc.header.realm-code {shown} (l. 3, col. 5) /ClinicalDocument/realmCode"
            ),
        ] {
            assert!(out.contains(part), "{part:?} not in system-out:\n{out}");
        }
        let c03 = case("CRBIO-C03 — ");
        assert!(at("system-out", c03).contains("décision : pass par Validateur ANS — conforme"));
        assert_eq!(at("error/@type", case("CRBIO-C02 — ")), "C02-ack");
        assert_eq!(at("@timestamp", suites[0]), "2026-03-02T09:15:00");
    }

    #[test]
    fn html_shows_the_scoreboard_and_escapes_everything() {
        let page = html(&sample());
        let (_, board) = page
            .split_once("<table class=\"board\"")
            .expect("scoreboard");
        let (_, body) = board.split_once("<tbody>").expect("tbody");
        let (body, _) = body.split_once("</tbody>").expect("end");
        let rows: Vec<String> = body
            .split("<tr")
            .skip(1)
            .map(|r| text_of(&format!("<tr{r}")))
            .collect();
        assert_eq!(
            rows,
            [
                "Laboratoire Armor Bio armor-bio producteur SGL Kermes 7.3 ✗ échoué 1/4 1 1/2 1 · 1 1 0",
                "Récepteur simulé 中文 lab-ko consommateur banc simulate receiver simulé ✗ échoué 1/3 0 — 0 · 0 0 2",
            ]
        );
        assert!(!page.contains("<script>alert"));
        assert_eq!(
            page.matches("<script").count(),
            1,
            "only the page's own script"
        );
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt; ]]&gt; ␁␛[31m é 中文 \u{FFFD}fin")
        );
        assert!(!page.contains('\u{1b}') && !page.contains('\u{202E}'));
        assert!(page.contains("Exécution interrompue"));
        // Drill-down: the failed scenario open with its steps, checks, log, findings, manual step.
        assert!(page.contains(r#"<details class="scen st-failed" open>"#));
        assert!(page.contains(r#"<details class="scen st-passed">"#));
        for part in [
            "P09-mail",
            "loinc_include",
            "09:15:01.120 reçu de &lt;lab@armor.fr&gt;",
            "banc.header.realm-code",
            "Règles banc (modèle de document)",
            "/ClinicalDocument/realmCode",
            "Vérifier l'intégration des résultats",
            "en attente d'un validateur",
            "pass par Validateur ANS — conforme",
            "en attente (manuel)",
            "erreur banc",
            "optionnel",
        ] {
            assert!(page.contains(part), "{part:?} missing");
        }
        // The CSP pins the page's own style and script.
        assert!(
            page.contains(&crate::report::html::csp_hash(crate::report::style::RUN))
                && page.contains(&crate::report::html::csp_hash(html::SCRIPT))
        );
    }

    #[test]
    fn table_lists_required_scenarios_that_did_not_pass() {
        let t = table(&sample(), 120);
        assert!(t.contains("1/4"), "{t}");
        assert!(t.contains(
            "✗ armor-bio CRBIO-P09 : document non conforme : <script>alert(1)</script> ]]> ␁␛[31m"
        ), "{t}");
        assert!(t.contains("… armor-bio CRBIO-P12 (en attente (manuel)) : en attente (manuel)"));
        assert!(t.contains("! lab-ko CRBIO-C01 (erreur banc) : pas de serveur SMTP"));
        assert!(
            !t.contains("CRBIO-P05"),
            "optional scenarios are not listed"
        );
        assert!(!t.contains("CRBIO-P01"), "passed ones neither");
        assert!(
            !t.contains('\u{1b}'),
            "no terminal escape from the run's text"
        );
        assert!(t.contains("Échec : 2 scénario(s) obligatoire(s) réussi(s) sur 7"));
    }

    #[test]
    fn write_all_writes_the_three_reports_and_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("banc-run-report-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = dir.join("nested");
        let paths = write_all(&out, &sample()).expect("reports written");
        let names: Vec<String> = std::fs::read_dir(&out)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(paths.len(), 3);
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, ["junit.xml", "report.html", "results.json"]);
        let back: RunResults =
            serde_json::from_slice(&std::fs::read(&paths[0]).expect("read")).expect("json");
        assert_eq!(back.summary.scenarios, 9);
        // A file where the folder should be: a clear error, no panic.
        let blocked = dir.join("file");
        std::fs::write(&blocked, "x").expect("write");
        let err = write_all(&blocked.join("sub"), &sample()).expect_err("not a folder");
        assert!(err.starts_with("création du dossier"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
