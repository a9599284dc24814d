//! A small SMTP submission client (RFC 5321, STARTTLS RFC 3207) on tokio-rustls, for
//! `banc mail send`.
//!
//! Why not lettre: lettre 0.11's rustls `Identity::from_pem` stores the PEM text of the client
//! certificate as if it were DER (checked in lettre 0.11.23 `transport/smtp/client/tls.rs`), so
//! mutual TLS, which MSSanté application mailboxes use, fails; and a harness wants the server's
//! exact reply at the step that refused. Every read and write has a timeout; replies are bounded.

use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest reply line and most lines of one reply accepted.
const MAX_LINE: usize = 4096;
const MAX_LINES: usize = 200;

crate::choice_enum! {
    pub enum StartTls {
        /// Refuse to send in clear text (MSSanté: SMTP with STARTTLS).
        Required = "required",
        /// Use STARTTLS when offered.
        Opportunistic = "opportunistic",
        /// Never (local tests only).
        None = "none",
    }
}

// choice_enum! takes doc comments only, so no `#[default]` on a variant.
#[allow(clippy::derivable_impls)]
impl Default for StartTls {
    fn default() -> StartTls {
        StartTls::Required
    }
}

#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// `host:port`.
    pub server: String,
    pub starttls: StartTls,
    /// PEM of the CA(s) to trust instead of the system roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate chain and key (PEM), for mutual TLS.
    pub client_cert_pem: Option<Vec<u8>>,
    pub client_key_pem: Option<Vec<u8>>,
    /// Name given in EHLO.
    pub helo: String,
    /// Per step (connection, each command, the data transfer).
    pub timeout: Duration,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
}

impl SubmitOptions {
    /// One message from `from` to `to` through `server`: STARTTLS when offered (verified against
    /// the system's CAs), no client certificate, EHLO with the sender's domain, 30 s per step.
    pub fn relay(server: &str, from: &str, to: &str) -> SubmitOptions {
        SubmitOptions {
            server: server.to_string(),
            starttls: StartTls::Opportunistic,
            ca_pem: None,
            client_cert_pem: None,
            client_key_pem: None,
            helo: from
                .rsplit('@')
                .next()
                .unwrap_or("banc.invalid")
                .to_string(),
            timeout: Duration::from_secs(30),
            mail_from: from.to_string(),
            rcpt_to: vec![to.to_string()],
        }
    }

    /// STARTTLS required, trusting `ca`, presenting `identity` (certificate chain, key) if given.
    pub fn with_tls(mut self, ca: Option<Vec<u8>>, identity: Option<(Vec<u8>, Vec<u8>)>) -> Self {
        self.starttls = StartTls::Required;
        self.ca_pem = ca;
        (self.client_cert_pem, self.client_key_pem) = identity.unzip();
        self
    }
}

/// A server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// `250 2.0.0 Ok: queued as ...` (lines joined).
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| format!("{} {l}", self.code))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitError {
    /// The server answered 4xx/5xx at this step.
    Refused { stage: String, reply: Reply },
    /// Could not connect, or the connection broke or timed out.
    Connection(String),
    /// TLS: not offered while required, handshake failed, certificates.
    Tls(String),
    /// The server does not speak SMTP as expected.
    Protocol(String),
}

impl std::fmt::Display for SubmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubmitError::Refused { stage, reply } => {
                write!(f, "refus du serveur à l'étape {stage} : {}", reply.text())
            }
            SubmitError::Connection(m) => write!(f, "connexion : {m}"),
            SubmitError::Tls(m) => write!(f, "TLS : {m}"),
            SubmitError::Protocol(m) => write!(f, "protocole SMTP : {m}"),
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Conn {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Conn {
    async fn read_line(&mut self) -> Result<String, SubmitError> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                let text = String::from_utf8_lossy(&line);
                return Ok(text.trim_end_matches(['\r', '\n']).to_string());
            }
            if self.buf.len() > MAX_LINE {
                return Err(SubmitError::Protocol(format!(
                    "ligne de réponse de plus de {MAX_LINE} octets"
                )));
            }
            let mut chunk = [0u8; 2048];
            let n = tokio::time::timeout(self.timeout, self.io.read(&mut chunk))
                .await
                .map_err(|_| SubmitError::Connection("délai dépassé en attente du serveur".into()))?
                .map_err(|e| {
                    // A TLS alert from the server arrives on the first read after the handshake.
                    if e.to_string().contains("alert") {
                        SubmitError::Tls(super::tls::explain(&e, "le serveur", ""))
                    } else {
                        SubmitError::Connection(format!("lecture : {e}"))
                    }
                })?;
            if n == 0 {
                return Err(SubmitError::Connection(
                    "le serveur a fermé la connexion".into(),
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn reply(&mut self) -> Result<Reply, SubmitError> {
        let mut lines = Vec::new();
        loop {
            let line = self.read_line().await?;
            let code = line
                .get(..3)
                .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| SubmitError::Protocol(format!("réponse illisible « {line} »")))?;
            let sep = line.as_bytes().get(3).copied();
            lines.push(line.get(4..).unwrap_or("").to_string());
            if sep != Some(b'-') || lines.len() >= MAX_LINES {
                return Ok(Reply { code, lines });
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), SubmitError> {
        tokio::time::timeout(self.timeout, async {
            self.io.write_all(bytes).await?;
            self.io.flush().await
        })
        .await
        .map_err(|_| SubmitError::Connection("délai dépassé en écrivant au serveur".into()))?
        .map_err(|e| SubmitError::Connection(format!("écriture : {e}")))
    }

    async fn command(&mut self, stage: &str, line: &str) -> Result<Reply, SubmitError> {
        self.write(format!("{line}\r\n").as_bytes()).await?;
        let r = self.reply().await?;
        if r.positive() {
            Ok(r)
        } else {
            Err(SubmitError::Refused {
                stage: stage.into(),
                reply: r,
            })
        }
    }
}

fn client_config(opts: &SubmitOptions) -> Result<Arc<rustls::ClientConfig>, SubmitError> {
    let identity = match (&opts.client_cert_pem, &opts.client_key_pem) {
        (Some(c), Some(k)) => Some((c.as_slice(), k.as_slice())),
        (None, None) => None,
        _ => {
            return Err(SubmitError::Tls(
                "--cert et --key vont ensemble (TLS mutuel)".into(),
            ));
        }
    };
    super::tls::client_config(opts.ca_pem.as_deref(), identity).map_err(SubmitError::Tls)
}

fn host_of(server: &str) -> &str {
    match server.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h.trim_matches(['[', ']']),
        _ => server,
    }
}

/// Every line ends in CRLF, lines starting with `.` are doubled (RFC 5321 §4.5.2), and the data
/// ends with `CRLF.CRLF`.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 50 + 5);
    let mut at_line_start = true;
    let mut prev = 0u8;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        at_line_start = b == b'\n';
        prev = b;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

fn capabilities(r: &Reply) -> Vec<String> {
    r.lines
        .iter()
        .skip(1)
        .map(|l| l.trim().to_ascii_uppercase())
        .collect()
}

/// Submit `message` and return the server's final reply (to the end of DATA).
pub async fn submit(opts: &SubmitOptions, message: &[u8]) -> Result<Reply, SubmitError> {
    if opts.rcpt_to.is_empty() {
        return Err(SubmitError::Protocol("aucun destinataire".into()));
    }
    let tcp = tokio::time::timeout(opts.timeout, TcpStream::connect(&opts.server))
        .await
        .map_err(|_| {
            SubmitError::Connection(format!("{} : délai de connexion dépassé", opts.server))
        })?
        .map_err(|e| {
            SubmitError::Connection(format!("impossible de joindre {} : {e}", opts.server))
        })?;
    let mut conn = Conn {
        io: Box::new(tcp),
        buf: Vec::new(),
        timeout: opts.timeout,
    };
    let greeting = conn.reply().await?;
    if greeting.code != 220 {
        return Err(SubmitError::Refused {
            stage: "accueil".into(),
            reply: greeting,
        });
    }
    let ehlo = format!("EHLO {}", opts.helo);
    let mut caps = capabilities(&conn.command("EHLO", &ehlo).await?);
    let offers_tls = caps.iter().any(|c| c == "STARTTLS");
    let use_tls = match (opts.starttls, offers_tls) {
        (StartTls::None, _) => false,
        (StartTls::Opportunistic, offered) => offered,
        (StartTls::Required, true) => true,
        (StartTls::Required, false) => {
            let _ = conn.write(b"QUIT\r\n").await;
            return Err(SubmitError::Tls(
                "le serveur n'offre pas STARTTLS (--starttls opportunistic pour envoyer en clair)"
                    .into(),
            ));
        }
    };
    if use_tls {
        conn.command("STARTTLS", "STARTTLS").await?;
        // Bytes the server sent before the handshake would be a response injection (RFC 3207
        // §6): refuse rather than read them as TLS-protected.
        if !conn.buf.is_empty() {
            return Err(SubmitError::Tls(
                "données reçues en clair après STARTTLS (injection de réponse)".into(),
            ));
        }
        let config = client_config(opts)?;
        let name = ServerName::try_from(host_of(&opts.server).to_string())
            .map_err(|e| SubmitError::Tls(format!("nom de serveur « {} » : {e}", opts.server)))?;
        // The Box<dyn Io> holds the TcpStream; take it back for the handshake.
        let plain = std::mem::replace(&mut conn.io, Box::new(empty::Empty));
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls = tokio::time::timeout(opts.timeout, connector.connect(name, plain))
            .await
            .map_err(|_| SubmitError::Tls("délai dépassé pendant la négociation TLS".into()))?
            .map_err(|e| {
                SubmitError::Tls(super::tls::explain(&e, &opts.server, host_of(&opts.server)))
            })?;
        conn.io = Box::new(tls);
        caps = capabilities(&conn.command("EHLO", &ehlo).await?);
    }
    let mut mail = format!("MAIL FROM:<{}>", opts.mail_from);
    if caps.iter().any(|c| c.starts_with("SIZE")) {
        mail.push_str(&format!(" SIZE={}", message.len()));
    }
    if message.iter().any(|b| *b >= 0x80) && caps.iter().any(|c| c == "8BITMIME") {
        mail.push_str(" BODY=8BITMIME");
    }
    let result = async {
        conn.command("MAIL FROM", &mail).await?;
        for r in &opts.rcpt_to {
            conn.command("RCPT TO", &format!("RCPT TO:<{r}>")).await?;
        }
        let data = conn.command("DATA", "DATA").await?;
        if data.code != 354 {
            return Err(SubmitError::Protocol(format!(
                "DATA : 354 attendu, reçu {}",
                data.text()
            )));
        }
        conn.write(&dot_stuff(message)).await?;
        let end = conn.reply().await?;
        if end.positive() {
            Ok(end)
        } else {
            Err(SubmitError::Refused {
                stage: "fin de DATA".into(),
                reply: end,
            })
        }
    }
    .await;
    let _ = conn.write(b"QUIT\r\n").await;
    result
}

/// A duplex that reads nothing and accepts nothing: the placeholder while the TCP stream is in
/// the TLS handshake.
mod empty {
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    pub struct Empty;

    impl AsyncRead for Empty {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Empty {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Poll::Ready(Err(std::io::ErrorKind::NotConnected.into()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing() {
        assert_eq!(dot_stuff(b"a\n.b\r\n..c"), b"a\r\n..b\r\n...c\r\n.\r\n");
        assert_eq!(dot_stuff(b".\r\n"), b"..\r\n.\r\n");
    }

    #[test]
    fn hosts() {
        assert_eq!(host_of("mail.example.fr:587"), "mail.example.fr");
        assert_eq!(host_of("[::1]:25"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
    }
}
