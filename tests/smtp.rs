//! `banc mail serve` and `banc mail certs` run like a user does: the binary on a free port with a
//! temporary spool, spoken to by a small SMTP client (plain TCP, rustls for STARTTLS).

mod common;

use common::{banc, s, tempdir};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CERT_MAILBOX: &str = "sgl.labo@labo-exemple.mssante.fr";
const PLAIN_MAILBOX: &str = "dpi.chu@chu-exemple.mssante.fr";

struct Server {
    serve: common::Serve,
    port: u16,
    spool: PathBuf,
    seen: Vec<String>,
}

impl Server {
    fn start(name: &str, args: &[&str]) -> Server {
        let spool = tempdir(name).join("spool");
        Server::on(&spool, args)
    }

    fn on(spool: &Path, args: &[&str]) -> Server {
        let serve = common::serve(spool, args);
        Server {
            port: serve.port,
            serve,
            spool: spool.to_path_buf(),
            seen: Vec::new(),
        }
    }

    fn connect(&self) -> Smtp {
        Smtp::connect(self.port)
    }

    /// Wait for a log line containing `needle`.
    fn wait_log(&mut self, needle: &str) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.serve.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no log line with {needle:?}; seen: {:#?}", self.seen)
    }

    fn messages(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.spool.join("msg"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        v.sort();
        v
    }

    fn report(&mut self, id: &str) -> serde_json::Value {
        self.wait_log(&format!("reçu id={id}"));
        let text = std::fs::read_to_string(self.spool.join(format!("msg/{id}.report.json")))
            .expect("report written before the log line");
        serde_json::from_str(&text).expect("report parses")
    }

    fn envelope(&self, id: &str) -> serde_json::Value {
        let text =
            std::fs::read_to_string(self.spool.join(format!("msg/{id}.envelope.json"))).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    Gone,
}

/// A small SMTP client: one reply per call, multi-line replies joined.
struct Smtp {
    stream: Stream,
    buf: Vec<u8>,
}

impl Smtp {
    fn connect(port: u16) -> Smtp {
        let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut c = Smtp {
            stream: Stream::Plain(tcp),
            buf: Vec::new(),
        };
        let (code, text) = c.reply().expect("greeting");
        assert_eq!(code, 220, "{text}");
        c
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match &mut self.stream {
            Stream::Plain(s) => s.write_all(bytes),
            Stream::Tls(s) => s.write_all(bytes).and_then(|()| s.flush()),
            Stream::Gone => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }

    fn read_more(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 4096];
        let n = match &mut self.stream {
            Stream::Plain(s) => s.read(&mut chunk)?,
            Stream::Tls(s) => s.read(&mut chunk)?,
            Stream::Gone => 0,
        };
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// The next reply: (code, all lines' text joined by '\n'); Err on EOF / error.
    fn reply(&mut self) -> std::io::Result<(u16, String)> {
        let mut lines = Vec::new();
        loop {
            let Some(nl) = self.buf.iter().position(|b| *b == b'\n') else {
                if self.read_more()? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                continue;
            };
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            let code: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line.get(4..).unwrap_or_default().to_string());
            if last {
                return Ok((code, lines.join("\n")));
            }
        }
    }

    /// Send a command line, return the reply.
    fn cmd(&mut self, line: &str) -> (u16, String) {
        self.write(format!("{line}\r\n").as_bytes()).unwrap();
        self.reply().unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn expect(&mut self, line: &str, code: u16) -> String {
        let (c, text) = self.cmd(line);
        assert_eq!(c, code, "{line} → {c} {text}");
        text
    }

    /// MAIL, RCPT, DATA, the content (dot-stuffed here), the final reply.
    fn send(&mut self, from: &str, to: &[&str], content: &[u8]) -> (u16, String) {
        self.expect(&format!("MAIL FROM:<{from}>"), 250);
        for t in to {
            self.expect(&format!("RCPT TO:<{t}>"), 250);
        }
        self.data(content)
    }

    fn data(&mut self, content: &[u8]) -> (u16, String) {
        self.expect("DATA", 354);
        self.write(&stuff(content)).unwrap();
        self.write(b".\r\n").unwrap();
        self.reply().unwrap()
    }

    /// STARTTLS and the handshake, with the test CA and an optional client certificate.
    fn starttls(&mut self, certs: &Path, client: Option<&str>) -> std::io::Result<()> {
        self.expect("STARTTLS", 220);
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            panic!("already TLS")
        };
        let mut tls = rustls::StreamOwned::new(
            rustls::ClientConnection::new(client_config(certs, client), server_name()).unwrap(),
            tcp,
        );
        // Drive the handshake to its end (with TLS 1.3, a refused client certificate only
        // shows on the next read).
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        self.stream = Stream::Tls(Box::new(tls));
        Ok(())
    }
}

fn server_name() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

fn client_config(certs: &Path, client: Option<&str>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(certs.join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    Arc::new(match client {
        Some(name) => {
            let chain = CertificateDer::pem_file_iter(certs.join(format!("{name}.pem")))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(certs.join(format!("{name}.key"))).unwrap();
            b.with_client_auth_cert(chain, key).unwrap()
        }
        None => b.with_no_client_auth(),
    })
}

/// Dot-stuffing (RFC 5321 §4.5.2): what a client does before sending.
fn stuff(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 16);
    let mut at_line_start = true;
    for &b in content {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    out
}

fn queued_id(reply: &(u16, String)) -> String {
    assert_eq!(reply.0, 250, "{}", reply.1);
    let id = reply
        .1
        .strip_prefix("2.0.0 Ok: queued as ")
        .unwrap_or_else(|| panic!("250 text: {}", reply.1));
    assert!(!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    id.to_string()
}

fn rules(report: &serde_json::Value, doc: usize) -> Vec<String> {
    report["documents"][doc]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: <sgl@labo.mssante.fr>\r\nTo: <{PLAIN_MAILBOX}>\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@labo.mssante.fr>\r\nDate: Thu, 15 Jan 2026 10:30:00 +0100\r\n\r\n{body}"
    )
    .into_bytes()
}

/// `banc mail certs` into a fresh folder, with the application mailbox as client.
fn certs(name: &str) -> PathBuf {
    certs_for(name, &[CERT_MAILBOX])
}

/// `banc mail certs` with these application mailboxes as clients (the first one also gets the
/// expired, other-CA and revoked negatives).
fn certs_for(name: &str, clients: &[&str]) -> PathBuf {
    let dir = tempdir(&format!("{name}-certs")).join("certs");
    let out = banc()
        .args(["mail", "certs", "--out"])
        .arg(&dir)
        .args(clients.iter().flat_map(|c| ["--client", c]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

#[test]
fn plain_message_is_stored_byte_for_byte_and_analysed() {
    let mut srv = Server::start("plain", &["--max-messages", "1"]);
    let mut c = srv.connect();
    let ehlo = c.expect("EHLO sgl.labo.test", 250);
    for ext in [
        "SIZE 26214400",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
        "PIPELINING",
    ] {
        assert!(ehlo.lines().any(|l| l == ext), "{ext} in {ehlo}");
    }
    assert!(!ehlo.contains("STARTTLS"), "no certificate, no STARTTLS");
    // Leading dots (stuffed on the wire), a bare LF line, 8-bit text without BODY=8BITMIME,
    // a line of exactly 998 octets + CRLF.
    let long = "x".repeat(998);
    let body = format!(".début\r\n..deux points\r\nligne LF seul\nfin é\r\n{long}\r\n");
    let content = message("plain", &body);
    let reply = c.send(
        "sgl@labo.mssante.fr",
        &[PLAIN_MAILBOX, "autre@chu.fr"],
        &content,
    );
    let id = queued_id(&reply);
    c.expect("QUIT", 221);

    let stored = std::fs::read(srv.spool.join(format!("msg/{id}.eml"))).unwrap();
    assert_eq!(stored, content, "bytes stored exactly as sent");
    let env = srv.envelope(&id);
    assert_eq!(env["mail_from"], "sgl@labo.mssante.fr");
    assert_eq!(
        env["rcpt_to"],
        serde_json::json!([PLAIN_MAILBOX, "autre@chu.fr"])
    );
    assert_eq!(env["helo"], "sgl.labo.test");
    assert_eq!(env["size"], content.len());
    assert_eq!(env["bare_lf_lines"], 1);
    assert_eq!(env["tls"], serde_json::Value::Null);
    use sha2::Digest;
    assert_eq!(env["sha256"], hex::encode(sha2::Sha256::digest(&content)));
    let index = std::fs::read_to_string(srv.spool.join("index.jsonl")).unwrap();
    assert_eq!(index.lines().count(), 1);
    assert!(index.contains(&id));

    let report = srv.report(&id);
    assert_eq!(report["documents"][0]["path"], format!("{id} (transport)"));
    assert_eq!(report["documents"][0]["profile"], "smtp-session");
    let transport = rules(&report, 0);
    for r in [
        "transport.tls.none",
        "transport.smtp.bare-lf",
        "transport.smtp.8bit",
    ] {
        assert!(transport.contains(&r.to_string()), "{r} in {transport:?}");
    }
    assert_eq!(report["documents"][0]["verdict"], "fail");
    // The message's own report follows (mail pipeline).
    assert!(report["documents"].as_array().unwrap().len() >= 2);
    let line = srv.wait_log(&format!("reçu id={id}"));
    assert!(
        line.contains("de=<sgl@labo.mssante.fr>") && line.contains("tls=non"),
        "{line}"
    );
    // --max-messages 1: the server stops by itself, status 0.
    let code = common::wait_exit(&mut srv.serve.child, Duration::from_secs(20));
    assert_eq!(
        code,
        Some(0),
        "server stops by itself after --max-messages 1"
    );
}

#[test]
fn size_limit_refuses_with_552_and_stores_nothing() {
    let mut srv = Server::start("size", &["--max-size", "2000"]);
    let mut c = srv.connect();
    let ehlo = c.expect("EHLO client", 250);
    assert!(ehlo.lines().any(|l| l == "SIZE 2000"), "{ehlo}");
    let (code, text) = c.cmd("MAIL FROM:<a@labo.fr> SIZE=2001");
    assert_eq!((code, &text[..5]), (552, "5.3.4"), "{text}");
    // Announced under the limit, sent over it: read to the end, then 552.
    c.expect("MAIL FROM:<a@labo.fr> SIZE=1500", 250);
    c.expect(&format!("RCPT TO:<{PLAIN_MAILBOX}>"), 250);
    let big = message("big", &"0123456789\r\n".repeat(300));
    let (code, text) = c.data(&big);
    assert_eq!((code, &text[..5]), (552, "5.3.4"), "{text}");
    // The session goes on: a message under the limit is accepted.
    let small = message("small", "court\r\n");
    let id = queued_id(&c.send("a@labo.fr", &[PLAIN_MAILBOX], &small));
    c.expect("QUIT", 221);
    srv.wait_log(&format!("reçu id={id}"));
    assert_eq!(srv.messages().len(), 1, "only the small message is stored");
    srv.wait_log("refusé (transport.smtp.size)");
    assert_eq!(
        std::fs::read_dir(srv.spool.join("tmp")).unwrap().count(),
        0,
        "refused DATA leaves nothing in tmp/"
    );
}

#[test]
fn bad_sequences_garbage_and_long_lines_get_errors_and_server_stays_up() {
    let mut srv = Server::start("errors", &[]);
    let mut c = srv.connect();
    assert!(c.expect("MAIL FROM:<a@b.fr>", 503).starts_with("5.5.1"));
    c.expect("HELO client", 250);
    c.expect(&format!("RCPT TO:<{PLAIN_MAILBOX}>"), 503);
    c.expect("DATA", 503);
    c.expect("MAIL FROM:<a@b.fr>", 250);
    c.expect("MAIL FROM:<a@b.fr>", 503);
    c.expect("DATA", 503);
    c.expect("RSET", 250);
    assert!(c.expect("FROBNICATE", 500).starts_with("5.5.2"));
    c.expect("VRFY someone", 252);
    c.expect("EXPN list", 502);
    c.expect("NOOP", 250);
    c.expect("MAIL FROM:<a@b.fr> SIZE=10", 555); // parameters need EHLO
    c.expect("MAIL FROM:a@b.fr", 501);
    // A command line over 512 octets.
    let long = format!("NOOP {}", "y".repeat(600));
    assert!(c.expect(&long, 500).starts_with("5.5.2"));
    // Binary garbage with NULs and high bytes, then a line break.
    c.write(&[0u8, 0xff, 0xfe, 7, 0x80, b'\r', b'\n']).unwrap();
    assert_eq!(c.reply().unwrap().0, 500);
    // 100 KB without a line break: bounded, answered once the line ends.
    c.write(&vec![b'Z'; 100_000]).unwrap();
    c.write(b"\r\n").unwrap();
    assert_eq!(c.reply().unwrap().0, 500);
    // A text line over 1000 octets in DATA: read to the end, refused, not stored.
    c.expect("EHLO client", 250);
    c.expect("MAIL FROM:<a@b.fr>", 250);
    c.expect(&format!("RCPT TO:<{PLAIN_MAILBOX}>"), 250);
    let (code, text) = c.data(&message("long", &format!("{}\r\n", "L".repeat(1200))));
    assert_eq!((code, &text[..5]), (500, "5.5.2"), "{text}");
    // Still usable: a good message goes through.
    let id = queued_id(&c.send("a@b.fr", &[PLAIN_MAILBOX], &message("ok", "ok\r\n")));
    c.expect("QUIT", 221);
    srv.wait_log(&format!("reçu id={id}"));
    assert_eq!(srv.messages().len(), 1);

    // Too many errors: the session is closed with 421, the server stays up.
    let mut c = srv.connect();
    let mut last = 0;
    for _ in 0..25 {
        match c.write(b"BAD\r\n").and_then(|()| c.reply()) {
            Ok((code, _)) => last = code,
            Err(_) => break,
        }
    }
    assert_eq!(last, 421);
    let mut c = srv.connect();
    c.expect("EHLO again", 250);
    c.expect("QUIT", 221);
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let mut srv = Server::start("pipelining", &[]);
    let mut c = srv.connect();
    c.write(
        format!(
            "EHLO client\r\nMAIL FROM:<a@b.fr>\r\nRCPT TO:<{PLAIN_MAILBOX}>\r\nRCPT TO:<bad>\r\nRCPT TO:<x@y.fr>\r\nDATA\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let codes: Vec<u16> = (0..6).map(|_| c.reply().unwrap().0).collect();
    assert_eq!(codes, vec![250, 250, 250, 501, 250, 354]);
    let content = message("pipe", "corps\r\n");
    c.write(&stuff(&content)).unwrap();
    c.write(b".\r\nQUIT\r\n").unwrap();
    let id = queued_id(&c.reply().unwrap());
    assert_eq!(c.reply().unwrap().0, 221);
    srv.wait_log(&format!("reçu id={id}"));
    assert_eq!(
        srv.envelope(&id)["rcpt_to"],
        serde_json::json!([PLAIN_MAILBOX, "x@y.fr"])
    );
}

#[test]
fn a_bare_lf_dot_does_not_end_data_no_smuggled_second_message() {
    let mut srv = Server::start("smuggling", &[]);
    let mut c = srv.connect();
    c.expect("EHLO client", 250);
    c.expect("MAIL FROM:<sgl@labo.mssante.fr>", 250);
    c.expect(&format!("RCPT TO:<{PLAIN_MAILBOX}>"), 250);
    c.expect("DATA", 354);
    // `<LF>.<CRLF>` then commands: with a lax end-of-data they would be a second message with
    // an envelope of the attacker's choosing.
    let head = message("smuggling", "corps\r\n");
    let smuggled = format!(
        "fin\n.\r\nMAIL FROM:<usurpateur@ailleurs.fr>\r\nRCPT TO:<{PLAIN_MAILBOX}>\r\nDATA\r\nSubject: faux\r\n\r\nfaux\r\n"
    );
    c.write(&head).unwrap();
    c.write(smuggled.as_bytes()).unwrap();
    c.write(b".\r\n").unwrap();
    let id = queued_id(&c.reply().unwrap());
    c.expect("QUIT", 221);
    srv.wait_log(&format!("reçu id={id}"));
    let index = std::fs::read_to_string(srv.spool.join("index.jsonl")).unwrap();
    assert_eq!(index.lines().count(), 1, "one message, not two: {index}");
    let env = srv.envelope(&id);
    assert_eq!(env["mail_from"], "sgl@labo.mssante.fr");
    let stored = std::fs::read(srv.spool.join(format!("msg/{id}.eml"))).unwrap();
    let stored = String::from_utf8_lossy(&stored);
    assert!(
        stored.contains("MAIL FROM:<usurpateur@ailleurs.fr>"),
        "the smuggled commands are content of the one message: {stored}"
    );
    let transport = rules(&srv.report(&id), 0);
    assert!(
        transport.contains(&"transport.smtp.bare-lf".to_string()),
        "{transport:?}"
    );
}

#[test]
fn idle_client_gets_421_and_no_hang() {
    let mut srv = Server::start(
        "timeout",
        &["--command-timeout", "1", "--data-timeout", "1"],
    );
    let start = Instant::now();
    let mut c = srv.connect();
    let (code, text) = c.reply().unwrap();
    assert_eq!(code, 421, "{text}");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(c.reply().is_err(), "connection closed after 421");
    // Stalled in DATA: 421, and the partial message is not kept.
    let mut c = srv.connect();
    c.expect("EHLO client", 250);
    c.expect("MAIL FROM:<a@b.fr>", 250);
    c.expect(&format!("RCPT TO:<{PLAIN_MAILBOX}>"), 250);
    c.expect("DATA", 354);
    c.write(b"Subject: half\r\n\r\nno end").unwrap();
    assert_eq!(c.reply().unwrap().0, 421);
    srv.wait_log("délai dépassé");
    assert!(srv.messages().is_empty());
    assert_eq!(std::fs::read_dir(srv.spool.join("tmp")).unwrap().count(), 0);
}

#[test]
fn connection_limit_answers_421() {
    let srv = Server::start("busy", &["--max-connections", "1"]);
    let mut first = srv.connect();
    first.expect("EHLO one", 250);
    let tcp = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut second = Smtp {
        stream: Stream::Plain(tcp),
        buf: Vec::new(),
    };
    let (code, text) = second.reply().unwrap();
    assert_eq!((code, &text[..5]), (421, "4.3.2"), "{text}");
    first.expect("QUIT", 221);
}

#[test]
fn starttls_required_and_mailbox_requiring_a_client_certificate() {
    let certs = certs("mtls");
    let mut srv = Server::start(
        "mtls",
        &[
            "--tls-cert",
            &s(&certs.join("server.pem")),
            "--tls-key",
            &s(&certs.join("server.key")),
            "--client-ca",
            &s(&certs.join("ca.pem")),
            "--mailbox",
            PLAIN_MAILBOX,
            "--mailbox-with-cert",
            CERT_MAILBOX,
        ],
    );
    // Clear text: STARTTLS offered, MAIL refused before it.
    let mut c = srv.connect();
    assert!(
        c.expect("EHLO client", 250)
            .lines()
            .any(|l| l == "STARTTLS")
    );
    assert!(c.expect("MAIL FROM:<a@b.fr>", 530).starts_with("5.7.0"));
    // TLS without a client certificate: the application mailbox refuses, the other accepts.
    c.starttls(&certs, None).unwrap();
    let ehlo = c.expect("EHLO client", 250);
    assert!(!ehlo.contains("STARTTLS"), "not offered twice: {ehlo}");
    c.expect("STARTTLS", 503);
    c.expect("MAIL FROM:<a@b.fr>", 250);
    assert!(
        c.expect(&format!("RCPT TO:<{CERT_MAILBOX}>"), 530)
            .starts_with("5.7.0")
    );
    assert!(
        c.expect("RCPT TO:<inconnu@chu.fr>", 550)
            .starts_with("5.1.1")
    );
    c.expect(&format!("RCPT TO:<{PLAIN_MAILBOX}>"), 250);
    let id_plain = queued_id(&c.data(&message("tls", "sous TLS\r\n")));
    c.expect("QUIT", 221);
    let env = srv.envelope(&id_plain);
    assert!(
        env["tls"]["version"]
            .as_str()
            .unwrap()
            .starts_with("TLSv1.")
    );
    assert_eq!(env["tls"]["client_cert"], serde_json::Value::Null);
    let report = srv.report(&id_plain);
    let r = rules(&report, 0);
    assert!(!r.contains(&"transport.tls.none".to_string()), "{r:?}");
    assert!(
        r.contains(&"transport.tls.client-cert-absent".to_string()),
        "{r:?}"
    );

    // A client certificate from the CA: accepted, identity recorded.
    let mut c = srv.connect();
    c.expect("EHLO client", 250);
    let client = format!("client-{CERT_MAILBOX}");
    c.starttls(&certs, Some(&client)).unwrap();
    c.expect("EHLO client", 250);
    let id = queued_id(&c.send(CERT_MAILBOX, &[CERT_MAILBOX], &message("mtls", "ok\r\n")));
    c.expect("QUIT", 221);
    let env = srv.envelope(&id);
    let cert = &env["tls"]["client_cert"];
    assert!(
        cert["subject"].as_str().unwrap().contains(CERT_MAILBOX),
        "{cert}"
    );
    assert!(
        cert["issuer"].as_str().unwrap().contains("banc AC de test"),
        "{cert}"
    );
    assert_eq!(
        cert["san"],
        serde_json::json!([format!("email:{CERT_MAILBOX}")])
    );
    let report = srv.report(&id);
    assert!(rules(&report, 0).contains(&"transport.tls.client-cert".to_string()));
    let line = srv.wait_log(&format!("reçu id={id}"));
    assert!(
        line.contains(&format!("cert=\"CN={CERT_MAILBOX}")) || line.contains(CERT_MAILBOX),
        "{line}"
    );

    // Expired, or signed by another CA: refused at the handshake, nothing gets through.
    for bad in ["client-expired", "client-other-ca"] {
        let mut c = srv.connect();
        c.expect("EHLO client", 250);
        let refused = match c.starttls(&certs, Some(bad)) {
            Err(_) => true,
            Ok(()) => c
                .write(b"EHLO client\r\n")
                .and_then(|()| c.reply())
                .is_err(),
        };
        assert!(refused, "{bad}: the session went on");
    }
    srv.wait_log("TLS refusé");
    assert_eq!(srv.messages().len(), 2);
}

#[test]
fn require_client_cert_refuses_a_handshake_without_one() {
    let certs = certs("reqcert");
    let mut srv = Server::start(
        "reqcert",
        &[
            "--tls-cert",
            &s(&certs.join("server.pem")),
            "--tls-key",
            &s(&certs.join("server.key")),
            "--client-ca",
            &s(&certs.join("ca.pem")),
            "--require-client-cert",
        ],
    );
    let mut c = srv.connect();
    c.expect("EHLO client", 250);
    let refused = match c.starttls(&certs, None) {
        Err(_) => true,
        Ok(()) => c.write(b"EHLO x\r\n").and_then(|()| c.reply()).is_err(),
    };
    assert!(
        refused,
        "handshake without a client certificate went through"
    );
    srv.wait_log("TLS refusé");
    let mut c = srv.connect();
    c.expect("EHLO client", 250);
    c.starttls(&certs, Some(&format!("client-{CERT_MAILBOX}")))
        .unwrap();
    c.expect("EHLO client", 250);
    queued_id(&c.send("a@b.fr", &["x@y.fr"], &message("req", "ok\r\n")));
}

/// The handshake went through and the server answers (a refused client certificate shows, with
/// TLS 1.3, only on the first read after the handshake).
fn tls_session_refused(c: &mut Smtp, certs: &Path, client: Option<&str>) -> bool {
    c.expect("EHLO client", 250);
    match c.starttls(certs, client) {
        Err(_) => true,
        Ok(()) => c
            .write(b"EHLO client\r\n")
            .and_then(|()| c.reply())
            .is_err(),
    }
}

/// Issue 14, certificate identity: an application mailbox is taken as MAIL FROM only over a
/// session whose verified client certificate names it; a revoked certificate (CRL in DER form
/// here) does not get past the handshake. Each refusal is logged with its rule id.
#[test]
fn application_mailbox_takes_only_its_own_certificate_and_revoked_ones_are_refused() {
    const LAB_A: &str = "sgl@labo-a.mssante.test";
    const LAB_B: &str = "sgl@labo-b.mssante.test";
    let certs = certs_for("identity", &[LAB_A, LAB_B]);
    let crl = rustls::pki_types::CertificateRevocationListDer::from_pem_file(certs.join("crl.pem"))
        .expect("banc mail certs writes a PEM CRL");
    let crl_der = certs.join("crl.der");
    std::fs::write(&crl_der, crl.as_ref()).unwrap();
    let mut srv = Server::start(
        "identity",
        &[
            "--tls-cert",
            &s(&certs.join("server.pem")),
            "--tls-key",
            &s(&certs.join("server.key")),
            "--client-ca",
            &s(&certs.join("ca.pem")),
            "--crl",
            &s(&crl_der),
            "--starttls-optional",
            "--application-mailbox",
            LAB_A,
            "--application-mailbox",
            LAB_B,
        ],
    );
    let (cert_a, cert_b) = (format!("client-{LAB_A}"), format!("client-{LAB_B}"));

    // Lab A's certificate cannot send as lab B, then sends as itself in the same session.
    let mut c = srv.connect();
    c.expect("EHLO client", 250);
    c.starttls(&certs, Some(&cert_a)).unwrap();
    c.expect("EHLO client", 250);
    let text = c.expect(&format!("MAIL FROM:<{LAB_B}>"), 550);
    assert!(text.starts_with("5.7.1") && text.contains(LAB_B), "{text}");
    let line = srv.wait_log("refusé (transport.tls.identity-mismatch)");
    assert!(
        line.contains(&format!("MAIL FROM <{LAB_B}>"))
            && line.contains(&format!("nomme <{LAB_A}> (subjectAltName)")),
        "{line}"
    );
    c.expect("RCPT TO:<dpi@chu.test>", 503);
    // Recipients stay open: application mailboxes declare senders only.
    let id = queued_id(&c.send(
        &LAB_A.to_uppercase(),
        &["dpi@chu.test"],
        &message("identite", "ok\r\n"),
    ));
    c.expect("QUIT", 221);
    let cert = &srv.envelope(&id)["tls"]["client_cert"];
    assert_eq!(cert["names"], serde_json::json!([LAB_A]), "{cert}");
    assert_eq!(cert["names_from"], "subjectAltName");
    assert!(rules(&srv.report(&id), 0).contains(&"transport.tls.client-cert".to_string()));

    // Lab B with its own certificate.
    let mut c = srv.connect();
    c.expect("EHLO client", 250);
    c.starttls(&certs, Some(&cert_b)).unwrap();
    c.expect("EHLO client", 250);
    queued_id(&c.send(LAB_B, &["dpi@chu.test"], &message("labo-b", "ok\r\n")));
    c.expect("QUIT", 221);

    // No client certificate, under TLS or without TLS at all: refused for an application
    // mailbox, while any other sender is taken.
    let mut c = srv.connect();
    c.expect("EHLO client", 250);
    let text = c.expect(&format!("MAIL FROM:<{LAB_A}>"), 550);
    assert!(text.starts_with("5.7.1"), "{text}");
    srv.wait_log("boîte applicative : session sans TLS");
    c.starttls(&certs, None).unwrap();
    c.expect("EHLO client", 250);
    let text = c.expect(&format!("MAIL FROM:<{LAB_A}>"), 550);
    assert!(text.starts_with("5.7.1"), "{text}");
    srv.wait_log("boîte applicative : aucun certificat client présenté");
    queued_id(&c.send(
        "autre@labo-c.test",
        &["dpi@chu.test"],
        &message("autre", "ok\r\n"),
    ));
    c.expect("QUIT", 221);

    // Revoked (listed in the CRL, though signed by the CA and naming lab A): no handshake.
    let mut c = srv.connect();
    assert!(
        tls_session_refused(&mut c, &certs, Some("client-revoked")),
        "a revoked certificate got a session"
    );
    let line = srv.wait_log("TLS refusé (transport.tls.revoked)");
    assert!(line.contains("révoqué"), "{line}");
    assert_eq!(srv.messages().len(), 3, "only the three messages taken");
}

#[test]
fn unanalysed_message_is_analysed_after_restart() {
    let spool = tempdir("restart").join("spool");
    let mut srv = Server::on(&spool, &[]);
    let mut c = srv.connect();
    c.expect("EHLO client", 250);
    let id = queued_id(&c.send("a@b.fr", &["x@y.fr"], &message("restart", "ok\r\n")));
    srv.report(&id);
    drop(c);
    drop(srv);
    let report = spool.join(format!("msg/{id}.report.json"));
    std::fs::remove_file(&report).unwrap();
    let mut srv = Server::on(&spool, &[]);
    srv.wait_log(&format!("reçu id={id}"));
    assert!(report.is_file());
}

#[test]
fn configuration_errors_are_reported() {
    let dir = tempdir("config");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "listen = \"127.0.0.1:0\"\nmax_sise = 10\n").unwrap();
    let out = banc()
        .args(["mail", "serve", "--config", &s(&bad)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max_sise"), "{err}");
    // The documented example parses (its certificates do not exist here: the error names them).
    let out = banc()
        .args(["mail", "serve", "--config", "fixtures/smtp/serve.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.pem"), "{err}");
}

#[test]
fn certs_are_written_once_with_private_keys_0600() {
    let dir = tempdir("certs").join("out");
    let run = |extra: &[&str]| {
        banc()
            .args([
                "mail",
                "certs",
                "--out",
                &s(&dir),
                "--domain",
                "mss.banc.test",
            ])
            .args(["--client", "a@labo.fr", "--client", "b@labo.fr"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    for f in [
        "ca.pem",
        "ca.key",
        "server.pem",
        "server.key",
        "client-a@labo.fr.pem",
        "client-b@labo.fr.key",
        "client-expired.pem",
        "client-other-ca.pem",
        "other-ca.pem",
        "client-revoked.pem",
        "crl.pem",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
        assert!(printed.contains(f), "{f} not printed");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [
            "ca.key",
            "server.key",
            "client-a@labo.fr.key",
            "client-expired.key",
        ] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
    let ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    let again = run(&[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(
        std::fs::read_to_string(dir.join("ca.pem")).unwrap(),
        ca,
        "not overwritten"
    );
    assert!(run(&["--force"]).status.success());
    assert_ne!(std::fs::read_to_string(dir.join("ca.pem")).unwrap(), ca);
    // The server certificate names the domain.
    let pem = std::fs::read(dir.join("server.pem")).unwrap();
    let der = CertificateDer::from_pem_slice(&pem).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap();
    let names = format!("{:?}", san.value.general_names);
    assert!(
        names.contains("mss.banc.test") && names.contains("localhost"),
        "{names}"
    );
}

/// `banc mail send` (the other door of banc) against this server: the composed message arrives
/// byte for byte and is judged through every layer.
fn send(srv: &Server, args: &[&str], saved: &Path) -> (i32, String, String) {
    let out = banc()
        .args(["mail", "send", "--smtp", &format!("127.0.0.1:{}", srv.port)])
        .args(["--save", &s(saved)])
        .args(args)
        .arg("fixtures/cr-bio/valid/tsh.xml")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sent_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.split("queued as ").nth(1))
        .unwrap_or_else(|| panic!("no queued id in {stdout:?}"))
        .trim()
        .to_string()
}

#[test]
fn banc_mail_send_plain_and_over_starttls() {
    let certs = certs("send");
    let dir = tempdir("send-msg");
    // Plain: accepted, judged down to the CDA; no TLS is an error of the transport report.
    let mut srv = Server::start("send-plain", &[]);
    let saved = dir.join("plain.eml");
    let (code, out, err) = send(&srv, &["--to", PLAIN_MAILBOX, "--starttls", "none"], &saved);
    assert_eq!(code, 0, "{out}{err}");
    let id = sent_id(&out);
    assert_eq!(
        std::fs::read(srv.spool.join(format!("msg/{id}.eml"))).unwrap(),
        std::fs::read(&saved).unwrap()
    );
    let report = srv.report(&id);
    let docs = report["documents"].as_array().unwrap();
    let profiles: Vec<&str> = docs
        .iter()
        .map(|d| d["profile"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        &profiles[..3],
        ["smtp-session", "mssante-message", "ihe-xdm"],
        "{profiles:?}"
    );
    assert!(
        docs.last().unwrap()["path"]
            .as_str()
            .unwrap()
            .ends_with(".XML")
    );
    assert!(rules(&report, 0).contains(&"transport.tls.none".to_string()));
    drop(srv);

    // STARTTLS required by the server, trusted through the test CA.
    let tls_args = [
        "--tls-cert".to_string(),
        s(&certs.join("server.pem")),
        "--tls-key".to_string(),
        s(&certs.join("server.key")),
        "--client-ca".to_string(),
        s(&certs.join("ca.pem")),
        "--mailbox".to_string(),
        PLAIN_MAILBOX.to_string(),
        "--mailbox-with-cert".to_string(),
        CERT_MAILBOX.to_string(),
    ];
    let tls_args: Vec<&str> = tls_args.iter().map(String::as_str).collect();
    let mut srv = Server::start("send-tls", &tls_args);
    let ca = s(&certs.join("ca.pem"));
    let saved = dir.join("tls.eml");
    let (code, out, err) = send(&srv, &["--to", PLAIN_MAILBOX, "--ca", &ca], &saved);
    assert_eq!(code, 0, "{out}{err}");
    let id = sent_id(&out);
    assert!(
        srv.envelope(&id)["tls"]["version"]
            .as_str()
            .unwrap()
            .starts_with("TLSv1.")
    );
    let r = rules(&srv.report(&id), 0);
    assert!(!r.contains(&"transport.tls.none".to_string()), "{r:?}");

    // The application mailbox: refused without a client certificate (exit 1: server refusal),
    // accepted with one from the CA (mutual TLS).
    let (code, out, err) = send(
        &srv,
        &["--to", CERT_MAILBOX, "--ca", &ca],
        &dir.join("no.eml"),
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("530"), "{out}");
    let cert = s(&certs.join(format!("client-{CERT_MAILBOX}.pem")));
    let key = s(&certs.join(format!("client-{CERT_MAILBOX}.key")));
    let saved = dir.join("mtls.eml");
    let (code, out, err) = send(
        &srv,
        &[
            "--to",
            CERT_MAILBOX,
            "--ca",
            &ca,
            "--cert",
            &cert,
            "--key",
            &key,
        ],
        &saved,
    );
    assert_eq!(code, 0, "{out}{err}");
    let id = sent_id(&out);
    let env = srv.envelope(&id);
    assert!(
        env["tls"]["client_cert"]["subject"]
            .as_str()
            .unwrap()
            .contains(CERT_MAILBOX),
        "{env}"
    );
    assert_eq!(
        std::fs::read(srv.spool.join(format!("msg/{id}.eml"))).unwrap(),
        std::fs::read(&saved).unwrap()
    );
    assert!(rules(&srv.report(&id), 0).contains(&"transport.tls.client-cert".to_string()));
    // An expired client certificate: the TLS handshake fails (exit 2), nothing stored.
    let (code, out, err) = send(
        &srv,
        &[
            "--to",
            CERT_MAILBOX,
            "--ca",
            &ca,
            "--cert",
            &s(&certs.join("client-expired.pem")),
            "--key",
            &s(&certs.join("client-expired.key")),
        ],
        &dir.join("expired.eml"),
    );
    assert_ne!(code, 0, "{out}{err}");
    srv.wait_log("TLS refusé");
    assert_eq!(srv.messages().len(), 2);
}

/// The entries (name, bytes) of a package.
type Entries = Vec<(String, Vec<u8>)>;

/// The package of `tsh.xml` with its entries changed by `edit`, written in `dir`.
fn faulty_package(dir: &Path, edit: impl FnOnce(Entries) -> Entries) -> PathBuf {
    let good = dir.join("good.zip");
    if !good.exists() {
        let out = banc()
            .args([
                "xdm",
                "pack",
                "--submission-time",
                "20260121163000",
                "-o",
                &s(&good),
            ])
            .arg("fixtures/cr-bio/valid/tsh.xml")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let entries = common::zip_entries(&std::fs::read(&good).unwrap());
    let path = dir.join(format!("p{}.zip", std::fs::read_dir(dir).unwrap().count()));
    std::fs::write(&path, common::zip_of(&edit(entries))).unwrap();
    path
}

/// An edit of METADATA.XML: its first `from` becomes `to`.
fn edit_metadata(from: &'static str, to: &'static str) -> impl FnOnce(Entries) -> Entries {
    move |entries| {
        entries
            .into_iter()
            .map(|(n, b)| {
                if !n.ends_with("METADATA.XML") {
                    return (n, b);
                }
                let t = String::from_utf8(b).unwrap();
                assert!(t.contains(from), "{from} not in METADATA.XML");
                (n, t.replacen(from, to, 1).into_bytes())
            })
            .collect()
    }
}

/// An edit that adds one entry.
fn add_entry(name: &'static str, bytes: Vec<u8>) -> impl FnOnce(Entries) -> Entries {
    move |mut entries| {
        entries.push((name.to_string(), bytes));
        entries
    }
}

/// mssante-xdm.md §6, as a lab system would send them: each faulty message goes through
/// `banc mail send` → `banc mail serve`, and the stored report carries the rule of its fault.
#[test]
fn each_bad_input_received_yields_its_rule_id() {
    let dir = tempdir("bad-inputs");
    let mut srv = Server::start("bad-inputs-srv", &["--max-size", "3000000"]);
    let hash_at = |t: &str| {
        t.find("<rim:Slot name=\"hash\"><rim:ValueList><rim:Value>")
            .unwrap()
            + 48
    };
    let packages: Vec<(&str, PathBuf)> = vec![
        (
            "xdm.zip.bomb",
            faulty_package(
                &dir,
                add_entry("IHE_XDM/SUBSET01/BOMB.XML", vec![0u8; 40 << 20]),
            ),
        ),
        (
            "xdm.zip.path-traversal",
            faulty_package(
                &dir,
                add_entry("../../etc/cron.d/banc", b"* * * * * root true".to_vec()),
            ),
        ),
        (
            "xdm.metadata.dtd-forbidden",
            faulty_package(
                &dir,
                edit_metadata(
                    "<lcm:SubmitObjectsRequest",
                    "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><lcm:SubmitObjectsRequest",
                ),
            ),
        ),
        (
            "xdm.metadata.hash",
            faulty_package(&dir, |entries| {
                entries
                    .into_iter()
                    .map(|(n, mut b)| {
                        if n.ends_with("METADATA.XML") {
                            let i = hash_at(std::str::from_utf8(&b).unwrap());
                            b[i] = if b[i] == b'0' { b'1' } else { b'0' };
                        }
                        (n, b)
                    })
                    .collect()
            }),
        ),
        (
            "xdm.metadata.cda-patient-id",
            faulty_package(
                &dir,
                edit_metadata("value=\"291025626003396^^^", "value=\"191025626003312^^^"),
            ),
        ),
    ];
    let mut cases: Vec<(&str, PathBuf)> = Vec::new();
    for (rule, zip) in &packages {
        let eml = zip.with_extension("eml");
        let out = banc()
            .args([
                "mail",
                "compose",
                "--to",
                PLAIN_MAILBOX,
                "--zip",
                &s(zip),
                "-o",
                &s(&eml),
            ])
            .arg("fixtures/cr-bio/valid/tsh.xml")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        cases.push((rule, eml));
    }
    // (A bare-LF header injection does not survive SMTP: the client sends CRLF lines; it is
    // judged in files by tests/mail.rs.)
    for (file, rule) in [
        ("truncated", "mail.mime.unterminated"),
        ("two-zips", "mail.zip.several"),
        ("no-x-mss", "mail.x-mss-nil.missing"),
        ("no-ins-header", "mail.x-mss-ins.missing"),
        ("eight-bit-header", "mail.header.non-ascii"),
        ("two-patients", "xdm.metadata.several-patients"),
    ] {
        cases.push((
            rule,
            PathBuf::from(format!("fixtures/mail/faults/{file}.eml")),
        ));
    }
    for (rule, eml) in &cases {
        let out = banc()
            .args(["mail", "send", "--starttls", "none", "--smtp"])
            .arg(format!("127.0.0.1:{}", srv.port))
            .args(["--to", PLAIN_MAILBOX, "--eml", &s(eml)])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{rule}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = srv.report(&sent_id(&stdout));
        let all: Vec<String> = (0..report["documents"].as_array().unwrap().len())
            .flat_map(|d| rules(&report, d))
            .collect();
        assert!(
            all.iter().any(|r| r == rule),
            "{rule} not in the report of {}: {all:?}",
            eml.display()
        );
    }
    // Oversize: refused at the door with 552, nothing stored.
    let before = srv.messages().len();
    let big = dir.join("big.pdf");
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.extend((0..3_200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    std::fs::write(&big, pdf).unwrap();
    let out = common::Run::of(
        banc()
            .args(["mail", "send", "--starttls", "none", "--smtp"])
            .arg(format!("127.0.0.1:{}", srv.port))
            .args(["--to", PLAIN_MAILBOX, "--pdf", &s(&big)])
            .arg("fixtures/cr-bio/valid/tsh.xml"),
    );
    let text = out.text();
    assert_eq!(out.code, 1, "{text}");
    assert!(text.contains("552"), "{text}");
    assert_eq!(srv.messages().len(), before);
}
