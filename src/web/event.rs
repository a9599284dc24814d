//! `banc serve --event DIR`: the projectathon event on the web. The event's runner and SMTP
//! server live in the process ([`crate::event::live`]); people come with the access given by
//! `banc event access` — a bearer token for the API (`/api/event/...`), or a login link
//! (`/login/<token>`) that opens a browser session (HttpOnly, SameSite=Strict cookie; Secure
//! under TLS) whose forms carry a per-session CSRF token.
//!
//! Every request is checked on the server: a participant sees its own instances only, and
//! another's answers `404` as an unknown one does; monitors and managers see every instance;
//! monitors decide; managers publish the scores and export bundles. The public scoreboard
//! (`/scores`) exists only once a manager published it.

use super::event_pages as pages;
use super::{App, api};
use crate::event::access::{self, Role, Session, Who};
use crate::event::live::Runner;
use crate::event::store::Store;
use crate::event::{self, Error, InstanceRow};
use crate::pipeline::Validator;
use crate::scenario::model::{Kind, Scenario};
use crate::scenario::run::RunOptions;
use axum::Json;
use axum::Router;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use utoipa::ToSchema;

/// The session cookie's name.
const COOKIE: &str = "banc_session";
/// Store connections kept open between requests.
const POOL: usize = 8;

/// What `banc serve --event` is given.
#[derive(Debug, Clone)]
pub struct EventConfig {
    pub dir: PathBuf,
    /// The runner's options: SMTP address and domain, waits, submissions folder.
    pub options: RunOptions,
}

/// What the server prints about the event once it listens.
#[derive(Debug, Clone)]
pub struct EventReady {
    pub dir: PathBuf,
    pub title: String,
    pub participants: usize,
    pub instances: usize,
    /// banc's SMTP server for the event (where participants send).
    pub smtp: String,
    pub domain: String,
}

/// The event, as the handlers share it.
pub struct EventApp {
    pub runner: Arc<Runner>,
    title: String,
    pool: Mutex<Vec<Store>>,
    /// The suites' scenarios (their steps: what to upload where), as at start-up.
    scenarios: HashMap<String, Scenario>,
    /// Cookies marked Secure (the server speaks TLS).
    secure: bool,
}

impl EventApp {
    /// Open the event, start its runner and SMTP server.
    pub async fn start(
        c: EventConfig,
        validator: Arc<Validator>,
        secure: bool,
    ) -> Result<(Arc<EventApp>, EventReady), String> {
        let dir = std::path::absolute(&c.dir).unwrap_or(c.dir.clone());
        let d = dir.clone();
        let (info, participants, instances, suites) = tokio::task::spawn_blocking(move || {
            let st = event::open_for_change(&d)?;
            let info = event::info(&st)?;
            let p = event::participants(st.conn())?.len();
            let i = event::instances(st.conn(), None)?.len();
            let suites = event::suites(st.conn())?;
            Ok::<_, Error>((info, p, i, suites))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{} : {e}", c.dir.display()))?;
        let mut scenarios = HashMap::new();
        for s in suites {
            match crate::scenario::model::load_suite(&s.dir) {
                Ok(suite) => {
                    for sc in suite.scenarios {
                        scenarios.insert(sc.id.clone(), sc);
                    }
                }
                Err(errs) => {
                    return Err(format!(
                        "suite {} ({}) illisible : {}",
                        s.id,
                        s.dir.display(),
                        errs.iter()
                            .map(|e| e.to_string())
                            .collect::<Vec<_>>()
                            .join(" ; ")
                    ));
                }
            }
        }
        let runner = Runner::start(dir.clone(), validator, c.options)
            .await
            .map_err(|e| e.to_string())?;
        let ready = EventReady {
            dir,
            title: info.title.clone(),
            participants,
            instances,
            smtp: runner.smtp_addr().to_string(),
            domain: runner.domain().to_string(),
        };
        Ok((
            Arc::new(EventApp {
                runner,
                title: info.title,
                pool: Mutex::new(Vec::new()),
                scenarios,
                secure,
            }),
            ready,
        ))
    }

    /// Stop the runner: attempts in progress end `interrupted`, recorded.
    pub async fn stop(&self) {
        self.runner.stop().await;
    }

    /// Run `f` on a store connection, off the async threads.
    async fn db<T, F>(self: &Arc<Self>, f: F) -> Result<T, Error>
    where
        F: FnOnce(&mut Store) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let taken = me.pool.lock().ok().and_then(|mut p| p.pop());
            let mut st = match taken {
                Some(s) => s,
                None => Store::open(me.runner.dir())?,
            };
            let r = f(&mut st);
            if let Ok(mut p) = me.pool.lock()
                && p.len() < POOL
            {
                p.push(st);
            }
            r
        })
        .await
        .map_err(|e| Error::Io(format!("tâche interrompue : {e}")))?
    }
}

/// Why a request is not served.
#[derive(Debug)]
enum Deny {
    /// Unknown, or not this person's: the same answer.
    NotFound,
    /// No valid token or session.
    Login,
    /// The role may not do this.
    Forbidden(&'static str),
    /// A form without its session's CSRF token, or posted from another site.
    Csrf,
    Bad(String),
    /// The event refused (nothing to decide, already playing, a prerequisite...).
    Conflict(String),
    Busy,
    Internal(String),
}

impl From<Error> for Deny {
    fn from(e: Error) -> Deny {
        match e {
            Error::Invalid(m) => Deny::Conflict(m),
            Error::Busy => Deny::Busy,
            other => Deny::Internal(other.to_string()),
        }
    }
}

impl Deny {
    fn status(&self) -> StatusCode {
        match self {
            Deny::NotFound => StatusCode::NOT_FOUND,
            Deny::Login => StatusCode::UNAUTHORIZED,
            Deny::Forbidden(_) | Deny::Csrf => StatusCode::FORBIDDEN,
            Deny::Bad(_) => StatusCode::BAD_REQUEST,
            Deny::Conflict(_) => StatusCode::CONFLICT,
            Deny::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Deny::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> String {
        match self {
            Deny::NotFound => "Introuvable.".into(),
            Deny::Login => "Accès requis : un jeton (Authorization: Bearer) ou le lien de connexion donné par banc event access.".into(),
            Deny::Forbidden(what) => format!("Réservé : {what}."),
            Deny::Csrf => "Formulaire refusé : jeton de formulaire absent ou périmé, ou envoyé depuis un autre site. Rechargez la page et recommencez.".into(),
            Deny::Bad(m) => format!("Requête illisible : {m}"),
            Deny::Conflict(m) => m.clone(),
            Deny::Busy => "Base de l'événement occupée : réessayez dans un instant.".into(),
            Deny::Internal(m) => format!("Erreur du serveur : {m}"),
        }
    }

    fn log(&self) {
        if let Deny::Internal(m) = self {
            tracing::error!("banc serve : {m}");
        }
    }

    fn json(self) -> Response {
        self.log();
        let mut resp = (
            self.status(),
            api::json_type(),
            serde_json::json!({ "error": self.message() }).to_string(),
        )
            .into_response();
        if matches!(self, Deny::Login) {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"banc\""),
            );
        }
        resp
    }

    fn page(self) -> Response {
        self.log();
        let body = match &self {
            Deny::Login => pages::login_needed(),
            Deny::NotFound => pages::message(
                "Introuvable",
                "Cette page n'existe pas, ou elle ne vous est pas ouverte.",
                None,
            ),
            other => pages::message("Action impossible", &other.message(), None),
        };
        api::html_page(self.status(), body, &pages::csp(false))
    }
}

type Res = Result<Response, Deny>;

fn the_event(app: &App) -> Result<Arc<EventApp>, Deny> {
    app.event.clone().ok_or(Deny::NotFound)
}

/// The person of a bearer token.
async fn bearer(ev: &Arc<EventApp>, h: &HeaderMap) -> Result<Who, Deny> {
    let token = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string())
        .ok_or(Deny::Login)?;
    ev.db(move |st| access::resolve(st.conn(), &token))
        .await?
        .ok_or(Deny::Login)
}

fn cookie(h: &HeaderMap) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == COOKIE).then(|| v.to_string())
        })
}

/// The browser session of the request's cookie.
async fn session(ev: &Arc<EventApp>, h: &HeaderMap) -> Result<Session, Deny> {
    let sid = cookie(h).ok_or(Deny::Login)?;
    ev.db(move |st| access::session(st.conn(), &sid))
        .await?
        .ok_or(Deny::Login)
}

/// A state-changing form: from this site, with the session's CSRF token.
fn check_form(app: &App, h: &HeaderMap, s: &Session, given: Option<&str>) -> Result<(), Deny> {
    use subtle::ConstantTimeEq;
    let ok = given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(s.csrf.as_bytes())));
    if ok && api::same_site(app, h) {
        Ok(())
    } else {
        Err(Deny::Csrf)
    }
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The instance `id`, if this person may see it (else the same 404 as an unknown one).
async fn visible(ev: &Arc<EventApp>, who: &Who, id: String) -> Result<InstanceRow, Deny> {
    let row = ev
        .db(move |st| match event::instance(st.conn(), &id) {
            Ok(i) => Ok(Some(i)),
            Err(Error::Invalid(_)) => Ok(None),
            Err(e) => Err(e),
        })
        .await?
        .ok_or(Deny::NotFound)?;
    if who.sees(&row.participant) {
        Ok(row)
    } else {
        Err(Deny::NotFound)
    }
}

fn see_other(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn json_ok<T: Serialize>(status: StatusCode, v: &T) -> Response {
    (
        status,
        api::json_type(),
        serde_json::to_string_pretty(v).unwrap_or_default(),
    )
        .into_response()
}

fn html(body: String, script: bool) -> Response {
    api::html_page(StatusCode::OK, body, &pages::csp(script))
}

/// `/event/i/<participant>/<scenario>/<role>`.
pub(super) fn instance_url(id: &str) -> String {
    format!("/event/i/{id}")
}

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/login/{token}", get(login))
        .route("/logout", post(logout))
        .route("/event", get(home))
        .route("/event/p/{participant}", get(participant_page))
        .route(
            "/event/i/{participant}/{scenario}/{role}",
            get(instance_page),
        )
        .route(
            "/event/i/{participant}/{scenario}/{role}/start",
            post(start_form),
        )
        .route(
            "/event/i/{participant}/{scenario}/{role}/upload/{step}",
            post(upload_form),
        )
        .route("/event/i/{participant}/{scenario}/{role}/live", get(live))
        .route(
            "/event/i/{participant}/{scenario}/{role}/a/{n}/report.json",
            get(attempt_report),
        )
        .route(
            "/event/i/{participant}/{scenario}/{role}/a/{n}/artifacts/{k}",
            get(artifact),
        )
        .route(
            "/event/i/{participant}/{scenario}/{role}/evidence/{step}/{name}",
            get(dropped_file),
        )
        .route(
            "/event/i/{participant}/{scenario}/{role}/claim",
            post(claim_form),
        )
        .route(
            "/event/i/{participant}/{scenario}/{role}/decide",
            post(decide_form),
        )
        .route("/event/worklist", get(worklist_page))
        .route("/event/audit", get(audit_page))
        .route("/event/publish", post(publish_form))
        .route("/event/export", get(export))
        .route("/scores", get(public_scores))
        .route("/api/event/me", get(api_me))
        .route("/api/event/instances", get(api_instances))
        .route(
            "/api/event/instances/{participant}/{scenario}/{role}",
            get(api_instance),
        )
        .route(
            "/api/event/instances/{participant}/{scenario}/{role}/attempts",
            get(api_attempts).post(api_start),
        )
        .route(
            "/api/event/instances/{participant}/{scenario}/{role}/decisions",
            get(api_decisions).post(api_decide),
        )
        .route(
            "/api/event/instances/{participant}/{scenario}/{role}/claim",
            post(api_claim),
        )
        .route("/api/event/worklist", get(api_worklist))
        .route("/api/event/scores", get(api_scores))
        .route("/api/event/scores/published", put(api_publish))
}

type InstancePath = Path<(String, String, String)>;

fn id_of((p, s, r): (String, String, String)) -> String {
    format!("{p}/{s}/{r}")
}

// ---------------------------------------------------------------------------------------------
// Browser: login, pages, forms

/// Exchange a login link for a session: the cookie, then the event's home page.
async fn login(State(app): State<App>, Path(token): Path<String>) -> Response {
    let r: Res = async {
        let ev = the_event(&app)?;
        let (sid, s) = ev
            .db(move |st| access::login(st, &token))
            .await?
            .ok_or(Deny::NotFound)?;
        tracing::info!(role = s.who.role.as_str(), subject = %s.who.subject, "banc serve : connexion");
        let mut resp = see_other("/event");
        let cookie = format!(
            "{COOKIE}={sid}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}",
            access::SESSION_SECS,
            if ev.secure { "; Secure" } else { "" }
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        Ok(resp)
    }
    .await;
    r.unwrap_or_else(Deny::page)
}

async fn logout(
    State(app): State<App>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    let r: Res = async {
        let ev = the_event(&app)?;
        let s = session(&ev, &headers).await?;
        check_form(&app, &headers, &s, field(&form, "csrf"))?;
        if let Some(sid) = cookie(&headers) {
            ev.db(move |st| access::logout(st, &sid)).await?;
        }
        let mut resp = see_other("/");
        let clear = format!(
            "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{}",
            if ev.secure { "; Secure" } else { "" }
        );
        if let Ok(v) = HeaderValue::from_str(&clear) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        Ok(resp)
    }
    .await;
    r.unwrap_or_else(Deny::page)
}

/// Home: a participant's instances, a monitor's worklist, a manager's board.
async fn home(State(app): State<App>, headers: HeaderMap) -> Response {
    let r: Res = async {
        let ev = the_event(&app)?;
        let s = session(&ev, &headers).await?;
        match s.who.role {
            Role::Participant => participant_view(&ev, &s, s.who.subject.clone()).await,
            Role::Monitor => worklist_view(&ev, &s).await,
            Role::Manager => manager_view(&ev, &s).await,
        }
    }
    .await;
    r.unwrap_or_else(Deny::page)
}

async fn participant_page(
    State(app): State<App>,
    Path(participant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let r: Res = async {
        let ev = the_event(&app)?;
        let s = session(&ev, &headers).await?;
        if !s.who.sees(&participant) {
            return Err(Deny::NotFound);
        }
        participant_view(&ev, &s, participant).await
    }
    .await;
    r.unwrap_or_else(Deny::page)
}

async fn participant_view(ev: &Arc<EventApp>, s: &Session, participant: String) -> Res {
    let p = participant.clone();
    let (row, instances) = ev
        .db(move |st| {
            let row = event::participants(st.conn())?
                .into_iter()
                .find(|x| x.id == p);
            let list = event::instances(st.conn(), Some(&p))?;
            Ok((row, list))
        })
        .await?;
    let row = row.ok_or(Deny::NotFound)?;
    let running: Vec<String> = instances
        .iter()
        .filter(|i| ev.runner.is_running(&i.id))
        .map(|i| i.id.clone())
        .collect();
    Ok(html(
        pages::participant(&ev.title, s, &row, &instances, &running),
        false,
    ))
}

async fn instance_page(
    State(app): State<App>,
    Path(path): InstancePath,
    headers: HeaderMap,
) -> Response {
    let r: Res = async {
        let ev = the_event(&app)?;
        let s = session(&ev, &headers).await?;
        let inst = visible(&ev, &s.who, id_of(path)).await?;
        let id = inst.id.clone();
        let submissions = ev.runner.submissions();
        let scenario = ev.scenarios.get(&inst.scenario).cloned();
        let participant = inst.participant.clone();
        let sc_id = inst.scenario.clone();
        let view = ev
            .db(move |st| {
                let conn = st.conn();
                let mut attempts = Vec::new();
                for a in event::attempts(conn, &id)?.into_iter().rev() {
                    let steps = event::detail::steps(conn, a.id)?;
                    let arts = event::detail::artifacts(conn, a.id)?;
                    attempts.push((a, steps, arts));
                }
                let decisions = event::monitor::decisions(conn, Some(&id))?;
                let pending = match attempts.first() {
                    Some((a, _, _)) => event::monitor::pending_steps(conn, a.id)?,
                    None => Vec::new(),
                };
                let mut dropped = Vec::new();
                for (_, step, dir) in event::monitor::evidence_dirs(conn, &id)? {
                    for f in crate::scenario::steps::complete_files(&dir) {
                        if let Some(n) = f.file_name() {
                            dropped.push((step.clone(), n.to_string_lossy().into_owned()));
                        }
                    }
                }
                Ok((attempts, decisions, pending, dropped))
            })
            .await?;
        let (attempts, decisions, pending, dropped) = view;
        // Files waiting in each submit or evidence step's folder.
        let mut waiting = Vec::new();
        if let Some(sc) = &scenario {
            for (i, st) in sc.steps.iter().enumerate() {
                if matches!(st.kind, Kind::Submit | Kind::Evidence) {
                    let sid = step_id(st, i);
                    let dir = step_dir(&submissions, &participant, &sc_id, &sid);
                    let files: Vec<String> = crate::scenario::steps::complete_files(&dir)
                        .iter()
                        .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
                        .collect();
                    waiting.push((sid, files));
                }
            }
        }
        let running =
            ev.runner.is_running(&inst.id) || inst.status == event::InstanceStatus::Running;
        Ok(html(
            pages::instance(&pages::InstanceView {
                title: &ev.title,
                session: &s,
                inst: &inst,
                scenario: scenario.as_ref(),
                running,
                attempts: &attempts,
                decisions: &decisions,
                pending: &pending,
                dropped: &dropped,
                waiting: &waiting,
            }),
            true,
        ))
    }
    .await;
    r.unwrap_or_else(Deny::page)
}

/// A step's id as the runner names its folder (`étape N` when the suite gives none).
fn step_id(st: &crate::scenario::model::Step, i: usize) -> String {
    st.id.clone().unwrap_or_else(|| format!("étape {}", i + 1))
}

fn step_dir(root: &std::path::Path, participant: &str, scenario: &str, step: &str) -> PathBuf {
    use crate::scenario::run::safe;
    root.join(safe(participant))
        .join(safe(scenario))
        .join(safe(step))
}

/// Start an attempt: a participant its own, a manager any.
async fn start_attempt(
    ev: &Arc<EventApp>,
    who: &Who,
    inst: &InstanceRow,
) -> Result<event::live::Started, Deny> {
    if who.role == Role::Monitor {
        return Err(Deny::Forbidden("aux participants et aux gestionnaires"));
    }
    if inst.retired {
        return Err(Deny::Conflict(format!(
            "{} : son scénario a été retiré de la suite",
            inst.id
        )));
    }
    Ok(ev.runner.start_attempt(&inst.id, &who.actor()).await?)
}

async fn start_form(
    State(app): State<App>,
    Path(path): InstancePath,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    let r: Res = async {
        let ev = the_event(&app)?;
        let s = session(&ev, &headers).await?;
        let inst = visible(&ev, &s.who, id_of(path)).await?;
        check_form(&app, &headers, &s, field(&form, "csrf"))?;
        start_attempt(&ev, &s.who, &inst).await?;
        Ok(see_other(&instance_url(&inst.id)))
    }
    .await;
    r.unwrap_or_else(Deny::page)
}

/// A participant's file for a submit or evidence step, written where the runner looks
/// (`submissions/<participant>/<scenario>/<step>/`): complete when it appears (written aside,
/// then renamed). For a submit step it replaces what was waiting there (the runner takes the
/// first file); evidence files add up.
async fn upload_form(
    State(app): State<App>,
    Path((p, sc, r, step)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    req: Request,
) -> Response {
    let peer = req.extensions().get::<super::Peer>().copied();
    let res: Res = async {
        let ev = the_event(&app)?;
        let s = session(&ev, &headers).await?;
        let inst = visible(&ev, &s.who, id_of((p, sc, r))).await?;
        if s.who.role != Role::Participant {
            return Err(Deny::Forbidden("au participant de l'instance"));
        }
        let scenario = ev.scenarios.get(&inst.scenario).ok_or(Deny::NotFound)?;
        let kind = scenario
            .steps
            .iter()
            .enumerate()
            .find(|(i, st)| step_id(st, *i) == step)
            .map(|(_, st)| st.kind)
            .filter(|k| matches!(k, Kind::Submit | Kind::Evidence))
            .ok_or(Deny::NotFound)?;
        if let Some(super::Peer(addr)) = peer {
            app.limiter.take(addr.ip()).map_err(|w| {
                Deny::Conflict(format!(
                    "Trop de dépôts : réessayez dans {} s.",
                    w.as_secs().max(1)
                ))
            })?;
        }
        let mut form = Multipart::from_request(req, &())
            .await
            .map_err(|e| Deny::Bad(e.body_text()))?;
        let mut csrf = None;
        let mut file = None;
        while let Some(f) = form
            .next_field()
            .await
            .map_err(|e| Deny::Bad(e.body_text()))?
        {
            match f.name() {
                Some("csrf") => csrf = Some(f.text().await.map_err(|e| Deny::Bad(e.body_text()))?),
                Some("file") => {
                    // The token comes first in the form: nothing is read for a forged post.
                    check_form(&app, &headers, &s, csrf.as_deref())?;
                    let name = api::clean_name(f.file_name(), 1);
                    let bytes = f.bytes().await.map_err(|e| Deny::Bad(e.body_text()))?;
                    if !bytes.is_empty() {
                        file = Some((name, bytes));
                    }
                }
                _ => {}
            }
        }
        check_form(&app, &headers, &s, csrf.as_deref())?;
        let (name, bytes) = file.ok_or_else(|| Deny::Bad("aucun fichier".into()))?;
        let dir = step_dir(
            &ev.runner.submissions(),
            &inst.participant,
            &inst.scenario,
            &step,
        );
        let replace = kind == Kind::Submit;
        let shown = name.clone();
        tokio::task::spawn_blocking(move || deposit(&dir, &name, &bytes, replace))
            .await
            .map_err(|e| Deny::Internal(e.to_string()))?
            .map_err(Deny::Internal)?;
        tracing::info!(instance = %inst.id, step = %step, file = %shown, "banc serve : dépôt");
        Ok(see_other(&instance_url(&inst.id)))
    }
    .await;
    res.unwrap_or_else(Deny::page)
}

/// Write `bytes` as `dir/name`, complete when it appears; `replace`: the complete files
/// already there are set aside first (hidden, kept).
fn deposit(dir: &std::path::Path, name: &str, bytes: &[u8], replace: bool) -> Result<(), String> {
    use std::io::Write;
    crate::event::store::create_private_dir(dir).map_err(|e| e.to_string())?;
    let name = name.trim_start_matches('.');
    let name = if name.is_empty() { "document" } else { name };
    let stamp = crate::clock::Utc::now().rfc3339().replace(':', "-");
    if replace {
        for old in crate::scenario::steps::complete_files(dir) {
            if let Some(n) = old.file_name() {
                let aside = dir.join(format!(".remplacé-{stamp}-{}", n.to_string_lossy()));
                std::fs::rename(&old, aside).map_err(|e| format!("{} : {e}", old.display()))?;
            }
        }
    }
    let tmp = dir.join(format!(
        ".{name}.{}.part",
        access::secret()
            .map_err(|e| e.to_string())?
            .get(..8)
            .unwrap_or("x")
    ));
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let io = |e: std::io::Error| format!("{} : {e}", dir.display());
    let mut f = o.open(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    // A file of the same name already there is kept aside rather than overwritten.
    let target = dir.join(name);
    if target.exists() {
        let _ = std::fs::rename(&target, dir.join(format!(".remplacé-{stamp}-{name}")));
    }
    std::fs::rename(&tmp, &target).map_err(io)
}

/// Follow the instance live (server-sent events): where its attempt is, what it waits for.
/// `state` first; then the runner's events; `finished` when the attempt ended; `idle` when
/// nothing plays (with the recorded status).
async fn live(State(app): State<App>, Path(path): InstancePath, headers: HeaderMap) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let r: Res = async {
        let ev = the_event(&app)?;
        let s = session(&ev, &headers).await?;
        let inst = visible(&ev, &s.who, id_of(path)).await?;
        let rx = ev.runner.subscribe();
        let past = ev.runner.replay(&inst.participant, &inst.scenario);
        // An attempt that told its end is over, even while its run closes.
        let ended = past.iter().any(|e| e.kind == "finished");
        let running = !ended
            && (ev.runner.is_running(&inst.id) || inst.status == event::InstanceStatus::Running);
        let state = serde_json::json!({
            "instance": inst.id,
            "status": inst.status.as_str(),
            "running": running,
        });
        let mut first = vec![Event::default().event("state").data(state.to_string())];
        let idle = |status: &str| {
            Event::default()
                .event("idle")
                .data(serde_json::json!({ "status": status }).to_string())
        };
        if !running {
            let events = vec![first[0].clone(), idle(inst.status.as_str())];
            let stream = futures_util::stream::iter(
                events.into_iter().map(Ok::<_, std::convert::Infallible>),
            );
            return Ok(Sse::new(stream).into_response());
        }
        // Where the attempt is: its events so far.
        let mut seen = 0;
        let done = false;
        for e in past {
            seen = e.seq;
            let e = for_people(&ev, e);
            let data = serde_json::to_string(&e).unwrap_or_default();
            first.push(Event::default().event(e.kind).data(data));
        }
        first.reverse();
        struct Follow {
            rx: tokio::sync::broadcast::Receiver<event::live::LiveEvent>,
            first: Vec<Event>,
            seen: u64,
            done: bool,
            ev: Arc<EventApp>,
            participant: String,
            scenario: String,
            id: String,
        }
        let st = Follow {
            rx,
            first,
            seen,
            done,
            ev: ev.clone(),
            participant: inst.participant.clone(),
            scenario: inst.scenario.clone(),
            id: inst.id.clone(),
        };
        let stream = futures_util::stream::unfold(st, move |mut st| async move {
            if let Some(e) = st.first.pop() {
                return Some((Ok::<_, std::convert::Infallible>(e), st));
            }
            if st.done {
                return None;
            }
            loop {
                let tick =
                    tokio::time::timeout(std::time::Duration::from_secs(2), st.rx.recv()).await;
                match tick {
                    Ok(Ok(e))
                        if e.seq > st.seen
                            && e.participant == st.participant
                            && e.scenario == st.scenario =>
                    {
                        if e.kind == "finished" {
                            st.done = true;
                        }
                        let e = for_people(&st.ev, e);
                        let data = serde_json::to_string(&e).unwrap_or_default();
                        return Some((Ok(Event::default().event(e.kind).data(data)), st));
                    }
                    Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return None,
                    // Quiet: the run may have ended without a word for this instance (cut
                    // before it began).
                    Err(_) => {
                        if !st.ev.runner.is_running(&st.id) {
                            let id = st.id.clone();
                            let status = st
                                .ev
                                .db(move |s| event::instance(s.conn(), &id))
                                .await
                                .map(|i| i.status.as_str().to_string())
                                .unwrap_or_default();
                            st.done = true;
                            let data = serde_json::json!({ "status": status }).to_string();
                            return Some((Ok(Event::default().event("idle").data(data)), st));
                        }
                    }
                }
            }
        });
        Ok(Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response())
    }
    .await;
    r.unwrap_or_else(Deny::page)
}

/// A live event as the page says it: a deposit is made with the step's form, not in a
/// folder of the server.
fn for_people(ev: &EventApp, mut e: event::live::LiveEvent) -> event::live::LiveEvent {
    if e.kind != "waiting" {
        return e;
    }
    let step = ev.scenarios.get(&e.scenario).and_then(|sc| {
        sc.steps
            .iter()
            .enumerate()
            .find(|(i, st)| Some(step_id(st, *i)) == e.step)
            .map(|(_, st)| st)
    });
    if let Some(st) = step
        && matches!(st.kind, Kind::Submit | Kind::Evidence)
    {
        e.text = format!(
            "en attente : {} — déposez le fichier avec le formulaire de l'étape « {} » ci-dessous",
            st.title.as_deref().unwrap_or("dépôt"),
            e.step.as_deref().unwrap_or("")
        );
    }
    e
}

/// The attempt `n` of a visible instance, and its store id.
async fn attempt_of(
    ev: &Arc<EventApp>,
    who: &Who,
    path: (String, String, String),
    n: &str,
) -> Result<(InstanceRow, event::AttemptRow), Deny> {
    let inst = visible(ev, who, id_of(path)).await?;
    let n: i64 = n.parse().map_err(|_| Deny::NotFound)?;
    let id = inst.id.clone();
    let a = ev
        .db(move |st| {
            Ok(event::attempts(st.conn(), &id)?
                .into_iter()
                .find(|a| a.number == n))
        })
        .await?
        .ok_or(Deny::NotFound)?;
    Ok((inst, a))
}

/// The attempt's report: the runner's scenario result (`banc-run/1`), as recorded.
async fn attempt_report(
    State(app): State<App>,
    Path((p, s, r, n)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let res: Res = async {
        let ev = the_event(&app)?;
        let sess = session(&ev, &headers).await?;
        let (inst, a) = attempt_of(&ev, &sess.who, (p, s, r), &n).await?;
        let sha = a.report.ok_or(Deny::NotFound)?;
        let bytes = ev.db(move |st| st.read_blob(&sha)).await?;
        let name = format!(
            "{}-{}-{}-tentative-{}.json",
            inst.participant, inst.scenario, inst.role, a.number
        );
        Ok(api::download(bytes, "application/json", &name))
    }
    .await;
    res.unwrap_or_else(Deny::page)
}

/// A file of an attempt (message, document, acknowledgement, evidence), as kept.
async fn artifact(
    State(app): State<App>,
    Path((p, s, r, n, k)): Path<(String, String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let res: Res = async {
        let ev = the_event(&app)?;
        let sess = session(&ev, &headers).await?;
        let (_, a) = attempt_of(&ev, &sess.who, (p, s, r), &n).await?;
        let k: usize = k.parse().map_err(|_| Deny::NotFound)?;
        let (name, bytes) = ev
            .db(move |st| {
                let list = event::detail::artifacts(st.conn(), a.id)?;
                match list.into_iter().nth(k) {
                    Some(x) => Ok(Some((x.name.clone(), st.read_blob(&x.sha256)?))),
                    None => Ok(None),
                }
            })
            .await?
            .ok_or(Deny::NotFound)?;
        Ok(api::download(bytes, "application/octet-stream", &name))
    }
    .await;
    res.unwrap_or_else(Deny::page)
}

/// An evidence file dropped for the latest attempt and not yet kept (a monitor looks at it
/// before deciding; deciding keeps it).
async fn dropped_file(
    State(app): State<App>,
    Path((p, s, r, step, name)): Path<(String, String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let res: Res = async {
        let ev = the_event(&app)?;
        let sess = session(&ev, &headers).await?;
        let inst = visible(&ev, &sess.who, id_of((p, s, r))).await?;
        let id = inst.id.clone();
        let path = ev
            .db(move |st| {
                for (_, sid, dir) in event::monitor::evidence_dirs(st.conn(), &id)? {
                    if sid != step {
                        continue;
                    }
                    // Only a file the folder lists: the name never makes a path.
                    if let Some(f) = crate::scenario::steps::complete_files(&dir)
                        .into_iter()
                        .find(|f| f.file_name().is_some_and(|n| n.to_string_lossy() == name))
                    {
                        return Ok(Some(f));
                    }
                }
                Ok(None)
            })
            .await?
            .ok_or(Deny::NotFound)?;
        let shown = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = tokio::task::spawn_blocking(move || {
            crate::files::read_bounded(&path, 256 * 1024 * 1024)
        })
        .await
        .map_err(|e| Deny::Internal(e.to_string()))?
        .map_err(|_| Deny::NotFound)?;
        Ok(api::download(bytes, "application/octet-stream", &shown))
    }
    .await;
    res.unwrap_or_else(Deny::page)
}

fn monitor_or_manager(who: &Who) -> Result<(), Deny> {
    if who.role == Role::Participant {
        Err(Deny::Forbidden("aux moniteurs et aux gestionnaires"))
    } else {
        Ok(())
    }
}

fn manager(who: &Who) -> Result<(), Deny> {
    if who.role == Role::Manager {
        Ok(())
    } else {
        Err(Deny::Forbidden("aux gestionnaires"))
    }
}

async fn claim_form(
    State(app): State<App>,
    Path(path): InstancePath,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    let r: Res = async {
        let ev = the_event(&app)?;
        let s = session(&ev, &headers).await?;
        let inst = visible(&ev, &s.who, id_of(path)).await?;
        check_form(&app, &headers, &s, field(&form, "csrf"))?;
        claim(&ev, &s.who, &inst.id).await?;
        Ok(see_other(&instance_url(&inst.id)))
    }
    .await;
    r.unwrap_or_else(Deny::page)
}

async fn claim(ev: &Arc<EventApp>, who: &Who, id: &str) -> Result<(), Deny> {
    if who.role != Role::Monitor {
        return Err(Deny::Forbidden("aux moniteurs"));
    }
    let (id, name) = (id.to_string(), who.subject.clone());
    ev.db(move |st| {
        event::recover(st)?;
        event::monitor::claim(st, &id, &name)
    })
    .await?;
    Ok(())
}

async fn decide(
    ev: &Arc<EventApp>,
    who: &Who,
    id: &str,
    verdict: &str,
    comment: &str,
    checklist: Vec<usize>,
) -> Result<event::monitor::Decided, Deny> {
    if who.role != Role::Monitor {
        return Err(Deny::Forbidden("aux moniteurs"));
    }
    let verdict = event::monitor::Verdict::parse(verdict)
        .ok_or_else(|| Deny::Bad("verdict : verified, partially-verified ou rejected".into()))?;
    let (id, name, comment) = (id.to_string(), who.subject.clone(), comment.to_string());
    Ok(ev
        .db(move |st| event::monitor::decide(st, &id, verdict, &name, &comment, &checklist))
        .await?)
}

async fn decide_form(
    State(app): State<App>,
    Path(path): InstancePath,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    let r: Res = async {
        let ev = the_event(&app)?;
        let s = session(&ev, &headers).await?;
        let inst = visible(&ev, &s.who, id_of(path)).await?;
        check_form(&app, &headers, &s, field(&form, "csrf"))?;
        let checklist: Vec<usize> = form
            .iter()
            .filter(|(k, _)| k == "checklist")
            .filter_map(|(_, v)| v.parse().ok())
            .collect();
        decide(
            &ev,
            &s.who,
            &inst.id,
            field(&form, "verdict").unwrap_or(""),
            field(&form, "comment").unwrap_or(""),
            checklist,
        )
        .await?;
        Ok(see_other(&instance_url(&inst.id)))
    }
    .await;
    r.unwrap_or_else(Deny::page)
}

async fn worklist_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let r: Res = async {
        let ev = the_event(&app)?;
        let s = session(&ev, &headers).await?;
        monitor_or_manager(&s.who)?;
        worklist_view(&ev, &s).await
    }
    .await;
    r.unwrap_or_else(Deny::page)
}

async fn worklist_view(ev: &Arc<EventApp>, s: &Session) -> Res {
    let mine = (s.who.role == Role::Monitor).then(|| s.who.subject.clone());
    let items = ev
        .db(move |st| event::monitor::worklist(st, mine.as_deref()))
        .await?;
    Ok(html(pages::worklist(&ev.title, s, &items), false))
}

async fn manager_view(ev: &Arc<EventApp>, s: &Session) -> Res {
    let (participants, scores, published, instances) = ev
        .db(|st| {
            Ok((
                event::participants(st.conn())?,
                event::score::scores(st)?,
                access::published(st)?,
                event::instances(st.conn(), None)?,
            ))
        })
        .await?;
    Ok(html(
        pages::manager(&ev.title, s, &participants, &scores, published, &instances),
        false,
    ))
}

async fn audit_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let r: Res = async {
        let ev = the_event(&app)?;
        let s = session(&ev, &headers).await?;
        manager(&s.who)?;
        let (log, check) = ev
            .db(|st| {
                Ok((
                    event::store::audit_log(st.conn())?,
                    event::verify_audit(st)?,
                ))
            })
            .await?;
        Ok(html(pages::audit(&ev.title, &s, &log, &check), false))
    }
    .await;
    r.unwrap_or_else(Deny::page)
}

async fn publish_form(
    State(app): State<App>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Response {
    let r: Res = async {
        let ev = the_event(&app)?;
        let s = session(&ev, &headers).await?;
        check_form(&app, &headers, &s, field(&form, "csrf"))?;
        manager(&s.who)?;
        let publish = field(&form, "publish") == Some("true");
        let by = s.who.actor();
        ev.db(move |st| access::set_published(st, publish, &by))
            .await?;
        Ok(see_other("/event"))
    }
    .await;
    r.unwrap_or_else(Deny::page)
}

#[derive(Deserialize)]
struct ExportQuery {
    participant: Option<String>,
}

/// A signed evidence bundle (the whole event, or one participant's), as `banc event export`
/// writes it.
async fn export(
    State(app): State<App>,
    Query(q): Query<ExportQuery>,
    headers: HeaderMap,
) -> Response {
    let r: Res = async {
        let ev = the_event(&app)?;
        let s = session(&ev, &headers).await?;
        manager(&s.who)?;
        let dir = ev.runner.dir().to_path_buf();
        let who = q.participant.clone();
        let bytes = tokio::task::spawn_blocking(move || {
            let tmp_dir = dir.join("exports");
            crate::event::store::create_private_dir(&tmp_dir)?;
            let tmp = tmp_dir.join(format!(
                ".{}.zip",
                access::secret()?.get(..16).unwrap_or("x")
            ));
            let r = event::bundle::export(&dir, who.as_deref(), &tmp)
                .and_then(|_| std::fs::read(&tmp).map_err(|e| Error::Io(e.to_string())));
            let _ = std::fs::remove_file(&tmp);
            r
        })
        .await
        .map_err(|e| Deny::Internal(e.to_string()))??;
        let name = match &q.participant {
            Some(p) => format!("preuves-{p}.zip"),
            None => "preuves-evenement.zip".to_string(),
        };
        Ok(api::download(bytes, "application/zip", &name))
    }
    .await;
    r.unwrap_or_else(Deny::page)
}

/// The public scoreboard, once published (else 404, as if it did not exist).
async fn public_scores(State(app): State<App>) -> Response {
    let r: Res = async {
        let ev = the_event(&app)?;
        let (published, scores) = ev
            .db(|st| Ok((access::published(st)?, event::score::scores(st)?)))
            .await?;
        if !published {
            return Err(Deny::NotFound);
        }
        Ok(html(pages::public_scores(&ev.title, &scores), false))
    }
    .await;
    r.unwrap_or_else(Deny::page)
}

// ---------------------------------------------------------------------------------------------
// API (bearer token, JSON)

fn api_result(r: Res) -> Response {
    r.unwrap_or_else(Deny::json)
}

/// Who this token is.
#[utoipa::path(get, path = "/api/event/me", tag = "event", security(("bearer" = [])),
    responses((status = 200, description = "The token's role and subject", body = schema::Me),
        (status = 401, description = "No valid token", body = super::openapi::ApiError)))]
pub(super) async fn api_me(State(app): State<App>, headers: HeaderMap) -> Response {
    api_result(
        async {
            let ev = the_event(&app)?;
            let who = bearer(&ev, &headers).await?;
            Ok(json_ok(StatusCode::OK, &who))
        }
        .await,
    )
}

/// The instances this token may see: a participant's own; every one for monitors and managers.
#[utoipa::path(get, path = "/api/event/instances", tag = "event", security(("bearer" = [])),
    responses((status = 200, description = "Instances, by participant, role and scenario", body = Vec<schema::Instance>),
        (status = 401, description = "No valid token", body = super::openapi::ApiError)))]
pub(super) async fn api_instances(State(app): State<App>, headers: HeaderMap) -> Response {
    api_result(
        async {
            let ev = the_event(&app)?;
            let who = bearer(&ev, &headers).await?;
            let only = (who.role == Role::Participant).then(|| who.subject.clone());
            let list = ev
                .db(move |st| event::instances(st.conn(), only.as_deref()))
                .await?;
            Ok(json_ok(StatusCode::OK, &list))
        }
        .await,
    )
}

/// One instance (`participant/scenario/role`).
#[utoipa::path(get, path = "/api/event/instances/{participant}/{scenario}/{role}", tag = "event",
    security(("bearer" = [])), params(schema::InstanceParams),
    responses((status = 200, description = "The instance and its latest status", body = schema::Instance),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 404, description = "Unknown, or another participant's", body = super::openapi::ApiError)))]
pub(super) async fn api_instance(
    State(app): State<App>,
    Path(path): InstancePath,
    headers: HeaderMap,
) -> Response {
    api_result(
        async {
            let ev = the_event(&app)?;
            let who = bearer(&ev, &headers).await?;
            let inst = visible(&ev, &who, id_of(path)).await?;
            Ok(json_ok(StatusCode::OK, &inst))
        }
        .await,
    )
}

#[derive(Serialize)]
struct AttemptOut {
    #[serde(flatten)]
    attempt: event::AttemptRow,
    steps: Vec<event::detail::StepRow>,
    artifacts: Vec<event::detail::ArtifactRow>,
}

/// Every attempt of an instance, oldest first, with its steps and files.
#[utoipa::path(get, path = "/api/event/instances/{participant}/{scenario}/{role}/attempts", tag = "event",
    security(("bearer" = [])), params(schema::InstanceParams),
    responses((status = 200, description = "Attempts with their steps (the runner's full result) and artifacts", body = Vec<schema::Attempt>),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 404, description = "Unknown, or another participant's", body = super::openapi::ApiError)))]
pub(super) async fn api_attempts(
    State(app): State<App>,
    Path(path): InstancePath,
    headers: HeaderMap,
) -> Response {
    api_result(
        async {
            let ev = the_event(&app)?;
            let who = bearer(&ev, &headers).await?;
            let inst = visible(&ev, &who, id_of(path)).await?;
            let out = ev
                .db(move |st| {
                    let conn = st.conn();
                    let mut out = Vec::new();
                    for a in event::attempts(conn, &inst.id)? {
                        out.push(AttemptOut {
                            steps: event::detail::steps(conn, a.id)?,
                            artifacts: event::detail::artifacts(conn, a.id)?,
                            attempt: a,
                        });
                    }
                    Ok(out)
                })
                .await?;
            Ok(json_ok(StatusCode::OK, &out))
        }
        .await,
    )
}

/// Start a new attempt (a participant its own instances, a manager any): played in the
/// background; follow it with `GET …/attempts` or the instance's page.
#[utoipa::path(post, path = "/api/event/instances/{participant}/{scenario}/{role}/attempts", tag = "event",
    security(("bearer" = [])), params(schema::InstanceParams),
    responses((status = 202, description = "Started: the run playing it", body = schema::Started),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 403, description = "A monitor's token", body = super::openapi::ApiError),
        (status = 404, description = "Unknown, or another participant's", body = super::openapi::ApiError),
        (status = 409, description = "Already playing, or a prerequisite not met", body = super::openapi::ApiError)))]
pub(super) async fn api_start(
    State(app): State<App>,
    Path(path): InstancePath,
    headers: HeaderMap,
) -> Response {
    api_result(
        async {
            let ev = the_event(&app)?;
            let who = bearer(&ev, &headers).await?;
            let inst = visible(&ev, &who, id_of(path)).await?;
            let started = start_attempt(&ev, &who, &inst).await?;
            Ok(json_ok(StatusCode::ACCEPTED, &started))
        }
        .await,
    )
}

/// The monitors' decisions on an instance, oldest first.
#[utoipa::path(get, path = "/api/event/instances/{participant}/{scenario}/{role}/decisions", tag = "event",
    security(("bearer" = [])), params(schema::InstanceParams),
    responses((status = 200, description = "Decisions", body = Vec<schema::Decision>),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 404, description = "Unknown, or another participant's", body = super::openapi::ApiError)))]
pub(super) async fn api_decisions(
    State(app): State<App>,
    Path(path): InstancePath,
    headers: HeaderMap,
) -> Response {
    api_result(
        async {
            let ev = the_event(&app)?;
            let who = bearer(&ev, &headers).await?;
            let inst = visible(&ev, &who, id_of(path)).await?;
            let list = ev
                .db(move |st| event::monitor::decisions(st.conn(), Some(&inst.id)))
                .await?;
            Ok(json_ok(StatusCode::OK, &list))
        }
        .await,
    )
}

/// A monitor's decision on the latest attempt (it must wait for a person, and not be claimed
/// by another monitor).
#[utoipa::path(post, path = "/api/event/instances/{participant}/{scenario}/{role}/decisions", tag = "event",
    security(("bearer" = [])), params(schema::InstanceParams),
    request_body(content = schema::DecisionRequest, content_type = "application/json"),
    responses((status = 201, description = "Recorded (and in the audit log)", body = schema::Decided),
        (status = 400, description = "An unreadable body or verdict", body = super::openapi::ApiError),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 403, description = "Not a monitor's token", body = super::openapi::ApiError),
        (status = 404, description = "Unknown instance", body = super::openapi::ApiError),
        (status = 409, description = "Nothing to decide, claimed by another, a checklist item out of range", body = super::openapi::ApiError)))]
pub(super) async fn api_decide(
    State(app): State<App>,
    Path(path): InstancePath,
    headers: HeaderMap,
    body: Result<Json<DecisionRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    api_result(
        async {
            let ev = the_event(&app)?;
            let who = bearer(&ev, &headers).await?;
            let inst = visible(&ev, &who, id_of(path)).await?;
            let Json(d) = body.map_err(|e| Deny::Bad(e.body_text()))?;
            let done = decide(&ev, &who, &inst.id, &d.verdict, &d.comment, d.checklist).await?;
            Ok(json_ok(StatusCode::CREATED, &done))
        }
        .await,
    )
}

/// What `POST …/decisions` takes.
#[derive(Deserialize)]
pub(super) struct DecisionRequest {
    verdict: String,
    comment: String,
    #[serde(default)]
    checklist: Vec<usize>,
}

/// A monitor takes an instance of the worklist.
#[utoipa::path(post, path = "/api/event/instances/{participant}/{scenario}/{role}/claim", tag = "event",
    security(("bearer" = [])), params(schema::InstanceParams),
    responses((status = 200, description = "Claimed", body = schema::Claimed),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 403, description = "Not a monitor's token", body = super::openapi::ApiError),
        (status = 404, description = "Unknown instance", body = super::openapi::ApiError),
        (status = 409, description = "Nothing to verify, or claimed by another", body = super::openapi::ApiError)))]
pub(super) async fn api_claim(
    State(app): State<App>,
    Path(path): InstancePath,
    headers: HeaderMap,
) -> Response {
    api_result(
        async {
            let ev = the_event(&app)?;
            let who = bearer(&ev, &headers).await?;
            let inst = visible(&ev, &who, id_of(path)).await?;
            claim(&ev, &who, &inst.id).await?;
            Ok(json_ok(
                StatusCode::OK,
                &serde_json::json!({ "instance": inst.id, "claimed_by": who.subject }),
            ))
        }
        .await,
    )
}

/// What waits for a person, oldest first: a monitor sees what is unclaimed or theirs, a
/// manager everything.
#[utoipa::path(get, path = "/api/event/worklist", tag = "event", security(("bearer" = [])),
    responses((status = 200, description = "Work items with the manual steps, instructions, checklists and evidence", body = Vec<schema::WorkItem>),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 403, description = "A participant's token", body = super::openapi::ApiError)))]
pub(super) async fn api_worklist(State(app): State<App>, headers: HeaderMap) -> Response {
    api_result(
        async {
            let ev = the_event(&app)?;
            let who = bearer(&ev, &headers).await?;
            monitor_or_manager(&who)?;
            let mine = (who.role == Role::Monitor).then(|| who.subject.clone());
            let items = ev
                .db(move |st| event::monitor::worklist(st, mine.as_deref()))
                .await?;
            Ok(json_ok(StatusCode::OK, &items))
        }
        .await,
    )
}

/// The scores computed now: every participant for monitors and managers, its own rows for a
/// participant; and whether they are published.
#[utoipa::path(get, path = "/api/event/scores", tag = "event", security(("bearer" = [])),
    responses((status = 200, description = "Scores", body = schema::Scores),
        (status = 401, description = "No valid token", body = super::openapi::ApiError)))]
pub(super) async fn api_scores(State(app): State<App>, headers: HeaderMap) -> Response {
    api_result(
        async {
            let ev = the_event(&app)?;
            let who = bearer(&ev, &headers).await?;
            let (published, mut rows) = ev
                .db(|st| Ok((access::published(st)?, event::score::scores(st)?)))
                .await?;
            rows.retain(|r| who.sees(&r.participant));
            Ok(json_ok(
                StatusCode::OK,
                &serde_json::json!({ "published": published, "scores": rows }),
            ))
        }
        .await,
    )
}

/// Publish the scores (the public scoreboard `/scores` appears) or withdraw them (a manager).
#[utoipa::path(put, path = "/api/event/scores/published", tag = "event", security(("bearer" = [])),
    request_body(content = schema::Published, content_type = "application/json"),
    responses((status = 200, description = "Done (in the audit log)", body = schema::Published),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 403, description = "Not a manager's token", body = super::openapi::ApiError)))]
pub(super) async fn api_publish(
    State(app): State<App>,
    headers: HeaderMap,
    body: Result<Json<PublishRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    api_result(
        async {
            let ev = the_event(&app)?;
            let who = bearer(&ev, &headers).await?;
            manager(&who)?;
            let Json(p) = body.map_err(|e| Deny::Bad(e.body_text()))?;
            let by = who.actor();
            ev.db(move |st| access::set_published(st, p.published, &by))
                .await?;
            Ok(json_ok(
                StatusCode::OK,
                &serde_json::json!({ "published": p.published }),
            ))
        }
        .await,
    )
}

#[derive(Deserialize)]
pub(super) struct PublishRequest {
    published: bool,
}

/// The OpenAPI description of the event's API (merged into `/api/openapi.json`).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        api_me,
        api_instances,
        api_instance,
        api_attempts,
        api_start,
        api_decisions,
        api_decide,
        api_claim,
        api_worklist,
        api_scores,
        api_publish,
    ),
    components(schemas(
        schema::Me,
        schema::Instance,
        schema::Attempt,
        schema::Step,
        schema::Artifact,
        schema::Started,
        schema::Decision,
        schema::DecisionRequest,
        schema::Decided,
        schema::Claimed,
        schema::WorkItem,
        schema::PendingStep,
        schema::Scores,
        schema::ScoreRow,
        schema::Published,
    )),
    modifiers(&Bearer),
    tags((name = "event", description = "A projectathon event (`banc serve --event`): bearer token from `banc event access --format token`")),
)]
pub(super) struct EventDoc;

struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A token of `banc event access`"))
                    .build(),
            ),
        );
    }
}

/// The JSON of the event's API, described field for field (the answers are the event module's
/// own structures; `tests/serve_event.rs` checks them against these).
#[allow(dead_code)]
pub(super) mod schema {
    use super::ToSchema;

    #[derive(utoipa::IntoParams)]
    #[into_params(parameter_in = Path)]
    pub struct InstanceParams {
        /// Participant id.
        participant: String,
        /// Scenario id.
        scenario: String,
        /// `producer` or `consumer`.
        role: String,
    }

    /// The event's own status type: its schema follows its serde names.
    pub use crate::event::InstanceStatus as Status;

    #[derive(ToSchema)]
    pub struct Me {
        /// `participant`, `monitor` or `manager`.
        role: String,
        /// The participant's id, the monitor's or manager's name.
        subject: String,
    }

    #[derive(ToSchema)]
    pub struct Instance {
        /// `participant/scenario/role`.
        instance: String,
        participant: String,
        suite: String,
        scenario: String,
        role: String,
        /// `N1`, `N2`, `N3`.
        level: String,
        required: bool,
        title: String,
        status: Status,
        /// When the status last changed (RFC 3339).
        since: String,
        #[schema(required = true)]
        claimed_by: Option<String>,
        attempts: i64,
        #[schema(required = true)]
        reason: Option<String>,
        retired: bool,
    }

    #[derive(ToSchema)]
    pub struct Attempt {
        id: i64,
        instance: String,
        number: i64,
        #[schema(required = true)]
        run: Option<i64>,
        /// The runner's status (`running`, `passed`, `failed`, `pending`, `skipped`, `error`,
        /// `interrupted`).
        status: String,
        #[schema(required = true)]
        reason: Option<String>,
        partner: String,
        started: String,
        #[schema(required = true)]
        finished: Option<String>,
        banc: String,
        #[schema(required = true)]
        kit: Option<String>,
        /// sha256 of the attempt's report blob.
        #[schema(required = true)]
        report: Option<String>,
        steps: Vec<Step>,
        artifacts: Vec<Artifact>,
    }

    #[derive(ToSchema)]
    pub struct Step {
        n: i64,
        id: String,
        kind: String,
        status: String,
        message: String,
        at: String,
        /// The runner's result of the step (log, checks, findings).
        result: serde_json::Value,
    }

    #[derive(ToSchema)]
    pub struct Artifact {
        index: usize,
        step: i64,
        kind: String,
        name: String,
        sha256: String,
        size: i64,
    }

    #[derive(ToSchema)]
    pub struct Started {
        instance: String,
        run: i64,
    }

    #[derive(ToSchema)]
    pub struct Decision {
        instance: String,
        attempt: i64,
        monitor: String,
        verdict: String,
        comment: String,
        checklist: Vec<usize>,
        at: String,
    }

    #[derive(ToSchema)]
    pub struct DecisionRequest {
        /// `verified`, `partially-verified` or `rejected`.
        verdict: String,
        comment: String,
        /// The checklist items that held, numbered from 1 over the attempt's manual steps.
        #[schema(required = false)]
        checklist: Vec<usize>,
    }

    #[derive(ToSchema)]
    pub struct Decided {
        instance: String,
        attempt: i64,
        before: Status,
        after: Status,
        checked: Vec<String>,
    }

    #[derive(ToSchema)]
    pub struct Claimed {
        instance: String,
        claimed_by: String,
    }

    #[derive(ToSchema)]
    pub struct PendingStep {
        id: String,
        kind: String,
        #[schema(required = true)]
        title: Option<String>,
        #[schema(required = true)]
        instructions: Option<String>,
        checklist: Vec<String>,
        evidence: Vec<String>,
    }

    #[derive(ToSchema)]
    pub struct WorkItem {
        instance: String,
        participant: String,
        scenario: String,
        role: String,
        level: String,
        title: String,
        status: Status,
        since: String,
        #[schema(required = true)]
        claimed_by: Option<String>,
        attempt: i64,
        steps: Vec<PendingStep>,
        #[schema(required = true)]
        report: Option<String>,
    }

    #[derive(ToSchema)]
    pub struct Scores {
        published: bool,
        scores: Vec<ScoreRow>,
    }

    /// As `banc event score --format json` prints a row.
    #[derive(ToSchema)]
    pub struct ScoreRow {
        participant: String,
        organisation: String,
        role: String,
        /// level → status → count.
        counts: serde_json::Value,
        required: usize,
        required_achieved: usize,
        optional: usize,
        optional_achieved: usize,
        partners: Vec<String>,
        /// `pass`, `incomplete`, `fail`.
        computed: String,
        grade: String,
        #[schema(required = true)]
        r#override: Option<serde_json::Value>,
        reasons: Vec<serde_json::Value>,
    }

    #[derive(ToSchema)]
    pub struct Published {
        published: bool,
    }
}
