//! banc's HTTP listener for `http` steps with `wait = true`: every call to
//! `http://ADDR/<participant>/<path>` is recorded (method, path, body up to 1 MiB) and answered
//! `200` with a short JSON; the step that waits for that path claims it.

use super::inbox::Hit;
use axum::extract::{ConnectInfo, Request};
use std::net::SocketAddr;
use tokio::sync::mpsc;

/// Largest request body kept.
const MAX_BODY: usize = 1024 * 1024;

/// Listen on `addr`; gives `http://ADDR:PORT` and the calls received.
pub async fn start(addr: &str) -> Result<(String, mpsc::UnboundedReceiver<Hit>), String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("écoute HTTP sur {addr} : {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("adresse d'écoute HTTP : {e}"))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(
        move |ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request| {
            let tx = tx.clone();
            async move {
                let method = req.method().as_str().to_string();
                let path = req.uri().path().to_string();
                let (status, text) = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
                    Ok(b) => {
                        let _ = tx.send(Hit {
                            method,
                            path,
                            body: String::from_utf8_lossy(&b).into_owned(),
                            peer: peer.to_string(),
                        });
                        (axum::http::StatusCode::OK, r#"{"banc":"appel enregistré"}"#)
                    }
                    Err(_) => (
                        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                        r#"{"banc":"corps de plus de 1 Mio refusé"}"#,
                    ),
                };
                (status, [("content-type", "application/json")], text)
            }
        },
    );
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    Ok((format!("http://{local}"), rx))
}
