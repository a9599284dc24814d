//! `banc mail fetch`: pull messages from an IMAP mailbox over TLS and judge them.
//!
//! The MSSanté client reads its mailbox over IMAP with TLS (CONF.06, 2nd-hand: STARTTLS on 143;
//! implicit TLS on 993 also exists). banc never sends a password in clear text: a server that
//! offers no STARTTLS is refused before LOGIN. Messages are read with `BODY.PEEK[]` (no implicit
//! `\Seen`), one at a time, each bounded to `--max-size` bytes (M16), and judged by
//! [`crate::mail::analyse`] exactly as `banc validate` judges files (same report, same exit codes).
//! What the server sends is bounded too ([`bounded`]): no literal longer than asked for, no answer
//! longer than `--max-size` plus [`ANSWER_SLACK`].

mod bounded;

use crate::finding::report::{DocumentReport, RunReport};
use crate::finding::{Finding, Rule, Verdict};
use crate::mail::Policy;
use crate::pipeline::{CheckOptions, Validator};
use async_imap::imap_proto::{AttributeValue, Capability, RequestId, Response, Status};
use rustls::pki_types::ServerName;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

type Tls = bounded::Bounded<tokio_rustls::client::TlsStream<TcpStream>>;
type Session = async_imap::Session<Tls>;

/// What an answer may hold beside the one message asked for (its FETCH framing, a SEARCH of
/// a large mailbox, unsolicited updates).
pub const ANSWER_SLACK: u64 = 1024 * 1024;

crate::choice_enum! {
    pub enum TlsMode {
        /// TLS from the first byte (imaps, port 993 usually).
        Implicit = "implicit",
        /// Plain-text greeting, then STARTTLS before anything else (port 143; MSSanté CONF.06).
        Starttls = "starttls",
    }
}

/// What `banc mail fetch` reads, and how.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// IMAP server, HOST:PORT (e.g. 127.0.0.1:10143, imap.example.fr:143).
    pub imap: String,
    /// Login name of the mailbox.
    pub user: String,
    /// The mailbox password (read by the caller from a variable or a file, never argv).
    pub password: String,
    /// How TLS starts: STARTTLS after the greeting (default) or TLS from the first byte.
    pub tls: TlsMode,
    pub tls_files: crate::mail::tls::ClientTlsOptions,
    /// Mailbox to read.
    pub mailbox: String,
    /// Only the messages not yet seen (\Seen unset).
    pub unseen: bool,
    /// At most N messages: the N most recent (highest UIDs).
    pub limit: Option<usize>,
    /// Set \Seen on every message downloaded (otherwise the mailbox is opened read-only).
    pub mark_seen: bool,
    /// Save every message downloaded as DIR/<uid>.eml.
    pub out: Option<PathBuf>,
    /// Largest message downloaded, in bytes (M16; 25 MB, Mon espace santé's cap, UNCONFIRMED).
    /// A larger one is not downloaded and fails with `transport.imap.too-large`.
    pub max_size: u64,
    /// Seconds allowed for each step (connection, TLS, greeting, login, each command).
    pub timeout: u64,
    pub check: CheckOptions,
}

/// A finding of `rule` at `location` (a UID, a fetch item): the IMAP rules point into the mailbox.
fn finding(rule: &Rule, detail: &str, location: &str) -> Finding {
    let mut f = Finding::new(
        rule.id,
        rule.severity,
        rule.layer,
        format!("{} {detail}", rule.message),
    )
    .hint(rule.hint)
    .spec(rule.spec);
    f.location.xpath = Some(location.to_string());
    f
}

use super::rules::{NO_BODY, TOO_LARGE, VANISHED};

/// Why reading a mailbox (`banc mail fetch`) failed before every message was judged.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CA or the client certificate cannot be used.
    #[error("{0}")]
    Tls(String),
    /// The kit cannot be opened or compiled.
    #[error(transparent)]
    Kit(#[from] crate::kit::KitError),
    /// The folder for downloaded messages cannot be made.
    #[error("{0}")]
    Output(String),
    /// The asynchronous runtime failed.
    #[error("{0}")]
    Runtime(String),
    /// The server, the TLS handshake, the login or a command failed (said in words an
    /// integrator acts on).
    #[error("{0}")]
    Mailbox(String),
}

/// Read the mailbox and judge every message: the run, as `banc validate` reports it.
pub fn run(args: &FetchOptions) -> Result<RunReport, Error> {
    let tls = tls_config(args).map_err(Error::Tls)?;
    // The kit is compiled before connecting: a kit error must not cost a mailbox session.
    let validator = args.check.validator()?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Output(format!("{} : {e}", dir.display())))?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("démarrage du moteur asynchrone impossible : {e}")))?;
    let docs = rt
        .block_on(fetch_all(args, &args.password, tls, &validator))
        .map_err(Error::Mailbox)?;
    Ok(validator.run_report(docs))
}

/// `HOST:PORT` or `[v6]:PORT` → (host for the socket, host for TLS, port).
fn split_addr(s: &str) -> Result<(String, u16), String> {
    let bad = || format!("--imap « {s} » : attendu HOTE:PORT (par ex. 127.0.0.1:143)");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

fn tls_config(args: &FetchOptions) -> Result<Arc<rustls::ClientConfig>, String> {
    let pem = args.tls_files.read()?;
    crate::mail::tls::client_config(
        pem.ca.as_deref(),
        pem.identity
            .as_ref()
            .map(|(c, k)| (c.as_slice(), k.as_slice())),
    )
}

/// One step of the session, bounded in time: a silent server must not hang the run.
async fn step<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> Result<T, String> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| format!("délai dépassé ({} s) {what}", limit.as_secs()))
}

struct Target {
    host: String,
    port: u16,
    limit: Duration,
    /// `--max-size`: the largest message, so the largest literal is one more (`<0.max+1>`).
    max_size: u64,
}

impl Target {
    /// `stream` with reads bounded to what banc asks for.
    fn bounded<S>(&self, stream: S) -> bounded::Bounded<S> {
        let literal = self.max_size.saturating_add(1);
        bounded::Bounded::new(stream, literal, literal.saturating_add(ANSWER_SLACK))
    }

    fn label(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

async fn fetch_all(
    args: &FetchOptions,
    password: &str,
    tls: Arc<rustls::ClientConfig>,
    v: &Validator,
) -> Result<Vec<DocumentReport>, String> {
    let (host, port) = split_addr(&args.imap)?;
    let t = Target {
        host,
        port,
        limit: Duration::from_secs(args.timeout.max(1)),
        max_size: args.max_size,
    };
    let client = connect(args.tls, &t, tls).await?;
    let mut session = login(client, &t, &args.user, password).await?;
    let result = read_mailbox(&mut session, args, &t, v).await;
    // Courtesy only: the reports are made, a server that ignores LOGOUT changes nothing.
    let _ = tokio::time::timeout(Duration::from_secs(2), session.logout()).await;
    result
}

async fn connect(
    mode: TlsMode,
    t: &Target,
    tls: Arc<rustls::ClientConfig>,
) -> Result<async_imap::Client<Tls>, String> {
    let label = t.label();
    let tcp = step(
        t.limit,
        &format!("à la connexion à {label}"),
        TcpStream::connect((t.host.as_str(), t.port)),
    )
    .await?
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            format!("connexion à {label} refusée : aucun serveur IMAP n'écoute sur ce port")
        }
        _ => format!("connexion à {label} impossible : {e}"),
    })?;
    let name = ServerName::try_from(t.host.clone())
        .map_err(|_| format!("« {} » n'est pas un nom d'hôte valide pour TLS", t.host))?;
    let connector = tokio_rustls::TlsConnector::from(tls);
    match mode {
        TlsMode::Implicit => {
            let stream = step(
                t.limit,
                &format!("pendant la négociation TLS avec {label} (le port attend-il STARTTLS ? essayez --tls starttls)"),
                connector.connect(name, tcp),
            )
            .await?
            .map_err(|e| crate::mail::tls::explain(&e, &label, &t.host))?;
            let mut client = async_imap::Client::new(t.bounded(stream));
            let greeting = read_greeting(&mut client, t).await?;
            if let Some((Status::PreAuth, _)) = greeting {
                return Err(format!(
                    "{label} a ouvert une session déjà authentifiée (PREAUTH) : banc ne relève que par LOGIN"
                ));
            }
            Ok(client)
        }
        TlsMode::Starttls => {
            let mut plain = async_imap::Client::new(t.bounded(tcp));
            let greeting = read_greeting(&mut plain, t).await?;
            if let Some((Status::PreAuth, _)) = greeting {
                return Err(format!(
                    "{label} a ouvert une session pré-authentifiée en clair (PREAUTH) : STARTTLS n'est plus possible, banc refuse de lire une boîte sans TLS"
                ));
            }
            let caps = match greeting.and_then(|(_, caps)| caps) {
                Some(c) => c,
                None => capabilities(&mut plain, t).await?,
            };
            if !caps.iter().any(|c| c.eq_ignore_ascii_case("STARTTLS")) {
                return Err(format!(
                    "{label} n'offre pas STARTTLS (capacités : {}) : banc refuse de s'authentifier en clair. Si le serveur parle TLS dès la connexion, utilisez --tls implicit",
                    caps.join(" ")
                ));
            }
            step(
                t.limit,
                "en attendant la réponse à STARTTLS",
                plain.run_command_and_check_ok("STARTTLS", None),
            )
            .await?
            .map_err(|e| format!("{label} a refusé STARTTLS : {}", imap_error(&e)))?;
            // Bytes the server sent after its STARTTLS answer stay in the dropped buffer: nothing
            // read in clear text is trusted after the handshake (STARTTLS injection).
            let tcp = plain.into_inner().into_inner();
            let stream = step(
                t.limit,
                &format!("pendant la négociation TLS avec {label} après STARTTLS"),
                connector.connect(name, tcp),
            )
            .await?
            .map_err(|e| crate::mail::tls::explain(&e, &label, &t.host))?;
            // No greeting after STARTTLS (RFC 3501 §6.2.1).
            Ok(async_imap::Client::new(t.bounded(stream)))
        }
    }
}

/// The greeting's status and the capabilities it announces (`[CAPABILITY ...]`), if any.
async fn read_greeting<T>(
    client: &mut async_imap::Client<T>,
    t: &Target,
) -> Result<Option<(Status, Option<Vec<String>>)>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let label = t.label();
    let first = step(
        t.limit,
        &format!("en attendant l'accueil IMAP de {label} (le port attend-il TLS d'emblée ? essayez --tls implicit)"),
        client.read_response(),
    )
    .await?
    .map_err(|e| io_error(&e, &label, &t.host, "à la lecture de l'accueil"))?;
    let Some(first) = first else {
        return Err(format!("{label} a fermé la connexion sans accueil IMAP"));
    };
    match first.parsed() {
        Response::Data { status, outcome } => {
            let caps = match &outcome.code {
                Some(async_imap::imap_proto::ResponseCode::Capabilities(c)) => {
                    Some(c.iter().map(cap_name).collect())
                }
                _ => None,
            };
            let info = outcome.information.as_deref().unwrap_or("").to_string();
            match status {
                Status::Ok => Ok(Some((Status::Ok, caps))),
                Status::PreAuth => Ok(Some((Status::PreAuth, caps))),
                Status::Bye => Err(format!("{label} refuse la connexion : « {info} »")),
                _ => Err(format!("accueil IMAP inattendu de {label} : « {info} »")),
            }
        }
        _ => Err(format!(
            "{label} n'a pas envoyé un accueil IMAP (« * OK ... ») : est-ce bien un serveur IMAP ?"
        )),
    }
}

fn cap_name(c: &Capability<'_>) -> String {
    match c {
        Capability::Imap4rev1 => "IMAP4rev1".to_string(),
        Capability::Auth(a) => format!("AUTH={a}"),
        Capability::Atom(a) => a.to_string(),
    }
}

/// `CAPABILITY` before login. async-imap keeps `run_command` private on an unauthenticated
/// client, so the command is written on the raw stream with a tag of banc's own.
async fn capabilities<T>(
    client: &mut async_imap::Client<T>,
    t: &Target,
) -> Result<Vec<String>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let label = t.label();
    let tag = RequestId("banc0".to_string());
    step(t.limit, "en envoyant CAPABILITY", async {
        let s = client.get_mut();
        s.write_all(b"banc0 CAPABILITY\r\n").await?;
        s.flush().await
    })
    .await?
    .map_err(|e| format!("{label} : envoi de CAPABILITY impossible : {e}"))?;
    let mut caps = Vec::new();
    loop {
        let r = next(
            client.read_response(),
            t,
            "en attendant la réponse à CAPABILITY",
        )
        .await?;
        match r.parsed() {
            Response::Capabilities(c) => caps.extend(c.iter().map(cap_name)),
            Response::Done {
                tag: got,
                status,
                outcome,
            } if *got == tag => {
                if *status != Status::Ok {
                    return Err(format!(
                        "{label} a refusé CAPABILITY : « {} »",
                        outcome.information.as_deref().unwrap_or("")
                    ));
                }
                return Ok(caps);
            }
            Response::Data {
                status: Status::Bye,
                outcome,
            } => {
                return Err(format!(
                    "{label} a fermé la session : « {} »",
                    outcome.information.as_deref().unwrap_or("")
                ));
            }
            _ => {}
        }
    }
}

/// The next response, bounded in time; the end of the stream is an error.
async fn next<R>(
    fut: impl Future<Output = std::io::Result<Option<R>>>,
    t: &Target,
    what: &str,
) -> Result<R, String> {
    let label = t.label();
    step(t.limit, what, fut)
        .await?
        .map_err(|e| io_error(&e, &label, &t.host, what))?
        .ok_or_else(|| format!("{label} a fermé la connexion ({what})"))
}

async fn login(
    client: async_imap::Client<Tls>,
    t: &Target,
    user: &str,
    password: &str,
) -> Result<Session, String> {
    let label = t.label();
    match step(
        t.limit,
        "en attendant la réponse à LOGIN",
        client.login(user, password),
    )
    .await?
    {
        Ok(s) => Ok(s),
        Err((e, _)) => Err(match e {
            async_imap::error::Error::No(msg) => format!(
                "authentification refusée par {label} pour « {user} » : identifiant ou mot de passe incorrect (réponse du serveur : « {} »)",
                server_text(&msg)
            ),
            async_imap::error::Error::Bad(msg) => format!(
                "{label} a rejeté la commande LOGIN (« {} ») : le serveur l'interdit peut-être (LOGINDISABLED)",
                server_text(&msg)
            ),
            async_imap::error::Error::Validate(_) => {
                "l'identifiant ou le mot de passe contient un caractère interdit en IMAP (retour à la ligne)".to_string()
            }
            async_imap::error::Error::Io(io) => io_error(&io, &label, &t.host, "pendant LOGIN"),
            other => format!("échec de LOGIN sur {label} : {}", imap_error(&other)),
        }),
    }
}

async fn read_mailbox(
    session: &mut Session,
    args: &FetchOptions,
    t: &Target,
    v: &Validator,
) -> Result<Vec<DocumentReport>, String> {
    let label = t.label();
    let mbox = &args.mailbox;
    // EXAMINE opens read-only: without --mark-seen banc cannot change the mailbox at all.
    let opened = if args.mark_seen {
        step(
            t.limit,
            "en attendant la réponse à SELECT",
            session.select(mbox),
        )
        .await?
    } else {
        step(
            t.limit,
            "en attendant la réponse à EXAMINE",
            session.examine(mbox),
        )
        .await?
    };
    opened.map_err(|e| match e {
        async_imap::error::Error::No(msg) => format!(
            "boîte « {mbox} » introuvable ou inaccessible sur {label} (réponse du serveur : « {} »)",
            server_text(&msg)
        ),
        other => format!("ouverture de la boîte « {mbox} » impossible : {}", imap_error(&other)),
    })?;
    let query = if args.unseen { "UNSEEN" } else { "ALL" };
    let uids = step(
        t.limit,
        "en attendant la réponse à UID SEARCH",
        session.uid_search(query),
    )
    .await?
    .map_err(|e| format!("recherche des messages impossible : {}", imap_error(&e)))?;
    let mut uids: Vec<u32> = uids.into_iter().collect();
    uids.sort_unstable();
    if let Some(n) = args.limit {
        uids = uids.split_off(uids.len().saturating_sub(n));
    }
    tracing::info!(
        "banc mail fetch : {} message(s) à relever dans « {mbox} » sur {label}",
        uids.len()
    );
    let policy = Policy {
        max_size: args.max_size,
        ..Policy::default()
    };
    let mut docs = Vec::new();
    let mut seen = Vec::new();
    for uid in uids {
        let name = message_url(&args.user, &label, mbox, uid);
        match fetch_one(session, t, uid, args.max_size).await? {
            Fetched::Body(raw) => {
                if let Some(dir) = &args.out {
                    let path = dir.join(format!("{uid}.eml"));
                    std::fs::write(&path, &raw).map_err(|e| format!("{} : {e}", path.display()))?;
                }
                docs.extend(crate::mail::analyse(&name, &raw, v, &policy));
                seen.push(uid);
            }
            Fetched::TooLarge(size) => {
                let f = finding(
                    TOO_LARGE,
                    &format!(
                        "Taille : {size} octets, maximum : {} octets.",
                        args.max_size
                    ),
                    "RFC822.SIZE",
                );
                docs.push(v.container_report(&name, "mssante-message", vec![f], Vec::new()));
            }
            Fetched::Vanished => {
                let f = finding(VANISHED, &format!("UID {uid}."), &format!("UID {uid}"));
                let mut r = v.container_report(&name, "mssante-message", vec![f], Vec::new());
                r.verdict = Verdict::Error;
                docs.push(r);
            }
            Fetched::NoBody => {
                let f = finding(NO_BODY, &format!("UID {uid}."), "BODY[]");
                let mut r = v.container_report(&name, "mssante-message", vec![f], Vec::new());
                r.verdict = Verdict::Error;
                docs.push(r);
            }
        }
    }
    if args.mark_seen && !seen.is_empty() {
        let set: Vec<String> = seen.iter().map(u32::to_string).collect();
        step(
            t.limit,
            "en attendant la réponse à UID STORE",
            session.run_command_and_check_ok(format!(
                "UID STORE {} +FLAGS.SILENT (\\Seen)",
                set.join(",")
            )),
        )
        .await?
        .map_err(|e| format!("marquage \\Seen impossible : {}", imap_error(&e)))?;
    }
    Ok(docs)
}

enum Fetched {
    Body(Vec<u8>),
    TooLarge(u64),
    Vanished,
    NoBody,
}

/// One message: its size first (a message over the limit is not transferred), then its bytes
/// with `BODY.PEEK[]<0.max+1>`, so that even a server that lied about the size cannot make banc
/// read more than the limit.
async fn fetch_one(
    session: &mut Session,
    t: &Target,
    uid: u32,
    max: u64,
) -> Result<Fetched, String> {
    let attrs = uid_fetch(session, t, uid, "(UID RFC822.SIZE)").await?;
    let Some(attrs) = attrs else {
        return Ok(Fetched::Vanished);
    };
    let size = attrs.size;
    if let Some(size) = size
        && size > max
    {
        return Ok(Fetched::TooLarge(size));
    }
    let cap = max.saturating_add(1);
    let Some(attrs) = uid_fetch(session, t, uid, &format!("(UID BODY.PEEK[]<0.{cap}>)")).await?
    else {
        return Ok(Fetched::Vanished);
    };
    match attrs.body {
        Some(b) if b.len() as u64 > max => Ok(Fetched::TooLarge(size.unwrap_or(b.len() as u64))),
        Some(b) => Ok(Fetched::Body(b)),
        None => Ok(Fetched::NoBody),
    }
}

#[derive(Default)]
struct Attrs {
    size: Option<u64>,
    body: Option<Vec<u8>>,
}

/// `UID FETCH uid items`: the attributes returned for that UID, `None` when the server returned
/// nothing for it (expunged). Unsolicited responses about other messages are skipped.
async fn uid_fetch(
    session: &mut Session,
    t: &Target,
    uid: u32,
    items: &str,
) -> Result<Option<Attrs>, String> {
    let label = t.label();
    let what = format!("en attendant la réponse à UID FETCH {uid}");
    let tag = step(
        t.limit,
        &what,
        session.run_command(format!("UID FETCH {uid} {items}")),
    )
    .await?
    .map_err(|e| {
        format!(
            "{label} : envoi de UID FETCH impossible : {}",
            imap_error(&e)
        )
    })?;
    let mut found: Option<Attrs> = None;
    loop {
        let r = next(session.read_response(), t, &what).await?;
        match r.parsed() {
            Response::Fetch(_, values) => {
                // A FETCH answer names its UID (RFC 3501 §6.4.8); one without ours is unsolicited.
                if !values
                    .iter()
                    .any(|a| matches!(a, AttributeValue::Uid(u) if *u == uid))
                {
                    continue;
                }
                let a = found.get_or_insert_with(Attrs::default);
                for value in values {
                    match value {
                        AttributeValue::Rfc822Size(s) => a.size = Some(u64::from(*s)),
                        AttributeValue::BodySection { data: Some(d), .. }
                        | AttributeValue::Rfc822(Some(d)) => a.body = Some(d.to_vec()),
                        _ => {}
                    }
                }
            }
            Response::Done {
                tag: got,
                status,
                outcome,
            } if *got == tag => {
                return match status {
                    Status::Ok => Ok(found),
                    _ => Err(format!(
                        "{label} a refusé UID FETCH {uid} : « {} »",
                        outcome.information.as_deref().unwrap_or("")
                    )),
                };
            }
            Response::Data {
                status: Status::Bye,
                outcome,
            } => {
                return Err(format!(
                    "{label} a fermé la session pendant la relève : « {} »",
                    outcome.information.as_deref().unwrap_or("")
                ));
            }
            _ => {}
        }
    }
}

/// RFC 5092 IMAP URL of a message: where the report's reader finds it again.
fn message_url(user: &str, label: &str, mailbox: &str, uid: u32) -> String {
    format!(
        "imap://{}@{label}/{}/;UID={uid}",
        url_escape(user),
        url_escape(mailbox)
    )
}

fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The text of a server's NO/BAD answer: async-imap wraps it as `code: .., info: Some("...")`.
fn server_text(s: &str) -> String {
    if let Some((_, rest)) = s.rsplit_once("Some(\"")
        && let Some((text, _)) = rest.rsplit_once("\")")
    {
        return text.replace("\\\"", "\"");
    }
    s.trim().to_string()
}

fn imap_error(e: &async_imap::error::Error) -> String {
    use async_imap::error::Error;
    match e {
        Error::No(m) => format!("réponse NO « {} »", server_text(m)),
        Error::Bad(m) => format!("réponse BAD « {} »", server_text(m)),
        Error::ConnectionLost => "connexion perdue".to_string(),
        Error::Io(io) => match bounded::overflow(io) {
            Some(o) => format!("{o} (serveur défaillant ou hostile)"),
            None => format!("erreur réseau : {io}"),
        },
        other => other.to_string(),
    }
}

/// A read or write error; a TLS failure is named by its cause.
fn io_error(e: &std::io::Error, label: &str, host: &str, what: &str) -> String {
    if let Some(o) = bounded::overflow(e) {
        return format!(
            "{label} : {o} {what} : relève interrompue (serveur défaillant ou hostile)"
        );
    }
    if crate::mail::tls::tls_cause(e).is_some() {
        return crate::mail::tls::explain(e, label, host);
    }
    // async-imap reports a line it cannot parse as `<nom error> during parsing of "<line>"`.
    let text = e.to_string();
    if let Some((_, line)) = text.split_once(" during parsing of ") {
        let line: String = line.trim_matches('"').chars().take(120).collect();
        return format!(
            "{label} ne parle pas IMAP {what} : réponse reçue « {} »",
            line.trim_end_matches("\\r\\n")
        );
    }
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => {
            format!("{label} a coupé la connexion {what}")
        }
        _ => format!("{label} : erreur réseau {what} : {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            split_addr("127.0.0.1:143").unwrap(),
            ("127.0.0.1".into(), 143)
        );
        assert_eq!(split_addr("[::1]:993").unwrap(), ("::1".into(), 993));
        assert_eq!(
            split_addr("imap.example.fr:10143").unwrap(),
            ("imap.example.fr".into(), 10143)
        );
        for bad in [
            "localhost",
            "host:",
            ":143",
            "host:0",
            "host:99999",
            "host:x",
        ] {
            let e = split_addr(bad).unwrap_err();
            assert!(e.contains("HOTE:PORT"), "{bad}: {e}");
        }
    }

    #[test]
    fn message_urls_escape_user_and_mailbox() {
        assert_eq!(
            message_url("bal.labo@x.fr", "127.0.0.1:143", "Boîte test", 7),
            "imap://bal.labo%40x.fr@127.0.0.1:143/Bo%C3%AEte%20test/;UID=7"
        );
    }

    #[test]
    fn server_answers_are_unwrapped() {
        assert_eq!(
            server_text(
                r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#
            ),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        assert_eq!(server_text(" plain "), "plain");
    }
}
