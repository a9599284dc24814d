//! One SMTP session, from the greeting to QUIT: a hand-written state machine (RFC 5321 §4.1.4
//! order of commands) over a plain or TLS stream.
//!
//! States: no greeting yet → greeted (EHLO/HELO) → MAIL given → RCPT accepted → DATA. STARTTLS
//! upgrades the stream and forgets the greeting (RFC 3207 §4.2). Input is read into one buffer,
//! line by line with a length bound, so pipelined commands (RFC 2920) are answered in order —
//! except after STARTTLS, where bytes already received in clear are discarded (they could be an
//! injected command, CVE-2011-0411). Every read has a deadline (421 when it passes), every line
//! a length bound, every message a size bound: a client can neither hang nor exhaust the server.
//! Only `<CRLF>.<CRLF>` ends DATA: a bare-LF dot is content (no SMTP smuggling), though bare LF
//! line ends are tolerated and recorded.
//! MAIL FROM an application mailbox needs the session's verified client certificate to name it
//! (`550 5.7.1` otherwise); RCPT TO a mailbox with `require_client_cert` needs any certificate.
//!
//! Hand-written on purpose: an SMTP server library answers for the client's mistakes (bare LF,
//! commands out of order, pipelining without the extension, an unterminated DATA) by correcting
//! or refusing them silently; banc is a test bench and must see each one to record it as a defect
//! of the system under test.

use super::command::{self, Command, MAX_COMMAND_LINE, MAX_TEXT_LINE, MailFrom, Reply};
use super::config::Settings;
use super::spool::{Envelope, Spool};
use super::tls::TlsFacts;
use sha2::{Digest, Sha256};
use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Errors (5xx answers) tolerated in a session before it is closed.
const MAX_ERRORS: u32 = 20;
/// Input buffered ahead of the current line before it is compacted.
const COMPACT_AT: usize = 64 * 1024;

/// What the sessions share with the server.
pub struct Shared {
    pub settings: Settings,
    pub spool: Spool,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Each committed message goes to the analysis workers.
    pub stored: tokio::sync::mpsc::UnboundedSender<String>,
}

/// The `tracing` target of the server's log: one event per line that scripts and tests read
/// (`écoute sur ADDR`, one line per message). Where it goes is the binary's choice.
pub const LOG_TARGET: &str = "banc::smtp";

/// One line of the server's log.
pub fn log(line: &str) {
    tracing::info!(target: LOG_TARGET, "{line}");
}

enum Conn<S> {
    Plain(S),
    Tls(Box<tokio_rustls::server::TlsStream<S>>),
    /// Between the plain stream and the TLS one, during the handshake.
    Gone,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connexion fermée")
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Conn<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Conn::Gone => Poll::Ready(Err(gone())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Conn<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Conn::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Conn::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Conn::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// Why a session ended.
#[derive(Debug)]
enum End {
    Quit,
    Eof,
    Timeout,
    TooManyErrors,
    /// The handshake failed: the rule it breaks, if one of banc's, and why.
    Tls(Option<&'static crate::finding::Rule>, String),
    Io,
}

enum Line {
    /// The line, terminator included, as a range of the input buffer.
    Text(Range<usize>),
    /// Longer than allowed: its bytes were dropped.
    TooLong,
}

struct Txn {
    mail: MailFrom,
    rcpts: Vec<String>,
}

struct Session<S> {
    shared: Arc<Shared>,
    conn: Conn<S>,
    input: Vec<u8>,
    /// Start of the unread input.
    head: usize,
    peer: String,
    local: String,
    /// EHLO/HELO name, and whether it was EHLO.
    helo: Option<(String, bool)>,
    tls: Option<TlsFacts>,
    txn: Option<Txn>,
    errors: u32,
}

/// Serve one connection until QUIT, EOF, timeout or error. Never panics on input.
pub async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let local = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    serve_stream(stream, peer, local, shared).await
}

/// Serve one session over any byte stream (a TCP connection, or an in-memory one for the fuzz
/// target and tests): `peer` and `local` are the addresses recorded in the envelope.
pub async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    peer: String,
    local: String,
    shared: Arc<Shared>,
) {
    let mut s = Session {
        shared,
        conn: Conn::Plain(stream),
        input: Vec::with_capacity(4096),
        head: 0,
        peer,
        local,
        helo: None,
        tls: None,
        txn: None,
        errors: 0,
    };
    let end = s.run().await;
    match end {
        End::Tls(None, e) => log(&format!("TLS refusé pour {} : {e}", s.peer)),
        // The finding of a refused handshake lives in the log: no message, no report.
        End::Tls(Some(rule), e) => log(&format!("TLS refusé ({}) pour {} : {e}", rule.id, s.peer)),
        End::Timeout => log(&format!(
            "délai dépassé, session de {} fermée (421)",
            s.peer
        )),
        End::TooManyErrors => log(&format!(
            "trop d'erreurs, session de {} fermée (421)",
            s.peer
        )),
        End::Quit | End::Eof | End::Io => {}
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), s.conn.shutdown()).await;
}

/// Tell a client over the connection limit to come back later, and close.
pub async fn refuse_busy(mut stream: TcpStream, hostname: &str) {
    let r = Reply::new(
        421,
        "4.3.2",
        format!("{hostname} trop de connexions, réessayez plus tard"),
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(&r.wire())).await;
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    async fn run(&mut self) -> End {
        let greeting = Reply::new(
            220,
            "",
            format!(
                "{} ESMTP banc (serveur de test MSSanté)",
                self.settings().hostname
            ),
        );
        if let Err(e) = self.send(&greeting).await {
            return e;
        }
        loop {
            let timeout = self.settings().command_timeout;
            let line = match self.read_line(MAX_COMMAND_LINE, timeout).await {
                Ok(l) => l,
                Err(End::Timeout) => {
                    let r = Reply::new(
                        421,
                        "4.4.2",
                        format!("{} délai dépassé, fermeture", self.settings().hostname),
                    );
                    let _ = self.send(&r).await;
                    return End::Timeout;
                }
                Err(e) => return e,
            };
            let reply = match line {
                Line::TooLong => Reply::new(
                    500,
                    "5.5.2",
                    "Ligne de commande trop longue (512 octets au plus, CRLF compris)",
                ),
                Line::Text(r) => {
                    let raw = &self.input[r];
                    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
                    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                    match command::parse(raw) {
                        Err(r) => r,
                        Ok(cmd) => match self.execute(cmd).await {
                            Ok(Some(r)) => r,
                            // The command answered itself (DATA, STARTTLS).
                            Ok(None) => continue,
                            Err(end) => return end,
                        },
                    }
                }
            };
            let failed = reply.code >= 500;
            if let Err(e) = self.send(&reply).await {
                return e;
            }
            if reply.code == 221 {
                return End::Quit;
            }
            if failed {
                self.errors += 1;
                if self.errors >= MAX_ERRORS {
                    let r = Reply::new(
                        421,
                        "4.7.0",
                        format!("{} trop d'erreurs, fermeture", self.settings().hostname),
                    );
                    let _ = self.send(&r).await;
                    return End::TooManyErrors;
                }
            }
        }
    }

    async fn send(&mut self, r: &Reply) -> Result<(), End> {
        let wire = r.wire();
        let timeout = self.settings().command_timeout;
        match tokio::time::timeout(timeout, async {
            self.conn.write_all(&wire).await?;
            self.conn.flush().await
        })
        .await
        {
            Err(_) => Err(End::Timeout),
            Ok(Err(_)) => Err(End::Io),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// The next line of input (terminated by LF), at most `max` bytes with its terminator,
    /// within `limit`.
    async fn read_line(&mut self, max: usize, limit: Duration) -> Result<Line, End> {
        if self.head == self.input.len() {
            self.input.clear();
            self.head = 0;
        } else if self.head >= COMPACT_AT {
            self.input.drain(..self.head);
            self.head = 0;
        }
        let deadline = Instant::now() + limit;
        let mut scanned = self.head;
        let mut dropping = false;
        loop {
            if let Some(p) = self.input[scanned..].iter().position(|b| *b == b'\n') {
                let end = scanned + p + 1;
                let start = self.head;
                self.head = end;
                if dropping || end - start > max {
                    return Ok(Line::TooLong);
                }
                return Ok(Line::Text(start..end));
            }
            if self.input.len() - self.head >= max {
                // No end of line within the bound: drop what came, keep reading to the LF.
                dropping = true;
                self.input.clear();
                self.head = 0;
            }
            scanned = self.input.len();
            self.input.reserve(16 * 1024);
            match tokio::time::timeout_at(deadline, self.conn.read_buf(&mut self.input)).await {
                Err(_) => return Err(End::Timeout),
                Ok(Err(_)) => return Err(End::Io),
                Ok(Ok(0)) => return Err(End::Eof),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Run a parsed command: the reply to send, or None when the command sent its own replies.
    async fn execute(&mut self, cmd: Command) -> Result<Option<Reply>, End> {
        let bad_sequence = |what: &str| {
            Ok(Some(Reply::new(
                503,
                "5.5.1",
                format!("Mauvaise séquence de commandes : {what}"),
            )))
        };
        Ok(Some(match cmd {
            Command::Ehlo(name) => {
                self.helo = Some((name, true));
                self.txn = None;
                let s = self.settings();
                let mut lines = vec![
                    format!("{} salue {}", s.hostname, self.peer),
                    format!("SIZE {}", s.max_size),
                    "8BITMIME".to_string(),
                    "ENHANCEDSTATUSCODES".to_string(),
                    "PIPELINING".to_string(),
                ];
                if self.shared.tls.is_some() && self.tls.is_none() {
                    lines.push("STARTTLS".to_string());
                }
                Reply::new(250, "", lines.join("\n"))
            }
            Command::Helo(name) => {
                self.helo = Some((name, false));
                self.txn = None;
                Reply::new(
                    250,
                    "",
                    format!("{} salue {}", self.settings().hostname, self.peer),
                )
            }
            Command::StartTls => return self.starttls().await,
            Command::Mail(mail) => {
                let Some((_, esmtp)) = &self.helo else {
                    return bad_sequence("EHLO ou HELO d'abord");
                };
                if self.txn.is_some() {
                    return bad_sequence("transaction déjà ouverte (RSET pour l'abandonner)");
                }
                if !esmtp && (mail.size.is_some() || mail.body.is_some()) {
                    return Ok(Some(Reply::new(
                        555,
                        "5.5.4",
                        "Paramètres de MAIL FROM réservés aux sessions EHLO",
                    )));
                }
                if self.starttls_required() {
                    return Ok(Some(Reply::new(
                        530,
                        "5.7.0",
                        "STARTTLS obligatoire avant MAIL FROM (MSSanté : TLS exigé)",
                    )));
                }
                if let Some(refusal) = self.identity_refusal(&mail.address) {
                    return Ok(Some(refusal));
                }
                if let Some(n) = mail.size
                    && n > self.settings().max_size
                {
                    log(&format!(
                        "refusé ({}) de {} : MAIL FROM <{}> annonce SIZE={n} > {}",
                        super::rules::SIZE.id,
                        self.peer,
                        mail.address,
                        self.settings().max_size
                    ));
                    return Ok(Some(size_reply(self.settings().max_size)));
                }
                self.txn = Some(Txn {
                    mail,
                    rcpts: Vec::new(),
                });
                Reply::new(250, "2.1.0", "Ok")
            }
            Command::Rcpt(to) => {
                let has_cert = self.tls.as_ref().is_some_and(|t| t.client_cert.is_some());
                let s = &self.shared.settings;
                let Some(txn) = &mut self.txn else {
                    return bad_sequence("MAIL FROM d'abord");
                };
                if txn.rcpts.len() >= s.max_recipients {
                    return Ok(Some(Reply::new(
                        452,
                        "4.5.3",
                        format!(
                            "Trop de destinataires ({} au plus par message)",
                            s.max_recipients
                        ),
                    )));
                }
                match s.mailbox(&to) {
                    None if s.restricts_recipients() => {
                        return Ok(Some(Reply::new(
                            550,
                            "5.1.1",
                            format!("Boîte aux lettres inconnue sur ce serveur : <{to}>"),
                        )));
                    }
                    Some(m) if m.require_client_cert && !has_cert => {
                        return Ok(Some(Reply::new(
                            530,
                            "5.7.0",
                            format!(
                                "La boîte <{to}> exige une authentification par certificat client (TLS mutuel, certificat personne morale)"
                            ),
                        )));
                    }
                    _ => {}
                }
                txn.rcpts.push(to);
                Reply::new(250, "2.1.5", "Ok")
            }
            Command::Data => {
                match &self.txn {
                    None => return bad_sequence("MAIL FROM et RCPT TO d'abord"),
                    Some(t) if t.rcpts.is_empty() => {
                        return bad_sequence("aucun destinataire accepté");
                    }
                    Some(_) => {}
                }
                return self.data().await.map(|_| None);
            }
            Command::Rset => {
                self.txn = None;
                Reply::new(250, "2.0.0", "Ok")
            }
            Command::Noop => Reply::new(250, "2.0.0", "Ok"),
            Command::Quit => Reply::new(
                221,
                "2.0.0",
                format!("{} au revoir", self.settings().hostname),
            ),
            Command::Vrfy => Reply::new(
                252,
                "2.5.0",
                "Adresse non vérifiable ; le message sera accepté et remis",
            ),
            Command::Help => Reply::new(
                214,
                "2.0.0",
                "Commandes : EHLO HELO STARTTLS MAIL RCPT DATA RSET NOOP VRFY HELP QUIT",
            ),
            Command::NotImplemented(verb) => {
                Reply::new(502, "5.5.1", format!("{verb} n'est pas pris en charge"))
            }
        }))
    }

    /// MAIL FROM an application mailbox: refused (`550 5.7.1`, logged as
    /// `transport.tls.identity-mismatch`) unless the session's verified client certificate names
    /// it. Checked here, not at the handshake: one CA signs every lab's certificate, and only the
    /// envelope says which mailbox the session speaks for.
    fn identity_refusal(&self, from: &str) -> Option<Reply> {
        let mailbox = self.settings().application(from)?;
        let cert = self.tls.as_ref().and_then(|t| t.client_cert.as_ref());
        let (short, why) = match cert {
            Some(c) if c.is_for(&mailbox.address) => return None,
            Some(c) if c.names.is_empty() => (
                "le certificat client présenté ne la nomme pas",
                format!(
                    "le certificat client « {} » ne nomme aucune boîte",
                    c.subject
                ),
            ),
            Some(c) => (
                "le certificat client présenté ne la nomme pas",
                format!(
                    "le certificat client « {} » nomme {} ({})",
                    c.subject,
                    angle_list(&c.names),
                    c.names_from
                ),
            ),
            None if self.tls.is_none() => (
                "aucun certificat client (session sans TLS)",
                "session sans TLS, donc sans certificat client".into(),
            ),
            None => (
                "aucun certificat client présenté",
                "aucun certificat client présenté".into(),
            ),
        };
        log(&format!(
            "refusé ({}) de {} : MAIL FROM <{from}>, boîte applicative : {why}",
            super::rules::IDENTITY_MISMATCH.id,
            self.peer
        ));
        // The certificate's own text stays in the log: the reply is one line of known text.
        Some(Reply::new(
            550,
            "5.7.1",
            format!(
                "<{from}> est une boîte applicative : {short} (TLS mutuel avec son certificat exigé)"
            ),
        ))
    }

    fn starttls_required(&self) -> bool {
        self.tls.is_none()
            && self
                .settings()
                .tls
                .as_ref()
                .is_some_and(|t| t.require_starttls)
    }

    async fn starttls(&mut self) -> Result<Option<Reply>, End> {
        let Some(acceptor) = self.shared.tls.clone() else {
            return Ok(Some(Reply::new(
                502,
                "5.5.1",
                "STARTTLS n'est pas proposé (aucun certificat configuré)",
            )));
        };
        if self.tls.is_some() {
            return Ok(Some(Reply::new(
                503,
                "5.5.1",
                "Mauvaise séquence de commandes : TLS déjà actif",
            )));
        }
        // Anything the client sent after STARTTLS in clear text is dropped (RFC 3207 §5).
        self.input.clear();
        self.head = 0;
        self.send(&Reply::new(220, "2.0.0", "Prêt pour TLS"))
            .await?;
        let Conn::Plain(tcp) = std::mem::replace(&mut self.conn, Conn::Gone) else {
            return Err(End::Tls(None, "flux inattendu".into()));
        };
        let timeout = self.settings().command_timeout;
        let tls = match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
            Err(_) => return Err(End::Timeout),
            Ok(Err(e)) => {
                let (rule, why) = super::tls::refusal(&e);
                return Err(End::Tls(rule, why));
            }
            Ok(Ok(t)) => t,
        };
        let facts = super::tls::facts(tls.get_ref().1);
        self.conn = Conn::Tls(Box::new(tls));
        self.tls = Some(facts);
        // RFC 3207 §4.2: the client starts again with EHLO.
        self.helo = None;
        self.txn = None;
        Ok(None)
    }

    /// DATA: stream the message to the spool, then commit it and answer.
    async fn data(&mut self) -> Result<(), End> {
        let shared = self.shared.clone();
        let spool = &shared.spool;
        let max = self.settings().max_size;
        let id = spool.new_id();
        let path = spool.tmp_message(&id);
        let file = match tokio::fs::File::create(&path).await {
            Ok(f) => f,
            Err(e) => {
                log(&format!("spool : {} : {e}", path.display()));
                self.txn = None;
                return self
                    .send(&Reply::new(
                        451,
                        "4.3.0",
                        "Erreur locale du spool, réessayez plus tard",
                    ))
                    .await;
            }
        };
        self.send(&Reply::new(
            354,
            "",
            "Envoyez le message, terminé par <CRLF>.<CRLF>",
        ))
        .await?;
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        let mut hash = Sha256::new();
        let mut size = 0u64;
        let (mut oversize, mut too_long, mut eight_bit) = (false, false, false);
        let mut write_error: Option<io::Error> = None;
        let mut bare_lf = 0u64;
        let mut first_bare_lf = None;
        // Whether the previous line ended with CRLF (DATA's first line follows the command's).
        let mut after_crlf = true;
        let mut line_no = 0u64;
        let timeout = self.settings().data_timeout;
        loop {
            let line = match self.read_line(MAX_TEXT_LINE, timeout).await {
                Ok(l) => l,
                Err(end) => {
                    drop(out);
                    spool.discard(&id);
                    self.txn = None;
                    if let End::Timeout = end {
                        let r = Reply::new(
                            421,
                            "4.4.2",
                            format!(
                                "{} délai dépassé pendant DATA, message abandonné",
                                self.settings().hostname
                            ),
                        );
                        let _ = self.send(&r).await;
                    }
                    return Err(end);
                }
            };
            line_no += 1;
            let range = match line {
                Line::TooLong => {
                    too_long = true;
                    continue;
                }
                Line::Text(r) => r,
            };
            let line = &self.input[range];
            // Only <CRLF>.<CRLF> ends DATA: after a bare LF, `.<CRLF>` is content, else the
            // text after it would be read as commands (SMTP smuggling).
            if line == b".\r\n" && after_crlf {
                break;
            }
            after_crlf = line.ends_with(b"\r\n");
            if !after_crlf {
                bare_lf += 1;
                first_bare_lf.get_or_insert(line_no);
            }
            // Dot-unstuffing (RFC 5321 §4.5.2).
            let content = line.strip_prefix(b".").unwrap_or(line);
            eight_bit = eight_bit || content.iter().any(|b| *b >= 0x80);
            if oversize || too_long || write_error.is_some() {
                continue;
            }
            if size + content.len() as u64 > max {
                oversize = true;
                continue;
            }
            hash.update(content);
            size += content.len() as u64;
            if let Err(e) = out.write_all(content).await {
                write_error = Some(e);
            }
        }
        let txn = self.txn.take();
        let (from, rcpts, mail) = match &txn {
            Some(t) => (t.mail.address.clone(), t.rcpts.clone(), t.mail.clone()),
            None => (String::new(), Vec::new(), MailFrom::default()),
        };
        if too_long || oversize {
            drop(out);
            spool.discard(&id);
            let (rule, reply) = if too_long {
                (
                    super::rules::LINE_LENGTH.id,
                    Reply::new(
                        500,
                        "5.5.2",
                        "Ligne de plus de 1000 octets dans le message : refusé",
                    ),
                )
            } else {
                (super::rules::SIZE.id, size_reply(max))
            };
            log(&format!(
                "refusé ({rule}) de {} : <{from}> pour {} : {reply}",
                self.peer,
                angle_list(&rcpts)
            ));
            return self.send(&reply).await;
        }
        let synced = match write_error {
            Some(e) => Err(e),
            None => match out.flush().await {
                Ok(()) => out.into_inner().sync_all().await,
                Err(e) => Err(e),
            },
        };
        if let Err(e) = synced {
            spool.discard(&id);
            log(&format!("spool : écriture de {id} : {e}"));
            return self
                .send(&Reply::new(
                    451,
                    "4.3.0",
                    "Erreur locale du spool, réessayez plus tard",
                ))
                .await;
        }
        let (helo, esmtp) = self.helo.clone().unwrap_or_default();
        let env = Envelope {
            id: id.clone(),
            received: crate::clock::Utc::now().rfc3339(),
            mail_from: from,
            rcpt_to: rcpts,
            helo,
            esmtp,
            peer: self.peer.clone(),
            local: self.local.clone(),
            size,
            sha256: hex::encode(hash.finalize()),
            declared_size: mail.size,
            body: mail.body,
            bare_lf_lines: bare_lf,
            first_bare_lf_line: first_bare_lf,
            eight_bit,
            tls: self.tls.clone(),
        };
        let committer = shared.clone();
        let committed = tokio::task::spawn_blocking(move || committer.spool.commit(&env))
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        match committed {
            Ok(()) => {
                self.send(&Reply::new(250, "2.0.0", format!("Ok: queued as {id}")))
                    .await?;
                let _ = shared.stored.send(id);
                Ok(())
            }
            Err(e) => {
                spool.discard(&id);
                log(&format!("spool : validation de {id} : {e}"));
                self.send(&Reply::new(
                    451,
                    "4.3.0",
                    "Erreur locale du spool, réessayez plus tard",
                ))
                .await
            }
        }
    }
}

fn size_reply(max: u64) -> Reply {
    Reply::new(
        552,
        "5.3.4",
        format!("Message trop gros : {max} octets au plus"),
    )
}

/// `<a>,<b>` for the log.
pub fn angle_list(addrs: &[String]) -> String {
    addrs
        .iter()
        .map(|a| format!("<{a}>"))
        .collect::<Vec<_>>()
        .join(",")
}
