//! Behaviour with the official ANS kit (`../shared/ans-kit`) and the reference's verdicts
//! (`../shared/oracle`).

mod common;
use common::*;
use std::collections::HashMap;

#[test]
fn every_cr_bio_2024_kit_example_passes_the_xsd_layer() {
    let Some(kit) = kit() else { return };
    let mut files: Vec<String> = std::fs::read_dir(kit.join("ExemplesCDA"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("BIO-CR-BIO_2024.01_") && n.ends_with(".xml")
        })
        .map(|p| s(&p))
        .collect();
    files.sort();
    assert!(files.len() >= 11, "the kit has 11 CR-BIO 2024.01 examples");
    let mut args = vec!["--kit", kit.to_str().unwrap()];
    args.extend(files.iter().map(String::as_str));
    let (code, v) = validate_json(&args);
    let docs = v["documents"].as_array().unwrap();
    assert_eq!(docs.len(), files.len());
    for d in docs {
        let xsd: Vec<_> = d["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["layer"] == "xsd" || f["layer"] == "xml" && f["severity"] == "error")
            .collect();
        assert!(xsd.is_empty(), "{}: {xsd:?}", d["path"]);
        assert_eq!(d["profile"], "cr-bio-2024.01", "{}", d["path"]);
        // The kit's examples are clean for the reference: banc's own rules must agree.
        assert_eq!(d["verdict"], "pass", "{}: {:?}", d["path"], rules(d));
    }
    assert_eq!(code, 0);
}

#[test]
fn kit_examples_of_every_volet_get_their_profile() {
    let Some(kit) = kit() else { return };
    let ex = kit.join("ExemplesCDA");
    let cases = [
        ("BIO-CR-BIO_2021.01_Electrophorese.xml", "cr-bio-2021.01"),
        ("BIO-CR-BIO_2021.01_CDA-R2-Niveau-1.xml", "cr-bio-n1"),
        ("BIO-CR-BIO_2021.01_Auto-Presentable.xml", "cr-bio-2021.01"),
        ("BIO-CR-BIO_2023.01_Electrophorese.xml", "cr-bio-2023.01"),
        ("BIO-CR-BIO_2024.01_TSH_1.xml", "cr-bio-2024.01"),
        ("BIO-TROD_2024.01_Angine.xml", "bio-trod-2024.01"),
        ("LDL-EES_2022.01.xml", "ldl-ees-2022.01"),
        ("LDL-SES_2022.01.xml", "ldl-ses-2022.01"),
        ("IMG_CR_IMG_2024.01.xml", "cda"),
    ];
    let paths: Vec<String> = cases.iter().map(|(f, _)| s(&ex.join(f))).collect();
    let mut args = vec!["--kit", kit.to_str().unwrap()];
    args.extend(paths.iter().map(String::as_str));
    let (_, v) = validate_json(&args);
    for (d, (file, profile)) in v["documents"].as_array().unwrap().iter().zip(cases) {
        assert_eq!(d["profile"], profile, "{file}");
        assert!(
            !d["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["layer"] == "xsd"),
            "{file} is XSD-valid for the reference"
        );
    }
    // The auto-presentable example validates the CDA embedded in its stylesheet.
    let auto = &v["documents"][2];
    assert!(all_rules(auto).contains(&"xml.root.auto-presentable".to_string()));
}

/// banc's XSD verdict (valid / invalid / not well-formed) equals the reference's on the whole
/// training set, reference misses included.
#[test]
fn xsd_verdicts_match_the_reference_on_the_training_set() {
    let Some(shared) = shared() else { return };
    let kit = shared.join("ans-kit");
    let training = shared.join("oracle/training");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(training.join("expected.json")).unwrap()).unwrap();
    let mut want: HashMap<String, (bool, bool)> = HashMap::new();
    for d in expected["documents"]
        .as_array()
        .unwrap()
        .iter()
        .chain(expected["reference_misses"].as_array().unwrap())
    {
        let name = d["file"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        want.insert(
            name,
            (
                d["xsd_wellformed"].as_bool().unwrap(),
                d["xsd_invalid"].as_bool().unwrap(),
            ),
        );
    }
    let (_, v) = validate_json(&[
        "--kit",
        kit.to_str().unwrap(),
        "-j",
        "2",
        training.to_str().unwrap(),
    ]);
    let docs = v["documents"].as_array().unwrap();
    assert_eq!(
        docs.len(),
        want.len(),
        "every training document is found (folder recursion)"
    );
    let mut invalid = 0;
    for d in docs {
        let name = d["path"].as_str().unwrap().rsplit('/').next().unwrap();
        let (wf, inv) = want[name];
        let rules = all_rules(d);
        let got_wf = !rules.iter().any(|r| r.starts_with("xml.not-well-formed"));
        let got_inv = rules.iter().any(|r| r.starts_with("xsd."));
        assert_eq!((got_wf, got_inv), (wf, inv), "{name}: {rules:?}");
        if got_inv {
            invalid += 1;
            // An XSD error is located: line, column and a positional XPath.
            let f = first_in_layer(d, "xsd");
            assert!(f["location"]["line"].as_u64().unwrap() > 0, "{name}");
            assert!(f["location"]["column"].as_u64().unwrap() > 0, "{name}");
            assert!(
                f["location"]["xpath"]
                    .as_str()
                    .unwrap()
                    .starts_with("/ClinicalDocument"),
                "{name}"
            );
            assert!(
                f["rule"].as_str().unwrap().starts_with("xsd.18"),
                "libxml2 code in the id"
            );
        }
    }
    assert_eq!(invalid, 7, "the reference finds 7 XSD-invalid documents");
}

#[test]
fn xsd_error_points_at_the_offending_element() {
    let Some(shared) = shared() else { return };
    let kit = shared.join("ans-kit");
    let doc = shared.join("oracle/training/011_responsible_no_id.xml");
    let (code, v) = validate_json(&["--kit", kit.to_str().unwrap(), doc.to_str().unwrap()]);
    assert_eq!(code, 1);
    let d = &v["documents"][0];
    assert_eq!(d["verdict"], "fail");
    let f = first_in_layer(d, "xsd");
    assert_eq!(f["rule"], "xsd.1871.element-content");
    // The reference (xmllint) reports this error on line 415.
    assert_eq!(f["location"]["line"], 415);
    let xpath = f["location"]["xpath"].as_str().unwrap();
    assert!(
        xpath.contains("encompassingEncounter/responsibleParty"),
        "{xpath}"
    );
}

#[test]
fn the_kit_fingerprint_is_stamped_and_stable() {
    let Some(kit) = kit() else { return };
    let doc = kit.join("ExemplesCDA/BIO-CR-BIO_2024.01_Glycémie mole.xml");
    let (_, a) = validate_json(&["--kit", kit.to_str().unwrap(), doc.to_str().unwrap()]);
    let (_, b) = validate_json(&["--kit", kit.to_str().unwrap(), doc.to_str().unwrap()]);
    let fp = a["kit"]["fingerprint"].as_str().unwrap();
    assert!(fp.starts_with("sha256:") && fp.len() == 71, "{fp}");
    assert_eq!(fp, b["kit"]["fingerprint"].as_str().unwrap());
    assert_eq!(a["kit"]["path"], kit.to_str().unwrap());
    // BANC_KIT is the same as --kit.
    let out = banc()
        .args(["validate", "--format", "json", doc.to_str().unwrap()])
        .env("BANC_KIT", &kit)
        .output()
        .unwrap();
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["kit"]["fingerprint"], a["kit"]["fingerprint"]);
}

#[test]
fn names_with_spaces_and_accents_work() {
    let Some(kit) = kit() else { return };
    let doc =
        kit.join("ExemplesCDA/BIO-CR-BIO_2024.01_Glycémie deux unités principales_mole_masse.xml");
    let r = run(&[
        "validate",
        "--kit",
        kit.to_str().unwrap(),
        doc.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("Glycémie deux unités principales_mole_masse.xml")
    );
    assert!(r.stdout.contains("PASS"));
}

#[test]
fn a_folder_that_is_not_a_kit_is_a_kit_error() {
    let d = tempdir("notakit");
    let doc = root().join("Cargo.toml");
    let r = run(&[
        "validate",
        "--kit",
        d.to_str().unwrap(),
        doc.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("CDA_extended.xsd"), "{}", r.stderr);
}

/// banc compiles the kit's schema without its import of the XSLT 2.0 schema (two fifths of the
/// compile time); a document that names the XSLT, XML Schema or XML namespace is validated
/// against the whole schema. Either way, each document gets the errors the whole schema gives.
#[test]
fn xsd_errors_are_the_whole_schemas_for_documents_naming_the_left_out_namespaces() {
    use banc::pipeline::{Options, Validator};
    use banc::xml::ffi;
    let Some(kit) = kit() else { return };
    let xsd = kit.join("infrastructure/cda/CDA_extended.xsd");
    let whole = ffi::Schema::compile(&xsd).expect("the kit's schema compiles");
    let opts = Options {
        run_schematrons: false,
        ..Options::default()
    };
    let validator = Validator::new(Some(banc::kit::Kit::open(&kit).unwrap()), opts).unwrap();
    let base =
        std::fs::read_to_string(kit.join("ExemplesCDA/BIO-CR-BIO_2024.01_TSH_1.xml")).unwrap();
    assert!(base.contains("xsi:type=\"PQ\"") && base.contains("<title>"));
    let root = |decl: &str| {
        base.replacen(
            "<ClinicalDocument ",
            &format!("<ClinicalDocument {decl} "),
            1,
        )
    };
    let xsl = "xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\"";
    let xs = "xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"";
    let variants = [
        ("as published", base.clone()),
        (
            "xml:lang on the title",
            base.replacen("<title>", "<title xml:lang=\"fr\">", 1),
        ),
        (
            "xsi:type naming an XSLT type",
            root(xsl).replacen(
                "xsi:type=\"PQ\"",
                "xsi:type=\"xsl:generic-element-type\"",
                1,
            ),
        ),
        (
            "xsi:type naming a type of XML Schema",
            root(xs).replacen("xsi:type=\"PQ\"", "xsi:type=\"xs:string\"", 1),
        ),
        (
            "an XSLT element in the header",
            base.replacen("<title>", &format!("<xsl:template {xsl}/><title>"), 1),
        ),
        (
            "an unknown type",
            base.replacen("xsi:type=\"PQ\"", "xsi:type=\"PQQ\"", 1),
        ),
    ];
    let mut erring = 0;
    for (what, text) in &variants {
        let parsed = ffi::parse(text.as_bytes(), "variant.xml");
        let doc = parsed.doc.expect("well-formed");
        let (raw, _) = whole.validate(&doc, doc.root().unwrap());
        let mut expected: Vec<(String, String)> = raw
            .iter()
            .filter(|e| e.level >= 2)
            .map(|e| (e.code.to_string(), e.message.clone()))
            .collect();
        let report = validator.validate_bytes("variant.xml", text.as_bytes());
        let mut got: Vec<(String, String)> = report
            .findings
            .iter()
            .filter(|f| f.rule.starts_with("xsd."))
            .map(|f| {
                let code = f.rule.split('.').nth(1).unwrap_or_default().to_string();
                let message = f.message.split_once(" : ").map_or("", |m| m.1).to_string();
                (code, message)
            })
            .collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{what}");
        erring += usize::from(!expected.is_empty());
    }
    assert!(erring >= 4, "the variants must exercise errors: {erring}");
}
