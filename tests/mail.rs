//! The MSSanté message layer: judging a received message (M01–M16 and the bad inputs of
//! mssante-xdm.md §6), composing one (with deliberate faults), MDN and DSN.
//!
//! `fixtures/mail/README.md` is the expected outcome of every fixture: its tables are read here.
//! Generated fixtures (valid messages, faults, banc's MDNs) must match what compose/make_mdn
//! produce today: `BANC_UPDATE_FIXTURES=1 cargo test --release --test mail` rewrites them.

mod common;

use banc::finding::{Finding, Severity};
use banc::mail::compose::{self, ComposeOptions, Fault, PdfSource};
use banc::mail::mdn::{self, MdnOptions, MdnStyle, Outcome};
use banc::mail::{self, Policy};
use banc::pipeline::{Options, Validator};
use banc::xdm::PackOptions;
use common::{root, run, s, tempdir};
use std::path::PathBuf;

const FROM: &str = "sgl@lbm-golfe.mssante.fr";
const TO: &str = "biologie@chbs-bretagne.mssante.fr";
const REPORTING: &str = "bal-biologie@chbs-bretagne.mssante.fr";
/// 2026-01-21 15:25:00 UTC.
const DATE: i64 = 1_769_009_100;

fn cda(name: &str) -> (String, Vec<u8>) {
    let p = root().join("fixtures/cr-bio/valid").join(name);
    (name.to_string(), std::fs::read(&p).expect("fixture CDA"))
}

/// The options of every generated fixture: fixed dates and ids, so the bytes are reproducible.
fn fixed(stem: &str, to: &[&str]) -> ComposeOptions {
    ComposeOptions {
        from: FROM.into(),
        to: to.iter().map(|s| s.to_string()).collect(),
        message_id: Some(format!("{stem}.20260121T152500@lbm-golfe.mssante.fr")),
        date: Some(DATE),
        disposition_notification_to: Some(FROM.into()),
        package: PackOptions {
            sender: Some(format!(
                "Laboratoire de biologie médicale du Golfe <{FROM}>"
            )),
            submission_time: Some("20260121152500".into()),
            ..PackOptions::default()
        },
        ..ComposeOptions::default()
    }
}

fn mdn_fixed(stem: &str) -> MdnOptions {
    MdnOptions {
        date: Some(DATE + 900),
        message_id: Some(format!("{stem}.20260121T154000@chbs-bretagne.mssante.fr")),
        ..MdnOptions::default()
    }
}

/// Every generated fixture: path under fixtures/mail, bytes.
fn generated() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let tsh = cda("tsh.xml");
    let patient = "291025626003396@patient.mssante.fr";
    for (name, to) in [
        ("tsh", vec![TO, patient]),
        ("nfs-crp", vec![TO]),
        ("glycemie-ionogramme", vec![TO]),
    ] {
        let doc = cda(&format!("{name}.xml"));
        let raw = compose::compose(&[doc], &fixed(name, &to)).expect("compose valid");
        out.push((format!("valid/{name}.eml"), raw));
    }
    for fault in Fault::ALL {
        let stem = fault.name();
        let mut o = fixed(stem, &[TO]);
        o.faults = vec![fault];
        let docs = if fault == Fault::TwoPatients {
            vec![tsh.clone(), cda("nfs-crp.xml")]
        } else {
            vec![tsh.clone()]
        };
        let raw = compose::compose(&docs, &o).expect("compose fault");
        out.push((format!("faults/{stem}.eml"), raw));
    }
    let original = &out[0].1.clone();
    let acks = [
        ("mdn-processed", Outcome::Processed, MdnStyle::Legacy),
        (
            "mdn-error-902",
            Outcome::error(902).unwrap(),
            MdnStyle::Legacy,
        ),
        (
            "mdn-error-903-rfc8098",
            Outcome::error(903).unwrap(),
            MdnStyle::Rfc8098,
        ),
    ];
    for (stem, outcome, style) in acks {
        let o = MdnOptions {
            style,
            ..mdn_fixed(stem)
        };
        let raw = mdn::make_mdn_with(original, REPORTING, outcome, &o).expect("make MDN");
        out.push((format!("acks/{stem}.eml"), raw));
    }
    out
}

fn fixtures() -> PathBuf {
    root().join("fixtures/mail")
}

#[test]
fn generated_fixtures_are_up_to_date() {
    let update = std::env::var("BANC_UPDATE_FIXTURES").as_deref() == Ok("1");
    let mut stale = Vec::new();
    for (rel, bytes) in generated() {
        let p = fixtures().join(&rel);
        if update {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &bytes).unwrap();
        } else if std::fs::read(&p).ok().as_deref() != Some(bytes.as_slice()) {
            stale.push(rel);
        }
    }
    assert!(
        stale.is_empty(),
        "fixtures differ from what banc generates now: {stale:?}\n\
         regenerate with BANC_UPDATE_FIXTURES=1 cargo test --release --test mail"
    );
}

/// A row of the README tables: file, rule (None: nothing at warning or above), severity,
/// original message.
struct Row {
    file: String,
    rule: Option<String>,
    severity: Option<Severity>,
    original: Option<String>,
}

fn readme_rows() -> Vec<Row> {
    let text = std::fs::read_to_string(fixtures().join("README.md")).unwrap();
    let cell = |c: &str| {
        let c = c.trim().trim_matches('`').to_string();
        (c != "—" && !c.is_empty()).then_some(c)
    };
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let c: Vec<&str> = l.split('|').collect();
            assert!(c.len() >= 6, "README row with 4 columns: {l}");
            Row {
                file: cell(c[1]).unwrap(),
                rule: cell(c[2]),
                severity: cell(c[3]).map(|s| Severity::parse(&s).expect("severity")),
                original: cell(c[4]),
            }
        })
        .collect()
}

/// Findings of the message layer (or of an acknowledgement) for a fixture; for a rule of
/// another layer (a package or document fault), every report `banc validate` writes for it.
fn findings_of(row: &Row, v: &Validator) -> Vec<Finding> {
    let raw = std::fs::read(fixtures().join(&row.file)).unwrap();
    if row.file.starts_with("acks/") {
        let original = row
            .original
            .as_ref()
            .map(|o| std::fs::read(fixtures().join(o)).unwrap());
        mdn::judge_ack(&raw, original.as_deref()).1
    } else if row.rule.as_ref().is_some_and(|r| !r.starts_with("mail.")) {
        mail::analyse(&row.file, &raw, v, &Policy::default())
            .into_iter()
            .flat_map(|r| r.findings)
            .collect()
    } else {
        mail::judge_message(&raw, &Policy::default()).findings
    }
}

#[test]
fn every_fixture_raises_its_rule() {
    let rows = readme_rows();
    assert!(rows.len() > 60, "README rows read: {}", rows.len());
    let v = Validator::new(None, Options::default()).unwrap();
    let mut failures = Vec::new();
    for row in &rows {
        let found = findings_of(row, &v);
        match (&row.rule, row.severity) {
            (Some(rule), Some(sev)) => {
                if !found.iter().any(|f| &f.rule == rule && f.severity == sev) {
                    let got: Vec<String> = found
                        .iter()
                        .map(|f| format!("{} ({})", f.rule, f.severity))
                        .collect();
                    failures.push(format!(
                        "{}: {rule} ({sev}) expected, got {got:?}",
                        row.file
                    ));
                }
            }
            _ => {
                let bad: Vec<String> = found
                    .iter()
                    .filter(|f| f.severity >= Severity::Warning)
                    .map(|f| format!("{} {}", f.rule, f.message))
                    .collect();
                if !bad.is_empty() {
                    failures.push(format!("{}: no warning expected, got {bad:?}", row.file));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn readme_lists_every_fixture_and_every_fault() {
    let rows = readme_rows();
    let listed: Vec<&str> = rows.iter().map(|r| r.file.as_str()).collect();
    for dir in ["valid", "faults", "handmade", "acks"] {
        for e in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            let name = format!("{dir}/{}", e.unwrap().file_name().to_string_lossy());
            assert!(
                listed.contains(&name.as_str()),
                "{name} is not in the README"
            );
        }
    }
    for fault in Fault::ALL {
        let file = format!("faults/{}.eml", fault.name());
        let row = rows
            .iter()
            .find(|r| r.file == file)
            .unwrap_or_else(|| panic!("{file} not in the README"));
        assert_eq!(row.rule.as_deref(), Some(fault.rule()), "{file}");
    }
}

#[test]
fn composed_messages_pass_the_whole_pipeline() {
    let v = Validator::new(None, Options::default()).unwrap();
    for name in ["tsh.xml", "nfs-crp.xml", "glycemie-ionogramme.xml"] {
        let o = ComposeOptions {
            to: vec![TO.into()],
            ..ComposeOptions::default()
        };
        let raw = compose::compose(&[cda(name)], &o).unwrap();
        let reports = mail::analyse("m.eml", &raw, &v, &Policy::default());
        // Message, package, document.
        assert_eq!(reports.len(), 3, "{name}");
        assert_eq!(reports[0].profile.as_deref(), Some("mssante-message"));
        assert_eq!(reports[1].path, "m.eml!IHE_XDM.zip");
        assert!(
            reports[2]
                .path
                .starts_with("m.eml!IHE_XDM.zip!IHE_XDM/SUBSET01/")
        );
        let warn: Vec<_> = reports[0]
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
            .map(|f| &f.rule)
            .collect();
        assert!(warn.is_empty(), "{name}: {warn:?}");
        for r in &reports {
            assert_eq!(
                r.verdict.as_str(),
                "pass",
                "{name}: {} {:?}",
                r.path,
                r.findings
            );
        }
        // The report lists the checks that ran, findings or not.
        let ran: Vec<&str> = reports[0]
            .rules_run
            .iter()
            .map(|r| r.rule.as_str())
            .collect();
        for id in [
            "mail.header.required",
            "mail.zip.missing",
            "mail.x-mss-ins.mismatch",
        ] {
            assert!(ran.contains(&id), "{id} not recorded as run");
        }
    }
}

#[test]
fn subject_headers_and_pdf_follow_the_conventions() {
    let o = ComposeOptions {
        to: vec![TO.into(), "291025626003396@patient.mssante.fr".into()],
        ..ComposeOptions::default()
    };
    let raw = compose::compose(&[cda("tsh.xml")], &o).unwrap();
    let h = |n: &str| mail::header_text(&raw, n);
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.contains("Subject: XDM/1.0/DDM+Compte rendu d'examens biologiques GAUTIER SOPHIE")
    );
    assert!(text.contains("23/02/1991"));
    assert_eq!(h("X-MSS-CODECDA").as_deref(), Some("11502-2"));
    assert_eq!(h("X-MSS-INS").as_deref(), Some("O"));
    assert_eq!(h("X-MSS-NIL").as_deref(), Some(compose::DEFAULT_NIL));
    assert_eq!(h("X-MSS-MES").as_deref(), Some("FIN"));
    assert!(text.contains("Content-Type: application/zip; name=\"IHE_XDM.zip\""));
    assert!(text.contains("filename=\"IHE_XDM.zip\""));
    // The PDF copy embedded in the CDA, named per ECO.2.1.6 (act date of the service event).
    let pdf_name = "_Compte rendu d'examens biologiques_GAUTIER_SOPHIE.pdf";
    assert!(text.contains(pdf_name), "PDF part named ...{pdf_name}");
    // Without a patient mailbox, no X-MSS-MES; a CDA without PDF copy and --no-pdf: no PDF part.
    let o = ComposeOptions {
        to: vec![TO.into()],
        pdf: PdfSource::None,
        ..ComposeOptions::default()
    };
    let raw = compose::compose(&[cda("tsh.xml")], &o).unwrap();
    assert_eq!(mail::header_text(&raw, "X-MSS-MES"), None);
    assert!(!String::from_utf8_lossy(&raw).contains("application/pdf"));
    // Two patients are refused unless asked for as a fault.
    let two = [cda("tsh.xml"), cda("nfs-crp.xml")];
    assert!(
        compose::compose(
            &two,
            &ComposeOptions {
                to: vec![TO.into()],
                ..ComposeOptions::default()
            }
        )
        .is_err()
    );
    // Message-IDs differ from one message to the next.
    let a = compose::compose(
        &[cda("tsh.xml")],
        &ComposeOptions {
            to: vec![TO.into()],
            ..ComposeOptions::default()
        },
    )
    .unwrap();
    let b = compose::compose(
        &[cda("tsh.xml")],
        &ComposeOptions {
            to: vec![TO.into()],
            ..ComposeOptions::default()
        },
    )
    .unwrap();
    assert_ne!(mail::message_id(&a), mail::message_id(&b));
}

#[test]
fn findings_point_at_the_header_and_line() {
    let raw = std::fs::read(fixtures().join("faults/wrong-ins-header.eml")).unwrap();
    let j = mail::judge_message(&raw, &Policy::default());
    let f = j
        .findings
        .iter()
        .find(|f| f.rule == "mail.x-mss-ins.mismatch")
        .unwrap();
    assert_eq!(f.location.xpath.as_deref(), Some("header:X-MSS-INS"));
    let line = f.location.line.unwrap() as usize;
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.lines()
            .nth(line - 1)
            .unwrap()
            .starts_with("X-MSS-INS:")
    );
    assert!(f.spec.as_deref().unwrap().starts_with("MSSanté M12"));

    let raw = std::fs::read(fixtures().join("faults/octet-stream.eml")).unwrap();
    let j = mail::judge_message(&raw, &Policy::default());
    let f = j
        .findings
        .iter()
        .find(|f| f.rule == "mail.zip.octet-stream")
        .unwrap();
    assert_eq!(
        f.location.xpath.as_deref(),
        Some("part[2]/header:Content-Type")
    );
    let line = f.location.line.unwrap() as usize;
    assert!(
        String::from_utf8_lossy(&raw)
            .lines()
            .nth(line - 1)
            .unwrap()
            .starts_with("Content-Type: application/octet-stream")
    );
}

#[test]
fn size_limit_and_reused_message_ids() {
    let raw = std::fs::read(fixtures().join("valid/nfs-crp.eml")).unwrap();
    let small = Policy {
        max_size: 4096,
        ..Policy::default()
    };
    let j = mail::judge_message(&raw, &small);
    let f = j
        .findings
        .iter()
        .find(|f| f.rule == "mail.message.oversize")
        .unwrap();
    assert_eq!(f.severity, Severity::Error);
    assert!(
        mail::judge_message(&raw, &Policy::default())
            .findings
            .iter()
            .all(|f| f.rule != "mail.message.oversize")
    );

    let other = std::fs::read(fixtures().join("valid/tsh.eml")).unwrap();
    let reused = mail::reused_message_ids(&[("a.eml", &raw), ("b.eml", &other), ("c.eml", &raw)]);
    assert_eq!(reused.len(), 1);
    assert_eq!(reused[0].0, "c.eml");
    assert_eq!(reused[0].1.rule, "mail.header.message-id-reused");
}

#[test]
fn banc_mdns_pass_banc_judge() {
    let original = std::fs::read(fixtures().join("valid/tsh.eml")).unwrap();
    let mut outcomes = vec![Outcome::Processed];
    outcomes.extend((900..=906).map(|c| Outcome::error(c).unwrap()));
    for outcome in outcomes {
        for style in [MdnStyle::Legacy, MdnStyle::Rfc8098] {
            let o = MdnOptions {
                style,
                ..MdnOptions::default()
            };
            let raw = mdn::make_mdn_with(&original, REPORTING, outcome.clone(), &o).unwrap();
            let (findings, _) = mdn::judge_mdn(&raw, Some(&original));
            let bad: Vec<_> = findings
                .iter()
                .filter(|f| f.severity >= Severity::Warning)
                .map(|f| format!("{}: {}", f.rule, f.message))
                .collect();
            assert!(bad.is_empty(), "{outcome:?} {style:?}: {bad:?}");
            let m = mdn::parse_mdn(&raw).unwrap();
            let want = match &outcome {
                Outcome::Processed => "processed".to_string(),
                Outcome::Error { code, .. } => format!("processed-with-error {code}"),
            };
            assert_eq!(m.outcome(), want);
            assert_eq!(m.original_message_id, mail::message_id(&original));
            assert_eq!(m.to, ["sgl@lbm-golfe.mssante.fr"]);
            if let Outcome::Error { code, label } = &outcome {
                let e = m.error.as_ref().unwrap();
                assert_eq!((e.code, e.label.as_str()), (Some(*code), label.as_str()));
                assert!(
                    m.subject
                        .as_deref()
                        .unwrap()
                        .starts_with(&format!("[KO Intégration système !][{code}] XDM/1.0/DDM+"))
                );
            }
            // The original travels whole in part 3.
            assert_eq!(m.original.as_deref(), Some(original.as_slice()));
        }
    }
    // Judged against another message, the Original-Message-ID no longer matches.
    let raw = mdn::make_mdn(&original, REPORTING, Outcome::Processed).unwrap();
    let other = std::fs::read(fixtures().join("valid/nfs-crp.eml")).unwrap();
    let (f, _) = mdn::judge_mdn(&raw, Some(&other));
    assert!(
        f.iter()
            .any(|f| f.rule == "mail.mdn.original-message-id-mismatch")
    );
}

#[test]
fn mdn_only_when_asked() {
    let o = ComposeOptions {
        to: vec![TO.into()],
        ..ComposeOptions::default()
    };
    let raw = compose::compose(&[cda("tsh.xml")], &o).unwrap();
    let err = mdn::make_mdn(&raw, REPORTING, Outcome::Processed).unwrap_err();
    assert!(err.contains("Disposition-Notification-To"), "{err}");
    let forced = MdnOptions {
        force: true,
        ..MdnOptions::default()
    };
    let m = mdn::make_mdn_with(&raw, REPORTING, Outcome::Processed, &forced).unwrap();
    // Judged against an original that did not ask: flagged.
    let (f, _) = mdn::judge_mdn(&m, Some(&raw));
    assert!(f.iter().any(|f| f.rule == "mail.mdn.not-requested"));
}

#[test]
fn dsn_is_read() {
    let raw = std::fs::read(fixtures().join("acks/dsn-failed.eml")).unwrap();
    let d = mdn::parse_dsn(&raw).unwrap();
    assert!(!d.delivered());
    assert_eq!(d.recipients.len(), 1);
    let r = &d.recipients[0];
    assert_eq!(r.action.as_deref(), Some("failed"));
    assert_eq!(r.status.as_deref(), Some("5.1.1"));
    assert!(r.diagnostic_code.as_deref().unwrap().contains("550 5.1.1"));
    assert_eq!(
        d.returned_message_id.as_deref(),
        Some("<tsh.20260121T152500@lbm-golfe.mssante.fr>")
    );
    // An MDN is not a DSN, and the other way round.
    assert!(mdn::parse_mdn(&raw).is_err());
    let m = std::fs::read(fixtures().join("acks/mdn-processed.eml")).unwrap();
    assert!(mdn::parse_dsn(&m).is_err());
}

/// xorshift: reproducible pseudo-random bytes without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn judge_everything(raw: &[u8]) {
    let _ = mail::judge_message(raw, &Policy::default());
    let _ = mdn::judge_ack(raw, Some(raw));
    let _ = mdn::parse_mdn(raw);
    let _ = mdn::parse_dsn(raw);
    let _ = mdn::make_mdn_with(
        raw,
        REPORTING,
        Outcome::Processed,
        &MdnOptions {
            force: true,
            ..MdnOptions::default()
        },
    );
}

#[test]
fn garbage_never_panics_nor_hangs() {
    let start = std::time::Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let seeds: Vec<Vec<u8>> = [
        "valid/tsh.eml",
        "acks/mdn-error-902.eml",
        "acks/dsn-failed.eml",
    ]
    .iter()
    .map(|p| std::fs::read(fixtures().join(p)).unwrap())
    .collect();
    let tokens: [&[u8]; 14] = [
        b"\r\n",
        b"\n",
        b"\r",
        b"--",
        b"=?utf-8?B?",
        b"?=",
        b":",
        b"\xC3",
        b"\xFF",
        b"boundary=\"",
        b"\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n",
        b"\r\nContent-Transfer-Encoding: base64\r\n",
        b"Disposition: automatic-action/MDN-sent-automatically; processed/Error: ",
        b"^",
    ];
    for i in 0..3000 {
        let mut m = seeds[i % seeds.len()].clone();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(m.len());
            match rng.below(4) {
                0 => m.truncate(at),
                1 => {
                    let i = at.min(m.len().saturating_sub(1));
                    if let Some(b) = m.get_mut(i) {
                        *b = rng.next() as u8;
                    }
                }
                2 => {
                    let t = tokens[rng.below(tokens.len())];
                    m.splice(at..at, t.iter().copied());
                }
                _ => {
                    let len = rng.below(64).min(m.len() - at.min(m.len()));
                    m.drain(at..at + len);
                }
            }
        }
        judge_everything(&m);
    }
    for n in [0usize, 1, 7, 300, 5000] {
        let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        judge_everything(&bytes);
    }
    // Very deep nesting and very many parts: bounded.
    let mut deep = b"From: a@b.fr\r\n".to_vec();
    for i in 0..20_000 {
        deep.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"n{i}\"\r\n\r\n--n{i}\r\n")
                .as_bytes(),
        );
    }
    let j = mail::judge_message(&deep, &Policy::default());
    assert!(j.findings.iter().any(|f| f.rule == "mail.mime.too-deep"));
    let mut many = b"From: a@b.fr\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n".to_vec();
    for _ in 0..50_000 {
        many.extend_from_slice(b"--x\r\n\r\nt\r\n");
    }
    let j = mail::judge_message(&many, &Policy::default());
    assert!(
        j.findings
            .iter()
            .any(|f| f.rule == "mail.mime.too-many-parts")
    );
    // One header line of 5 MB.
    let mut long = b"From: a@b.fr\r\nSubject: ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 5_000_000));
    judge_everything(&long);
    assert!(start.elapsed().as_secs() < 60, "took {:?}", start.elapsed());
}

// The command line, as a user runs it.

#[test]
fn cli_compose_validate_mdn_ack() {
    let dir = tempdir("mail-cli");
    let msg = dir.join("msg.eml");
    let cda = root().join("fixtures/cr-bio/valid/tsh.xml");
    let r = run(&[
        "mail",
        "compose",
        &s(&cda),
        "--to",
        TO,
        "--from",
        FROM,
        "--mdn-to",
        FROM,
        "-o",
        &s(&msg),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Message-ID <"));
    // banc validate reads the .eml: message, package and document reports.
    let (code, json) = common::validate_json(&[&s(&msg)]);
    assert_eq!(code, 0, "{json}");
    let docs = json["documents"].as_array().unwrap();
    assert_eq!(docs[0]["profile"], "mssante-message");
    assert_eq!(docs.len(), 3);
    // A faulty message fails (exit 1) with its rule.
    let bad = dir.join("bad.eml");
    let r = run(&[
        "mail",
        "compose",
        &s(&cda),
        "--to",
        TO,
        "--fault",
        "subject-no-prefix",
        "--fault",
        "no-zip",
        "-o",
        &s(&bad),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (code, json) = common::validate_json(&[&s(&bad)]);
    assert_eq!(code, 1);
    let rules = common::rules(&json["documents"][0]);
    assert!(
        rules.contains(&"mail.subject.prefix".to_string()),
        "{rules:?}"
    );
    assert!(rules.contains(&"mail.zip.missing".to_string()), "{rules:?}");
    // An error MDN, judged: exit 0 (only informative findings), outcome in the JSON.
    let m = dir.join("mdn.eml");
    let r = run(&[
        "mail",
        "mdn",
        "--original",
        &s(&msg),
        "--error",
        "902",
        "--from",
        REPORTING,
        "-o",
        &s(&m),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&[
        "mail",
        "ack",
        &s(&m),
        "--original",
        &s(&msg),
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["documents"][0]["profile"], "mdn");
    assert!(r.stdout.contains("processed-with-error 902"));
    // A broken acknowledgement: exit 1.
    let r = run(&[
        "mail",
        "ack",
        &s(&fixtures().join("acks/dsn-status-inconsistent.eml")),
    ]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("mail.dsn.status"));
    // Not a message at all: exit 2 (verdict error).
    let r = run(&[
        "mail",
        "ack",
        &s(&fixtures().join("handmade/not-a-message.eml")),
    ]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    // No MDN requested: refused, unless forced.
    let plain = dir.join("plain.eml");
    assert_eq!(
        run(&["mail", "compose", &s(&cda), "--to", TO, "-o", &s(&plain)]).code,
        0
    );
    let r = run(&["mail", "mdn", "--original", &s(&plain), "-o", &s(&m)]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("Disposition-Notification-To"),
        "{}",
        r.stderr
    );
    assert_eq!(
        run(&[
            "mail",
            "mdn",
            "--original",
            &s(&plain),
            "--force",
            "-o",
            &s(&m)
        ])
        .code,
        0
    );
}

#[test]
fn cli_send_reports_connection_errors() {
    // A port nobody listens on: exit 2 with a French message, quickly.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let cda = root().join("fixtures/cr-bio/valid/tsh.xml");
    let start = std::time::Instant::now();
    let r = run(&[
        "mail",
        "send",
        "--smtp",
        &format!("127.0.0.1:{port}"),
        "--to",
        TO,
        "--timeout",
        "5",
        &s(&cda),
    ]);
    assert_eq!(r.code, 2, "{} {}", r.stdout, r.stderr);
    assert!(r.stderr.contains("impossible de joindre"), "{}", r.stderr);
    assert!(start.elapsed().as_secs() < 20);
}

/// A scripted SMTP server on a thread: replies to each command, records what it got.
fn scripted_server(replies: Vec<&'static str>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (sock, _) = l.accept().unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut w = sock.try_clone().unwrap();
        let mut r = BufReader::new(sock);
        let mut got = Vec::new();
        w.write_all(b"220 test ESMTP\r\n").unwrap();
        let mut replies = replies.into_iter();
        let mut in_data = false;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if in_data {
                if line == ".\r\n" {
                    in_data = false;
                    got.push("<data>".into());
                } else {
                    continue;
                }
            } else {
                got.push(line.trim_end().to_string());
                if line.starts_with("QUIT") {
                    let _ = w.write_all(b"221 bye\r\n");
                    break;
                }
            }
            let Some(reply) = replies.next() else { break };
            if reply.starts_with("354") {
                in_data = true;
            }
            w.write_all(reply.as_bytes()).unwrap();
        }
        got
    });
    (port, h)
}

#[test]
fn cli_send_prints_the_final_reply_and_refusals() {
    let cda = root().join("fixtures/cr-bio/valid/tsh.xml");
    // Accepted (clear text, as asked): exit 0, final reply on stdout.
    let (port, h) = scripted_server(vec![
        "250-test\r\n250 8BITMIME\r\n",
        "250 2.1.0 Ok\r\n",
        "250 2.1.5 Ok\r\n",
        "354 End data with <CR><LF>.<CR><LF>\r\n",
        "250 2.0.0 Ok: queued as 4F2A\r\n",
    ]);
    let r = run(&[
        "mail",
        "send",
        "--smtp",
        &format!("127.0.0.1:{port}"),
        "--starttls",
        "none",
        "--to",
        TO,
        "--from",
        FROM,
        &s(&cda),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), "250 2.0.0 Ok: queued as 4F2A");
    let got = h.join().unwrap();
    assert_eq!(got[0], "EHLO banc.invalid");
    assert_eq!(got[1], format!("MAIL FROM:<{FROM}>"));
    assert_eq!(got[2], format!("RCPT TO:<{TO}>"));
    assert_eq!(got[3], "DATA");
    assert_eq!(got[4], "<data>");
    // Refused at RCPT: exit 1, the server's reply printed.
    let (port, h) = scripted_server(vec![
        "250 test\r\n",
        "250 2.1.0 Ok\r\n",
        "550 5.1.1 <biologie@chbs-bretagne.mssante.fr>: Recipient address rejected\r\n",
        "221 bye\r\n",
    ]);
    let r = run(&[
        "mail",
        "send",
        "--smtp",
        &format!("127.0.0.1:{port}"),
        "--starttls",
        "none",
        "--to",
        TO,
        &s(&cda),
    ]);
    assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("550 5.1.1"), "{}", r.stdout);
    assert!(r.stderr.contains("RCPT TO"), "{}", r.stderr);
    h.join().unwrap();
    // STARTTLS required but not offered: exit 2, nothing sent.
    let (port, h) = scripted_server(vec!["250 test\r\n", "221 bye\r\n"]);
    let r = run(&[
        "mail",
        "send",
        "--smtp",
        &format!("127.0.0.1:{port}"),
        "--to",
        TO,
        &s(&cda),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("STARTTLS"), "{}", r.stderr);
    let got = h.join().unwrap();
    assert!(!got.iter().any(|l| l.starts_with("MAIL")), "{got:?}");
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `banc mail send` against `banc mail serve` with STARTTLS and mutual TLS, certificates from
/// `banc mail certs`: what an application mailbox does with its operator.
#[test]
fn cli_send_with_mutual_tls() {
    let dir = tempdir("mail-send-tls");
    let certs = dir.join("certs");
    let r = run(&[
        "mail",
        "certs",
        "--out",
        &s(&certs),
        "--client",
        "labo@banc.localhost",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pem = |f: &str| s(&certs.join(f));
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = common::banc()
        .args([
            "mail",
            "serve",
            "--listen",
            &addr,
            "--spool",
            &s(&dir.join("spool")),
            "--tls-cert",
            &pem("server.pem"),
            "--tls-key",
            &pem("server.key"),
            "--client-ca",
            &pem("ca.pem"),
            "--mailbox-with-cert",
            "bal@banc.localhost",
            "--max-messages",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(t0.elapsed().as_secs() < 20, "banc mail serve did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let cda = s(&root().join("fixtures/cr-bio/valid/tsh.xml"));
    let smtp = format!("localhost:{port}");
    let send = |extra: &[&str]| {
        let mut a = vec![
            "mail",
            "send",
            "--smtp",
            &smtp,
            "--to",
            "bal@banc.localhost",
            "--timeout",
            "10",
        ];
        a.extend_from_slice(extra);
        a.push(&cda);
        run(&a)
    };
    // The server's CA is not among the system's: refused before anything is sent.
    let r = send(&[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // (Or no system bundle at all: either way the CA is what the message names.)
    assert!(r.stderr.contains("AC"), "{}", r.stderr);
    // A client certificate from another CA: the server refuses it.
    let r = send(&[
        "--ca",
        &pem("ca.pem"),
        "--cert",
        &pem("client-other-ca.pem"),
        "--key",
        &pem("client-other-ca.key"),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("certificat client"), "{}", r.stderr);
    // No client certificate for a mailbox that requires one: a 5xx refusal, exit 1.
    let r = send(&["--ca", &pem("ca.pem")]);
    assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with('5'), "{}", r.stdout);
    // The application mailbox's certificate: accepted.
    let r = send(&[
        "--ca",
        &pem("ca.pem"),
        "--cert",
        &pem("client-labo@banc.localhost.pem"),
        "--key",
        &pem("client-labo@banc.localhost.key"),
        "--from",
        "labo@banc.localhost",
    ]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("250 "), "{}", r.stdout);
    // --max-messages 1: the server stops by itself.
    let t0 = std::time::Instant::now();
    loop {
        if server.try_wait().unwrap().is_some() {
            break;
        }
        if t0.elapsed().as_secs() > 30 {
            let _ = server.kill();
            panic!("banc mail serve did not stop after one message");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A saved `.eml` that starts with a UTF-8 byte-order mark (an editor's doing) is still a
/// message: judged in full (package and document too), with a warning naming the mark.
#[test]
fn an_eml_with_a_byte_order_mark_is_judged_as_a_message() {
    let r = run(&[
        "validate",
        "--format",
        "json",
        "fixtures/mail/handmade/bom.eml",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let docs = v["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 3, "message, package, document: {v}");
    let msg = &docs[0];
    assert_eq!(msg["profile"], "mssante-message");
    assert_eq!(msg["verdict"], "pass", "{msg}");
    let rules: Vec<&str> = msg["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"mail.message.bom"), "{rules:?}");
    assert!(!rules.contains(&"mail.message.unreadable"), "{rules:?}");
    // The same message without the mark: the same findings but the mark's.
    let raw = std::fs::read(root().join("fixtures/mail/handmade/bom.eml")).unwrap();
    let plain = mail::judge_message(&raw[3..], &Policy::default()).findings;
    let marked = mail::judge_message(&raw, &Policy::default()).findings;
    let ids = |f: &[Finding]| f.iter().map(|f| f.rule.clone()).collect::<Vec<_>>();
    let mut without: Vec<String> = ids(&marked);
    without.retain(|r| r != "mail.message.bom");
    assert_eq!(without, ids(&plain));
    assert_eq!(mail::message_id(&raw), mail::message_id(&raw[3..]));
}
