//! `banc kit fetch / list / default / diff`: archives made at test time from the shared kit (the
//! GitHub layout: one top folder, a pax global header), served by a local HTTP server; every
//! bad archive is refused with a clear message and leaves the kits folder as it was.

mod common;

use common::kit_archive::{Temp, archives, serve, tar_gz};
use common::{banc, kit, s};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;

/// banc with its data folder at `data`, no proxy in the way of 127.0.0.1.
fn run(data: &Path, args: &[&str]) -> common::Run {
    common::Run::of(
        banc()
            .env("BANC_DATA", data)
            .env_remove("BANC_KIT_MIRROR")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .args(args),
    )
}

fn sha256(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Every path under the kits folder with its size, and the default file's content.
fn snapshot(kits: &Path) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = walkdir::WalkDir::new(kits)
        .into_iter()
        .map(Result::unwrap)
        .map(|e| {
            (
                e.path().strip_prefix(kits).unwrap().display().to_string(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    out.sort();
    out.push((
        std::fs::read_to_string(kits.join("default")).unwrap_or_default(),
        0,
    ));
    out
}

const DOC: &str = "fixtures/cr-bio/valid/tsh.xml";

#[test]
fn fetched_kits_install_pinned_and_are_used_by_default() {
    let Some(kit) = kit() else { return };
    let (tgz, zip) = archives(&kit);
    let url = serve(HashMap::from([
        ("r1.tar.gz".to_string(), tgz.clone()),
        ("r2.zip".to_string(), zip.clone()),
    ]));
    let data = Temp::new("good");
    let d = &data.0;

    // Without any installed kit: banc's own rules, as before.
    let r = run(d, &["validate", DOC]);
    assert!(r.stdout.contains("sans kit"), "{}", r.stdout);

    // The tar.gz, pinned to its sha256.
    let pin = sha256(tgz);
    let r = run(
        d,
        &[
            "kit",
            "fetch",
            "r1",
            "--kit-url",
            &format!("{url}/{{ref}}.tar.gz"),
            "--sha256",
            &pin,
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r1 = d.join("kits/r1");
    assert!(r.stdout.contains(&format!("sha256:{pin}")), "{}", r.stdout);
    let fp = banc::kit::fingerprint(&r1).unwrap();
    assert!(
        r.stdout.contains(&fp),
        "the kit's fingerprint is printed: {}",
        r.stdout
    );
    assert!(r1.join("infrastructure/cda/CDA_extended.xsd").is_file());
    assert!(
        !r1.join("pax_global_header").exists(),
        "pax headers are not files"
    );

    // The default kit of validate: every report names it (table, JSON, JUnit).
    let junit = d.join("r.junit.xml");
    let r = run(d, &["validate", DOC, "--junit", &s(&junit)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains(&format!("installé : ref r1, archive sha256:{pin}")),
        "{}",
        r.stdout
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("name=\"banc.kit.ref\" value=\"r1\""), "{xml}");
    common::assert_junit_valid(xml.as_bytes());
    let r = run(d, &["validate", "--format", "json", DOC]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["kit"]["source"]["ref"], "r1");
    assert_eq!(v["kit"]["source"]["archive_sha256"], pin.as_str());
    assert_eq!(v["kit"]["fingerprint"], fp.as_str());
    assert_eq!(v["kit"]["path"], s(&r1));
    // --no-kit still gives banc's own rules.
    let r = run(d, &["validate", "--no-kit", "--format", "json", DOC]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["kit"].is_null());

    // A zip archive of another ref (URL from BANC_KIT_MIRROR): the last fetched is the default.
    let mirror = format!("{url}/{{ref}}.zip");
    let r = run(
        d,
        &[
            "kit",
            "fetch",
            "r2",
            "--format",
            "json",
            "--kit-url",
            &mirror,
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["sha256"], sha256(zip).as_str());
    assert_eq!(
        v["fingerprint"],
        fp.as_str(),
        "same files, same fingerprint"
    );
    let r = run(d, &["kit", "list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let list: Vec<(String, bool)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["ref"].as_str().unwrap().to_string(),
                k["default"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(list, [("r1".into(), false), ("r2".into(), true)]);
    let r = run(d, &["kit", "list"]);
    assert!(
        r.stdout.contains("r1") && r.stdout.contains(&pin),
        "{}",
        r.stdout
    );

    // Installed refs are kits for `kit diff`: the same files in both archives.
    let r = run(d, &["kit", "diff", "r1", "r2"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Aucune différence"), "{}", r.stdout);

    // `kit default` switches back; validate follows.
    let r = run(d, &["kit", "default", "r1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(d, &["validate", "--format", "json", DOC]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["kit"]["source"]["ref"], "r1");
    let r = run(d, &["kit", "default", "nope"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("non installé"), "{}", r.stderr);

    // Fetching an installed ref with its pin downloads nothing (the server is not asked).
    let r = run(
        d,
        &[
            "kit",
            "fetch",
            "r1",
            "--kit-url",
            "http://127.0.0.1:9/{ref}",
            "--sha256",
            &pin,
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("déjà installé"), "{}", r.stdout);

    // An installed kit edited afterwards no longer is its ref: refused, with the way out.
    std::fs::write(r1.join("schematrons/extra.sch"), "<schema/>").unwrap();
    let r = run(d, &["validate", DOC]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("a changé depuis banc kit fetch")
            && r.stderr.contains("banc kit fetch r1 --force"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_archives_are_refused_and_leave_the_kits_folder_unchanged() {
    let Some(kit) = kit() else { return };
    let (tgz, _) = archives(&kit);
    let traversal = tar_gz(
        &kit.join("infrastructure/cda/.."),
        "TestContenuCDA-3-0-x",
        &[(b"../evil", tar::EntryType::Regular, b"pwned")],
    );
    let symlink = tar_gz(
        &kit,
        "TestContenuCDA-3-0-x",
        &[(
            b"TestContenuCDA-3-0-x/link",
            tar::EntryType::Symlink,
            b"/etc/passwd",
        )],
    );
    let url = serve(HashMap::from([
        ("good.tar.gz".to_string(), tgz.clone()),
        (
            "truncated.tar.gz".to_string(),
            tgz[..tgz.len() / 2].to_vec(),
        ),
        ("traversal.tar.gz".to_string(), traversal),
        ("symlink.tar.gz".to_string(), symlink),
        (
            "page.html".to_string(),
            b"<html>rate limited</html>".to_vec(),
        ),
    ]));
    // A port nobody listens on.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let data = Temp::new("bad");
    let d = &data.0;
    let r = run(
        d,
        &[
            "kit",
            "fetch",
            "ok",
            "--kit-url",
            &format!("{url}/good.tar.gz"),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let kits = d.join("kits");
    let before = snapshot(&kits);

    let wrong_pin = "0".repeat(64);
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "wrong pin",
            vec![format!("{url}/good.tar.gz"), "--sha256".into(), wrong_pin],
            "pas celui épinglé",
        ),
        (
            "truncated",
            vec![format!("{url}/truncated.tar.gz")],
            "tronquée",
        ),
        (
            "traversal",
            vec![format!("{url}/traversal.tar.gz")],
            "« ../evil » hors du dossier du kit",
        ),
        (
            "symlink",
            vec![format!("{url}/symlink.tar.gz")],
            "les liens sont refusés",
        ),
        (
            "not an archive",
            vec![format!("{url}/page.html")],
            "ni tar.gz ni zip",
        ),
        (
            "unknown ref",
            vec![format!("{url}/missing.tar.gz")],
            "HTTP 404",
        ),
        (
            "server down",
            vec![format!("http://127.0.0.1:{closed}/good.tar.gz")],
            "téléchargement de",
        ),
    ];
    for (what, args, expected) in cases {
        let mut all = vec!["kit", "fetch", "bad", "--kit-url"];
        all.extend(args.iter().map(String::as_str));
        let r = run(d, &all);
        assert_eq!(r.code, 2, "{what}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(expected), "{what}: {}", r.stderr);
        assert!(
            r.stderr.contains("rien n'est installé"),
            "{what}: {}",
            r.stderr
        );
        assert_eq!(snapshot(&kits), before, "{what}: kits folder changed");
        assert!(!d.join("evil").exists() && !kits.join("evil").exists());
    }
    // The good kit is still the default one.
    let r = run(d, &["validate", "--format", "json", DOC]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["kit"]["source"]["ref"], "ok");
}

fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from).into_iter().map(Result::unwrap) {
        let rel = e.path().strip_prefix(from).unwrap();
        if rel.starts_with("ExemplesCDA") {
            continue;
        }
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            // Written anew: the shared kit is read-only.
            std::fs::write(&dest, std::fs::read(e.path()).unwrap()).unwrap();
        }
    }
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from} once in {}",
        path.display()
    );
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn kit_diff_reports_one_changed_assert_and_one_removed_code() {
    let Some(kit) = kit() else { return };
    let tmp = Temp::new("diff");
    let new = tmp.0.join("new");
    copy_tree(&kit, &new);
    let sch = "schematrons/CI-SIS_BIO-CR-BIO_2024.01.sch";
    edit(
        &new.join(sch),
        "[cda:templateId/@root='1.3.6.1.4.1.19376.1.3.3.2.1'])&gt; 0",
        "[cda:templateId/@root='1.3.6.1.4.1.19376.1.3.3.2.1'])&gt; 1",
    );
    let jdv = new.join("jeuxDeValeurs/JDV_AbordVeineuxCentral_CISIS.xml");
    let text = std::fs::read_to_string(&jdv).unwrap();
    let start = text.find("<Concept code=\"181371003\"").unwrap();
    let end = start + text[start..].find("/>").unwrap() + 2;
    std::fs::write(&jdv, format!("{}{}", &text[..start], &text[end..])).unwrap();

    let r = run(
        &tmp.0,
        &["kit", "diff", &s(&kit), &s(&new), "--format", "json"],
    );
    assert_eq!(r.code, 1, "the kits differ: {}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["schematrons"]["changed"], serde_json::json!([sch]));
    assert_eq!(v["schematrons"]["added"], serde_json::json!([]));
    assert_eq!(v["schematrons"]["removed"], serde_json::json!([]));
    assert_eq!(
        v["xsd"],
        serde_json::json!({"added": [], "removed": [], "changed": []})
    );
    let checks = &v["checks"];
    assert_eq!(checks["added"], serde_json::json!([]));
    assert_eq!(checks["removed"], serde_json::json!([]));
    let changed = checks["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{changed:?}");
    let c = &changed[0];
    assert_eq!(c["schematron"], sch);
    assert_eq!(c["changed"], serde_json::json!(["test"]));
    assert!(c["old_test"].as_str().unwrap().ends_with("> 0"), "{c}");
    assert!(c["new_test"].as_str().unwrap().ends_with("> 1"), "{c}");
    // No @id: the finding id is hashed from the test, so it changes with it.
    let id = c["id"].as_str().unwrap();
    assert!(
        id.starts_with("schematron.CI-SIS_BIO-CR-BIO_2024.01."),
        "{id}"
    );
    assert_ne!(c["old_id"].as_str().unwrap(), id);
    assert_eq!(
        v["value_sets"],
        serde_json::json!([{
            "oid": "1.2.250.1.213.1.1.5.496",
            "status": "changed",
            "codes_added": [],
            "codes_removed": ["181371003 (2.16.840.1.113883.6.96)"],
        }])
    );

    // The table says the same; a kit against itself differs in nothing (exit 0).
    let r = run(&tmp.0, &["kit", "diff", &s(&kit), &s(&new)]);
    assert!(
        r.stdout.contains("181371003") && !r.stdout.contains("&gt;"),
        "{}",
        r.stdout
    );
    let r = run(&tmp.0, &["kit", "diff", &s(&kit), &s(&kit)]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("Aucune différence"), "{}", r.stdout);
}

#[test]
fn a_project_file_pins_the_kit_validate_fetches_and_uses() {
    let Some(kit) = kit() else { return };
    let (tgz, _) = archives(&kit);
    let url = serve(HashMap::from([("r1.tar.gz".to_string(), tgz.clone())]));
    let data = Temp::new("project");
    let project = data.0.join("projet");
    std::fs::create_dir_all(&project).unwrap();
    let doc = std::path::absolute(DOC).unwrap();
    let validate = |toml: &str| {
        std::fs::write(project.join("banc.toml"), toml).unwrap();
        let out = banc()
            .current_dir(&project)
            .env("BANC_DATA", data.0.join("data"))
            .env("BANC_KIT_MIRROR", format!("{url}/{{ref}}.tar.gz"))
            .env_remove("BANC_KIT")
            .args(["validate", "--format", "json"])
            .arg(&doc)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Another archive's pin: refused, nothing installed.
    let (code, _, err) = validate(&format!(
        "[kit]\nref = \"r1\"\nsha256 = \"{}\"\n",
        "0".repeat(64)
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("sha256"), "{err}");
    assert!(!data.0.join("data/kits/r1").exists());
    // The pinned archive: fetched once, used, named in the report.
    let pin = sha256(tgz);
    let toml = format!("[kit]\nref = \"r1\"\nsha256 = \"{pin}\"\n");
    let (code, out, err) = validate(&toml);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kit"]["source"]["ref"], "r1");
    assert_eq!(v["kit"]["source"]["archive_sha256"], pin, "{}", v["kit"]);
    // Installed: the next run needs no server.
    drop(std::net::TcpStream::connect(
        url.trim_start_matches("http://"),
    ));
    let offline = toml.clone();
    let (code, out, err) = {
        std::fs::write(project.join("banc.toml"), &offline).unwrap();
        let o = banc()
            .current_dir(&project)
            .env("BANC_DATA", data.0.join("data"))
            .env("BANC_KIT_MIRROR", "http://127.0.0.1:9/{ref}.tar.gz")
            .env_remove("BANC_KIT")
            .args(["validate", "--format", "json"])
            .arg(&doc)
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"ref\": \"r1\""), "{out}");
}
