//! `banc serve`: banc's web door, a validation service in the manner of Gazelle EVS but
//! private by default, durable and the same pipeline as `banc validate`.
//!
//! One process: hyper (HTTP/1.1, optionally TLS with rustls) under an axum router. An upload
//! (`POST /api/validations`, or the form of `GET /`) is judged by `input::validate_bytes` as the
//! command line judges a file, its reports are stored durably (`store`) before the answer, and
//! the answer points to a permalink holding a secret (`/v/<id>/<secret>`). Every response carries
//! a strict Content-Security-Policy, `nosniff` and `no-referrer`; uploads are bounded in size
//! and rate (per client address); cross-site form posts are refused. One log line per request
//! (secrets left out).

mod api;
mod event;
mod event_api;
mod event_pages;
mod limit;
mod openapi;
mod pages;
pub mod store;

use crate::pipeline::Validator;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

pub use event::{EventConfig, EventReady};
pub use openapi::document as openapi_document;
pub use pages::duration_text as retention_text;

/// What `banc serve` is given.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (`127.0.0.1:8080`; port 0 picks a free one).
    pub listen: String,
    /// Certificate chain and private key (PEM): HTTPS instead of HTTP.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The address clients use (behind a proxy, or a name): shown in links, and the only origin
    /// accepted for form posts besides the request's own host.
    pub public_url: Option<String>,
    /// Where results are stored.
    pub data: PathBuf,
    /// How long a result is kept.
    pub retention: Duration,
    /// Largest request body (all files of an upload together), in bytes.
    pub max_upload: usize,
    /// Uploads per minute and client address (also the burst); 0: no limit.
    pub uploads_per_minute: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client (rate limits and logs then
    /// count the client, not the proxy). Empty: the header is ignored, as anyone can send it.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Validations run at the same time (the others wait).
    pub jobs: usize,
    /// Uploads waiting for a validation slot, at most (beyond: `503`).
    pub max_queue: usize,
    /// Connections served at once; more are closed at once (a flood cannot exhaust descriptors).
    pub max_connections: usize,
    /// A projectathon event to serve (`--event DIR`): its pages, API, runner and SMTP server.
    pub event: Option<EventConfig>,
}

/// Where the server listens, once bound (what `banc serve` prints).
#[derive(Debug, Clone)]
pub struct Ready {
    /// `http://127.0.0.1:PORT` (or https).
    pub url: String,
    pub addr: SocketAddr,
    pub data: PathBuf,
    /// Results removed at start-up because they had expired.
    pub expired: usize,
    /// The event served, if any.
    pub event: Option<EventReady>,
}

/// Time for a client to send a request's headers (also how long an idle connection is kept).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Time for a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time given to requests in progress at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What every request handler shares.
struct Shared {
    validator: Arc<Validator>,
    store: store::Store,
    limiter: limit::RateLimiter,
    jobs: Arc<Semaphore>,
    /// Uploads received, waiting or being validated: `jobs` + `max_queue` at most, so the
    /// bodies held in memory are bounded whatever the number of clients.
    admitted: Arc<Semaphore>,
    max_upload: usize,
    /// How clients reach the server: `--public-url`, else the listening address.
    base_url: String,
    /// Origins accepted for a form post besides the request's own host.
    public_origin: Option<String>,
    form: String,
    event: Option<Arc<event::EventApp>>,
}

type App = Arc<Shared>;

/// The client's address, set on each request by the connection that carries it.
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);

/// Run the server until Ctrl-C or SIGTERM; `ready` is called once it listens.
pub fn run(config: Config, validator: Validator, ready: impl FnOnce(&Ready)) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime tokio : {e}"))?;
    let result = rt.block_on(async {
        let server = Server::bind(config, validator).await?;
        ready(&server.ready);
        server.serve(stop_signal()).await
    });
    // Validations still running on blocking threads get a moment to store their result.
    rt.shutdown_timeout(DRAIN_TIMEOUT);
    result
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

pub struct Server {
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: App,
    router: Router,
    max_connections: usize,
    trusted: Arc<Vec<std::net::IpAddr>>,
    pub ready: Ready,
}

impl Server {
    /// Open the store (sweeping what expired), compile nothing more (the validator is ready),
    /// bind the address.
    pub async fn bind(config: Config, validator: Validator) -> Result<Server, String> {
        let tls = match &config.tls {
            Some((cert, key)) => {
                let base =
                    crate::transport::tls::server_config(&crate::transport::tls::TlsFiles {
                        cert,
                        key,
                        client_ca: None,
                        require_client_cert: false,
                        crl: None,
                    })?;
                let mut c = (*base).clone();
                c.alpn_protocols = vec![b"http/1.1".to_vec()];
                Some(tokio_rustls::TlsAcceptor::from(Arc::new(c)))
            }
            None => None,
        };
        let store = store::Store::open(&config.data, config.retention)
            .map_err(|e| format!("{} : {e}", config.data.display()))?;
        let expired = store.sweep();
        let listener = crate::transport::server::bind(&config.listen).await?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("adresse d'écoute : {e}"))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{addr}");
        let public = config
            .public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_string());
        let public_origin = public.as_deref().map(origin_of);
        let base_url = public.clone().unwrap_or_else(|| url.clone());
        let kit = validator
            .kit_stamp()
            .map(|k| (k.path.clone(), k.fingerprint.clone()));
        let form = pages::form(&pages::About {
            banc: env!("CARGO_PKG_VERSION"),
            kit,
            retention: config.retention,
            max_upload: config.max_upload,
            uploads_per_minute: config.uploads_per_minute,
            base_url: &base_url,
        });
        let validator = Arc::new(validator);
        let (event, event_ready) = match config.event.clone() {
            Some(c) => {
                let (e, r) = event::EventApp::start(c, validator.clone(), tls.is_some()).await?;
                (Some(e), Some(r))
            }
            None => (None, None),
        };
        let app = Arc::new(Shared {
            validator,
            store,
            limiter: limit::RateLimiter::new(config.uploads_per_minute),
            jobs: Arc::new(Semaphore::new(config.jobs.max(1))),
            admitted: Arc::new(Semaphore::new(config.jobs.max(1) + config.max_queue)),
            max_upload: config.max_upload,
            base_url,
            public_origin,
            form,
            event,
        });
        let router = router(app.clone());
        Ok(Server {
            listener,
            tls,
            app,
            router,
            max_connections: config.max_connections.max(1),
            trusted: Arc::new(config.trusted_proxies.clone()),
            ready: Ready {
                url,
                addr,
                data: config.data.clone(),
                expired,
                event: event_ready,
            },
        })
    }

    /// Serve until `shutdown` completes, then let requests in progress end (at most
    /// [`DRAIN_TIMEOUT`]).
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), String> {
        use hyper_util::rt::{TokioIo, TokioTimer};
        use tower::Service;
        let sweeper = tokio::spawn(sweep_loop(self.app.clone()));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let slots = Arc::new(Semaphore::new(self.max_connections));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .max_buf_size(64 * 1024);
        let http = Arc::new(http);
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors, a connection reset before accept: wait, go on.
                        tracing::warn!("banc serve : accept : {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::warn!(client = %peer.ip(), "banc serve : trop de connexions, connexion fermée");
                drop(tcp);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let router = self.router.clone();
            let trusted = self.trusted.clone();
            let service =
                hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                    let client = client_of(peer, req.headers(), &trusted);
                    req.extensions_mut().insert(Peer(client));
                    let mut router = router.clone();
                    async move { router.call(req).await }
                });
            let watcher = graceful.watcher();
            let tls = self.tls.clone();
            let http = http.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let result = match tls {
                    None => {
                        watcher
                            .watch(http.serve_connection(TokioIo::new(tcp), service))
                            .await
                    }
                    Some(acceptor) => {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(stream)) => {
                                watcher
                                    .watch(http.serve_connection(TokioIo::new(stream), service))
                                    .await
                            }
                            Ok(Err(e)) => {
                                tracing::info!(client = %peer.ip(), "banc serve : poignée de main TLS refusée : {e}");
                                return;
                            }
                            Err(_) => return,
                        }
                    }
                };
                if let Err(e) = result {
                    tracing::debug!("connexion {peer} : {e}");
                }
            });
        }
        drop(self.listener);
        sweeper.abort();
        if let Some(e) = &self.app.event {
            e.stop().await;
        }
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("banc serve : des requêtes n'ont pas fini à temps");
        }
        Ok(())
    }
}

/// `scheme://host[:port]` of a URL (what a browser sends as `Origin`).
fn origin_of(url: &str) -> String {
    let lower = url.to_ascii_lowercase();
    match lower.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            format!("{scheme}://{host}")
        }
        None => lower,
    }
}

/// Delete expired results now and then: a quarter of the retention, between a second and an
/// hour.
async fn sweep_loop(app: App) {
    let every =
        (app.store.retention() / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let a = app.clone();
        let removed = tokio::task::spawn_blocking(move || {
            a.limiter.prune();
            a.store.sweep()
        })
        .await
        .unwrap_or(0);
        if removed > 0 {
            tracing::info!(removed, "banc serve : résultats expirés effacés");
        }
    }
}

fn router(app: App) -> Router {
    let max = app.max_upload;
    Router::new()
        .route("/", get(api::form_page))
        .route("/validations", post(api::form_upload))
        .route("/api/validations", post(api::create_validation))
        .route("/api/openapi.json", get(api::openapi_json))
        .route("/v/{id}/{secret}", get(api::result_page))
        .route("/v/{id}/{secret}/report.json", get(api::report_json))
        .route("/v/{id}/{secret}/report.xml", get(api::report_junit))
        .route("/v/{id}/{secret}/report.html", get(api::report_html))
        .route("/v/{id}/{secret}/svrl/{n}", get(api::svrl))
        .route("/v/{id}/{secret}/files/{n}", get(api::original))
        .merge(event::routes())
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(max))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(log_request))
        .with_state(app)
}

/// The policy of a response that sets none: nothing may load, nothing may frame it.
const CSP_NONE: &str =
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Headers every response carries (a handler's own Content-Security-Policy is kept).
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let fixed: [(HeaderName, &'static str); 6] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in fixed {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP_NONE));
    resp
}

/// The client of a request: the connection's peer, or, when the peer is a trusted proxy, the
/// address its `X-Forwarded-For` names — the last one not itself a trusted proxy (earlier
/// entries may be forged by the client).
fn client_of(
    peer: SocketAddr,
    headers: &axum::http::HeaderMap,
    trusted: &[std::net::IpAddr],
) -> SocketAddr {
    if !trusted.contains(&peer.ip()) {
        return peer;
    }
    let hops: Vec<std::net::IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    match hops.into_iter().rev().find(|ip| !trusted.contains(ip)) {
        Some(ip) => SocketAddr::new(ip, 0),
        None => peer,
    }
}

/// A path as logged: a permalink's secret, a login token left out.
fn logged_path(path: &str) -> String {
    let mut parts: Vec<&str> = path.split('/').collect();
    if parts.len() > 3 && parts[1] == "v" {
        parts[3] = "…";
    }
    if parts.len() > 2 && parts[1] == "login" {
        parts[2] = "…";
    }
    parts.join("/")
}

/// One line per request: method, path (without secret), status, time, client address.
async fn log_request(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = logged_path(req.uri().path());
    let client = req
        .extensions()
        .get::<Peer>()
        .map(|p| p.0.ip().to_string())
        .unwrap_or_default();
    let resp = next.run(req).await;
    tracing::info!(
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        ms = format_args!("{:.1}", start.elapsed().as_secs_f64() * 1000.0),
        client = %client,
        "requête"
    );
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_client_behind_a_trusted_proxy_is_the_last_untrusted_hop() {
        use axum::http::HeaderMap;
        let proxy: std::net::IpAddr = "10.0.0.2".parse().unwrap();
        let peer = std::net::SocketAddr::new(proxy, 4000);
        let mut h = HeaderMap::new();
        // The client forged a first entry; the proxy appended the real address.
        h.insert("x-forwarded-for", "1.2.3.4, 203.0.113.9".parse().unwrap());
        assert_eq!(
            super::client_of(peer, &h, &[proxy]).ip().to_string(),
            "203.0.113.9"
        );
        // Not trusted: the header is anyone's word.
        assert_eq!(super::client_of(peer, &h, &[]), peer);
        let direct = std::net::SocketAddr::new("198.51.100.7".parse().unwrap(), 5000);
        assert_eq!(super::client_of(direct, &h, &[proxy]), direct);
        // Nothing usable: the proxy itself.
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(super::client_of(peer, &h, &[proxy]), peer);
    }

    use super::*;

    #[test]
    fn the_log_never_holds_a_secret() {
        assert_eq!(logged_path("/v/0123/SECRET"), "/v/0123/…");
        assert_eq!(
            logged_path("/v/0123/SECRET/report.json"),
            "/v/0123/…/report.json"
        );
        assert_eq!(logged_path("/api/validations"), "/api/validations");
        assert_eq!(logged_path("/login/TOKEN"), "/login/…");
    }

    #[test]
    fn an_origin_is_scheme_and_host() {
        assert_eq!(
            origin_of("https://Banc.Example.fr:8443/x/"),
            "https://banc.example.fr:8443"
        );
    }
}
