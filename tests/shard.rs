//! Scale-out: `banc validate --shard K/N` run as N processes covers the inputs once, and
//! `banc merge` of their JSON / JSON Lines reports equals the report of one run over all of
//! them; `--format jsonl` streams one line per document then the run's line.

mod common;

use common::{banc, root, s, tempdir};
use serde_json::Value;
use std::path::Path;

/// The fixtures' CDA documents, and each again under two other names (a batch of ~150).
fn corpus(dir: &Path) -> usize {
    let mut n = 0;
    for f in banc::files::under(&root().join("fixtures/cr-bio"), &["xml"]) {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let group = f
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        for copy in ["a", "b/c", "d"] {
            let to = dir.join(copy).join(&group);
            std::fs::create_dir_all(&to).unwrap();
            std::fs::copy(&f, to.join(&name)).unwrap();
            n += 1;
        }
    }
    n
}

/// A run's JSON made comparable: no timings, documents by path, kit issues sorted.
fn normalised(mut v: Value) -> Value {
    let docs = v["documents"].as_array_mut().unwrap();
    for d in docs.iter_mut() {
        d.as_object_mut().unwrap().remove("duration_ms");
    }
    docs.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    if let Some(issues) = v["kit"]["issues"].as_array_mut() {
        issues.sort_by_key(|i| i.to_string());
    }
    v
}

#[test]
fn four_shards_merged_equal_one_run() {
    let dir = tempdir("shard");
    let docs = dir.join("docs");
    let total = corpus(&docs);
    let single = banc()
        .args(["validate", "--format", "json", "-j", "2", &s(&docs)])
        .output()
        .unwrap();
    assert_eq!(
        single.status.code(),
        Some(1),
        "fixtures hold invalid documents"
    );
    let single: Value = serde_json::from_slice(&single.stdout).unwrap();
    assert_eq!(single["summary"]["documents"], total);

    // Four processes at once, as four machines would run them; two write JSON, two JSON Lines.
    let children: Vec<_> = (0..4)
        .map(|k| {
            let format = if k % 2 == 0 { "json" } else { "jsonl" };
            let out = dir.join(format!("shard-{k}.{format}"));
            let child = banc()
                .args(["validate", "--format", format, "-j", "1"])
                .args(["--shard", &format!("{k}/4"), &s(&docs)])
                .stdout(std::fs::File::create(&out).unwrap())
                .spawn()
                .unwrap();
            (child, out)
        })
        .collect();
    let mut parts = Vec::new();
    let mut counted = 0;
    for (mut child, out) in children {
        let code = child.wait().unwrap().code();
        assert!(matches!(code, Some(0 | 1)), "{code:?}");
        let text = std::fs::read_to_string(&out).unwrap();
        let last: Value = serde_json::from_str(text.lines().last().unwrap())
            .or_else(|_| serde_json::from_str(&text))
            .unwrap();
        let n = last["summary"]["documents"].as_u64().unwrap() as usize;
        assert!(
            n > 0 && n < total,
            "each shard takes a share: {n} of {total}"
        );
        counted += n;
        parts.push(out);
    }
    assert_eq!(counted, total, "the shards cover every input once");

    let merged = banc()
        .arg("merge")
        .args(&parts)
        .args(["--format", "json", "--junit", &s(&dir.join("junit.xml"))])
        .args(["--html", &s(&dir.join("report.html"))])
        .output()
        .unwrap();
    assert_eq!(
        merged.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    let merged: Value = serde_json::from_slice(&merged.stdout).unwrap();
    assert_eq!(normalised(merged), normalised(single));
    common::assert_junit_valid(&std::fs::read(dir.join("junit.xml")).unwrap());
    assert!(
        std::fs::read_to_string(dir.join("report.html"))
            .unwrap()
            .contains("glycemie")
    );

    // The same share whatever the folder is called: the hash is of the path under it.
    let moved = dir.join("elsewhere");
    std::fs::rename(&docs, &moved).unwrap();
    let names = |folder: &Path, part: &str| -> Vec<String> {
        let out = banc()
            .args(["validate", "--format", "jsonl", "--shard", part, &s(folder)])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        lines[..lines.len() - 1]
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                let p = v["path"].as_str().unwrap().to_string();
                p[s(folder).len()..].to_string()
            })
            .collect()
    };
    let first = std::fs::read_to_string(&parts[1]).unwrap();
    let before: Vec<String> = first
        .lines()
        .filter(|l| l.contains("\"path\""))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["path"].as_str().map(|p| p[s(&docs).len()..].to_string()))
        .collect();
    assert_eq!(names(&moved, "1/4"), before);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn jsonl_writes_a_line_per_document_in_input_order_then_the_run() {
    let out = banc()
        .args(["validate", "--format", "jsonl", "-j", "3"])
        .arg(root().join("fixtures/cr-bio/invalid"))
        .arg(root().join("fixtures/cr-bio/valid"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON value"))
        .collect();
    let (run, docs) = lines.split_last().unwrap();
    let paths: Vec<&str> = docs.iter().map(|d| d["path"].as_str().unwrap()).collect();
    let expected: Vec<String> = ["invalid", "valid"]
        .iter()
        .flat_map(|g| banc::files::under(&root().join("fixtures/cr-bio").join(g), &["xml"]))
        .map(|p| s(&p))
        .collect();
    assert_eq!(
        paths, expected,
        "input order, whatever thread finished first"
    );
    assert_eq!(run["schema"], "banc.validate/1");
    assert_eq!(run["summary"]["documents"], docs.len());
    assert!(run.get("documents").is_none());
    let failed = docs.iter().filter(|d| d["verdict"] == "fail").count();
    assert_eq!(run["summary"]["fail"], failed);
}

#[test]
fn a_bad_shard_or_mixed_reports_are_refused() {
    for bad in ["4/4", "1", "a/2", "0/0", "1/x"] {
        let r = common::run(&["validate", "--shard", bad, "fixtures/cr-bio/valid"]);
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
        assert!(r.stderr.contains("K/N"), "{bad}: {}", r.stderr);
    }
    let dir = tempdir("merge-mixed");
    let run = |args: &[&str], to: &str| {
        let out = banc().args(args).output().unwrap();
        std::fs::write(dir.join(to), out.stdout).unwrap();
    };
    run(
        &["validate", "--format", "jsonl", "fixtures/cr-bio/valid"],
        "a.jsonl",
    );
    run(
        &[
            "validate",
            "--format",
            "jsonl",
            "--fail-on",
            "warning",
            "fixtures/cr-bio/valid",
        ],
        "b.jsonl",
    );
    let r = common::run(&["merge", &s(&dir.join("a.jsonl")), &s(&dir.join("b.jsonl"))]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--fail-on"), "{}", r.stderr);
    // A shard cut short (no run line) is not silently merged as if complete.
    let text = std::fs::read_to_string(dir.join("a.jsonl")).unwrap();
    let cut: String = text.lines().next().unwrap().to_string() + "\n";
    std::fs::write(dir.join("cut.jsonl"), cut).unwrap();
    let r = common::run(&["merge", &s(&dir.join("cut.jsonl"))]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("incomplet"), "{}", r.stderr);
    std::fs::remove_dir_all(&dir).ok();
}
