//! banc's own XPath evaluator (`schematron/native.rs`) against libxml2's: every test of every
//! schematron of every profile, on every kit example and every training document, evaluated
//! both ways. A test banc's evaluator decides must get libxml2's value; the rest is left to
//! libxml2. Needs the kit (skipped without it unless BANC_REQUIRE_KIT=1).

mod common;

use banc::profile;
use banc::schematron::engine::{Engine, Settings};
use banc::schematron::eval;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn xml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "xml"));
    v.sort();
    v
}

#[test]
fn banc_s_evaluator_agrees_with_libxml2_on_every_test_it_decides() {
    let Some(kit) = common::kit() else { return };
    let engine = Engine::new(&kit, Settings::default());
    let mut schematrons = BTreeSet::new();
    for p in profile::all() {
        schematrons.extend(engine.files_for(&p));
    }
    let mut docs = xml_files(&kit.join("ExemplesCDA"));
    docs.extend(xml_files(&kit.join("../oracle/training")));
    let (mut native, mut left, mut loaded_docs) = (0, 0, 0);
    let mut disagreements = Vec::new();
    for d in &docs {
        let Some(loaded) = common::load_xml(d) else {
            continue;
        };
        loaded_docs += 1;
        for sch in &schematrons {
            let Ok(plan) = engine.plan(sch) else { continue };
            let (_, c) = eval::compare_native(&plan, &loaded.doc);
            native += c.native;
            left += c.left_to_libxml2;
            for (expr, _, ours, theirs) in c.disagreements {
                disagreements.push(format!(
                    "{} / {}: {expr} → banc {ours}, libxml2 {theirs}",
                    d.display(),
                    plan.file
                ));
            }
        }
    }
    eprintln!(
        "{loaded_docs} documents: {native} tests decided by banc's evaluator, {left} left to libxml2"
    );
    assert!(loaded_docs >= 100, "{loaded_docs} documents read");
    // Most tests are plain XPath 1.0: the evaluator must decide most of them.
    assert!(
        native > 2 * left,
        "{native} decided, {left} left to libxml2"
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(40)].join("\n")
    );
}

/// What the corpus rarely holds: CDATA sections, comments and processing instructions inside
/// checked elements (a DOCTYPE, hence an entity reference, never reaches the schematrons:
/// `xml.dtd.forbidden`). banc's evaluator must leave to libxml2 what it does not read as
/// libxml2 does, never answer otherwise.
#[test]
fn unusual_nodes_are_left_to_libxml2_or_read_alike() {
    let Some(kit) = common::kit() else { return };
    let engine = Engine::new(&kit, Settings::default());
    let text = std::fs::read_to_string(kit.join("ExemplesCDA/BIO-CR-BIO_2024.01_TSH_1.xml"))
        .expect("kit example");
    let text = text
        .replacen(
            "<title>Compte rendu d'examens biologiques</title>",
            "<title>Compte rendu <!-- relu --><![CDATA[d'examens]]> <?banc x?> biologiques</title>",
            1,
        )
        .replacen(
            "<title>BIOCHIMIE</title>",
            "<title><![CDATA[BIOCHIMIE]]></title>",
            1,
        )
        .replacen(
            "<given>DOMINIQUE MARIE-LOUISE</given>",
            "<given><![CDATA[DOMINIQUE]]> <!-- deux prénoms --> MARIE-LOUISE</given>",
            1,
        )
        .replacen(
            "<family qualifier=\"CL\">PAT-TROIS</family>",
            "<family qualifier=\"CL\"><![CDATA[PAT-TROIS]]></family>",
            1,
        );
    let dir = std::env::temp_dir().join(format!("banc-native-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("inhabituel.xml");
    std::fs::write(&path, &text).unwrap();
    let loaded = common::load_xml(&path).expect("the document parses");
    let _ = std::fs::remove_dir_all(&dir);
    let profile = profile::by_id("cr-bio-2024.01").expect("profile");
    let (mut native, mut disagreements) = (0, Vec::new());
    for sch in engine.files_for(&profile) {
        let plan = engine.plan(&sch).expect("plan");
        let (_, c) = eval::compare_native(&plan, &loaded.doc);
        native += c.native;
        disagreements.extend(c.disagreements.into_iter().map(|d| format!("{d:?}")));
    }
    assert!(native > 1000, "{native} decided by banc's evaluator");
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// The lets and XPath 2.0 functions banc's evaluator reads (the timestamp checks of
/// structuration minimale: `banc:replace`, `banc:castable`, `banc:if`, `banc:string-join` of
/// `banc:seq`, `substring`; the duplicate checks on `$set_other`) on timestamps of every odd
/// form: each value banc's evaluator decides must be libxml2's.
#[test]
fn lets_and_xpath2_functions_read_alike_on_odd_timestamps() {
    let Some(kit) = common::kit() else { return };
    let engine = Engine::new(&kit, Settings::default());
    let text = std::fs::read_to_string(kit.join("ExemplesCDA/BIO-CR-BIO_2024.01_TSH_1.xml"))
        .expect("kit example");
    let stamps = [
        "20210104160527+0100",
        "202101040735+0100",
        "20210104092200+0100",
        "20140402145521+0200",
        "20210101160527+0100",
        "20210104152530+0100",
        "20210401171000+0100",
        "19790328",
    ];
    let odd = [
        "2021",
        "202113",
        "20210230",
        "20210104160527.123+0100",
        "20210104160527-0530",
        "20210104160527+01",
        "-20210104",
        "2021010416",
        "2021-01-04",
        "",
        " 20210104",
        "20210104160527Z",
        "20210104240000+0100",
        "2021010416052",
        "0000",
        "20210104160527.+0100",
    ];
    let dir = std::env::temp_dir().join(format!("banc-native-ts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = profile::by_id("cr-bio-2024.01").expect("profile");
    let plans: Vec<_> = engine
        .files_for(&profile)
        .iter()
        .map(|sch| engine.plan(sch).expect("plan"))
        .collect();
    let (mut native, mut disagreements) = (0, Vec::new());
    for variant in 0..odd.len().div_ceil(stamps.len()) + 1 {
        let mut doc = text.clone();
        for (i, stamp) in stamps.iter().enumerate() {
            let value = odd[(i + variant * stamps.len()) % odd.len()];
            doc = doc.replace(&format!("value=\"{stamp}\""), &format!("value=\"{value}\""));
        }
        let path = dir.join(format!("horodatages-{variant}.xml"));
        std::fs::write(&path, &doc).unwrap();
        let loaded = common::load_xml(&path).expect("the document parses");
        for plan in &plans {
            let (_, c) = eval::compare_native(plan, &loaded.doc);
            native += c.native;
            disagreements.extend(c.disagreements.into_iter().map(|d| format!("{d:?}")));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(native > 10_000, "{native} decided by banc's evaluator");
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(40)].join("\n")
    );
}

/// banc's own rules and the terminology checks ask their XPath questions through
/// `schematron::query`: banc's evaluator where it can decide, else libxml2. On every kit example
/// and training document, each question banc's evaluator answers gets libxml2's answer.
#[test]
fn banc_rules_and_terminology_questions_get_libxml2_s_answers() {
    let Some(kit) = common::kit() else { return };
    let mut docs = xml_files(&kit.join("ExemplesCDA"));
    docs.extend(xml_files(&kit.join("../oracle/training")));
    let store = banc::terminology::Store::builtin();
    let never = banc::clock::Deadline::never();
    let (mut decided, mut findings, mut loaded_docs) = (0, 0, 0);
    let mut disagreements = Vec::new();
    for d in &docs {
        let Some(loaded) = common::load_xml(d) else {
            continue;
        };
        loaded_docs += 1;
        let profile = profile::detect(&loaded, &mut Vec::new());
        let (n, count, mut diff) = banc::schematron::query::comparing(|| {
            let (a, _, _) = banc::banc::run(&loaded, &profile, &never);
            let (b, _, _) = banc::terminology::checks::run(&loaded, &profile, &store, &never);
            a.len() + b.len()
        });
        findings += n;
        decided += count;
        disagreements.extend(diff.drain(..).map(|e| format!("{}: {e}", d.display())));
    }
    eprintln!(
        "{loaded_docs} documents: {decided} questions answered by banc's evaluator, {findings} findings"
    );
    assert!(loaded_docs >= 100, "{loaded_docs} documents read");
    assert!(
        decided > 10 * loaded_docs,
        "{decided} answered by banc's evaluator"
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(40)].join("\n")
    );
}
