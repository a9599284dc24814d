//! A scripted IMAP server, just enough for `banc mail fetch`'s error paths: no STARTTLS, a silent
//! server, a refused login, a missing mailbox, a message over the size limit. It records every
//! command line it receives, so that a test can assert what banc did *not* send (a LOGIN in
//! clear text, a FETCH of a message it should have skipped).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A test CA and a server certificate for 127.0.0.1/localhost, made with rcgen.
pub struct Pki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    /// A client certificate of the same CA (mutual TLS).
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

impl Pki {
    pub fn new(ca_name: &str) -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, ca_name);
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        let client_key = rcgen::KeyPair::generate().unwrap();
        let mut client_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "bal.recepteur@hopital.test.mssante.fr",
        );
        client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let client = client_params.signed_by(&client_key, &ca).unwrap();
        Pki {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            client_cert_pem: client.pem(),
            client_key_pem: client_key.serialize_pem(),
        }
    }

    fn server_config(&self, client_auth: bool) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject;
        let certs = rustls::pki_types::CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key =
            rustls::pki_types::PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if client_auth {
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls::pki_types::CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(builder.with_single_cert(certs, key).unwrap())
    }
}

#[derive(Clone)]
pub struct Message {
    pub uid: u32,
    pub bytes: Vec<u8>,
    /// What the server claims in RFC822.SIZE (may lie).
    pub claimed_size: usize,
}

#[derive(Clone)]
pub struct Script {
    /// Some: TLS from the first byte with this PKI.
    pub implicit_tls: Option<Arc<Pki>>,
    /// Some: STARTTLS offered (and done) with this PKI.
    pub starttls: Option<Arc<Pki>>,
    /// Accept the connection and never say a word.
    pub silent: bool,
    /// Ask for a client certificate of the PKI's CA and refuse the handshake without one.
    pub require_client_cert: bool,
    /// Capabilities in the greeting (`[CAPABILITY ...]`); else only on CAPABILITY.
    pub caps_in_greeting: bool,
    pub login_ok: bool,
    pub mailbox_ok: bool,
    pub messages: Vec<Message>,
    /// Answer the body fetch with this instead of the message, writing for ever (until the
    /// client is gone, or [`Hostile::GIVE_UP`] bytes).
    pub hostile: Option<Hostile>,
}

/// A server that tries to fill the client's memory.
#[derive(Clone, Copy)]
pub enum Hostile {
    /// Announce a literal of this many bytes (whatever was asked), then send them.
    Literal(u64),
    /// A quoted string that never ends.
    EndlessString,
}

impl Hostile {
    /// Where the server stops on its own: far beyond what a bounded client reads.
    pub const GIVE_UP: u64 = 256 * 1024 * 1024;
}

impl Default for Script {
    fn default() -> Script {
        Script {
            implicit_tls: None,
            starttls: None,
            silent: false,
            require_client_cert: false,
            caps_in_greeting: true,
            login_ok: true,
            mailbox_ok: true,
            messages: Vec::new(),
            hostile: None,
        }
    }
}

pub struct Fake {
    pub port: u16,
    /// Every command line received, in order (TLS or not).
    pub lines: Arc<Mutex<Vec<String>>>,
    /// Bytes of message data the server managed to write (a hostile answer's).
    pub sent: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl Fake {
    /// Serve one connection with `script`, on a free loopback port.
    pub fn start(script: Script) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let rec = lines.clone();
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let handle = std::thread::spawn(move || {
            // A client that never connects (banc refused its arguments) must not hang the test.
            let _ = listener.set_nonblocking(true);
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            let tcp = loop {
                match listener.accept() {
                    Ok((tcp, _)) => break tcp,
                    Err(_) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(_) => return,
                }
            };
            let _ = tcp.set_nonblocking(false);
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
            let _ = serve(tcp, &script, &rec, &counter);
        });
        Fake {
            port,
            lines,
            sent,
            handle: Some(handle),
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The command lines received; waits for the server thread to end (banc has exited, so the
    /// connection is closed).
    pub fn finish(mut self) -> Vec<String> {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.lines.lock().unwrap().clone()
    }
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

fn tls(tcp: TcpStream, pki: &Pki, client_auth: bool) -> std::io::Result<Box<dyn Stream>> {
    let conn = rustls::ServerConnection::new(pki.server_config(client_auth))
        .map_err(std::io::Error::other)?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    // Drive the handshake now, so that a client that refuses our certificate ends it here.
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(Box::new(s))
}

fn read_line(s: &mut dyn Stream) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b)? {
            0 => {
                return Ok(if line.is_empty() {
                    None
                } else {
                    Some(String::from_utf8_lossy(&line).into())
                });
            }
            _ => {
                if b[0] == b'\n' {
                    let text = String::from_utf8_lossy(&line)
                        .trim_end_matches('\r')
                        .to_string();
                    return Ok(Some(text));
                }
                line.push(b[0]);
            }
        }
    }
}

fn serve(
    tcp: TcpStream,
    script: &Script,
    rec: &Mutex<Vec<String>>,
    sent: &AtomicU64,
) -> std::io::Result<()> {
    if script.silent {
        // Hold the connection open, silent, until the client gives up.
        let mut tcp = tcp;
        let mut buf = [0u8; 256];
        while tcp.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
        return Ok(());
    }
    let mut caps = String::from("IMAP4rev1 AUTH=PLAIN");
    if script.starttls.is_some() {
        caps.push_str(" STARTTLS");
    }
    let mut s: Box<dyn Stream> = match &script.implicit_tls {
        Some(pki) => tls(tcp.try_clone()?, pki, script.require_client_cert)?,
        None => Box::new(tcp.try_clone()?),
    };
    if script.caps_in_greeting {
        write!(s, "* OK [CAPABILITY {caps}] fake IMAP ready\r\n")?;
    } else {
        write!(s, "* OK fake IMAP ready\r\n")?;
    }
    s.flush()?;
    while let Some(line) = read_line(s.as_mut())? {
        rec.lock().unwrap().push(line.clone());
        let mut parts = line.splitn(3, ' ');
        let tag = parts.next().unwrap_or("*").to_string();
        let cmd = parts.next().unwrap_or("").to_ascii_uppercase();
        let args = parts.next().unwrap_or("").to_string();
        match cmd.as_str() {
            "CAPABILITY" => write!(s, "* CAPABILITY {caps}\r\n{tag} OK done\r\n")?,
            "STARTTLS" => match &script.starttls {
                Some(pki) => {
                    write!(s, "{tag} OK begin TLS\r\n")?;
                    s.flush()?;
                    s = tls(tcp.try_clone()?, pki, script.require_client_cert)?;
                    continue;
                }
                None => write!(s, "{tag} BAD no STARTTLS here\r\n")?,
            },
            "LOGIN" if script.login_ok => write!(s, "{tag} OK logged in\r\n")?,
            "LOGIN" => write!(
                s,
                "{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
            )?,
            "SELECT" | "EXAMINE" if script.mailbox_ok => write!(
                s,
                "* {} EXISTS\r\n* OK [UIDVALIDITY 42] ok\r\n{tag} OK [READ-ONLY] done\r\n",
                script.messages.len()
            )?,
            "SELECT" | "EXAMINE" => write!(s, "{tag} NO Mailbox doesn't exist: {args}\r\n")?,
            "UID" => uid_command(s.as_mut(), &tag, &args, script, sent)?,
            "LOGOUT" => {
                write!(s, "* BYE bye\r\n{tag} OK done\r\n")?;
                s.flush()?;
                return Ok(());
            }
            _ => write!(s, "{tag} BAD unknown command\r\n")?,
        }
        s.flush()?;
    }
    Ok(())
}

fn uid_command(
    s: &mut dyn Stream,
    tag: &str,
    args: &str,
    script: &Script,
    sent: &AtomicU64,
) -> std::io::Result<()> {
    let mut words = args.splitn(3, ' ');
    let sub = words.next().unwrap_or("").to_ascii_uppercase();
    match sub.as_str() {
        "SEARCH" => {
            let uids: Vec<String> = script.messages.iter().map(|m| m.uid.to_string()).collect();
            write!(s, "* SEARCH {}\r\n{tag} OK done\r\n", uids.join(" "))
        }
        "FETCH" => {
            let set = words.next().unwrap_or("");
            let items = words.next().unwrap_or("").to_ascii_uppercase();
            for (i, m) in script.messages.iter().enumerate() {
                if set.split(',').any(|u| u == m.uid.to_string()) {
                    let seq = i + 1;
                    if items.contains("RFC822.SIZE") {
                        write!(
                            s,
                            "* {seq} FETCH (UID {} RFC822.SIZE {})\r\n",
                            m.uid, m.claimed_size
                        )?;
                    }
                    if let (Some(h), true) = (script.hostile, items.contains("BODY.PEEK[]")) {
                        match h {
                            Hostile::Literal(n) => {
                                write!(s, "* {seq} FETCH (UID {} BODY[]<0> {{{n}}}\r\n", m.uid)?
                            }
                            Hostile::EndlessString => {
                                write!(s, "* {seq} FETCH (UID {} BODY[]<0> \"", m.uid)?
                            }
                        }
                        let chunk = [b'a'; 16 * 1024];
                        while sent.load(Ordering::Relaxed) < Hostile::GIVE_UP {
                            s.write_all(&chunk)?;
                            s.flush()?;
                            sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        }
                        return Ok(());
                    }
                    if let Some(start) = items.find("BODY.PEEK[]<0.") {
                        // Honour the partial fetch: at most N octets.
                        let n: usize = items[start + 14..]
                            .trim_end_matches(|c: char| !c.is_ascii_digit())
                            .split('>')
                            .next()
                            .and_then(|x| x.parse().ok())
                            .unwrap_or(usize::MAX);
                        let body = &m.bytes[..m.bytes.len().min(n)];
                        write!(
                            s,
                            "* {seq} FETCH (UID {} BODY[]<0> {{{}}}\r\n",
                            m.uid,
                            body.len()
                        )?;
                        s.write_all(body)?;
                        write!(s, ")\r\n")?;
                    }
                }
            }
            write!(s, "{tag} OK done\r\n")
        }
        "STORE" => write!(s, "{tag} OK done\r\n"),
        _ => write!(s, "{tag} BAD unknown UID command\r\n"),
    }
}
