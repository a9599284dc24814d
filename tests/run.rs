//! `banc rehearse`, `banc run` and the simulators, run like a user runs them: the whole CR-BIO
//! suite against well-behaved and misbehaving simulated participants, and the ways a run can go
//! wrong (a SUT that never answers, closes connections, a malformed suite, Ctrl-C).

mod common;

use common::{banc, root, run, s, tempdir};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn results(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join("results.json")).expect("results.json written");
    serde_json::from_str(&text).expect("results.json is JSON")
}

fn participant<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("participant {id} in results"))
}

fn scenarios_with<'a>(p: &'a Value, status: &str) -> BTreeSet<&'a str> {
    p["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == status)
        .map(|s| s["id"].as_str().unwrap())
        .collect()
}

fn scenario<'a>(p: &'a Value, id: &str) -> &'a Value {
    p["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("scenario {id}"))
}

fn has_manual_step(s: &Value) -> bool {
    s["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|st| st["kind"] == "evidence" || st["kind"] == "monitor")
}

fn junit_is_valid(path: &Path) {
    let xml = std::fs::read(path).expect("junit.xml written");
    let schema = banc::xml::ffi::Schema::compile(&root().join("tests/schemas/junit.xsd"))
        .expect("schema compiles");
    let parsed = banc::xml::ffi::parse(&xml, "junit.xml");
    let doc = parsed.doc.expect("well-formed JUnit XML");
    let (errors, _) = schema.validate(&doc, doc.root().unwrap());
    assert!(
        errors.is_empty(),
        "{:?}",
        errors.iter().map(|e| &e.message).collect::<Vec<_>>()
    );
}

/// The "done when": the whole suites/cr-bio against the built-in simulators. The
/// well-behaved participants pass every automated scenario, required or not, and every scenario
/// with a person's step waits for a validator; the misbehaving ones fail exactly the scenarios
/// their default faults target (lab: no-read-receipt → P10, replacement-new-set-id → P12;
/// receiver: accept-unknown-patient → C02, replacement-as-new → C06).
#[test]
fn rehearsal_of_cr_bio_passes_the_good_participants_and_fails_exactly_the_faults_targets() {
    let out = tempdir("rehearse-crbio");
    let mut args = vec![
        "rehearse".to_string(),
        "suites/cr-bio".into(),
        "--out".into(),
        s(&out),
    ];
    if let Some(kit) = common::kit() {
        args.extend(["--kit".into(), s(&kit)]);
    }
    let start = Instant::now();
    let r = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let took = start.elapsed();
    assert_eq!(r.code, 1, "a faulty participant fails; stderr:\n{}", r.stderr);
    let res = results(&out);
    assert_eq!(res["schema"], "banc-run/1");
    assert_eq!(res["interrupted"], false);

    for good in ["labo-reference", "recepteur-reference"] {
        let p = participant(&res, good);
        let scen = p["scenarios"].as_array().unwrap();
        assert!(scen.len() >= 13, "{good}: every scenario of its role");
        for sc in scen {
            let want = if has_manual_step(sc) { "pending" } else { "passed" };
            assert_eq!(
                sc["status"], want,
                "{good} {}: {}",
                sc["id"], sc["reason"]
            );
        }
        // Manual steps are never silently passed.
        for sc in scen.iter().filter(|sc| has_manual_step(sc)) {
            for st in sc["steps"].as_array().unwrap() {
                if st["kind"] == "evidence" || st["kind"] == "monitor" {
                    assert_eq!(st["status"], "pending", "{good} {} {}", sc["id"], st["id"]);
                }
            }
        }
    }
    let lab = participant(&res, "labo-defaillant");
    assert_eq!(
        scenarios_with(lab, "failed"),
        BTreeSet::from(["CRBIO-P10", "CRBIO-P12"])
    );
    let rx = participant(&res, "recepteur-defaillant");
    assert_eq!(
        scenarios_with(rx, "failed"),
        BTreeSet::from(["CRBIO-C02", "CRBIO-C06"])
    );
    // The failure says what was expected and what came.
    let c02 = scenario(rx, "CRBIO-C02");
    assert!(
        c02["reason"].as_str().unwrap().contains("processed-with-error"),
        "{}",
        c02["reason"]
    );
    let p12 = scenario(lab, "CRBIO-P12");
    assert!(p12["reason"].as_str().unwrap().contains("setId"), "{}", p12["reason"]);
    // The good receiver's MDN for the unknown patient carried 902, checked as such.
    let good_c02 = scenario(participant(&res, "recepteur-reference"), "CRBIO-C02");
    let checks = &good_c02["steps"][1]["checks"];
    assert!(
        checks
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "error_code" && c["ok"] == true),
        "{checks}"
    );
    assert_eq!(res["summary"]["passed"], false);
    junit_is_valid(&out.join("junit.xml"));
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    for id in ["labo-reference", "recepteur-defaillant", "CRBIO-C06"] {
        assert!(html.contains(id), "{id} in the HTML report");
    }
    // The table on stdout names the failed required scenarios.
    assert!(r.stdout.contains("CRBIO-P12"), "{}", r.stdout);
    eprintln!("rehearsal of suites/cr-bio: {took:?}");
}

/// A receiver that never answers: the acknowledgement step fails when the wait ends, saying so,
/// and the run ends.
#[test]
fn a_sut_that_never_answers_fails_on_timeout() {
    let out = tempdir("rehearse-silent");
    let start = Instant::now();
    let r = run(&[
        "rehearse",
        "suites/cr-bio",
        "--scenario",
        "CRBIO-C01",
        "--receiver-fault",
        "silent",
        "--max-wait",
        "2s",
        "--out",
        &s(&out),
    ]);
    assert!(start.elapsed() < Duration::from_secs(60), "bounded by --max-wait");
    assert_eq!(r.code, 1, "{}", r.stderr);
    let res = results(&out);
    let c01 = scenario(participant(&res, "recepteur-defaillant"), "CRBIO-C01");
    assert_eq!(c01["status"], "failed");
    let reason = c01["reason"].as_str().unwrap();
    assert!(reason.contains("aucun accusé de lecture"), "{reason}");
    assert_eq!(
        scenario(participant(&res, "recepteur-reference"), "CRBIO-C01")["status"],
        "passed"
    );
}

/// A receiver that closes every connection: banc's send-mail step fails with the transport
/// error, the acknowledgement step is skipped, and dependents are not played.
#[test]
fn a_sut_that_closes_connections_fails_the_send_step() {
    let out = tempdir("rehearse-close");
    let r = run(&[
        "rehearse",
        "suites/cr-bio",
        "--scenario",
        "CRBIO-C01",
        "--scenario",
        "CRBIO-C10",
        "--receiver-fault",
        "close-connection",
        "--max-wait",
        "5s",
        "--out",
        &s(&out),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let res = results(&out);
    let p = participant(&res, "recepteur-defaillant");
    let c01 = scenario(p, "CRBIO-C01");
    assert_eq!(c01["status"], "failed");
    assert_eq!(c01["steps"][0]["status"], "failed");
    assert!(
        c01["steps"][0]["message"]
            .as_str()
            .unwrap()
            .contains("impossible"),
        "{}",
        c01["steps"][0]["message"]
    );
    assert_eq!(c01["steps"][1]["status"], "skipped");
    let c10 = scenario(p, "CRBIO-C10");
    assert_eq!(c10["status"], "skipped");
    assert!(c10["reason"].as_str().unwrap().contains("CRBIO-C01"));
}

/// A malformed suite is refused before anything runs, with file, line and key.
#[test]
fn a_malformed_suite_is_refused_with_its_location() {
    let dir = tempdir("bad-suite");
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    std::fs::write(dir.join("suite.toml"), "id = \"x\"\ntitle = \"X\"\n").unwrap();
    std::fs::write(
        dir.join("scenarios/X-01.toml"),
        "id = \"X-01\"\ntitle = \"t\"\nrole = \"consumer\"\nlevel = \"N1\"\n\n[[step]]\nkind = \"send-mail\"\ndocument = [\"cr-bio/valid/tsh.xml\"]\ndelai = \"3m\"\n",
    )
    .unwrap();
    let participants = dir.join("participants.toml");
    std::fs::write(
        &participants,
        "[[participant]]\nid = \"p\"\norganisation = \"O\"\nsystem = \"S\"\nroles = [\"consumer\"]\nmailbox = \"a@b.test\"\nsmtp = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    for args in [
        vec!["run".to_string(), s(&dir), "--participants".into(), s(&participants), "--out".into(), s(&dir.join("out"))],
        vec!["rehearse".to_string(), s(&dir), "--out".into(), s(&dir.join("out"))],
    ] {
        let r = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("X-01.toml:9"), "{}", r.stderr);
        assert!(r.stderr.contains("delai"), "{}", r.stderr);
        assert!(!dir.join("out/results.json").exists(), "nothing ran");
    }
}

/// Ctrl-C while banc waits for a producer's message: partial results are written (the waiting
/// step and scenario `interrupted`, steps already played kept) and the exit status is 130.
#[test]
fn ctrl_c_writes_partial_results() {
    let dir = tempdir("interrupt");
    let participants = dir.join("participants.toml");
    std::fs::write(
        &participants,
        "[[participant]]\nid = \"armor-bio\"\norganisation = \"Armor Biologie\"\nsystem = \"SGL Kermes\"\nroles = [\"producer\"]\nmailbox = \"sgl@armor-bio.test\"\n",
    )
    .unwrap();
    let out = dir.join("out");
    let mut child = banc()
        .args([
            "run",
            "suites/cr-bio",
            "--participants",
            &s(&participants),
            "--scenario",
            "CRBIO-P09",
            "--smtp-listen",
            "127.0.0.1:0",
            "--out",
            &s(&out),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("banc run starts");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let waiting = loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("envoyer à <banc+crbio-p09@banc.test>") => break true,
            Some(Ok(_)) => continue,
            _ => break false,
        }
    };
    assert!(waiting, "banc announced the step it waits on");
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let start = Instant::now();
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "banc stops after Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(130));
    let res = results(&out);
    assert_eq!(res["interrupted"], true);
    let p09 = scenario(participant(&res, "armor-bio"), "CRBIO-P09");
    assert_eq!(p09["status"], "interrupted");
    assert_eq!(p09["steps"][0]["status"], "interrupted");
    junit_is_valid(&out.join("junit.xml"));
    assert!(out.join("report.html").is_file());
}
