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
use axum::Router;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

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
    pub(super) async fn db<T, F>(self: &Arc<Self>, f: F) -> Result<T, Error>
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
pub(super) enum Deny {
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
    /// Refused as the validation service refuses an upload (too large, too many...).
    Refused(StatusCode, String),
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
            Deny::Refused(status, _) => *status,
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
            Deny::Conflict(m) | Deny::Refused(_, m) => m.clone(),
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

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The instance `id`, if this person may see it (else the same 404 as an unknown one).
pub(super) async fn visible(
    ev: &Arc<EventApp>,
    who: &Who,
    id: String,
) -> Result<InstanceRow, Deny> {
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

/// A denial shown as a page (the browser's routes).
pub(super) struct PageErr(Deny);
/// A denial answered as JSON (the API's routes).
pub(super) struct ApiErr(Deny);

impl IntoResponse for PageErr {
    fn into_response(self) -> Response {
        self.0.page()
    }
}

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        self.0.json()
    }
}

impl From<Deny> for PageErr {
    fn from(d: Deny) -> Self {
        PageErr(d)
    }
}

impl From<Error> for PageErr {
    fn from(e: Error) -> Self {
        PageErr(e.into())
    }
}

impl From<Deny> for ApiErr {
    fn from(d: Deny) -> Self {
        ApiErr(d)
    }
}

impl From<Error> for ApiErr {
    fn from(e: Error) -> Self {
        ApiErr(e.into())
    }
}

type Page = Result<Response, PageErr>;
pub(super) type Api = Result<Response, ApiErr>;

/// A browser's request: the event, the session of its cookie, and whether it came from this
/// site (for forms).
pub(super) struct Browser {
    ev: Arc<EventApp>,
    s: Session,
    same_site: bool,
}

impl Browser {
    /// A state-changing form: from this site, with the session's CSRF token.
    fn check(&self, given: Option<&str>) -> Result<(), Deny> {
        use subtle::ConstantTimeEq;
        let ok = given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(self.s.csrf.as_bytes())));
        if ok && self.same_site {
            Ok(())
        } else {
            Err(Deny::Csrf)
        }
    }
}

impl axum::extract::FromRequestParts<App> for Browser {
    type Rejection = PageErr;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &App,
    ) -> Result<Self, PageErr> {
        let ev = the_event(app)?;
        let s = session(&ev, &parts.headers).await?;
        let same_site = api::same_site(app, &parts.headers);
        Ok(Browser { ev, s, same_site })
    }
}

/// An API request: the event and the person of its bearer token.
pub(super) struct Caller {
    pub(super) ev: Arc<EventApp>,
    pub(super) who: Who,
}

impl axum::extract::FromRequestParts<App> for Caller {
    type Rejection = ApiErr;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &App,
    ) -> Result<Self, ApiErr> {
        let ev = the_event(app)?;
        let who = bearer(&ev, &parts.headers).await?;
        Ok(Caller { ev, who })
    }
}

fn see_other(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

pub(super) fn json_ok<T: Serialize>(status: StatusCode, v: &T) -> Response {
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
    const I: &str = "/event/i/{participant}/{scenario}/{role}";
    Router::new()
        .route("/login/{token}", get(login))
        .route("/logout", post(logout))
        .route("/event", get(home))
        .route("/event/p/{participant}", get(participant_page))
        .route(I, get(instance_page))
        .route(&format!("{I}/start"), post(start_form))
        .route(&format!("{I}/upload/{{step}}"), post(upload_form))
        .route(&format!("{I}/live"), get(live))
        .route(&format!("{I}/a/{{n}}/report.json"), get(attempt_report))
        .route(&format!("{I}/a/{{n}}/artifacts/{{k}}"), get(artifact))
        .route(
            &format!("{I}/evidence/{{step}}/{{name}}"),
            get(dropped_file),
        )
        .route(&format!("{I}/claim"), post(claim_form))
        .route(&format!("{I}/decide"), post(decide_form))
        .route("/event/worklist", get(worklist_page))
        .route("/event/audit", get(audit_page))
        .route("/event/publish", post(publish_form))
        .route("/event/override", post(override_form))
        .route("/event/export", get(export))
        .route("/scores", get(public_scores))
        .merge(super::event_api::routes())
}

pub(super) type InstancePath = Path<(String, String, String)>;

pub(super) fn id_of((p, s, r): (String, String, String)) -> String {
    format!("{p}/{s}/{r}")
}

// ---------------------------------------------------------------------------------------------
// Browser: login, pages, forms

/// Exchange a login link for a session: the cookie, then the event's home page.
async fn login(State(app): State<App>, Path(token): Path<String>) -> Page {
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

async fn logout(
    b: Browser,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Page {
    b.check(field(&form, "csrf"))?;
    if let Some(sid) = cookie(&headers) {
        b.ev.db(move |st| access::logout(st, &sid)).await?;
    }
    let mut resp = see_other("/");
    let clear = format!(
        "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{}",
        if b.ev.secure { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&clear) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// Home: a participant's instances, a monitor's worklist, a manager's board.
async fn home(b: Browser) -> Page {
    match b.s.who.role {
        Role::Participant => {
            let me = b.s.who.subject.clone();
            participant_view(&b, me).await
        }
        Role::Monitor => worklist_view(&b).await,
        Role::Manager => manager_view(&b).await,
    }
}

async fn participant_page(b: Browser, Path(participant): Path<String>) -> Page {
    if !b.s.who.sees(&participant) {
        return Err(Deny::NotFound.into());
    }
    participant_view(&b, participant).await
}

async fn participant_view(b: &Browser, participant: String) -> Page {
    let p = participant.clone();
    let (row, instances) =
        b.ev.db(move |st| {
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
        .filter(|i| b.ev.runner.is_running(&i.id))
        .map(|i| i.id.clone())
        .collect();
    Ok(html(
        pages::participant(&b.ev.title, &b.s, &row, &instances, &running),
        false,
    ))
}

async fn instance_page(b: Browser, Path(path): InstancePath) -> Page {
    let ev = &b.ev;
    let inst = visible(ev, &b.s.who, id_of(path)).await?;
    let id = inst.id.clone();
    let scenario = ev.scenarios.get(&inst.scenario).cloned();
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
    let waiting = waiting_files(ev, &inst);
    let running = ev.runner.is_running(&inst.id) || inst.status == event::InstanceStatus::Running;
    Ok(html(
        pages::instance(&pages::InstanceView {
            title: &ev.title,
            session: &b.s,
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

/// The files waiting in each submit or evidence step's folder of an instance, by step.
pub(super) fn waiting_files(ev: &EventApp, inst: &InstanceRow) -> Vec<(String, Vec<String>)> {
    let Some(sc) = ev.scenarios.get(&inst.scenario) else {
        return Vec::new();
    };
    let submissions = ev.runner.submissions();
    sc.steps
        .iter()
        .enumerate()
        .filter(|(_, st)| matches!(st.kind, Kind::Submit | Kind::Evidence))
        .map(|(i, st)| {
            let sid = step_id(st, i);
            let dir = step_dir(&submissions, &inst.participant, &inst.scenario, &sid);
            let files = crate::scenario::steps::complete_files(&dir)
                .iter()
                .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            (sid, files)
        })
        .collect()
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
pub(super) async fn start_attempt(
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
    b: Browser,
    Path(path): InstancePath,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Page {
    let inst = visible(&b.ev, &b.s.who, id_of(path)).await?;
    b.check(field(&form, "csrf"))?;
    start_attempt(&b.ev, &b.s.who, &inst).await?;
    Ok(see_other(&instance_url(&inst.id)))
}

/// The kind of a step a participant may deposit a file for (submit or evidence), checked
/// before anything of the body is read; and the client's upload allowance taken.
pub(super) fn deposit_allowed(
    app: &App,
    ev: &EventApp,
    who: &Who,
    inst: &InstanceRow,
    step: &str,
    peer: Option<super::Peer>,
) -> Result<Kind, Deny> {
    if who.role != Role::Participant {
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
            Deny::Refused(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Trop de dépôts : réessayez dans {} s.", w.as_secs().max(1)),
            )
        })?;
    }
    Ok(kind)
}

/// Keep a participant's file for a submit or evidence step where the runner looks
/// (`submissions/<participant>/<scenario>/<step>/`): complete when it appears (written aside,
/// then renamed). For a submit step it replaces what was waiting there (the runner takes the
/// first file); evidence files add up. The name kept, as cleaned.
pub(super) async fn store_deposit(
    ev: &EventApp,
    inst: &InstanceRow,
    step: &str,
    kind: Kind,
    name: String,
    bytes: axum::body::Bytes,
) -> Result<String, Deny> {
    let dir = step_dir(
        &ev.runner.submissions(),
        &inst.participant,
        &inst.scenario,
        step,
    );
    let replace = kind == Kind::Submit;
    let kept = tokio::task::spawn_blocking(move || deposit(&dir, &name, &bytes, replace))
        .await
        .map_err(|e| Deny::Internal(e.to_string()))?
        .map_err(Deny::Internal)?;
    tracing::info!(instance = %inst.id, step = %step, file = %kept, "banc serve : dépôt");
    Ok(kept)
}

/// The browser's deposit form: its CSRF token first, then the file.
async fn upload_form(
    State(app): State<App>,
    b: Browser,
    Path((p, sc, r, step)): Path<(String, String, String, String)>,
    req: Request,
) -> Page {
    let peer = req.extensions().get::<super::Peer>().copied();
    let inst = visible(&b.ev, &b.s.who, id_of((p, sc, r))).await?;
    let kind = deposit_allowed(&app, &b.ev, &b.s.who, &inst, &step, peer)?;
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
                b.check(csrf.as_deref())?;
                let name = api::clean_name(f.file_name(), 1);
                let bytes = f.bytes().await.map_err(|e| Deny::Bad(e.body_text()))?;
                if !bytes.is_empty() {
                    file = Some((name, bytes));
                }
            }
            _ => {}
        }
    }
    b.check(csrf.as_deref())?;
    let (name, bytes) = file.ok_or_else(|| Deny::Bad("aucun fichier".into()))?;
    store_deposit(&b.ev, &inst, &step, kind, name, bytes).await?;
    Ok(see_other(&instance_url(&inst.id)))
}

/// Write `bytes` as `dir/name`, complete when it appears; `replace`: the complete files
/// already there are set aside first (hidden, kept). The name written.
fn deposit(
    dir: &std::path::Path,
    name: &str,
    bytes: &[u8],
    replace: bool,
) -> Result<String, String> {
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
    std::fs::rename(&tmp, &target).map_err(io)?;
    Ok(name.to_string())
}

/// Follow the instance live (server-sent events): where its attempt is, what it waits for.
/// `state` first; then the runner's events; `finished` when the attempt ended; `idle` when
/// nothing plays (with the recorded status).
async fn live(b: Browser, Path(path): InstancePath) -> Page {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let ev = b.ev;
    {
        let inst = visible(&ev, &b.s.who, id_of(path)).await?;
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

/// The report of attempt `n` (the runner's scenario result, `banc-run/1`, as recorded), as
/// a download.
pub(super) async fn attempt_report_file(
    ev: &Arc<EventApp>,
    who: &Who,
    path: (String, String, String),
    n: &str,
) -> Result<Response, Deny> {
    let (inst, a) = attempt_of(ev, who, path, n).await?;
    let sha = a.report.ok_or(Deny::NotFound)?;
    let bytes = ev.db(move |st| st.read_blob(&sha)).await?;
    let name = format!(
        "{}-{}-{}-tentative-{}.json",
        inst.participant, inst.scenario, inst.role, a.number
    );
    Ok(api::download(bytes, "application/json", &name))
}

/// File `k` of attempt `n` (message, document, acknowledgement, evidence), as kept.
pub(super) async fn artifact_file(
    ev: &Arc<EventApp>,
    who: &Who,
    path: (String, String, String),
    n: &str,
    k: &str,
) -> Result<Response, Deny> {
    let (_, a) = attempt_of(ev, who, path, n).await?;
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

async fn attempt_report(
    b: Browser,
    Path((p, s, r, n)): Path<(String, String, String, String)>,
) -> Page {
    Ok(attempt_report_file(&b.ev, &b.s.who, (p, s, r), &n).await?)
}

async fn artifact(
    b: Browser,
    Path((p, s, r, n, k)): Path<(String, String, String, String, String)>,
) -> Page {
    Ok(artifact_file(&b.ev, &b.s.who, (p, s, r), &n, &k).await?)
}

/// An evidence file dropped for the latest attempt and not yet kept (a monitor looks at it
/// before deciding; deciding keeps it).
async fn dropped_file(
    b: Browser,
    Path((p, s, r, step, name)): Path<(String, String, String, String, String)>,
) -> Page {
    let ev = &b.ev;
    let inst = visible(ev, &b.s.who, id_of((p, s, r))).await?;
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
    let bytes =
        tokio::task::spawn_blocking(move || crate::files::read_bounded(&path, 256 * 1024 * 1024))
            .await
            .map_err(|e| Deny::Internal(e.to_string()))?
            .map_err(|_| Deny::NotFound)?;
    Ok(api::download(bytes, "application/octet-stream", &shown))
}

pub(super) fn monitor_or_manager(who: &Who) -> Result<(), Deny> {
    if who.role == Role::Participant {
        Err(Deny::Forbidden("aux moniteurs et aux gestionnaires"))
    } else {
        Ok(())
    }
}

pub(super) fn manager(who: &Who) -> Result<(), Deny> {
    if who.role == Role::Manager {
        Ok(())
    } else {
        Err(Deny::Forbidden("aux gestionnaires"))
    }
}

async fn claim_form(
    b: Browser,
    Path(path): InstancePath,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Page {
    let inst = visible(&b.ev, &b.s.who, id_of(path)).await?;
    b.check(field(&form, "csrf"))?;
    claim(&b.ev, &b.s.who, &inst.id).await?;
    Ok(see_other(&instance_url(&inst.id)))
}

pub(super) async fn claim(ev: &Arc<EventApp>, who: &Who, id: &str) -> Result<(), Deny> {
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

pub(super) async fn decide(
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
    b: Browser,
    Path(path): InstancePath,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Page {
    let inst = visible(&b.ev, &b.s.who, id_of(path)).await?;
    b.check(field(&form, "csrf"))?;
    let checklist: Vec<usize> = form
        .iter()
        .filter(|(k, _)| k == "checklist")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    decide(
        &b.ev,
        &b.s.who,
        &inst.id,
        field(&form, "verdict").unwrap_or(""),
        field(&form, "comment").unwrap_or(""),
        checklist,
    )
    .await?;
    Ok(see_other(&instance_url(&inst.id)))
}

async fn worklist_page(b: Browser) -> Page {
    monitor_or_manager(&b.s.who)?;
    worklist_view(&b).await
}

async fn worklist_view(b: &Browser) -> Page {
    let mine = (b.s.who.role == Role::Monitor).then(|| b.s.who.subject.clone());
    let items =
        b.ev.db(move |st| event::monitor::worklist(st, mine.as_deref()))
            .await?;
    Ok(html(pages::worklist(&b.ev.title, &b.s, &items), false))
}

async fn manager_view(b: &Browser) -> Page {
    let (participants, scores, published, instances) =
        b.ev.db(|st| {
            Ok((
                event::participants(st.conn())?,
                event::score::scores(st)?,
                access::published(st)?,
                event::instances(st.conn(), None)?,
            ))
        })
        .await?;
    Ok(html(
        pages::manager(
            &b.ev.title,
            &b.s,
            &participants,
            &scores,
            published,
            &instances,
        ),
        false,
    ))
}

/// The audit log and its check.
pub(super) async fn audit_log(
    ev: &Arc<EventApp>,
) -> Result<(Vec<event::store::AuditEntry>, event::AuditCheck), Deny> {
    Ok(ev
        .db(|st| {
            Ok((
                event::store::audit_log(st.conn())?,
                event::verify_audit(st)?,
            ))
        })
        .await?)
}

async fn audit_page(b: Browser) -> Page {
    manager(&b.s.who)?;
    let (log, check) = audit_log(&b.ev).await?;
    Ok(html(pages::audit(&b.ev.title, &b.s, &log, &check), false))
}

async fn publish_form(b: Browser, axum::Form(form): axum::Form<Vec<(String, String)>>) -> Page {
    b.check(field(&form, "csrf"))?;
    manager(&b.s.who)?;
    let publish = field(&form, "publish") == Some("true");
    let by = b.s.who.actor();
    b.ev.db(move |st| access::set_published(st, publish, &by))
        .await?;
    Ok(see_other("/event"))
}

/// A manager's grade for a participant in a role, with a reason (the computed grade stays
/// beside it).
pub(super) async fn override_grade(
    ev: &Arc<EventApp>,
    who: &Who,
    participant: &str,
    role: &str,
    grade: &str,
    reason: &str,
) -> Result<(), Deny> {
    manager(who)?;
    let role = crate::scenario::model::Role::parse(role)
        .ok_or_else(|| Deny::Bad("rôle : producer ou consumer".into()))?;
    let grade = event::score::Grade::parse(grade)
        .ok_or_else(|| Deny::Bad("note : pass, fail ou incomplete".into()))?;
    if reason.trim().is_empty() {
        return Err(Deny::Bad("la raison d'une note imposée est requise".into()));
    }
    let (p, by, reason) = (participant.to_string(), who.actor(), reason.to_string());
    ev.db(move |st| event::monitor::override_grade(st, &p, role, grade, &by, &reason))
        .await?;
    Ok(())
}

async fn override_form(b: Browser, axum::Form(form): axum::Form<Vec<(String, String)>>) -> Page {
    b.check(field(&form, "csrf"))?;
    override_grade(
        &b.ev,
        &b.s.who,
        field(&form, "participant").unwrap_or(""),
        field(&form, "role").unwrap_or(""),
        field(&form, "grade").unwrap_or(""),
        field(&form, "reason").unwrap_or(""),
    )
    .await?;
    Ok(see_other("/event"))
}

#[derive(Deserialize)]
pub(super) struct ExportQuery {
    pub(super) participant: Option<String>,
}

/// A signed evidence bundle (the whole event, or one participant's), as `banc event export`
/// writes it, as a download.
pub(super) async fn export_bundle(
    ev: &Arc<EventApp>,
    who: &Who,
    participant: Option<String>,
) -> Result<Response, Deny> {
    manager(who)?;
    if let Some(p) = &participant {
        let p = p.clone();
        let known = ev
            .db(move |st| Ok(event::participants(st.conn())?.iter().any(|x| x.id == p)))
            .await?;
        if !known {
            return Err(Deny::NotFound);
        }
    }
    let dir = ev.runner.dir().to_path_buf();
    let who = participant.clone();
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
    let name = match &participant {
        Some(p) => format!("preuves-{p}.zip"),
        None => "preuves-evenement.zip".to_string(),
    };
    Ok(api::download(bytes, "application/zip", &name))
}

async fn export(b: Browser, Query(q): Query<ExportQuery>) -> Page {
    Ok(export_bundle(&b.ev, &b.s.who, q.participant).await?)
}

/// The public scoreboard, once published (else 404, as if it did not exist).
async fn public_scores(State(app): State<App>) -> Page {
    let ev = the_event(&app)?;
    let (published, scores) = ev
        .db(|st| Ok((access::published(st)?, event::score::scores(st)?)))
        .await?;
    if !published {
        return Err(Deny::NotFound.into());
    }
    Ok(html(pages::public_scores(&ev.title, &scores), false))
}
