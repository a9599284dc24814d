//! `banc event`, run like a validator runs it: a whole rehearsal event from init to a verified
//! evidence bundle, a run killed with SIGKILL and resumed, and the refusals (unknown ids,
//! nothing to decide, a suite changed, a newer or locked database).

mod common;

use common::{banc, run, s, tempdir};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

fn json(args: &[&str]) -> Value {
    let r = run(args);
    assert!(
        r.code == 0 || r.code == 1,
        "{args:?}: exit {}\n{}",
        r.code,
        r.stderr
    );
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{args:?}: JSON ({e}): {}", r.stdout))
}

fn init_rehearsal(dir: &Path, suite: &str, extra: &[&str]) {
    let dirs = s(dir);
    let mut args = vec!["event", "init", &dirs, "--suite", suite, "--rehearsal"];
    args.extend_from_slice(extra);
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("instance(s) de test"), "{}", r.stdout);
}

fn ids(v: &Value, key: &str) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_rehearsal_event_from_init_to_a_verified_bundle() {
    let t = tempdir("event-rehearsal");
    let ev = t.join("ev");
    let evs = s(&ev);
    init_rehearsal(
        &ev,
        "suites/cr-bio",
        &["--title", "Projectathon de répétition"],
    );
    let r = run(&[
        "event",
        "run",
        &evs,
        "--smtp-listen",
        "127.0.0.1:0",
        "--max-wait",
        "20s",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 1, "the faulty participants fail: {}", r.stderr);
    let played: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(played["played"].as_array().unwrap().len(), 56);
    assert!(
        played["played"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["attempt"] == 1)
    );

    // A second run has nothing left to play.
    let again = run(&[
        "event",
        "run",
        &evs,
        "--smtp-listen",
        "127.0.0.1:0",
        "--max-wait",
        "20s",
    ]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("Rien à jouer"), "{}", again.stdout);

    // Every attempt kept what it used: messages sent and received, acknowledgements, reports.
    let status = json(&["event", "status", &evs, "--format", "json"]);
    let insts = status.as_array().unwrap();
    assert_eq!(insts.len(), 56);
    for i in insts {
        for key in ["instance", "participant", "scenario", "role", "status"] {
            assert!(i[key].is_string(), "{key} in {i}");
        }
    }
    let db = rusqlite::Connection::open(ev.join("event.db")).unwrap();
    let kinds: BTreeSet<String> = db
        .prepare("SELECT DISTINCT kind FROM artifacts")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for k in ["sent", "received", "ack", "submission"] {
        assert!(kinds.contains(k), "artifact kind {k} kept: {kinds:?}");
    }
    let (blob,): (String,) = db
        .query_row("SELECT sha256 FROM artifacts LIMIT 1", [], |r| {
            Ok((r.get(0)?,))
        })
        .unwrap();
    let bytes = std::fs::read(ev.join("blobs").join(&blob[..2]).join(&blob)).unwrap();
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
        blob
    );

    // Monitors work through the worklist: the reference systems' manual steps hold, the faulty
    // receiver's replacement (CRBIO-C12) is integrated as a new document: rejected.
    let work = json(&["event", "worklist", &evs, "--format", "json"]);
    let pending = ids(&work, "instance");
    assert!(
        pending.contains("recepteur-reference/CRBIO-C10/consumer"),
        "{pending:?}"
    );
    assert!(
        pending.contains("recepteur-defaillant/CRBIO-C12/consumer"),
        "{pending:?}"
    );
    // What to look at: the manual steps, their instructions and checklists.
    let c10 = work
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["instance"] == "recepteur-reference/CRBIO-C10/consumer")
        .unwrap();
    let steps = c10["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["kind"] == "monitor"), "{c10}");
    assert!(
        steps
            .iter()
            .any(|s| !s["checklist"].as_array().unwrap().is_empty()),
        "{c10}"
    );
    assert!(steps.iter().all(|s| s["instructions"].is_string()), "{c10}");
    for item in work.as_array().unwrap() {
        let id = item["instance"].as_str().unwrap();
        let monitor = if id.starts_with("recepteur") {
            "Claire Martin"
        } else {
            "Paul Girard"
        };
        let c = run(&["event", "claim", &evs, id, "--monitor", monitor]);
        assert_eq!(c.code, 0, "{}", c.stderr);
        let n: usize = item["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["checklist"].as_array().unwrap().len())
            .sum();
        let all: Vec<String> = (1..=n).map(|k| k.to_string()).collect();
        let (verdict, comment) = if id == "recepteur-defaillant/CRBIO-C12/consumer" {
            (
                "rejected",
                "la version 2 apparaît comme un second compte rendu",
            )
        } else {
            ("verified", "vu avec le participant")
        };
        let mut args = vec![
            "event",
            "decide",
            &evs,
            id,
            "--verdict",
            verdict,
            "--monitor",
            monitor,
            "--comment",
            comment,
        ];
        let list = all.join(",");
        if n > 0 {
            args.extend(["--checklist", &list]);
        }
        let d = run(&args);
        assert_eq!(d.code, 0, "{id}: {}", d.stderr);
    }
    // Another monitor cannot take what Claire took; nothing waits any more.
    assert_eq!(
        json(&["event", "worklist", &evs, "--format", "json"]),
        Value::Array(vec![])
    );

    let scores = json(&["event", "score", &evs, "--format", "json"]);
    let by = |p: &str, role: &str| -> Value {
        scores
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["participant"] == p && x["role"] == role)
            .cloned()
            .unwrap_or_else(|| panic!("{p} {role} in {scores}"))
    };
    assert_eq!(by("labo-reference", "producer")["grade"], "pass");
    assert_eq!(by("recepteur-reference", "consumer")["grade"], "pass");
    let failing = |row: &Value| -> BTreeSet<String> {
        row["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["instance"].as_str().map(String::from))
            .collect()
    };
    let lab = by("labo-defaillant", "producer");
    assert_eq!(lab["grade"], "fail");
    assert_eq!(
        failing(&lab),
        BTreeSet::from(["labo-defaillant/CRBIO-P12/producer".to_string()]),
        "{lab}"
    );
    let rec = by("recepteur-defaillant", "consumer");
    assert_eq!(rec["grade"], "fail");
    assert_eq!(
        failing(&rec),
        [
            "recepteur-defaillant/CRBIO-C02/consumer",
            "recepteur-defaillant/CRBIO-C06/consumer",
            "recepteur-defaillant/CRBIO-C12/consumer"
        ]
        .map(String::from)
        .into(),
        "{rec}"
    );
    for format in ["table", "csv", "junit", "html"] {
        let r = run(&["event", "score", &evs, "--format", format]);
        assert_eq!(r.code, 0, "{format}: {}", r.stderr);
        assert!(
            r.stdout.contains("labo-defaillant"),
            "{format}: {}",
            r.stdout
        );
    }
    common::assert_junit_valid(
        run(&["event", "score", &evs, "--format", "junit"])
            .stdout
            .as_bytes(),
    );

    // A manager's override is a decision with a reason, beside the computed grade.
    let o = run(&[
        "event",
        "override",
        &evs,
        "--participant",
        "labo-defaillant",
        "--role",
        "producer",
        "--grade",
        "pass",
        "--manager",
        "Anne Leroy",
        "--reason",
        "remplacement corrigé et rejoué devant le jury",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let scores = json(&["event", "score", &evs, "--format", "json"]);
    let lab = scores
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["participant"] == "labo-defaillant")
        .unwrap();
    assert_eq!(lab["grade"], "pass");
    assert_eq!(lab["computed"], "fail");
    assert_eq!(lab["override"]["manager"], "Anne Leroy");

    // The audit log holds every change and its chain holds.
    let audit = run(&["event", "audit", &evs, "--verify"]);
    assert_eq!(audit.code, 0, "{}{}", audit.stdout, audit.stderr);
    let log = json(&["event", "audit", &evs, "--format", "json"]);
    let entries = log["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "note imposée" && e["actor"] == "Anne Leroy")
    );
    assert!(
        entries
            .iter()
            .any(|e| e["after"] == "rejected" && e["actor"] == "Claire Martin")
    );

    // The whole event's bundle verifies; one byte changed and it does not.
    let bundle = t.join("preuves.zip");
    let x = run(&["event", "export", &evs, "-o", &s(&bundle)]);
    assert_eq!(x.code, 0, "{}", x.stderr);
    let key = status_key(&ev);
    let v = run(&["event", "verify", &s(&bundle), "--key", &key]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    assert!(v.stdout.contains("authentique et intact"), "{}", v.stdout);
    assert!(
        v.stdout.contains("chaîne d'empreintes vérifiée"),
        "{}",
        v.stdout
    );
    let other_key = "00".repeat(32);
    assert_eq!(
        run(&["event", "verify", &s(&bundle), "--key", &other_key]).code,
        1
    );
    let entries = common::zip_entries(&std::fs::read(&bundle).unwrap());
    for (target, what) in [
        ("event.json", "a report"),
        ("manifest.json", "the manifest"),
    ] {
        let tampered: Vec<(String, Vec<u8>)> = entries
            .iter()
            .map(|(n, b)| {
                let mut b = b.clone();
                if n == target {
                    let i = b.iter().position(|c| *c == b'"').unwrap() + 1;
                    b[i] ^= 0x01;
                }
                (n.clone(), b)
            })
            .collect();
        let bad = t.join(format!("altere-{target}.zip"));
        std::fs::write(&bad, common::zip_of(&tampered)).unwrap();
        let v = run(&["event", "verify", &s(&bad), "--key", &key]);
        assert_eq!(v.code, 1, "{what} changed must fail: {}", v.stdout);
        assert!(v.stdout.contains("NON VÉRIFIÉ"), "{}", v.stdout);
    }

    // A participant's bundle holds only what concerns it.
    let mine = t.join("labo-reference.zip");
    let x = run(&[
        "event",
        "export",
        &evs,
        "--participant",
        "labo-reference",
        "-o",
        &s(&mine),
    ]);
    assert_eq!(x.code, 0, "{}", x.stderr);
    assert_eq!(
        run(&["event", "verify", &s(&mine), "--event", &evs]).code,
        0
    );
    // Without the expected key, nothing is claimed.
    assert_eq!(run(&["event", "verify", &s(&mine)]).code, 2);
    let files = common::zip_entries(&std::fs::read(&mine).unwrap());
    let event_json: Value =
        serde_json::from_slice(&files.iter().find(|(n, _)| n == "event.json").unwrap().1).unwrap();
    assert!(
        event_json["instances"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["participant"] == "labo-reference")
    );
    let text = String::from_utf8_lossy(&files.iter().find(|(n, _)| n == "audit.json").unwrap().1)
        .into_owned();
    assert!(
        !text.contains("recepteur-defaillant") && !text.contains("labo-defaillant"),
        "{text}"
    );

    // The audit log is append-only; edited behind banc's back (triggers dropped), the chain
    // breaks; a status changed without its audit entry is found too.
    let edit = db.execute(
        "UPDATE audit SET reason = 'vu' WHERE actor = 'Claire Martin' AND after = 'rejected'",
        [],
    );
    assert!(edit.is_err(), "the audit table refuses updates");
    db.execute(
        "UPDATE instances SET status = 'verified' WHERE id = 'recepteur-defaillant/CRBIO-C02/consumer'",
        [],
    )
    .unwrap();
    let audit = run(&["event", "audit", &evs, "--verify"]);
    assert_eq!(audit.code, 1, "{}", audit.stdout);
    assert!(
        audit
            .stdout
            .contains("recepteur-defaillant/CRBIO-C02/consumer")
            && audit.stdout.contains("hors de banc"),
        "{}",
        audit.stdout
    );
    db.execute(
        "UPDATE instances SET status = 'failed' WHERE id = 'recepteur-defaillant/CRBIO-C02/consumer'",
        [],
    )
    .unwrap();
    assert_eq!(run(&["event", "audit", &evs, "--verify"]).code, 0);
    db.execute_batch("DROP TRIGGER audit_append_only_update")
        .unwrap();
    db.execute(
        "UPDATE audit SET reason = 'vu' WHERE actor = 'Claire Martin' AND after = 'rejected'",
        [],
    )
    .unwrap();
    let audit = run(&["event", "audit", &evs, "--verify"]);
    assert_eq!(audit.code, 1, "{}", audit.stdout);
    assert!(audit.stdout.contains("altéré"), "{}", audit.stdout);
}

/// The event's public key, as `banc event init` printed it (read from the store here).
fn status_key(ev: &Path) -> String {
    let db = rusqlite::Connection::open(ev.join("event.db")).unwrap();
    db.query_row("SELECT value FROM meta WHERE key = 'public_key'", [], |r| {
        r.get(0)
    })
    .unwrap()
}

#[test]
fn a_run_killed_with_sigkill_loses_no_recorded_attempt() {
    let t = tempdir("event-kill");
    let ev = t.join("ev");
    let evs = s(&ev);
    // A real lab that never deposits anything keeps its attempts running until the kill.
    let pf = t.join("participants.toml");
    std::fs::write(
        &pf,
        "[[participant]]\nid = \"labo-absent\"\norganisation = \"Laboratoire des Quais (Nantes)\"\nsystem = \"SGL Quai 2\"\nroles = [\"producer\"]\nmailbox = \"sgl@labo-absent.test\"\n",
    )
    .unwrap();
    init_rehearsal(&ev, "suites/cr-bio", &["--participants", &s(&pf)]);
    let mut child = banc()
        .args([
            "event",
            "run",
            &evs,
            "--smtp-listen",
            "127.0.0.1:0",
            "--max-wait",
            "120s",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Another banc process follows the run through the store while it plays.
    let start = Instant::now();
    let snapshot = loop {
        let st = json(&["event", "status", &evs, "--format", "json"]);
        let list = st.as_array().unwrap().clone();
        let done: Vec<(String, String)> = list
            .iter()
            .filter(|i| !["not-started", "running"].contains(&i["status"].as_str().unwrap()))
            .map(|i| {
                (
                    i["instance"].as_str().unwrap().to_string(),
                    i["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let absent_running = list
            .iter()
            .any(|i| i["participant"] == "labo-absent" && i["status"] == "running");
        if done.len() >= 20 && absent_running {
            break done;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the run did not progress: {st}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // SAFETY: a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();

    // The next command finds the run dead and marks what it was playing interrupted.
    let st = json(&["event", "status", &evs, "--format", "json"]);
    let list = st.as_array().unwrap();
    for (id, status) in &snapshot {
        let now = list.iter().find(|i| i["instance"] == id.as_str()).unwrap();
        assert_eq!(
            now["status"],
            status.as_str(),
            "{id} recorded before the kill"
        );
    }
    assert!(list.iter().all(|i| i["status"] != "running"), "{st}");
    let cut: Vec<&Value> = list
        .iter()
        .filter(|i| i["status"] == "interrupted")
        .collect();
    assert!(
        cut.iter().any(|i| i["participant"] == "labo-absent"),
        "the lab's cut attempt is interrupted: {st}"
    );
    let db = rusqlite::Connection::open(ev.join("event.db")).unwrap();
    let ok: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let running: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM attempts WHERE status = 'running'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(running, 0);
    let audit = run(&["event", "audit", &evs, "--verify"]);
    assert_eq!(audit.code, 0, "{}", audit.stdout);

    // Played again, the cut instance gets a second attempt; the first stays in its history.
    let id = cut
        .iter()
        .find(|i| i["participant"] == "labo-absent")
        .unwrap()["instance"]
        .as_str()
        .unwrap()
        .to_string();
    let r = run(&[
        "event",
        "rerun",
        &evs,
        &id,
        "--smtp-listen",
        "127.0.0.1:0",
        "--max-wait",
        "1s",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 1, "nothing deposited: failed: {}", r.stderr);
    let attempts: Vec<String> = db
        .prepare("SELECT status FROM attempts WHERE instance = ?1 ORDER BY number")
        .unwrap()
        .query_map([&id], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        attempts.first().map(String::as_str),
        Some("interrupted"),
        "{attempts:?}"
    );
    assert_eq!(
        attempts.last().map(String::as_str),
        Some("failed"),
        "{attempts:?}"
    );
}

#[test]
fn wrong_requests_are_refused_with_a_clear_error_and_nothing_written() {
    let t = tempdir("event-refusals");
    // The suite is copied: it is changed below.
    let suite = t.join("cr-bio");
    let cp = std::process::Command::new("cp")
        .args(["-r", &s(&common::root().join("suites/cr-bio")), &s(&suite)])
        .status()
        .unwrap();
    assert!(cp.success());
    let ev = t.join("ev");
    let evs = s(&ev);
    init_rehearsal(&ev, &s(&suite), &[]);
    let again = run(&["event", "init", &evs, "--suite", &s(&suite), "--rehearsal"]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("contient déjà un événement"),
        "{}",
        again.stderr
    );

    let r = run(&[
        "event",
        "run",
        &evs,
        "--participant",
        "labo-inconnu",
        "--smtp-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("labo-inconnu") && r.stderr.contains("inconnu"),
        "{}",
        r.stderr
    );
    let r = run(&[
        "event",
        "rerun",
        &evs,
        "labo-reference/CRBIO-X99/producer",
        "--smtp-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("instance inconnue"), "{}", r.stderr);
    let r = run(&[
        "event",
        "decide",
        &evs,
        "labo-reference/CRBIO-P01/producer",
        "--verdict",
        "verified",
        "--monitor",
        "Paul Girard",
        "--comment",
        "ok",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("rien à décider"), "{}", r.stderr);
    let audit_before = json(&["event", "audit", &evs, "--format", "json"])["entries"]
        .as_array()
        .unwrap()
        .len();

    // A suite changed since init: what changed, and a refusal unless accepted.
    let f = suite.join("scenarios/CRBIO-P01.toml");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, text.replacen("title = \"", "title = \"(v2) ", 1)).unwrap();
    let r = run(&[
        "event",
        "run",
        &evs,
        "--scenario",
        "CRBIO-P01",
        "--smtp-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("modifié : scenarios/CRBIO-P01.toml"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--accept-suite-change"), "{}", r.stderr);
    let audit_after = json(&["event", "audit", &evs, "--format", "json"])["entries"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        audit_before, audit_after,
        "a refused command writes nothing"
    );
    let r = run(&[
        "event",
        "run",
        &evs,
        "--scenario",
        "CRBIO-P01",
        "--participant",
        "labo-reference",
        "--accept-suite-change",
        "--smtp-listen",
        "127.0.0.1:0",
        "--max-wait",
        "20s",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = json(&["event", "audit", &evs, "--format", "json"]);
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "suite-change")
    );

    // A database held by another process: a clear message after the busy timeout.
    let db = rusqlite::Connection::open(ev.join("event.db")).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let r = run(&[
        "event",
        "override",
        &evs,
        "--participant",
        "labo-reference",
        "--role",
        "producer",
        "--grade",
        "fail",
        "--manager",
        "Anne Leroy",
        "--reason",
        "essai",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("occupée par un autre processus banc"),
        "{}",
        r.stderr
    );
    db.execute_batch("ROLLBACK").unwrap();

    // A database written by a later banc.
    db.pragma_update(None, "user_version", 99).unwrap();
    let r = run(&["event", "status", &evs]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("plus récente"), "{}", r.stderr);
}

#[test]
fn prerequisites_are_judged_from_the_store() {
    let t = tempdir("event-prereq");
    let ev = t.join("ev");
    let evs = s(&ev);
    init_rehearsal(&ev, "suites/cr-bio", &[]);
    let play = |scenario: &str| -> Value {
        let r = run(&[
            "event",
            "run",
            &evs,
            "--participant",
            "recepteur-reference",
            "--scenario",
            scenario,
            "--smtp-listen",
            "127.0.0.1:0",
            "--max-wait",
            "20s",
            "--format",
            "json",
        ]);
        assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
        serde_json::from_str(&r.stdout).unwrap()
    };
    // CRBIO-C10 needs CRBIO-C01, not played yet: C10 waits, with no attempt.
    let first = play("CRBIO-C10");
    assert_eq!(first["run"], Value::Null, "{first}");
    assert!(
        first["left"]
            .to_string()
            .contains("recepteur-reference/CRBIO-C10/consumer"),
        "{first}"
    );
    // C01 passes in its own run; then C10 plays: its prerequisite counts from the store.
    let c01 = play("CRBIO-C01");
    assert_eq!(c01["played"][0]["status"], "passed", "{c01}");
    let c10 = play("CRBIO-C10");
    assert_eq!(
        c10["played"][0]["instance"],
        "recepteur-reference/CRBIO-C10/consumer"
    );
    assert_eq!(c10["played"][0]["status"], "to-verify", "{c10}");
    // A participant is not its own partner.
    let r = run(&[
        "event",
        "run",
        &evs,
        "--participant",
        "recepteur-reference",
        "--partner",
        "recepteur-reference",
        "--smtp-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("propre partenaire"), "{}", r.stderr);
}
