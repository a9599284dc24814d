//! `banc mail serve`: the SMTP mailbox server. Start-up: settings (TOML file, then flags), the
//! validator (once), the spool (locked, recovered), TLS; then one log line,
//! `banc mail serve: écoute sur ADDR:PORT (spool DIR)`, and one line per message once analysed
//! (`tracing` events of target [`session::LOG_TARGET`]; `banc mail serve` prints them on stdout).

use super::analysis;
use super::config::{self, Overrides};
use super::session::{self, Shared, angle_list, log};
use super::spool::Spool;
use crate::mail::Policy;
use crate::pipeline::{CheckOptions, Validator};
use std::path::PathBuf;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Mutex, Notify, Semaphore, mpsc};

#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Address and port to listen on (default 127.0.0.1:2525; port 0 picks a free one).
    pub listen: Option<String>,
    /// Spool folder where messages are stored durably (default reports/spool).
    pub spool: Option<PathBuf>,
    /// TOML configuration (example: fixtures/smtp/serve.toml); flags override it.
    pub config: Option<PathBuf>,
    /// Name given in the greeting and EHLO reply.
    pub hostname: Option<String>,
    /// Largest message in bytes (default 26214400 = 25 MiB, MSSanté usage, UNCONFIRMED).
    pub max_size: Option<u64>,
    /// Server certificate chain (PEM); enables STARTTLS.
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// CA of client certificates (PEM): the server asks for one (mutual TLS).
    pub client_ca: Option<PathBuf>,
    /// Certificate revocation list(s) of the client CA (PEM or DER): a listed client certificate
    /// fails the handshake (`transport.tls.revoked`).
    pub crl: Option<PathBuf>,
    /// Refuse the TLS handshake without a valid client certificate.
    pub require_client_cert: bool,
    /// With a certificate, still accept MAIL FROM without STARTTLS (recorded as transport.tls.none).
    pub starttls_optional: bool,
    /// Accept RCPT TO only for this mailbox (repeatable; none: any address).
    pub mailboxes: Vec<String>,
    /// A mailbox whose recipients need a session with a verified client certificate (repeatable).
    pub mailboxes_with_cert: Vec<String>,
    /// An application mailbox (BAL applicative): MAIL FROM it needs a verified client
    /// certificate that names it, else `550 5.7.1` (repeatable).
    pub application_mailboxes: Vec<String>,
    /// Seconds to wait for a command (default 300).
    pub command_timeout: Option<u64>,
    /// Seconds to wait for each line of DATA (default 180).
    pub data_timeout: Option<u64>,
    /// Simultaneous sessions (default 100).
    pub max_connections: Option<usize>,
    /// Exit (status 0) after N messages stored and analysed (scripts, tests).
    pub max_messages: Option<u64>,
    pub check: CheckOptions,
}

pub fn run(args: ServeOptions) -> Result<(), super::Error> {
    use super::Error;
    let file = match &args.config {
        Some(p) => config::read(p).map_err(Error::Settings)?,
        None => config::File::default(),
    };
    let settings = config::settings(
        file,
        Overrides {
            listen: args.listen.clone(),
            hostname: args.hostname.clone(),
            spool: args.spool.clone(),
            max_size: args.max_size,
            max_connections: args.max_connections,
            command_timeout: args.command_timeout,
            data_timeout: args.data_timeout,
            tls_cert: args.tls_cert.clone(),
            tls_key: args.tls_key.clone(),
            client_ca: args.client_ca.clone(),
            crl: args.crl.clone(),
            require_client_cert: args.require_client_cert,
            starttls_optional: args.starttls_optional,
            mailboxes: args.mailboxes.clone(),
            mailboxes_with_cert: args.mailboxes_with_cert.clone(),
            application_mailboxes: args.application_mailboxes.clone(),
        },
    )
    .map_err(Error::Settings)?;
    let tls = acceptor(&settings).map_err(Error::Tls)?;
    let validator = Arc::new(args.check.validator()?);
    let (spool, recovery) = Spool::open(&settings.spool).map_err(Error::Spool)?;
    if recovery.repaired() {
        tracing::warn!(
            "banc mail serve: reprise du spool : {} fichier(s) temporaire(s) supprimé(s), {} octet(s) de ligne d'index tronquée retirés, {} message(s) complet(s) réindexé(s), {} incomplet(s) supprimé(s), {} ligne(s) d'index illisible(s), {} message(s) indexé(s) introuvable(s)",
            recovery.tmp_removed,
            recovery.torn_index_bytes,
            recovery.reconciled.len(),
            recovery.removed.len(),
            recovery.corrupt_lines,
            recovery.missing.len()
        );
        for id in &recovery.missing {
            tracing::warn!("banc mail serve: message {id} indexé mais absent de msg/");
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("runtime tokio : {e}")))?;
    let code = rt.block_on(async {
        let listener = bind(&settings.listen).await.map_err(Error::Listen)?;
        serve(
            listener,
            settings,
            spool,
            recovery.unanalysed,
            tls,
            validator,
            Hooks {
                max_messages: args.max_messages,
                ..Hooks::default()
            },
        )
        .await
        .map_err(Error::Runtime)
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(10));
    code
}

/// The STARTTLS acceptor of the settings, when they have a certificate.
fn acceptor(settings: &config::Settings) -> Result<Option<tokio_rustls::TlsAcceptor>, String> {
    settings
        .tls
        .as_ref()
        .map(|t| {
            super::tls::server_config(&super::tls::TlsFiles {
                cert: &t.cert,
                key: &t.key,
                client_ca: t.client_ca.as_deref(),
                require_client_cert: t.require_client_cert,
                crl: t.crl.as_deref(),
            })
            .map(tokio_rustls::TlsAcceptor::from)
        })
        .transpose()
}

pub use super::analysis::Analysed;

/// What an embedding caller adds to `banc mail serve`.
#[derive(Default)]
pub struct Hooks {
    /// Stop (status 0) after N messages stored and analysed.
    pub max_messages: Option<u64>,
    /// Each analysed message is sent here.
    pub analysed: Option<mpsc::UnboundedSender<Analysed>>,
    /// Stop when notified (instead of on Ctrl-C / SIGTERM, which the caller handles).
    pub stop: Option<Arc<Notify>>,
}

/// Connections the kernel completes and queues before `accept` takes them (Linux caps it at
/// `net.core.somaxconn`). std and tokio ask for 128: a burst of a few hundred connections while
/// the accept loop waits for a CPU then loses SYNs, and each of those clients waits for a
/// retransmission (1 s, then 3 s…); a flood of idle connections must be refused with 421 instead.
const BACKLOG: u32 = 1024;

pub async fn bind(listen: &str) -> Result<tokio::net::TcpListener, String> {
    let err = |e: std::io::Error| format!("écoute sur {listen} : {e}");
    let mut last = None;
    for addr in tokio::net::lookup_host(listen).await.map_err(err)? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .map_err(err)?;
        // As std and tokio do: a restarted server binds its port again at once.
        #[cfg(unix)]
        socket.set_reuseaddr(true).map_err(err)?;
        match socket.bind(addr) {
            Ok(()) => return socket.listen(BACKLOG).map_err(err),
            Err(e) => last = Some(e),
        }
    }
    Err(err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "aucune adresse")
    })))
}

/// The server on `listener` until stopped: sessions, then analysis of each stored message.
pub async fn serve(
    listener: tokio::net::TcpListener,
    settings: config::Settings,
    spool: Spool,
    unanalysed: Vec<String>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    validator: Arc<Validator>,
    hooks: Hooks,
) -> Result<(), String> {
    let max_messages = hooks.max_messages;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("adresse d'écoute : {e}"))?;
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let policy = Policy {
        max_size: settings.max_size,
        ..Policy::default()
    };
    let asks_cert = settings.asks_client_cert();
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let shared = Arc::new(Shared {
        settings,
        spool,
        tls,
        stored: tx,
    });
    log(&format!(
        "banc mail serve: écoute sur {addr} (spool {})",
        shared.spool.root().display()
    ));
    // Messages stored before a restart and never judged are judged first (not counted).
    let (backlog_tx, backlog_rx) = mpsc::unbounded_channel::<String>();
    for id in unanalysed {
        let _ = backlog_tx.send(id);
    }
    drop(backlog_tx);
    let done = Arc::new(Notify::new());
    let analysed = Arc::new(AtomicU64::new(0));
    let queues = Arc::new(Mutex::new((backlog_rx, rx)));
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    for _ in 0..workers {
        let queues = queues.clone();
        let shared = shared.clone();
        let validator = validator.clone();
        let policy = policy.clone();
        let done = done.clone();
        let analysed = analysed.clone();
        let notify = hooks.analysed.clone();
        tokio::spawn(async move {
            loop {
                let (id, counted) = {
                    let mut q = queues.lock().await;
                    match q.0.try_recv() {
                        Ok(id) => (id, false),
                        Err(_) => match q.1.recv().await {
                            Some(id) => (id, true),
                            None => return,
                        },
                    }
                };
                let (s, v, p, i) = (
                    shared.clone(),
                    validator.clone(),
                    policy.clone(),
                    id.clone(),
                );
                let outcome = tokio::task::spawn_blocking(move || {
                    analysis::analyse(&s.spool, &i, &v, &p, asks_cert)
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
                match outcome {
                    Ok((o, a)) => {
                        let env = &a.envelope;
                        log(&format!(
                            "reçu id={id} de=<{}> pour={} taille={} tls={} cert={} verdict={} erreurs={} avertissements={}",
                            env.mail_from,
                            angle_list(&env.rcpt_to),
                            env.size,
                            env.tls.as_ref().map_or("non".to_string(), |t| format!(
                                "{}/{}",
                                t.version, t.cipher
                            )),
                            env.tls
                                .as_ref()
                                .and_then(|t| t.client_cert.as_ref())
                                .map_or("-".to_string(), |c| format!("\"{}\"", c.subject)),
                            o.verdict,
                            o.errors,
                            o.warnings
                        ));
                        if let Some(n) = &notify {
                            let _ = n.send(a);
                        }
                    }
                    Err(e) => log(&format!("reçu id={id} analyse impossible : {e}")),
                }
                if counted {
                    let n = analysed.fetch_add(1, Ordering::SeqCst) + 1;
                    if max_messages.is_some_and(|m| n >= m) {
                        done.notify_one();
                    }
                }
            }
        });
    }
    if max_messages == Some(0) {
        return Ok(());
    }
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    // Out of descriptors and the like: pause rather than spin.
                    Err(e) => {
                        log(&format!("accept : {e}"));
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let shared = shared.clone();
                        tokio::spawn(async move {
                            session::serve(stream, shared).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        let host = shared.settings.hostname.clone();
                        tokio::spawn(async move { session::refuse_busy(stream, &host).await });
                    }
                }
            }
            () = done.notified() => {
                log(&format!("banc mail serve: {} message(s) reçu(s) et analysé(s), arrêt", analysed.load(Ordering::SeqCst)));
                return Ok(());
            }
            () = stopped(&hooks.stop) => {
                return Ok(());
            }
            () = stop_signal(), if hooks.stop.is_none() => {
                log("banc mail serve: arrêt demandé");
                return Ok(());
            }
        }
    }
}

async fn stopped(stop: &Option<Arc<Notify>>) {
    match stop {
        Some(n) => n.notified().await,
        None => std::future::pending().await,
    }
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A server started inside another command: its address, the analysed messages, and a stop.
pub struct Embedded {
    pub addr: std::net::SocketAddr,
    pub received: mpsc::UnboundedReceiver<Analysed>,
    pub stop: Arc<Notify>,
    pub task: tokio::task::JoinHandle<Result<(), String>>,
}

/// Certificate, key and client CA of an embedded server: STARTTLS offered, not required (a
/// message in clear text is taken and judged `transport.tls.none`), client certificates asked.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
    /// Revocation lists of the client CA.
    pub crl: Option<PathBuf>,
    /// Application mailboxes: MAIL FROM them needs a client certificate that names them
    /// (recipients stay open).
    pub application_mailboxes: Vec<String>,
}

/// Start a server on `listen` with its spool in `spool_dir`, inside the caller's runtime. Its
/// log lines are the same `tracing` events as `banc mail serve`'s ([`session::LOG_TARGET`]); the
/// binary sends them to stderr when stdout carries something else (a scoreboard).
pub async fn embedded(
    listen: &str,
    spool_dir: &std::path::Path,
    hostname: &str,
    validator: Arc<Validator>,
    tls: Option<&EmbeddedTls>,
) -> Result<Embedded, String> {
    let settings = config::settings(
        config::File::default(),
        Overrides {
            listen: Some(listen.to_string()),
            hostname: Some(hostname.to_string()),
            spool: Some(spool_dir.to_path_buf()),
            tls_cert: tls.map(|t| t.cert.clone()),
            tls_key: tls.map(|t| t.key.clone()),
            client_ca: tls.and_then(|t| t.client_ca.clone()),
            crl: tls.and_then(|t| t.crl.clone()),
            application_mailboxes: tls
                .map(|t| t.application_mailboxes.clone())
                .unwrap_or_default(),
            starttls_optional: true,
            ..Overrides::default()
        },
    )?;
    let acceptor = acceptor(&settings)?;
    let (spool, recovery) = Spool::open(&settings.spool)?;
    let listener = bind(&settings.listen).await?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("adresse d'écoute : {e}"))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let stop = Arc::new(Notify::new());
    let hooks = Hooks {
        max_messages: None,
        analysed: Some(tx),
        stop: Some(stop.clone()),
    };
    let task = tokio::spawn(serve(
        listener,
        settings,
        spool,
        recovery.unanalysed,
        acceptor,
        validator,
        hooks,
    ));
    Ok(Embedded {
        addr,
        received: rx,
        stop,
        task,
    })
}
