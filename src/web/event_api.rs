//! The event's JSON API (`/api/event/...`), bearer-token authenticated: what the pages do,
//! for scripts and CI jobs. The same checks as the pages ([`super::event`]): a participant's
//! token sees its own instances only (another's answers `404`); monitors claim and decide;
//! managers publish, override grades, read the audit log and export bundles.

use super::event::{
    Api, Caller, Deny, ExportQuery, InstancePath, claim, decide, id_of, json_ok, manager,
    monitor_or_manager, start_attempt, visible,
};
use super::{App, api};
use crate::event::access::{self, Role};
use crate::event::{self};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub(super) fn routes() -> Router<App> {
    const I: &str = "/api/event/instances/{participant}/{scenario}/{role}";
    Router::new()
        .route("/api/event/me", get(api_me))
        .route("/api/event/instances", get(api_instances))
        .route(I, get(api_instance))
        .route(&format!("{I}/attempts"), get(api_attempts).post(api_start))
        .route(
            &format!("{I}/attempts/{{n}}/report"),
            get(api_attempt_report),
        )
        .route(
            &format!("{I}/attempts/{{n}}/artifacts/{{k}}"),
            get(api_artifact),
        )
        .route(&format!("{I}/steps"), get(api_steps))
        .route(&format!("{I}/steps/{{step}}/files"), post(api_deposit))
        .route(
            &format!("{I}/decisions"),
            get(api_decisions).post(api_decide),
        )
        .route(&format!("{I}/claim"), post(api_claim))
        .route("/api/event/worklist", get(api_worklist))
        .route("/api/event/scores", get(api_scores))
        .route("/api/event/scores/published", put(api_publish))
        .route(
            "/api/event/scores/{participant}/{role}/override",
            put(api_override),
        )
        .route("/api/event/audit", get(api_audit))
        .route("/api/event/export", get(api_export))
}

// ---------------------------------------------------------------------------------------------
// API (bearer token, JSON)

/// Who this token is.
#[utoipa::path(get, path = "/api/event/me", tag = "event", security(("bearer" = [])),
    responses((status = 200, description = "The token's role and subject", body = schema::Me),
        (status = 401, description = "No valid token", body = super::openapi::ApiError)))]
pub(super) async fn api_me(Caller { who, .. }: Caller) -> Api {
    Ok(json_ok(StatusCode::OK, &who))
}

/// The instances this token may see: a participant's own; every one for monitors and managers.
#[utoipa::path(get, path = "/api/event/instances", tag = "event", security(("bearer" = [])),
    responses((status = 200, description = "Instances, by participant, role and scenario", body = Vec<schema::Instance>),
        (status = 401, description = "No valid token", body = super::openapi::ApiError)))]
pub(super) async fn api_instances(Caller { ev, who }: Caller) -> Api {
    let only = (who.role == Role::Participant).then(|| who.subject.clone());
    let list = ev
        .db(move |st| event::instances(st.conn(), only.as_deref()))
        .await?;
    Ok(json_ok(StatusCode::OK, &list))
}

/// One instance (`participant/scenario/role`).
#[utoipa::path(get, path = "/api/event/instances/{participant}/{scenario}/{role}", tag = "event",
    security(("bearer" = [])), params(schema::InstanceParams),
    responses((status = 200, description = "The instance and its latest status", body = schema::Instance),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 404, description = "Unknown, or another participant's", body = super::openapi::ApiError)))]
pub(super) async fn api_instance(Caller { ev, who }: Caller, Path(path): InstancePath) -> Api {
    let inst = visible(&ev, &who, id_of(path)).await?;
    Ok(json_ok(StatusCode::OK, &inst))
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
pub(super) async fn api_attempts(Caller { ev, who }: Caller, Path(path): InstancePath) -> Api {
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

/// Start a new attempt (a participant its own instances, a manager any): played in the
/// background; follow it with `GET …/attempts` or the instance's page.
#[utoipa::path(post, path = "/api/event/instances/{participant}/{scenario}/{role}/attempts", tag = "event",
    security(("bearer" = [])), params(schema::InstanceParams),
    responses((status = 202, description = "Started: the run playing it", body = schema::Started),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 403, description = "A monitor's token", body = super::openapi::ApiError),
        (status = 404, description = "Unknown, or another participant's", body = super::openapi::ApiError),
        (status = 409, description = "Already playing, or a prerequisite not met", body = super::openapi::ApiError)))]
pub(super) async fn api_start(Caller { ev, who }: Caller, Path(path): InstancePath) -> Api {
    let inst = visible(&ev, &who, id_of(path)).await?;
    let started = start_attempt(&ev, &who, &inst).await?;
    Ok(json_ok(StatusCode::ACCEPTED, &started))
}

/// The report of attempt `n` (numbered from 1): the runner's result, `banc-run/1`.
#[utoipa::path(get, path = "/api/event/instances/{participant}/{scenario}/{role}/attempts/{n}/report", tag = "event",
    security(("bearer" = [])), params(schema::InstanceParams, ("n" = i64, Path, description = "Attempt number, from 1")),
    responses((status = 200, description = "The attempt's report (`banc-run/1`)", content_type = "application/json", body = serde_json::Value),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 404, description = "Unknown, another participant's, or no report yet", body = super::openapi::ApiError)))]
pub(super) async fn api_attempt_report(
    Caller { ev, who }: Caller,
    Path((p, s, r, n)): Path<(String, String, String, String)>,
) -> Api {
    Ok(super::event::attempt_report_file(&ev, &who, (p, s, r), &n).await?)
}

/// File `k` of attempt `n` (numbered from 0 as `…/attempts` lists `artifacts`): a message,
/// document, acknowledgement or evidence, as kept.
#[utoipa::path(get, path = "/api/event/instances/{participant}/{scenario}/{role}/attempts/{n}/artifacts/{k}", tag = "event",
    security(("bearer" = [])),
    params(schema::InstanceParams, ("n" = i64, Path, description = "Attempt number, from 1"),
        ("k" = usize, Path, description = "The artifact's `index`")),
    responses((status = 200, description = "The file's bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 404, description = "Unknown, or another participant's", body = super::openapi::ApiError)))]
pub(super) async fn api_artifact(
    Caller { ev, who }: Caller,
    Path((p, s, r, n, k)): Path<(String, String, String, String, String)>,
) -> Api {
    Ok(super::event::artifact_file(&ev, &who, (p, s, r), &n, &k).await?)
}

/// The instance's submit and evidence steps and the files waiting in each (deposited, not
/// yet taken by an attempt).
#[utoipa::path(get, path = "/api/event/instances/{participant}/{scenario}/{role}/steps", tag = "event",
    security(("bearer" = [])), params(schema::InstanceParams),
    responses((status = 200, description = "Steps taking a file, with what waits there", body = Vec<schema::StepFiles>),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 404, description = "Unknown, or another participant's", body = super::openapi::ApiError)))]
pub(super) async fn api_steps(Caller { ev, who }: Caller, Path(path): InstancePath) -> Api {
    let inst = visible(&ev, &who, id_of(path)).await?;
    let list: Vec<StepFiles> = super::event::waiting_files(&ev, &inst)
        .into_iter()
        .map(|(step, files)| StepFiles { step, files })
        .collect();
    Ok(json_ok(StatusCode::OK, &list))
}

#[derive(Serialize)]
struct StepFiles {
    step: String,
    files: Vec<String>,
}

#[derive(Deserialize)]
pub(super) struct DepositQuery {
    name: Option<String>,
}

/// A participant deposits a file for a submit or evidence step of its instance: the body
/// itself (`?name=` or `Content-Disposition` names it) or a multipart form's `file` part. For
/// a submit step it replaces what waited; evidence files add up. Uploads count against the
/// client's rate limit, as the validation service's do.
#[utoipa::path(post, path = "/api/event/instances/{participant}/{scenario}/{role}/steps/{step}/files", tag = "event",
    security(("bearer" = [])),
    params(schema::InstanceParams, ("step" = String, Path, description = "The step's id in the suite"),
        ("name" = Option<String>, Query, description = "The file's name (raw body)")),
    request_body(content = Vec<u8>, description = "The file (raw), or multipart/form-data with a `file` part", content_type = "application/octet-stream"),
    responses((status = 201, description = "Kept where the step's attempt takes it", body = schema::Deposited),
        (status = 400, description = "No file", body = super::openapi::ApiError),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 403, description = "Not the participant's token", body = super::openapi::ApiError),
        (status = 404, description = "Unknown instance or step, or another participant's", body = super::openapi::ApiError),
        (status = 413, description = "Over the upload limit", body = super::openapi::ApiError),
        (status = 429, description = "Too many uploads from this client", body = super::openapi::ApiError)))]
pub(super) async fn api_deposit(
    State(app): State<App>,
    Caller { ev, who }: Caller,
    Path((p, s, r, step)): Path<(String, String, String, String)>,
    Query(q): Query<DepositQuery>,
    req: Request,
) -> Api {
    let peer = req.extensions().get::<super::Peer>().copied();
    let inst = visible(&ev, &who, id_of((p, s, r))).await?;
    let kind = super::event::deposit_allowed(&app, &ev, &who, &inst, &step, peer)?;
    let mut files = api::read_files(&app, req, q.name)
        .await
        .map_err(|r| Deny::Refused(r.status(), r.message()))?;
    if files.len() > 1 {
        return Err(Deny::Bad("un fichier par dépôt".into()).into());
    }
    let (name, bytes) = files.remove(0);
    let kept = super::event::store_deposit(
        &ev,
        &inst,
        &step,
        kind,
        name,
        axum::body::Bytes::from(bytes),
    )
    .await?;
    Ok(json_ok(
        StatusCode::CREATED,
        &serde_json::json!({ "instance": inst.id, "step": step, "file": kept }),
    ))
}

/// The monitors' decisions on an instance, oldest first.
#[utoipa::path(get, path = "/api/event/instances/{participant}/{scenario}/{role}/decisions", tag = "event",
    security(("bearer" = [])), params(schema::InstanceParams),
    responses((status = 200, description = "Decisions", body = Vec<schema::Decision>),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 404, description = "Unknown, or another participant's", body = super::openapi::ApiError)))]
pub(super) async fn api_decisions(Caller { ev, who }: Caller, Path(path): InstancePath) -> Api {
    let inst = visible(&ev, &who, id_of(path)).await?;
    let list = ev
        .db(move |st| event::monitor::decisions(st.conn(), Some(&inst.id)))
        .await?;
    Ok(json_ok(StatusCode::OK, &list))
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
    Caller { ev, who }: Caller,
    Path(path): InstancePath,
    body: Result<Json<DecisionRequest>, axum::extract::rejection::JsonRejection>,
) -> Api {
    let inst = visible(&ev, &who, id_of(path)).await?;
    let Json(d) = body.map_err(|e| Deny::Bad(e.body_text()))?;
    let done = decide(&ev, &who, &inst.id, &d.verdict, &d.comment, d.checklist).await?;
    Ok(json_ok(StatusCode::CREATED, &done))
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
pub(super) async fn api_claim(Caller { ev, who }: Caller, Path(path): InstancePath) -> Api {
    let inst = visible(&ev, &who, id_of(path)).await?;
    claim(&ev, &who, &inst.id).await?;
    Ok(json_ok(
        StatusCode::OK,
        &serde_json::json!({ "instance": inst.id, "claimed_by": who.subject }),
    ))
}

/// What waits for a person, oldest first: a monitor sees what is unclaimed or theirs, a
/// manager everything.
#[utoipa::path(get, path = "/api/event/worklist", tag = "event", security(("bearer" = [])),
    responses((status = 200, description = "Work items with the manual steps, instructions, checklists and evidence", body = Vec<schema::WorkItem>),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 403, description = "A participant's token", body = super::openapi::ApiError)))]
pub(super) async fn api_worklist(Caller { ev, who }: Caller) -> Api {
    monitor_or_manager(&who)?;
    let mine = (who.role == Role::Monitor).then(|| who.subject.clone());
    let items = ev
        .db(move |st| event::monitor::worklist(st, mine.as_deref()))
        .await?;
    Ok(json_ok(StatusCode::OK, &items))
}

/// The scores computed now: every participant for monitors and managers, its own rows for a
/// participant; and whether they are published.
#[utoipa::path(get, path = "/api/event/scores", tag = "event", security(("bearer" = [])),
    responses((status = 200, description = "Scores", body = schema::Scores),
        (status = 401, description = "No valid token", body = super::openapi::ApiError)))]
pub(super) async fn api_scores(Caller { ev, who }: Caller) -> Api {
    let (published, mut rows) = ev
        .db(|st| Ok((access::published(st)?, event::score::scores(st)?)))
        .await?;
    rows.retain(|r| who.sees(&r.participant));
    Ok(json_ok(
        StatusCode::OK,
        &serde_json::json!({ "published": published, "scores": rows }),
    ))
}

/// Publish the scores (the public scoreboard `/scores` appears) or withdraw them (a manager).
#[utoipa::path(put, path = "/api/event/scores/published", tag = "event", security(("bearer" = [])),
    request_body(content = schema::Published, content_type = "application/json"),
    responses((status = 200, description = "Done (in the audit log)", body = schema::Published),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 403, description = "Not a manager's token", body = super::openapi::ApiError)))]
pub(super) async fn api_publish(
    Caller { ev, who }: Caller,
    body: Result<Json<PublishRequest>, axum::extract::rejection::JsonRejection>,
) -> Api {
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

#[derive(Deserialize)]
pub(super) struct PublishRequest {
    published: bool,
}

/// What `PUT …/override` takes.
#[derive(Deserialize)]
pub(super) struct OverrideRequest {
    grade: String,
    reason: String,
}

/// A manager imposes a participant's grade in a role, with a reason (recorded in the audit
/// log; the computed grade stays beside it).
#[utoipa::path(put, path = "/api/event/scores/{participant}/{role}/override", tag = "event",
    security(("bearer" = [])),
    params(("participant" = String, Path, description = "Participant id"),
        ("role" = String, Path, description = "`producer` or `consumer`")),
    request_body(content = schema::OverrideRequest, content_type = "application/json"),
    responses((status = 200, description = "Recorded", body = schema::Overridden),
        (status = 400, description = "An unreadable body, grade or role, or no reason", body = super::openapi::ApiError),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 403, description = "Not a manager's token", body = super::openapi::ApiError),
        (status = 409, description = "Unknown participant, or a role it does not play", body = super::openapi::ApiError)))]
pub(super) async fn api_override(
    Caller { ev, who }: Caller,
    Path((participant, role)): Path<(String, String)>,
    body: Result<Json<OverrideRequest>, axum::extract::rejection::JsonRejection>,
) -> Api {
    manager(&who)?;
    let Json(o) = body.map_err(|e| Deny::Bad(e.body_text()))?;
    super::event::override_grade(&ev, &who, &participant, &role, &o.grade, &o.reason).await?;
    Ok(json_ok(
        StatusCode::OK,
        &serde_json::json!({ "participant": participant, "role": role, "grade": o.grade }),
    ))
}

/// The audit log, oldest first, and its check (hash chain, signed head, state).
#[utoipa::path(get, path = "/api/event/audit", tag = "event", security(("bearer" = [])),
    responses((status = 200, description = "Entries and check", body = schema::Audit),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 403, description = "Not a manager's token", body = super::openapi::ApiError)))]
pub(super) async fn api_audit(Caller { ev, who }: Caller) -> Api {
    manager(&who)?;
    let (entries, check) = super::event::audit_log(&ev).await?;
    Ok(json_ok(
        StatusCode::OK,
        &serde_json::json!({ "entries": entries, "check": check }),
    ))
}

/// A signed evidence bundle, the whole event's or one participant's (`?participant=`), as
/// `banc event export` writes it; `banc event verify` checks it.
#[utoipa::path(get, path = "/api/event/export", tag = "event", security(("bearer" = [])),
    params(("participant" = Option<String>, Query, description = "Only this participant")),
    responses((status = 200, description = "The bundle", content_type = "application/zip", body = Vec<u8>),
        (status = 401, description = "No valid token", body = super::openapi::ApiError),
        (status = 403, description = "Not a manager's token", body = super::openapi::ApiError),
        (status = 404, description = "Unknown participant", body = super::openapi::ApiError)))]
pub(super) async fn api_export(Caller { ev, who }: Caller, Query(q): Query<ExportQuery>) -> Api {
    Ok(super::event::export_bundle(&ev, &who, q.participant).await?)
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
        api_attempt_report,
        api_artifact,
        api_steps,
        api_deposit,
        api_decisions,
        api_decide,
        api_claim,
        api_worklist,
        api_scores,
        api_publish,
        api_override,
        api_audit,
        api_export,
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
        schema::StepFiles,
        schema::Deposited,
        schema::OverrideRequest,
        schema::Overridden,
        schema::Audit,
        schema::AuditEntry,
        schema::AuditCheck,
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

    #[derive(ToSchema)]
    pub struct StepFiles {
        /// The step's id in the suite.
        step: String,
        /// Files deposited and waiting for the step's attempt.
        files: Vec<String>,
    }

    #[derive(ToSchema)]
    pub struct Deposited {
        instance: String,
        step: String,
        /// The name the file is kept under.
        file: String,
    }

    #[derive(ToSchema)]
    pub struct OverrideRequest {
        /// `pass`, `fail` or `incomplete`.
        grade: String,
        reason: String,
    }

    #[derive(ToSchema)]
    pub struct Overridden {
        participant: String,
        role: String,
        grade: String,
    }

    #[derive(ToSchema)]
    pub struct AuditEntry {
        seq: i64,
        at: String,
        actor: String,
        subject: String,
        action: String,
        #[schema(required = true)]
        before: Option<String>,
        #[schema(required = true)]
        after: Option<String>,
        #[schema(required = true)]
        reason: Option<String>,
        /// The previous entry's hash.
        prev: String,
        /// sha256 over `prev` and every field.
        hash: String,
    }

    #[derive(ToSchema)]
    pub struct AuditCheck {
        entries: usize,
        /// Each problem, in French; empty when the log holds.
        problems: Vec<String>,
    }

    #[derive(ToSchema)]
    pub struct Audit {
        entries: Vec<AuditEntry>,
        check: AuditCheck,
    }
}
