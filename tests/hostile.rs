//! Hostile and broken inputs: each gives a clear finding or error, never a crash or a hang.

mod common;
use common::*;
use std::io::Write;

const CDA_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">"#;

fn one(path: &std::path::Path) -> (i32, serde_json::Value) {
    let (code, v) = validate_json(&[path.to_str().unwrap()]);
    (code, v["documents"][0].clone())
}

#[test]
fn external_entity_is_refused_without_being_fetched() {
    let d = tempdir("xxe");
    let secret = d.join("secret.txt");
    std::fs::write(&secret, "TOP-SECRET-CONTENT").unwrap();
    let doc = d.join("xxe.xml");
    std::fs::write(
        &doc,
        format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE ClinicalDocument [\n  <!ENTITY xxe SYSTEM \"file://{}\">\n]>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><title>&xxe;</title></ClinicalDocument>\n",
            secret.display()
        ),
    )
    .unwrap();
    let (code, d0) = one(&doc);
    assert_eq!(code, 1);
    assert_eq!(d0["verdict"], "fail");
    assert_eq!(rules(&d0), vec!["xml.dtd.forbidden"]);
    assert_eq!(d0["findings"][0]["location"]["line"], 2);
    assert!(
        !d0.to_string().contains("TOP-SECRET"),
        "entity content never read"
    );
}

#[test]
fn billion_laughs_is_refused() {
    let d = tempdir("laughs");
    let mut dtd = String::from("<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..=10 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        dtd.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    dtd.push_str("]>\n");
    let doc = d.join("lol.xml");
    std::fs::write(&doc, format!("<?xml version=\"1.0\"?>\n{dtd}<ClinicalDocument xmlns=\"urn:hl7-org:v3\">&lol10;</ClinicalDocument>")).unwrap();
    let (code, d0) = one(&doc);
    assert_eq!(code, 1);
    assert_eq!(rules(&d0), vec!["xml.dtd.forbidden"]);
}

#[test]
fn ten_thousand_deep_nesting_hits_the_depth_limit() {
    let d = tempdir("deep");
    let doc = d.join("deep.xml");
    let mut s = String::from(CDA_HEAD);
    s.push_str(&"<component>".repeat(10_000));
    s.push_str(&"</component>".repeat(10_000));
    s.push_str("</ClinicalDocument>");
    std::fs::write(&doc, s).unwrap();
    let (code, d0) = one(&doc);
    assert_eq!(code, 2, "could not be checked");
    assert_eq!(d0["verdict"], "error");
    assert_eq!(rules(&d0), vec!["xml.limit.depth"]);
    let f = &d0["findings"][0];
    assert_eq!(f["location"]["line"], 2);
    assert!(f["message"].as_str().unwrap().contains("256"));
}

#[test]
fn a_200_mb_file_is_refused_before_reading() {
    let d = tempdir("big");
    let doc = d.join("big.xml");
    // Sparse: 200 MB on paper, no disk used.
    let f = std::fs::File::create(&doc).unwrap();
    f.set_len(200 * 1024 * 1024).unwrap();
    let (code, d0) = one(&doc);
    assert_eq!(code, 2);
    assert_eq!(d0["verdict"], "error");
    assert_eq!(rules(&d0), vec!["xml.limit.size"]);
    assert!(
        d0["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("209715200")
    );
    // The limit is the user's to raise.
    let (_, v) = validate_json(&["--max-size", "300000000", doc.to_str().unwrap()]);
    assert_ne!(rules(&v["documents"][0]), vec!["xml.limit.size"]);
}

#[test]
fn a_binary_file_is_not_xml() {
    let d = tempdir("bin");
    let doc = d.join("scan.xml");
    let mut f = std::fs::File::create(&doc).unwrap();
    f.write_all(b"%PDF-1.4\n\x00\x01\x02\xff\xfe binary \x00")
        .unwrap();
    drop(f);
    let (code, d0) = one(&doc);
    assert_eq!(code, 2);
    assert_eq!(d0["verdict"], "error");
    assert_eq!(rules(&d0), vec!["xml.binary"]);
}

#[test]
fn not_well_formed_gives_line_and_column() {
    let d = tempdir("nwf");
    let doc = d.join("broken.xml");
    std::fs::write(
        &doc,
        format!("{CDA_HEAD}\n  <title>CR</titre>\n</ClinicalDocument>"),
    )
    .unwrap();
    let (code, d0) = one(&doc);
    assert_eq!(code, 1);
    assert_eq!(d0["verdict"], "fail");
    let f = &d0["findings"][0];
    assert_eq!(f["rule"], "xml.not-well-formed.76");
    assert_eq!(f["location"]["line"], 3);
    assert!(f["location"]["column"].as_u64().unwrap() > 0);
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("Document XML mal formé")
    );
}

#[test]
fn encoding_problems_are_named() {
    let d = tempdir("enc");
    // ISO-8859-1 bytes under a UTF-8 declaration.
    let latin = d.join("latin.xml");
    let mut bytes = format!("{CDA_HEAD}\n<title>Glyc").into_bytes();
    bytes.push(0xE9);
    bytes.extend_from_slice(b"mie</title></ClinicalDocument>");
    std::fs::write(&latin, bytes).unwrap();
    let (_, d0) = one(&latin);
    assert_eq!(rules(&d0), vec!["xml.encoding.invalid-utf8"]);
    assert_eq!(d0["findings"][0]["location"]["line"], 3);
    assert_eq!(d0["findings"][0]["location"]["column"], 12);
    // UTF-8 bytes under an ISO-8859-1 declaration.
    let utf = d.join("utf.xml");
    std::fs::write(
        &utf,
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><title>Glycémie</title></ClinicalDocument>",
    )
    .unwrap();
    let (_, d1) = one(&utf);
    assert!(
        rules(&d1).contains(&"xml.encoding.mismatch".to_string()),
        "{:?}",
        rules(&d1)
    );
    // A declared encoding that does not exist.
    let unknown = d.join("unknown.xml");
    std::fs::write(
        &unknown,
        "<?xml version=\"1.0\" encoding=\"klingon-8\"?>\n<a/>",
    )
    .unwrap();
    let (_, d2) = one(&unknown);
    assert_eq!(rules(&d2), vec!["xml.encoding.unknown"]);
}

#[test]
fn a_bom_is_reported_as_info_only() {
    let d = tempdir("bom");
    let doc = d.join("bom.xml");
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend_from_slice(format!("{CDA_HEAD}</ClinicalDocument>").as_bytes());
    std::fs::write(&doc, bytes).unwrap();
    let (_, d0) = one(&doc);
    let bom: Vec<_> = d0["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "xml.bom.utf8")
        .collect();
    assert_eq!(bom.len(), 1);
    assert_eq!(bom[0]["severity"], "info");
    assert!(
        !rules(&d0).iter().any(|r| r.starts_with("xml.")),
        "{:?}",
        rules(&d0)
    );
}

#[test]
fn a_non_cda_root_is_named() {
    let d = tempdir("root");
    let doc = d.join("meta.xml");
    std::fs::write(
        &doc,
        "<?xml version=\"1.0\"?>\n<SubmitObjectsRequest xmlns=\"urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0\"/>",
    )
    .unwrap();
    let (code, d0) = one(&doc);
    assert_eq!(code, 1);
    assert_eq!(rules(&d0), vec!["xml.root.not-cda"]);
    assert!(
        d0["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("SubmitObjectsRequest")
    );
    assert_eq!(d0["profile"], serde_json::Value::Null);
    // ClinicalDocument outside the HL7 namespace.
    let nons = d.join("nons.xml");
    std::fs::write(&nons, "<ClinicalDocument><title/></ClinicalDocument>").unwrap();
    let (_, d1) = one(&nons);
    assert_eq!(rules(&d1), vec!["xml.root.namespace"]);
}

#[test]
fn empty_and_unreadable_inputs() {
    let d = tempdir("empty");
    let doc = d.join("empty.xml");
    std::fs::write(&doc, "").unwrap();
    let (code, d0) = one(&doc);
    assert_eq!(code, 1);
    assert!(
        rules(&d0)[0].starts_with("xml.not-well-formed."),
        "{:?}",
        rules(&d0)
    );
    // A device that never ends is not read at all.
    let (code, v) = validate_json(&["--max-size", "1000", "/dev/zero"]);
    assert_eq!(code, 2);
    assert_eq!(rules(&v["documents"][0]), vec!["xml.io.read"]);
}

fn mkfifo(p: &std::path::Path) {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// A FIFO given as a document, a package, a value set, a participants or configuration file is
/// refused at once (it would block banc forever); so is a device that never ends.
#[test]
fn fifos_and_devices_are_refused_without_blocking() {
    let d = tempdir("fifo");
    for name in [
        "doc.xml", "pkg.zip", "vs.xml", "p.toml", "c.toml", "bio.csv",
    ] {
        mkfifo(&d.join(name));
    }
    let p = |n: &str| s(&d.join(n));
    let spawn = |args: &[String]| {
        let mut c = banc()
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // No writer ever opens the FIFOs: a blocking open would never return.
        wait_exit(&mut c, std::time::Duration::from_secs(60));
        c.wait_with_output().unwrap()
    };
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    for doc in ["doc.xml", "pkg.zip"] {
        let o = spawn(&["validate".into(), "--format".into(), "json".into(), p(doc)]);
        assert_eq!(o.status.code(), Some(2));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(rules(&v["documents"][0]), vec!["xml.io.read"]);
        assert!(text(&o).contains("tube nommé"), "{}", text(&o));
    }
    let o = spawn(&["xdm".into(), "check".into(), p("pkg.zip")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("tube nommé"), "{}", text(&o));
    let o = spawn(&[
        "terminology".into(),
        "info".into(),
        "--terminology".into(),
        p("vs.xml"),
    ]);
    assert!(text(&o).contains("tube nommé"), "{}", text(&o));
    let o = spawn(&[
        "terminology".into(),
        "info".into(),
        "--circuit-bio".into(),
        p("bio.csv"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("tube nommé"), "{}", text(&o));
    let o = spawn(&[
        "suite".into(),
        "check".into(),
        "suites/cr-bio".into(),
        "--participants".into(),
        p("p.toml"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("tube nommé"), "{}", text(&o));
    let o = spawn(&[
        "mail".into(),
        "serve".into(),
        "--config".into(),
        p("c.toml"),
        "--spool".into(),
        s(&d.join("spool")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("tube nommé"), "{}", text(&o));
}

/// A generator that writes the whole document on one line and repeats one defect per result:
/// positions stay exact and the findings of one rule are bounded.
#[test]
fn one_line_documents_with_repeated_defects_stay_exact_and_bounded() {
    let d = tempdir("oneline");
    let head = r#"<?xml version="1.0"?><ClinicalDocument xmlns="urn:hl7-org:v3"><templateId root="1.2.250.1.213.1.1.1.55" extension="2024.01"/><component><structuredBody><component><section><entry><act><entryRelationship><organizer>"#;
    let obs = r#"<component><observation><templateId root="1.3.6.1.4.1.19376.1.3.1.6"/><code code="2951-2" codeSystem="2.16.840.1.113883.6.1" displayName="Sodium é"/><statusCode code="active"/></observation></component>"#;
    let n = 1500;
    let mut text = String::from(head);
    text.push_str(&obs.repeat(n));
    text.push_str("</organizer></entryRelationship></act></entry></section></component></structuredBody></component></ClinicalDocument>");
    let doc = d.join("oneline.xml");
    std::fs::write(&doc, &text).unwrap();
    let (_, v) = validate_json(&[doc.to_str().unwrap()]);
    let findings = v["documents"][0]["findings"].as_array().unwrap().clone();
    let status: Vec<_> = findings
        .iter()
        .filter(|f| f["rule"] == "banc.cr-bio.result-status")
        .collect();
    assert_eq!(status.len(), 1000, "bounded per rule");
    let limit = findings
        .iter()
        .find(|f| f["rule"] == "banc.limit.findings")
        .expect("the cut is said");
    assert_eq!(limit["severity"], "info");
    assert!(
        limit["message"].as_str().unwrap().starts_with("500 "),
        "{}",
        limit["message"]
    );
    // The 1000th result: its column counts characters (each result holds one 2-byte 'é').
    let last = status[999];
    let obs_chars = obs.chars().count();
    let offset = head.chars().count() + 999 * obs_chars + "<component>".len();
    assert_eq!(last["location"]["line"], 1);
    assert_eq!(
        last["location"]["column"].as_u64().unwrap() as usize,
        offset + 1
    );
    assert!(
        last["location"]["xpath"]
            .as_str()
            .unwrap()
            .ends_with("/organizer/component[1000]/observation"),
        "{}",
        last["location"]["xpath"]
    );
}

#[test]
fn a_birth_time_with_a_multibyte_character_never_panics_the_header_readers() {
    let d = tempdir("birthtime-utf8");
    let tsh = std::fs::read_to_string(root().join("fixtures/cr-bio/valid/tsh.xml")).unwrap();
    assert!(tsh.contains(r#"<birthTime value="19910223"/>"#));
    let doc = d.join("tsh.xml");
    std::fs::write(
        &doc,
        tsh.replace(
            r#"<birthTime value="19910223"/>"#,
            r#"<birthTime value="1991022é3"/>"#,
        ),
    )
    .unwrap();
    let zip = d.join("IHE_XDM.zip");
    let eml = d.join("message.eml");
    for args in [
        vec![
            "xdm",
            "pack",
            "-o",
            zip.to_str().unwrap(),
            doc.to_str().unwrap(),
        ],
        vec![
            "mail",
            "compose",
            "--to",
            "dpi@chu.mssante.fr",
            "-o",
            eml.to_str().unwrap(),
            doc.to_str().unwrap(),
        ],
    ] {
        let r = run(&args);
        assert!(
            !r.stderr.contains("panicked") && r.code != 101,
            "{args:?}: {} {}",
            r.code,
            r.stderr
        );
    }
    // The message composed from it is judged, not crashed on (the subject's birth date check).
    let (code, _) = validate_json(&[eml.to_str().unwrap()]);
    assert!(code == 1 || code == 0, "exit {code}");
}

/// A document whose title and header values are 3 MB each: every finding quotes at most a few
/// hundred characters of them (`…` and the length), so each report stays small.
#[test]
fn huge_values_are_quoted_short_in_findings() {
    let big = "T".repeat(3_000_000);
    let src = std::fs::read_to_string(root().join("fixtures/cr-bio/valid/glycemie-ionogramme.xml"))
        .unwrap();
    let swaps = [
        (
            "<title>Compte rendu d'examens biologiques</title>",
            format!("<title>{big}</title>"),
        ),
        (
            "effectiveTime value=\"20260314093512+0100\"",
            format!("effectiveTime value=\"2026{big}\""),
        ),
        (
            "extension=\"284063523804767\"",
            format!("extension=\"{big}\""),
        ),
        (
            "extension=\"810103427182\"",
            format!("extension=\"8{big}\""),
        ),
        ("<code code=\"18719-5\"", format!("<code code=\"X{big}\"")),
        (
            "value=\"5.38\" unit=\"mmol/L\"",
            format!("value=\"5.38\" unit=\"{big}\""),
        ),
        (
            "codeSystem=\"2.16.840.1.113883.5.25\"",
            format!("codeSystem=\"1.2.{big}\""),
        ),
    ];
    let mut doc = src.clone();
    for (from, to) in &swaps {
        assert!(doc.contains(from), "fixture changed: {from}");
        doc = doc.replacen(from, to, 1);
    }
    let d = tempdir("huge-values");
    let path = d.join("huge.xml");
    std::fs::write(&path, &doc).unwrap();
    let r = run(&[
        "validate",
        "--format",
        "json",
        "--max-size",
        "100000000",
        &s(&path),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let findings = v["documents"][0]["findings"].as_array().unwrap();
    let quoted: Vec<&str> = findings
        .iter()
        .filter_map(|f| f["message"].as_str())
        .filter(|m| m.contains("caractères)"))
        .collect();
    // The values were reached (INS, RPPS, timestamps, LOINC, UCUM, value set) and cut.
    assert!(quoted.len() >= 5, "{findings:#?}");
    for f in findings {
        let m = f["message"].as_str().unwrap();
        assert!(
            m.chars().count() < 1000,
            "{}: {} characters",
            f["rule"],
            m.len()
        );
    }
    assert!(r.stdout.len() < 100_000, "{} bytes of JSON", r.stdout.len());
}

/// libxml2 2.9 checks the attributes of one element pairwise: 100,000 of them (1.1 MB) cost it
/// minutes, also as namespace declarations and after a well-formedness error (it reads on).
/// The pre-scan refuses them before libxml2 sees the document.
#[test]
fn an_attribute_flood_is_refused_before_the_parser() {
    let d = tempdir("attribute-flood");
    let attrs: String = (0..100_000).map(|i| format!(" a{i}=\"x\"")).collect();
    let decls: String = (0..100_000)
        .map(|i| format!(" xmlns:p{i}=\"urn:p{i}\""))
        .collect();
    for (name, body) in [
        ("plain", format!("<title{attrs}/>")),
        ("namespaces", format!("<title{decls}/>")),
        ("after-an-error", format!("<a></b><title{attrs}/>")),
        ("after-unreadable-markup", format!("<!x><title{attrs}/>")),
    ] {
        std::fs::write(
            d.join(format!("{name}.xml")),
            format!("{CDA_HEAD}\n{body}</ClinicalDocument>"),
        )
        .unwrap();
    }
    let t = std::time::Instant::now();
    let (code, v) = validate_json(&[d.to_str().unwrap()]);
    let took = t.elapsed();
    assert_eq!(code, 2, "could not be checked");
    let docs = v["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 4);
    for d0 in docs {
        assert_eq!(d0["verdict"], "error", "{}", d0["path"]);
        assert_eq!(rules(d0), vec!["xml.limit.attributes"], "{}", d0["path"]);
        let f = &d0["findings"][0];
        assert_eq!(f["location"]["line"], 3, "{}", d0["path"]);
        let message = f["message"].as_str().unwrap();
        assert!(
            message.contains("« title »") && message.contains("256"),
            "{message}"
        );
    }
    // A hang guard, not a benchmark: refused, the four take milliseconds; parsed, minutes.
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
}

/// libxml2 2.9 looks every prefixed name up through all the namespace declarations in scope:
/// 50 levels of 250 declarations and 2,000 elements of 250 prefixed attributes (7 MB) cost it
/// about a minute. The pre-scan refuses more than 64 declarations in scope.
#[test]
fn namespace_declarations_in_scope_are_bounded() {
    let d = tempdir("namespace-scope");
    let mut text = format!("{CDA_HEAD}\n");
    for level in 0..50 {
        let decls: String = (0..250)
            .map(|i| format!(" xmlns:p{level}x{i}=\"urn:{level}:{i}\""))
            .collect();
        text.push_str(&format!("<component{decls}>"));
    }
    let attrs: String = (0..250).map(|i| format!(" p0x{i}:a=\"x\"")).collect();
    text.push_str(&format!("<title{attrs}/>\n").repeat(2000));
    text.push_str(&"</component>".repeat(50));
    text.push_str("</ClinicalDocument>");
    let doc = d.join("scope.xml");
    std::fs::write(&doc, &text).unwrap();
    let t = std::time::Instant::now();
    let (code, d0) = one(&doc);
    let took = t.elapsed();
    assert_eq!(code, 2, "could not be checked");
    assert_eq!(d0["verdict"], "error");
    assert_eq!(rules(&d0), vec!["xml.limit.namespaces"]);
    let f = &d0["findings"][0];
    assert_eq!(f["location"]["line"], 3);
    assert!(f["message"].as_str().unwrap().contains("64"), "{f}");
    // A hang guard, not a benchmark: refused, milliseconds; parsed, a minute.
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
}

/// A CR-BIO whose result entry repeats (a generator gone wrong, or an attacker) gets its verdict
/// within the default budget; with a budget spent at once, the engines stop with
/// `banc.limit.budget` and the document is not checked (verdict error), with or without a kit.
#[test]
fn a_repeated_entry_document_gets_a_verdict_or_a_budget_finding() {
    use banc::finding::{Layer, Severity, Verdict};
    use banc::pipeline::{Budget, Options, Validator};
    let fixture =
        std::fs::read_to_string(root().join("fixtures/cr-bio/valid/glycemie-ionogramme.xml"))
            .unwrap();
    let doc = banc::bench::repeat_entries(&fixture, 1000).unwrap();
    assert!(doc.len() > 2_000_000, "{} bytes", doc.len());
    let spent = Options {
        budget: Budget {
            base: std::time::Duration::ZERO,
            per_mib: std::time::Duration::ZERO,
        },
        ..Options::default()
    };
    let budget_findings = |r: &banc::finding::report::DocumentReport| {
        r.findings
            .iter()
            .filter(|f| f.rule == "banc.limit.budget")
            .cloned()
            .collect::<Vec<_>>()
    };

    let plain = Validator::new(None, Options::default()).unwrap();
    let r = plain.validate_bytes("grown.xml", doc.as_bytes());
    assert_eq!(r.verdict, Verdict::Pass, "{:?}", r.findings);
    assert!(budget_findings(&r).is_empty());
    let tiny = Validator::new(None, spent.clone()).unwrap();
    let r = tiny.validate_bytes("grown.xml", doc.as_bytes());
    assert_eq!(r.verdict, Verdict::Error);
    let stop = budget_findings(&r);
    assert_eq!(stop.len(), 1, "{stop:?}");
    assert_eq!(stop[0].severity, Severity::Error);
    assert_eq!(
        stop[0].layer,
        Layer::Banc,
        "banc's rules run first without a kit"
    );
    assert!(
        stop[0].message.contains("règles banc"),
        "{}",
        stop[0].message
    );

    let Some(kit) = kit() else { return };
    let kit = banc::kit::Kit::open(&kit).unwrap();
    let full = Validator::new(Some(kit.clone()), Options::default()).unwrap();
    let r = full.validate_bytes("grown.xml", doc.as_bytes());
    // The kit wants one entry per sub-chapter: a fail, judged to the end.
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(budget_findings(&r).is_empty());
    assert!(
        r.findings
            .iter()
            .any(|f| f.rule.starts_with("schematron.IHE.")),
        "{:?}",
        r.findings
    );
    let tiny = Validator::new(Some(kit), spent).unwrap();
    let r = tiny.validate_bytes("grown.xml", doc.as_bytes());
    assert_eq!(r.verdict, Verdict::Error);
    let stop = budget_findings(&r);
    assert_eq!(stop.len(), 1, "{stop:?}");
    assert_eq!(stop[0].layer, Layer::Xsd, "stopped before the first engine");
    // The schematron engine stops at the deadline too, before its first rule.
    let engine = tiny.schematron().unwrap();
    let profile = banc::profile::by_id("cr-bio-2024.01").unwrap();
    let mut findings = Vec::new();
    let loaded = match banc::xml::load(
        banc::xml::Input {
            name: "grown.xml",
            bytes: doc.as_bytes(),
        },
        &Default::default(),
        &mut findings,
    ) {
        banc::xml::Load::Ready(l) => l,
        _ => panic!("loads: {findings:?}"),
    };
    engine.prepare(&profile);
    let passed = banc::clock::Deadline::new(std::time::Instant::now(), std::time::Duration::ZERO);
    let what = engine.check(
        "grown.xml",
        &loaded,
        &profile,
        &mut findings,
        &mut Vec::new(),
        &passed,
    );
    assert!(
        what.as_deref().is_some_and(|w| w.contains("schématron")),
        "{what:?}"
    );
}
