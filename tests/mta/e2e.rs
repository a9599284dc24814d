//! End to end through a real mail server no one here wrote: Debian's Postfix and Dovecot,
//! installed if missing (`install.sh`), run as private instances (config, queue, logs and
//! mailboxes under one temporary folder, loopback, high ports) and stopped at the end, also on
//! failure (`Daemons::drop`).
//!
//! a. banc mail send → Postfix → (STARTTLS, verified, client certificate) → banc mail serve.
//! b. banc mail send → Postfix → LMTP → Dovecot ← banc mail fetch (IMAP, STARTTLS and implicit TLS).
//!
//! Runs with `BANC_MTA=1`; `BANC_REQUIRE_MTA=1` makes an install or start failure a failure
//! instead of a skip.

use crate::common::{banc, root, s};

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LAB_DOMAIN: &str = "labo.test.mssante.fr";
const LAB_BOX: &str = "sgl@labo.test.mssante.fr";
const HOSP_DOMAIN: &str = "hopital.test.mssante.fr";
const HOSP_BOX: &str = "bal.recepteur@hopital.test.mssante.fr";
const IMAP_PASSWORD: &str = "Mdp-imap-d'essai 42";
const CDA: &str = "fixtures/cr-bio/valid/tsh.xml";
/// Every wait of the test (port up, delivery, banc serve done) is bounded by this.
const WAIT: Duration = Duration::from_secs(60);

fn env_on(name: &str) -> bool {
    std::env::var(name).as_deref() == Ok("1")
}

/// Not installable or not startable: a skip, unless BANC_REQUIRE_MTA=1.
fn unavailable(why: &str) {
    assert!(!env_on("BANC_REQUIRE_MTA"), "BANC_REQUIRE_MTA=1: {why}");
    eprintln!("skipped: {why}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn wait_port(port: u16, what: &str, logs: &[&Path]) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > WAIT {
            panic!(
                "{what} not listening on 127.0.0.1:{port} after {WAIT:?}\n{}",
                tails(logs)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Poll `cond` every 200 ms for at most WAIT; the logs explain a timeout.
fn wait_for<T>(what: &str, logs: &[&Path], mut cond: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = cond() {
            return v;
        }
        if start.elapsed() > WAIT {
            panic!("timeout after {WAIT:?}: {what}\n{}", tails(logs));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn tails(logs: &[&Path]) -> String {
    let mut out = String::new();
    for p in logs {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(40);
        out.push_str(&format!(
            "--- {} (end)\n{}\n",
            p.display(),
            lines[from..].join("\n")
        ));
    }
    out
}

fn fill(template: &str, vars: &[(&str, String)]) -> String {
    let mut text = std::fs::read_to_string(root().join("tests/mta").join(template))
        .unwrap_or_else(|e| panic!("{template}: {e}"));
    for (k, v) in vars {
        text = text.replace(&format!("@{k}@"), v);
    }
    assert!(!text.contains("@DIR@"), "{template}: placeholder left");
    text
}

fn chown(path: &Path, owner: &str) {
    let ok = Command::new("chown")
        .args(["-R", owner, &s(path)])
        .status()
        .map(|st| st.success())
        .unwrap_or(false);
    assert!(ok, "chown {owner} {}", path.display());
}

/// The private Postfix and Dovecot and banc mail serve: stopped when dropped, even on panic.
#[derive(Default)]
struct Daemons {
    postfix_conf: Option<PathBuf>,
    dovecot_pid: Option<PathBuf>,
    /// Stopped by its own Drop.
    serve: Option<crate::common::Serve>,
}

impl Drop for Daemons {
    fn drop(&mut self) {
        if let Some(conf) = &self.postfix_conf {
            let stopped = Command::new("postfix")
                .args(["-c", &s(conf), "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|st| st.success())
                .unwrap_or(false);
            if !stopped {
                let _ = Command::new("postfix")
                    .args(["-c", &s(conf), "abort"])
                    .status();
            }
        }
        if let Some(pidfile) = &self.dovecot_pid
            && let Ok(pid) = std::fs::read_to_string(pidfile)
        {
            // The master of our own instance only (its pid file is in our base_dir).
            let _ = Command::new("kill").args(["-TERM", pid.trim()]).status();
        }
    }
}

/// Instances left by an earlier run of this test that was killed (no Drop on SIGKILL): their
/// folder names a test process that is gone. Stop them through their own config and pid file.
fn stop_leftovers() {
    let Ok(entries) = std::fs::read_dir("/tmp") else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name.strip_prefix("banc-mta-") else {
            continue;
        };
        if pid.parse::<u32>().is_err() || Path::new("/proc").join(pid).exists() {
            continue;
        }
        let dir = e.path();
        eprintln!("mta: stopping the instances left in {}", dir.display());
        drop(Daemons {
            postfix_conf: Some(dir.join("postfix")).filter(|p| p.join("main.cf").exists()),
            dovecot_pid: Some(dir.join("dovecot-run/master.pid")),
            serve: None,
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}

struct Certs {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

/// `banc mail certs`: the test CA, the server certificate (localhost, 127.0.0.1) used by banc
/// serve, Postfix and Dovecot alike, and the lab's client certificate Postfix presents to banc.
fn certs(dir: &Path) -> Certs {
    let r = crate::common::run(&["mail", "certs", "--out", &s(dir), "--client", LAB_BOX]);
    assert_eq!(r.code, 0, "banc mail certs: {}{}", r.stdout, r.stderr);
    let client = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            // client-<address>.pem; client-expired and client-other-ca are the negatives.
            n.starts_with("client-") && n.ends_with(".pem") && n.contains(LAB_DOMAIN)
        })
        .expect("banc mail certs wrote a client certificate");
    Certs {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_key: client.with_extension("key"),
        client_cert: client,
    }
}

/// `banc mail send` of the CR-BIO fixture to `to` through Postfix: STARTTLS required,
/// Postfix's certificate checked against the test CA. Returns the Message-ID it gave.
fn send(to: &str, smtp_port: u16, certs: &Certs, work: &Path, n: u32) -> String {
    let eml = work.join(format!("sent-{n}.eml"));
    let smtp = format!("127.0.0.1:{smtp_port}");
    let r = crate::common::run(&[
        "mail",
        "send",
        "--from",
        LAB_BOX,
        "--to",
        to,
        "--smtp",
        &smtp,
        "--starttls",
        "required",
        "--ca",
        &s(&certs.ca),
        "--helo",
        "sgl.labo.test",
        "--save",
        &s(&eml),
        CDA,
    ]);
    assert_eq!(r.code, 0, "banc mail send: {}{}", r.stdout, r.stderr);
    let raw = std::fs::read(&eml).unwrap_or_else(|e| panic!("{}: {e}", eml.display()));
    message_id(&raw).unwrap_or_else(|| panic!("no Message-ID in {}", eml.display()))
}

fn message_id(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next()?;
    head.lines()
        .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
        .map(|l| l["message-id:".len()..].trim().to_string())
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// `banc mail serve` for the lab's domain: STARTTLS with the test server certificate, client
/// certificate required, exits after one message. Returns its port once it listens.
fn serve(d: &mut Daemons, spool: &Path, certs: &Certs) -> u16 {
    let serve = crate::common::serve(
        spool,
        &[
            "--hostname",
            "banc.labo.test",
            "--tls-cert",
            &s(&certs.server_cert),
            "--tls-key",
            &s(&certs.server_key),
            "--client-ca",
            &s(&certs.ca),
            "--require-client-cert",
            "--mailbox-with-cert",
            LAB_BOX,
            "--max-messages",
            "1",
        ],
    );
    let port = serve.port;
    d.serve = Some(serve);
    port
}

/// path: profile verdict [rules at warning or above], one line per report: a short failure text.
fn summary(docs: &[serde_json::Value]) -> String {
    docs.iter()
        .map(|d| {
            let rules: Vec<&str> = d["findings"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .filter(|x| x["severity"] != "info")
                        .filter_map(|x| x["rule"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "\n  {}: {} {} {rules:?}",
                d["path"], d["profile"], d["verdict"]
            )
        })
        .collect()
}

fn lap(what: &str, since: &mut Instant) {
    eprintln!("mta: {what}: {:.1} s", since.elapsed().as_secs_f64());
    *since = Instant::now();
}

#[test]
fn postfix_relays_into_banc_and_dovecot_serves_banc_fetch() {
    if !env_on("BANC_MTA") {
        eprintln!("skipped: set BANC_MTA=1 (installs and runs Postfix and Dovecot)");
        return;
    }
    let mut t = Instant::now();
    let install = Command::new("sh")
        .arg(root().join("tests/mta/install.sh"))
        .output();
    match install {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return unavailable(&format!(
                "tests/mta/install.sh failed: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        Err(e) => return unavailable(&format!("sh tests/mta/install.sh: {e}")),
    }
    lap("install (or check) of postfix and dovecot", &mut t);

    // Short, world-traversable path: Dovecot's unix sockets live under it and the postfix,
    // dovecot and mail users must reach their files.
    stop_leftovers();
    let dir = PathBuf::from(format!("/tmp/banc-mta-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let certs = certs(&dir.join("certs"));
    let mut d = Daemons::default();

    // banc mail serve first: Postfix's transport map needs its port.
    let spool = dir.join("spool");
    let banc_port = serve(&mut d, &spool, &certs);

    // Dovecot: IMAP (STARTTLS and implicit TLS) and LMTP for the hospital's mailbox.
    let (imap, imaps, lmtp, smtp) = (free_port(), free_port(), free_port(), free_port());
    let dv = dir.join("dovecot");
    let mail = dir.join("mail");
    std::fs::create_dir_all(&dv).unwrap();
    std::fs::create_dir_all(&mail).unwrap();
    chown(&mail, "mail:mail");
    let vars = vec![
        ("DIR", s(&dir)),
        ("INSTANCE", std::process::id().to_string()),
        ("RELAY_DOMAIN", LAB_DOMAIN.to_string()),
        ("VIRTUAL_DOMAIN", HOSP_DOMAIN.to_string()),
        ("SMTP_PORT", smtp.to_string()),
        ("LMTP_PORT", lmtp.to_string()),
        ("IMAP_PORT", imap.to_string()),
        ("IMAPS_PORT", imaps.to_string()),
        ("SERVER_CERT", s(&certs.server_cert)),
        ("SERVER_KEY", s(&certs.server_key)),
        ("CA", s(&certs.ca)),
        ("CLIENT_CERT", s(&certs.client_cert)),
        ("CLIENT_KEY", s(&certs.client_key)),
    ];
    let dv_conf = dv.join("dovecot.conf");
    std::fs::write(&dv_conf, fill("dovecot.conf.in", &vars)).unwrap();
    // passwd-file: user:{PLAIN}password:uid:gid::home (uid/gid of Debian's "mail" user).
    std::fs::write(
        dv.join("users"),
        format!("{HOSP_BOX}:{{PLAIN}}{IMAP_PASSWORD}:8:8::{}::\n", s(&mail)),
    )
    .unwrap();

    // Postfix: config in postfix/, queue and data beside it (postfix-script wants them apart).
    let pf = dir.join("postfix");
    let (queue, data) = (dir.join("postfix-queue"), dir.join("postfix-data"));
    for p in [&pf, &queue, &data] {
        std::fs::create_dir_all(p).unwrap();
    }
    chown(&data, "postfix");
    std::fs::write(pf.join("main.cf"), fill("main.cf.in", &vars)).unwrap();
    std::fs::write(pf.join("master.cf"), fill("master.cf.in", &vars)).unwrap();
    // [localhost]: no MX lookup, and the name banc's certificate carries (verified TLS).
    std::fs::write(
        pf.join("transport"),
        format!("{LAB_DOMAIN} smtp:[localhost]:{banc_port}\n"),
    )
    .unwrap();
    std::fs::write(pf.join("vmailbox"), format!("{HOSP_BOX} OK\n")).unwrap();
    let maillog = dir.join("postfix.log");
    let dovelog = dir.join("dovecot.log");
    let logs = [maillog.as_path(), dovelog.as_path()];

    // The daemons inherit stdout/stderr: a file, not a pipe, or `output()` would wait on them.
    let start_log = dir.join("start.log");
    let daemon = |cmd: &mut Command| {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&start_log)
            .unwrap();
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .status()
    };
    match daemon(Command::new("dovecot").args(["-c", &s(&dv_conf)])) {
        Ok(st) if st.success() => d.dovecot_pid = Some(dir.join("dovecot-run/master.pid")),
        Ok(st) => {
            return unavailable(&format!(
                "dovecot did not start ({st})\n{}",
                tails(&[&start_log, &dovelog])
            ));
        }
        Err(e) => return unavailable(&format!("dovecot: {e}")),
    }
    d.postfix_conf = Some(pf.clone());
    match daemon(Command::new("postfix").args(["-c", &s(&pf), "start"])) {
        Ok(st) if st.success() => {}
        Ok(st) => {
            return unavailable(&format!(
                "postfix did not start ({st})\n{}",
                tails(&[&start_log, &maillog])
            ));
        }
        Err(e) => return unavailable(&format!("postfix: {e}")),
    }
    wait_port(smtp, "postfix smtpd", &logs);
    wait_port(imap, "dovecot imap", &logs);
    wait_port(imaps, "dovecot imaps", &logs);
    wait_port(lmtp, "dovecot lmtp", &logs);
    lap("start of postfix, dovecot and banc mail serve", &mut t);

    flow_a(&dir, smtp, &certs, &mut d, &spool, &logs);
    lap("flow a (banc send → postfix → banc serve)", &mut t);
    flow_b(&dir, smtp, imap, imaps, &certs, &mail, &logs);
    lap(
        "flow b (banc send → postfix → dovecot → banc fetch)",
        &mut t,
    );

    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
    lap("stop", &mut t);
}

/// a. banc mail send → Postfix → banc mail serve, Postfix relaying with verified STARTTLS and
/// the lab's client certificate.
fn flow_a(dir: &Path, smtp: u16, certs: &Certs, d: &mut Daemons, spool: &Path, logs: &[&Path]) {
    let id = send(LAB_BOX, smtp, certs, dir, 1);
    let msg_dir = spool.join("msg");
    let report = wait_for("banc mail serve wrote the message's report", logs, || {
        std::fs::read_dir(&msg_dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.to_string_lossy().ends_with(".report.json"))
    });
    // --max-messages 1: banc serve exits by itself once the message is stored and analysed.
    let status = wait_for("banc mail serve exited after one message", logs, || {
        d.serve
            .as_mut()
            .and_then(|c| c.child.try_wait().ok().flatten())
    });
    assert!(status.success(), "banc mail serve exit status {status}");

    let name = report.file_name().unwrap().to_string_lossy().to_string();
    let eml = msg_dir.join(name.replace(".report.json", ".eml"));
    let raw = std::fs::read(&eml).unwrap_or_else(|e| panic!("{}: {e}", eml.display()));
    assert!(
        contains(&raw, &id),
        "Message-ID {id} not in {}",
        eml.display()
    );
    // Postfix's own trace header: the message really went through Postfix.
    assert!(
        contains(&raw, "by mta.banc.test (Postfix) with ESMTPS"),
        "no Received header from Postfix (over TLS) in {}",
        eml.display()
    );
    let log = std::fs::read_to_string(logs[0]).unwrap_or_default();
    assert!(
        log.contains("Verified TLS connection established to localhost[127.0.0.1]"),
        "Postfix did not verify banc's certificate:\n{}",
        tails(&logs[..1])
    );
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).expect("report is JSON");
    let docs = v["documents"].as_array().expect("documents");
    let brief = summary(docs);
    // The session's report: TLS, and the client certificate Postfix presented, verified.
    let session = docs
        .iter()
        .find(|doc| doc["profile"] == "smtp-session")
        .unwrap_or_else(|| panic!("no transport report: {brief}"));
    let rules: Vec<&str> = session["findings"]
        .as_array()
        .map(|f| f.iter().filter_map(|x| x["rule"].as_str()).collect())
        .unwrap_or_default();
    assert!(rules.contains(&"transport.tls.session"), "{rules:?}");
    assert!(
        rules.contains(&"transport.tls.client-cert"),
        "mutual TLS: {rules:?}"
    );
    assert!(
        docs.iter()
            .any(|doc| doc["profile"] == "mssante-message" && doc["verdict"] == "pass"),
        "{brief}"
    );
    let cda = docs
        .iter()
        .find(|doc| {
            let p = doc["path"].as_str().unwrap_or("");
            p.contains("!IHE_XDM.zip!") && p.to_ascii_uppercase().ends_with(".XML")
        })
        .unwrap_or_else(|| panic!("no CDA report in {}: {brief}", report.display()));
    assert_eq!(cda["verdict"], "pass", "{brief}");
    assert_eq!(v["summary"]["fail"], 0, "{brief}");
    assert_eq!(v["summary"]["error"], 0, "{brief}");
}

/// b. banc mail send → Postfix → LMTP → Dovecot, then banc mail fetch over IMAP.
fn flow_b(
    dir: &Path,
    smtp: u16,
    imap: u16,
    imaps: u16,
    certs: &Certs,
    mail: &Path,
    logs: &[&Path],
) {
    let id = send(HOSP_BOX, smtp, certs, dir, 2);
    let new = mail.join(HOSP_DOMAIN).join("bal.recepteur").join("new");
    wait_for("Dovecot stored the message (Maildir new/)", logs, || {
        std::fs::read_dir(&new)
            .ok()?
            .filter_map(|e| e.ok())
            .any(|e| std::fs::read(e.path()).is_ok_and(|b| contains(&b, &id)))
            .then_some(())
    });

    let out = dir.join("fetched");
    let fetch = |port: u16, extra: &[&str]| {
        let imap_addr = format!("127.0.0.1:{port}");
        let mut args = vec![
            "mail",
            "fetch",
            "--imap",
            &imap_addr,
            "--ca",
            certs.ca.to_str().unwrap(),
            "--user",
            HOSP_BOX,
            "--password-env",
            "BANC_MTA_IMAP_PASSWORD",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let o = banc()
            .args(&args)
            .env("BANC_MTA_IMAP_PASSWORD", IMAP_PASSWORD)
            .output()
            .expect("banc runs");
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "banc mail fetch {extra:?}: no JSON ({e}): {stdout}{}",
                String::from_utf8_lossy(&o.stderr)
            )
        });
        (o.status.code().unwrap_or(-1), v)
    };

    // STARTTLS on the IMAP port, read-only, saved to disk.
    let (code, v) = fetch(imap, &["--out", &s(&out)]);
    let docs = v["documents"].as_array().expect("documents");
    let brief = summary(docs);
    assert_eq!(
        docs[0]["path"],
        format!("imap://bal.recepteur%40hopital.test.mssante.fr@127.0.0.1:{imap}/INBOX/;UID=1"),
        "{brief}"
    );
    assert_eq!(docs[0]["profile"], "mssante-message", "{brief}");
    assert!(
        docs.iter().any(|doc| doc["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("!IHE_XDM.zip"))),
        "no package report: {brief}"
    );
    let cda = docs
        .iter()
        .find(|doc| {
            let p = doc["path"].as_str().unwrap_or("");
            p.contains("!IHE_XDM.zip!") && p.to_ascii_uppercase().ends_with(".XML")
        })
        .unwrap_or_else(|| panic!("no CDA report: {brief}"));
    assert_eq!(cda["verdict"], "pass", "{brief}");
    // A conforming message from banc mail send: every report passes, exit 0.
    assert_eq!(v["summary"]["fail"], 0, "{brief}");
    assert_eq!(v["summary"]["error"], 0, "{brief}");
    assert_eq!(code, 0, "{brief}");
    let raw = std::fs::read(out.join("1.eml")).expect("--out wrote 1.eml");
    assert!(
        contains(&raw, &id),
        "Message-ID {id} not in the fetched message"
    );
    assert!(
        contains(&raw, "(Postfix) with ESMTPS"),
        "no Received from Postfix"
    );
    assert!(
        contains(&raw, "with LMTP"),
        "no Received from Dovecot's LMTP"
    );

    // Implicit TLS port: unseen until --mark-seen, then no longer.
    let implicit = ["--tls", "implicit", "--unseen"];
    let (_, v) = fetch(imaps, &implicit);
    assert_eq!(
        v["summary"]["documents"].as_u64().map(|n| n > 0),
        Some(true),
        "{}",
        v["summary"]
    );
    let (_, v) = fetch(imaps, &[&implicit[..], &["--mark-seen"]].concat());
    assert!(
        v["summary"]["documents"].as_u64().unwrap_or(0) > 0,
        "{}",
        v["summary"]
    );
    let (code, v) = fetch(imaps, &implicit);
    assert_eq!(
        v["summary"]["documents"], 0,
        "--mark-seen left the message unseen: {}",
        v["summary"]
    );
    assert_eq!(code, 0);
}
