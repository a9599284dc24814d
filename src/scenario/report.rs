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
use crate::report::html::{csp_hash, visible};
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

// ---------------------------------------------------------------------------------------------
// Terminal

/// The scoreboard as a terminal table, then one line per required scenario that did not pass,
/// then the overall verdict.
pub fn table(r: &RunResults, width: u16) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "Suite {} — {}{}",
        visible(&r.suite.id),
        visible(&r.suite.title),
        r.suite
            .version
            .as_deref()
            .map(|v| format!(" (version {})", visible(v)))
            .unwrap_or_default()
    )
    .ok();
    if r.interrupted {
        writeln!(out, "Exécution interrompue : résultats partiels.").ok();
    }
    let rows = rows(r);
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_header(vec![
            "Participant",
            "Rôle",
            "Système",
            "Verdict",
            "Oblig. réussis",
            "Oblig. échoués",
            "Option. réussis",
            "En attente (scén. · étapes)",
            "Non joués",
            "Erreurs",
        ]);
    for row in &rows {
        let s = &row.score;
        let mut system = visible(&row.p.system).into_owned();
        if row.p.simulated.is_some() {
            system.push_str(" (simulé)");
        }
        let v = row.verdict();
        t.add_row(vec![
            format!("{}\n{}", visible(&row.p.id), visible(&row.p.organisation)),
            role_fr(row.role).to_string(),
            system,
            format!("{} {}", icon(v), v.label_fr()),
            ratio(s.required_passed, s.required),
            s.required_failed.to_string(),
            ratio(s.optional_passed, s.optional),
            row.pending_text(),
            s.skipped.to_string(),
            s.errors.to_string(),
        ]);
    }
    writeln!(out, "{t}").ok();
    for row in &rows {
        for sc in row
            .scenarios
            .iter()
            .filter(|s| s.required && s.status != Status::Passed)
        {
            let label = match sc.status {
                Status::Failed => String::new(),
                s => format!(" ({})", s.label_fr()),
            };
            writeln!(
                out,
                "{} {} {}{label} : {}",
                icon(sc.status),
                visible(&row.p.id),
                visible(&sc.id),
                visible(sc.reason.as_deref().unwrap_or(sc.status.label_fr()))
            )
            .ok();
        }
    }
    writeln!(out, "{}", overall_text(&r.summary)).ok();
    out
}

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

// ---------------------------------------------------------------------------------------------
// HTML

/// `report.html`: one self-contained page, complete without JavaScript.
pub fn html(r: &RunResults) -> String {
    let rows = rows(r);
    let csp = format!(
        "default-src 'none'; style-src '{}'; script-src '{}'; img-src data:; base-uri 'none'; form-action 'none'",
        csp_hash(CSS),
        csp_hash(SCRIPT)
    );
    let title = visible(&r.suite.title);
    html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="Content-Security-Policy" content=(csp);
                meta name="generator" content={ "banc " (r.banc) };
                link rel="icon" href="data:,";
                title { "banc — " (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header.page {
                    p.eyebrow { "banc — rapport de projectathon" }
                    h1 { (title) }
                    @if r.interrupted {
                        p.banner role="alert" {
                            "Exécution interrompue : résultats partiels, les scénarios non terminés sont marqués « interrompu »."
                        }
                    }
                    p.overall { (badge(overall(&r.summary))) " " (overall_text(&r.summary)) }
                    dl.run {
                        dt { "Suite" }
                        dd {
                            code { (visible(&r.suite.id)) } " — " (visible(&r.suite.title))
                            @if let Some(v) = &r.suite.version { " (version " (visible(v)) ")" }
                            " " span.muted { "dossier " code { (visible(&r.suite.dir)) } }
                        }
                        dt { "Début" } dd { (visible(&r.started)) }
                        dt { "Fin" } dd { (visible(&r.finished)) }
                        dt { "Durée" } dd { (duration(r.duration_ms)) }
                        dt { "Kit" } dd { (kit(r.kit.as_ref())) }
                        dt { "banc" } dd { "version " (visible(&r.banc)) }
                    }
                }
                main {
                    section #tableau aria-labelledby="tableau-titre" {
                        h2 #tableau-titre { "Tableau des participants" }
                        @if rows.is_empty() {
                            p.none { "Aucun scénario joué." }
                        } @else {
                            (scoreboard(&rows))
                        }
                        (filters())
                    }
                    @for (n, p) in r.participants.iter().enumerate() {
                        @let mine: Vec<&Row> = rows.iter().filter(|row| row.n == n).collect();
                        (participant(n, p, &mine))
                    }
                }
                footer.page {
                    p {
                        "Rapport autonome produit par banc " (visible(&r.banc))
                        " : aucune ressource externe, lisible hors ligne et imprimable. "
                        "Mêmes résultats dans results.json (" (visible(&r.schema)) ") et junit.xml."
                    }
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
    .into_string()
}

fn kit(k: Option<&serde_json::Value>) -> Markup {
    let field = |name: &str| k.and_then(|v| v.get(name)).and_then(|v| v.as_str());
    html! {
        @match (k, field("path"), field("fingerprint")) {
            (None, ..) => "sans kit : règles intégrées de banc seulement",
            (_, Some(path), Some(fp)) => {
                code { (visible(path)) } br;
                span.muted { "empreinte " } code.fp { (visible(fp)) }
            }
            (Some(v), ..) => code { (visible(&v.to_string())) },
        }
    }
}

fn scoreboard(rows: &[Row]) -> Markup {
    html! {
        div.scroll {
            table.board {
                caption { "Un participant par rôle ; les scénarios obligatoires décident du verdict." }
                thead {
                    tr {
                        th scope="col" { "Participant" }
                        th scope="col" { "Rôle" }
                        th scope="col" { "Système" }
                        th scope="col" { "Verdict" }
                        th scope="col" .num { "Obligatoires réussis" }
                        th scope="col" .num { "Obligatoires échoués" }
                        th scope="col" .num { "Optionnels réussis" }
                        th scope="col" .num { abbr title="scénarios en attente d'un validateur · étapes manuelles en attente" { "En attente (scén. · étapes)" } }
                        th scope="col" .num { "Non joués" }
                        th scope="col" .num { "Erreurs" }
                    }
                }
                tbody {
                    @for row in rows {
                        @let s = &row.score;
                        tr class={ "st-" (row.verdict().as_str()) } {
                            td {
                                a href={ "#p" (row.n) "-" (row.role.as_str()) } { (visible(&row.p.organisation)) }
                                br; code.muted { (visible(&row.p.id)) }
                            }
                            td { (role_fr(row.role)) }
                            td {
                                (visible(&row.p.system))
                                @if let Some(sim) = &row.p.simulated { " " (simulated(sim)) }
                            }
                            td { (badge(row.verdict())) }
                            td.num { (ratio(s.required_passed, s.required)) }
                            (count(s.required_failed))
                            td.num { (ratio(s.optional_passed, s.optional)) }
                            td.num { (row.pending_text()) }
                            (count(s.skipped))
                            (count(s.errors))
                        }
                    }
                }
            }
        }
    }
}

fn count(n: usize) -> Markup {
    html! { td class={ "num" @if n == 0 { " zero" } } { (n) } }
}

fn simulated(what: &str) -> Markup {
    html! { span.tag.sim title={ "simulé par banc : " (visible(what)) } { "simulé" } }
}

/// Filters by status, for the script; hidden (and useless) without JavaScript.
fn filters() -> Markup {
    let all = [
        Status::Passed,
        Status::Failed,
        Status::Pending,
        Status::Skipped,
        Status::Error,
        Status::Interrupted,
    ];
    html! {
        div #filtres hidden {
            fieldset {
                legend { "Afficher les scénarios" }
                @for s in all {
                    label { input type="checkbox" checked data-status=(s.as_str()); " " (s.label_fr()) }
                }
                button type="button" #tout-ouvrir { "Tout déplier" }
                button type="button" #tout-fermer { "Tout replier" }
            }
        }
    }
}

fn participant(n: usize, p: &ParticipantResult, rows: &[&Row]) -> Markup {
    html! {
        section.part #{ "p" (n) } {
            h2 { (visible(&p.organisation)) " — " (visible(&p.system)) }
            p.muted {
                "Participant " code { (visible(&p.id)) }
                @if let Some(sim) = &p.simulated { " · " (simulated(sim)) " " (visible(sim)) }
            }
            @if rows.is_empty() { p.none { "Aucun scénario joué." } }
            @for row in rows {
                section.role #{ "p" (n) "-" (row.role.as_str()) } {
                    h3 {
                        "Rôle " (role_fr(row.role)) " " (badge(row.verdict()))
                        " " span.muted {
                            (ratio(row.score.required_passed, row.score.required)) " obligatoires réussis, "
                            (ratio(row.score.optional_passed, row.score.optional)) " optionnels"
                        }
                    }
                    @for sc in &row.scenarios { (scenario(sc)) }
                }
            }
            p.top { a href="#tableau" { "↑ Tableau des participants" } }
        }
    }
}

fn scenario(sc: &ScenarioResult) -> Markup {
    html! {
        details class={ "scen st-" (sc.status.as_str()) } open[!matches!(sc.status, Status::Passed | Status::Skipped)] {
            summary {
                (badge(sc.status)) " "
                code.sid { (visible(&sc.id)) } " "
                span.stitle { (visible(&sc.title)) } " "
                span.tag { (level_str(sc.level)) }
                @if sc.required { span.tag { "obligatoire" } } @else { span.tag.opt { "optionnel" } }
                " " span.muted { (duration(sc.duration_ms)) }
                @if let Some(r) = &sc.reason { div.reason { (visible(r)) } }
            }
            @if sc.steps.is_empty() {
                p.none { "Aucune étape jouée." }
            } @else {
                ol.steps { @for st in &sc.steps { li { (step(st)) } } }
            }
        }
    }
}

fn step(st: &StepResult) -> Markup {
    html! {
        article class={ "step st-" (st.status.as_str()) } {
            div.shead {
                (badge(st.status)) " "
                span.kind { (st.kind.as_str()) } " "
                code { (visible(&st.id)) }
                @if let Some(t) = &st.title { " — " (visible(t)) }
                " " span.muted { (duration(st.duration_ms)) }
            }
            p.msg { (visible(&st.message)) }
            @if !st.checks.is_empty() {
                ul.checks {
                    @for c in &st.checks {
                        li class=(if c.ok { "ok" } else { "ko" }) {
                            span aria-hidden="true" { (if c.ok { "✓" } else { "✗" }) }
                            span.sr { (if c.ok { "vérifié" } else { "non vérifié" }) }
                            " " code { (visible(&c.name)) } " : " (visible(&c.detail))
                        }
                    }
                }
            }
            @if st.instructions.is_some() || !st.checklist.is_empty() || !st.evidence.is_empty() || st.decision.is_some() {
                dl.manual {
                    @if let Some(i) = &st.instructions { dt { "Consignes" } dd.msg { (visible(i)) } }
                    @if !st.checklist.is_empty() {
                        dt { "À vérifier" }
                        dd { ul { @for c in &st.checklist { li { (visible(c)) } } } }
                    }
                    dt { "Preuves" }
                    dd {
                        @if st.evidence.is_empty() { span.muted { "aucune reçue" } }
                        @else { ul { @for e in &st.evidence { li { code { (visible(e)) } } } } }
                    }
                    dt { "Décision" }
                    dd {
                        @match &st.decision {
                            Some(d) => (visible(&decision_text(d))),
                            None => span.muted { "en attente d'un validateur" },
                        }
                    }
                }
            }
            @if !st.log.is_empty() {
                pre.log { code { @for l in &st.log { (visible(l)) "\n" } } }
            }
            @for o in &st.reports { (judged(o)) }
        }
    }
}

fn judged(o: &JudgedObject) -> Markup {
    let (class, label) = match o.verdict.as_str() {
        "pass" => ("st-passed", "conforme"),
        "fail" => ("st-failed", "non conforme"),
        _ => ("st-error", "non vérifié"),
    };
    html! {
        div.judged {
            p {
                "Objet jugé " code.path { (visible(&o.path)) } " · profil "
                @match &o.profile { Some(p) => code { (visible(p)) }, None => span.muted { "non déterminé" } }
                " · " span class={ "badge " (class) } title={ "verdict : " (visible(&o.verdict)) } { (label) }
            }
            @if o.findings.is_empty() {
                p.none { "Aucun constat." }
            } @else {
                div.scroll {
                    table.findings {
                        thead {
                            tr {
                                th scope="col" { "Sévérité" }
                                th scope="col" { "Règle" }
                                th scope="col" { "Couche" }
                                th scope="col" { "Message" }
                                th scope="col" { "Emplacement" }
                            }
                        }
                        tbody {
                            @for f in &o.findings {
                                @let sev = Severity::parse(&f.severity);
                                tr {
                                    td {
                                        span class={ "badge sev-" (sev.map_or("other", Severity::as_str)) } {
                                            (sev.map_or(visible(&f.severity), |s| severity_fr(s).into()))
                                        }
                                    }
                                    td { code { (visible(&f.rule)) } }
                                    td { (layer_fr(&f.layer)) }
                                    td.msg { (visible(&f.message)) }
                                    td {
                                        (position(f.line, f.column))
                                        @if let Some(x) = &f.xpath { br; code.xpath { (visible(x)) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn severity_fr(s: Severity) -> &'static str {
    match s {
        Severity::Error => "erreur",
        Severity::Warning => "avertissement",
        Severity::Info => "info",
    }
}

/// The layer's French label when it is one of banc's layers, else the text as found.
fn layer_fr(layer: &str) -> Cow<'_, str> {
    use serde::de::value::{Error, StrDeserializer};
    Layer::deserialize(StrDeserializer::<Error>::new(layer))
        .map_or_else(|_| visible(layer), |l| l.label_fr().into())
}

fn badge(s: Status) -> Markup {
    html! {
        span class={ "badge st-" (s.as_str()) } title={ "statut : " (s.as_str()) } {
            span aria-hidden="true" { (icon(s)) } " " (s.label_fr())
        }
    }
}

const CSS: &str = r#"
:root {
  color-scheme: light dark;
  --fg: #1b1f24; --muted: #5a6370; --bg: #ffffff; --panel: #f5f6f8; --line: #d5d9df; --link: #0a58ca;
  --err: #b3261e; --err-bg: #fdecea; --warn: #8a5300; --warn-bg: #fff3dc;
  --info: #1f5fa8; --info-bg: #e8f1fb; --ok: #1e6b34; --ok-bg: #e6f4ea;
}
@media (prefers-color-scheme: dark) {
  :root {
    --fg: #e6e8eb; --muted: #a2abb7; --bg: #15181c; --panel: #1e2227; --line: #363c44; --link: #7fb0ff;
    --err: #ff8a80; --err-bg: #3a1d1b; --warn: #ffc56b; --warn-bg: #3a2c12;
    --info: #8cc0ff; --info-bg: #16283d; --ok: #7fd699; --ok-bg: #15301e;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0 auto; padding: 1.5rem 1.25rem 3rem; max-width: 76rem;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
  color: var(--fg); background: var(--bg);
}
code, pre { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; }
a { color: var(--link); }
a:focus-visible, button:focus-visible, summary:focus-visible, input:focus-visible { outline: 3px solid var(--link); outline-offset: 2px; }
.eyebrow { margin: 0; color: var(--muted); font-size: .9rem; }
h1 { font-size: 1.6rem; margin: 0 0 .5rem; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin: 1.5rem 0 .5rem; overflow-wrap: anywhere; }
h3 { font-size: 1.05rem; margin: 1.25rem 0 .5rem; padding-bottom: .2rem; border-bottom: 1px solid var(--line); }
.muted, .zero { color: var(--muted); }
.none { font-style: italic; color: var(--muted); }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
.banner { padding: .6rem 1rem; border-radius: 6px; border-left: 5px solid var(--warn); background: var(--warn-bg); font-weight: 600; }
.overall { font-size: 1.1rem; margin: .25rem 0 1rem; }
dl.run { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; padding: .75rem 1rem; background: var(--panel); border-radius: 6px; }
dl.run dt { font-weight: 600; }
dl.run dd { margin: 0; overflow-wrap: anywhere; }
.fp { font-size: .8em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
caption { text-align: left; color: var(--muted); font-size: .9rem; padding-bottom: .4rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: break-word; }
th { font-size: .85rem; color: var(--muted); font-weight: 600; }
tbody tr:hover { background: var(--panel); }
table.board tr.st-failed td:first-child { box-shadow: inset 4px 0 0 var(--err); }
table.board tr.st-passed td:first-child { box-shadow: inset 4px 0 0 var(--ok); }
table.board tr.st-pending td:first-child { box-shadow: inset 4px 0 0 var(--info); }
.num { text-align: right !important; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
abbr[title] { text-decoration: underline dotted; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .8rem; font-weight: 700; white-space: nowrap; border: 1px solid currentColor; vertical-align: .1em; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; }
.badge.st-passed { color: var(--ok); background: var(--ok-bg); }
.badge.st-failed, .badge.sev-error { color: var(--err); background: var(--err-bg); }
.badge.st-error, .badge.st-interrupted, .badge.sev-warning { color: var(--warn); background: var(--warn-bg); }
.badge.st-pending, .badge.sev-info { color: var(--info); background: var(--info-bg); }
.badge.st-skipped, .badge.sev-other { color: var(--muted); background: var(--panel); }
.tag { display: inline-block; font-size: .75rem; padding: 0 .4rem; margin-left: .3rem; border: 1px solid var(--line); border-radius: 4px; color: var(--muted); }
.tag.opt { border-style: dashed; }
.tag.sim { color: var(--info); border-color: var(--info); }
#filtres { margin: 1rem 0; }
#filtres[hidden] { display: none; }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: 0; padding: .3rem .8rem .5rem; display: flex; flex-wrap: wrap; gap: .4rem 1rem; align-items: center; }
legend { font-size: .85rem; color: var(--muted); padding: 0 .3rem; }
button { font: inherit; font-size: .9rem; padding: .15rem .6rem; border: 1px solid var(--line); border-radius: 4px; background: var(--panel); color: var(--fg); cursor: pointer; }
section.part { margin-top: 2.5rem; border-top: 2px solid var(--line); }
details.scen { border: 1px solid var(--line); border-left: 5px solid var(--line); border-radius: 6px; margin: .6rem 0; }
details.scen.st-passed { border-left-color: var(--ok); }
details.scen.st-failed { border-left-color: var(--err); }
details.scen.st-error, details.scen.st-interrupted { border-left-color: var(--warn); }
details.scen.st-pending { border-left-color: var(--info); }
details.scen > summary { padding: .5rem .8rem; cursor: pointer; background: var(--panel); }
.sid { font-weight: 700; }
.reason { margin: .2rem 0 0 1.2rem; overflow-wrap: anywhere; }
ol.steps { margin: .5rem 1rem .8rem; padding-left: 1.5rem; }
ol.steps > li { margin: .6rem 0; }
.shead { display: flex; flex-wrap: wrap; gap: .3rem .5rem; align-items: baseline; }
.kind { font-size: .8rem; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
.msg { margin: .3rem 0; white-space: pre-line; overflow-wrap: anywhere; }
ul.checks { list-style: none; margin: .3rem 0; padding: 0; }
ul.checks li { overflow-wrap: anywhere; }
ul.checks li.ok > span:first-child { color: var(--ok); font-weight: 700; }
ul.checks li.ko > span:first-child { color: var(--err); font-weight: 700; }
dl.manual { display: grid; grid-template-columns: max-content 1fr; gap: .2rem .8rem; margin: .4rem 0; padding: .5rem .8rem; border-left: 3px solid var(--info); background: var(--panel); }
dl.manual dt { color: var(--muted); }
dl.manual dd { margin: 0; overflow-wrap: anywhere; }
dl.manual ul { margin: 0; padding-left: 1.2rem; }
pre.log { margin: .4rem 0; padding: .5rem .75rem; background: var(--panel); border: 1px solid var(--line); border-radius: 4px; overflow-x: auto; white-space: pre; }
.judged { margin: .5rem 0; }
.judged .path, .xpath { overflow-wrap: anywhere; }
.top { text-align: right; font-size: .85rem; }
footer.page { margin-top: 3rem; font-size: .85rem; color: var(--muted); border-top: 1px solid var(--line); padding-top: .75rem; }
.masquer-passed details.st-passed, .masquer-failed details.st-failed, .masquer-pending details.st-pending,
.masquer-skipped details.st-skipped, .masquer-error details.st-error, .masquer-interrupted details.st-interrupted { display: none; }
@media print {
  :root { --fg: #000; --bg: #fff; --panel: #f4f4f4; }
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  #filtres, .top { display: none; }
  section.part { break-before: page; }
  pre.log { white-space: pre-wrap; }
  a { color: inherit; text-decoration: none; }
}
"#;

const SCRIPT: &str = r#"
(function () {
  "use strict";
  var filters = document.getElementById("filtres");
  if (!filters) { return; }
  filters.hidden = false;
  filters.querySelectorAll("input[data-status]").forEach(function (box) {
    box.addEventListener("change", function () {
      document.body.classList.toggle("masquer-" + box.dataset.status, !box.checked);
    });
  });
  function fold(open) {
    document.querySelectorAll("details.scen").forEach(function (d) { d.open = open; });
  }
  document.getElementById("tout-ouvrir").addEventListener("click", function () { fold(true); });
  document.getElementById("tout-fermer").addEventListener("click", function () { fold(false); });
  window.addEventListener("beforeprint", function () { fold(true); });
})();
"#;

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
        let board = &page[page.find("<table class=\"board\"").expect("scoreboard")..];
        let body =
            &board[board.find("<tbody>").expect("tbody")..board.find("</tbody>").expect("end")];
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
        assert!(page.contains(&csp_hash(CSS)) && page.contains(&csp_hash(SCRIPT)));
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
