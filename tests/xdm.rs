//! `banc xdm pack` / `banc xdm check`, and `banc validate` on packages: a package banc builds is
//! clean; each fault of mssante-xdm.md (Z01–Z05, X01–X10, §6) yields its own rule id.

mod common;

use common::{root, run, zip_entries, zip_of, zip_rewrite};
use serde_json::Value;
use std::path::{Path, PathBuf};

const TIME: &str = "20260122093000";

fn tmp(name: &str) -> PathBuf {
    common::tempdir(&format!("xdm-{name}"))
}

fn fixture(name: &str) -> PathBuf {
    root().join("fixtures/cr-bio/valid").join(name)
}

/// `banc xdm pack` of `docs` into `dir/IHE_XDM.zip`.
fn pack(dir: &Path, docs: &[&Path]) -> PathBuf {
    let out = dir.join("IHE_XDM.zip");
    let mut args = vec![
        "xdm".to_string(),
        "pack".into(),
        "--submission-time".into(),
        TIME.into(),
        "--sender".into(),
        "Laboratoire Bioval, cr-bio@bioval.test.mssante.fr".into(),
        "-o".into(),
        out.display().to_string(),
        "--force".into(),
    ];
    args.extend(docs.iter().map(|d| d.display().to_string()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(&a);
    assert_eq!(r.code, 0, "pack: {} {}", r.stdout, r.stderr);
    out
}

fn replace(bytes: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
    let s = String::from_utf8(bytes).unwrap();
    assert!(s.contains(from), "« {from} » not in the entry");
    s.replace(from, to).into_bytes()
}

/// `banc xdm check --format json` of one package: (exit code, reports).
fn check(path: &Path) -> (i32, Vec<Value>) {
    let r = run(&[
        "xdm",
        "check",
        "--format",
        "json",
        &path.display().to_string(),
    ]);
    let v: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("JSON ({e}): {} {}", r.stdout, r.stderr));
    (r.code, v["documents"].as_array().unwrap().clone())
}

/// Every finding's rule id, in order (info included).
fn all_rules(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

/// Check a faulty package: its report must carry `rule` (with `severity`), and no other
/// error of the xdm layer unless listed in `also`.
fn expect_fault(name: &str, zip: &[u8], rule: &str, severity: &str, also: &[&str]) {
    let dir = tmp(name);
    let p = dir.join("IHE_XDM.zip");
    std::fs::write(&p, zip).unwrap();
    let (code, docs) = check(&p);
    let pkg = &docs[0];
    assert_eq!(pkg["profile"], "ihe-xdm");
    let found: Vec<&Value> = pkg["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .collect();
    assert!(
        !found.is_empty(),
        "{name}: {rule} expected, got {:?}",
        all_rules(pkg)
    );
    assert_eq!(found[0]["severity"], severity, "{name}");
    assert_eq!(found[0]["layer"], "xdm");
    assert!(found[0]["spec"].as_str().is_some_and(|s| !s.is_empty()));
    for f in pkg["findings"].as_array().unwrap() {
        let id = f["rule"].as_str().unwrap();
        if f["severity"] == "error" && id != rule {
            assert!(
                also.contains(&id),
                "{name}: unexpected {id}: {}",
                f["message"]
            );
        }
    }
    if severity == "error" {
        assert_ne!(code, 0, "{name}: an error fails the run");
    }
}

#[test]
fn a_package_banc_builds_passes_and_its_document_is_validated() {
    let dir = tmp("valid");
    let zip = pack(&dir, &[&fixture("tsh.xml")]);
    let names: Vec<String> = zip_entries(&std::fs::read(&zip).unwrap())
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        [
            "INDEX.HTM",
            "README.TXT",
            "IHE_XDM/",
            "IHE_XDM/SUBSET01/",
            "IHE_XDM/SUBSET01/METADATA.XML",
            "IHE_XDM/SUBSET01/DOC0001.XML"
        ]
    );
    let (code, docs) = check(&zip);
    assert_eq!(code, 0, "{docs:?}");
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["verdict"], "pass");
    assert!(
        docs[0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["severity"] == "info"),
        "{:?}",
        all_rules(&docs[0])
    );
    // Every package rule ran (JUnit cases), with or without findings.
    let ran: Vec<&str> = docs[0]["rules_run"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    for id in [
        "xdm.zip.bomb",
        "xdm.metadata.hash",
        "xdm.metadata.cda-patient-id",
    ] {
        assert!(ran.contains(&id), "{id} not in rules_run");
    }
    assert!(
        docs[1]["path"]
            .as_str()
            .unwrap()
            .ends_with("IHE_XDM.zip!IHE_XDM/SUBSET01/DOC0001.XML")
    );
    assert_eq!(docs[1]["profile"], "cr-bio-2024.01");
    assert_eq!(docs[1]["verdict"], "pass");
}

#[test]
fn metadata_is_generated_from_the_cda_header() {
    let dir = tmp("meta");
    let doc = fixture("tsh.xml");
    let zip = std::fs::read(pack(&dir, &[&doc])).unwrap();
    let e = zip_entries(&zip);
    let md = String::from_utf8(e[4].1.clone()).unwrap();
    let cda = std::fs::read(&doc).unwrap();
    // patientId from the INS, uniqueId from ClinicalDocument/id, formatCode of a CR-BIO, the
    // hash and size of the file, creationTime in UTC (20260121162240+0100).
    assert!(md.contains("value=\"291025626003396^^^&amp;1.2.250.1.213.1.4.10&amp;ISO^NH\""));
    assert!(md.contains("value=\"C3892141-D0D2-4E16-9399-2EAD9E21DCF3\""));
    assert!(md.contains("nodeRepresentation=\"urn:ihe:lab:xd-lab:2008\""));
    assert!(md.contains("nodeRepresentation=\"11502-2\""));
    use sha1::Digest;
    let sha = hex::encode(sha1::Sha1::digest(&cda));
    assert!(md.contains(&format!("<rim:Value>{sha}</rim:Value>")));
    assert!(md.contains(&format!("<rim:Value>{}</rim:Value>", cda.len())));
    assert!(md.contains("<rim:Value>20260121152240</rim:Value>"));
    assert!(md.contains(&format!("<rim:Value>{TIME}</rim:Value>")));
    // Same inputs, same bytes.
    let again = std::fs::read(pack(&tmp("meta2"), &[&doc])).unwrap();
    assert_eq!(zip, again);
}

#[test]
fn pack_refuses_what_it_cannot_describe() {
    let dir = tmp("refuse");
    let bad = dir.join("pas-un-cda.xml");
    std::fs::write(&bad, "<html/>").unwrap();
    let out = dir.join("x.zip");
    let r = run(&[
        "xdm",
        "pack",
        "-o",
        &out.display().to_string(),
        &bad.display().to_string(),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("illisible"), "{}", r.stderr);
    assert!(!out.exists());
    // Two patients in one package.
    let r = run(&[
        "xdm",
        "pack",
        "-o",
        &out.display().to_string(),
        &fixture("tsh.xml").display().to_string(),
        &fixture("nfs-crp.xml").display().to_string(),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("un seul patient"), "{}", r.stderr);
}

/// A package of glycemie-ionogramme.xml, built in a folder of the calling test's own.
fn good(test: &str) -> Vec<u8> {
    std::fs::read(pack(
        &tmp(&format!("good-{test}")),
        &[&fixture("glycemie-ionogramme.xml")],
    ))
    .unwrap()
}

#[test]
fn metadata_faults_have_their_own_rule_ids() {
    let g = good("metadata");
    let md = |f: fn(Vec<u8>) -> Vec<u8>| {
        zip_rewrite(&g, move |n, b| {
            Some((
                n.to_string(),
                if n.ends_with("METADATA.XML") { f(b) } else { b },
            ))
        })
    };
    // X06: wrong hash.
    expect_fault(
        "hash",
        &md(|b| {
            let s = String::from_utf8(b).unwrap();
            let i = s
                .find("<rim:Slot name=\"hash\"><rim:ValueList><rim:Value>")
                .unwrap()
                + 48;
            let mut s = s.into_bytes();
            s[i] = if s[i] == b'0' { b'1' } else { b'0' };
            s
        }),
        "xdm.metadata.hash",
        "error",
        &[],
    );
    // X09: patientId is not the document's INS.
    expect_fault(
        "patient",
        &md(|b| replace(b, "284063523804767^^^", "184063523804799^^^")),
        "xdm.metadata.cda-patient-id",
        "error",
        &[],
    );
    // X07: not an INS OID.
    expect_fault(
        "oid",
        &md(|b| {
            replace(
                b,
                "&amp;1.2.250.1.213.1.4.10&amp;ISO^NH",
                "&amp;1.2.3.4&amp;ISO^NH",
            )
        }),
        "xdm.metadata.patient-id-format",
        "error",
        &[],
    );
    // X05: wrong formatCode for a CR-BIO.
    expect_fault(
        "format",
        &md(|b| replace(b, "urn:ihe:lab:xd-lab:2008", "urn:ihe:iti:xds-sd:pdf:2008")),
        "xdm.metadata.format-code",
        "error",
        &[],
    );
    // X10: a submissionTime of month 13 is no instant.
    expect_fault(
        "month13",
        &md(|b| {
            let s = String::from_utf8(b).unwrap();
            let tag = "<rim:Slot name=\"submissionTime\"><rim:ValueList><rim:Value>";
            let i = s.find(tag).unwrap() + tag.len() + 4;
            let mut s = s.into_bytes();
            s[i..i + 2].copy_from_slice(b"13");
            s
        }),
        "xdm.metadata.submission-time",
        "error",
        &[],
    );
    // X01: XXE.
    expect_fault(
        "xxe",
        &md(|b| {
            let s = String::from_utf8(b).unwrap().replacen(
                "<lcm:SubmitObjectsRequest",
                "<!DOCTYPE lcm:SubmitObjectsRequest [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<lcm:SubmitObjectsRequest",
                1,
            );
            s.into_bytes()
        }),
        "xdm.metadata.dtd-forbidden",
        "error",
        &[],
    );
    // Z05: the URI names a missing file (and the document is then unreferenced).
    expect_fault(
        "uri",
        &md(|b| {
            replace(
                b,
                "<rim:Value>DOC0001.XML</rim:Value>",
                "<rim:Value>DOC0002.XML</rim:Value>",
            )
        }),
        "xdm.layout.uri-missing",
        "error",
        &[],
    );
    // X04: typeCode in the wrong code system.
    expect_fault(
        "scheme",
        &md(|b| {
            let s = String::from_utf8(b).unwrap();
            let at = s.find("nodeRepresentation=\"11502-2\"").unwrap();
            let (head, tail) = s.split_at(at);
            (head.to_string()
                + &tail.replacen("2.16.840.1.113883.6.1", "2.16.840.1.113883.6.96", 1))
                .into_bytes()
        }),
        "xdm.metadata.code-scheme",
        "error",
        &[],
    );
    // X08: SubmissionSet about another patient.
    expect_fault(
        "ss-patient",
        &md(|b| {
            let s = String::from_utf8(b).unwrap();
            let at = s.find("<rim:RegistryPackage").unwrap();
            let (head, tail) = s.split_at(at);
            (head.to_string() + &tail.replacen("284063523804767", "184063523804799", 1))
                .into_bytes()
        }),
        "xdm.metadata.patient-id-submission",
        "error",
        &[],
    );
}

#[test]
fn archive_faults_have_their_own_rule_ids() {
    let g = good("archive");
    // Z02: path traversal; the hostile entry is not read.
    let mut files = zip_entries(&g);
    files.push(("../../etc/cron.d/x".into(), b"* * * * * root sh".to_vec()));
    expect_fault(
        "traversal",
        &zip_of(&files),
        "xdm.zip.path-traversal",
        "error",
        &[],
    );
    // Z02: names colliding by case.
    let mut files = zip_entries(&g);
    files.push(("readme.txt".into(), b"x".to_vec()));
    expect_fault(
        "dup",
        &zip_of(&files),
        "xdm.zip.duplicate-name",
        "error",
        &[],
    );
    // Z03: zip bomb (50 MB of zeros in a few tens of KB).
    let mut files = zip_entries(&g);
    files.push((
        "IHE_XDM/SUBSET01/BOMB.XML".into(),
        vec![0u8; 50 * 1024 * 1024],
    ));
    let bomb = zip_of(&files);
    assert!(bomb.len() < 200_000);
    expect_fault("bomb", &bomb, "xdm.zip.bomb", "error", &[]);
    // Z04: no METADATA.XML: the document is still validated, and the package fails.
    let no_md = zip_rewrite(&g, |n, b| {
        (!n.ends_with("METADATA.XML")).then(|| (n.to_string(), b))
    });
    expect_fault("no-md", &no_md, "xdm.layout.metadata-missing", "error", &[]);
    let dir = tmp("no-md-docs");
    let p = dir.join("IHE_XDM.zip");
    std::fs::write(&p, &no_md).unwrap();
    let (_, docs) = check(&p);
    assert_eq!(docs.len(), 2, "the CDA is validated without metadata");
    // Z04: no INDEX.HTM / README.TXT (warnings).
    let bare = zip_rewrite(&g, |n, b| {
        (!n.ends_with(".HTM") && !n.ends_with(".TXT")).then(|| (n.to_string(), b))
    });
    expect_fault("bare", &bare, "xdm.layout.index-htm", "warning", &[]);
    expect_fault("bare2", &bare, "xdm.layout.readme-txt", "warning", &[]);
    // Z05: a file nobody references.
    let mut files = zip_entries(&g);
    files.push(("IHE_XDM/SUBSET01/DOC0009.XML".into(), b"<x/>".to_vec()));
    expect_fault(
        "unref",
        &zip_of(&files),
        "xdm.layout.unreferenced",
        "warning",
        &[],
    );
    // Zip inside the zip.
    let mut files = zip_entries(&g);
    files.push(("IHE_XDM/SUBSET01/INNER.ZIP".into(), g.clone()));
    expect_fault("nested", &zip_of(&files), "xdm.zip.nested", "warning", &[]);
    // Z01: not a zip at all: the package is not checked (verdict error, exit 2).
    let dir = tmp("notzip");
    let p = dir.join("IHE_XDM.zip");
    std::fs::write(&p, b"PK\x03\x04 this is not really a zip").unwrap();
    let (code, docs) = check(&p);
    assert_eq!(code, 2);
    assert_eq!(docs[0]["verdict"], "error");
    assert_eq!(all_rules(&docs[0]), ["xdm.zip.unreadable"]);
}

#[test]
fn an_encrypted_entry_is_refused() {
    // Set the "encrypted" bit of every entry (local and central headers) of a good package.
    let mut z = good("an");
    let mut i = 0;
    while i + 4 <= z.len() {
        match &z[i..i + 4] {
            b"PK\x03\x04" => z[i + 6] |= 1,
            b"PK\x01\x02" => z[i + 8] |= 1,
            _ => {}
        }
        i += 1;
    }
    expect_fault(
        "encrypted",
        &z,
        "xdm.zip.encrypted",
        "error",
        &["xdm.layout.metadata-missing"],
    );
}

#[test]
fn validate_accepts_packages_and_folders_of_them() {
    let dir = tmp("validate");
    pack(&dir, &[&fixture("nfs-crp.xml")]);
    let r = run(&["validate", "--format", "json", &dir.display().to_string()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let paths: Vec<&str> = v["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 2);
    assert!(paths[0].ends_with("IHE_XDM.zip"));
    assert!(paths[1].ends_with("IHE_XDM.zip!IHE_XDM/SUBSET01/DOC0001.XML"));
    // The table names both, with their verdicts.
    let r = run(&["validate", &dir.join("IHE_XDM.zip").display().to_string()]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("ihe-xdm"), "{}", r.stdout);
}

#[test]
fn with_the_kit_metadata_codes_are_checked_against_the_cisis_value_sets() {
    let Some(kit) = common::kit() else { return };
    let g = good("with");
    let bad = zip_rewrite(&g, |n, b| {
        let b = if n.ends_with("METADATA.XML") {
            // SA25 (laboratoire) is in JDV_J02; SA99 is not.
            replace(
                b,
                "nodeRepresentation=\"SA25\"",
                "nodeRepresentation=\"SA99\"",
            )
        } else {
            b
        };
        Some((n.to_string(), b))
    });
    let dir = tmp("kit-codes");
    let p = dir.join("IHE_XDM.zip");
    std::fs::write(&p, &bad).unwrap();
    let r = run(&[
        "xdm",
        "check",
        "--format",
        "json",
        "--kit",
        &kit.display().to_string(),
        &p.display().to_string(),
    ]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let pkg = &v["documents"][0];
    let f: Vec<&Value> = pkg["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "xdm.metadata.code-value")
        .collect();
    assert!(!f.is_empty(), "{:?}", all_rules(pkg));
    assert!(f[0]["message"].as_str().unwrap().contains("JDV_J02"));
    // The good package passes with the kit's XSD, schematrons and value sets.
    std::fs::write(&p, &g).unwrap();
    let r = run(&[
        "xdm",
        "check",
        "--kit",
        &kit.display().to_string(),
        &p.display().to_string(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}
