//! The pages of `banc serve --event`: a participant's instances and each instance (status,
//! history, start, uploads, live progress, reports), the monitors' worklist and decision form
//! beside the evidence, the managers' board (participants, scores and their publication, audit
//! log, bundles) and the public scoreboard. Every text is escaped by maud; one sheet and one
//! small script (the live view), both pinned by hash in the Content-Security-Policy.

use crate::event::access::{Role, Session};
use crate::event::detail::{ArtifactRow, StepRow};
use crate::event::monitor::{DecisionRow, PendingStep, WorkItem};
use crate::event::score::ScoreRow;
use crate::event::store::AuditEntry;
use crate::event::{AttemptRow, AuditCheck, InstanceRow, InstanceStatus, ParticipantRow};
use crate::report::html::visible;
use crate::report::style::EVENT as CSS;
use crate::scenario::model::{Kind, Scenario};
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// Follows the attempt (server-sent events): each line as text, never markup; reloads the page
/// when the attempt ends or when the recorded status is not the one shown.
const LIVE: &str = r#"(function () {
  var box = document.getElementById('direct');
  if (!box || !window.EventSource) { return; }
  var list = box.querySelector('ol');
  var es = new EventSource(box.getAttribute('data-src'));
  function line(text) {
    var li = document.createElement('li');
    li.textContent = text;
    list.appendChild(li);
  }
  ['started', 'waiting', 'step'].forEach(function (k) {
    es.addEventListener(k, function (e) {
      var d = JSON.parse(e.data);
      line(d.text);
      box.setAttribute('data-live', k);
    });
  });
  es.addEventListener('finished', function (e) {
    var d = JSON.parse(e.data);
    line(d.text);
    box.setAttribute('data-live', 'finished');
    es.close();
    setTimeout(function () { location.reload(); }, 300);
  });
  es.addEventListener('idle', function (e) {
    var d = JSON.parse(e.data);
    es.close();
    box.setAttribute('data-live', 'idle');
    if (d.status && d.status !== box.getAttribute('data-status')) { location.reload(); }
  });
})();"#;

/// The pages' Content-Security-Policy: their sheet; with `script`, the live view's script and
/// its stream (same origin).
pub fn csp(script: bool) -> String {
    let style = crate::report::html::csp_hash(CSS);
    if script {
        format!(
            "default-src 'none'; style-src '{style}'; script-src '{}'; connect-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            crate::report::html::csp_hash(LIVE)
        )
    } else {
        format!(
            "default-src 'none'; style-src '{style}'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'"
        )
    }
}

fn layout(title: &str, session: Option<&Session>, body: Markup, script: bool) -> String {
    html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                link rel="icon" href="data:,";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                @if let Some(s) = session {
                    header.barre {
                        strong { "banc — événement" }
                        nav {
                            a href="/event" { "Accueil" }
                            @if s.who.role != Role::Participant {
                                a href="/event/worklist" { "Liste de travail" }
                            }
                            @if s.who.role == Role::Manager {
                                a href="/event/audit" { "Journal d'audit" }
                            }
                        }
                        span.muted { (s.who.role.label_fr()) " : " (s.who.subject) }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            button type="submit" { "Se déconnecter" }
                        }
                    }
                }
                (body)
                @if script {
                    script { (PreEscaped(LIVE)) }
                }
            }
        }
    }
    .into_string()
}

fn status(s: InstanceStatus) -> Markup {
    html! { span class={ "statut " (s.as_str()) } data-status=(s.as_str()) { (s.label_fr()) } }
}

fn run_status(s: &str) -> Markup {
    use crate::scenario::results::Status as S;
    let label = [
        S::Passed,
        S::Failed,
        S::Pending,
        S::Skipped,
        S::Error,
        S::Interrupted,
    ]
    .into_iter()
    .find(|x| x.as_str() == s)
    .map(|x| x.label_fr())
    .unwrap_or(if s == "running" { "en cours" } else { s });
    html! { span class={ "statut " (s) } { (label) } }
}

fn csrf(s: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

/// A page without a session: where the login link leads.
pub fn login_needed() -> String {
    layout(
        "banc — connexion requise",
        None,
        html! {
            h1 { "Connexion requise" }
            p { "Ouvrez le lien de connexion que l'organisation de l'événement vous a remis (" code { "/login/…" } ")." }
            p.aide {
                "Si vous venez de l'ouvrir depuis un message, "
                a href="/event" { "continuez ici" }
                " : par prudence, le navigateur ne présente la session qu'aux pages ouvertes depuis ce site."
            }
        },
        false,
    )
}

/// A message (an error, a refusal) and the way back.
pub fn message(title: &str, text: &str, back: Option<&str>) -> String {
    layout(
        &format!("banc — {title}"),
        None,
        html! {
            h1 { (title) }
            p.erreur { (text) }
            p { a href=(back.unwrap_or("/event")) { "Retour" } }
        },
        false,
    )
}

/// A participant's instances, by role and level.
pub fn participant(
    title: &str,
    s: &Session,
    p: &ParticipantRow,
    instances: &[InstanceRow],
    running: &[String],
) -> String {
    let mut groups: Vec<(String, String, Vec<&InstanceRow>)> = Vec::new();
    for i in instances.iter().filter(|i| !i.retired) {
        match groups
            .iter_mut()
            .find(|(r, l, _)| *r == i.role && *l == i.level)
        {
            Some(g) => g.2.push(i),
            None => groups.push((i.role.clone(), i.level.clone(), vec![i])),
        }
    }
    groups.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    layout(
        &format!("{} — {title}", p.id),
        Some(s),
        html! {
            h1 { (title) }
            p { strong { (p.id) } " — " (p.organisation) ", " (p.system) }
            @for (role, level, list) in &groups {
                h2 { (role_label(role)) ", niveau " (level) }
                table.instances {
                    thead { tr { th { "Scénario" } th { "Titre" } th { "Requis" } th { "Statut" } th { "Tentatives" } th { "Motif" } } }
                    tbody {
                        @for i in list {
                            tr data-instance=(i.id) {
                                td { a href=(super::event::instance_url(&i.id)) { (i.scenario) } }
                                td { (i.title) }
                                td { @if i.required { "oui" } @else { "non" } }
                                td {
                                    (status(i.status))
                                    @if running.contains(&i.id) && i.status != InstanceStatus::Running { " " span.muted { "(démarrage)" } }
                                }
                                td { (i.attempts) }
                                td { (i.reason.as_deref().map(visible).unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        },
        false,
    )
}

fn role_label(role: &str) -> &str {
    match role {
        "producer" => "Producteur",
        "consumer" => "Consommateur",
        other => other,
    }
}

/// What the instance page shows.
pub struct InstanceView<'a> {
    pub title: &'a str,
    pub session: &'a Session,
    pub inst: &'a InstanceRow,
    pub scenario: Option<&'a Scenario>,
    /// An attempt plays now (here or in another banc process).
    pub running: bool,
    /// Newest first: the attempt, its steps, its files.
    pub attempts: &'a [(AttemptRow, Vec<StepRow>, Vec<ArtifactRow>)],
    pub decisions: &'a [DecisionRow],
    /// The latest attempt's manual steps (checklists).
    pub pending: &'a [PendingStep],
    /// Evidence dropped for the latest attempt, not yet kept: (step, file).
    pub dropped: &'a [(String, String)],
    /// Files waiting in each submit or evidence step's folder: (step, files).
    pub waiting: &'a [(String, Vec<String>)],
}

/// An instance: status, start, live progress, uploads, history, reports; for a monitor, the
/// evidence and reports beside the decision form.
pub fn instance(v: &InstanceView) -> String {
    let i = v.inst;
    let s = v.session;
    let base = super::event::instance_url(&i.id);
    let monitor = s.who.role == Role::Monitor;
    let can_start = s.who.role != Role::Monitor && !v.running && !i.retired;
    let latest = v.attempts.first();
    let items: Vec<&String> = v.pending.iter().flat_map(|p| &p.checklist).collect();
    let history = html! {
        h2 { "Historique" }
        @if v.attempts.is_empty() {
            p.none { "Aucune tentative." }
        }
        @for (a, steps, arts) in v.attempts {
            details.tentative open[latest.is_some_and(|l| l.0.id == a.id)] {
                summary {
                    "Tentative " (a.number) " — " (run_status(&a.status)) " — commencée " (a.started)
                    @if let Some(f) = &a.finished { ", finie " (f) }
                }
                @if let Some(r) = &a.reason { p { "Motif : " (visible(r)) } }
                p.aide { "banc " (a.banc) ", partenaire " (a.partner) @if let Some(k) = &a.kit { ", kit " code { (k) } } }
                table.etapes {
                    thead { tr { th { "N°" } th { "Étape" } th { "Type" } th { "Statut" } th { "Message" } } }
                    tbody {
                        @for st in steps {
                            tr {
                                td { (st.n) }
                                td { (st.id) }
                                td { (st.kind) }
                                td { (run_status(&st.status)) }
                                td {
                                    (visible(&st.message))
                                    @if let Some(checks) = st.result.get("checks").and_then(|c| c.as_array()) {
                                        @if !checks.is_empty() {
                                            ul {
                                                @for c in checks {
                                                    li {
                                                        @if c.get("ok").and_then(|x| x.as_bool()) == Some(true) { "✓ " } @else { "✗ " }
                                                        (visible(c.get("detail").and_then(|x| x.as_str()).unwrap_or("")))
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
                ul.fichiers {
                    @if a.report.is_some() {
                        li { a href={ (base) "/a/" (a.number) "/report.json" } download { "Rapport de la tentative (JSON banc-run/1)" } }
                    }
                    @for f in arts {
                        li {
                            a href={ (base) "/a/" (a.number) "/artifacts/" (f.index) } download { (visible(&f.name)) }
                            " " span.muted { "(" (f.kind) ", étape " (f.step) ", " (f.size) " octets)" }
                        }
                    }
                }
            }
        }
        @if !v.decisions.is_empty() {
            h2 { "Décisions" }
            ul.decisions {
                @for d in v.decisions {
                    li {
                        (d.at) " — " strong { (d.monitor) } " : " (d.verdict) " (tentative " (d.attempt) ") — " (visible(&d.comment))
                    }
                }
            }
        }
    };
    let evidence = html! {
        @if !v.dropped.is_empty() {
            h3 { "Preuves déposées" }
            ul.preuves {
                @for (step, name) in v.dropped {
                    li { a href={ (base) "/evidence/" (step) "/" (name) } download { (visible(name)) } " " span.muted { "(étape " (step) ")" } }
                }
            }
        }
    };
    layout(
        &format!("{} — {}", i.id, v.title),
        Some(s),
        html! {
            p { a href={ "/event/p/" (i.participant) } { "← instances de " (i.participant) } }
            h1 { (i.scenario) " — " (i.title) }
            p.overall {
                "Instance " code { (i.id) } " : "
                @if v.running && i.status != InstanceStatus::Running {
                    (status(InstanceStatus::Running)) " " span.muted { "(était : " (i.status.label_fr()) ")" }
                } @else {
                    (status(i.status))
                }
                " — niveau " (i.level) @if i.required { ", requis" } @else { ", optionnel" }
                @if let Some(c) = &i.claimed_by { " — pris par " (c) }
            }
            @if let Some(r) = &i.reason { p { "Dernier motif : " (visible(r)) } }
            @if let Some(sc) = v.scenario {
                details.scenario {
                    summary { "Le scénario" }
                    pre { (visible(&sc.description)) }
                }
            }
            section #direct data-src={ (base) "/live" } data-status=(i.status.as_str()) data-live="" {
                strong { "En direct" }
                @if v.running { " — une tentative est en cours." } @else { " — aucune tentative en cours." }
                ol {}
            }
            @if can_start {
                form.action method="post" action={ (base) "/start" } {
                    (csrf(s))
                    button type="submit" #commencer {
                        @if i.attempts == 0 { "Commencer une tentative" } @else { "Recommencer (nouvelle tentative)" }
                    }
                    p.aide { "banc joue le scénario maintenant ; suivez-le ci-dessus. L'historique des tentatives est gardé." }
                }
            }
            @if s.who.role == Role::Participant {
                @if let Some(sc) = v.scenario {
                    @for (n, st) in sc.steps.iter().enumerate() {
                        @if matches!(st.kind, Kind::Submit | Kind::Evidence) {
                            @let sid = st.id.clone().unwrap_or_else(|| format!("étape {}", n + 1));
                            form.action method="post" action={ (base) "/upload/" (sid) } enctype="multipart/form-data" {
                                (csrf(s))
                                label for={ "f-" (n) } {
                                    @if st.kind == Kind::Submit { "Dépôt pour l'étape " } @else { "Preuve pour l'étape " }
                                    code { (sid) } @if let Some(t) = &st.title { " : " (t) }
                                }
                                @if let Some(ins) = &st.instructions { p.aide { (visible(ins)) } }
                                input id={ "f-" (n) } type="file" name="file" required;
                                @if let Some((_, files)) = v.waiting.iter().find(|(x, _)| *x == sid) {
                                    @if !files.is_empty() {
                                        p.aide { "En attente dans le dossier : " (files.iter().map(|f| visible(f)).collect::<Vec<_>>().join(", ")) }
                                    }
                                }
                                button type="submit" { "Déposer" }
                            }
                        }
                    }
                }
            }
            @if monitor || (s.who.role == Role::Manager && i.status == InstanceStatus::ToVerify) {
                div.cote {
                    section {
                        h2 { "Preuves et rapports" }
                        (evidence)
                        @for p in v.pending {
                            h3 { (p.kind) " : " (p.title.as_deref().unwrap_or(&p.id)) }
                            @if let Some(ins) = &p.instructions { p { (visible(ins)) } }
                            @if !p.evidence.is_empty() { p.aide { "Preuves citées : " (p.evidence.join(", ")) } }
                        }
                        (history)
                    }
                    section {
                        h2 { "Décision" }
                        @if monitor && i.status == InstanceStatus::ToVerify && i.claimed_by.as_deref() != Some(s.who.subject.as_str()) {
                            form.action method="post" action={ (base) "/claim" } {
                                (csrf(s))
                                button type="submit" #prendre { "Prendre cette instance" }
                            }
                        }
                        @if monitor && matches!(i.status, InstanceStatus::ToVerify | InstanceStatus::Verified | InstanceStatus::PartiallyVerified | InstanceStatus::Rejected) {
                            form.action #decider method="post" action={ (base) "/decide" } {
                                (csrf(s))
                                fieldset {
                                    legend { "Liste de contrôle (ce qui a été vérifié)" }
                                    @if items.is_empty() { span.none { "aucune" } }
                                    @for (k, it) in items.iter().enumerate() {
                                        label { input type="checkbox" name="checklist" value=(k + 1); " " (visible(it)) }
                                    }
                                }
                                label for="verdict" { "Verdict" }
                                select #verdict name="verdict" {
                                    option value="verified" { "vérifié" }
                                    option value="partially-verified" { "partiellement vérifié" }
                                    option value="rejected" { "rejeté" }
                                }
                                label for="comment" { "Commentaire" }
                                textarea #comment name="comment" rows="3" required {}
                                button type="submit" { "Décider" }
                            }
                        } @else {
                            p.none { "Rien à décider : l'instance n'attend pas de vérification." }
                        }
                    }
                }
            } @else {
                (evidence)
                (history)
            }
        },
        true,
    )
}

/// What waits for a person, oldest first.
pub fn worklist(title: &str, s: &Session, items: &[WorkItem]) -> String {
    layout(
        &format!("Liste de travail — {title}"),
        Some(s),
        html! {
            h1 { "Liste de travail" }
            p.aide { "Instances à vérifier, les plus anciennes d'abord" @if s.who.role == Role::Monitor { " (libres, ou prises par vous)" } "." }
            @if items.is_empty() { p.none { "Rien n'attend de vérification." } }
            @else {
                table.travail {
                    thead { tr { th { "Instance" } th { "Titre" } th { "Niveau" } th { "Depuis" } th { "Pris par" } th { "À regarder" } } }
                    tbody {
                        @for w in items {
                            tr data-instance=(w.instance) {
                                td { a href=(super::event::instance_url(&w.instance)) { (w.instance) } }
                                td { (w.title) }
                                td { (w.level) }
                                td { (w.since) }
                                td { (w.claimed_by.as_deref().unwrap_or("—")) }
                                td {
                                    ul {
                                        @for st in &w.steps {
                                            li { (st.kind) " " (st.title.as_deref().unwrap_or(&st.id)) " — " (st.checklist.len()) " point(s)"
                                                @if !st.evidence.is_empty() { ", " (st.evidence.len()) " preuve(s)" } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
        false,
    )
}

fn scores_table(scores: &[ScoreRow], with_reasons: bool) -> Markup {
    html! {
        table.notes {
            thead { tr { th { "Participant" } th { "Rôle" } th { "Note" } th { "Requis" } th { "Optionnels" } th { "Partenaires" } @if with_reasons { th { "Pourquoi" } } } }
            tbody {
                @for r in scores {
                    tr data-participant=(r.participant) data-role=(r.role.as_str()) data-grade=(r.grade.as_str()) {
                        td { (r.participant) br; span.muted { (r.organisation) } }
                        td { (role_label(r.role.as_str())) }
                        td {
                            span class={ "statut " (r.grade.as_str()) } { (r.grade.label_fr()) }
                            @if let Some(o) = &r.overridden {
                                br; span.aide { "imposée par " (o.manager) " : " (visible(&o.reason)) " (calculée : " (r.computed.label_fr()) ")" }
                            }
                        }
                        td { (r.required_achieved) " / " (r.required) }
                        td { (r.optional_achieved) " / " (r.optional) }
                        td { (r.partners.join(", ")) }
                        @if with_reasons {
                            td { ul { @for x in &r.reasons { li { (visible(&x.text)) } } } }
                        }
                    }
                }
            }
        }
    }
}

/// The managers' board: participants, scores and their publication, the way to the audit log
/// and the bundles.
pub fn manager(
    title: &str,
    s: &Session,
    participants: &[ParticipantRow],
    scores: &[ScoreRow],
    published: bool,
    instances: &[InstanceRow],
) -> String {
    layout(
        &format!("Gestion — {title}"),
        Some(s),
        html! {
            h1 { (title) }
            h2 { "Participants" }
            table.participants {
                thead { tr { th { "Participant" } th { "Organisation, système" } th { "Rôles" } th { "Instances" } th { "Paquet de preuves" } } }
                tbody {
                    @for p in participants {
                        @let mine: Vec<&InstanceRow> = instances.iter().filter(|i| i.participant == p.id && !i.retired).collect();
                        tr {
                            td { a href={ "/event/p/" (p.id) } { (p.id) } @if p.simulated.is_some() { " " span.muted { "(simulé)" } } }
                            td { (p.organisation) ", " (p.system) }
                            td { (p.roles.iter().map(|r| role_label(r.as_str())).collect::<Vec<_>>().join(", ")) }
                            td {
                                (mine.len()) " : "
                                (mine.iter().filter(|i| i.status.achieved()).count()) " réussie(s) ou vérifiée(s), "
                                (mine.iter().filter(|i| i.status == InstanceStatus::ToVerify).count()) " à vérifier"
                            }
                            td { a href={ "/event/export?participant=" (query(&p.id)) } download { "exporter" } }
                        }
                    }
                }
            }
            h2 { "Notes" }
            p {
                @if published {
                    "Publiées : le tableau public est en ligne à " a href="/scores" { "/scores" } "."
                } @else {
                    "Non publiées : " code { "/scores" } " répond 404."
                }
            }
            form.inline method="post" action="/event/publish" {
                (csrf(s))
                input type="hidden" name="publish" value=(if published { "false" } else { "true" });
                button type="submit" #publier { @if published { "Retirer la publication" } @else { "Publier les notes" } }
            }
            (scores_table(scores, true))
            h3 { "Imposer une note" }
            p.aide { "La note calculée reste affichée à côté ; la raison entre au journal d'audit." }
            form.imposer method="post" action="/event/override" {
                (csrf(s))
                label { "Participant " select name="participant" #imposer-participant { @for p in participants { option value=(p.id) { (p.id) } } } }
                " "
                label { "Rôle " select name="role" { option value="producer" { "producteur" } option value="consumer" { "consommateur" } } }
                " "
                label { "Note " select name="grade" { option value="pass" { "réussi" } option value="incomplete" { "incomplet" } option value="fail" { "échoué" } } }
                " "
                label { "Raison " input #imposer-raison type="text" name="reason" required size="40"; }
                " "
                button type="submit" #imposer { "Imposer" }
            }
            h2 { "Preuves" }
            p {
                a href="/event/export" download { "Paquet de preuves de tout l'événement" }
                " (signé par la clé de l'événement ; " code { "banc event verify" } " le vérifie) — "
                a href="/event/audit" { "journal d'audit" }
            }
        },
        false,
    )
}

/// A value for a URL's query string.
fn query(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// The audit log, and its check.
pub fn audit(title: &str, s: &Session, log: &[AuditEntry], check: &AuditCheck) -> String {
    layout(
        &format!("Journal d'audit — {title}"),
        Some(s),
        html! {
            h1 { "Journal d'audit" }
            @if check.problems.is_empty() {
                p.note { (check.entries) " entrée(s), chaîne intacte, tête signée par la clé de l'événement." }
            } @else {
                div.erreur { p { "Le journal ne tient pas :" } ul { @for p in &check.problems { li { (visible(p)) } } } }
            }
            table.audit {
                thead { tr { th { "N°" } th { "Quand" } th { "Qui" } th { "Sujet" } th { "Action" } th { "Avant" } th { "Après" } th { "Pourquoi" } } }
                tbody {
                    @for e in log.iter().rev() {
                        tr {
                            td { (e.seq) }
                            td { (e.at) }
                            td { (visible(&e.actor)) }
                            td { (visible(&e.subject)) }
                            td { (e.action) }
                            td { (e.before.as_deref().map(visible).unwrap_or_default()) }
                            td { (e.after.as_deref().map(visible).unwrap_or_default()) }
                            td { (e.reason.as_deref().map(visible).unwrap_or_default()) }
                        }
                    }
                }
            }
        },
        false,
    )
}

/// The published scoreboard.
pub fn public_scores(title: &str, scores: &[ScoreRow]) -> String {
    layout(
        &format!("Notes — {title}"),
        None,
        html! {
            h1 { "Notes — " (title) }
            p.aide { "Calculées par banc d'après les règles de notation des suites ; une note imposée par un gestionnaire est signalée." }
            (scores_table(scores, false))
        },
        false,
    )
}
