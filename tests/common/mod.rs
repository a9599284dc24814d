//! Helpers shared by the integration tests: run the built binary like a user does.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn banc() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_banc"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env_remove("BANC_KIT");
    c.env_remove("BANC_CIRCUIT_BIO");
    c.env_remove("BANC_TERMINOLOGY");
    c
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(args: &[&str]) -> Run {
    run_env(args, &[])
}

/// `run` with extra environment variables.
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out: Output = banc()
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("banc runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `banc validate --format json ARGS`, parsed.
pub fn validate_json(args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["validate", "--format", "json"];
    all.extend_from_slice(args);
    let r = run(&all);
    let v = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("JSON on stdout ({e}); stderr: {}", r.stderr));
    (r.code, v)
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The ANS kit beside the checkout (`../shared/ans-kit`), or `BANC_TEST_KIT`.
/// Absent: the test is skipped, unless `BANC_REQUIRE_KIT=1` (CI) makes that a failure.
pub fn kit() -> Option<PathBuf> {
    let p = std::env::var_os("BANC_TEST_KIT")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/ans-kit"));
    if p.join("infrastructure/cda/CDA_extended.xsd").is_file() {
        return Some(p);
    }
    assert!(
        std::env::var("BANC_REQUIRE_KIT").as_deref() != Ok("1"),
        "BANC_REQUIRE_KIT=1 but no kit at {}",
        p.display()
    );
    eprintln!("skipped: no ANS kit at {} (set BANC_TEST_KIT)", p.display());
    None
}

pub fn shared() -> Option<PathBuf> {
    kit().map(|k| k.join(".."))
}

pub fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A fresh temporary folder for one test.
pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("banc-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Distinct rule ids of the findings of a JSON document at or above `warning`.
pub fn rules(doc: &serde_json::Value) -> Vec<String> {
    let mut r: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    r.sort();
    r.dedup();
    r
}

pub fn all_rules(doc: &serde_json::Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

/// The first finding of a layer in a JSON document (panics when there is none).
pub fn first_in_layer<'a>(doc: &'a serde_json::Value, layer: &str) -> &'a serde_json::Value {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["layer"] == layer)
        .unwrap_or_else(|| panic!("no {layer} finding in {}", doc["path"]))
}
