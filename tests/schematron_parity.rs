//! Schematron verdicts against the reference pipeline (Saxon + ISO skeleton), document by
//! document: `../shared/oracle/training/expected.json` and `../shared/oracle/kit-examples.json`.
//! Needs the kit and the oracle (skipped without them unless BANC_REQUIRE_KIT=1).

mod common;

use banc::schematron::CheckKind;
use banc::schematron::engine::{self, Engine, Settings};
use banc::xml;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// (pattern, rule context, location in the reference's notation) → count.
type Multiset = BTreeMap<(String, String, String), usize>;

/// The reference prints a step's position only when the element has preceding same-named
/// siblings; banc's XPath numbers every repeated name.
fn reference_notation(xpath: &str) -> String {
    xpath.replace("[1]", "")
}

struct Run {
    fired: usize,
    failed: Multiset,
    reports: Multiset,
    /// Texts of failed asserts, same keys (for messages that must match too).
    texts: BTreeMap<(String, String, String), Vec<String>>,
    errors: Vec<String>,
}

fn run(engine: &Engine, sch: &Path, loaded: &xml::Loaded) -> Result<Run, String> {
    let (plan, out) = engine.outcome(sch, loaded).map_err(|e| e.message)?;
    let mut r = Run {
        fired: out.fired_rules(),
        failed: Multiset::new(),
        reports: Multiset::new(),
        texts: BTreeMap::new(),
        errors: out.errors.iter().map(|e| e.message.clone()).collect(),
    };
    for (pi, pr) in out.patterns.iter().enumerate() {
        let pat = &plan.patterns[pi];
        for f in &pr.fired {
            let rule = &pat.rules[f.rule];
            let loc = engine::location(loaded, f.node).xpath.unwrap_or_default();
            for h in &f.hits {
                let key = (
                    pat.id.clone().unwrap_or_default(),
                    rule.context.clone(),
                    reference_notation(&loc),
                );
                let set = match rule.checks[h.check].kind {
                    CheckKind::Assert => &mut r.failed,
                    CheckKind::Report => &mut r.reports,
                };
                *set.entry(key.clone()).or_default() += 1;
                r.texts.entry(key).or_default().push(h.text.clone());
            }
        }
    }
    Ok(r)
}

fn expected_multiset(list: &Value) -> Multiset {
    let mut m = Multiset::new();
    for a in list.as_array().into_iter().flatten() {
        let key = (
            a["pattern"].as_str().unwrap_or_default().to_string(),
            a["rule_context"].as_str().unwrap_or_default().to_string(),
            a["location"].as_str().unwrap_or_default().to_string(),
        );
        *m.entry(key).or_default() += 1;
    }
    m
}

/// Compare one document with its reference entry; returns the differences found.
fn compare(engine: &Engine, kit: &Path, doc: &Path, entry: &Value, detailed: bool) -> Vec<String> {
    let mut diffs = Vec::new();
    let name = doc.file_name().unwrap().to_string_lossy().to_string();
    let Some(loaded) = common::load_xml(doc) else {
        if entry["xsd_wellformed"].as_bool() != Some(false) {
            diffs.push(format!("{name}: not loaded by banc"));
        }
        return diffs;
    };
    // The profile banc detects runs exactly the schematrons the reference ran, in its order.
    let mut sink = Vec::new();
    let profile = banc::profile::detect(&loaded, &mut sink);
    let mine: Vec<String> = profile.schematrons.iter().map(|s| s.to_string()).collect();
    let theirs: Vec<String> = entry["schematrons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["file"].as_str().unwrap().to_string())
        .collect();
    if mine != theirs {
        diffs.push(format!(
            "{name}: profile {} runs {mine:?}, reference {theirs:?}",
            profile.id
        ));
    }
    for s in entry["schematrons"].as_array().unwrap() {
        let file = s["file"].as_str().unwrap();
        let status = s["status"].as_str().unwrap_or("");
        let got = run(engine, &kit.join(file), &loaded);
        match (status, got) {
            ("ok", Ok(r)) => {
                if let Some(n) = s["fired_rules"].as_u64()
                    && n as usize != r.fired
                {
                    diffs.push(format!(
                        "{name} {file}: fired rules {} (reference {n})",
                        r.fired
                    ));
                }
                if !r.errors.is_empty() {
                    diffs.push(format!("{name} {file}: run-time errors {:?}", r.errors));
                }
                if detailed {
                    let want_f = expected_multiset(&s["failed_asserts"]);
                    let want_r = expected_multiset(&s["successful_reports"]);
                    if want_f != r.failed {
                        diffs.push(format!(
                            "{name} {file}: failed asserts\n  banc {:?}\n  reference {:?}\n  texts {:?}",
                            r.failed, want_f, r.texts
                        ));
                    } else {
                        // Same checks at the same places: the messages must read the same too.
                        for a in s["failed_asserts"].as_array().into_iter().flatten() {
                            let key = (
                                a["pattern"].as_str().unwrap_or_default().to_string(),
                                a["rule_context"].as_str().unwrap_or_default().to_string(),
                                a["location"].as_str().unwrap_or_default().to_string(),
                            );
                            let text = a["text"].as_str().unwrap_or_default();
                            if !r
                                .texts
                                .get(&key)
                                .is_some_and(|t| t.iter().any(|x| x == text))
                            {
                                diffs.push(format!(
                                    "{name} {file}: message differs\n  banc {:?}\n  reference {text:?}",
                                    r.texts.get(&key)
                                ));
                            }
                        }
                    }
                    if want_r != r.reports {
                        diffs.push(format!(
                            "{name} {file}: successful reports banc {:?} reference {:?}",
                            r.reports, want_r
                        ));
                    }
                } else {
                    let n = s["failed_asserts"].as_u64().unwrap_or(0) as usize;
                    let m = s["successful_reports"].as_u64().unwrap_or(0) as usize;
                    let (f, p) = (
                        r.failed.values().sum::<usize>(),
                        r.reports.values().sum::<usize>(),
                    );
                    if (f, p) != (n, m) {
                        diffs.push(format!(
                            "{name} {file}: {f} failed asserts / {p} reports (reference {n} / {m}): {:?}",
                            r.texts
                        ));
                    }
                }
            }
            ("ok", Err(e)) => diffs.push(format!("{name} {file}: banc cannot run it: {e}")),
            (_, Ok(_)) => diffs.push(format!(
                "{name} {file}: the reference could not run it ({status}), banc did"
            )),
            (_, Err(_)) => {}
        }
    }
    diffs
}

fn oracle() -> Option<PathBuf> {
    let o = common::shared()?.join("oracle");
    o.is_dir().then_some(o)
}

#[test]
fn schematron_verdicts_match_the_reference_on_the_training_set() {
    let (Some(kit), Some(oracle)) = (common::kit(), oracle()) else {
        return;
    };
    let engine = Engine::new(&kit, Settings::default());
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(oracle.join("training/expected.json")).unwrap(),
    )
    .unwrap();
    let mut diffs = Vec::new();
    let mut checked = 0;
    for (group, dir) in [("documents", "training"), ("reference_misses", "training")] {
        for entry in expected[group].as_array().unwrap() {
            let doc = oracle.join(dir).join(entry["file"].as_str().unwrap());
            diffs.extend(compare(&engine, &kit, &doc, entry, true));
            checked += 1;
        }
    }
    assert_eq!(checked, 43);
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn schematron_verdicts_match_the_reference_on_the_kit_examples() {
    let (Some(kit), Some(oracle)) = (common::kit(), oracle()) else {
        return;
    };
    let engine = Engine::new(&kit, Settings::default());
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(oracle.join("kit-examples.json")).unwrap())
            .unwrap();
    let mut diffs = Vec::new();
    let examples = expected["examples"].as_array().unwrap();
    for entry in examples {
        let doc = kit.join(entry["file"].as_str().unwrap());
        diffs.extend(compare(&engine, &kit, &doc, entry, false));
    }
    assert_eq!(examples.len(), 25);
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
