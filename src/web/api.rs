//! The handlers: uploads (API and form), the result page and its downloads, the OpenAPI
//! document. A result is reached only with its id and its secret; any miss is the same `404`.

use super::store::{BANNER_MARK, Found, NewResult};
use super::{App, Peer, pages};
use crate::finding::Verdict;
use crate::report::{html, json, junit};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::time::Duration;

/// Most files in one upload.
const MAX_FILES: usize = 256;
/// Time for a client to send its upload.
const BODY_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest file name kept (characters).
const MAX_NAME: usize = 200;
/// What a `503` asks the client to wait: a few validations' time.
const BUSY_RETRY: Duration = Duration::from_secs(5);
/// Time given to a refused upload's body to arrive (and be dropped).
const DISCARD_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an upload was not judged.
#[derive(Debug)]
pub(super) enum Refusal {
    CrossSite,
    RateLimited(Duration),
    Busy,
    TooLarge(usize),
    Slow,
    NoFile,
    TooManyFiles,
    Bad(String),
    Internal(String),
}

impl Refusal {
    pub(super) fn status(&self) -> StatusCode {
        match self {
            Refusal::CrossSite => StatusCode::FORBIDDEN,
            Refusal::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Slow => StatusCode::REQUEST_TIMEOUT,
            Refusal::NoFile | Refusal::TooManyFiles | Refusal::Bad(_) => StatusCode::BAD_REQUEST,
            Refusal::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(super) fn message(&self) -> String {
        match self {
            Refusal::CrossSite => {
                "Dépôt refusé : le formulaire vient d'un autre site que ce serveur.".into()
            }
            Refusal::RateLimited(wait) => format!(
                "Trop de dépôts depuis votre adresse : réessayez dans {} s.",
                wait.as_secs().max(1)
            ),
            Refusal::Busy => format!(
                "Serveur occupé : toutes les validations sont en cours et la file d'attente est \
                 pleine ; réessayez dans {} s.",
                BUSY_RETRY.as_secs()
            ),
            Refusal::TooLarge(max) => format!(
                "Dépôt trop volumineux : {} au plus par dépôt.",
                pages::size_text(*max)
            ),
            Refusal::Slow => "Dépôt trop lent : le fichier n'est pas arrivé à temps.".into(),
            Refusal::NoFile => {
                "Aucun fichier reçu (champ « file », ou le fichier en corps de requête).".into()
            }
            Refusal::TooManyFiles => format!("Trop de fichiers : {MAX_FILES} au plus par dépôt."),
            Refusal::Bad(m) => format!("Requête illisible : {m}"),
            Refusal::Internal(m) => format!("Erreur du serveur : {m}"),
        }
    }

    fn with_retry(&self, mut resp: Response) -> Response {
        let wait = match self {
            Refusal::RateLimited(wait) => Some(*wait),
            Refusal::Busy => Some(BUSY_RETRY),
            _ => None,
        };
        if let Some(wait) = wait {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if let Refusal::Internal(m) = self {
            tracing::error!("banc serve : {m}");
        }
        resp
    }

    /// For an API client: `{"error": "..."}`.
    fn json(&self) -> Response {
        let body = serde_json::json!({ "error": self.message() }).to_string();
        self.with_retry((self.status(), json_type(), body).into_response())
    }

    /// For a browser: a page.
    fn page(&self) -> Response {
        let title = match self.status() {
            StatusCode::PAYLOAD_TOO_LARGE => "Dépôt trop volumineux",
            StatusCode::TOO_MANY_REQUESTS => "Trop de dépôts",
            StatusCode::SERVICE_UNAVAILABLE => "Serveur occupé",
            StatusCode::FORBIDDEN => "Dépôt refusé",
            StatusCode::INTERNAL_SERVER_ERROR => "Erreur du serveur",
            _ => "Dépôt impossible",
        };
        self.with_retry(html_page(
            self.status(),
            pages::error(title, &self.message()),
            &pages::csp(),
        ))
    }
}

pub(super) fn json_type() -> [(header::HeaderName, HeaderValue); 1] {
    [(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )]
}

pub(super) fn html_page(status: StatusCode, body: String, csp: &str) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// A cross-site form post is refused: the browser says where the request comes from
/// (`Sec-Fetch-Site`, `Origin`); a script (curl, CI) says nothing and is let through.
pub(super) fn same_site(app: &App, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        // The browser's own word (no script can set it); it also stands when `Origin` is
        // `null`, as a browser sends it for a post from a page under `no-referrer`.
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.to_ascii_lowercase();
    if app.public_origin.as_deref() == Some(origin.as_str()) {
        return true;
    }
    // Else the host the request was sent to, whatever the scheme a proxy ended.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    match (origin.split_once("://"), host) {
        (Some(("http" | "https", o)), Some(h)) => o == h,
        _ => false,
    }
}

/// A file name as shown in the report: the last component of what the client sent, without
/// control characters, at most [`MAX_NAME`] characters; `document-N` when nothing is left.
pub(super) fn clean_name(raw: Option<&str>, n: usize) -> String {
    let base = raw.unwrap_or("").rsplit(['/', '\\']).next().unwrap_or("");
    let name: String = base
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME)
        .collect();
    let name = name.trim();
    if name.is_empty() || name == "." || name == ".." {
        format!("document-{n}")
    } else {
        name.to_string()
    }
}

/// The file name of a `Content-Disposition` header (`filename="x.xml"` or `filename=x.xml`).
fn disposition_name(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_DISPOSITION)?.to_str().ok()?;
    v.split(';').find_map(|part| {
        let (k, val) = part.trim().split_once('=')?;
        (k.trim().eq_ignore_ascii_case("filename"))
            .then(|| val.trim().trim_matches('"').to_string())
    })
}

#[derive(Deserialize, Default)]
pub(super) struct NameQuery {
    name: Option<String>,
}

/// The files of an upload: the parts named `file` of a multipart body, else the body itself.
pub(super) async fn read_files(
    app: &App,
    req: Request,
    name: Option<String>,
) -> Result<Vec<(String, Vec<u8>)>, Refusal> {
    let too_large = Refusal::TooLarge(app.max_upload);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Refused before a byte of the body is read (a client sending `Expect: 100-continue`
    // does not even send it).
    if declared.is_some_and(|n| n > app.max_upload as u64) {
        return Err(too_large);
    }
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let mut files = Vec::new();
    if multipart {
        let mut form = Multipart::from_request(req, &())
            .await
            .map_err(|e| Refusal::Bad(e.body_text()))?;
        let part_error = |e: axum::extract::multipart::MultipartError| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Refusal::TooLarge(app.max_upload)
            } else {
                Refusal::Bad(e.body_text())
            }
        };
        while let Some(field) = form.next_field().await.map_err(part_error)? {
            if field.name() != Some("file") {
                continue;
            }
            let raw = field.file_name().map(str::to_string);
            let bytes = field.bytes().await.map_err(part_error)?;
            // A form sent with no file chosen has an empty part without a name.
            if raw.as_deref().unwrap_or("").is_empty() && bytes.is_empty() {
                continue;
            }
            if files.len() == MAX_FILES {
                return Err(Refusal::TooManyFiles);
            }
            files.push((
                clean_name(raw.as_deref(), files.len() + 1),
                Vec::from(bytes),
            ));
        }
    } else {
        let raw = name.or_else(|| disposition_name(req.headers()));
        let bytes = Bytes::from_request(req, &()).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Refusal::TooLarge(app.max_upload)
            } else {
                Refusal::Bad(e.body_text())
            }
        })?;
        if !bytes.is_empty() {
            files.push((clean_name(raw.as_deref(), 1), Vec::from(bytes)));
        }
    }
    if files.is_empty() {
        return Err(Refusal::NoFile);
    }
    Ok(files)
}

/// Judge the files as `banc validate` would and store the result: (id, secret, JSON).
fn judge_and_store(
    app: &App,
    files: Vec<(String, Vec<u8>)>,
) -> Result<(String, String, String), Refusal> {
    let validator = &app.validator;
    let (docs, svrl) = crate::schematron::engine::collect_svrl(|| {
        files
            .iter()
            .flat_map(|(name, bytes)| crate::input::validate_bytes(validator, name, bytes))
            .collect::<Vec<_>>()
    });
    let mut docs = docs;
    // The findings' fingerprints, as banc validate gives them (a CI job compares both).
    for d in &mut docs {
        crate::gate::fingerprint_document(d, std::path::Path::new(""));
    }
    let run = validator.run_report(docs);
    let json = json::render(&run) + "\n";
    let verdict = match run.verdict() {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Error => "error",
    };
    let documents = run.summary.documents;
    let new = NewResult {
        junit: junit::render(&run).ok(),
        html: html::render_with(&run, maud::PreEscaped(BANNER_MARK.to_string())),
        json,
        svrl,
        verdict: verdict.to_string(),
        files,
    };
    let (id, secret) = app
        .store
        .create(&new)
        .map_err(|e| Refusal::Internal(format!("stockage du résultat : {e}")))?;
    tracing::info!(id = %id, verdict = %verdict, documents, "banc serve : validation enregistrée");
    Ok((id, secret, new.json))
}

/// An upload from its first byte to its stored result.
async fn upload(
    app: App,
    peer: Option<Peer>,
    req: Request,
    name: Option<String>,
) -> Result<(String, String, String), Refusal> {
    if !same_site(&app, req.headers()) {
        return Err(Refusal::CrossSite);
    }
    // Admitted before the rate limit (a refusal costs the client no upload) and before the body
    // is read: the uploads held in memory are bounded, however many clients send at once.
    let Ok(admitted) = app.admitted.clone().try_acquire_owned() else {
        discard(req, app.max_upload).await;
        return Err(Refusal::Busy);
    };
    if let Some(Peer(addr)) = peer {
        app.limiter.take(addr.ip()).map_err(Refusal::RateLimited)?;
    }
    let files = tokio::time::timeout(BODY_TIMEOUT, read_files(&app, req, name))
        .await
        .map_err(|_| Refusal::Slow)??;
    let permit = app
        .jobs
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| Refusal::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let _permits = (permit, admitted);
        judge_and_store(&app, files)
    })
    .await
    .map_err(|e| Refusal::Internal(format!("validation interrompue : {e}")))?
}

/// Read and drop the body of a refused upload (at most `max` bytes, for a few seconds): the
/// client then reads the refusal, where closing with its bytes unread would reset the connection
/// under it. A client waiting for `100 Continue` has sent nothing and is not asked to.
async fn discard(req: Request, max: usize) {
    use hyper::body::Body as _;
    let waits = req
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if waits {
        return;
    }
    let mut body = req.into_body();
    let drain = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
        {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > max {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DISCARD_TIMEOUT, drain).await;
}

/// Validate documents.
///
/// The same checks as `banc validate --format json` on the same files, with the server's
/// options. The result is stored durably before the answer; its permalink is in `Location`
/// (the only way to read it again: keep it).
#[utoipa::path(
    post,
    path = "/api/validations",
    tag = "validations",
    params(("name" = Option<String>, Query, description = "File name of a raw body (its extension tells a CDA `.xml`, an IHE_XDM `.zip`, an e-mail `.eml`); else `Content-Disposition`'s `filename`")),
    request_body(
        description = "Multipart form with one or more `file` parts, or one file as the raw body.",
        content(
            (super::openapi::Upload = "multipart/form-data"),
            (super::openapi::File = "application/octet-stream"),
        ),
    ),
    responses(
        (status = 201, description = "Validated and stored: the `banc.validate/1` report", body = super::openapi::ValidationRun,
            headers(("Location" = String, description = "The result's permalink, `/v/{id}/{secret}`"))),
        (status = 400, description = "No file, too many files (256), or an unreadable multipart body", body = super::openapi::ApiError),
        (status = 403, description = "A cross-site form post (`Origin` or `Sec-Fetch-Site` of another site)", body = super::openapi::ApiError),
        (status = 408, description = "The body did not arrive within 120 s", body = super::openapi::ApiError),
        (status = 413, description = "The body is over `--max-upload`", body = super::openapi::ApiError),
        (status = 429, description = "Over `--uploads-per-minute` for this client address", body = super::openapi::ApiError,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Every validation slot busy and `--max-queue` uploads already waiting", body = super::openapi::ApiError,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub(super) async fn create_validation(
    State(app): State<App>,
    Query(q): Query<NameQuery>,
    req: Request,
) -> Response {
    let peer = req.extensions().get::<Peer>().copied();
    match upload(app, peer, req, q.name).await {
        Ok((id, secret, json)) => {
            let mut resp = (StatusCode::CREATED, json_type(), json).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("/v/{id}/{secret}")) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp
        }
        Err(r) => r.json(),
    }
}

/// Validate documents from the form of `/` (a browser): see the result page.
#[utoipa::path(
    post,
    path = "/validations",
    tag = "pages",
    request_body(content = super::openapi::Upload, content_type = "multipart/form-data"),
    responses(
        (status = 303, description = "Validated and stored: to the result page",
            headers(("Location" = String, description = "`/v/{id}/{secret}`"))),
        (status = 400, description = "No file", content_type = "text/html"),
        (status = 403, description = "A cross-site form post", content_type = "text/html"),
        (status = 413, description = "Over `--max-upload`", content_type = "text/html"),
        (status = 429, description = "Over `--uploads-per-minute`", content_type = "text/html"),
        (status = 503, description = "Every validation slot busy and the queue full", content_type = "text/html"),
    )
)]
pub(super) async fn form_upload(State(app): State<App>, req: Request) -> Response {
    let peer = req.extensions().get::<Peer>().copied();
    match upload(app, peer, req, None).await {
        Ok((id, secret, _)) => {
            let mut resp = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("/v/{id}/{secret}")) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp
        }
        Err(r) => r.page(),
    }
}

/// The upload form.
#[utoipa::path(get, path = "/", tag = "pages",
    responses((status = 200, description = "The upload form", content_type = "text/html")))]
pub(super) async fn form_page(State(app): State<App>) -> Response {
    html_page(StatusCode::OK, app.form.clone(), &pages::csp())
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "validations",
    responses((status = 200, description = "OpenAPI description of the service", content_type = "application/json")))]
pub(super) async fn openapi_json() -> Response {
    (StatusCode::OK, json_type(), super::openapi::document()).into_response()
}

/// Any other path; also every result that is not there for this secret.
pub(super) async fn not_found() -> Response {
    html_page(
        StatusCode::NOT_FOUND,
        pages::error(
            "Introuvable",
            "Cette page n'existe pas, ou ce lien de résultat est incomplet, erroné ou expiré.",
        ),
        &pages::csp(),
    )
}

/// The result `id` for `secret`, looked up off the async threads (it may delete an expired one).
async fn find(app: &App, id: String, secret: &str) -> Option<Found> {
    let app = app.clone();
    let secret = secret.to_string();
    tokio::task::spawn_blocking(move || app.store.find(&id, &secret))
        .await
        .ok()
        .flatten()
}

async fn read(found: &Found, rel: &str) -> Option<Vec<u8>> {
    tokio::fs::read(found.dir.join(rel)).await.ok()
}

/// A result's report, with its links.
#[utoipa::path(get, path = "/v/{id}/{secret}", tag = "results",
    params(("id" = String, Path, description = "Result id"), ("secret" = String, Path, description = "The permalink's secret")),
    responses(
        (status = 200, description = "The HTML report: findings by layer, source excerpts, downloads", content_type = "text/html"),
        (status = 404, description = "No such result for this secret, or expired", content_type = "text/html"),
    ))]
pub(super) async fn result_page(
    State(app): State<App>,
    Path((id, secret)): Path<(String, String)>,
) -> Response {
    let Some(found) = find(&app, id, &secret).await else {
        return not_found().await;
    };
    let Some(page) = read(&found, "report.html").await else {
        return not_found().await;
    };
    let page = String::from_utf8_lossy(&page);
    let banner = pages::banner(&found, &secret, &app.base_url).into_string();
    let page = page.replacen(BANNER_MARK, &banner, 1);
    html_page(StatusCode::OK, page, &pages::report_csp())
}

/// `attachment; filename="…"; filename*=UTF-8''…`: an ASCII name anyone can save, and the
/// real one percent-encoded.
fn attachment(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let ascii = ascii.trim_start_matches('.');
    let ascii = if ascii.is_empty() { "fichier" } else { ascii };
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

pub(super) fn download(bytes: Vec<u8>, content_type: &'static str, name: &str) -> Response {
    let mut resp = (StatusCode::OK, Body::from(bytes)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_DISPOSITION, attachment(name));
    // Opened anyway (a browser ignoring the disposition): no script, no plugin, no origin.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox; frame-ancestors 'none'"),
    );
    resp
}

async fn file_of(
    app: &App,
    id: String,
    secret: &str,
    rel: impl FnOnce(&Found) -> Option<(String, String)>,
    content_type: &'static str,
) -> Response {
    let Some(found) = find(app, id, secret).await else {
        return not_found().await;
    };
    let Some((rel, name)) = rel(&found) else {
        return not_found().await;
    };
    match read(&found, &rel).await {
        Some(bytes) => download(bytes, content_type, &name),
        None => not_found().await,
    }
}

/// The `banc.validate/1` JSON.
#[utoipa::path(get, path = "/v/{id}/{secret}/report.json", tag = "results",
    params(("id" = String, Path, description = "Result id"), ("secret" = String, Path, description = "The permalink's secret")),
    responses((status = 200, description = "The report, as `POST /api/validations` answered it (attachment)", body = super::openapi::ValidationRun),
        (status = 404, description = "No such result for this secret, or expired")))]
pub(super) async fn report_json(
    State(app): State<App>,
    Path((id, secret)): Path<(String, String)>,
) -> Response {
    file_of(
        &app,
        id,
        &secret,
        |f| Some(("report.json".into(), format!("banc-{}.json", f.id))),
        "application/json",
    )
    .await
}

/// JUnit XML: one testsuite per document, one testcase per rule that ran.
#[utoipa::path(get, path = "/v/{id}/{secret}/report.xml", tag = "results",
    params(("id" = String, Path, description = "Result id"), ("secret" = String, Path, description = "The permalink's secret")),
    responses((status = 200, description = "JUnit XML (attachment)", content_type = "application/xml"),
        (status = 404, description = "No such result for this secret, or expired")))]
pub(super) async fn report_junit(
    State(app): State<App>,
    Path((id, secret)): Path<(String, String)>,
) -> Response {
    file_of(
        &app,
        id,
        &secret,
        |f| {
            f.meta
                .junit
                .then(|| ("report.xml".into(), format!("banc-{}-junit.xml", f.id)))
        },
        "application/xml",
    )
    .await
}

/// The HTML report as `banc validate --html` writes it (self-contained).
#[utoipa::path(get, path = "/v/{id}/{secret}/report.html", tag = "results",
    params(("id" = String, Path, description = "Result id"), ("secret" = String, Path, description = "The permalink's secret")),
    responses((status = 200, description = "Self-contained HTML report (attachment)", content_type = "text/html"),
        (status = 404, description = "No such result for this secret, or expired")))]
pub(super) async fn report_html(
    State(app): State<App>,
    Path((id, secret)): Path<(String, String)>,
) -> Response {
    let Some(found) = find(&app, id, &secret).await else {
        return not_found().await;
    };
    match read(&found, "report.html").await {
        Some(bytes) => {
            let page = String::from_utf8_lossy(&bytes).replacen(BANNER_MARK, "", 1);
            download(
                page.into_bytes(),
                "text/html; charset=utf-8",
                &format!("banc-{}.html", found.id),
            )
        }
        None => not_found().await,
    }
}

/// The SVRL of one document and schematron (with a kit).
#[utoipa::path(get, path = "/v/{id}/{secret}/svrl/{n}", tag = "results",
    params(("id" = String, Path, description = "Result id"), ("secret" = String, Path, description = "The permalink's secret"),
        ("n" = usize, Path, description = "Index of the SVRL file, from 0, in the page's order")),
    responses((status = 200, description = "SVRL (ISO/IEC 19757-3 annex D; attachment named as `banc validate --svrl` names it)", content_type = "application/xml"),
        (status = 404, description = "No such result or file for this secret, or expired")))]
pub(super) async fn svrl(
    State(app): State<App>,
    Path((id, secret, n)): Path<(String, String, String)>,
) -> Response {
    file_of(
        &app,
        id,
        &secret,
        |f| {
            let i: usize = n.parse().ok()?;
            let name = f.meta.svrl.get(i)?;
            Some((format!("svrl/{i}"), name.clone()))
        },
        "application/xml",
    )
    .await
}

/// An uploaded file, as received.
#[utoipa::path(get, path = "/v/{id}/{secret}/files/{n}", tag = "results",
    params(("id" = String, Path, description = "Result id"), ("secret" = String, Path, description = "The permalink's secret"),
        ("n" = usize, Path, description = "Index of the file, from 0, in the upload's order")),
    responses((status = 200, description = "The original file (attachment with its name)", content_type = "application/octet-stream"),
        (status = 404, description = "No such result or file for this secret, or expired")))]
pub(super) async fn original(
    State(app): State<App>,
    Path((id, secret, n)): Path<(String, String, String)>,
) -> Response {
    file_of(
        &app,
        id,
        &secret,
        |f| {
            let i: usize = n.parse().ok()?;
            let name = f.meta.files.get(i)?;
            Some((format!("files/{i}"), name.clone()))
        },
        "application/octet-stream",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_keeps_its_last_component_only() {
        assert_eq!(clean_name(Some("../../etc/passwd"), 1), "passwd");
        assert_eq!(clean_name(Some("C:\\docs\\cr.xml"), 1), "cr.xml");
        assert_eq!(clean_name(Some("a\u{1b}[2Jb.xml"), 1), "a[2Jb.xml");
        assert_eq!(clean_name(Some(".."), 3), "document-3");
        assert_eq!(clean_name(None, 2), "document-2");
    }

    #[test]
    fn a_download_name_is_safe_in_the_header() {
        let v = attachment("compte rendu \"é\".xml\r\nX: y");
        let s = v.to_str().unwrap();
        assert!(
            s.starts_with("attachment; filename=\"compte_rendu____.xml__X__y\""),
            "{s}"
        );
        assert!(s.contains("filename*=UTF-8''compte%20rendu%20%22%C3%A9%22.xml%0D%0AX%3A%20y"));
    }
}
