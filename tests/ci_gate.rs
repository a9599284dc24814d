//! CI gating as a CI job relies on it: SARIF for code scanning (valid against the official
//! schema), fingerprints stable across runs and reformatting, baselines (`--baseline`,
//! `--fail-on-new`), the project file `banc.toml` (waivers, overrides, outputs, errors with
//! file:line) and `banc diff` between two runs. Every run is the built binary on a copy of the
//! CR-BIO fixtures, from the copy's folder.

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A folder with `docs/invalid` and `docs/valid` copied from the fixtures.
fn workspace(name: &str) -> PathBuf {
    let d = tempdir(name);
    for sub in ["invalid", "valid"] {
        let from = root().join("fixtures/cr-bio").join(sub);
        let to = d.join("docs").join(sub);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(&from).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
    d
}

/// `banc ARGS` run from `dir`.
fn banc_in(dir: &Path, args: &[&str]) -> Run {
    Run::of(banc().current_dir(dir).args(args))
}

fn json_file(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Replace `from` by `to` (once) in a document of the workspace.
fn edit(dir: &Path, doc: &str, from: &str, to: &str) {
    let p = dir.join("docs").join(doc);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{doc} has no {from}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

/// (document path, rule, xpath, baseline state) of every finding of a JSON report.
fn findings(run: &Value) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for d in run["documents"].as_array().unwrap() {
        for f in d["findings"].as_array().unwrap() {
            out.push((
                d["path"].as_str().unwrap().to_string(),
                f["rule"].as_str().unwrap().to_string(),
                f["location"]["xpath"].as_str().unwrap_or("").to_string(),
                f["baseline"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    out
}

#[test]
fn sarif_is_valid_against_the_official_schema_and_carries_every_finding() {
    let schema_path = root().join("tests/schemas/sarif-schema-2.1.0.json");
    let schema_bytes = std::fs::read(&schema_path).unwrap();
    // The file as the registry package ships it (tests/schemas/README.md).
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&schema_bytes)),
        "af47e7b67f24efe74076621fd3a5fbe7398add9e84fe820c971219a385895cea"
    );
    // The schema's two `language` patterns have a bare `]`, a literal in ECMA-262 (Annex B) that
    // the validator's strict regex check refuses: the same pattern with the `]` escaped (same
    // meaning; the file on disk stays verbatim, and banc writes no `language` anyway).
    let text = String::from_utf8(schema_bytes).unwrap();
    let bare = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;
    assert_eq!(text.matches(bare).count(), 2);
    let text = text.replace(bare, r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}\\]?$""#);
    let schema: Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");

    let d = workspace("sarif");
    // A waiver and a baseline, so that suppressions and baseline states are in the log too.
    std::fs::write(
        d.join("banc.toml"),
        "[[waiver]]\nrule = \"banc.patient.ins-missing\"\nreason = \"documents de test sans INS\"\nexpires = 2099-12-31\n",
    )
    .unwrap();
    let first = banc_in(&d, &["validate", "docs", "--json", "run1.json"]);
    assert_eq!(first.code, 1, "{}", first.stderr);
    edit(&d, "valid/tsh.xml", r#"<realmCode code="FR"/>"#, "");
    let r = banc_in(
        &d,
        &[
            "validate",
            "docs",
            "--sarif",
            "out.sarif",
            "--json",
            "run2.json",
            "--baseline",
            "run1.json",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let log = json_file(&d.join("out.sarif"));
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "SARIF invalid:\n{}", errors.join("\n"));

    let run = &log["runs"][0];
    assert_eq!(log["runs"].as_array().unwrap().len(), 1);
    assert!(run.get("language").is_none());
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let ids: BTreeSet<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    for r in banc::rules::all() {
        assert!(ids.contains(r.id), "{} missing from the SARIF rules", r.id);
    }
    let realm = rules
        .iter()
        .find(|r| r["id"] == "banc.header.realm-code")
        .unwrap();
    assert!(realm["shortDescription"]["text"].as_str().unwrap().len() > 10);
    assert!(
        realm["help"]["text"]
            .as_str()
            .unwrap()
            .contains("Spécification")
    );

    let report = json_file(&d.join("run2.json"));
    let expected = findings(&report);
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), expected.len());
    for res in results {
        let i = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], res["ruleId"]);
        assert_eq!(
            res["partialFingerprints"]["bancFinding/v1"]
                .as_str()
                .unwrap()
                .len(),
            32
        );
    }
    // The edited document's new finding: relative URI, line and column, XPath, state "new".
    let new: Vec<&Value> = results
        .iter()
        .filter(|r| r["baselineState"] == "new")
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    let loc = &new[0]["locations"][0];
    assert_eq!(new[0]["ruleId"], "banc.header.realm-code");
    assert_eq!(
        loc["physicalLocation"]["artifactLocation"]["uri"],
        "docs/valid/tsh.xml"
    );
    assert!(
        loc["physicalLocation"]["region"]["startLine"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(
        loc["physicalLocation"]["region"]["startColumn"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(
        loc["logicalLocations"][0]["fullyQualifiedName"],
        "/ClinicalDocument"
    );
    assert_eq!(new[0]["level"], "error");
    // The waived finding is an accepted suppression with its reason.
    let waived: Vec<&Value> = results
        .iter()
        .filter(|r| r["ruleId"] == "banc.patient.ins-missing")
        .collect();
    assert!(!waived.is_empty());
    for w in waived {
        assert_eq!(w["suppressions"][0]["status"], "accepted");
        assert_eq!(
            w["suppressions"][0]["justification"],
            "documents de test sans INS"
        );
    }
}

#[test]
fn fingerprints_survive_a_second_run_and_reformatting() {
    let d = workspace("fingerprints");
    assert_eq!(
        banc_in(&d, &["validate", "docs", "--json", "a.json"]).code,
        1
    );
    // Reformat a document with findings: every line moves, nothing else changes.
    edit(&d, "invalid/ins-bad-key.xml", "?>", "?>\n\n\n");
    assert_eq!(
        banc_in(&d, &["validate", "docs", "--json", "b.json"]).code,
        1
    );
    let fps = |v: &Value| -> Vec<(String, u64, String)> {
        v["documents"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["findings"].as_array().unwrap().clone())
            .map(|f| {
                (
                    f["rule"].as_str().unwrap().to_string(),
                    f["location"]["line"].as_u64().unwrap_or(0),
                    f["fingerprint"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let (a, b) = (
        fps(&json_file(&d.join("a.json"))),
        fps(&json_file(&d.join("b.json"))),
    );
    assert_eq!(a.len(), b.len());
    let mut moved = 0;
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.0, &x.2), (&y.0, &y.2), "fingerprint changed");
        moved += usize::from(x.1 != y.1);
    }
    assert!(moved > 0, "the reformatting moved no finding");
    // Distinct within a document even for repeated findings.
    let run = json_file(&d.join("a.json"));
    for doc in run["documents"].as_array().unwrap() {
        let f: Vec<&str> = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["fingerprint"].as_str().unwrap())
            .collect();
        let set: BTreeSet<&&str> = f.iter().collect();
        assert_eq!(set.len(), f.len(), "{}", doc["path"]);
    }
}

#[test]
fn a_baseline_of_its_own_output_has_nothing_new_and_one_edit_has_exactly_its_findings() {
    let d = workspace("baseline");
    let first = banc_in(
        &d,
        &[
            "validate",
            "docs",
            "--json",
            "run1.json",
            "--write-baseline",
            "base.json",
        ],
    );
    assert_eq!(first.code, 1);
    let run1 = json_file(&d.join("run1.json"));
    let total = findings(&run1).len();
    assert!(total > 20, "{total}");
    // Against its own JSON report and against its baseline file: all known, the gate passes.
    for base in ["run1.json", "base.json"] {
        let r = banc_in(
            &d,
            &[
                "validate",
                "docs",
                "--format",
                "json",
                "--baseline",
                base,
                "--fail-on-new",
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["gate"]["new"], 0);
        assert_eq!(v["gate"]["known"], total);
        assert_eq!(v["gate"]["fixed"], 0);
        assert!(findings(&v).iter().all(|f| f.3 == "known"));
    }
    // Without --fail-on-new the known errors still fail the run.
    let r = banc_in(&d, &["validate", "docs", "--baseline", "base.json"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("connu"), "{}", r.stdout);

    // One document changed (and another only reformatted): exactly its new findings are new.
    edit(&d, "valid/tsh.xml", r#"<realmCode code="FR"/>"#, "");
    edit(
        &d,
        "valid/tsh.xml",
        r#"<confidentialityCode code="N""#,
        r#"<confidentialityCode code="ZZ""#,
    );
    edit(&d, "invalid/ins-bad-key.xml", "?>", "?>\n\n");
    let r = banc_in(
        &d,
        &[
            "validate",
            "docs",
            "--format",
            "json",
            "--baseline",
            "base.json",
            "--fail-on-new",
            "--junit",
            "junit.xml",
            "--html",
            "report.html",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let run2: Value = serde_json::from_str(&r.stdout).unwrap();
    // The states are in the JUnit and HTML reports too; in JUnit only new errors fail (one
    // test case per rule).
    let junit = std::fs::read_to_string(d.join("junit.xml")).unwrap();
    assert_junit_valid(junit.as_bytes());
    assert!(junit.contains("[nouveau]") && junit.contains("[connu]"));
    let new_error_rules: BTreeSet<String> = run2["documents"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["findings"].as_array().unwrap().clone())
        .filter(|f| f["baseline"] == "new" && f["severity"] == "error")
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    assert!(!new_error_rules.is_empty());
    assert_eq!(
        junit.matches("<failure").count(),
        new_error_rules.len(),
        "{junit}"
    );
    let html = std::fs::read_to_string(d.join("report.html")).unwrap();
    assert!(html.contains("[nouveau]") && html.contains("[connu]"));
    let before: BTreeSet<(String, String, String)> = findings(&run1)
        .into_iter()
        .map(|f| (f.0, f.1, f.2))
        .collect();
    let expected: BTreeSet<(String, String, String)> = findings(&run2)
        .into_iter()
        .map(|f| (f.0, f.1, f.2))
        .filter(|f| !before.contains(f))
        .collect();
    let new: BTreeSet<(String, String, String)> = findings(&run2)
        .into_iter()
        .filter(|f| f.3 == "new")
        .map(|f| (f.0, f.1, f.2))
        .collect();
    assert_eq!(new, expected);
    assert!(new.iter().all(|f| f.0 == "docs/valid/tsh.xml"), "{new:?}");
    let rules: BTreeSet<&str> = new.iter().map(|f| f.1.as_str()).collect();
    assert!(rules.contains("banc.header.realm-code"), "{rules:?}");
    assert_eq!(run2["gate"]["new"], new.len());
    // Only the changed document fails under --fail-on-new.
    for doc in run2["documents"].as_array().unwrap() {
        let fail = doc["path"] == "docs/valid/tsh.xml";
        assert_eq!(
            doc["verdict"],
            if fail { "fail" } else { "pass" },
            "{}",
            doc["path"]
        );
    }
}

#[test]
fn waivers_mark_findings_without_failing_and_an_expired_one_warns() {
    let d = workspace("waivers");
    let toml = "\
# CI de l'équipe SGL
fail_on = \"error\"

[outputs]
junit = \"reports/junit.xml\"
html = \"reports/report.html\"

[[waiver]]
rule = \"banc.header.realm-code\"
reason = \"SGL v3 : realmCode ajouté au prochain lot (ticket 42)\"
expires = 2099-12-31
documents = \"docs/invalid/realm-*.xml\"

[[waiver]]
rule = \"banc.patient.ins-missing\"
reason = \"dérogation oubliée\"
expires = 2020-01-01

[[severity]]
rule = \"terminology.circuit-bio.not-configured\"
severity = \"warning\"
reason = \"la CI fournit toujours le fichier circuit-bio\"
";
    std::fs::write(d.join("banc.toml"), toml).unwrap();
    std::fs::create_dir_all(d.join("reports")).unwrap();
    let doc = "docs/invalid/realm-code-missing.xml";
    let r = banc_in(&d, &["validate", doc, "--format", "json"]);
    // The waived error does not fail; the expired waiver is a warning (below fail_on).
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let docs = v["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 2);
    let realm = docs[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "banc.header.realm-code")
        .unwrap();
    assert_eq!(realm["severity"], "error");
    assert_eq!(
        realm["waived"]["reason"],
        "SGL v3 : realmCode ajouté au prochain lot (ticket 42)"
    );
    assert_eq!(realm["waived"]["source"], "banc.toml:8");
    assert_eq!(realm["waived"]["expires"], "2099-12-31");
    assert_eq!(docs[0]["verdict"], "pass");
    // The severity override, with its reason.
    let nc = docs[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "terminology.circuit-bio.not-configured")
        .unwrap();
    assert_eq!(nc["severity"], "warning");
    assert_eq!(nc["overridden"]["from"], "info");
    // The expired waiver: a warning of the project file, at the waiver's line.
    assert_eq!(docs[1]["path"], "banc.toml");
    let exp = &docs[1]["findings"][0];
    assert_eq!(exp["rule"], "project.waiver.expired");
    assert_eq!(exp["severity"], "warning");
    assert_eq!(exp["location"]["line"], 14);
    assert!(exp["message"].as_str().unwrap().contains("2020-01-01"));
    assert_eq!(v["gate"]["waived"], 1);
    // Waived findings stay visible in every output, and the outputs come from banc.toml.
    let junit = std::fs::read_to_string(d.join("reports/junit.xml")).unwrap();
    assert_junit_valid(junit.as_bytes());
    assert!(junit.contains("dérogé : SGL v3"), "{junit}");
    assert!(!junit.contains("<failure"), "{junit}");
    let html = std::fs::read_to_string(d.join("reports/report.html")).unwrap();
    assert!(html.contains("dérogé : SGL v3"));
    let table = banc_in(&d, &["validate", doc]);
    assert!(table.stdout.contains("dérogé"), "{}", table.stdout);
    assert!(table.stdout.contains("project.waiver.expired"));

    // Outside the waiver's glob the same error fails; --fail-on on the command line overrides
    // the file's fail_on (the expired waiver's warning then fails too).
    let other = "docs/valid/tsh.xml";
    edit(&d, "valid/tsh.xml", r#"<realmCode code="FR"/>"#, "");
    assert_eq!(banc_in(&d, &["validate", other]).code, 1);
    let r = banc_in(&d, &["validate", doc, "--fail-on", "warning"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    // --config names another file; without one the folder's banc.toml is used.
    std::fs::write(d.join("empty.toml"), "").unwrap();
    assert_eq!(
        banc_in(&d, &["--config", "empty.toml", "validate", doc]).code,
        1
    );
}

#[test]
fn an_unknown_key_in_the_project_file_names_file_and_line() {
    let d = workspace("unknown-key");
    std::fs::write(
        d.join("banc.toml"),
        "fail_on = \"error\"\n\n[[waiver]]\nrule = \"x.y\"\nreason = \"r\"\nexpire = 2027-01-01\n",
    )
    .unwrap();
    let r = banc_in(&d, &["validate", "docs/valid"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("banc.toml:6") && r.stderr.contains("expire"),
        "{}",
        r.stderr
    );
    // Found from a sub-folder too (the nearest banc.toml up the tree).
    let r = banc_in(&d.join("docs"), &["validate", "valid"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("banc.toml:6"), "{}", r.stderr);
    // A profile per glob must name a known profile.
    std::fs::write(
        d.join("banc.toml"),
        "[[profile]]\ndocuments = \"docs/**\"\nid = \"cr-bio-1999\"\n",
    )
    .unwrap();
    let r = banc_in(&d, &["validate", "docs/valid"]);
    assert!(
        r.code == 2 && r.stderr.contains("banc.toml:1"),
        "{}",
        r.stderr
    );
    std::fs::write(
        d.join("banc.toml"),
        "[[profile]]\ndocuments = \"docs/valid/tsh.xml\"\nid = \"cr-bio-2023.01\"\n",
    )
    .unwrap();
    let (_, v) = {
        let r = banc_in(&d, &["validate", "docs/valid", "--format", "json"]);
        (r.code, serde_json::from_str::<Value>(&r.stdout).unwrap())
    };
    for doc in v["documents"].as_array().unwrap() {
        let want = if doc["path"] == "docs/valid/tsh.xml" {
            "cr-bio-2023.01"
        } else {
            "cr-bio-2024.01"
        };
        assert_eq!(doc["profile"], want, "{}", doc["path"]);
    }
}

#[test]
fn banc_diff_reports_exactly_the_introduced_and_removed_findings() {
    let d = workspace("diff");
    assert_eq!(
        banc_in(&d, &["validate", "docs", "--json", "old.json"]).code,
        1
    );
    // Introduce a defect in one document, fix another's.
    edit(&d, "valid/tsh.xml", r#"<realmCode code="FR"/>"#, "");
    edit(
        &d,
        "invalid/realm-code-missing.xml",
        "<typeId ",
        "<realmCode code=\"FR\"/>\n  <typeId ",
    );
    assert_eq!(
        banc_in(&d, &["validate", "docs", "--json", "new.json"]).code,
        1
    );
    let r = banc_in(&d, &["diff", "old.json", "new.json", "--format", "json"]);
    assert_eq!(r.code, 1, "a new error: {}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let pick = |kind: &str| -> BTreeSet<(String, String)> {
        v["documents"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d[kind].as_array().unwrap().clone())
            .map(|e| {
                (
                    e["path"].as_str().unwrap().to_string(),
                    e["rule"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let one = |p: &str, r: &str| BTreeSet::from([(p.to_string(), r.to_string())]);
    assert_eq!(
        pick("new"),
        one("docs/valid/tsh.xml", "banc.header.realm-code")
    );
    assert_eq!(
        pick("fixed"),
        one(
            "docs/invalid/realm-code-missing.xml",
            "banc.header.realm-code"
        )
    );
    let total = findings(&json_file(&d.join("old.json"))).len();
    assert_eq!(v["totals"]["persisting"], total - 1);
    assert_eq!(v["totals"]["new_errors"], 1);
    let rule = v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "banc.header.realm-code")
        .unwrap();
    assert_eq!(
        (rule["new"].as_u64(), rule["fixed"].as_u64()),
        (Some(1), Some(1))
    );
    // Table and HTML say the same; a run against itself changes nothing and passes.
    let t = banc_in(&d, &["diff", "old.json", "new.json"]);
    assert!(
        t.stdout.contains("+ error banc.header.realm-code"),
        "{}",
        t.stdout
    );
    assert!(
        t.stdout.contains("- error banc.header.realm-code"),
        "{}",
        t.stdout
    );
    let h = banc_in(&d, &["diff", "old.json", "new.json", "--format", "html"]);
    assert!(h.stdout.starts_with("<!DOCTYPE html>") && h.stdout.contains("docs/valid/tsh.xml"));
    let same = banc_in(&d, &["diff", "new.json", "new.json", "--format", "json"]);
    assert_eq!(same.code, 0);
    let s: Value = serde_json::from_str(&same.stdout).unwrap();
    assert_eq!(
        (s["totals"]["new"].as_u64(), s["totals"]["fixed"].as_u64()),
        (Some(0), Some(0))
    );
    // The other way round, the fixed error is a new one.
    let back = banc_in(&d, &["diff", "new.json", "old.json", "--format", "json"]);
    assert_eq!(back.code, 1, "the fix reversed is a new error");
    let bad = banc_in(&d, &["diff", "old.json", "docs/valid/tsh.xml"]);
    assert_eq!(bad.code, 2);
}

#[test]
fn banc_diff_shows_what_a_kit_changes_on_the_same_documents() {
    let Some(kit) = kit() else { return };
    let d = tempdir("diff-kit");
    std::fs::create_dir_all(d.join("docs")).unwrap();
    for f in [
        "valid/tsh.xml",
        "invalid/xsd-unknown-element.xml",
        "invalid/xsd-bad-enumeration.xml",
        "invalid/realm-code-missing.xml",
    ] {
        let p = root().join("fixtures/cr-bio").join(f);
        std::fs::copy(&p, d.join("docs").join(p.file_name().unwrap())).unwrap();
    }
    // The embedded rules, then the kit: what the kit adds is its XSD and schematron findings.
    assert_eq!(
        banc_in(&d, &["validate", "docs", "--json", "embedded.json"]).code,
        1
    );
    // The kit from the project file this time (`[kit] path`, relative to banc.toml).
    let rel = pathdiff(&d, &kit);
    std::fs::write(d.join("banc.toml"), format!("[kit]\npath = {rel:?}\n")).unwrap();
    let r = banc_in(&d, &["validate", "docs", "--json", "kit.json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let r = banc_in(
        &d,
        &["diff", "embedded.json", "kit.json", "--format", "json"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["old"]["kit"].is_null());
    assert!(v["new"]["kit"].as_str().unwrap().contains("sha256:"));
    assert!(json_file(&d.join("kit.json"))["kit"]["fingerprint"].is_string());
    let with_kit = json_file(&d.join("kit.json"));
    let from_kit: BTreeSet<(String, String)> = findings(&with_kit)
        .into_iter()
        .filter(|f| f.1.starts_with("xsd.") || f.1.starts_with("schematron."))
        .map(|f| (f.0, f.1))
        .collect();
    assert!(from_kit.len() >= 3, "{from_kit:?}");
    let new: BTreeSet<(String, String)> = v["documents"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["new"].as_array().unwrap().clone())
        .map(|e| {
            (
                e["path"].as_str().unwrap().into(),
                e["rule"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(new, from_kit);
    assert_eq!(v["totals"]["fixed"], 0);
}

/// `to` relative to `from` (both absolute), with `..` steps.
fn pathdiff(from: &Path, to: &Path) -> String {
    let to = to.canonicalize().unwrap();
    let from = from.canonicalize().unwrap();
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let ups = from.components().count() - common;
    let mut out: Vec<String> = vec!["..".into(); ups];
    out.extend(
        to.components()
            .skip(common)
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    out.join("/")
}
