//! The library's layering cannot rot: every top-level module of `src/` has a layer, uses only
//! modules of lower layers (or of its own layer, without a cycle), and the command line (clap,
//! exit statuses, printing) lives only in the binary (`src/main.rs`, `src/cli/`).
//!
//! Edges are the `crate::<module>` paths of non-test code, as `../shared/tools/layers.py` reads
//! them; the layers are those of README's "Layout" section.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layer of each top-level module, lowest first.
const LAYERS: &[(u8, &[&str])] = &[
    (0, &["finding", "choice"]),
    (
        1,
        &[
            "xml", "cda", "kit", "profile", "files", "lines", "xmlw", "clock", "project", "cache",
        ],
    ),
    (2, &["xsd", "schematron", "terminology", "banc"]),
    (3, &["pipeline"]),
    (4, &["xdm", "mail", "input"]),
    (
        5,
        &[
            "transport",
            "scenario",
            "simulate",
            "event",
            "report",
            "bench",
            "rules",
            "web",
            "gate",
            "kits",
            "indicators",
        ],
    ),
    (6, &["cli"]),
];

fn layer_of(module: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(_, mods)| mods.contains(&module))
        .map(|(l, _)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Top-level modules of `src/` (a file or a folder) and their files; main.rs and lib.rs aside.
fn modules() -> BTreeMap<String, Vec<PathBuf>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut mods = BTreeMap::new();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name == "main.rs" || name == "lib.rs" {
            continue;
        }
        if p.is_dir() {
            let mut files = Vec::new();
            rust_files(&p, &mut files);
            mods.insert(name, files);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            mods.insert(stem.to_string(), vec![p]);
        }
    }
    mods
}

/// The code of a file without its unit tests (at the end of a file) and line comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Modules named by `crate::x` and `use crate::{x, y::z}` in `text`.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        if i > 0 && text[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Names at the group's first level: `{a, b::{c, d}, e}` names a, b and e.
            let mut depth = 0;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && depth == 0 && (c.is_ascii_alphabetic() || c == '_') => {
                        out.insert(ident_at(&group[j..]).to_string());
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident_at(rest).to_string());
        }
    }
    out
}

fn edges() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mods = modules();
    let mut edges = BTreeMap::new();
    for (m, files) in &mods {
        let e: &mut BTreeMap<String, BTreeSet<String>> = edges.entry(m.clone()).or_default();
        for f in files {
            for to in crate_refs(&code(f)) {
                if mods.contains_key(&to) && &to != m {
                    let file = f.to_string_lossy();
                    let rel = file.split("/src/").last().unwrap_or(&file).to_string();
                    e.entry(to).or_default().insert(rel);
                }
            }
        }
    }
    edges
}

#[test]
fn every_top_level_module_has_a_layer() {
    let missing: Vec<_> = modules()
        .into_keys()
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a layer (add them to LAYERS here and to README's Layout): {missing:?}"
    );
}

#[test]
fn no_module_uses_a_higher_layer() {
    let mut wrong = Vec::new();
    for (from, tos) in edges() {
        let Some(lf) = layer_of(&from) else { continue };
        for (to, files) in tos {
            let Some(lt) = layer_of(&to) else { continue };
            if lt > lf {
                wrong.push(format!("{from} (L{lf}) -> {to} (L{lt}) in {files:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "upward references:\n{}", wrong.join("\n"));
}

#[test]
fn top_level_modules_form_no_cycle() {
    let edges = edges();
    // Depth-first search for a back edge; the path found is printed.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for to in edges.get(m).map(|e| e.keys()).into_iter().flatten() {
            if let Some(c) = visit(to, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        if let Some(cycle) = visit(m, &edges, &mut Vec::new(), &mut done) {
            panic!("module cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_reader_finds_nested_use_groups() {
    let refs = crate_refs(
        "use crate::{finding::{Finding, Layer}, xml::ffi::Node, kit};\nx = crate::cda::ts::parse(v); notcrate::xdm",
    );
    let want: BTreeSet<String> = ["finding", "xml", "kit", "cda"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(refs, want);
}

#[test]
fn the_command_line_lives_in_the_binary() {
    // The library takes option structs and returns data or errors; parsing arguments, exit
    // statuses and printing are the binary's (src/main.rs, src/cli/).
    const CLI_ONLY: [&str; 8] = [
        "clap::",
        "#[arg(",
        "#[command(",
        "ExitCode",
        "println!",
        "eprintln!",
        "print!(",
        "eprint!(",
    ];
    let mut wrong = Vec::new();
    for (m, files) in modules() {
        if m == "cli" {
            continue;
        }
        for f in files {
            let text = code(&f);
            for (n, line) in text.lines().enumerate() {
                for pat in CLI_ONLY {
                    if line.contains(pat) {
                        wrong.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "command-line code in the library:\n{}",
        wrong.join("\n")
    );
}
