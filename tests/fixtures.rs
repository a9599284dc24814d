//! Our own fixtures (`fixtures/`) against the outcome each one declares in `fixtures/expected.json`:
//! with the embedded default (no kit) and with the ANS kit.

mod common;
use common::*;

fn expected() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(root().join("fixtures/expected.json"))
        .expect("fixtures/expected.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    v["documents"].as_array().expect("documents[]").clone()
}

fn check(mode: &str, extra: &[&str]) {
    let cases = expected();
    assert!(
        cases.len() >= 15,
        "the fixture set covers valid and invalid documents"
    );
    let files: Vec<String> = cases
        .iter()
        .map(|c| s(&root().join("fixtures").join(c["file"].as_str().unwrap())))
        .collect();
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(files.iter().map(String::as_str));
    let (_, v) = validate_json(&args);
    let docs = v["documents"].as_array().unwrap();
    assert_eq!(docs.len(), cases.len());
    let mut failures = Vec::new();
    for (case, doc) in cases.iter().zip(docs) {
        let want = &case[mode];
        let file = case["file"].as_str().unwrap();
        let want_rules: Vec<String> = want["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        let mut want_sorted = want_rules.clone();
        want_sorted.sort();
        if doc["verdict"] != want["verdict"] || rules(doc) != want_sorted {
            failures.push(format!(
                "{file} ({mode}): verdict {} (want {}), rules {:?} (want {:?})",
                doc["verdict"],
                want["verdict"],
                rules(doc),
                want_sorted
            ));
        }
        if case["profile"] != doc["profile"] {
            failures.push(format!(
                "{file}: profile {} (want {})",
                doc["profile"], case["profile"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fixtures_meet_their_expected_outcome_with_the_embedded_default() {
    check("embedded", &[]);
}

#[test]
fn fixtures_meet_their_expected_outcome_with_the_kit() {
    let Some(kit) = kit() else { return };
    let k = s(&kit);
    check("kit", &["--kit", &k]);
}

#[test]
fn the_readme_first_command_validates_the_valid_fixtures() {
    let r = run(&["validate", "fixtures/cr-bio/valid"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("PASS"));
    assert!(!r.stdout.contains("FAIL"));
}
