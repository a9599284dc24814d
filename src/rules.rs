//! The registry of banc's rules: every rule declared with [`crate::rule!`], gathered from the
//! module that owns its id's prefix, and the kit's schematron checks with their finding ids.
//!
//! An id's prefix names its owner (README, "Findings and rule ids"); [`OWNERS`] is that table.

use crate::finding::Rule;
use crate::schematron::{self, CheckKind, eval::Plan};
use std::path::Path;

/// Owner of each id prefix, longest prefix first: where a rule of that prefix is declared.
/// `banc.profile.*` and `banc.limit.*` sit below `src/banc` because lower layers emit them.
pub const OWNERS: &[(&str, &str)] = &[
    ("banc.limit.", "src/finding/mod.rs"),
    ("banc.profile.", "src/profile.rs"),
    ("xml.", "src/xml/mod.rs"),
    ("xsd.", "src/xsd.rs"),
    ("schematron.", "src/schematron/engine.rs"),
    ("kit.", "src/kit.rs"),
    ("banc.internal.", "src/banc/internal.rs"),
    ("banc.", "src/banc/mod.rs"),
    ("terminology.", "src/terminology/checks.rs"),
    ("xdm.", "src/xdm/"),
    ("mail.", "src/mail/rules.rs"),
    ("transport.", "src/transport/rules.rs"),
    ("project.", "src/project.rs"),
];

/// Every static rule of banc, by layer of the pipeline then declaration order.
pub fn all() -> Vec<&'static Rule> {
    let table = |t: &'static [&'static Rule]| t.iter().copied();
    table(crate::xml::RULES)
        .chain(table(crate::xsd::RULES))
        .chain(table(schematron::engine::RULES))
        .chain(table(crate::kit::rules::RULES))
        .chain(table(crate::profile::RULES))
        .chain(table(crate::finding::RULES))
        // banc's rules sit in its table of checks.
        .chain(crate::banc::rules())
        .chain(table(crate::banc::internal::RULES))
        .chain(table(crate::terminology::checks::RULES))
        .chain(crate::xdm::rules())
        .chain(table(crate::mail::rules::MESSAGE_RULES))
        .chain(table(crate::mail::rules::ACK_RULES))
        .chain(table(crate::transport::rules::RULES))
        .chain(table(crate::project::RULES))
        .collect()
}

/// The rule of an id, if it is a static one.
pub fn by_id(id: &str) -> Option<&'static Rule> {
    all().into_iter().find(|r| r.id == id)
}

/// The file that owns rules of `id`'s prefix.
pub fn owner(id: &str) -> Option<&'static str> {
    OWNERS
        .iter()
        .find(|(prefix, _)| id.starts_with(prefix))
        .map(|(_, file)| *file)
}

/// A check of one of the kit's schematrons, under the id its findings carry.
#[derive(Debug, Clone)]
pub struct KitCheck {
    /// `schematron.<stem>.<@id>` or `schematron.<stem>.<pattern>.<hash>`, as in findings.
    pub id: String,
    /// `assert` or `report`; `schema` for the schematron as a whole.
    pub kind: &'static str,
    pub severity: crate::finding::Severity,
    /// Kit-relative `.sch` where the check is written (an included file, if it is in one).
    pub file: String,
    pub line: u32,
    /// The schematron that runs it (kit-relative).
    pub schematron: String,
    /// The check's message as written, `…` where it quotes the document.
    pub title: String,
}

/// Every check of the kit's schematrons (all phases), with the ids banc's findings use: the
/// ids come from the compiled plan, so they cannot drift from the findings. Schematrons the kit
/// cannot load are skipped (`banc kit check` lists them).
pub fn kit_checks(kit_root: &Path) -> Vec<KitCheck> {
    // Included files are named relative to the root only when it has no `..` in it.
    let canonical = kit_root.canonicalize();
    let kit_root = canonical.as_deref().unwrap_or(kit_root);
    let mut out = Vec::new();
    for (file, schema) in schematron::check_kit(kit_root) {
        let Ok(schema) = schema else { continue };
        let Ok(plan) = Plan::build(kit_root, &schema, Some("#ALL")) else {
            continue;
        };
        let Ok(active) = schema.active_patterns(Some("#ALL")) else {
            continue;
        };
        // The run of the schematron as a whole (the JUnit test case of a document it passes).
        out.push(KitCheck {
            id: format!("schematron.{}", plan.stem),
            kind: "schema",
            severity: crate::finding::Severity::Error,
            file: file.clone(),
            line: 1,
            schematron: file.clone(),
            title: format!("Schématron {file}"),
        });
        // Plan::build compiles the active patterns, their rules and checks in order, one for one.
        for (pat, pplan) in active.iter().zip(&plan.patterns) {
            for (rule, rplan) in pat.rules.iter().zip(&pplan.rules) {
                for (check, cplan) in rule.checks.iter().zip(&rplan.checks) {
                    out.push(KitCheck {
                        id: cplan.rule_id.clone(),
                        kind: match check.kind {
                            CheckKind::Assert => "assert",
                            CheckKind::Report => "report",
                        },
                        severity: cplan.severity,
                        file: check
                            .file
                            .as_deref()
                            .map(str::to_string)
                            .unwrap_or_else(|| file.clone()),
                        line: check.line,
                        schematron: file.clone(),
                        title: title(&check.message),
                    });
                }
            }
        }
    }
    out
}

/// The text of a schematron message, its computed parts as `…`, spaces collapsed.
fn title(parts: &[schematron::MessagePart]) -> String {
    let text: String = parts
        .iter()
        .map(|p| match p {
            schematron::MessagePart::Text(t) => t.as_str(),
            _ => "…",
        })
        .collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ids_are_unique() {
        let mut seen = BTreeSet::new();
        for r in all() {
            assert!(seen.insert(r.id), "{} declared twice", r.id);
        }
        assert!(seen.len() >= 200, "{} rules", seen.len());
    }

    #[test]
    fn every_rule_is_declared_by_the_owner_of_its_prefix() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for r in all() {
            assert!(root.join(r.file).is_file(), "{}: {}", r.id, r.source());
            assert!(r.line > 0 && !r.message.is_empty(), "{}", r.id);
            let owner = owner(r.id).unwrap_or_else(|| panic!("{}: no owner", r.id));
            assert!(
                r.file.starts_with(owner),
                "{} is declared in {}, not {owner}",
                r.id,
                r.file
            );
            assert!(
                r.id.starts_with(r.layer.as_str()) || r.id.starts_with("kit."),
                "{}: layer {}",
                r.id,
                r.layer
            );
        }
    }

    /// Literals that look like rule ids without being one.
    const NOT_IDS: &[&str] = &[
        // Mail domains of rehearsals and placeholders.
        "banc.test",
        "banc.invalid",
        "banc.localhost",
        // The family of libxml2 parser errors, `xml.not-well-formed.<code>`.
        "xml.not-well-formed",
        // The project file's name.
        "banc.toml",
        // JUnit properties naming the kit a run used.
        "banc.kit",
        "banc.kit.fingerprint",
        "banc.kit.ref",
    ];

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// No id can be emitted without a declaration: every id-shaped literal of non-test code in
    /// `src/` is a registered rule.
    #[test]
    fn every_id_literal_is_registered() {
        let ids: BTreeSet<&str> = all().iter().map(|r| r.id).collect();
        let re = regex::Regex::new(
            r#""((?:xml|xsd|schematron|banc|term|terminology|xdm|mail|transport|scenario|kit|project)\.[a-z0-9.-]*[a-z0-9])""#,
        )
        .unwrap();
        let mut files = Vec::new();
        rust_files(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut missing = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            // Unit tests sit at the end of a file.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for (n, line) in code.lines().enumerate() {
                let line = line.trim_start();
                if line.starts_with("//") {
                    continue;
                }
                for c in re.captures_iter(line) {
                    let id = &c[1];
                    if !ids.contains(id) && !NOT_IDS.contains(&id) {
                        missing.push(format!("{}:{}: {id}", f.display(), n + 1));
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "undeclared rule ids:\n{}",
            missing.join("\n")
        );
    }
}
