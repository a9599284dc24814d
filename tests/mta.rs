//! `banc mail fetch` against a scripted IMAP server (error paths: always run), and the
//! end-to-end test through Debian's Postfix and Dovecot (`mta/e2e.rs`, with `BANC_MTA=1`).

mod common;
#[path = "mta/e2e.rs"]
mod e2e;
#[path = "mta/fake_imap.rs"]
mod fake_imap;

use common::{banc, s, tempdir};
use fake_imap::{Fake, Hostile, Message, Pki, Script};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USER: &str = "bal.recepteur@hopital.test.mssante.fr";

struct Fetched {
    code: i32,
    stdout: String,
    stderr: String,
    lines: Vec<String>,
    took: Duration,
    port: u16,
    /// Bytes of a hostile answer the fake server wrote before banc hung up.
    sent: u64,
    /// banc's peak resident memory, in KiB (`getrusage` of the child).
    peak_kib: i64,
}

/// `banc mail fetch --imap <fake> --user USER --password-env BANC_TEST_PW EXTRA...`.
fn fetch(fake: Fake, extra: &[&str]) -> Fetched {
    let start = Instant::now();
    let addr = fake.addr();
    let port = fake.port;
    let mut args = vec![
        "mail",
        "fetch",
        "--imap",
        &addr,
        "--user",
        USER,
        "--password-env",
        "BANC_TEST_PW",
    ];
    if !extra.contains(&"--timeout") {
        args.extend_from_slice(&["--timeout", "5"]);
    }
    args.extend_from_slice(extra);
    // Reaped by wait4 below (which also gives its peak memory), not by Child::wait.
    #[allow(clippy::zombie_processes)]
    let mut child = banc()
        .args(&args)
        .env("BANC_TEST_PW", "mot de passe \"secret\"")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("banc runs");
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    // wait4, not Child::wait: it also gives the child's peak memory.
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our own unreaped child; both pointers are to live locals.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4");
    let took = start.elapsed();
    let sent = fake.sent.clone();
    let lines = fake.finish();
    Fetched {
        code: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        lines,
        took,
        port,
        sent: sent.load(std::sync::atomic::Ordering::Relaxed),
        peak_kib: usage.ru_maxrss,
    }
}

fn sent_login(lines: &[String]) -> bool {
    lines
        .iter()
        .any(|l| l.to_ascii_uppercase().contains(" LOGIN "))
}

fn pki_files(dir: &std::path::Path, pki: &Pki) -> String {
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    s(&ca)
}

#[test]
fn fetch_refuses_a_server_without_starttls_before_any_login() {
    let r = fetch(Fake::start(Script::default()), &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("n'offre pas STARTTLS"), "{}", r.stderr);
    assert!(r.stderr.contains("--tls implicit"), "{}", r.stderr);
    assert!(
        !sent_login(&r.lines),
        "LOGIN sent in clear text: {:?}",
        r.lines
    );
}

#[test]
fn fetch_asks_capability_when_the_greeting_does_not_list_it() {
    let script = Script {
        caps_in_greeting: false,
        ..Script::default()
    };
    let r = fetch(Fake::start(script), &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("n'offre pas STARTTLS"), "{}", r.stderr);
    assert!(
        r.lines.iter().any(|l| l.ends_with(" CAPABILITY")),
        "{:?}",
        r.lines
    );
    assert!(!sent_login(&r.lines), "{:?}", r.lines);
}

#[test]
fn fetch_gives_up_on_a_silent_server_within_its_timeout() {
    let script = Script {
        silent: true,
        ..Script::default()
    };
    let r = fetch(Fake::start(script), &["--timeout", "2"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("délai dépassé (2 s)"), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(20), "took {:?}", r.took);
}

#[test]
fn fetch_reports_a_refused_password_after_starttls() {
    let dir = tempdir("fetch-login");
    let pki = Arc::new(Pki::new("banc test CA"));
    let ca = pki_files(&dir, &pki);
    let script = Script {
        starttls: Some(pki),
        login_ok: false,
        ..Script::default()
    };
    let r = fetch(Fake::start(script), &["--ca", &ca]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("identifiant ou mot de passe incorrect")
            && r.stderr
                .contains("[AUTHENTICATIONFAILED] Authentication failed."),
        "{}",
        r.stderr
    );
    let starttls = r.lines.iter().position(|l| l.ends_with(" STARTTLS"));
    let login = r.lines.iter().position(|l| l.contains(" LOGIN "));
    assert!(
        matches!((starttls, login), (Some(a), Some(b)) if a < b),
        "LOGIN must follow STARTTLS: {:?}",
        r.lines
    );
    // The password went (inside TLS) quoted as an IMAP string.
    assert!(
        r.lines
            .iter()
            .any(|l| l.contains(r#""mot de passe \"secret\"""#)),
        "{:?}",
        r.lines
    );
}

#[test]
fn fetch_names_an_untrusted_server_certificate() {
    let dir = tempdir("fetch-untrusted");
    let other = Pki::new("another CA");
    let ca = pki_files(&dir, &other);
    let script = Script {
        implicit_tls: Some(Arc::new(Pki::new("banc test CA"))),
        ..Script::default()
    };
    let r = fetch(Fake::start(script), &["--tls", "implicit", "--ca", &ca]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("échec TLS"), "{}", r.stderr);
    assert!(r.stderr.contains("autorité de confiance"), "{}", r.stderr);
    assert!(r.lines.is_empty(), "{:?}", r.lines);
}

#[test]
fn fetch_presents_a_client_certificate_and_names_its_absence() {
    let dir = tempdir("fetch-mtls");
    let pki = Arc::new(Pki::new("banc test CA"));
    let ca = pki_files(&dir, &pki);
    let (cert, key) = (dir.join("client.pem"), dir.join("client.key"));
    std::fs::write(&cert, &pki.client_cert_pem).unwrap();
    std::fs::write(&key, &pki.client_key_pem).unwrap();
    let script = Script {
        implicit_tls: Some(pki),
        require_client_cert: true,
        ..Script::default()
    };
    let r = fetch(
        Fake::start(script.clone()),
        &["--tls", "implicit", "--ca", &ca],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("refusé le certificat client"),
        "{}",
        r.stderr
    );
    assert!(!sent_login(&r.lines), "{:?}", r.lines);

    let r = fetch(
        Fake::start(script),
        &[
            "--tls",
            "implicit",
            "--ca",
            &ca,
            "--cert",
            &s(&cert),
            "--key",
            &s(&key),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(sent_login(&r.lines), "{:?}", r.lines);
}

#[test]
fn fetch_reports_a_missing_mailbox() {
    let dir = tempdir("fetch-mailbox");
    let r = fetch_tls(
        &dir,
        Script {
            mailbox_ok: false,
            ..Script::default()
        },
        &["--mailbox", "Archives"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("boîte « Archives » introuvable")
            && r.stderr.contains("Mailbox doesn't exist"),
        "{}",
        r.stderr
    );
}

fn message(uid: u32, body_len: usize, claimed: usize) -> Message {
    let mut bytes = format!(
        "From: <sgl@labo.test.mssante.fr>\r\nTo: <{USER}>\r\nMessage-ID: <fake-{uid}@labo.test.mssante.fr>\r\nSubject: test\r\n\r\n"
    )
    .into_bytes();
    bytes.resize(body_len.max(bytes.len()), b'x');
    Message {
        uid,
        bytes,
        claimed_size: claimed,
    }
}

/// `fetch` over implicit TLS from a fake server whose certificate comes from a fresh test CA
/// (given with `--ca`); `script` sets the rest of the server's behaviour.
fn fetch_tls(dir: &std::path::Path, script: Script, extra: &[&str]) -> Fetched {
    let pki = Arc::new(Pki::new("banc test CA"));
    let ca = pki_files(dir, &pki);
    let script = Script {
        implicit_tls: Some(pki),
        ..script
    };
    let mut args = vec!["--tls", "implicit", "--ca", &ca];
    args.extend_from_slice(extra);
    fetch(Fake::start(script), &args)
}

fn json(r: &Fetched) -> serde_json::Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("JSON on stdout ({e}): {}\n{}", r.stdout, r.stderr))
}

#[test]
fn fetch_does_not_download_a_message_over_the_size_limit() {
    let dir = tempdir("fetch-big");
    let r = fetch_tls(
        &dir,
        Script {
            messages: vec![message(7, 5000, 5000)],
            ..Script::default()
        },
        &["--max-size", "1000", "--format", "json"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = json(&r);
    let doc = &v["documents"][0];
    assert_eq!(doc["verdict"], "fail");
    assert!(
        doc["path"].as_str().unwrap().ends_with("/INBOX/;UID=7"),
        "{doc}"
    );
    assert_eq!(doc["findings"][0]["rule"], "transport.imap.too-large");
    assert!(
        doc["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("5000 octets"),
        "{doc}"
    );
    assert!(
        !r.lines.iter().any(|l| l.contains("BODY")),
        "a message over the limit was downloaded: {:?}",
        r.lines
    );
}

#[test]
fn fetch_bounds_a_message_whose_announced_size_lied() {
    let dir = tempdir("fetch-liar");
    let r = fetch_tls(
        &dir,
        Script {
            messages: vec![message(3, 3000, 10)],
            ..Script::default()
        },
        &["--max-size", "1000", "--format", "json"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(
        v["documents"][0]["findings"][0]["rule"],
        "transport.imap.too-large"
    );
    // Only the limit plus one octet was asked for.
    assert!(
        r.lines.iter().any(|l| l.contains("BODY.PEEK[]<0.1001>")),
        "{:?}",
        r.lines
    );
}

#[test]
fn fetch_reads_read_only_saves_the_bytes_and_marks_seen_only_when_asked() {
    let dir = tempdir("fetch-ok");
    let pki = Arc::new(Pki::new("banc test CA"));
    let ca = pki_files(&dir, &pki);
    let msgs = vec![message(4, 300, 300), message(9, 400, 400)];
    let script = Script {
        implicit_tls: Some(pki),
        messages: msgs.clone(),
        ..Script::default()
    };
    let out = dir.join("eml");
    let r = fetch(
        Fake::start(script.clone()),
        &[
            "--tls",
            "implicit",
            "--ca",
            &ca,
            "--out",
            &s(&out),
            "--format",
            "json",
            "--limit",
            "1",
        ],
    );
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    // --limit 1: the most recent message only, saved byte for byte.
    assert_eq!(std::fs::read(out.join("9.eml")).unwrap(), msgs[1].bytes);
    assert!(!out.join("4.eml").exists());
    let v = json(&r);
    let doc = &v["documents"][0];
    assert_eq!(doc["profile"], "mssante-message");
    assert_eq!(
        doc["path"],
        format!(
            "imap://bal.recepteur%40hopital.test.mssante.fr@127.0.0.1:{}/INBOX/;UID=9",
            r.port
        )
    );
    let up: Vec<String> = r.lines.iter().map(|l| l.to_ascii_uppercase()).collect();
    assert!(up.iter().any(|l| l.contains(" EXAMINE ")), "{:?}", r.lines);
    assert!(
        !up.iter()
            .any(|l| l.contains(" SELECT ") || l.contains("STORE")),
        "{:?}",
        r.lines
    );
    assert!(
        up.iter().any(|l| l.contains("BODY.PEEK[]")),
        "{:?}",
        r.lines
    );
    assert!(
        !up.iter()
            .any(|l| l.contains("RFC822)") || l.contains(" BODY[]")),
        "{:?}",
        r.lines
    );

    let r = fetch(
        Fake::start(script),
        &[
            "--tls",
            "implicit",
            "--ca",
            &ca,
            "--mark-seen",
            "--format",
            "json",
            "--junit",
            &s(&dir.join("junit.xml")),
            "--html",
            &s(&dir.join("report.html")),
        ],
    );
    assert_eq!(json(&r)["summary"]["documents"], 2, "{}", r.stderr);
    // The same report files as banc validate's, one test suite per message.
    let junit = std::fs::read_to_string(dir.join("junit.xml")).expect("--junit written");
    assert_eq!(junit.matches("<testsuite ").count(), 2, "{junit}");
    assert!(junit.contains("UID=9"), "{junit}");
    let html = std::fs::read_to_string(dir.join("report.html")).expect("--html written");
    assert!(html.contains("UID=4"));
    let up: Vec<String> = r.lines.iter().map(|l| l.to_ascii_uppercase()).collect();
    assert!(up.iter().any(|l| l.contains(" SELECT ")), "{:?}", r.lines);
    assert!(
        r.lines
            .iter()
            .any(|l| l.ends_with("UID STORE 4,9 +FLAGS.SILENT (\\Seen)")),
        "{:?}",
        r.lines
    );
}

#[test]
fn fetch_needs_a_password_source_and_never_takes_it_on_the_command_line() {
    let r = common::run(&["mail", "fetch", "--imap", "127.0.0.1:1", "--user", USER]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--password-env"), "{}", r.stderr);
    let r = common::run(&[
        "mail",
        "fetch",
        "--imap",
        "127.0.0.1:1",
        "--user",
        USER,
        "--password-env",
        "BANC_NO_SUCH_VAR",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("BANC_NO_SUCH_VAR n'est pas définie"),
        "{}",
        r.stderr
    );
}

/// A hostile server announces a literal of 500 MB when 1,001 octets were asked for, and starts
/// sending it: banc refuses the announcement before reading its bytes or making room for them.
#[test]
fn fetch_refuses_a_literal_longer_than_asked_for_before_reading_it() {
    let dir = tempdir("fetch-literal");
    let r = fetch_tls(
        &dir,
        Script {
            messages: vec![message(3, 10, 10)],
            hostile: Some(Hostile::Literal(500_000_000)),
            ..Script::default()
        },
        &["--max-size", "1000", "--timeout", "120"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "littéral IMAP annoncé de 500000000 octets, au-delà des 1001 octets demandés"
        ),
        "{}",
        r.stderr
    );
    // What the server wrote is what the sockets held when banc hung up, not the 500 MB.
    assert!(r.sent < 16 << 20, "the server wrote {} bytes", r.sent);
    assert!(r.peak_kib < 150 << 10, "banc peaked at {} KiB", r.peak_kib);
}

/// A hostile server answers the body fetch with a string that never ends: banc stops reading at
/// the bound of one answer (`--max-size` + 1 MiB), not at async-imap's 512 MiB or a timeout.
#[test]
fn fetch_stops_reading_an_endless_answer_at_its_bound() {
    let dir = tempdir("fetch-endless");
    let r = fetch_tls(
        &dir,
        Script {
            messages: vec![message(3, 10, 10)],
            hostile: Some(Hostile::EndlessString),
            ..Script::default()
        },
        &["--max-size", "1000", "--timeout", "120"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("plus de 1049577 octets reçus en réponse à une seule commande"),
        "{}",
        r.stderr
    );
    assert!(r.sent < 16 << 20, "the server wrote {} bytes", r.sent);
    assert!(r.peak_kib < 150 << 10, "banc peaked at {} KiB", r.peak_kib);
}
