//! The schematron layer as users drive it: JSON `schematron` object, `--svrl`, `--phase`,
//! added and replaced schematrons, unusable kit files, terminologie not counted. Needs the kit.

mod common;
use common::*;

const REALM: &str = "fixtures/cr-bio/invalid/realm-code-missing.xml";
const VALID: &str = "fixtures/cr-bio/valid/glycemie-ionogramme.xml";

fn schematron_findings(doc: &serde_json::Value) -> Vec<serde_json::Value> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["layer"] == "schematron")
        .cloned()
        .collect()
}

#[test]
fn a_failed_assert_carries_its_schematron_origin() {
    let Some(kit) = kit() else { return };
    let (code, v) = validate_json(&["--kit", &s(&kit), REALM]);
    assert_eq!(code, 1);
    let f = schematron_findings(&v["documents"][0]);
    assert_eq!(f.len(), 1, "{f:?}");
    let f = &f[0];
    assert_eq!(f["severity"], "error");
    let o = &f["schematron"];
    assert_eq!(
        o["file"],
        "schematrons/profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch"
    );
    assert_eq!(o["kind"], "assert");
    assert_eq!(
        o["pattern"],
        "template-1.2.250.1.213.1.1.1.1-2017-12-13T103531"
    );
    assert!(
        o["context"]
            .as_str()
            .unwrap()
            .starts_with("//hl7:ClinicalDocument")
    );
    assert!(o["test"].as_str().unwrap().contains("realmCode"));
    assert_eq!(f["location"]["xpath"], "/ClinicalDocument");
    assert!(f["location"]["line"].as_u64().unwrap() > 0);
    assert!(f["message"].as_str().unwrap().contains("realmCode"));
    // The same check gets the same id in every run.
    let (_, again) = validate_json(&["--kit", &s(&kit), REALM]);
    assert_eq!(
        schematron_findings(&again["documents"][0])[0]["rule"],
        f["rule"]
    );
}

#[test]
fn svrl_files_are_written_per_document_and_schematron() {
    let Some(kit) = kit() else { return };
    let dir = tempdir("svrl");
    let r = run(&["validate", "--kit", &s(&kit), "--svrl", &s(&dir), REALM]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 6, "{files:?}");
    let strucmin = files
        .iter()
        .find(|f| f.ends_with(".ASIP-STRUCT-MIN-StrucMin.svrl"))
        .unwrap();
    let text = std::fs::read_to_string(dir.join(strucmin)).unwrap();
    assert!(text.contains("<svrl:schematron-output"));
    assert_eq!(text.matches("<svrl:failed-assert").count(), 1);
    assert!(text.matches("<svrl:fired-rule").count() > 100);
    assert!(text.contains("location=\"/ClinicalDocument\""));
    // Well-formed XML.
    let parsed = banc::xml::ffi::parse(text.as_bytes(), "svrl");
    assert!(parsed.doc.is_some(), "{:?}", parsed.errors);
}

/// Found by the `schematron` fuzz target: a user schematron whose pattern id holds control
/// characters made the SVRL ill-formed; banc's XML writer now replaces what XML cannot hold.
#[test]
fn svrl_stays_well_formed_when_a_user_schematron_holds_control_characters() {
    let Some(kit) = kit() else { return };
    let dir = tempdir("svrl-control");
    let sch = dir.join("odd.sch");
    std::fs::write(
        &sch,
        "<schema xmlns=\"http://purl.oclc.org/dsdl/schematron\" queryBinding=\"xslt2\">\n\
         <ns prefix=\"cda\" uri=\"urn:hl7-org:v3\"/>\n\
         <pattern id=\"a\u{1b}\u{0}\u{1}\"><rule context=\"cda:ClinicalDocument\">\
         <report test=\"true()\">x\u{7}y</report></rule></pattern>\n</schema>\n",
    )
    .unwrap();
    let out = dir.join("svrl");
    std::fs::create_dir_all(&out).unwrap();
    let r = run(&[
        "validate",
        "--kit",
        &s(&kit),
        "--schematron",
        &s(&sch),
        "--svrl",
        &s(&out),
        REALM,
    ]);
    assert!(r.code == 1 || r.code == 2, "{}", r.stderr);
    let file = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".odd.svrl"))
        .expect("the user schematron's SVRL");
    let text = std::fs::read(&file).unwrap();
    let parsed = banc::xml::ffi::parse(&text, "svrl");
    assert!(parsed.doc.is_some(), "{:?}", parsed.errors);
    assert!(!text.contains(&0x1b), "raw ESC in the SVRL");
}

#[test]
fn a_phase_selects_the_patterns_that_run() {
    let Some(kit) = kit() else { return };
    // StrucMin has no phases: `--phase #ALL` changes nothing for it.
    let (_, all) = validate_json(&["--kit", &s(&kit), REALM]);
    let (_, phased) = validate_json(&["--kit", &s(&kit), "--phase", "#ALL", REALM]);
    assert_eq!(
        schematron_findings(&all["documents"][0]).len(),
        schematron_findings(&phased["documents"][0]).len()
    );
    // A schematron of our own with two phases: only the chosen one's pattern runs.
    let dir = tempdir("phase");
    let sch = dir.join("two-phases.sch");
    std::fs::write(
        &sch,
        r#"<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2" defaultPhase="a">
  <ns prefix="cda" uri="urn:hl7-org:v3"/>
  <phase id="a"><active pattern="pa"/></phase>
  <phase id="b"><active pattern="pb"/></phase>
  <pattern id="pa"><rule context="cda:ClinicalDocument">
    <report test="true()">motif A</report></rule></pattern>
  <pattern id="pb"><rule context="cda:ClinicalDocument">
    <report test="true()">motif B</report></rule></pattern>
</schema>"#,
    )
    .unwrap();
    let msgs = |extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "--kit",
            kit.to_str().unwrap(),
            "--schematron",
            sch.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push(VALID);
        let (_, v) = validate_json(&args);
        schematron_findings(&v["documents"][0])
            .iter()
            .map(|f| f["message"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(msgs(&[]), vec!["motif A"]);
    assert_eq!(msgs(&["--phase", "b"]), vec!["motif B"]);
    let mut both = msgs(&["--phase", "#ALL"]);
    both.sort();
    assert_eq!(both, vec!["motif A", "motif B"]);
}

#[test]
fn a_profile_schematron_can_be_replaced() {
    let Some(kit) = kit() else { return };
    let dir = tempdir("replace");
    let sch = dir.join("volet.sch");
    std::fs::write(
        &sch,
        r#"<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">
  <ns prefix="cda" uri="urn:hl7-org:v3"/>
  <pattern id="maison"><rule context="cda:ClinicalDocument">
    <report test="cda:title" id="titre-present" role="warning">Titre :   <value-of select="cda:title"/></report>
  </rule></pattern>
</schema>"#,
    )
    .unwrap();
    let repl = format!("CI-SIS_BIO-CR-BIO_2024.01.sch={}", s(&sch));
    let (code, v) = validate_json(&[
        "--kit",
        &s(&kit),
        "--replace-schematron",
        &repl,
        "fixtures/cr-bio/invalid/document-code-wrong.xml",
    ]);
    let f = schematron_findings(&v["documents"][0]);
    // The kit's volet did not run (its finding on the document code is gone), ours did.
    assert!(f.iter().all(|x| {
        !x["rule"]
            .as_str()
            .unwrap()
            .starts_with("schematron.CI-SIS_BIO-CR-BIO")
    }));
    let ours: Vec<_> = f
        .iter()
        .filter(|x| x["rule"] == "schematron.volet.titre-present")
        .collect();
    assert_eq!(ours.len(), 1, "{f:?}");
    assert_eq!(ours[0]["severity"], "warning");
    assert_eq!(ours[0]["schematron"]["kind"], "report");
    let m = ours[0]["message"].as_str().unwrap();
    assert!(m.starts_with("Titre : ") && m.len() > 10, "{m}");
    // Only banc's own rule on the document code fails it now.
    assert_eq!(code, 1);
}

#[test]
fn a_volet_the_kit_cannot_compile_leaves_the_document_unchecked() {
    let Some(kit) = kit() else { return };
    let doc = kit.join("ExemplesCDA/BIO-CR-BIO_2023.01_Electrophorese.xml");
    let (code, v) = validate_json(&["--kit", &s(&kit), &s(&doc)]);
    assert_eq!(code, 2, "a document not fully checked is exit 2");
    let d = &v["documents"][0];
    assert_eq!(d["verdict"], "error");
    let f: Vec<_> = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "schematron.unusable")
        .collect();
    assert_eq!(f.len(), 1);
    let m = f[0]["message"].as_str().unwrap();
    assert!(m.contains("CI-SIS_BIO-CR-BIO_2023.01.sch"), "{m}");
    assert!(m.contains("BIO-CR-BIO_2023.01"), "{m}");
    // The five generic schematrons still ran, cleanly, as for the reference.
    assert_eq!(
        d["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["layer"] == "schematron" && f["rule"] != "schematron.unusable")
            .count(),
        0
    );
}

#[test]
fn kit_repairs_are_reported_once_per_run() {
    let Some(kit) = kit() else { return };
    let (_, v) = validate_json(&["--kit", &s(&kit), VALID, REALM]);
    let issues = v["kit"]["issues"].as_array().unwrap();
    let rules: Vec<&str> = issues.iter().map(|i| i["rule"].as_str().unwrap()).collect();
    assert!(rules.contains(&"kit.include.case-mismatch"), "{rules:?}");
    let fallback: Vec<_> = issues
        .iter()
        .filter(|i| i["rule"] == "kit.valueset.fallback")
        .collect();
    assert_eq!(fallback.len(), 1, "{issues:?}");
    assert!(
        fallback[0]["message"]
            .as_str()
            .unwrap()
            .contains("JDV_J07_XdsTypeCode_CISIS")
    );
}

#[test]
fn no_schematron_skips_the_layer() {
    let Some(kit) = kit() else { return };
    let (code, v) = validate_json(&["--kit", &s(&kit), "--no-schematron", REALM]);
    assert_eq!(code, 1); // banc's own realm rule still fails it
    assert!(schematron_findings(&v["documents"][0]).is_empty());
}

/// A misspelt phase would silently run the default phases: it is refused, with the phases the
/// run's schematrons declare; without the kit no schematron runs, so `--phase` is refused too.
#[test]
fn an_unknown_phase_is_refused_with_the_declared_ones() {
    let r = run(&["validate", "--phase", "a", VALID]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--phase demande --kit"), "{}", r.stderr);
    let Some(kit) = kit() else { return };
    let dir = tempdir("phase-unknown");
    let sch = dir.join("two-phases.sch");
    std::fs::write(
        &sch,
        r#"<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">
  <phase id="a"><active pattern="pa"/></phase>
  <phase id="b"><active pattern="pa"/></phase>
  <pattern id="pa"><rule context="/"><assert test="true()">A</assert></rule></pattern>
</schema>"#,
    )
    .unwrap();
    let args = |phase: &'static str| {
        vec![
            "validate".to_string(),
            "--kit".into(),
            s(&kit),
            "--schematron".into(),
            s(&sch),
            "--phase".into(),
            phase.into(),
            VALID.into(),
        ]
    };
    let a: Vec<String> = args("c");
    let r = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--phase « c »"), "{}", r.stderr);
    assert!(r.stderr.contains("two-phases.sch : a, b"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("CI-SIS_BIO-CR-BIO_2024.01.sch : CI-SIS_BIO-CR-BIO_2024.01"),
        "{}",
        r.stderr
    );
    // A phase one schematron declares is accepted (the others keep their default).
    let b: Vec<String> = args("b");
    let r = run(&b.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
}
