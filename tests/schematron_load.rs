//! Loading the kit's schematrons: includes, the kit's defects, abstract patterns, phases.

mod common;
use banc::schematron::{self, CheckKind};
use common::*;

#[test]
fn ihe_sch_loads_through_its_case_mismatched_include() {
    let Some(kit) = kit() else { return };
    let s = schematron::load(&kit, &kit.join("schematrons/profils/IHE.sch"))
        .expect("IHE.sch is usable");
    let w: Vec<_> = s
        .issues
        .iter()
        .filter(|i| i.rule == "kit.include.case-mismatch")
        .collect();
    assert_eq!(w.len(), 1, "{:?}", s.issues);
    assert!(w[0].message.contains("E_directiveAnticipee_int.sch"));
    assert!(w[0].message.contains("E_directiveanticipee_int.sch"));
    assert_eq!(w[0].line, 241);
    assert_eq!(s.default_phase.as_deref(), Some("ihe"));
    let active = s.active_patterns(None).unwrap();
    assert!(!active.is_empty() && active.len() <= s.patterns.len());
    assert!(s.active_patterns(Some("no-such-phase")).is_err());
    assert_eq!(
        s.active_patterns(Some("#ALL")).unwrap().len(),
        s.patterns.len()
    );
}

#[test]
fn cr_bio_2024_volet_instantiates_its_abstract_value_set_pattern() {
    let Some(kit) = kit() else { return };
    let s = schematron::load(&kit, &kit.join("schematrons/CI-SIS_BIO-CR-BIO_2024.01.sch")).unwrap();
    assert_eq!(s.file, "schematrons/CI-SIS_BIO-CR-BIO_2024.01.sch");
    assert_eq!(
        s.default_phase.as_deref(),
        Some("CI-SIS_BIO-CR-BIO_2024.01")
    );
    assert!(
        s.ns.iter()
            .any(|(p, u)| p == "cda" && u == "urn:hl7-org:v3")
    );
    let jdv = s
        .patterns
        .iter()
        .find(|p| p.id.as_deref() == Some("JDV_HL7_ObservationInterpretation-CISIS"))
        .expect("the is-a pattern is instantiated");
    assert_eq!(
        jdv.rules[0].context,
        "cda:observation/cda:interpretationCode"
    );
    let tests: Vec<&str> = jdv.rules[0]
        .checks
        .iter()
        .map(|c| c.test.as_str())
        .collect();
    assert!(
        tests
            .iter()
            .all(|t| !t.contains("$xpath_elt") && !t.contains("$path_jdv")),
        "{tests:?}"
    );
    assert!(
        tests
            .iter()
            .any(|t| t.contains("$JDV_HL7_ObservationInterpretation-CISIS")),
        "{tests:?}"
    );
    // The value-set path is a `let` of the "variables" pattern (global in the ISO skeleton).
    let vars = s
        .patterns
        .iter()
        .find(|p| p.id.as_deref() == Some("variables"))
        .unwrap();
    assert!(
        vars.lets
            .iter()
            .any(|l| l.name == "JDV_HL7_ObservationInterpretation-CISIS"
                && l.value == "'../jeuxDeValeurs/JDV_HL7_ObservationInterpretation_CISIS.xml'")
    );
    // The volet's header pattern: its asserts, with their French bracketed messages.
    let entete = s
        .patterns
        .iter()
        .find(|p| p.id.as_deref() == Some("Entete_CR-BIO"))
        .unwrap();
    let c = &entete.rules[0];
    assert_eq!(c.context, "cda:ClinicalDocument");
    assert!(
        c.checks
            .iter()
            .all(|k| k.kind == CheckKind::Assert && k.role.is_none())
    );
    assert!(c.checks.iter().any(|k| matches!(&k.message[0], schematron::MessagePart::Text(t) if t.contains("[Entete_CR-BIO]"))));
    assert!(
        s.active_patterns(None)
            .unwrap()
            .iter()
            .any(|p| p.id.as_deref() == Some("Entete_CR-BIO"))
    );
}

#[test]
fn cr_bio_2023_volet_is_a_clear_kit_error() {
    let Some(kit) = kit() else { return };
    let e =
        schematron::load(&kit, &kit.join("schematrons/CI-SIS_BIO-CR-BIO_2023.01.sch")).unwrap_err();
    assert_eq!(e.rule, "kit.include.missing");
    assert_eq!(e.file, "schematrons/CI-SIS_BIO-CR-BIO_2023.01.sch");
    assert!(
        e.message
            .contains("include/specificationsVolets/BIO-CR-BIO_2023.01/"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("fichier vide, pas un dossier"),
        "{}",
        e.message
    );
}

#[test]
fn structuration_minimale_loads_and_names_its_missing_value_set() {
    let Some(kit) = kit() else { return };
    let s = schematron::load(
        &kit,
        &kit.join("schematrons/profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch"),
    )
    .unwrap();
    assert!(s.default_phase.is_none(), "#ALL");
    assert!(
        s.check_count() > 1500,
        "~1,700 asserts, found {}",
        s.check_count()
    );
    assert!(
        s.issues.iter().any(|i| i.rule == "kit.valueset.missing"
            && i.message
                .contains("voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml")),
        "{:?}",
        s.issues
    );
    // Art-Decor asserts carry a role.
    assert!(
        s.patterns
            .iter()
            .flat_map(|p| &p.rules)
            .flat_map(|r| &r.checks)
            .any(|c| c.role.is_some())
    );
}

#[test]
fn kit_check_lists_every_defect() {
    let Some(kit) = kit() else { return };
    // Wide enough that the table does not wrap file names.
    let r = run_env(
        &["kit", "check", "--kit", kit.to_str().unwrap()],
        &[("COLUMNS", "1000")],
    );
    assert_eq!(r.code, 1, "one volet is unusable: {}", r.stdout);
    assert!(
        r.stdout.contains("63 chargés, 1 inutilisables"),
        "{}",
        r.stdout
    );
    for needle in [
        "kit.include.missing",
        "kit.include.case-mismatch",
        "kit.valueset.missing",
        "CI-SIS_BIO-CR-BIO_2023.01.sch",
        "E_directiveAnticipee_int.sch",
    ] {
        assert!(r.stdout.contains(needle), "{needle} in {}", r.stdout);
    }
    assert!(r.stdout.contains("sha256:"));
}

#[test]
fn includes_resolve_case_insensitively_and_cycles_stop() {
    let d = tempdir("sch");
    std::fs::create_dir_all(d.join("infrastructure/cda")).unwrap();
    std::fs::create_dir_all(d.join("Inc")).unwrap();
    std::fs::write(
        d.join("main.sch"),
        r#"<schema xmlns="http://purl.oclc.org/dsdl/schematron">
  <include href="inc/A.sch"/>
  <pattern id="abs" abstract="true"><rule context="$ctx"><assert test="$t">msg <value-of select="$t"/></assert></rule></pattern>
  <pattern id="p1" is-a="abs"><param name="ctx" value="cda:x"/><param name="t" value="@a"/></pattern>
</schema>"#,
    )
    .unwrap();
    std::fs::write(
        d.join("Inc/a.sch"),
        r#"<pattern xmlns="http://purl.oclc.org/dsdl/schematron" id="inc"><rule context="cda:y"><report test="@b">b</report></rule></pattern>"#,
    )
    .unwrap();
    let s = schematron::load(&d, &d.join("main.sch")).unwrap();
    assert_eq!(s.issues.len(), 1);
    assert_eq!(s.issues[0].rule, "kit.include.case-mismatch");
    let ids: Vec<_> = s.patterns.iter().map(|p| p.id.clone().unwrap()).collect();
    assert_eq!(
        ids,
        vec!["inc", "p1"],
        "schema order, abstract pattern not listed"
    );
    assert_eq!(s.patterns[0].rules[0].checks[0].kind, CheckKind::Report);
    assert_eq!(s.patterns[1].rules[0].context, "cda:x");
    assert_eq!(s.patterns[1].rules[0].checks[0].test, "@a");
    assert!(
        matches!(&s.patterns[1].rules[0].checks[0].message[1], schematron::MessagePart::ValueOf(v) if v == "@a")
    );
    // A file including itself is stopped, not followed forever.
    std::fs::write(d.join("loop.sch"), r#"<schema xmlns="http://purl.oclc.org/dsdl/schematron"><include href="loop.sch"/></schema>"#).unwrap();
    let e = schematron::load(&d, &d.join("loop.sch")).unwrap_err();
    assert_eq!(e.rule, "kit.include.unusable");
}

#[test]
fn abstract_rules_are_inlined_where_a_rule_extends_them() {
    let d = tempdir("extends");
    std::fs::write(
        d.join("ext.sch"),
        r#"<schema xmlns="http://purl.oclc.org/dsdl/schematron">
  <rule abstract="true" id="ANY"><assert test="@nullFlavor or @value">any</assert></rule>
  <rule abstract="true" id="INT"><extends rule="ANY"/><assert test="number(@value) = round(@value)">int</assert></rule>
  <pattern id="p"><rule context="cda:x"><let name="v" value="@value"/><extends rule="INT"/><report test="$v = 0">zero</report></rule></pattern>
  <pattern id="bad"><rule context="cda:y"><extends rule="NOPE"/></rule></pattern>
</schema>"#,
    )
    .unwrap();
    let s = schematron::load(&d, &d.join("ext.sch")).unwrap();
    let p = &s.patterns[0];
    assert_eq!(
        p.rules.len(),
        1,
        "abstract rules are not rules of their own"
    );
    let tests: Vec<&str> = p.rules[0].checks.iter().map(|c| c.test.as_str()).collect();
    assert_eq!(
        tests,
        vec![
            "@nullFlavor or @value",
            "number(@value) = round(@value)",
            "$v = 0"
        ]
    );
    assert_eq!(p.rules[0].lets.len(), 1);
    assert!(s.patterns[1].rules.is_empty());
    assert!(
        s.issues
            .iter()
            .any(|i| i.rule == "kit.rule.unknown-abstract" && i.message.contains("NOPE"))
    );
}
