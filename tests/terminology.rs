//! The terminology layer as users meet it: the store's readers on our own fixture files, the
//! `terminology info` / `lookup` commands, and each `terminology.*` rule on a document that breaks
//! it (fixtures/cr-bio/terminology/) and on documents that satisfy it (the valid fixtures and the
//! kit's CR-BIO 2024.01 examples).

mod common;
use common::*;
use serde_json::Value;

const CSV: &str = "fixtures/terminology/circuit-bio.csv";
const XLSX: &str = "fixtures/terminology/circuit-bio.xlsx";

/// (file, rule id expected, its severity, verdict) with the circuit-bio file given, no kit.
const BROKEN: &[(&str, &str, &str, &str)] = &[
    (
        "loinc-check-digit.xml",
        "terminology.loinc.check-digit",
        "error",
        "fail",
    ),
    (
        "loinc-syntax.xml",
        "terminology.loinc.syntax",
        "error",
        "fail",
    ),
    (
        "code-system-mismatch.xml",
        "terminology.code-system.mismatch",
        "error",
        "fail",
    ),
    (
        "result-local-code.xml",
        "terminology.result.local-code",
        "warning",
        "pass",
    ),
    (
        "result-uncoded.xml",
        "terminology.result.uncoded",
        "error",
        "fail",
    ),
    (
        "result-local-system.xml",
        "terminology.result.code-system",
        "error",
        "fail",
    ),
    (
        "result-en-attente.xml",
        "terminology.loinc.en-attente",
        "info",
        "pass",
    ),
    (
        "glucose-mass-code.xml",
        "terminology.circuit-bio.absent",
        "warning",
        "pass",
    ),
    (
        "result-order-code.xml",
        "terminology.circuit-bio.role",
        "error",
        "fail",
    ),
    (
        "battery-observation-code.xml",
        "terminology.circuit-bio.role",
        "error",
        "fail",
    ),
    (
        "unit-missing.xml",
        "terminology.unit.missing",
        "error",
        "fail",
    ),
    (
        "unit-not-ucum.xml",
        "terminology.unit.ucum",
        "error",
        "fail",
    ),
    (
        "unit-not-recommended.xml",
        "terminology.unit.not-recommended",
        "warning",
        "pass",
    ),
    (
        "technique-missing.xml",
        "terminology.circuit-bio.technique-missing",
        "info",
        "pass",
    ),
    (
        "display-name-differs.xml",
        "terminology.display-name.differs",
        "info",
        "pass",
    ),
    (
        "interpretation-unknown.xml",
        "terminology.binding.interpretation",
        "error",
        "fail",
    ),
    (
        "confidentiality-unknown.xml",
        "terminology.binding.confidentiality",
        "error",
        "fail",
    ),
];

fn terminology_findings(doc: &Value) -> Vec<(String, String, String)> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["layer"] == "terminology")
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn by_file(v: &Value) -> std::collections::HashMap<String, &Value> {
    v["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let p = d["path"].as_str().unwrap();
            (p.rsplit('/').next().unwrap().to_string(), d)
        })
        .collect()
}

#[test]
fn each_rule_fires_on_the_document_that_breaks_it_and_only_there() {
    let (_, v) = validate_json(&["--circuit-bio", CSV, "fixtures/cr-bio/terminology/"]);
    let docs = by_file(&v);
    for (file, rule, sev, verdict) in BROKEN {
        let d = docs
            .get(*file)
            .unwrap_or_else(|| panic!("{file} validated"));
        let found = terminology_findings(d);
        assert!(
            found.iter().any(|(r, s, _)| r == rule && s == sev),
            "{file}: expected {rule} ({sev}), got {found:?}"
        );
        assert_eq!(d["verdict"], *verdict, "{file}: {found:?}");
        // No other terminology error or warning than the one the document is about.
        let others: Vec<_> = found
            .iter()
            .filter(|(r, s, _)| r != rule && (s == "error" || s == "warning"))
            .collect();
        assert!(others.is_empty(), "{file}: unexpected {others:?}");
    }
    // The valid fixtures satisfy every rule.
    let (code, v) = validate_json(&["--circuit-bio", CSV, "fixtures/cr-bio/valid/"]);
    assert_eq!(code, 0);
    for d in v["documents"].as_array().unwrap() {
        let bad: Vec<_> = terminology_findings(d)
            .into_iter()
            .filter(|(_, s, _)| s != "info")
            .collect();
        assert!(bad.is_empty(), "{}: {bad:?}", d["path"]);
    }
}

#[test]
fn messages_explain_the_fix() {
    let (_, v) = validate_json(&["--circuit-bio", CSV, "fixtures/cr-bio/terminology/"]);
    let docs = by_file(&v);
    let msg = |file: &str, rule: &str| -> String {
        terminology_findings(docs[file])
            .into_iter()
            .find(|(r, _, _)| r == rule)
            .map(|(_, _, m)| m)
            .unwrap_or_default()
    };
    // The glucose mass code: the retained code of the same analyte and specimen is proposed.
    let m = msg("glucose-mass-code.xml", "terminology.circuit-bio.absent");
    assert!(m.contains("2345-7") && m.contains("14749-6"), "{m}");
    assert!(
        !m.contains("Urine"),
        "other specimens are not proposed: {m}"
    );
    let m = msg("loinc-check-digit.xml", "terminology.loinc.check-digit");
    assert!(m.contains("2823-4") && m.contains("attendu 3"), "{m}");
    let m = msg("unit-not-ucum.xml", "terminology.unit.ucum");
    assert!(m.contains("« umol/L »"), "{m}");
    let m = msg(
        "unit-not-recommended.xml",
        "terminology.unit.not-recommended",
    );
    assert!(m.contains("mg/L") && m.contains("umol/L"), "{m}");
    let m = msg("result-order-code.xml", "terminology.circuit-bio.role");
    assert!(m.contains("24326-1") && m.contains("Order"), "{m}");
    let m = msg("result-en-attente.xml", "terminology.loinc.en-attente");
    assert!(m.contains("1443252"), "{m}");
}

#[test]
fn without_circuit_bio_the_value_set_checks_say_they_did_not_run() {
    let (_, v) = validate_json(&["fixtures/cr-bio/terminology/glucose-mass-code.xml"]);
    let f = terminology_findings(&v["documents"][0]);
    assert!(
        f.iter()
            .any(|(r, s, _)| r == "terminology.circuit-bio.not-configured" && s == "info"),
        "{f:?}"
    );
    assert!(
        !f.iter()
            .any(|(r, _, _)| r == "terminology.circuit-bio.absent")
    );
    // Checks that need no value set still run.
    let (code, v) = validate_json(&["fixtures/cr-bio/terminology/loinc-check-digit.xml"]);
    assert_eq!(code, 1);
    assert!(
        terminology_findings(&v["documents"][0])
            .iter()
            .any(|(r, _, _)| r == "terminology.loinc.check-digit")
    );
    // The specimen-type value set is not built in: with no kit the binding says so.
    let (_, v) = validate_json(&["fixtures/cr-bio/terminology/specimen-type-unknown.xml"]);
    assert!(
        terminology_findings(&v["documents"][0])
            .iter()
            .any(|(r, s, _)| r == "terminology.binding.unavailable" && s == "info")
    );
}

/// `banc terminology ARGS --format json`, which must succeed, parsed.
fn term_json(args: &[&str]) -> Value {
    let mut all = vec!["terminology"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let r = run(&all);
    assert_eq!(r.code, 0, "{all:?}: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{all:?}: {e}"))
}

#[test]
fn csv_and_xlsx_give_the_same_value_set() {
    // Row by row equality is a unit test of the reader (circuit.rs); here the commands agree.
    let info = |f: &str| term_json(&["info", "--circuit-bio", f])["circuit_bio"].clone();
    let (c, x) = (info(CSV), info(XLSX));
    for k in [
        "codes",
        "order",
        "both",
        "observation",
        "chapters",
        "unknown_type",
    ] {
        assert_eq!(c[k], x[k], "{k}");
    }
    assert!(c["codes"].as_u64().unwrap() >= 300, "{c}");
    assert_eq!(c["unknown_type"], 0);
    assert_eq!(c["issues"].as_array().unwrap().len(), 0, "{c}");
    // The version is read from the workbook's summary sheet.
    assert!(x["version"].as_str().is_some(), "{x}");
    let lookup = |f: &str, code: &str| {
        term_json(&["lookup", code, "--circuit-bio", f])["circuit_bio"].clone()
    };
    for code in ["14749-6", "24326-1", "58410-2", "3016-3", "18719-5"] {
        let (a, b) = (lookup(CSV, code), lookup(XLSX, code));
        assert!(a.is_object(), "{code}: {a}");
        for k in ["kind", "unit", "label", "chapter", "comparability"] {
            assert_eq!(a[k], b[k], "{code} {k}");
        }
    }
}

#[test]
fn lookup_explains_a_code_and_fails_on_an_unknown_one() {
    let r = run(&["terminology", "lookup", "14749-6", "--circuit-bio", CSV]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Both"), "{}", r.stdout);
    assert!(r.stdout.contains("mmol/L"), "{}", r.stdout);
    assert!(r.stdout.contains("Forme LOINC : ok"), "{}", r.stdout);
    let r = run(&["terminology", "lookup", "2345-7", "--circuit-bio", CSV]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("absent"), "{}", r.stdout);
    let r = run(&["terminology", "lookup", "2823-4", "--format", "json"]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["loinc"].as_str().unwrap().contains("attendu 3"), "{v}");
}

#[test]
fn svs_and_fhir_files_load_and_are_listed() {
    let v = term_json(&[
        "info",
        "--terminology",
        "fixtures/terminology/svs",
        "--terminology",
        "fixtures/terminology/fhir",
    ]);
    let sets = v["value_sets"].as_array().unwrap();
    let get = |id: &str| {
        sets.iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {sets:?}"))
    };
    assert_eq!(get("1.2.3.4.5.6.1")["format"], "svs");
    assert_eq!(get("1.2.3.4.5.6.3")["format"], "fhir-value-set");
    assert_eq!(get("1.2.3.4.5.6.3")["version"], "2.1.0");
    assert_eq!(get("1.2.3.4.5.6.4")["format"], "fhir-value-set");
    assert_eq!(get("1.2.3.4.5.6.5")["format"], "fhir-code-system");
    assert_eq!(get("1.2.3.4.5.6.6")["format"], "fhir-value-set");
    for id in [
        "1.2.3.4.5.6.1",
        "1.2.3.4.5.6.3",
        "1.2.3.4.5.6.4",
        "1.2.3.4.5.6.5",
    ] {
        assert!(get(id)["codes"].as_u64().unwrap() >= 5, "{id}");
    }
    assert_eq!(v["issues"].as_array().unwrap().len(), 0, "{v}");
    // The sample interpretation value set has its own OID: banc's built-in one stays.
    assert!(sets.iter().any(|s| s["id"] == "2.16.840.1.113883.1.11.78"));
    // A code of the FHIR value set is found by lookup, with its display.
    let v = term_json(&[
        "lookup",
        "2951-2",
        "--terminology",
        "fixtures/terminology/fhir",
    ]);
    let hit = v["value_sets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "1.2.3.4.5.6.3")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(hit["system"], "2.16.840.1.113883.6.1", "{hit}");
    assert!(!hit["display"].as_str().unwrap().is_empty(), "{hit}");
}

#[test]
fn unreadable_terminology_files_are_reported_not_fatal_but_a_bad_circuit_bio_is() {
    let d = tempdir("term-bad");
    std::fs::write(d.join("empty.xml"), "").unwrap();
    std::fs::write(d.join("patient.json"), r#"{"resourceType":"Patient"}"#).unwrap();
    std::fs::write(
        d.join("xxe.xml"),
        r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><RetrieveValueSetResponse><ValueSet id="1" displayName="&e;"/></RetrieveValueSetResponse>"#,
    )
    .unwrap();
    let r = run(&[
        "terminology",
        "info",
        "--terminology",
        &s(&d),
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let issues = v["issues"].as_array().unwrap();
    assert_eq!(issues.len(), 3, "{issues:?}");
    let text = serde_json::to_string(issues).unwrap();
    assert!(text.contains("vide") && text.contains("Patient") && text.contains("DOCTYPE"));
    // A circuit-bio file without a code column stops the run with the expected columns named.
    std::fs::write(d.join("circuit.csv"), "a;b\n1;2\n").unwrap();
    let r = run(&[
        "validate",
        "--circuit-bio",
        &s(&d.join("circuit.csv")),
        "fixtures/cr-bio/valid/tsh.xml",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("Code LOINC"), "{}", r.stderr);
    let r = run(&[
        "validate",
        "--circuit-bio",
        "fixtures/terminology/absent.xlsx",
        "fixtures/cr-bio/valid/tsh.xml",
    ]);
    assert_eq!(r.code, 2);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn kit_value_sets_replace_the_built_in_ones_and_bind_the_specimen_type() {
    let Some(kit) = kit() else { return };
    let v = term_json(&["info", "--kit", &s(&kit)]);
    assert!(v["value_sets"].as_array().unwrap().len() > 500);
    let replaced = serde_json::to_string(&v["replaced"]).unwrap();
    assert!(replaced.contains("JDV_HL7_ObservationInterpretation_CISIS.xml"));
    let (_, v) = validate_json(&[
        "--kit",
        &s(&kit),
        "fixtures/cr-bio/terminology/specimen-type-unknown.xml",
    ]);
    let f = terminology_findings(&v["documents"][0]);
    assert!(
        f.iter()
            .any(|(r, s, m)| r == "terminology.binding.specimen-type"
                && s == "error"
                && m.contains("SANG")),
        "{f:?}"
    );
}

#[test]
fn kit_cr_bio_2024_examples_have_no_terminology_error() {
    let Some(kit) = kit() else { return };
    let mut args = vec![
        "--kit".to_string(),
        s(&kit),
        "--circuit-bio".into(),
        XLSX.into(),
    ];
    let mut files: Vec<_> = std::fs::read_dir(kit.join("ExemplesCDA"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("BIO-CR-BIO_2024.01")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 11);
    args.extend(files.iter().map(|p| s(p)));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, v) = validate_json(&refs);
    let mut warnings = std::collections::BTreeSet::new();
    for d in v["documents"].as_array().unwrap() {
        for (r, sev, _) in terminology_findings(d) {
            assert_ne!(sev, "error", "{}: {r}", d["path"]);
            if sev == "warning" {
                warnings.insert(r);
            }
        }
    }
    // The warnings the issue note lists: the non-LOINC CRP example, and units other than the
    // fixture's recommended ones.
    let expected: std::collections::BTreeSet<String> = [
        "terminology.result.local-code",
        "terminology.unit.not-recommended",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(warnings, expected);
}

#[test]
fn a_zip_bomb_given_as_circuit_bio_is_refused_before_inflating() {
    use std::io::Write;
    let d = tempdir("term-bomb");
    let path = d.join("bomb.xlsx");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    z.start_file("xl/worksheets/sheet1.xml", opts).unwrap();
    let zeros = vec![b' '; 1 << 20];
    for _ in 0..600 {
        z.write_all(&zeros).unwrap();
    }
    z.finish().unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() < 10 << 20);
    let r = run(&["terminology", "info", "--circuit-bio", &s(&path)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("décompressé"), "{}", r.stderr);
    let _ = std::fs::remove_dir_all(&d);
}
