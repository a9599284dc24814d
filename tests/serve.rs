//! `banc serve` as its users meet it: the binary on 127.0.0.1:0, spoken to over plain HTTP/1.1
//! (a small client below, so every header and byte sent is the test's). Uploads answer 201 with
//! a permalink; without its secret, 404; verdicts equal `banc validate --format json`; results
//! survive a SIGKILL right after their 201 and expire; limits (size, rate, cross-site posts)
//! hold; hostile text stays text.

mod common;

use common::http::{Resp, parse, request};
use common::{banc, root, s, tempdir};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A running `banc serve` and its data folder.
struct Server {
    srv: common::serve::Server,
    data: PathBuf,
}

impl std::ops::Deref for Server {
    type Target = common::serve::Server;
    fn deref(&self) -> &Self::Target {
        &self.srv
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.srv
    }
}

/// Start `banc serve` on a free port with `data` and `args`; wait for its address line.
fn start(data: &Path, args: &[&str]) -> Server {
    let mut all = vec!["--data".to_string(), s(data)];
    all.extend(args.iter().map(|a| a.to_string()));
    Server {
        srv: common::serve::start(&all, 1),
        data: data.to_path_buf(),
    }
}

fn get(addr: &str, path: &str) -> Resp {
    request(addr, "GET", path, &[], b"")
}

const BOUNDARY: &str = "banc-test-frontiere-7f3a";

/// A multipart/form-data body with one `file` part per (name, bytes).
fn multipart(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, bytes) in files {
        b.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(bytes);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    b
}

fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// `POST /api/validations` with these files (multipart).
fn upload(addr: &str, files: &[(&str, &[u8])]) -> Resp {
    let ct = multipart_type();
    request(
        addr,
        "POST",
        "/api/validations",
        &[("Content-Type", &ct)],
        &multipart(files),
    )
}

/// The permalink of a 201, checked for its form: `/v/<16 hex>/<43 base64url>`.
fn permalink(r: &Resp) -> String {
    assert_eq!(r.status, 201, "{}", r.text());
    let loc = r.header("location").expect("Location").to_string();
    let parts: Vec<&str> = loc.split('/').collect();
    assert_eq!(parts.len(), 4, "{loc}");
    assert_eq!(parts[1], "v");
    assert!(parts[2].len() == 16 && parts[2].bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(
        parts[3].len() >= 43
            && parts[3]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "secret of at least 256 bits in base64url: {loc}"
    );
    loc
}

fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The JSON with every `duration_ms` set to 0 (the one field two runs never share).
fn zero_durations(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if k == "duration_ms" {
                        *x = Value::from(0);
                    } else {
                        walk(x);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

/// `banc validate --format json NAMES` run in `dir` (paths as the names, like the uploads).
fn cli_json(dir: &Path, names: &[&str], extra: &[&str]) -> Value {
    let out = banc()
        .current_dir(dir)
        .args(["validate", "--format", "json"])
        .args(extra)
        .args(names)
        .output()
        .expect("banc validate");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "banc validate JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Security headers every answer carries.
fn assert_guarded(r: &Resp) {
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let csp = r.header("content-security-policy").expect("CSP");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
}

#[test]
fn an_upload_answers_201_and_its_permalink_needs_its_secret() {
    let data = tempdir("serve-permalink");
    let srv = start(&data.join("data"), &[]);
    let doc = read(&fixture("cr-bio/valid/tsh.xml"));
    let r = upload(&srv.addr, &[("tsh.xml", &doc)]);
    let loc = permalink(&r);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_guarded(&r);
    let json = r.json();
    assert_eq!(json["schema"], "banc.validate/1");
    assert_eq!(json["documents"][0]["path"], "tsh.xml");
    assert_eq!(json["documents"][0]["verdict"], "pass");

    // The page: the report with its links; strict CSP with the page's own hashes.
    let page = get(&srv.addr, &loc);
    assert_eq!(page.status, 200);
    assert_guarded(&page);
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("style-src 'sha256-") && csp.contains("script-src 'sha256-"));
    assert!(csp.contains("form-action 'self'"), "{csp}");
    let html = page.text();
    assert!(html.contains("banc — rapport de validation") && html.contains("tsh.xml"));
    for link in ["report.json", "report.xml", "report.html", "files/0"] {
        assert!(html.contains(&format!("href=\"{loc}/{link}\"")), "{link}");
    }
    assert!(!html.contains("/svrl/"), "no SVRL without a kit");

    // Without the secret, with a wrong one, a truncated one, another id: the same 404.
    let (id_path, secret) = loc.rsplit_once('/').unwrap();
    let mut wrong = secret.to_string();
    let last = if secret.ends_with('A') { "B" } else { "A" };
    wrong.replace_range(secret.len() - 1.., last);
    for miss in [
        id_path.to_string(),
        format!("{id_path}/"),
        format!("{id_path}/{wrong}"),
        format!("{id_path}/{}", &secret[..secret.len() - 1]),
        format!("{id_path}/{wrong}/report.json"),
        format!("{id_path}/{wrong}/files/0"),
        format!("/v/0000000000000000/{secret}"),
        "/v".to_string(),
        format!("{loc}/files/1"),
        format!("{loc}/svrl/0"),
        format!("{loc}/files/x"),
    ] {
        let r = get(&srv.addr, &miss);
        assert_eq!(r.status, 404, "{miss}");
        assert!(!r.text().contains("tsh.xml"), "{miss}");
    }

    // Downloads: attachments, the JSON as answered, the original byte for byte, valid JUnit.
    let j = get(&srv.addr, &format!("{loc}/report.json"));
    assert_eq!(j.status, 200);
    assert_eq!(j.body, r.body);
    assert!(
        j.header("content-disposition")
            .unwrap()
            .starts_with("attachment; filename=\"banc-")
    );
    let f = get(&srv.addr, &format!("{loc}/files/0"));
    assert_eq!(f.body, doc);
    assert_eq!(
        f.header("content-disposition"),
        Some("attachment; filename=\"tsh.xml\"; filename*=UTF-8''tsh.xml")
    );
    assert_eq!(f.header("content-type"), Some("application/octet-stream"));
    assert!(
        f.header("content-security-policy")
            .unwrap()
            .contains("sandbox")
    );
    let x = get(&srv.addr, &format!("{loc}/report.xml"));
    common::assert_junit_valid(&x.body);
    let h = get(&srv.addr, &format!("{loc}/report.html"));
    assert!(h.text().starts_with("<!DOCTYPE html>") && !h.text().contains("nav class=\"liens\""));

    // The secret is nowhere on disk, nor in the log; the log has one line per request.
    for e in walkdir::WalkDir::new(&srv.data).into_iter().flatten() {
        if e.file_type().is_file() {
            let text = read(e.path());
            assert!(
                !text.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "secret in {}",
                e.path().display()
            );
        }
    }
    let log = srv.log.lock().unwrap().join("\n");
    assert!(!log.contains(secret), "secret in the log:\n{log}");
    assert!(
        log.contains("requête method=POST path=/api/validations status=201"),
        "{log}"
    );
    assert!(
        log.contains("path=/v/") && log.contains("/… status=200"),
        "{log}"
    );
}

#[test]
fn verdicts_equal_banc_validate_on_the_fixtures() {
    let dir = tempdir("serve-parity");
    let names = [
        ("tsh.xml", fixture("cr-bio/valid/tsh.xml")),
        ("nfs-crp.xml", fixture("cr-bio/valid/nfs-crp.xml")),
        (
            "act-status-wrong.xml",
            fixture("cr-bio/invalid/act-status-wrong.xml"),
        ),
        ("ins-bad-key.xml", fixture("cr-bio/invalid/ins-bad-key.xml")),
        ("doctype-xxe.xml", fixture("cr-bio/invalid/doctype-xxe.xml")),
        (
            "glycemie-ionogramme.eml",
            fixture("mail/valid/glycemie-ionogramme.eml"),
        ),
        (
            "not-a-message.eml",
            fixture("mail/handmade/not-a-message.eml"),
        ),
    ];
    for (name, src) in &names {
        std::fs::copy(src, dir.join(name)).unwrap();
    }
    // An IHE_XDM package, as `banc xdm pack` makes it.
    let r = common::run(&[
        "xdm",
        "pack",
        "--submission-time",
        "20260122093000",
        "--sender",
        "Laboratoire Bioval, cr-bio@bioval.test.mssante.fr",
        "-o",
        &s(&dir.join("IHE_XDM.zip")),
        &s(&fixture("cr-bio/valid/tsh.xml")),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut all: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
    all.push("IHE_XDM.zip");

    let srv = start(&dir.join("data"), &["--uploads-per-minute", "0"]);
    // One file at a time, as a raw body named by `?name=`...
    for name in &all {
        let r = request(
            &srv.addr,
            "POST",
            &format!("/api/validations?name={name}"),
            &[("Content-Type", "application/octet-stream")],
            &read(&dir.join(name)),
        );
        permalink(&r);
        assert_eq!(
            zero_durations(r.json()),
            zero_durations(cli_json(&dir, &[name], &[])),
            "{name}"
        );
    }
    // ... and all of them in one multipart upload.
    let bytes: Vec<(String, Vec<u8>)> = all
        .iter()
        .map(|n| (n.to_string(), read(&dir.join(n))))
        .collect();
    let files: Vec<(&str, &[u8])> = bytes
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let r = upload(&srv.addr, &files);
    permalink(&r);
    let got = zero_durations(r.json());
    assert_eq!(got, zero_durations(cli_json(&dir, &all, &[])));
    // The run covered what it should: pass, fail and error verdicts, containers unfolded.
    let verdicts: Vec<&str> = got["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["verdict"].as_str().unwrap())
        .collect();
    assert!(
        verdicts.contains(&"pass") && verdicts.contains(&"fail") && verdicts.contains(&"error")
    );
    let paths: Vec<&str> = got["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.iter().any(|p| p.starts_with("IHE_XDM.zip!")),
        "{paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("glycemie-ionogramme.eml!")),
        "{paths:?}"
    );
}

#[test]
fn a_result_survives_a_sigkill_right_after_its_201() {
    let dir = tempdir("serve-kill");
    let data = dir.join("data");
    let doc = read(&fixture("cr-bio/invalid/act-status-wrong.xml"));
    let mut kept = Vec::new();
    for round in 0..3 {
        let mut srv = start(&data, &[]);
        let r = upload(&srv.addr, &[("act-status-wrong.xml", &doc)]);
        let loc = permalink(&r);
        // SIGKILL the moment the 201 is read: no flush, no shutdown.
        srv.child.kill().unwrap();
        srv.child.wait().unwrap();
        kept.push((loc, r.body));
        let srv = start(&data, &[]);
        for (loc, body) in &kept {
            let page = get(&srv.addr, loc);
            assert_eq!(page.status, 200, "round {round}: {loc}");
            let j = get(&srv.addr, &format!("{loc}/report.json"));
            assert_eq!(&j.body, body, "round {round}");
            let f = get(&srv.addr, &format!("{loc}/files/0"));
            assert_eq!(f.body, doc);
        }
        drop(srv);
    }
    // Nothing half-written is left behind.
    assert_eq!(std::fs::read_dir(data.join("tmp")).unwrap().count(), 0);
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempdir("serve-term");
    let mut srv = start(&dir.join("data"), &[]);
    assert_eq!(get(&srv.addr, "/").status, 200);
    let t = Instant::now();
    // SAFETY: signalling our own child by its pid.
    assert_eq!(
        unsafe { libc::kill(srv.child.id() as i32, libc::SIGTERM) },
        0
    );
    let code = common::wait_exit(&mut srv.child, Duration::from_secs(20));
    assert_eq!(code, Some(0));
    assert!(t.elapsed() < Duration::from_secs(15));
    let mut rest = Vec::new();
    while let Ok(l) = srv.out.recv_timeout(Duration::from_secs(5)) {
        rest.push(l);
    }
    assert!(rest.iter().any(|l| l == "banc serve : arrêté"), "{rest:?}");
}

#[test]
fn results_expire_and_are_swept() {
    let dir = tempdir("serve-expire");
    let data = dir.join("data");
    let srv = start(&data, &["--retention", "3s"]);
    let t = Instant::now();
    let r = upload(
        &srv.addr,
        &[("tsh.xml", &read(&fixture("cr-bio/valid/tsh.xml")))],
    );
    let loc = permalink(&r);
    let id = loc.split('/').nth(2).unwrap().to_string();
    // Kept until it expires (checked while well before, on a slow machine too)...
    if t.elapsed() < Duration::from_secs(2) {
        assert!(data.join("v").join(&id).is_dir());
        assert_eq!(get(&srv.addr, &loc).status, 200);
    }
    // ... then deleted from the disk by the sweep (without a visit), and gone for its link.
    let deadline = Instant::now() + Duration::from_secs(20);
    while data.join("v").join(&id).exists() {
        assert!(Instant::now() < deadline, "expired result not swept");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        t.elapsed() >= Duration::from_secs(3),
        "swept before it expired"
    );
    assert_eq!(get(&srv.addr, &loc).status, 404);
    assert_eq!(get(&srv.addr, &format!("{loc}/report.json")).status, 404);
}

#[test]
fn an_upload_over_the_limit_is_413() {
    let dir = tempdir("serve-413");
    let srv = start(&dir.join("data"), &["--max-upload", "4KiB"]);
    let doc = read(&fixture("cr-bio/valid/tsh.xml"));
    assert!(doc.len() > 4096);
    // Declared too large: refused before the body is read.
    let r = request(
        &srv.addr,
        "POST",
        "/api/validations?name=tsh.xml",
        &[],
        &doc[..8192.min(doc.len())],
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("4 Kio"));
    // Not declared (chunked): stopped once over.
    let ct = multipart_type();
    let body = multipart(&[("tsh.xml", &doc)]);
    let r = request(
        &srv.addr,
        "POST",
        "/api/validations",
        &[("Content-Type", &ct), ("Transfer-Encoding", "chunked")],
        &body,
    );
    assert_eq!(r.status, 413, "{}", r.text());
    let r = request(
        &srv.addr,
        "POST",
        "/validations",
        &[("Content-Type", &ct), ("Transfer-Encoding", "chunked")],
        &body,
    );
    assert_eq!(r.status, 413);
    assert!(r.text().contains("Dépôt trop volumineux"));
    // Under the limit: judged.
    let small = b"<a/>";
    assert_eq!(upload(&srv.addr, &[("a.xml", small)]).status, 201);
    // Nothing stored for the refused ones.
    assert_eq!(std::fs::read_dir(srv.data.join("v")).unwrap().count(), 1);
}

#[test]
fn uploads_are_rate_limited_per_client() {
    let dir = tempdir("serve-429");
    let srv = start(&dir.join("data"), &["--uploads-per-minute", "2"]);
    let doc = b"<a/>";
    assert_eq!(upload(&srv.addr, &[("a.xml", doc)]).status, 201);
    assert_eq!(upload(&srv.addr, &[("a.xml", doc)]).status, 201);
    let r = upload(&srv.addr, &[("a.xml", doc)]);
    assert_eq!(r.status, 429, "{}", r.text());
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    // Reading is not limited.
    assert_eq!(get(&srv.addr, "/").status, 200);
    // X-Forwarded-For from an untrusted peer is anyone's word: still this client's bucket.
    let forwarded = |srv: &Server, client: &str| {
        let ct = multipart_type();
        request(
            &srv.addr,
            "POST",
            "/api/validations",
            &[("Content-Type", &ct), ("X-Forwarded-For", client)],
            &multipart(&[("a.xml", doc)]),
        )
        .status
    };
    assert_eq!(forwarded(&srv, "203.0.113.5"), 429);

    // Behind a trusted proxy, each client the proxy names has its own allowance.
    let srv = start(
        &dir.join("data-proxy"),
        &["--uploads-per-minute", "1", "--trusted-proxy", "127.0.0.1"],
    );
    assert_eq!(forwarded(&srv, "203.0.113.5"), 201);
    assert_eq!(forwarded(&srv, "203.0.113.5"), 429);
    assert_eq!(forwarded(&srv, "198.51.100.1, 203.0.113.6"), 201);
    // A client cannot forge its way out: the proxy appends the address it saw last.
    assert_eq!(forwarded(&srv, "192.0.2.1, 203.0.113.5"), 429);
}

#[test]
fn cross_site_form_posts_are_refused() {
    let dir = tempdir("serve-csrf");
    let srv = start(
        &dir.join("data"),
        &["--public-url", "https://banc.example.test/"],
    );
    let ct = multipart_type();
    let body = multipart(&[("a.xml", b"<a/>")]);
    let own = format!("http://{}", srv.addr);
    for (path, headers, want) in [
        (
            "/validations",
            vec![("Origin", "https://evil.example")],
            403,
        ),
        ("/validations", vec![("Origin", "null")], 403),
        ("/validations", vec![("Sec-Fetch-Site", "cross-site")], 403),
        ("/validations", vec![("Sec-Fetch-Site", "same-site")], 403),
        (
            "/api/validations",
            vec![
                ("Origin", "https://evil.example"),
                ("Sec-Fetch-Site", "cross-site"),
            ],
            403,
        ),
        // The browser on this very page, by its address or by the public URL; a script.
        (
            "/validations",
            vec![("Origin", own.as_str()), ("Sec-Fetch-Site", "same-origin")],
            303,
        ),
        (
            "/validations",
            vec![("Origin", "https://banc.example.test")],
            303,
        ),
        ("/validations", vec![], 303),
        ("/api/validations", vec![], 201),
    ] {
        let mut h = vec![("Content-Type", ct.as_str())];
        h.extend(headers.iter().copied());
        let r = request(&srv.addr, "POST", path, &h, &body);
        assert_eq!(r.status, want, "{path} {headers:?}: {}", r.text());
        assert_guarded(&r);
        if want == 303 {
            let loc = r.header("location").unwrap();
            assert!(loc.starts_with("/v/"));
            assert_eq!(get(&srv.addr, loc).status, 200);
        }
    }
    // Only the accepted ones were stored.
    assert_eq!(std::fs::read_dir(srv.data.join("v")).unwrap().count(), 4);
    // The form page: posts here, several files, the public URL in its example.
    let form = get(&srv.addr, "/");
    let html = form.text();
    assert!(html.contains(r#"action="/validations""#) && html.contains("multiple"));
    assert!(html.contains(r#"enctype="multipart/form-data""#));
    assert!(html.contains("https://banc.example.test/api/validations"));
    assert!(
        form.header("content-security-policy")
            .unwrap()
            .contains("form-action 'self'")
    );
    assert!(!html.contains("<script"), "the form page has no script");
}

#[test]
fn hostile_text_is_shown_as_text() {
    let dir = tempdir("serve-hostile");
    let srv = start(&dir.join("data"), &[]);
    // A file name cannot hold `/` (only its last component is kept): markup without it.
    let name = "<img src=x onerror=alert(5)>.xml";
    let r = upload(&srv.addr, &[(name, common::HOSTILE_CDA.as_bytes())]);
    let loc = permalink(&r);
    assert_eq!(r.json()["documents"][0]["path"], name);
    let page = get(&srv.addr, &loc);
    let html = page.text();
    assert!(
        !html.contains("<script>alert"),
        "live markup from the document"
    );
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the page's own script"
    );
    assert!(
        html.contains("&lt;script&gt;alert(4)&lt;/script&gt;"),
        "quoted in a message"
    );
    assert!(!html.contains("<img"), "live markup from the file name");
    assert!(
        html.contains("&lt;img src=x onerror=alert(5)&gt;.xml"),
        "the file name"
    );
    assert!(
        html.contains("&lt;!-- &lt;script&gt;alert(1)&lt;/script&gt; --&gt;"),
        "excerpt"
    );
    // The download keeps a name that is safe in the header.
    let f = get(&srv.addr, &format!("{loc}/files/0"));
    assert_eq!(
        f.header("content-disposition").unwrap(),
        "attachment; filename=\"_img_src_x_onerror_alert_5__.xml\"; \
         filename*=UTF-8''%3Cimg%20src%3Dx%20onerror%3Dalert%285%29%3E.xml"
    );

    // In a real browser, under the server's CSP: the page's own script runs, nothing else does.
    let Some(browser) = common::browser::chromium() else {
        return;
    };
    let url = format!("http://{}{loc}", srv.addr);
    let out = common::browser::run_chromium_url(browser, &url, &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(dom.contains("&lt;script&gt;alert(3)&lt;/script&gt;") || dom.contains("alert(4)"));
    assert_eq!(dom.matches("<script").count(), 1, "{dom}");
    common::browser::assert_script_ran(&dom);
    assert!(
        common::browser::console_messages(&stderr).is_empty(),
        "console: {:?}",
        common::browser::console_messages(&stderr)
    );
    // Screenshots of the two pages, for a person to look at.
    let shots = root().join("reports");
    std::fs::create_dir_all(&shots).unwrap();
    for (page, file) in [
        (format!("http://{}/", srv.addr), "serve-form.png"),
        (url.clone(), "serve-result.png"),
    ] {
        let shot = shots.join(file);
        let _ = std::fs::remove_file(&shot);
        let arg = format!("--screenshot={}", shot.display());
        common::browser::run_chromium_url(browser, &page, &[&arg, "--window-size=1200,1400"]);
        assert!(shot.is_file(), "{file}");
    }
}

/// Every field of `v` is described by `schema` (resolved in `doc`), with its type; every
/// required field is there. Errors are collected with their JSON path.
fn conforms(v: &Value, schema: &Value, doc: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        return conforms(v, &doc["components"]["schemas"][name], doc, at, errors);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            let ok = alts.iter().any(|alt| {
                let mut e = Vec::new();
                conforms(v, alt, doc, at, &mut e);
                e.is_empty()
            });
            if !ok {
                errors.push(format!("{at}: matches no alternative of {key}"));
            }
            return;
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            conforms(v, s, doc, at, errors);
        }
        return;
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let actual = match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let type_ok = types.is_empty()
        || types.contains(&actual)
        || (actual == "integer" && types.contains(&"number"));
    if !type_ok {
        errors.push(format!("{at}: {actual}, schema says {types:?}"));
        return;
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array)
        && !values.contains(v)
    {
        errors.push(format!("{at}: {v} not in {values:?}"));
    }
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, x) in m {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => conforms(x, s, doc, &format!("{at}.{k}"), errors),
                    None => errors.push(format!("{at}.{k}: not in the schema")),
                }
            }
            for req in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !m.contains_key(req) {
                    errors.push(format!("{at}.{req}: required, absent"));
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = schema.get("items") {
                for (i, x) in a.iter().enumerate() {
                    conforms(x, items, doc, &format!("{at}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

#[test]
fn the_openapi_document_describes_the_api_as_it_answers() {
    let dir = tempdir("serve-openapi");
    let srv = start(&dir.join("data"), &["--uploads-per-minute", "0"]);
    let r = get(&srv.addr, "/api/openapi.json");
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/validations",
        "/api/openapi.json",
        "/v/{id}/{secret}",
        "/v/{id}/{secret}/report.json",
        "/v/{id}/{secret}/report.xml",
        "/v/{id}/{secret}/report.html",
        "/v/{id}/{secret}/svrl/{n}",
        "/v/{id}/{secret}/files/{n}",
        "/",
        "/validations",
    ] {
        assert!(paths.contains_key(p), "{p} not described");
    }
    let post = &doc["paths"]["/api/validations"]["post"];
    for status in ["201", "400", "403", "413", "429"] {
        assert!(post["responses"].get(status).is_some(), "{status}");
    }
    assert!(
        post["responses"]["201"]["headers"]
            .get("Location")
            .is_some()
    );
    assert!(
        post["requestBody"]["content"]
            .get("multipart/form-data")
            .is_some()
    );
    let schema = &post["responses"]["201"]["content"]["application/json"]["schema"];

    // Real answers, with every kind of field (findings with and without hints, containers,
    // an unreadable document), conform to it field for field.
    let mut errors = Vec::new();
    for (name, rel) in [
        ("tsh.xml", "cr-bio/valid/tsh.xml"),
        ("ins-bad-key.xml", "cr-bio/invalid/ins-bad-key.xml"),
        ("doctype-xxe.xml", "cr-bio/invalid/doctype-xxe.xml"),
        ("tsh.eml", "mail/valid/tsh.eml"),
    ] {
        let r = upload(&srv.addr, &[(name, &read(&fixture(rel)))]);
        permalink(&r);
        conforms(&r.json(), schema, &doc, name, &mut errors);
    }
    let refused = upload(&srv.addr, &[]);
    assert_eq!(refused.status, 400);
    conforms(
        &refused.json(),
        &post["responses"]["400"]["content"]["application/json"]["schema"],
        &doc,
        "400",
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn with_the_kit_verdicts_equal_and_svrl_is_served() {
    let Some(kit) = common::kit() else { return };
    let dir = tempdir("serve-kit");
    // A document the official schematrons find fault with.
    let name = "entry-not-act.xml";
    std::fs::copy(fixture("cr-bio/invalid/entry-not-act.xml"), dir.join(name)).unwrap();
    let srv = start(&dir.join("data"), &["--kit", &s(&kit)]);
    let r = upload(&srv.addr, &[(name, &read(&dir.join(name)))]);
    let loc = permalink(&r);
    assert_eq!(
        zero_durations(r.json()),
        zero_durations(cli_json(&dir, &[name], &["--kit", &s(&kit)]))
    );
    // Findings of the schematrons (their `schematron` object) as the OpenAPI document says.
    let doc = get(&srv.addr, "/api/openapi.json").json();
    let schema = &doc["paths"]["/api/validations"]["post"]["responses"]["201"]["content"]["application/json"]
        ["schema"];
    let mut errors = Vec::new();
    conforms(&r.json(), schema, &doc, "kit", &mut errors);
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(r.text().contains("\"schematron\": {"));
    let html = get(&srv.addr, &loc).text();
    assert!(html.contains(&format!("href=\"{loc}/svrl/0\"")));
    let svrl = get(&srv.addr, &format!("{loc}/svrl/0"));
    assert_eq!(svrl.status, 200);
    assert!(svrl.text().contains("<svrl:schematron-output"));
    assert!(
        svrl.header("content-disposition")
            .unwrap()
            .contains("filename=\"entry-not-act.xml.")
    );
}

/// One request over TLS, trusting `ca.pem` of `certs`, offering HTTP/1.1 by ALPN: the answer
/// and the protocol the server chose.
fn request_tls(certs: &Path, addr: &str, raw: &[u8]) -> (Resp, Option<Vec<u8>>) {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(certs.join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(raw).unwrap();
    let mut got = Vec::new();
    let _ = tls.read_to_end(&mut got);
    let alpn = tls.conn.alpn_protocol().map(<[u8]>::to_vec);
    (parse(&got), alpn)
}

#[test]
fn https_with_the_given_certificate() {
    let dir = tempdir("serve-tls");
    let certs = dir.join("certs");
    let r = common::run(&["mail", "certs", "--out", &s(&certs)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let srv = start(
        &dir.join("data"),
        &[
            "--tls-cert",
            &s(&certs.join("server.pem")),
            "--tls-key",
            &s(&certs.join("server.key")),
        ],
    );
    let body = multipart(&[("tsh.xml", &read(&fixture("cr-bio/valid/tsh.xml")))]);
    let mut raw = format!(
        "POST /api/validations HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: {}\r\nContent-Length: {}\r\n\r\n",
        multipart_type(),
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    let (r, alpn) = request_tls(&certs, &srv.addr, &raw);
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    let loc = permalink(&r);
    let get = format!("GET {loc} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let (page, _) = request_tls(&certs, &srv.addr, get.as_bytes());
    assert_eq!(page.status, 200);
    assert!(
        page.text().contains("https://"),
        "links with the https address"
    );
    // Plain HTTP on the TLS port gets no page.
    let mut c = TcpStream::connect(&srv.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    assert!(!got.starts_with(b"HTTP/1.1 200"));
}
