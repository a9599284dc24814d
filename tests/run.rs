//! `banc rehearse`, `banc run` and the simulators, run like a user runs them: the whole CR-BIO
//! suite against well-behaved and misbehaving simulated participants, and the ways a run can go
//! wrong (a SUT that never answers, closes connections, a malformed suite, Ctrl-C).

mod common;

use common::{banc, run, s, tempdir};
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
    common::assert_junit_valid(&std::fs::read(path).expect("junit.xml written"));
}

/// The issue's "done when": the whole suites/cr-bio against the built-in simulators. The
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
    assert_eq!(
        r.code, 1,
        "a faulty participant fails; stderr:\n{}",
        r.stderr
    );
    let res = results(&out);
    assert_eq!(res["schema"], "banc-run/1");
    assert_eq!(res["interrupted"], false);

    for good in ["labo-reference", "recepteur-reference"] {
        let p = participant(&res, good);
        let scen = p["scenarios"].as_array().unwrap();
        assert!(scen.len() >= 13, "{good}: every scenario of its role");
        for sc in scen {
            let want = if has_manual_step(sc) {
                "pending"
            } else {
                "passed"
            };
            assert_eq!(sc["status"], want, "{good} {}: {}", sc["id"], sc["reason"]);
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
        c02["reason"]
            .as_str()
            .unwrap()
            .contains("processed-with-error"),
        "{}",
        c02["reason"]
    );
    let p12 = scenario(lab, "CRBIO-P12");
    assert!(
        p12["reason"].as_str().unwrap().contains("setId"),
        "{}",
        p12["reason"]
    );
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
    // The labs' mailboxes are application mailboxes of banc's server: each message from one came
    // over a session whose client certificate names that very mailbox.
    let mut from_labs = 0;
    for e in std::fs::read_dir(out.join("spool/msg")).unwrap() {
        let path = e.unwrap().path();
        if !path.to_string_lossy().ends_with(".envelope.json") {
            continue;
        }
        let env: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let from = env["mail_from"].as_str().unwrap();
        if from.starts_with("sgl@labo-") {
            from_labs += 1;
            let cert = &env["tls"]["client_cert"];
            assert_eq!(
                cert["names"],
                serde_json::json!([from]),
                "{}",
                path.display()
            );
            assert_eq!(cert["names_from"], "subjectAltName");
        }
    }
    assert!(from_labs >= 10, "{from_labs} messages from the labs");
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
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "bounded by --max-wait"
    );
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
        vec![
            "run".to_string(),
            s(&dir),
            "--participants".into(),
            s(&participants),
            "--out".into(),
            s(&dir.join("out")),
        ],
        vec![
            "rehearse".to_string(),
            s(&dir),
            "--out".into(),
            s(&dir.join("out")),
        ],
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
    // banc stops after Ctrl-C.
    let code = common::wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(code, Some(130));
    let res = results(&out);
    assert_eq!(res["interrupted"], true);
    let p09 = scenario(participant(&res, "armor-bio"), "CRBIO-P09");
    assert_eq!(p09["status"], "interrupted");
    assert_eq!(p09["steps"][0]["status"], "interrupted");
    junit_is_valid(&out.join("junit.xml"));
    assert!(out.join("report.html").is_file());
}

/// A free local port (bound then released: a tiny race, acceptable in tests).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Read `reader`'s lines until one contains `needle`; that line.
fn line_with(lines: &mut impl Iterator<Item = std::io::Result<String>>, needle: &str) -> String {
    for l in lines.by_ref() {
        let l = l.expect("read line");
        if l.contains(needle) {
            return l;
        }
    }
    panic!("no line with « {needle} »")
}

/// A real run against simulators started as their own processes, as an organiser would wire
/// them: `banc simulate receiver` answers banc's messages through banc's SMTP server, and
/// `banc simulate lab` deposits and sends the producer samples.
#[test]
fn banc_run_against_simulator_processes() {
    let dir = tempdir("run-processes");
    let banc_port = free_port();
    let banc_smtp = format!("127.0.0.1:{banc_port}");
    let mut receiver = banc()
        .args([
            "simulate",
            "receiver",
            "--listen",
            "127.0.0.1:0",
            "--relay",
            &banc_smtp,
            "--spool",
            &s(&dir.join("receiver-spool")),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("receiver starts");
    let mut out_lines = BufReader::new(receiver.stdout.take().unwrap()).lines();
    let line = line_with(&mut out_lines, "écoute sur");
    let receiver_addr = line
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .expect("address")
        .to_string();
    let participants = dir.join("participants.toml");
    std::fs::write(
        &participants,
        format!(
            "[[participant]]\nid = \"dpi-simule\"\norganisation = \"CH simulé\"\nsystem = \"banc simulate receiver\"\nroles = [\"consumer\"]\nmailbox = \"dpi@recepteur-simule.test\"\nsmtp = \"{receiver_addr}\"\n\n[[participant]]\nid = \"labo-simule\"\norganisation = \"Labo simulé\"\nsystem = \"banc simulate lab\"\nroles = [\"producer\"]\nmailbox = \"sgl@labo-simule.test\"\n"
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let mut runner = banc()
        .args([
            "run",
            "suites/cr-bio",
            "--participants",
            &s(&participants),
            "--scenario",
            "CRBIO-C01",
            "--scenario",
            "CRBIO-C02",
            "--scenario",
            "CRBIO-P01",
            "--scenario",
            "CRBIO-P09",
            "--smtp-listen",
            &banc_smtp,
            "--max-wait",
            "30s",
            "--out",
            &s(&out),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("banc run starts");
    let mut err_lines = BufReader::new(runner.stderr.take().unwrap()).lines();
    line_with(&mut err_lines, "SMTP de banc sur");
    let lab = run(&[
        "simulate",
        "lab",
        "suites/cr-bio",
        "--smtp",
        &banc_smtp,
        "--submissions",
        &s(&out.join("submissions")),
        "--scenario",
        "CRBIO-P01",
        "--scenario",
        "CRBIO-P09",
    ]);
    assert_eq!(lab.code, 0, "{}", lab.stderr);
    assert!(
        lab.stdout
            .contains("CRBIO-P09 message : envoyé à banc+crbio-p09@banc.test"),
        "{}",
        lab.stdout
    );
    // Drain stderr so banc never blocks on a full pipe.
    std::thread::spawn(move || for _ in err_lines {});
    let code = common::wait_exit(&mut runner, Duration::from_secs(60));
    let _ = receiver.kill();
    let _ = receiver.wait();
    let res = results(&out);
    assert_eq!(code, Some(0), "{res:#}");
    for (p, sc) in [
        ("dpi-simule", "CRBIO-C01"),
        ("dpi-simule", "CRBIO-C02"),
        ("labo-simule", "CRBIO-P01"),
        ("labo-simule", "CRBIO-P09"),
    ] {
        assert_eq!(
            scenario(participant(&res, p), sc)["status"],
            "passed",
            "{p} {sc}"
        );
    }
}

/// Answer HTTP requests on a thread: `GET /api/statut` → 200 with a body, anything else → 404.
fn http_sut() -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/api", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]);
            let (status, body) = if req.starts_with("GET /api/statut ") {
                ("200 OK", "document intégré")
            } else {
                ("404 Not Found", "introuvable")
            };
            let _ = write!(
                c,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

/// `http` steps both ways (banc calls the SUT; the SUT calls banc's listener) and a monitor step
/// decided by a validator's decisions file.
#[test]
fn http_steps_and_validator_decisions() {
    let dir = tempdir("http-steps");
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    std::fs::write(
        dir.join("suite.toml"),
        "id = \"web\"\ntitle = \"Intégration par API\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("scenarios/W-01.toml"),
        r#"id = "W-01"
title = "Statut d'intégration et notification"
role = "consumer"
level = "N1"

[[step]]
id = "statut"
kind = "http"
url = "{participant.http}/statut"
body_contains = "intégré"

[[step]]
id = "notification"
kind = "http"
wait = true
method = "POST"
path = "/notification"
body_contains = "CRBIO"
timeout = "30s"

[[step]]
id = "controle"
kind = "monitor"
instructions = "Vérifier l'affichage du résultat dans le dossier."
checklist = ["Résultat affiché"]
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("scenarios/W-02.toml"),
        "id = \"W-02\"\ntitle = \"Point d'accès absent\"\nrole = \"consumer\"\nlevel = \"N1\"\nrequired = false\n\n[[step]]\nkind = \"http\"\nurl = \"{participant.http}/absent\"\n",
    )
    .unwrap();
    let participants = dir.join("participants.toml");
    std::fs::write(
        &participants,
        format!(
            "[[participant]]\nid = \"dpi\"\norganisation = \"CH de la Rance\"\nsystem = \"DPI Hélios\"\nroles = [\"consumer\"]\nmailbox = \"dpi@ch-rance.test\"\nhttp = \"{}\"\n",
            http_sut()
        ),
    )
    .unwrap();
    let decisions = dir.join("decisions.toml");
    std::fs::write(
        &decisions,
        "[[decision]]\nparticipant = \"dpi\"\nscenario = \"W-01\"\nstep = \"controle\"\nverdict = \"pass\"\nby = \"Mme Le Gall (moniteur)\"\n",
    )
    .unwrap();
    let out = dir.join("out");
    let mut child = banc()
        .args([
            "run",
            &s(&dir),
            "--participants",
            &s(&participants),
            "--decisions",
            &s(&decisions),
            "--smtp-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--out",
            &s(&out),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("banc run starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = line_with(&mut lines, "écoute HTTP sur");
    let base = line.rsplit(' ').next().unwrap().to_string();
    line_with(&mut lines, "appeler");
    std::thread::spawn(move || for _ in lines {});
    // The SUT's notification, by hand (HTTP/1.1 over a socket).
    {
        use std::io::{Read, Write};
        let addr = base.trim_start_matches("http://");
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        let body = "{\"document\":\"CRBIO-TSH\"}";
        write!(
            c,
            "POST /dpi/notification HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = String::new();
        let _ = c.read_to_string(&mut reply);
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    }
    let code = common::wait_exit(&mut child, Duration::from_secs(60));
    let res = results(&out);
    assert_eq!(
        code,
        Some(0),
        "required W-01 passed, optional W-02 failed: {res:#}"
    );
    let p = participant(&res, "dpi");
    let w1 = scenario(p, "W-01");
    assert_eq!(w1["status"], "passed", "{w1:#}");
    assert_eq!(w1["steps"][2]["decision"]["by"], "Mme Le Gall (moniteur)");
    let w2 = scenario(p, "W-02");
    assert_eq!(w2["status"], "failed");
    assert!(
        w2["reason"]
            .as_str()
            .unwrap()
            .contains("attendu 200, reçu 404"),
        "{}",
        w2["reason"]
    );
}

/// A depot for `.url` submissions on 127.0.0.1: `/cr.xml` a valid CR-BIO, `/redirect` a
/// redirect to the same document under another host name (`localhost`), `/huge` a body
/// announced at 100 MB; every path asked for is recorded.
fn url_depot() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = asked.clone();
    let cda = std::fs::read(common::root().join("fixtures/cr-bio/valid/tsh.xml")).unwrap();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let path = req.split(' ').nth(1).unwrap_or("").to_string();
            log.lock().unwrap().push(path.clone());
            let _ = match path.as_str() {
                "/cr.xml" => write!(
                    c,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    cda.len()
                )
                .and_then(|()| c.write_all(&cda)),
                "/redirect" => write!(
                    c,
                    "HTTP/1.1 302 Found\r\nLocation: http://localhost:{port}/cr.xml\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
                "/huge" => write!(
                    c,
                    "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\nConnection: close\r\n\r\n"
                ),
                _ => write!(
                    c,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
            };
        }
    });
    (port, asked)
}

/// A `.url` submission is fetched only over http(s) from a host declared for its participant
/// (`hosts`): a declared 127.0.0.1 is fetched and judged; an undeclared host, `file://`, a name
/// resolving to a loopback address that is not itself declared, a redirect to another host and
/// a body announced beyond the bound are refused, each with its reason, and banc never
/// connects for the refused ones.
#[test]
fn url_submissions_are_fetched_only_from_declared_hosts() {
    let (port, asked) = url_depot();
    let dir = tempdir("url-hosts");
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    std::fs::write(
        dir.join("suite.toml"),
        "id = \"depot\"\ntitle = \"Dépôt par adresse\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("scenarios/U-01.toml"),
        "id = \"U-01\"\ntitle = \"CR-BIO déposé par une adresse\"\nrole = \"producer\"\nlevel = \"N1\"\n\n[[step]]\nid = \"depot\"\nkind = \"submit\"\naccept = [\"cda\"]\nexpect = { verdict = \"pass\" }\n",
    )
    .unwrap();
    let cases = [
        (
            "declare",
            "[\"127.0.0.1\"]",
            format!("http://127.0.0.1:{port}/cr.xml"),
        ),
        (
            "non-declare",
            "[]",
            format!("http://127.0.0.1:{port}/cr.xml"),
        ),
        (
            "fichier",
            "[\"127.0.0.1\"]",
            "file:///etc/passwd".to_string(),
        ),
        (
            "nom-local",
            "[\"localhost\"]",
            format!("http://localhost:{port}/cr.xml"),
        ),
        (
            "redirige",
            "[\"127.0.0.1\"]",
            format!("http://127.0.0.1:{port}/redirect"),
        ),
        (
            "trop-gros",
            "[\"127.0.0.1\"]",
            format!("http://127.0.0.1:{port}/huge"),
        ),
    ];
    let out = dir.join("out");
    let mut participants = String::new();
    for (id, hosts, url) in &cases {
        participants.push_str(&format!(
            "[[participant]]\nid = \"{id}\"\norganisation = \"O\"\nsystem = \"S\"\nroles = [\"producer\"]\nmailbox = \"sgl@{id}.test\"\nhosts = {hosts}\n\n"
        ));
        let step = out.join("submissions").join(id).join("U-01/depot");
        std::fs::create_dir_all(&step).unwrap();
        std::fs::write(step.join("depot.url"), format!("{url}\n")).unwrap();
    }
    let pfile = dir.join("participants.toml");
    std::fs::write(&pfile, participants).unwrap();
    let r = run(&[
        "run",
        &s(&dir),
        "--participants",
        &s(&pfile),
        "--smtp-listen",
        "127.0.0.1:0",
        "--max-wait",
        "20s",
        "--out",
        &s(&out),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let res = results(&out);
    let step = |id: &str| scenario(participant(&res, id), "U-01")["steps"][0].clone();
    assert_eq!(step("declare")["status"], "passed", "{:#}", step("declare"));
    for (id, why) in [
        (
            "non-declare",
            "l'hôte « 127.0.0.1 » n'est pas déclaré pour le participant non-declare",
        ),
        (
            "fichier",
            "seules les adresses http:// et https:// sont téléchargées, pas file:",
        ),
        (
            "nom-local",
            "« localhost » désigne 127.0.0.1, une adresse locale ou privée",
        ),
        (
            "redirige",
            &format!("redirection 302 vers « http://localhost:{port}/cr.xml » non suivie"),
        ),
        ("trop-gros", "réponse annoncée de plus de"),
    ] {
        let st = step(id);
        assert_eq!(st["status"], "failed", "{id}: {st:#}");
        let m = st["message"].as_str().unwrap();
        assert!(m.contains(why), "{id}: {m}");
    }
    let mut asked = asked.lock().unwrap().clone();
    asked.sort();
    assert_eq!(
        asked,
        ["/cr.xml", "/huge", "/redirect"],
        "only the declared host, once each"
    );
}

/// What a rehearsal writes is its own: the output folder is its owner's only (0700), the
/// simulated lab's copies of the suite's documents and the test keys are 0600, whatever the
/// mode of the suite's files.
#[test]
fn rehearsal_outputs_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let out = tempdir("rehearse-modes").join("out");
    let r = run(&[
        "rehearse",
        "suites/cr-bio",
        "--scenario",
        "CRBIO-P01",
        "--out",
        &s(&out),
    ]);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), 0o700);
    let mut deposits = 0;
    for e in walk(&out.join("submissions")) {
        assert_eq!(mode(&e), 0o600, "{}", e.display());
        deposits += 1;
    }
    assert!(deposits >= 2, "each simulated lab deposited its sample");
    let mut keys = 0;
    for e in std::fs::read_dir(out.join("certs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "key") {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
            keys += 1;
        }
    }
    assert!(keys >= 3, "server and lab keys");
}

/// Files under `dir`, recursively.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
