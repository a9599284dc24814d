//! `banc rules`: the registry of rules as users see it, from an id to where it is declared.

mod common;
use common::*;
use std::collections::BTreeSet;

fn rules_json(args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["rules", "--format", "json"];
    all.extend_from_slice(args);
    let r = run(&all);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("JSON on stdout ({e}); stderr: {}", r.stderr));
    v["rules"].as_array().expect("rules[]").clone()
}

fn field<'a>(r: &'a serde_json::Value, name: &str) -> &'a str {
    r[name].as_str().unwrap_or_else(|| panic!("{name} in {r}"))
}

#[test]
fn every_rule_is_listed_once_with_its_declaration() {
    let rules = rules_json(&[]);
    assert!(rules.len() >= 200, "{} rules", rules.len());
    let mut ids = BTreeSet::new();
    for r in &rules {
        assert!(ids.insert(field(r, "id").to_string()), "{r} listed twice");
        assert!(!field(r, "title").is_empty() && !field(r, "severity").is_empty());
        let (file, line) = field(r, "source").rsplit_once(':').expect("file:line");
        assert!(
            file.starts_with("src/") && root().join(file).is_file(),
            "{r}"
        );
        let line: usize = line.parse().expect("line number");
        // The line is the declaration: the id is written on it or just below.
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let near: String = text.lines().skip(line - 1).take(3).collect();
        assert!(
            near.contains(field(r, "id")),
            "{r}: not declared at {file}:{line}"
        );
    }
}

#[test]
fn layer_and_prefix_filter() {
    let xdm = rules_json(&["--layer", "xdm"]);
    assert!(xdm.len() > 10);
    assert!(xdm.iter().all(|r| field(r, "layer") == "xdm"), "{xdm:?}");
    let zip = rules_json(&["xdm.zip."]);
    assert!(!zip.is_empty() && zip.len() < xdm.len());
    assert!(zip.iter().all(|r| field(r, "id").starts_with("xdm.zip.")));
    assert!(zip.iter().any(|r| field(r, "id") == "xdm.zip.bomb"));
    let none = rules_json(&["--layer", "mail", "xdm."]);
    assert!(none.is_empty());
    let bad = run(&["rules", "--layer", "nope"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[test]
fn the_table_names_ids_and_sources() {
    let r = run(&["rules", "transport.imap."]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("transport.imap.too-large"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("src/transport/rules.rs:"), "{}", r.stdout);
}

/// With the kit, the schematron checks are listed under the ids of the findings they give.
#[test]
fn kit_checks_are_listed_with_their_sch_and_line() {
    let Some(kit) = kit() else { return };
    let rules = rules_json(&["--kit", &s(&kit), "--layer", "schematron"]);
    let kit_rows: Vec<_> = rules
        .iter()
        .filter(|r| field(r, "source").contains(".sch:"))
        .collect();
    assert!(kit_rows.len() > 1000, "{}", kit_rows.len());
    for r in &kit_rows {
        let (file, line) = field(r, "source").rsplit_once(':').unwrap();
        assert!(kit.join(file).is_file(), "{r}");
        assert!(line.parse::<u32>().unwrap() > 0, "{r}");
    }
    // An assert's line is where it is written, in the included file if it is in one.
    let r = kit_rows
        .iter()
        .find(|r| field(r, "source").starts_with("schematrons/abstract/"))
        .expect("an assert of an abstract pattern");
    let (file, line) = field(r, "source").rsplit_once(':').unwrap();
    let text = std::fs::read_to_string(kit.join(file)).unwrap();
    let at = text
        .lines()
        .nth(line.parse::<usize>().unwrap() - 1)
        .unwrap();
    assert!(
        at.contains("assert") || at.contains("report"),
        "{file}:{line}: {at}"
    );
    // The findings of a kit example carry listed ids.
    let listed: BTreeSet<&str> = kit_rows.iter().map(|r| field(r, "id")).collect();
    let doc = kit.join("ExemplesCDA/ANEST-CR-ANEST_2022.01.xml");
    let (_, v) = validate_json(&["--kit", &s(&kit), &s(&doc)]);
    let mut seen = 0;
    for f in v["documents"][0]["findings"].as_array().unwrap() {
        let id = field(f, "rule");
        if id.starts_with("schematron.") && f.get("schematron").is_some() {
            assert!(listed.contains(id), "{id} not listed");
            seen += 1;
        }
    }
    eprintln!("{seen} schematron findings checked");
}

/// Id patterns of README's tables: concrete ids, `prefix*` globs (`{a,b}` expanded), and the
/// prefixes of families with a `<placeholder>` (their ids depend on libxml2 or the kit).
fn readme_ids(only_section: Option<&str>) -> (BTreeSet<String>, BTreeSet<String>, Vec<String>) {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let text = match only_section {
        Some(h) => {
            let start = text.find(h).unwrap_or_else(|| panic!("README: {h}"));
            let rest = &text[start + h.len()..];
            rest[..rest.find("\n#").unwrap_or(rest.len())].to_string()
        }
        None => text,
    };
    let re = regex::Regex::new(
        r"^(xml|xsd|schematron|banc|terminology|xdm|mail|transport|kit|project)\.[a-z0-9.{},*-]*[a-z0-9*}]$",
    )
    .unwrap();
    let (mut exact, mut globs, mut families) = (BTreeSet::new(), BTreeSet::new(), Vec::new());
    for line in text.lines().filter(|l| l.starts_with('|')) {
        for tok in line.split('`').skip(1).step_by(2) {
            if let Some((family, _)) = tok.split_once('<') {
                families.push(family.to_string());
            }
            if !re.is_match(tok) {
                continue;
            }
            let mut ids = vec![tok.to_string()];
            if let (Some(a), Some(b)) = (tok.find('{'), tok.find('}')) {
                ids = tok[a + 1..b]
                    .split(',')
                    .map(|alt| format!("{}{alt}{}", &tok[..a], &tok[b + 1..]))
                    .collect();
            }
            for id in ids {
                match id.strip_suffix('*') {
                    Some(prefix) => globs.insert(prefix.to_string()),
                    None => exact.insert(id),
                };
            }
        }
    }
    (exact, globs, families)
}

#[test]
fn readme_tables_match_the_registry() {
    let rules = rules_json(&[]);
    let ids: BTreeSet<&str> = rules.iter().map(|r| field(r, "id")).collect();
    let (exact, globs, families) = readme_ids(None);
    // An example of a family (`xsd.1871.element-content`) need not be a static rule.
    for id in exact
        .iter()
        .filter(|id| !families.iter().any(|f| id.starts_with(f.as_str())))
    {
        assert!(
            ids.contains(id.as_str()),
            "README names {id}, which no rule declares"
        );
    }
    for g in &globs {
        assert!(
            ids.iter().any(|i| i.starts_with(g.as_str())),
            "README names {g}*, which matches no rule"
        );
    }
    for id in &ids {
        assert!(
            exact.contains(*id) || globs.iter().any(|g| id.starts_with(g.as_str())),
            "{id} is in no table of README (Findings and rule ids)"
        );
    }
    // The IHE_XDM table lists every xdm rule by name.
    let (xdm, _, _) = readme_ids(Some("### IHE_XDM packages"));
    for id in ids.iter().filter(|i| i.starts_with("xdm.")) {
        assert!(
            xdm.contains(*id),
            "{id} missing from README's IHE_XDM table"
        );
    }
}
