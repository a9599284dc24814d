//! The command line as users and CI jobs rely on it: exit codes, formats, parallelism.

mod common;
use common::*;

/// A small CR-BIO with one defect banc's own rules find (no realmCode) and one warning (no INS).
fn sample(dir: &std::path::Path, name: &str, realm: bool, ins: bool) -> std::path::PathBuf {
    let realm = if realm {
        r#"<realmCode code="FR"/>"#
    } else {
        ""
    };
    let id = if ins {
        // 13 digits + key 97 - (n mod 97).
        let n: u64 = 2_690_435_123_456;
        format!(
            r#"<id root="1.2.250.1.213.1.4.10" extension="{n}{:02}"/>"#,
            97 - n % 97
        )
    } else {
        r#"<id root="1.2.250.1.213.1.4.999" extension="IPP-0042"/>"#.to_string()
    };
    let doc = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  {realm}
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.2.8.2.1"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  <templateId root="1.3.6.1.4.1.19376.1.3.3"/>
  <templateId root="1.2.250.1.213.1.1.1.55" extension="2024.01"/>
  <id root="1.2.250.1.999.1.2.3.4"/>
  <code code="11502-2" codeSystem="2.16.840.1.113883.6.1" displayName="CR d'examens biologiques"/>
  <title>Compte rendu de biologie</title>
  <effectiveTime value="20260314093512+0100"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="fr-FR"/>
  <setId root="1.2.250.1.999.1.2.3"/>
  <versionNumber value="1"/>
  <recordTarget><patientRole>{id}<patient><name><family>MARTIN</family></name></patient></patientRole></recordTarget>
  <author><assignedAuthor><id root="1.2.250.1.71.4.2.1" extension="810001234565"/></assignedAuthor></author>
  <custodian><assignedCustodian><representedCustodianOrganization><id root="1.2.250.1.71.4.2.2" extension="1350012340"/></representedCustodianOrganization></assignedCustodian></custodian>
  <component><structuredBody>
    <component><section><templateId root="1.3.6.1.4.1.19376.1.3.3.2.1"/></section></component>
    <component><section><templateId root="1.2.250.1.213.1.1.2.243"/></section></component>
  </structuredBody></component>
</ClinicalDocument>
"#
    );
    let p = dir.join(name);
    std::fs::write(&p, doc).unwrap();
    p
}

#[test]
fn exit_status_follows_fail_on() {
    let d = tempdir("exit");
    let ok = sample(&d, "ok.xml", true, true);
    let warn = sample(&d, "warn.xml", true, false);
    let bad = sample(&d, "bad.xml", false, true);
    assert_eq!(run(&["validate", ok.to_str().unwrap()]).code, 0);
    assert_eq!(
        run(&["validate", warn.to_str().unwrap()]).code,
        0,
        "a warning alone passes"
    );
    assert_eq!(
        run(&["validate", "--fail-on", "warning", warn.to_str().unwrap()]).code,
        1
    );
    let r = run(&["validate", bad.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("banc.header.realm-code"), "{}", r.stdout);
    assert!(r.stdout.contains("FAIL"));
    // Warnings become failures only when asked; the verdict follows the same threshold.
    let (_, v) = validate_json(&["--fail-on", "warning", warn.to_str().unwrap()]);
    assert_eq!(v["documents"][0]["verdict"], "fail");
    assert_eq!(rules(&v["documents"][0]), vec!["banc.patient.ins-missing"]);
}

#[test]
fn usage_and_io_errors_exit_2() {
    assert_eq!(run(&["validate"]).code, 2);
    assert_eq!(run(&["frobnicate"]).code, 2);
    let r = run(&["validate", "/nonexistent/cr.xml"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("introuvable"), "{}", r.stderr);
    let d = tempdir("usage");
    let ok = sample(&d, "ok.xml", true, true);
    let r = run(&["validate", "--profile", "cr-bio-1999", ok.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("cr-bio-2024.01"),
        "lists the known profiles: {}",
        r.stderr
    );
}

#[test]
fn json_contract_fields() {
    let d = tempdir("json");
    let bad = sample(&d, "bad.xml", false, true);
    let (code, v) = validate_json(&[bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(v["banc"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["schema"], "banc.validate/1");
    assert!(v["kit"].is_null(), "no kit: embedded default");
    let doc = &v["documents"][0];
    assert_eq!(doc["path"], bad.to_str().unwrap());
    assert_eq!(doc["profile"], "cr-bio-2024.01");
    assert_eq!(doc["verdict"], "fail");
    let f = &doc["findings"][0];
    assert_eq!(f["rule"], "banc.header.realm-code");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["layer"], "banc");
    assert!(f["message"].as_str().unwrap().contains("realmCode"));
    assert_eq!(f["location"]["xpath"], "/ClinicalDocument");
    assert_eq!(f["location"]["line"], 2);
    assert_eq!(f["location"]["column"], 1);
    assert_eq!(v["summary"]["documents"], 1);
    assert_eq!(v["summary"]["fail"], 1);
    assert_eq!(v["summary"]["pass"], 0);
    assert_eq!(v["summary"]["error"], 0);
}

#[test]
fn positional_xpaths_tell_repeated_elements_apart() {
    let d = tempdir("xpath");
    let p = sample(&d, "status.xml", true, true);
    let text = std::fs::read_to_string(&p).unwrap().replace(
        r#"<component><section><templateId root="1.3.6.1.4.1.19376.1.3.3.2.1"/></section></component>"#,
        r#"<component><section><templateId root="1.3.6.1.4.1.19376.1.3.3.2.1"/>
      <entry><act><entryRelationship><organizer>
        <component><observation><templateId root="1.3.6.1.4.1.19376.1.3.1.6"/><code code="2951-2" codeSystem="2.16.840.1.113883.6.1"/><statusCode code="completed"/></observation></component>
        <component><observation><templateId root="1.3.6.1.4.1.19376.1.3.1.6"/><code code="2823-3" codeSystem="2.16.840.1.113883.6.1"/><statusCode code="active"/></observation></component>
      </organizer></entryRelationship></act></entry></section></component>"#,
    );
    std::fs::write(&p, text).unwrap();
    let (_, v) = validate_json(&[p.to_str().unwrap()]);
    let f = v["documents"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "banc.cr-bio.result-status")
        .expect("the active result is reported")
        .clone();
    assert_eq!(
        f["location"]["xpath"],
        "/ClinicalDocument/component/structuredBody/component[1]/section/entry/act/entryRelationship/organizer/component[2]/observation"
    );
    assert_eq!(f["location"]["line"], 24);
    assert_eq!(f["location"]["column"], 20);
}

#[test]
fn parallel_output_is_deterministic() {
    let d = tempdir("par");
    for i in 0..12 {
        sample(&d, &format!("doc-{i:02}.xml"), i % 3 != 0, i % 4 != 0);
    }
    let strip = |mut v: serde_json::Value| {
        for doc in v["documents"].as_array_mut().unwrap() {
            doc["duration_ms"] = serde_json::Value::Null;
        }
        v
    };
    let (c1, a) = validate_json(&["-j", "1", d.to_str().unwrap()]);
    let (c2, b) = validate_json(&["-j", "4", d.to_str().unwrap()]);
    assert_eq!(c1, c2);
    let (a, b) = (strip(a), strip(b));
    assert_eq!(a, b);
    let names: Vec<_> = a["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["path"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "folder contents in name order");
    assert_eq!(names.len(), 12);
}

#[test]
fn junit_output_validates_against_the_junit_schema() {
    let d = tempdir("junit");
    let ok = sample(&d, "ok.xml", true, true);
    let bad = sample(&d, "bad & <odd>.xml", false, false);
    let out = d.join("junit.xml");
    let r = run(&[
        "validate",
        "--junit",
        out.to_str().unwrap(),
        ok.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    let xml = std::fs::read(&out).unwrap();
    common::assert_junit_valid(&xml);
    let text = String::from_utf8(xml).unwrap();
    // One testsuite per document, one testcase per rule that ran; failures carry the findings.
    assert_eq!(text.matches("<testsuite ").count(), 2);
    assert!(text.contains(r#"<testcase name="banc.header.realm-code""#));
    assert!(text.contains(r#"type="banc.header.realm-code""#));
    assert!(text.contains("bad &amp; &lt;odd&gt;.xml"));
    // The INS warning does not fail, but is shown.
    assert!(text.contains("[warning] Aucun identifiant national de santé"));
}

#[test]
fn junit_stays_well_formed_with_control_characters_and_cdata_ends_in_names_and_findings() {
    let d = tempdir("junit-hostile");
    // A file name with control characters, an escape sequence and a CDATA end; a document
    // whose title (quoted by findings) holds `]]>` and markup.
    let bad = sample(&d, "x\u{1}]]>\u{1b}[2J<y>.xml", false, false);
    let text = std::fs::read_to_string(&bad).unwrap();
    let text = text.replacen("<title>", "<title>]]&gt; &lt;/failure&gt; ]]&gt;", 1);
    std::fs::write(&bad, text).unwrap();
    let out = d.join("junit.xml");
    let r = run(&[
        "validate",
        "--junit",
        out.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let xml = std::fs::read(&out).unwrap();
    common::assert_junit_valid(&xml);
    let text = String::from_utf8(xml).unwrap();
    assert!(
        !text.contains('\u{1}') && !text.contains('\u{1b}'),
        "raw control characters"
    );
    assert_eq!(text.matches("<testsuite ").count(), 1);
}

#[test]
fn profiles_are_listed_and_can_be_forced() {
    let r = run(&["profiles"]);
    assert_eq!(r.code, 0);
    for id in [
        "cr-bio-2024.01",
        "cr-bio-2023.01",
        "cr-bio-2021.01",
        "cr-bio-n1",
        "bio-trod-2024.01",
        "ldl-ees-2022.01",
        "ldl-ses-2022.01",
        "cda",
    ] {
        assert!(r.stdout.contains(id), "{id} in {}", r.stdout);
    }
    assert!(r.stdout.contains("1.2.250.1.213.1.1.1.55 ext. 2024.01"));
    let d = tempdir("force");
    let ok = sample(&d, "ok.xml", true, true);
    let (_, v) = validate_json(&["--profile", "ldl-ses-2022.01", ok.to_str().unwrap()]);
    let doc = &v["documents"][0];
    assert_eq!(doc["profile"], "ldl-ses-2022.01");
    let r = rules(doc);
    assert!(r.contains(&"banc.profile.mismatch".to_string()), "{r:?}");
    assert!(
        r.contains(&"banc.header.model-template".to_string()),
        "{r:?}"
    );
}

#[test]
fn a_user_schematron_without_the_kit_is_refused_not_ignored() {
    let doc = root().join("fixtures/cr-bio/valid/tsh.xml");
    let sch = root().join("fixtures/cr-bio/valid/tsh.xml");
    for extra in [&[][..], &["--no-schematron"][..]] {
        let mut args = vec!["validate", "--schematron", sch.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(doc.to_str().unwrap());
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stdout);
        assert!(r.stderr.contains("demandent --kit"), "{}", r.stderr);
    }
}

#[test]
fn xdm_pack_refuses_a_submission_time_that_is_no_instant() {
    let doc = root().join("fixtures/cr-bio/valid/tsh.xml");
    let out = tempdir("pack-time").join("IHE_XDM.zip");
    for (t, why) in [
        ("20261301000000", "mois 13"),
        ("20260431120000", "31"),
        ("20261201253000", "heure 25"),
    ] {
        let r = run(&[
            "xdm",
            "pack",
            "-o",
            out.to_str().unwrap(),
            "--submission-time",
            t,
            doc.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 2, "{t}: {}", r.stderr);
        assert!(r.stderr.contains(why), "{t}: {}", r.stderr);
        assert!(!out.exists(), "nothing written for {t}");
    }
}

#[test]
fn control_characters_of_a_file_name_cannot_drive_the_terminal_or_forge_a_line() {
    let d = tempdir("control-name");
    // ESC [2K erases the line, CR goes back to its start: a forged "pass" line on a terminal.
    let evil = d.join("x\u{1b}[2K\r✓ pass  rapport-officiel.xml");
    std::fs::copy(
        root().join("fixtures/cr-bio/invalid/realm-code-missing.xml"),
        &evil,
    )
    .unwrap();
    let r = run(&["validate", evil.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        !r.stdout.contains('\u{1b}') && !r.stdout.contains('\r'),
        "raw control characters reached stdout: {:?}",
        r.stdout
    );
    assert!(r.stdout.contains("\\x1B[2K\\x0D"), "{}", r.stdout);
    // JSON keeps the name exactly (escaped as JSON requires).
    let (_, v) = validate_json(&[evil.to_str().unwrap()]);
    assert_eq!(v["documents"][0]["path"], evil.to_str().unwrap());
    // An error naming the file is shown the same way on stderr.
    let missing = d.join("absent\u{1b}[31m.xml");
    let r = run(&["validate", missing.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(
        !r.stderr.contains('\u{1b}') && r.stderr.contains("\\x1B[31m"),
        "{:?}",
        r.stderr
    );
}

/// Numeric options out of their range are refused by the parser (exit 2, the range named),
/// before anything runs: no panic, no thread or memory exhaustion.
#[test]
fn numeric_options_out_of_range_are_refused_at_parse_time() {
    let cases: &[&[&str]] = &[
        &["validate", "-j", "100000000", "x.xml"],
        &["validate", "-j", "0", "x.xml"],
        &["validate", "--max-size", "0", "x.xml"],
        &["validate", "--max-size", "99999999999999", "x.xml"],
        &["validate", "--max-depth", "99999999", "x.xml"],
        &["mail", "serve", "--max-connections", "0"],
        &["mail", "serve", "--max-connections", "18446744073709551615"],
        &["mail", "serve", "--command-timeout", "99999999999"],
        &["mail", "serve", "--data-timeout", "0"],
        &["mail", "serve", "--max-size", "99999999999"],
        &["mail", "serve", "--max-messages", "0"],
        &[
            "mail",
            "fetch",
            "--imap",
            "127.0.0.1:1",
            "--user",
            "u",
            "--timeout",
            "0",
        ],
        &[
            "mail",
            "fetch",
            "--imap",
            "127.0.0.1:1",
            "--user",
            "u",
            "--max-size",
            "0",
        ],
        &[
            "mail",
            "fetch",
            "--imap",
            "127.0.0.1:1",
            "--user",
            "u",
            "--limit",
            "0",
        ],
        &["bench", "--kit", "k", "--batch", "99999999999"],
        &["bench", "--kit", "k", "-j", "100000000"],
        &[
            "rehearse",
            "suites/cr-bio",
            "--max-wait",
            "99999999999999999h",
        ],
    ];
    for args in cases {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("invalid value"), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
    }
    // The ranges are in --help.
    let help = run(&["validate", "--help"]).stdout;
    assert!(help.contains("1 to 1024"), "{help}");
    let help = run(&["mail", "serve", "--help"]).stdout;
    assert!(
        help.contains("1 to 10000") && help.contains("1 to 86400"),
        "{help}"
    );
}

/// The largest values the parser accepts run: 1024 threads, the deepest nesting, the largest
/// document size; a server with every limit at its maximum serves a session.
#[test]
fn the_largest_accepted_option_values_run() {
    let d = tempdir("extremes");
    let ok = sample(&d, "ok.xml", true, true);
    let deep = d.join("deep.xml");
    let depth = 9000;
    std::fs::write(
        &deep,
        format!(
            "<ClinicalDocument xmlns=\"urn:hl7-org:v3\">{}{}</ClinicalDocument>",
            "<a>".repeat(depth),
            "</a>".repeat(depth)
        ),
    )
    .unwrap();
    let (code, v) = validate_json(&[
        "-j",
        "1024",
        "--max-depth",
        "10000",
        "--max-size",
        "1073741824",
        &s(&ok),
        &s(&deep),
    ]);
    assert!(code == 0 || code == 1, "{v}");
    assert_eq!(v["documents"].as_array().unwrap().len(), 2);
    let srv = serve(
        &d.join("spool"),
        &[
            "--max-connections",
            "10000",
            "--command-timeout",
            "86400",
            "--data-timeout",
            "86400",
            "--max-size",
            "1073741824",
        ],
    );
    use std::io::{BufRead, Write};
    let tcp = std::net::TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut r = std::io::BufReader::new(tcp.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("220 "), "{line}");
    (&tcp).write_all(b"EHLO t\r\n").unwrap();
    let mut size = String::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line.contains("SIZE") {
            size = line.clone();
        }
        if line.starts_with("250 ") {
            break;
        }
    }
    assert!(size.contains("1073741824"), "{size}");
    (&tcp).write_all(b"QUIT\r\n").unwrap();
}
