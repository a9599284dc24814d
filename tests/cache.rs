//! The start-up cache (`--cache DIR`): a run with a warm cache judges as one without; a
//! corrupt or truncated entry is ignored, the run is still right and the entry is written
//! again; `--no-cache` neither reads nor writes it.

mod common;

use common::{banc, s, tempdir};
use serde_json::Value;
use std::path::Path;

/// `banc validate --kit KIT --format json DOC` with `extra` options: the report without timings.
fn judged(kit: &Path, doc: &Path, extra: &[&str]) -> Value {
    let out = banc()
        .args(["validate", "--format", "json", "--kit", &s(kit)])
        .args(extra)
        .arg(doc)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for d in v["documents"].as_array_mut().unwrap() {
        d.as_object_mut().unwrap().remove("duration_ms");
    }
    if let Some(issues) = v["kit"]["issues"].as_array_mut() {
        issues.sort_by_key(|i| i.to_string());
    }
    v
}

/// Date `p` 1 January 2026, always the same time: old enough for the kit's file index to
/// trust it.
fn age(p: &Path) {
    let then = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600);
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(then)
        .unwrap()
}

fn entries(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p.file_name().unwrap().to_string_lossy().to_string(), bytes)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_corrupt_cache_is_rebuilt_and_the_verdicts_do_not_change() {
    let Some(kit) = common::kit() else { return };
    let dir = tempdir("startup-cache");
    let cache = dir.join("cache");
    let opt = ["--cache", &s(&cache)];
    // A document with schematron findings, so that the plans are exercised.
    let doc = common::shared()
        .unwrap()
        .join("oracle/training/001_realm_missing.xml");
    let reference = judged(&kit, &doc, &["--no-cache"]);
    assert!(!cache.exists(), "--no-cache writes nothing");
    assert_eq!(reference["documents"][0]["verdict"], "fail");

    assert_eq!(judged(&kit, &doc, &opt), reference, "cold cache");
    let written = entries(&cache);
    for kind in ["kit-index-", "plan-", "terminology-"] {
        assert!(
            written.iter().any(|(n, _)| n.starts_with(kind)),
            "{kind} in {written:?}",
            written = written.iter().map(|(n, _)| n).collect::<Vec<_>>()
        );
    }
    assert_eq!(judged(&kit, &doc, &opt), reference, "warm cache");
    assert_eq!(entries(&cache), written, "a warm run rewrites nothing");

    // Every entry damaged: one byte flipped in half of them, the others cut short.
    for (i, (name, bytes)) in written.iter().enumerate() {
        let damaged = if i % 2 == 0 {
            let mut b = bytes.clone();
            let mid = b.len() / 2;
            b[mid] ^= 0x5A;
            b
        } else {
            bytes[..bytes.len() / 3].to_vec()
        };
        std::fs::write(cache.join(name), damaged).unwrap();
    }
    assert_eq!(judged(&kit, &doc, &opt), reference, "corrupt cache ignored");
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    let rewritten = entries(&cache);
    assert_eq!(names(&rewritten), names(&written));
    for ((name, now), (_, before)) in rewritten.iter().zip(&written) {
        // The index holds modification times of the kit, equal from run to run.
        assert_eq!(now, before, "{name} written again, whole");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_kit_fingerprint_from_the_index_follows_every_change() {
    let dir = tempdir("kit-index");
    let kit = dir.join("kit");
    std::fs::create_dir_all(kit.join("a")).unwrap();
    std::fs::write(kit.join("a/x.xml"), "<x/>").unwrap();
    std::fs::write(kit.join("y.txt"), "y").unwrap();
    age(&kit.join("a/x.xml"));
    age(&kit.join("y.txt"));
    let cache = banc::cache::Cache::at(dir.join("cache"));
    let full = |k: &Path| banc::kit::fingerprint(k).unwrap();
    let indexed = |k: &Path| banc::kit::fingerprint_with(k, &cache).unwrap();
    let first = full(&kit);
    assert_eq!(indexed(&kit), first);
    // The index is what is read: content changed behind the same size and time is not seen
    // (as with git's index); the real fingerprint sees it.
    std::fs::write(kit.join("y.txt"), "Y").unwrap();
    age(&kit.join("y.txt"));
    assert_eq!(indexed(&kit), first, "from the index, y.txt not read");
    assert_ne!(full(&kit), first);
    // Same size, same second: the index must still see the change (modification time in ns,
    // and a file written just before indexing is hashed again next time).
    std::fs::write(kit.join("y.txt"), "z").unwrap();
    assert_eq!(indexed(&kit), full(&kit), "edited");
    std::fs::write(kit.join("w.txt"), "w").unwrap();
    assert_eq!(indexed(&kit), full(&kit), "added");
    std::fs::remove_file(kit.join("a/x.xml")).unwrap();
    assert_eq!(indexed(&kit), full(&kit), "removed");
    std::fs::remove_dir_all(&dir).ok();
}

/// A run reads the plans and value sets the kit's last known fingerprint keys while it checks
/// the kit's files. When a schematron changed since, what it read is stale: the run must judge
/// with the changed rules, and the fingerprint from the index alone must not be the kit's.
#[test]
fn a_changed_schematron_is_used_though_the_cache_holds_the_old_plan() {
    let Some(shared_kit) = common::kit() else {
        return;
    };
    let dir = tempdir("stale-guess");
    let kit = dir.join("kit");
    // The kit linked file by file where it can be (the file changed below is replaced, not
    // edited), else copied; a copy is dated back, so that the index trusts its time.
    for e in walkdir::WalkDir::new(&shared_kit) {
        let e = e.unwrap();
        let to = kit.join(e.path().strip_prefix(&shared_kit).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else if std::fs::hard_link(e.path(), &to).is_err() {
            std::fs::copy(e.path(), &to).unwrap();
            age(&to);
        }
    }
    // In this process, as the command line does: the cache is keyed by the build reading it.
    let cache = banc::cache::Cache::at(dir.join("cache"));
    let doc = common::shared()
        .unwrap()
        .join("oracle/training/001_realm_missing.xml");
    let messages = || -> Vec<String> {
        let v = banc::pipeline::Validator::open(Some(&kit), Default::default(), &cache).unwrap();
        v.validate_file(&doc, "001_realm_missing.xml")
            .findings
            .into_iter()
            .map(|f| f.message)
            .collect()
    };
    let old = "element hl7:realmCode[@code = 'FR'] is required";
    let new = "l'élément hl7:realmCode[@code = 'FR'] est exigé";
    messages();
    let before = messages();
    assert!(before.iter().any(|m| m.contains(old)), "{before:?}");
    let fingerprint = || banc::kit::fingerprint(&kit).unwrap();
    assert_eq!(
        banc::kit::indexed_fingerprint(&kit, &cache),
        Some(fingerprint())
    );
    let sch = kit.join(
        "schematrons/profils/structurationMinimale/include/1.2.250.1.213.1.1.1.1-2017-12-13T103531.sch",
    );
    let text = std::fs::read_to_string(&sch).unwrap().replace(old, new);
    std::fs::remove_file(&sch).unwrap();
    std::fs::write(&sch, text).unwrap();
    // Dated back: the index trusts its time; its new size and time tell the change.
    age(&sch);
    let stale = banc::kit::indexed_fingerprint(&kit, &cache).unwrap();
    assert_ne!(
        stale,
        fingerprint(),
        "the index does not know of the change yet"
    );
    let after = messages();
    assert!(after.iter().any(|m| m.contains(new)), "{after:?}");
    assert!(!after.iter().any(|m| m.contains(old)), "{after:?}");
    assert_eq!(
        banc::kit::indexed_fingerprint(&kit, &cache),
        Some(fingerprint()),
        "indexed again"
    );
    std::fs::remove_dir_all(&dir).ok();
}
