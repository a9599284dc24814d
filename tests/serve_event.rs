//! `banc serve --event` as its people meet it: a rehearsal event with one real lab beside banc's
//! simulators, access given by `banc event access`, the server on 127.0.0.1:0 spoken to over
//! plain HTTP/1.1 (the API with bearer tokens, the pages with a session cookie and their CSRF
//! tokens), and in headless Chromium driven over WebDriver: a participant logs in with its
//! link, starts a scenario, deposits its document and watches the attempt finish; a monitor
//! decides the last pending instance and the published scoreboard changes; a participant
//! opening another's instance gets the page of an unknown one. Screenshots in `reports/`.

mod common;

use common::http::{Resp, request};
use common::{root, run, s, tempdir};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const LAB: &str = "labo-quai";
const OTHER: &str = "labo-reference";
const RECEIVER: &str = "recepteur-reference";
const MONITOR: &str = "Claire Martin";

/// A rehearsal event with a real lab (`labo-quai`, producer) whose reference receiver was
/// played already: five of its instances wait for a monitor.
fn event(name: &str) -> (PathBuf, PathBuf) {
    let t = tempdir(name);
    let pf = t.join("participants.toml");
    std::fs::write(
        &pf,
        format!(
            "[[participant]]\nid = \"{LAB}\"\norganisation = \"Laboratoire des Quais (Nantes)\"\nsystem = \"SGL Quai 2\"\nroles = [\"producer\"]\nmailbox = \"sgl@labo-quai.test\"\n"
        ),
    )
    .unwrap();
    let ev = t.join("ev");
    let r = run(&[
        "event",
        "init",
        &s(&ev),
        "--suite",
        "suites/cr-bio",
        "--rehearsal",
        "--participants",
        &s(&pf),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&[
        "event",
        "run",
        &s(&ev),
        "--participant",
        RECEIVER,
        "--smtp-listen",
        "127.0.0.1:0",
        "--max-wait",
        "20s",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    (t, ev)
}

/// A token of `banc event access … --format token`.
fn token(ev: &Path, who: &[&str]) -> String {
    let mut args = vec!["event", "access"];
    let evs = s(ev);
    args.push(&evs);
    args.extend_from_slice(who);
    args.extend_from_slice(&["--format", "token"]);
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let t = r.stdout.trim().to_string();
    assert_eq!(t.len(), 64, "256 bits in hex: {t}");
    t
}

/// Tokens of the lab, the other lab, the monitor and a manager.
fn tokens(ev: &Path) -> [String; 4] {
    [
        token(ev, &["--participant", LAB]),
        token(ev, &["--participant", OTHER]),
        token(ev, &["--monitor", MONITOR]),
        token(ev, &["--manager"]),
    ]
}

fn start(t: &Path, ev: &Path) -> common::serve::Server {
    let data = t.join("data");
    common::serve::start(
        &[
            "--data",
            &s(&data),
            "--event",
            &s(ev),
            "--smtp-listen",
            "127.0.0.1:0",
            "--max-wait",
            "60s",
        ],
        5,
    )
}

/// The API with a bearer token.
fn api(addr: &str, token: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
    let auth = format!("Bearer {token}");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    request(
        addr,
        method,
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
}

fn status_of(addr: &str, token: &str, id: &str) -> String {
    let r = api(
        addr,
        token,
        "GET",
        &format!("/api/event/instances/{id}"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["status"].as_str().unwrap().to_string()
}

fn wait_status(addr: &str, token: &str, id: &str, want: &str) {
    let start = Instant::now();
    loop {
        let now = status_of(addr, token, id);
        if now == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{id}: {now}, {want} expected"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Claim and verify a pending instance through the API, every checklist item ticked.
fn verify(addr: &str, monitor: &str, id: &str) {
    let work = api(addr, monitor, "GET", "/api/event/worklist", None).json();
    let item = work
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["instance"] == id)
        .unwrap_or_else(|| panic!("{id} in the worklist: {work}"));
    let n: usize = item["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["checklist"].as_array().unwrap().len())
        .sum();
    let r = api(
        addr,
        monitor,
        "POST",
        &format!("/api/event/instances/{id}/claim"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = api(
        addr,
        monitor,
        "POST",
        &format!("/api/event/instances/{id}/decisions"),
        Some(serde_json::json!({
            "verdict": "verified",
            "comment": "vu avec l'éditeur",
            "checklist": (1..=n).collect::<Vec<_>>(),
        })),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["after"], "verified");
}

/// Every field of `v` is a property of the schema `name`, and its required ones are in `v`.
fn described(doc: &Value, name: &str, v: &Value) {
    let schema = &doc["components"]["schemas"][name];
    let props = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("schema {name}: {schema}"));
    for k in v
        .as_object()
        .unwrap_or_else(|| panic!("{name}: {v}"))
        .keys()
    {
        assert!(props.contains_key(k), "{name}.{k} described");
    }
    for r in schema["required"].as_array().into_iter().flatten() {
        let r = r.as_str().unwrap();
        assert!(v.get(r).is_some(), "{name}.{r} required, absent from {v}");
    }
}

fn grade(scores: &Value, participant: &str) -> String {
    scores["scores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["participant"] == participant)
        .unwrap_or_else(|| panic!("{participant} in {scores}"))["grade"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn each_role_sees_and_does_only_what_it_may_through_the_api() {
    let (t, ev) = event("serve-event-api");
    let [lab, other, monitor, manager] = tokens(&ev);
    let srv = start(&t, &ev);
    let a = srv.addr.as_str();
    assert!(
        srv.lines.iter().any(|l| l.contains("banc event access")),
        "the start says how to get access links: {:?}",
        srv.lines
    );

    // The event's SMTP server is up for the whole event: participants send at any hour.
    let smtp = srv
        .lines
        .iter()
        .find_map(|l| l.strip_prefix("banc serve : SMTP de l'événement sur "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("the SMTP address in {:?}", srv.lines))
        .to_string();
    let mut c = TcpStream::connect(&smtp).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut banner = [0u8; 3];
    c.read_exact(&mut banner).unwrap();
    assert_eq!(&banner, b"220");
    drop(c);

    // Tokens are kept hashed: the database never holds one.
    let db = std::fs::read(ev.join("event.db")).unwrap();
    for tok in [&lab, &other, &monitor, &manager] {
        assert!(
            !db.windows(tok.len()).any(|w| w == tok.as_bytes()),
            "a token in the database"
        );
    }

    // Who is who.
    let me = api(a, &lab, "GET", "/api/event/me", None).json();
    assert_eq!(me["role"], "participant");
    assert_eq!(me["subject"], LAB);
    for bad in ["", "Bearer 0123", &format!("Bearer {}", "a".repeat(64))] {
        let r = request(
            a,
            "GET",
            "/api/event/instances",
            &[("Authorization", bad)],
            b"",
        );
        assert_eq!(r.status, 401, "{bad}: {}", r.text());
        assert!(r.header("www-authenticate").is_some());
    }

    // A participant sees its own instances, nothing of another's: the same 404 as unknown.
    let mine = api(a, &lab, "GET", "/api/event/instances", None).json();
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 13);
    assert!(mine.iter().all(|i| i["participant"] == LAB));
    let all = api(a, &monitor, "GET", "/api/event/instances", None).json();
    assert_eq!(all.as_array().unwrap().len(), 69);
    let theirs = format!("/api/event/instances/{OTHER}/CRBIO-P01/producer");
    let unknown = format!("/api/event/instances/{LAB}/CRBIO-X99/producer");
    let r_unknown = api(a, &lab, "GET", &unknown, None);
    assert_eq!(r_unknown.status, 404);
    for (m, p) in [
        ("GET", theirs.clone()),
        ("GET", format!("{theirs}/attempts")),
        ("GET", format!("{theirs}/decisions")),
        ("POST", format!("{theirs}/attempts")),
        ("POST", format!("{theirs}/claim")),
    ] {
        let r = api(a, &lab, m, &p, None);
        assert_eq!(r.status, 404, "{m} {p}: {}", r.text());
        assert_eq!(
            r.body, r_unknown.body,
            "{m} {p}: the answer of an unknown one"
        );
    }
    let r = api(a, &other, "GET", &theirs, None);
    assert_eq!(r.status, 200, "its own: {}", r.text());
    let scores = api(a, &lab, "GET", "/api/event/scores", None).json();
    assert!(
        scores["scores"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["participant"] == LAB),
        "{scores}"
    );
    // Roles: the worklist is the monitors', starting is not, deciding is theirs only.
    assert_eq!(api(a, &lab, "GET", "/api/event/worklist", None).status, 403);
    let p01 = format!("{LAB}/CRBIO-P01/producer");
    assert_eq!(
        api(
            a,
            &monitor,
            "POST",
            &format!("/api/event/instances/{p01}/attempts"),
            None
        )
        .status,
        403
    );
    let pending = format!("{RECEIVER}/CRBIO-C07/consumer");
    let r = api(
        a,
        &manager,
        "POST",
        &format!("/api/event/instances/{pending}/decisions"),
        Some(serde_json::json!({"verdict": "verified", "comment": "x"})),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        api(
            a,
            &lab,
            "PUT",
            "/api/event/scores/published",
            Some(serde_json::json!({"published": true}))
        )
        .status,
        403
    );
    // Nothing to decide: a clear refusal.
    let r = api(
        a,
        &monitor,
        "POST",
        &format!("/api/event/instances/{p01}/decisions"),
        Some(serde_json::json!({"verdict": "verified", "comment": "x"})),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("rien à décider")
    );

    // The monitors' worklist; decisions through the API change the score.
    let work = api(a, &monitor, "GET", "/api/event/worklist", None).json();
    let waiting: Vec<String> = work
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["instance"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(waiting.len(), 5, "{waiting:?}");
    let before = api(a, &manager, "GET", "/api/event/scores", None).json();
    assert_eq!(grade(&before, RECEIVER), "incomplete");
    assert_eq!(before["published"], false);
    for id in &waiting {
        verify(a, &monitor, id);
    }
    let after = api(a, &manager, "GET", "/api/event/scores", None).json();
    assert_eq!(grade(&after, RECEIVER), "pass", "{after}");
    let decisions = api(
        a,
        &lab,
        "GET",
        &format!("/api/event/instances/{}/decisions", waiting[0]),
        None,
    );
    assert_eq!(decisions.status, 404, "another participant's decisions");
    let decisions = api(
        a,
        &manager,
        "GET",
        &format!("/api/event/instances/{}/decisions", waiting[0]),
        None,
    )
    .json();
    assert_eq!(decisions[0]["monitor"], MONITOR);

    // The public scoreboard exists once published.
    assert_eq!(request(a, "GET", "/scores", &[], b"").status, 404);
    let r = api(
        a,
        &manager,
        "PUT",
        "/api/event/scores/published",
        Some(serde_json::json!({"published": true})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let board = request(a, "GET", "/scores", &[], b"");
    assert_eq!(board.status, 200);
    assert!(
        board.text().contains(&format!(
            "data-participant=\"{RECEIVER}\" data-role=\"consumer\" data-grade=\"pass\""
        )),
        "{}",
        board.text()
    );

    // A participant starts its own attempt; a second start while it plays is refused.
    let r = api(
        a,
        &lab,
        "POST",
        &format!("/api/event/instances/{p01}/attempts"),
        None,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let r = api(
        a,
        &lab,
        "POST",
        &format!("/api/event/instances/{p01}/attempts"),
        None,
    );
    assert_eq!(r.status, 409, "{}", r.text());
    // Recorded as running once its scenario begins (the attempt's row in the same change).
    wait_status(a, &lab, &p01, "running");

    // Revoked, a token opens nothing.
    let r = run(&[
        "event",
        "access",
        &s(&ev),
        "--participant",
        OTHER,
        "--revoke",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(api(a, &other, "GET", "/api/event/me", None).status, 401);

    // The OpenAPI document describes the event's API.
    let doc = request(a, "GET", "/api/openapi.json", &[], b"").json();
    for p in [
        "/api/event/instances",
        "/api/event/instances/{participant}/{scenario}/{role}",
        "/api/event/instances/{participant}/{scenario}/{role}/attempts",
        "/api/event/instances/{participant}/{scenario}/{role}/decisions",
        "/api/event/worklist",
        "/api/event/scores",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} in the OpenAPI document");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Every field of real answers is described, every required one is there.
    let attempts = api(
        a,
        &lab,
        "GET",
        &format!("/api/event/instances/{p01}/attempts"),
        None,
    )
    .json();
    let one_attempt = attempts.as_array().unwrap().last().unwrap().clone();
    let step = one_attempt["steps"].as_array().unwrap().first().cloned();
    for (name, v) in [
        ("Me", me.clone()),
        ("Instance", mine[0].clone()),
        ("WorkItem", work[0].clone()),
        ("PendingStep", work[0]["steps"][0].clone()),
        ("Scores", after.clone()),
        ("ScoreRow", after["scores"][0].clone()),
        ("Decision", decisions[0].clone()),
        ("Attempt", one_attempt.clone()),
    ] {
        described(&doc, name, &v);
    }
    if let Some(step) = step {
        described(&doc, "Step", &step);
    }

    // Every access change and the publication are in the audit log, which holds.
    drop(srv);
    let audit = run(&["event", "audit", &s(&ev), "--format", "json"]);
    for action in [
        "accès donné",
        "accès révoqué",
        "publication",
        "tentative demandée",
    ] {
        assert!(audit.stdout.contains(action), "{action} in the audit log");
    }
    let v = run(&["event", "audit", &s(&ev), "--verify"]);
    assert_eq!(v.code, 0, "{}", v.stdout);
}

#[test]
fn scripts_deposit_read_files_override_audit_and_export_through_the_api() {
    let (t, ev) = event("serve-event-api-files");
    let [lab, other, monitor, manager] = tokens(&ev);
    let srv = start(&t, &ev);
    let a = srv.addr.as_str();
    let p01 = format!("/api/event/instances/{LAB}/CRBIO-P01/producer");
    let doc = std::fs::read(root().join("suites/cr-bio/documents/tsh.xml")).unwrap();
    let raw = |token: &str, path: &str, body: &[u8]| {
        let auth = format!("Bearer {token}");
        request(
            a,
            "POST",
            path,
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/xml"),
            ],
            body,
        )
    };

    // The steps that take a file, and what waits there.
    let steps = api(a, &lab, "GET", &format!("{p01}/steps"), None);
    assert_eq!(steps.status, 200, "{}", steps.text());
    let steps = steps.json();
    assert_eq!(steps[0]["step"], "cr-bio", "{steps}");
    assert_eq!(steps[0]["files"], serde_json::json!([]));

    // Only the instance's participant deposits; another's instance is unknown to it.
    let deposit = format!("{p01}/steps/cr-bio/files?name=tsh%20sortant.xml");
    assert_eq!(raw(&monitor, &deposit, &doc).status, 403);
    let theirs = raw(&other, &deposit, &doc);
    assert_eq!(theirs.status, 404, "{}", theirs.text());
    assert_eq!(
        raw(&lab, &format!("{p01}/steps/inconnue/files"), &doc).status,
        404
    );
    assert_eq!(raw(&lab, &deposit, b"").status, 400, "an empty body");
    let r = raw(&lab, &deposit, &doc);
    assert_eq!(r.status, 201, "{}", r.text());
    let kept = r.json();
    assert_eq!(kept["file"], "tsh sortant.xml", "{kept}");
    described(
        &request(a, "GET", "/api/openapi.json", &[], b"").json(),
        "Deposited",
        &kept,
    );
    let steps = api(a, &lab, "GET", &format!("{p01}/steps"), None).json();
    assert_eq!(steps[0]["files"], serde_json::json!(["tsh sortant.xml"]));

    // The attempt takes the deposit and passes; its report and files are readable by the
    // participant, not by another.
    let r = api(a, &lab, "POST", &format!("{p01}/attempts"), None);
    assert_eq!(r.status, 202, "{}", r.text());
    let id = format!("{LAB}/CRBIO-P01/producer");
    wait_status(a, &lab, &id, "passed");
    let attempts = api(a, &lab, "GET", &format!("{p01}/attempts"), None).json();
    let last = attempts.as_array().unwrap().last().unwrap().clone();
    let n = last["number"].as_i64().unwrap();
    let report = api(a, &lab, "GET", &format!("{p01}/attempts/{n}/report"), None);
    assert_eq!(report.status, 200, "{}", report.text());
    assert_eq!(report.header("content-type"), Some("application/json"));
    assert!(report.json().is_object());
    let arts = last["artifacts"].as_array().unwrap();
    let k = arts
        .iter()
        .position(|x| x["name"] == "tsh sortant.xml")
        .unwrap_or_else(|| panic!("the deposit among the artifacts: {last}"));
    let file = api(
        a,
        &lab,
        "GET",
        &format!("{p01}/attempts/{n}/artifacts/{k}"),
        None,
    );
    assert_eq!(file.status, 200);
    assert_eq!(file.body, doc, "the deposited bytes, as kept");
    for p in [
        format!("{p01}/attempts/{n}/report"),
        format!("{p01}/attempts/{n}/artifacts/{k}"),
        format!("{p01}/steps"),
    ] {
        assert_eq!(api(a, &other, "GET", &p, None).status, 404, "{p}");
    }
    assert_eq!(
        api(
            a,
            &lab,
            "GET",
            &format!("{p01}/attempts/{n}/artifacts/999"),
            None
        )
        .status,
        404
    );

    // A manager imposes a grade, with a reason; nobody else may.
    let o = format!("/api/event/scores/{LAB}/producer/override");
    let body = serde_json::json!({"grade": "fail", "reason": "document falsifié à la main"});
    assert_eq!(api(a, &lab, "PUT", &o, Some(body.clone())).status, 403);
    assert_eq!(api(a, &monitor, "PUT", &o, Some(body.clone())).status, 403);
    let r = api(
        a,
        &manager,
        "PUT",
        &o,
        Some(serde_json::json!({"grade": "fail", "reason": " "})),
    );
    assert_eq!(r.status, 400, "no reason: {}", r.text());
    let r = api(a, &manager, "PUT", &o, Some(body));
    assert_eq!(r.status, 200, "{}", r.text());
    let scores = api(a, &lab, "GET", "/api/event/scores", None).json();
    let row = scores["scores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "producer")
        .unwrap()
        .clone();
    assert_eq!(row["grade"], "fail", "{row}");
    assert_eq!(row["override"]["reason"], "document falsifié à la main");

    // The audit log, checked, for managers.
    assert_eq!(api(a, &lab, "GET", "/api/event/audit", None).status, 403);
    assert_eq!(
        api(a, &monitor, "GET", "/api/event/audit", None).status,
        403
    );
    let audit = api(a, &manager, "GET", "/api/event/audit", None).json();
    assert_eq!(audit["check"]["problems"], serde_json::json!([]), "{audit}");
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "note imposée" && e["after"] == "fail"),
        "{audit}"
    );
    let doc_api = request(a, "GET", "/api/openapi.json", &[], b"").json();
    described(&doc_api, "Audit", &audit);
    described(&doc_api, "StepFiles", &steps[0]);

    // Bundles: a manager's, verified by banc event verify; an unknown participant is 404.
    assert_eq!(api(a, &lab, "GET", "/api/event/export", None).status, 403);
    assert_eq!(
        api(
            a,
            &manager,
            "GET",
            "/api/event/export?participant=inconnu",
            None
        )
        .status,
        404
    );
    let bundle = api(
        a,
        &manager,
        "GET",
        &format!("/api/event/export?participant={LAB}"),
        None,
    );
    assert_eq!(bundle.status, 200, "{}", bundle.text());
    assert_eq!(bundle.header("content-type"), Some("application/zip"));
    let zip = t.join("bundle-api.zip");
    std::fs::write(&zip, &bundle.body).unwrap();
    let v = run(&["event", "verify", &s(&zip), "--event", &s(&ev)]);
    assert_eq!(v.code, 0, "{}\n{}", v.stdout, v.stderr);
    drop(srv);
    assert_eq!(run(&["event", "audit", &s(&ev), "--verify"]).code, 0);
}

/// The session cookie of a login link, and the CSRF token of a page.
fn login(a: &str, token: &str) -> String {
    let r = request(a, "GET", &format!("/login/{token}"), &[], b"");
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some("/event"));
    let c = r
        .header("set-cookie")
        .expect("a session cookie")
        .to_string();
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Strict"),
        "{c}"
    );
    assert!(!c.contains("Secure"), "plain HTTP: {c}");
    c.split(';').next().unwrap().to_string()
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[at..at + 64].to_string()
}

#[test]
fn pages_need_their_session_and_csrf_token_and_a_deposit_finishes_the_attempt() {
    let (t, ev) = event("serve-event-pages");
    let lab = token(&ev, &["--participant", LAB]);
    let srv = start(&t, &ev);
    let a = srv.addr.as_str();
    assert_eq!(request(a, "GET", "/login/0123", &[], b"").status, 404);
    assert_eq!(
        request(a, "GET", &format!("/login/{}", "b".repeat(64)), &[], b"").status,
        404
    );
    assert_eq!(request(a, "GET", "/event", &[], b"").status, 401);
    let cookie = login(a, &lab);
    let jar = [("Cookie", cookie.as_str())];
    // The cookie is not a bearer token: the API wants its token.
    assert_eq!(request(a, "GET", "/api/event/me", &jar, b"").status, 401);
    let home = request(a, "GET", "/event", &jar, b"");
    assert_eq!(home.status, 200);
    assert!(home.text().contains("CRBIO-P01"));
    assert!(
        home.header("content-security-policy")
            .is_some_and(|c| c.contains("default-src 'none'") && !c.contains("unsafe-inline")),
        "{:?}",
        home.header("content-security-policy")
    );
    let p01 = format!("/event/i/{LAB}/CRBIO-P01/producer");
    let page = request(a, "GET", &p01, &jar, b"");
    assert_eq!(page.status, 200);
    let csrf = csrf_of(&page.text());

    // Another's instance, its live stream, its report: the page of an unknown one.
    for p in [
        format!("/event/i/{OTHER}/CRBIO-P01/producer"),
        format!("/event/i/{OTHER}/CRBIO-P01/producer/live"),
        format!("/event/i/{OTHER}/CRBIO-P01/producer/a/1/report.json"),
        "/event/p/labo-reference".to_string(),
        "/event/worklist".to_string(),
    ] {
        let r = request(a, "GET", &p, &jar, b"");
        assert!(
            r.status == 404 || (p == "/event/worklist" && r.status == 403),
            "{p}: {}",
            r.status
        );
    }

    // Forms without the session's token, with another, or from another site: refused.
    let form = "application/x-www-form-urlencoded";
    let start_path = format!("{p01}/start");
    for (body, origin) in [
        ("".to_string(), None),
        (format!("csrf={}", "0".repeat(64)), None),
        (format!("csrf={csrf}"), Some("http://evil.example")),
    ] {
        let mut h = vec![("Cookie", cookie.as_str()), ("Content-Type", form)];
        if let Some(o) = origin {
            h.push(("Origin", o));
        }
        let r = request(a, "POST", &start_path, &h, body.as_bytes());
        assert_eq!(r.status, 403, "{body} {origin:?}: {}", r.text());
    }
    assert_eq!(
        status_of(a, &lab, &format!("{LAB}/CRBIO-P01/producer")),
        "not-started",
        "nothing started by a refused form"
    );
    let r = request(
        a,
        "POST",
        &start_path,
        &[("Cookie", cookie.as_str()), ("Content-Type", form)],
        format!("csrf={csrf}").as_bytes(),
    );
    assert_eq!(r.status, 303, "{}", r.text());

    // A deposit without the token is refused; with it, the attempt takes it and passes.
    let doc = std::fs::read(root().join("suites/cr-bio/documents/tsh.xml")).unwrap();
    let multipart = |csrf: &str| {
        let b = "frontiere-banc-9";
        let mut body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"tsh.xml\"\r\nContent-Type: application/xml\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&doc);
        body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={b}"), body)
    };
    let upload = format!("{p01}/upload/cr-bio");
    let (ct, body) = multipart(&"1".repeat(64));
    let r = request(
        a,
        "POST",
        &upload,
        &[("Cookie", &cookie), ("Content-Type", &ct)],
        &body,
    );
    assert_eq!(r.status, 403);
    let (ct, body) = multipart(&csrf);
    let r = request(
        a,
        "POST",
        &upload,
        &[("Cookie", &cookie), ("Content-Type", &ct)],
        &body,
    );
    assert_eq!(r.status, 303, "{}", r.text());
    wait_status(a, &lab, &format!("{LAB}/CRBIO-P01/producer"), "passed");
    assert_eq!(
        std::fs::read(ev.join(format!("submissions/{LAB}/CRBIO-P01/cr-bio/tsh.xml"))).unwrap(),
        doc,
        "written where banc run expects it"
    );
    let page = request(a, "GET", &p01, &jar, b"").text();
    assert!(
        page.contains("/a/1/report.json"),
        "the attempt's report is offered"
    );
    let report = request(a, "GET", &format!("{p01}/a/1/report.json"), &jar, b"");
    assert_eq!(report.status, 200);
    assert_eq!(report.json()["status"], "passed");
    let art = request(a, "GET", &format!("{p01}/a/1/artifacts/0"), &jar, b"");
    assert_eq!(art.status, 200);
    assert_eq!(art.body, doc);
    // Nothing plays now: the live view says so at once.
    let live = request(a, "GET", &format!("{p01}/live"), &jar, b"");
    assert_eq!(live.header("content-type"), Some("text/event-stream"));
    assert!(live.text().contains("event: idle"), "{}", live.text());

    // Another session's token does not open this one's forms.
    let cookie2 = login(a, &lab);
    let csrf2 = csrf_of(&request(a, "GET", &p01, &[("Cookie", cookie2.as_str())], b"").text());
    assert_ne!(csrf2, csrf, "one CSRF token per session");
    let r = request(
        a,
        "POST",
        &start_path,
        &[("Cookie", cookie.as_str()), ("Content-Type", form)],
        format!("csrf={csrf2}").as_bytes(),
    );
    assert_eq!(r.status, 403);

    // Evidence for a manual step, dropped by its participant after the attempt: the monitor
    // sees it beside the decision form, and deciding keeps it in the event.
    let receiver = token(&ev, &["--participant", RECEIVER]);
    let monitor = token(&ev, &["--monitor", MONITOR]);
    let rc = login(a, &receiver);
    let c10 = format!("/event/i/{RECEIVER}/CRBIO-C10/consumer");
    let rcsrf = csrf_of(&request(a, "GET", &c10, &[("Cookie", rc.as_str())], b"").text());
    let shot_bytes = b"\x89PNG capture de l'ecran du DPI".to_vec();
    let b = "frontiere-banc-10";
    let mut body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{rcsrf}\r\n--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../capture <dpi>.png\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&shot_bytes);
    body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    let r = request(
        a,
        "POST",
        &format!("{c10}/upload/capture"),
        &[
            ("Cookie", rc.as_str()),
            (
                "Content-Type",
                &format!("multipart/form-data; boundary={b}"),
            ),
        ],
        &body,
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let mc = login(a, &monitor);
    let seen = request(a, "GET", &c10, &[("Cookie", mc.as_str())], b"").text();
    assert!(seen.contains("Preuves déposées"), "{seen}");
    assert!(
        seen.contains("capture &lt;dpi&gt;.png"),
        "the name escaped, its path dropped"
    );
    let got = request(
        a,
        "GET",
        &format!("{c10}/evidence/capture/capture%20%3Cdpi%3E.png"),
        &[("Cookie", mc.as_str())],
        b"",
    );
    assert_eq!(got.status, 200);
    assert_eq!(got.body, shot_bytes);
    assert_eq!(
        request(
            a,
            "GET",
            &format!("{c10}/evidence/capture/..%2F..%2Fevent.db"),
            &[("Cookie", mc.as_str())],
            b""
        )
        .status,
        404
    );
    verify(a, &monitor, &format!("{RECEIVER}/CRBIO-C10/consumer"));
    let attempts = api(
        a,
        &monitor,
        "GET",
        &format!("/api/event/instances/{RECEIVER}/CRBIO-C10/consumer/attempts"),
        None,
    )
    .json();
    let kept = attempts.as_array().unwrap().last().unwrap()["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["kind"] == "evidence" && x["name"] == "capture <dpi>.png");
    assert!(kept, "{attempts}");

    // A manager's audit log and bundles; not a participant's.
    assert_eq!(request(a, "GET", "/event/export", &jar, b"").status, 403);
    assert_eq!(request(a, "GET", "/event/audit", &jar, b"").status, 403);
    let manager = token(&ev, &["--manager", "Anne Leroy"]);
    let gc = login(a, &manager);
    let audit = request(a, "GET", "/event/audit", &[("Cookie", gc.as_str())], b"");
    assert_eq!(audit.status, 200);
    assert!(audit.text().contains("chaîne intacte"), "{}", audit.text());
    let bundle = request(
        a,
        "GET",
        &format!("/event/export?participant={LAB}"),
        &[("Cookie", gc.as_str())],
        b"",
    );
    assert_eq!(bundle.status, 200);
    assert_eq!(bundle.header("content-type"), Some("application/zip"));
    let zip = t.join("bundle.zip");
    std::fs::write(&zip, &bundle.body).unwrap();
    let v = run(&["event", "verify", &s(&zip), "--event", &s(&ev)]);
    assert_eq!(v.code, 0, "{}\n{}", v.stdout, v.stderr);

    // A manager imposes a grade from the board's form (its CSRF token; a participant cannot).
    let board = request(a, "GET", "/event", &[("Cookie", gc.as_str())], b"");
    let mcsrf = csrf_of(&board.text());
    let form = format!(
        "csrf={mcsrf}&participant={LAB}&role=producer&grade=incomplete&reason=preuve+%3Cb%3Emanquante%3C%2Fb%3E"
    );
    let post = [
        ("Cookie", gc.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let r = request(a, "POST", "/event/override", &post, form.as_bytes());
    assert_eq!(r.status, 303, "{}", r.text());
    let forged = form.replace(&mcsrf, &"0".repeat(64));
    assert_eq!(
        request(a, "POST", "/event/override", &post, forged.as_bytes()).status,
        403
    );
    let by_lab = format!(
        "csrf={}&participant={LAB}&role=producer&grade=pass&reason=moi",
        csrf
    );
    assert_eq!(
        request(
            a,
            "POST",
            "/event/override",
            &[
                ("Cookie", cookie.as_str()),
                ("Content-Type", "application/x-www-form-urlencoded")
            ],
            by_lab.as_bytes()
        )
        .status,
        403
    );
    let board = request(a, "GET", "/event", &[("Cookie", gc.as_str())], b"").text();
    assert!(
        board.contains(&format!(
            "data-participant=\"{LAB}\" data-role=\"producer\" data-grade=\"incomplete\""
        )),
        "{board}"
    );
    assert!(
        board.contains("preuve &lt;b&gt;manquante&lt;/b&gt;"),
        "the reason, as text"
    );

    // SIGTERM while an attempt waits for a deposit: it ends interrupted, recorded.
    let p02 = format!("{LAB}/CRBIO-P02/producer");
    let r = api(
        a,
        &lab,
        "POST",
        &format!("/api/event/instances/{p02}/attempts"),
        None,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    wait_status(a, &lab, &p02, "running");
    let mut srv = srv;
    // SAFETY: a signal to our own child process.
    unsafe { libc::kill(srv.child.id() as i32, libc::SIGTERM) };
    let code = common::wait_exit(&mut srv.child, Duration::from_secs(40));
    assert_eq!(code, Some(0), "log: {:?}", srv.log.lock().unwrap());
    let st = run(&[
        "event",
        "status",
        &s(&ev),
        "--participant",
        LAB,
        "--format",
        "json",
    ]);
    let list: Value = serde_json::from_str(&st.stdout).unwrap();
    let p02_now = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["instance"] == p02.as_str())
        .unwrap();
    assert_eq!(p02_now["status"], "interrupted", "{p02_now}");
    assert_eq!(run(&["event", "audit", &s(&ev), "--verify"]).code, 0);
}

mod browser {
    use super::*;
    use fantoccini::{Client, ClientBuilder, Locator};

    /// chromedriver on a free port, killed on drop.
    struct Driver(Child, u16);

    impl Drop for Driver {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn driver(path: &str) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "chromedriver did not listen"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver(child, port)
    }

    async fn browser(d: &Driver, chromium: &str, profile: &Path) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,1100", "--no-first-run", "--disable-background-networking",
                    format!("--user-data-dir={}", profile.display())],
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", d.1))
            .await
            .expect("a WebDriver session")
    }

    async fn shot(c: &Client, name: &str) {
        let png = c.screenshot().await.unwrap();
        let dir = root().join("reports");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }

    /// Wait for a CSS selector (the page may be loading or reloading meanwhile; the machine
    /// may be busy): the element.
    async fn wait_for(c: &Client, css: &str, secs: u64) -> fantoccini::elements::Element {
        let start = Instant::now();
        loop {
            if let Ok(e) = c.find(Locator::Css(css)).await {
                return e;
            }
            if start.elapsed() > Duration::from_secs(secs) {
                let src = c.source().await.unwrap_or_default();
                panic!("{css} not found in {secs} s; page:\n{src}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Wait until no element matches `css` (a page replaced by the next).
    async fn wait_gone(c: &Client, css: &str, secs: u64) {
        let start = Instant::now();
        while c.find(Locator::Css(css)).await.is_ok() {
            assert!(
                start.elapsed() < Duration::from_secs(secs),
                "{css} still there after {secs} s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    #[test]
    fn a_participant_plays_and_a_monitor_decides_in_chromium() {
        let Some((chromium, chromedriver)) = common::browser::chromedriver() else {
            return;
        };
        let (t, ev) = event("serve-event-browser");
        let lab = token(&ev, &["--participant", LAB]);
        let monitor = token(&ev, &["--monitor", MONITOR]);
        let manager = token(&ev, &["--manager"]);
        let srv = start(&t, &ev);
        let a = srv.addr.clone();
        // Four of the five pending instances decided by script; the last one in the browser.
        let work = api(&a, &monitor, "GET", "/api/event/worklist", None).json();
        let waiting: Vec<String> = work
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["instance"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(waiting.len(), 5);
        let (last, first) = waiting.split_last().unwrap();
        for id in first {
            verify(&a, &monitor, id);
        }
        assert_eq!(
            api(
                &a,
                &manager,
                "PUT",
                "/api/event/scores/published",
                Some(serde_json::json!({"published": true}))
            )
            .status,
            200
        );
        let d = driver(chromedriver);
        let profile = t.join("chromium-profile");
        let doc = root().join("suites/cr-bio/documents/tsh.xml");
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let c = browser(&d, chromium, &profile).await;
            let base = format!("http://{a}");

            // A visitor, no account: the upload form, a CR-BIO and a document whose text
            // carries markup, both at once; the findings of each, the markup shown as text.
            let hostile = t.join("<img src=x onerror=alert(9)>.xml");
            std::fs::write(&hostile, common::HOSTILE_CDA).unwrap();
            c.goto(&format!("{base}/")).await.unwrap();
            wait_for(&c, "form.depot input#file", 60)
                .await
                .send_keys(&format!("{}\n{}", s(&doc), s(&hostile)))
                .await
                .unwrap();
            shot(&c, "serve-visitor-form.png").await;
            wait_for(&c, "form.depot button[type=submit]", 60)
                .await
                .click()
                .await
                .unwrap();
            wait_for(&c, "article.finding", 120).await;
            assert!(
                c.current_url().await.unwrap().path().starts_with("/v/"),
                "the permalink"
            );
            let text = c
                .find(Locator::Css("body"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(text.contains("tsh.xml"), "{text}");
            assert!(
                text.contains("<img src=x onerror=alert(9)>.xml"),
                "the name as text: {text}"
            );
            assert!(
                text.contains("alert(4)"),
                "the document's text, as text: {text}"
            );
            // Only the page's own script is in the document; no dialog opened.
            let scripts = c.find_all(Locator::Css("script")).await.unwrap();
            assert_eq!(scripts.len(), 1);
            assert!(c.get_alert_text().await.is_err(), "an alert opened");
            assert!(c.find(Locator::Css("img[onerror]")).await.is_err());
            shot(&c, "serve-visitor-result.png").await;

            // The scoreboard before the monitor's decision.
            c.goto(&format!("{base}/scores")).await.unwrap();
            let row = format!("tr[data-participant=\"{RECEIVER}\"]");
            let g = wait_for(&c, &row, 60).await;
            assert_eq!(
                g.attr("data-grade").await.unwrap().as_deref(),
                Some("incomplete")
            );

            // A participant logs in with its link, starts P01, deposits its CR-BIO, watches.
            c.goto(&format!("{base}/login/{lab}")).await.unwrap();
            assert_eq!(c.current_url().await.unwrap().path(), "/event");
            wait_for(&c, "table.instances", 60).await;
            shot(&c, "event-participant.png").await;
            let link = format!("a[href=\"/event/i/{LAB}/CRBIO-P01/producer\"]");
            wait_for(&c, &link, 60).await.click().await.unwrap();
            wait_for(&c, "#commencer", 60).await.click().await.unwrap();
            wait_for(&c, "#direct[data-live=\"waiting\"]", 60).await;
            let said = c
                .find(Locator::Css("#direct ol"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(said.contains("en attente"), "{said}");
            shot(&c, "event-live.png").await;
            let input = c
                .find(Locator::Css(
                    "form[action$=\"/upload/cr-bio\"] input[type=file]",
                ))
                .await
                .unwrap();
            input.send_keys(&s(&doc)).await.unwrap();
            wait_for(&c, "form[action$=\"/upload/cr-bio\"] button", 60)
                .await
                .click()
                .await
                .unwrap();
            wait_for(&c, "p.overall span[data-status=\"passed\"]", 90).await;
            shot(&c, "event-instance.png").await;

            // Another's instance: the page of an unknown one.
            c.goto(&format!("{base}/event/i/{OTHER}/CRBIO-P01/producer"))
                .await
                .unwrap();
            let h1 = c
                .find(Locator::Css("h1"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert_eq!(h1, "Introuvable");
            c.goto(&format!("{base}/event/i/{LAB}/CRBIO-X99/producer"))
                .await
                .unwrap();
            let h1b = c
                .find(Locator::Css("h1"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert_eq!(h1b, h1);

            // A monitor takes the last pending instance and decides it with its checklist.
            c.goto(&format!("{base}/login/{monitor}")).await.unwrap();
            wait_for(&c, "table.travail", 60).await;
            shot(&c, "event-worklist.png").await;
            wait_for(&c, &format!("a[href=\"/event/i/{last}\"]"), 60)
                .await
                .click()
                .await
                .unwrap();
            wait_for(&c, "#prendre", 60).await.click().await.unwrap();
            // Taken: the page says so (the form of the page before may still be there).
            wait_for(&c, "p.overall", 60).await;
            wait_gone(&c, "#prendre", 60).await;
            wait_for(&c, "#decider", 60).await;
            for b in c
                .find_all(Locator::Css("input[name=checklist]"))
                .await
                .unwrap()
            {
                b.click().await.unwrap();
            }
            wait_for(&c, "#comment", 60)
                .await
                .send_keys("intégration vue avec l'éditeur <script>alert(1)</script>")
                .await
                .unwrap();
            shot(&c, "event-monitor.png").await;
            wait_for(&c, "#decider button[type=submit]", 60)
                .await
                .click()
                .await
                .unwrap();
            wait_for(&c, "p.overall span[data-status=\"verified\"]", 60).await;
            let decided = c
                .find(Locator::Css("ul.decisions"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(
                decided.contains("<script>alert(1)</script>"),
                "shown as text: {decided}"
            );

            // The published scoreboard changed.
            c.goto(&format!("{base}/scores")).await.unwrap();
            let g = wait_for(&c, &row, 60).await;
            assert_eq!(g.attr("data-grade").await.unwrap().as_deref(), Some("pass"));
            shot(&c, "event-scores.png").await;

            // The manager's board.
            c.goto(&format!("{base}/login/{manager}")).await.unwrap();
            wait_for(&c, "table.notes", 60).await;
            shot(&c, "event-manager.png").await;
            c.close().await.unwrap();
        });
        drop(srv);
    }
}

#[test]
fn an_event_of_schema_1_is_migrated_and_gets_access() {
    let t = tempdir("serve-event-migrate");
    let ev = t.join("ev");
    let r = run(&[
        "event",
        "init",
        &s(&ev),
        "--suite",
        "suites/cr-bio",
        "--rehearsal",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // As the previous banc left it: schema 1, no access tables.
    {
        let db = rusqlite::Connection::open(ev.join("event.db")).unwrap();
        db.execute_batch("DROP TABLE sessions; DROP TABLE access; PRAGMA user_version = 1;")
            .unwrap();
    }
    let tok = token(&ev, &["--manager", "Anne Leroy"]);
    let db = rusqlite::Connection::open(ev.join("event.db")).unwrap();
    let v: i64 = db
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, 2);
    let (role, subject, hash): (String, String, String) = db
        .query_row("SELECT role, subject, token_hash FROM access", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((role.as_str(), subject.as_str()), ("manager", "Anne Leroy"));
    assert_eq!(
        hash,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(tok.as_bytes())),
        "kept as its sha256"
    );
    assert_eq!(run(&["event", "audit", &s(&ev), "--verify"]).code, 0);
    // An unknown participant gets no access.
    let r = run(&["event", "access", &s(&ev), "--participant", "inconnu"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stderr.contains("participant inconnu"), "{}", r.stderr);
}

/// Drop a file where the runner looks for a step's deposit (written aside, then renamed).
fn drop_file(ev: &Path, scenario: &str, step: &str, name: &str, bytes: &[u8]) {
    let dir = ev.join(format!("submissions/{LAB}/{scenario}/{step}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!(".{name}.part")), bytes).unwrap();
    std::fs::rename(dir.join(format!(".{name}.part")), dir.join(name)).unwrap();
}

#[test]
fn a_message_sent_to_the_events_smtp_server_before_the_attempt_waits_for_it() {
    let (t, ev) = event("serve-event-smtp");
    let lab = token(&ev, &["--participant", LAB]);
    let srv = start(&t, &ev);
    let a = srv.addr.as_str();
    let port: u16 = srv
        .lines
        .iter()
        .find_map(|l| l.strip_prefix("banc serve : SMTP de l'événement sur 127.0.0.1:"))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the SMTP port in {:?}", srv.lines));
    // The N1 prerequisites of CRBIO-P09: the document and its package, deposited.
    let docs = root().join("suites/cr-bio/documents");
    let pkg = t.join("IHE_XDM.zip");
    let r = run(&["xdm", "pack", &s(&docs.join("tsh.xml")), "-o", &s(&pkg)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    drop_file(
        &ev,
        "CRBIO-P07",
        "cr-bio",
        "nfs-crp.xml",
        &std::fs::read(docs.join("nfs-crp.xml")).unwrap(),
    );
    drop_file(
        &ev,
        "CRBIO-P08",
        "paquet",
        "IHE_XDM.zip",
        &std::fs::read(&pkg).unwrap(),
    );
    for sc in ["CRBIO-P07", "CRBIO-P08"] {
        let id = format!("{LAB}/{sc}/producer");
        let r = api(
            a,
            &lab,
            "POST",
            &format!("/api/event/instances/{id}/attempts"),
            None,
        );
        assert_eq!(r.status, 202, "{}", r.text());
        wait_status(a, &lab, &id, "passed");
    }
    // The lab sends its message at its own hour, before anyone started CRBIO-P09.
    let eml = t.join("message.eml");
    let r = run(&[
        "mail",
        "compose",
        &s(&docs.join("nfs-crp.xml")),
        "--from",
        "sgl@labo-quai.test",
        "--to",
        "banc+crbio-p09@banc.test",
        "-o",
        &s(&eml),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let msg = std::fs::read(&eml).unwrap();
    let mut c = common::SmtpConn::open(port, Duration::from_secs(30)).unwrap();
    assert_eq!(c.reply().unwrap().0, 220);
    c.cmd("EHLO sgl.labo-quai.test", 250).unwrap();
    c.cmd("MAIL FROM:<sgl@labo-quai.test>", 250).unwrap();
    c.cmd("RCPT TO:<banc+crbio-p09@banc.test>", 250).unwrap();
    c.cmd("DATA", 354).unwrap();
    let mut data = Vec::new();
    for line in msg.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b".") {
            data.push(b'.');
        }
        data.extend_from_slice(line);
    }
    if !data.ends_with(b"\r\n") {
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b".\r\n");
    c.tcp.write_all(&data).unwrap();
    assert_eq!(c.reply().unwrap().0, 250);
    let _ = c.cmd("QUIT", 221);
    // Started later, the attempt takes the message waiting in banc's inbox.
    let p09 = format!("{LAB}/CRBIO-P09/producer");
    let r = api(
        a,
        &lab,
        "POST",
        &format!("/api/event/instances/{p09}/attempts"),
        None,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let start = Instant::now();
    let attempt = loop {
        let at = api(
            a,
            &lab,
            "GET",
            &format!("/api/event/instances/{p09}/attempts"),
            None,
        )
        .json();
        // The attempt is recorded once its scenario begins, a moment after the 202.
        if let Some(last) = at.as_array().unwrap().last()
            && last["finished"].is_string()
        {
            break last.clone();
        }
        assert!(start.elapsed() < Duration::from_secs(50), "{at}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        attempt["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["kind"] == "received"),
        "the message was taken by the step: {attempt}"
    );
    assert_eq!(attempt["status"], "passed", "{attempt}");
    assert!(
        !attempt["steps"][0]["message"]
            .as_str()
            .unwrap()
            .contains("aucun message"),
        "{attempt}"
    );
}
