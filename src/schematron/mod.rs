//! The `schematron` layer: ISO Schematron files of the kit, loaded into a plan.
//!
//! This module holds the front half of the engine: reading a `.sch`, resolving `include`s
//! (recursively, relative to the including file, case-insensitively with a kit warning as Windows
//! does, since the ANS kit is built on Windows), instantiating abstract patterns (`is-a` + `param`,
//! textual `$name` substitution as the ISO skeleton's abstract-expand step does), phases and
//! `let`s. Problems of the kit itself are [`KitIssue`]s (`kit.*`), listed by `banc kit check`.
//! The back half: [`eval`] compiles a loaded schema into a plan and runs it on documents
//! (XPath 2.0 translated by [`xpath2`]); [`engine`] wires it into the pipeline.

mod docs;
pub mod engine;
pub mod eval;
mod functions;
mod native;
mod plan;
pub mod query;
mod rewrite;
mod run;
pub mod tree;
pub mod xpath2;

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use tree::{Content, Element};

pub const SCH_NS: &str = "http://purl.oclc.org/dsdl/schematron";

pub use crate::kit::KitIssue;

#[derive(Debug, Clone)]
pub struct Let {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone)]
pub enum MessagePart {
    Text(String),
    ValueOf(String),
    /// `<name/>` (no path: the context node's name).
    Name(Option<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CheckKind {
    Assert,
    Report,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub kind: CheckKind,
    pub test: String,
    pub id: Option<String>,
    pub role: Option<String>,
    pub flag: Option<String>,
    pub message: Vec<MessagePart>,
    pub diagnostics: Vec<String>,
    /// Kit-relative file where the check is written, when an include brought it in.
    pub file: Option<std::sync::Arc<str>>,
    /// 1-based line of the check in its file.
    pub line: u32,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub context: String,
    pub lets: Vec<Let>,
    pub checks: Vec<Check>,
    /// The rule's `@id` (abstract rules are inlined where a rule `extends` them).
    pub id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Pattern {
    pub id: Option<String>,
    pub lets: Vec<Let>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
pub struct Phase {
    pub id: String,
    pub active: Vec<String>,
    pub lets: Vec<Let>,
}

/// A schematron with its includes resolved and its abstract patterns instantiated.
#[derive(Debug, Clone)]
pub struct Schema {
    /// Kit-relative path of the `.sch`.
    pub file: String,
    pub default_phase: Option<String>,
    pub query_binding: Option<String>,
    pub ns: Vec<(String, String)>,
    pub lets: Vec<Let>,
    pub phases: Vec<Phase>,
    /// Concrete patterns in schema order (abstract ones are instantiated, not listed).
    pub patterns: Vec<Pattern>,
    pub diagnostics: HashMap<String, Vec<MessagePart>>,
    /// Problems met while loading that did not stop it (case-insensitive includes...).
    pub issues: Vec<KitIssue>,
}

impl Schema {
    /// Patterns active in `phase` (`None`: the default phase, `#ALL` when there is none).
    pub fn active_patterns(&self, phase: Option<&str>) -> Result<Vec<&Pattern>, String> {
        let phase = phase.or(self.default_phase.as_deref()).unwrap_or("#ALL");
        if phase == "#ALL" {
            return Ok(self.patterns.iter().collect());
        }
        let p = self
            .phases
            .iter()
            .find(|p| p.id == phase)
            .ok_or_else(|| format!("phase « {phase} » absente de {}", self.file))?;
        Ok(self
            .patterns
            .iter()
            .filter(|pat| pat.id.as_ref().is_some_and(|id| p.active.contains(id)))
            .collect())
    }

    pub fn check_count(&self) -> usize {
        self.patterns
            .iter()
            .flat_map(|p| &p.rules)
            .map(|r| r.checks.len())
            .sum()
    }
}

/// The stable finding id of a check: `schematron.<stem>.<@id>`, or without an `@id`
/// `schematron.<stem>.<pattern>.<hash of rule context and test>`; `stem` is the `.sch` file
/// name without extension, `pattern` the pattern's id (empty: none).
pub fn check_rule_id(
    stem: &str,
    pattern: &str,
    context: &str,
    test: &str,
    id: Option<&str>,
) -> String {
    match id {
        Some(id) => format!("schematron.{}.{}", slug(stem), slug(id)),
        None => {
            use sha2::{Digest, Sha256};
            let h = Sha256::digest(format!("{context}\n{test}"));
            format!(
                "schematron.{}.{}.{}",
                slug(stem),
                slug(if pattern.is_empty() {
                    "pattern"
                } else {
                    pattern
                }),
                hex::encode(&h[..4])
            )
        }
    }
}

/// A rule-id-safe slug: letters, digits, `-`, `_` and `.` kept.
fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn rel(kit_root: &Path, p: &Path) -> String {
    p.strip_prefix(kit_root)
        .unwrap_or(p)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Resolve `href` from `dir` as Windows would: exact match first, else the unique
/// case-insensitive match of each path component. `Ok((path, case_fixed))`.
pub fn resolve_href(dir: &Path, href: &str) -> Option<(PathBuf, bool)> {
    let exact = dir.join(href);
    if exact.exists() {
        return Some((normalize(&exact), false));
    }
    let mut cur = normalize(dir);
    let mut fixed = false;
    for comp in Path::new(href).components() {
        match comp {
            Component::ParentDir => cur = normalize(&cur.join("..")),
            Component::CurDir => {}
            Component::Normal(name) => {
                let direct = cur.join(name);
                if direct.exists() {
                    cur = direct;
                    continue;
                }
                let wanted = name.to_string_lossy().to_lowercase();
                let matches: Vec<PathBuf> = std::fs::read_dir(&cur)
                    .ok()?
                    .filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().to_lowercase() == wanted)
                    .map(|e| e.path())
                    .collect();
                if matches.len() != 1 {
                    return None;
                }
                cur = matches.into_iter().next()?;
                fixed = true;
            }
            _ => return None,
        }
    }
    Some((cur, fixed))
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            // A leading `..` of a relative path must stay.
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

struct Loader<'a> {
    kit_root: &'a Path,
    issues: Vec<KitIssue>,
}

impl Loader<'_> {
    fn read(&mut self, path: &Path) -> Result<Element, KitIssue> {
        let file = rel(self.kit_root, path);
        let unusable = |message: String| KitIssue {
            rule: crate::kit::rules::XML_UNREADABLE.id,
            severity: crate::kit::rules::XML_UNREADABLE.severity,
            file: file.clone(),
            line: 0,
            message,
        };
        // A schematron of the kit is about 1 MB; a user's is read with the same bound.
        let bytes = crate::files::read_bounded(path, crate::files::MAX_DOCUMENT)
            .map_err(|e| unusable(e.reason.to_string()))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| unusable("le fichier n'est pas en UTF-8".into()))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        tree::parse(text).map_err(unusable)
    }

    /// Which component of a missing path stops it (` : X est un fichier, pas un dossier`).
    fn why_missing(&self, dir: &Path, href: &str) -> String {
        let mut cur = normalize(dir);
        for comp in Path::new(href).components() {
            cur = normalize(&cur.join(comp.as_os_str()));
            if cur.is_file() && cur != normalize(&dir.join(href)) {
                let size = std::fs::metadata(&cur).map(|m| m.len()).unwrap_or(0);
                return format!(
                    " ({} est un fichier{}, pas un dossier)",
                    rel(self.kit_root, &cur),
                    if size == 0 { " vide" } else { "" }
                );
            }
            if !cur.exists() {
                return format!(" ({} n'existe pas)", rel(self.kit_root, &cur));
            }
        }
        String::new()
    }

    /// Replace every `sch:include` below `el` by the root of the file it names.
    fn expand(
        &mut self,
        el: &mut Element,
        dir: &Path,
        file: &str,
        depth: u32,
    ) -> Result<(), KitIssue> {
        let mut children = Vec::with_capacity(el.children.len());
        for child in std::mem::take(&mut el.children) {
            match child {
                Content::Element(c) if c.is(SCH_NS, "include") => {
                    let href = c.attr("href").unwrap_or_default().to_string();
                    let Some((target, fixed)) = resolve_href(dir, &href) else {
                        return Err(KitIssue {
                            rule: crate::kit::rules::INCLUDE_MISSING.id,
                            severity: crate::kit::rules::INCLUDE_MISSING.severity,
                            file: file.to_string(),
                            line: c.line,
                            message: format!(
                                "include href=\"{href}\" : fichier introuvable{}",
                                self.why_missing(dir, &href)
                            ),
                        });
                    };
                    if target.is_dir()
                        || std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0) == 0
                    {
                        return Err(KitIssue {
                            rule: crate::kit::rules::INCLUDE_UNUSABLE.id,
                            severity: crate::kit::rules::INCLUDE_UNUSABLE.severity,
                            file: file.to_string(),
                            line: c.line,
                            message: format!(
                                "include href=\"{href}\" : {} est {}",
                                rel(self.kit_root, &target),
                                if target.is_dir() {
                                    "un dossier"
                                } else {
                                    "un fichier vide"
                                }
                            ),
                        });
                    }
                    let target_rel = rel(self.kit_root, &target);
                    if fixed {
                        self.issues.push(KitIssue {
                            rule: crate::kit::rules::INCLUDE_CASE_MISMATCH.id,
                            severity: crate::kit::rules::INCLUDE_CASE_MISMATCH.severity,
                            file: file.to_string(),
                            line: c.line,
                            message: format!(
                                "include href=\"{href}\" ne diffère que par la casse de {target_rel} : résolu sans tenir compte de la casse, comme sous Windows"
                            ),
                        });
                    }
                    if depth > 32 {
                        return Err(KitIssue {
                            rule: crate::kit::rules::INCLUDE_UNUSABLE.id,
                            severity: crate::kit::rules::INCLUDE_UNUSABLE.severity,
                            file: file.to_string(),
                            line: c.line,
                            message: format!(
                                "include href=\"{href}\" : inclusions imbriquées sur plus de 32 niveaux (cycle ?)"
                            ),
                        });
                    }
                    let mut root = self.read(&target)?;
                    root.set_file(&std::sync::Arc::from(target_rel.as_str()));
                    let tdir = target.parent().unwrap_or(dir).to_path_buf();
                    self.expand(&mut root, &tdir, &target_rel, depth + 1)?;
                    children.push(Content::Element(root));
                }
                Content::Element(mut c) => {
                    self.expand(&mut c, dir, file, depth)?;
                    children.push(Content::Element(c));
                }
                text => children.push(text),
            }
        }
        el.children = children;
        Ok(())
    }
}

fn let_of(e: &Element) -> Let {
    Let {
        name: e.attr("name").unwrap_or_default().to_string(),
        value: e.attr("value").unwrap_or_default().to_string(),
    }
}

fn lets_of(el: &Element) -> Vec<Let> {
    el.elements()
        .filter(|e| e.is(SCH_NS, "let"))
        .map(let_of)
        .collect()
}

fn message_of(el: &Element) -> Vec<MessagePart> {
    let mut out = Vec::new();
    for c in &el.children {
        match c {
            Content::Text(t) => out.push(MessagePart::Text(t.clone())),
            Content::Element(e) if e.is(SCH_NS, "value-of") => out.push(MessagePart::ValueOf(
                e.attr("select").unwrap_or(".").to_string(),
            )),
            Content::Element(e) if e.is(SCH_NS, "name") => {
                out.push(MessagePart::Name(e.attr("path").map(str::to_string)))
            }
            // emph, dir, span: their text is part of the message.
            Content::Element(e) => out.extend(message_of(e)),
        }
    }
    out
}

fn check_of(e: &Element) -> Check {
    Check {
        kind: if e.name == "assert" {
            CheckKind::Assert
        } else {
            CheckKind::Report
        },
        test: e.attr("test").unwrap_or_default().to_string(),
        id: e.attr("id").map(str::to_string),
        role: e.attr("role").map(str::to_string),
        flag: e.attr("flag").map(str::to_string),
        message: message_of(e),
        diagnostics: e
            .attr("diagnostics")
            .map(|d| d.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        file: e.file.clone(),
        line: e.line,
    }
}

/// Abstract rules (`rule abstract="true" id=...`) anywhere in the expanded schema, by id.
fn abstract_rules<'e>(el: &'e Element, out: &mut HashMap<String, &'e Element>) {
    for c in el.elements() {
        if c.is(SCH_NS, "rule") && c.attr("abstract") == Some("true") {
            if let Some(id) = c.attr("id") {
                out.insert(id.to_string(), c);
            }
        } else {
            abstract_rules(c, out);
        }
    }
}

/// Lets and checks of a rule in document order, `extends` inlined where it stands.
fn body_of(
    el: &Element,
    abstracts: &HashMap<String, &Element>,
    depth: u32,
    lets: &mut Vec<Let>,
    checks: &mut Vec<Check>,
) -> Result<(), String> {
    for c in el.elements() {
        if c.is(SCH_NS, "let") {
            lets.push(let_of(c));
        } else if c.is(SCH_NS, "assert") || c.is(SCH_NS, "report") {
            checks.push(check_of(c));
        } else if c.is(SCH_NS, "extends") {
            let id = c.attr("rule").unwrap_or_default();
            let base = abstracts
                .get(id)
                .ok_or_else(|| format!("extends rule=\"{id}\" : règle abstraite absente"))?;
            if depth > 32 {
                return Err(format!("extends rule=\"{id}\" : extensions en cycle"));
            }
            body_of(base, abstracts, depth + 1, lets, checks)?;
        }
    }
    Ok(())
}

fn rule_of(el: &Element, abstracts: &HashMap<String, &Element>) -> Result<Rule, String> {
    let (mut lets, mut checks) = (Vec::new(), Vec::new());
    body_of(el, abstracts, 0, &mut lets, &mut checks)?;
    Ok(Rule {
        context: el.attr("context").unwrap_or_default().to_string(),
        lets,
        checks,
        id: el.attr("id").map(str::to_string),
    })
}

/// Concrete rules of a pattern; an `extends` that names no abstract rule is a kit defect.
fn rules_of(
    pattern: &Element,
    abstracts: &HashMap<String, &Element>,
    file: &str,
    issues: &mut Vec<KitIssue>,
) -> Vec<Rule> {
    pattern
        .elements()
        .filter(|e| e.is(SCH_NS, "rule") && e.attr("abstract") != Some("true"))
        .filter_map(|e| match rule_of(e, abstracts) {
            Ok(r) => Some(r),
            Err(message) => {
                issues.push(KitIssue {
                    rule: crate::kit::rules::RULE_UNKNOWN_ABSTRACT.id,
                    severity: crate::kit::rules::RULE_UNKNOWN_ABSTRACT.severity,
                    file: file.to_string(),
                    line: e.line,
                    message,
                });
                None
            }
        })
        .collect()
}

/// Replace `$name` by each parameter's value, longest names first so `$a_b` is not cut at `$a`.
pub fn substitute(text: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let mut out = text.to_string();
    for (name, value) in sorted {
        let needle = format!("${name}");
        let mut result = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some((before, after)) = rest.split_once(needle.as_str()) {
            let continues = after
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '.');
            result.push_str(before);
            result.push_str(if continues { &needle } else { value });
            rest = after;
        }
        result.push_str(rest);
        out = result;
    }
    out
}

fn instantiate(rules: &[Rule], params: &[(String, String)]) -> Vec<Rule> {
    let sub = |s: &str| substitute(s, params);
    let msg = |m: &[MessagePart]| -> Vec<MessagePart> {
        m.iter()
            .map(|p| match p {
                MessagePart::ValueOf(s) => MessagePart::ValueOf(sub(s)),
                MessagePart::Name(Some(s)) => MessagePart::Name(Some(sub(s))),
                other => other.clone(),
            })
            .collect()
    };
    rules
        .iter()
        .map(|r| Rule {
            context: sub(&r.context),
            lets: r
                .lets
                .iter()
                .map(|l| Let {
                    name: l.name.clone(),
                    value: sub(&l.value),
                })
                .collect(),
            checks: r
                .checks
                .iter()
                .map(|c| Check {
                    test: sub(&c.test),
                    message: msg(&c.message),
                    ..c.clone()
                })
                .collect(),
            id: r.id.clone(),
        })
        .collect()
}

/// Collect patterns in schema order, descending into included wrappers (an included file's root
/// may itself be a `schema` or a `pattern`).
fn collect<'e>(el: &'e Element, out: &mut Vec<&'e Element>, name: &str) {
    for c in el.elements() {
        if c.is(SCH_NS, name) {
            out.push(c);
        } else if c.is(SCH_NS, "schema") {
            collect(c, out, name);
        }
    }
}

/// Load and compile the front half of a schematron: `Err` is the kit defect that makes it unusable.
pub fn load(kit_root: &Path, sch: &Path) -> Result<Schema, KitIssue> {
    let mut loader = Loader {
        kit_root,
        issues: Vec::new(),
    };
    let file = rel(kit_root, sch);
    let mut root = loader.read(sch)?;
    let dir = sch.parent().unwrap_or(kit_root).to_path_buf();
    loader.expand(&mut root, &dir, &file, 0)?;

    let mut ns = Vec::new();
    let mut ns_els = Vec::new();
    collect(&root, &mut ns_els, "ns");
    for e in ns_els {
        ns.push((
            e.attr("prefix").unwrap_or_default().to_string(),
            e.attr("uri").unwrap_or_default().to_string(),
        ));
    }
    let mut let_els = Vec::new();
    collect(&root, &mut let_els, "let");
    let lets: Vec<Let> = let_els.iter().map(|e| let_of(e)).collect();
    let mut phase_els = Vec::new();
    collect(&root, &mut phase_els, "phase");
    let phases = phase_els
        .iter()
        .map(|p| Phase {
            id: p.attr("id").unwrap_or_default().to_string(),
            active: p
                .elements()
                .filter(|a| a.is(SCH_NS, "active"))
                .filter_map(|a| a.attr("pattern").map(str::to_string))
                .collect(),
            lets: lets_of(p),
        })
        .collect();
    let mut diagnostics = HashMap::new();
    let mut diag_els = Vec::new();
    collect(&root, &mut diag_els, "diagnostics");
    for d in diag_els {
        for e in d.elements().filter(|e| e.is(SCH_NS, "diagnostic")) {
            if let Some(id) = e.attr("id") {
                diagnostics.insert(id.to_string(), message_of(e));
            }
        }
    }
    let mut pattern_els = Vec::new();
    collect(&root, &mut pattern_els, "pattern");
    let abstracts: HashMap<&str, &Element> = pattern_els
        .iter()
        .filter(|p| p.attr("abstract") == Some("true"))
        .filter_map(|p| p.attr("id").map(|id| (id, *p)))
        .collect();
    let mut abstract_rule_map = HashMap::new();
    abstract_rules(&root, &mut abstract_rule_map);
    let mut patterns = Vec::new();
    for p in &pattern_els {
        if p.attr("abstract") == Some("true") {
            continue;
        }
        let id = p.attr("id").map(str::to_string);
        let rules: Vec<Rule> = match p.attr("is-a") {
            Some(base) => {
                let Some(abs) = abstracts.get(base) else {
                    loader.issues.push(KitIssue {
                        rule: crate::kit::rules::PATTERN_UNKNOWN_ABSTRACT.id,
                        severity: crate::kit::rules::PATTERN_UNKNOWN_ABSTRACT.severity,
                        file: file.clone(),
                        line: p.line,
                        message: format!(
                            "le pattern {} instancie le pattern abstrait « {base} », absent",
                            id.as_deref().unwrap_or("?")
                        ),
                    });
                    continue;
                };
                let params: Vec<(String, String)> = p
                    .elements()
                    .filter(|e| e.is(SCH_NS, "param"))
                    .map(|e| {
                        (
                            e.attr("name").unwrap_or_default().to_string(),
                            e.attr("value").unwrap_or_default().to_string(),
                        )
                    })
                    .collect();
                let base_rules = rules_of(abs, &abstract_rule_map, &file, &mut loader.issues);
                instantiate(&base_rules, &params)
            }
            None => rules_of(p, &abstract_rule_map, &file, &mut loader.issues),
        };
        patterns.push(Pattern {
            id,
            lets: lets_of(p),
            rules,
        });
    }
    let mut issues = loader.issues;
    let mut exprs: Vec<&str> = lets.iter().map(|l| l.value.as_str()).collect();
    for p in &patterns {
        exprs.extend(p.lets.iter().map(|l| l.value.as_str()));
        for r in &p.rules {
            exprs.extend(r.lets.iter().map(|l| l.value.as_str()));
            exprs.extend(r.checks.iter().map(|c| c.test.as_str()));
        }
    }
    issues.extend(value_set_issues(kit_root, &dir, &file, &exprs));
    Ok(Schema {
        file,
        default_phase: root.attr("defaultPhase").map(str::to_string),
        query_binding: root.attr("queryBinding").map(str::to_string),
        ns,
        lets,
        phases,
        patterns,
        diagnostics,
        issues,
    })
}

/// String literals an expression reads as files: a `let` whose whole value is a quoted path
/// (`'../jeuxDeValeurs/X.xml'`), and the argument of `doc('...')` / `document('...')`.
pub fn file_literals(expr: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let t = expr.trim();
    if let Some(p) = t.strip_prefix('\'').and_then(|s| s.strip_suffix('\''))
        && !p.contains('\'')
        && (p.ends_with(".xml") || p.contains("jeuxDeValeurs/"))
    {
        out.push(p);
    }
    for call in ["doc('", "document('", "doc(\"", "document(\""] {
        let quote = if call.ends_with('\'') { '\'' } else { '"' };
        let mut rest = expr;
        while let Some((_, after)) = rest.split_once(call) {
            rest = after;
            if let Some((path, _)) = rest.split_once(quote) {
                out.push(path);
            }
        }
    }
    out
}

/// Files the schematron's expressions read that do not exist (resolved from the `.sch` folder,
/// where the reference places the compiled stylesheet).
fn value_set_issues(kit_root: &Path, dir: &Path, file: &str, exprs: &[&str]) -> Vec<KitIssue> {
    let mut seen = std::collections::BTreeSet::new();
    for e in exprs {
        for path in file_literals(e) {
            if resolve_href(dir, path).is_none() {
                seen.insert(path.to_string());
            }
        }
    }
    seen.into_iter()
        .map(|path| {
            let full = normalize(&dir.join(&path));
            // An Art-Decor file the reference rebuilds from the SVS value set of the same OID.
            let repair = eval::artdecor_fallback(&full, kit_root)
                .map(|(_, svs)| {
                    format!(
                        " ; banc le reconstruit depuis {} (même OID), comme la référence",
                        rel(kit_root, &svs)
                    )
                })
                .unwrap_or_default();
            KitIssue {
                rule: crate::kit::rules::VALUESET_MISSING.id,
                severity: crate::kit::rules::VALUESET_MISSING.severity,
                file: file.to_string(),
                line: 0,
                message: format!(
                    "fichier de jeu de valeurs '{path}' introuvable ({}){repair}",
                    rel(kit_root, &full)
                ),
            }
        })
        .collect()
}

/// Every top-level and profile schematron of a kit, with what loading each one reports.
pub fn check_kit(kit_root: &Path) -> Vec<(String, Result<Schema, KitIssue>)> {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [
        "schematrons",
        "schematrons/profils",
        "schematrons/profils/structurationMinimale",
        "schematrons/profils/terminologies/schematron",
    ] {
        if let Ok(rd) = std::fs::read_dir(kit_root.join(dir)) {
            files.extend(
                rd.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "sch")),
            );
        }
    }
    files.sort();
    use rayon::prelude::*;
    files
        .par_iter()
        .map(|f| (rel(kit_root, f), load(kit_root, f)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_literals_are_found_in_lets_and_doc_calls() {
        assert_eq!(
            file_literals("'../jeuxDeValeurs/A.xml'"),
            vec!["../jeuxDeValeurs/A.xml"]
        );
        assert_eq!(
            file_literals(
                "@code = doc('include/voc-1.2-DYNAMIC.xml')//@code or document(\"x.xml\")"
            ),
            vec!["include/voc-1.2-DYNAMIC.xml", "x.xml"]
        );
        assert!(file_literals("'a' = 'b'").is_empty());
    }

    #[test]
    fn substitution_respects_name_boundaries() {
        let p = vec![
            ("a".to_string(), "X".to_string()),
            ("a_b".to_string(), "Y".to_string()),
        ];
        assert_eq!(substitute("$a/$a_b[$a]", &p), "X/Y[X]");
        assert_eq!(substitute("$ab", &p), "$ab");
    }
}
