//! `report.html` of a run: scoreboard and drill-down, CSS and script pinned by CSP hashes.

use super::*;
use crate::report::style::RUN as CSS;

// ---------------------------------------------------------------------------------------------
// HTML

/// `report.html`: one self-contained page, complete without JavaScript.
pub fn html(r: &RunResults) -> String {
    let rows = rows(r);
    let title = visible(&r.suite.title);
    html! {
        (DOCTYPE)
        html lang="fr" {
            (head(&format!("banc — {title}"), &r.banc, CSS, SCRIPT))
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

pub(super) const SCRIPT: &str = r#"
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
