//! The back half of the schematron engine: a loaded [`Schema`] compiled into a [`Plan`], and the
//! plan run on a document.
//!
//! Why libxml2's XPath: the reference runs the rules as XSLT 2.0 (Saxon), but the volet, IHE and
//! "modèles" sets only use XPath 1.0 + `document()`, and libxml2 evaluates 1.0 natively, fast and
//! in-process on the tree banc already parsed. The XPath 2.0 of structuration minimale is
//! translated to 1.0 plus a few extension functions ([`super::xpath2`]); the alternative, a Rust
//! XPath 3.1 engine (xee-xpath 0.1.5), was measured 4× slower than warm Saxon, with no custom
//! functions and three wrong results on the kit (see the issue-3 note).
//!
//! Semantics reproduced from the ISO skeleton for XSLT 2.0 as the reference runs it:
//! - each pattern is a mode; within a pattern a node is fired by the *first* rule whose context
//!   matches it (rules get decreasing priorities); a context is a match pattern, i.e. the nodes
//!   selected by `//context` (absolute alternatives as written);
//! - lets are XSLT variables: schema, phase and pattern lets are global (context = the document
//!   node), rule lets are evaluated from the rule's node; all are lazy, so an unused failing let
//!   does not fail anything;
//! - `value-of` joins a sequence with spaces (XSLT 2.0), `name` is the node's qualified name;
//! - `document()`/`doc()` paths resolve from the folder of the `.sch` (the kit compiles the XSLT
//!   next to it), parsed once per process and shared.

use super::xpath2;
use super::{CheckKind, KitIssue, MessagePart, Schema};
use crate::finding::Severity;
use crate::xml::ffi::{cstr, element_walk, owned};
use libxml::bindings as b;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::ptr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Namespace of banc's XPath extension functions (see `xpath2`).
pub const BANC_NS: &str = "urn:banc:xpath";

#[derive(Debug)]
pub struct Plan {
    /// Unique per plan: keys the per-thread compiled expressions.
    uid: u64,
    /// Kit-relative path of the `.sch`.
    pub file: String,
    /// File name without `.sch`: the middle part of synthesised rule ids.
    pub stem: String,
    pub phase: String,
    kit_root: PathBuf,
    /// Folder of the `.sch`: `document()`/`doc()` resolve from here.
    base_dir: PathBuf,
    ns: Vec<(String, String)>,
    /// XPath 1.0 text of every expression, indexed by the plan's `usize` references.
    exprs: Vec<String>,
    globals: Vec<LetPlan>,
    pub patterns: Vec<PatternPlan>,
    /// Expressions that could not be translated or compiled (kit issues).
    pub issues: Vec<KitIssue>,
    /// Checks left out because an expression is unusable.
    pub skipped_checks: usize,
}

#[derive(Debug)]
struct LetPlan {
    name: String,
    expr: Option<usize>,
}

#[derive(Debug)]
pub struct PatternPlan {
    pub id: Option<String>,
    pub rules: Vec<RulePlan>,
}

#[derive(Debug)]
pub struct RulePlan {
    /// As written in the schematron (after abstract-pattern substitution).
    pub context: String,
    select: Select,
    lets: Vec<LetPlan>,
    pub checks: Vec<CheckPlan>,
}

/// How a rule's nodes are found.
#[derive(Debug, Clone)]
enum Select {
    /// `//context` (per alternative) from the document node.
    XPath(usize),
    /// Context `*[cda:templateId/@root='R' …]…`: evaluated only from the elements that have a
    /// templateId child with root R (indexed once per document), as `self::*[…]…`. A rule
    /// context of this form otherwise costs a predicate evaluation on every element.
    ByTemplate {
        root: String,
        rest: usize,
    },
    /// Context `[//]q:name[…]…`: evaluated from the elements of that name (indexed once per
    /// document) as `self::q:name[…]…`, instead of a descent through the whole document per rule.
    ByName {
        ns: String,
        local: String,
        rest: usize,
    },
    Unusable,
}

/// A QName at the start of a string.
static QNAME: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"^[A-Za-z_][\w.\-]*(:[A-Za-z_][\w.\-]*)?").expect("static regex")
});

/// Whether the predicates opening `rest` (up to the next step) use a position: evaluated from
/// `self::`, they would count along another axis than the pattern's child axis.
fn positional_first_step(rest: &str) -> bool {
    if !rest.starts_with('[') {
        return false;
    }
    let first_step = rest.split('/').next().unwrap_or("");
    first_step.contains("position()")
        || first_step.contains("last()")
        || first_step
            .split('[')
            .any(|x| x.trim_end_matches(']').trim().parse::<f64>().is_ok())
}

/// `[//]q:name[P]…/…` (no union, no positional predicate on the first step): the expanded
/// name of the first step and the expression to evaluate from each element of that name.
fn name_candidate(pattern: &str, ns: &[(String, String)]) -> Option<(String, String, String)> {
    let p = pattern.trim();
    let p = p.strip_prefix("//").unwrap_or(p);
    if p.starts_with('/') || alternatives(p).len() > 1 {
        return None;
    }
    let name = QNAME.find(p)?.as_str();
    let after = &p[name.len()..];
    if !(after.is_empty() || after.starts_with('[') || after.starts_with('/'))
        || positional_first_step(after)
    {
        return None;
    }
    let (uri, local) = match name.split_once(':') {
        Some((pre, l)) => (ns.iter().find(|(q, _)| q == pre)?.1.clone(), l),
        None => (String::new(), name),
    };
    Some((uri, local.to_string(), format!("self::{name}{after}")))
}

/// Index of the bracket closing the one opened just before `from` (`(`/`[` balanced, quotes
/// skipped), scanning forward.
fn closing(s: &str, from: usize, open: char, close: char) -> Option<usize> {
    let (mut depth, mut quote) = (1i32, None::<char>);
    for (i, c) in s[from..].char_indices() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, c) if c == open => depth += 1,
            (None, c) if c == close => {
                depth -= 1;
                if depth == 0 {
                    return Some(from + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Top-level ` and ` in a predicate body: (first conjunct, rest).
fn split_and(p: &str) -> (&str, Option<&str>) {
    let (mut depth, mut quote) = (0i32, None::<char>);
    let b = p.as_bytes();
    for (i, c) in p.char_indices() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')' | ']') => depth -= 1,
            (None, 'a')
                if depth == 0
                    && p[i..].starts_with("and")
                    && i > 0
                    && b[i - 1].is_ascii_whitespace()
                    && b.get(i + 3)
                        .is_some_and(|x| x.is_ascii_whitespace() || *x == b'(') =>
            {
                return (&p[..i], Some(&p[i + 3..]));
            }
            _ => {}
        }
    }
    (p, None)
}

/// Value-set look-ups `doc(U)//q:name[@attr = V and …]` and `…[text() = V]` with a
/// context-free V scan the whole value-set file for every code checked; they become
/// `banc:keyed(doc(U), 'q:name', 'attr' | '#text', V)[…]`, served by a hash index built once
/// per file. Same nodes, same order: only the scan is gone.
fn keyed_rewrite(expr: &str) -> String {
    use std::sync::LazyLock;
    static CONTEXT_FREE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r#"^(\$[\w.\-]+|'[^']*'|"[^"]*"|string\(\s*\$[\w.\-]+\s*\))$"#)
            .expect("static regex")
    });
    let mut out = String::new();
    let mut rest = expr;
    'scan: while let Some(i) = rest.find(")//") {
        // The call whose `)` this is: `doc(` or `document(` opening at its matching `(`.
        let head = &rest[..i];
        let mut depth = 0i32;
        let mut open = None;
        for (k, c) in head.char_indices().rev() {
            match c {
                ')' => depth += 1,
                '(' if depth == 0 => {
                    open = Some(k);
                    break;
                }
                '(' => depth -= 1,
                _ => {}
            }
        }
        let call_start = open.and_then(|k| {
            let name_start = head[..k]
                .rfind(|c: char| !(c.is_alphanumeric() || c == '-' || c == ':'))
                .map(|x| x + 1)
                .unwrap_or(0);
            matches!(&head[name_start..k], "doc" | "document" | "banc:doc").then_some(name_start)
        });
        let after = &rest[i + 3..];
        let name = QNAME.find(after).map(|m| m.as_str());
        let (Some(start), Some(name)) = (call_start, name) else {
            out.push_str(&rest[..i + 3]);
            rest = after;
            continue;
        };
        let pred = &after[name.len()..];
        if !pred.starts_with('[') {
            out.push_str(&rest[..i + 3]);
            rest = after;
            continue;
        }
        let Some(close) = closing(pred, 1, '[', ']') else {
            break 'scan;
        };
        let body = &pred[1..close];
        let (first, more) = split_and(body);
        let Some((lhs, value)) = first.split_once('=') else {
            out.push_str(&rest[..i + 3]);
            rest = after;
            continue;
        };
        let (lhs, value) = (lhs.trim(), value.trim());
        let key = if lhs == "text()" {
            "#text".to_string()
        } else if let Some(a) = lhs.strip_prefix('@')
            && !a.contains(':')
            && QNAME.find(a).is_some_and(|m| m.len() == a.len())
        {
            a.to_string()
        } else {
            String::new()
        };
        if key.is_empty() || !CONTEXT_FREE.is_match(value) {
            out.push_str(&rest[..i + 3]);
            rest = after;
            continue;
        }
        // `rest[start..=i]` is the whole call, its `)` included.
        out.push_str(&rest[..start]);
        out.push_str(&format!(
            "banc:keyed({}, '{name}', '{key}', {value})",
            &rest[start..=i]
        ));
        if let Some(m) = more {
            out.push_str(&format!("[{}]", m.trim()));
        }
        rest = &pred[close + 1..];
    }
    out.push_str(rest);
    out
}

/// `*[P1]REST` where P1 requires a `hl7:templateId` child with a literal `@root` (first
/// conjunct, no top-level `or`) and no positional predicate follows: the root and the expression
/// to evaluate from each candidate. None when the pattern has another form.
fn template_candidate(pattern: &str, hl7_prefixes: &[String]) -> Option<(String, String)> {
    let p = pattern.trim();
    let body = p.strip_prefix("*[")?;
    // End of the first predicate, and whether it has a top-level `or` or the pattern a `|`.
    let (mut depth, mut quote, mut end) = (0i32, None::<char>, None);
    let bytes: Vec<(usize, char)> = body.char_indices().collect();
    for (k, &(i, c)) in bytes.iter().enumerate() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ']') if depth == 0 => {
                end = Some(i);
                break;
            }
            (None, ']') => depth -= 1,
            (None, 'o') if depth == 0 => {
                let prev = k.checked_sub(1).map(|j| bytes[j].1);
                let next2 = body[i..].get(..3);
                if matches!(prev, Some(' ' | '\n' | '\t' | ')'))
                    && matches!(next2, Some("or " | "or\n" | "or\t" | "or("))
                {
                    return None;
                }
            }
            _ => {}
        }
    }
    let end = end?;
    let p1 = &body[..end];
    let rest = &body[end + 1..];
    if alternatives(p).len() > 1 || positional_first_step(rest) {
        return None;
    }
    let t = p1.trim_start();
    let (prefix, after) = t.split_once(':')?;
    if !hl7_prefixes.iter().any(|h| h == prefix) {
        return None;
    }
    let after = after.strip_prefix("templateId")?.trim_start();
    let after = after
        .strip_prefix("/@root")
        .or_else(|| after.strip_prefix("[@root"))
        .map(str::trim_start)?;
    let bracketed = t.contains(&format!("{prefix}:templateId[@root"));
    let after = after.strip_prefix('=')?.trim_start();
    let q = after.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let lit_end = after[1..].find(q)? + 1;
    let root = after[1..lit_end].to_string();
    let mut tail = after[lit_end + 1..].trim_start();
    if bracketed {
        tail = tail.strip_prefix(']')?.trim_start();
    }
    if !(tail.is_empty() || tail.starts_with("and ") || tail.starts_with("and(")) {
        return None;
    }
    Some((root, format!("self::*[{p1}]{rest}")))
}

#[derive(Debug)]
pub struct CheckPlan {
    pub kind: CheckKind,
    /// As written (after abstract-pattern substitution).
    pub test: String,
    test_expr: Option<usize>,
    /// Stable finding id: `schematron.<stem>.<@id>` or `schematron.<stem>.<pattern>.<hash>`.
    pub rule_id: String,
    pub id: Option<String>,
    pub role: Option<String>,
    pub flag: Option<String>,
    pub severity: Severity,
    message: Vec<Part>,
}

#[derive(Debug)]
enum Part {
    Text(String),
    Value(Option<usize>),
}

static NEXT_UID: AtomicU64 = AtomicU64::new(1);

fn severity_of(role: Option<&str>, flag: Option<&str>) -> Severity {
    let word = role.or(flag).unwrap_or("error").to_ascii_lowercase();
    match word.as_str() {
        "warning" | "warn" => Severity::Warning,
        "info" | "information" | "informational" | "note" => Severity::Info,
        _ => Severity::Error,
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

/// Split a (translated) match pattern at its top-level `|` and make each alternative a selection
/// from the document node: `a/b | /c` → `//a/b | /c`.
fn pattern_selection(pattern: &str) -> String {
    alternatives(pattern)
        .into_iter()
        .map(|p| {
            let p = p.trim();
            if p.starts_with('/') {
                p.to_string()
            } else {
                format!("//{p}")
            }
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The top-level `|` alternatives of a pattern.
fn alternatives(pattern: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0usize);
    for (i, c) in pattern.char_indices() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')' | ']') => depth -= 1,
            (None, '|') if depth == 0 => {
                parts.push(&pattern[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&pattern[start..]);
    parts
}

struct Builder<'a> {
    exprs: Vec<String>,
    issues: Vec<KitIssue>,
    file: &'a str,
    /// Keyed by expression, use, and the rule lets in scope (their types steer translation).
    cache: HashMap<(String, Kind, String), Option<usize>>,
    /// Lets visible from the expression being added (schema, phase, pattern, rule).
    scope: xpath2::Scope,
    scope_key: String,
}

/// What an expression is used for: the translation keeps what that use needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Value,
    Test,
    ValueOf,
}

impl Builder<'_> {
    /// Translate and check one expression; `None` (and a kit issue) when unusable.
    fn add(&mut self, src: &str, kind: Kind) -> Option<usize> {
        let key = (src.to_string(), kind, self.scope_key.clone());
        if let Some(v) = self.cache.get(&key) {
            return *v;
        }
        let sc = &self.scope;
        let translated = match kind {
            Kind::Value => sc.to_xpath1(src),
            Kind::Test => sc.test_to_xpath1(src),
            Kind::ValueOf => sc.value_of_to_xpath1(src),
        };
        let out = match translated {
            Ok(x) => self.add_raw(keyed_rewrite(&x)),
            Err(e) => {
                self.issue(format!(
                    "expression XPath 2.0 non traduite ({}) : {src}",
                    e.reason
                ));
                None
            }
        };
        self.cache.insert(key, out);
        out
    }

    /// An XPath 1.0 expression as is.
    fn add_raw(&mut self, x: String) -> Option<usize> {
        if compiles(&x) {
            self.exprs.push(x);
            Some(self.exprs.len() - 1)
        } else {
            self.issue(format!("expression XPath non compilable : {x}"));
            None
        }
    }

    /// A rule context: through the templateId index when its form allows, else `//context`.
    fn add_context(&mut self, src: &str, ns: &[(String, String)]) -> Select {
        let hl7: Vec<String> = ns
            .iter()
            .filter(|(_, u)| u == "urn:hl7-org:v3")
            .map(|(p, _)| p.clone())
            .collect();
        let x = match self.scope.pattern_to_xpath1(src) {
            Ok(x) => x,
            Err(e) => {
                self.issue(format!(
                    "expression XPath 2.0 non traduite ({}) : {src}",
                    e.reason
                ));
                return Select::Unusable;
            }
        };
        if let Some((root, rest)) = template_candidate(&x, &hl7)
            && let Some(i) = self.add_raw(rest)
        {
            return Select::ByTemplate { root, rest: i };
        }
        if let Some((ns, local, rest)) = name_candidate(&x, ns)
            && let Some(i) = self.add_raw(rest)
        {
            return Select::ByName { ns, local, rest: i };
        }
        match self.add_raw(pattern_selection(&x)) {
            Some(i) => Select::XPath(i),
            None => Select::Unusable,
        }
    }

    fn issue(&mut self, message: String) {
        self.issues.push(KitIssue {
            rule: "kit.xpath.unsupported",
            severity: Severity::Warning,
            file: self.file.to_string(),
            line: 0,
            message,
        });
    }
}

impl Plan {
    /// Compile `schema` for `phase` (None: its default phase, `#ALL` when it has none).
    pub fn build(kit_root: &Path, schema: &Schema, phase: Option<&str>) -> Result<Plan, String> {
        let phase_name = phase
            .or(schema.default_phase.as_deref())
            .unwrap_or("#ALL")
            .to_string();
        let active = schema.active_patterns(Some(&phase_name))?;
        let mut bld = Builder {
            exprs: Vec::new(),
            issues: Vec::new(),
            file: &schema.file,
            cache: HashMap::new(),
            scope: xpath2::Scope::new(),
            scope_key: String::new(),
        };
        let stem = Path::new(&schema.file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Globals: schema lets, the phase's lets, every pattern's lets (the skeleton makes them
        // all top-level variables, whether or not the pattern is active).
        let mut globals = Vec::new();
        let phase_lets = schema
            .phases
            .iter()
            .find(|p| p.id == phase_name)
            .map(|p| p.lets.as_slice())
            .unwrap_or(&[]);
        for l in schema
            .lets
            .iter()
            .chain(phase_lets)
            .chain(schema.patterns.iter().flat_map(|p| &p.lets))
        {
            globals.push(LetPlan {
                name: l.name.clone(),
                expr: bld.add(&l.value, Kind::Value),
            });
            bld.scope.add_let(&l.name, &l.value);
        }
        let global_scope = bld.scope.clone();
        let mut patterns = Vec::new();
        let mut skipped = 0;
        for pat in active {
            let pid = pat.id.clone().unwrap_or_default();
            let mut rules = Vec::new();
            for r in &pat.rules {
                bld.scope = global_scope.clone();
                bld.scope_key = String::new();
                let select = bld.add_context(&r.context, &schema.ns);
                let mut lets = Vec::new();
                for l in &r.lets {
                    lets.push(LetPlan {
                        name: l.name.clone(),
                        expr: bld.add(&l.value, Kind::Value),
                    });
                    bld.scope.add_let(&l.name, &l.value);
                    bld.scope_key.push_str(&format!("{}={};", l.name, l.value));
                }
                let mut checks = Vec::new();
                for c in &r.checks {
                    let test_expr = bld.add(&c.test, Kind::Test);
                    if test_expr.is_none() || matches!(select, Select::Unusable) {
                        skipped += 1;
                    }
                    let mut message = Vec::new();
                    let parts = c.message.iter().chain(
                        c.diagnostics
                            .iter()
                            .filter_map(|d| schema.diagnostics.get(d))
                            .flatten(),
                    );
                    for p in parts {
                        message.push(match p {
                            MessagePart::Text(t) => Part::Text(t.clone()),
                            MessagePart::ValueOf(e) => Part::Value(bld.add(e, Kind::ValueOf)),
                            MessagePart::Name(None) => {
                                Part::Value(bld.add("name(.)", Kind::ValueOf))
                            }
                            MessagePart::Name(Some(e)) => {
                                Part::Value(bld.add(&format!("name({e})"), Kind::ValueOf))
                            }
                        });
                    }
                    let rule_id = match &c.id {
                        Some(id) => format!("schematron.{}.{}", slug(&stem), slug(id)),
                        None => {
                            use sha2::{Digest, Sha256};
                            let h = Sha256::digest(format!("{}\n{}", r.context, c.test));
                            format!(
                                "schematron.{}.{}.{}",
                                slug(&stem),
                                slug(if pid.is_empty() { "pattern" } else { &pid }),
                                &hex::encode(h)[..8]
                            )
                        }
                    };
                    checks.push(CheckPlan {
                        kind: c.kind,
                        test: c.test.clone(),
                        test_expr,
                        rule_id,
                        id: c.id.clone(),
                        role: c.role.clone(),
                        flag: c.flag.clone(),
                        severity: severity_of(c.role.as_deref(), c.flag.as_deref()),
                        message,
                    });
                }
                rules.push(RulePlan {
                    context: r.context.clone(),
                    select,
                    lets,
                    checks,
                });
            }
            patterns.push(PatternPlan {
                id: pat.id.clone(),
                rules,
            });
        }
        let mut ns: Vec<(String, String)> = schema.ns.clone();
        ns.push(("banc".into(), BANC_NS.into()));
        let base_dir = kit_root
            .join(&schema.file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| kit_root.to_path_buf());
        Ok(Plan {
            uid: NEXT_UID.fetch_add(1, Ordering::Relaxed),
            file: schema.file.clone(),
            stem,
            phase: phase_name,
            kit_root: kit_root.to_path_buf(),
            base_dir,
            ns,
            exprs: bld.exprs,
            globals,
            patterns,
            issues: bld.issues,
            skipped_checks: skipped,
        })
    }

    pub fn rule_count(&self) -> usize {
        self.patterns.iter().map(|p| p.rules.len()).sum()
    }

    pub fn check_count(&self) -> usize {
        self.patterns
            .iter()
            .flat_map(|p| &p.rules)
            .map(|r| r.checks.len())
            .sum()
    }
}

/// Whether libxml2 compiles `expr` (syntax only; functions and variables are bound at run time).
fn compiles(expr: &str) -> bool {
    let Ok(c) = CString::new(expr) else {
        return false;
    };
    if crate::xml::ffi::init().is_err() {
        return false;
    }
    unsafe {
        let comp = b::xmlXPathCompile(c.as_ptr() as *const u8);
        if comp.is_null() {
            false
        } else {
            b::xmlXPathFreeCompExpr(comp);
            true
        }
    }
}

/// The plan's expressions compiled by libxml2, for one thread: a compiled expression caches the
/// function it calls on first use, so sharing one between threads would race.
struct Compiled(Vec<b::xmlXPathCompExprPtr>);

impl Drop for Compiled {
    fn drop(&mut self) {
        for c in &self.0 {
            if !c.is_null() {
                unsafe { b::xmlXPathFreeCompExpr(*c) }
            }
        }
    }
}

thread_local! {
    static COMPILED: RefCell<HashMap<u64, Rc<Compiled>>> = RefCell::new(HashMap::new());
}

fn compiled(plan: &Plan) -> Rc<Compiled> {
    COMPILED.with(|m| {
        m.borrow_mut()
            .entry(plan.uid)
            .or_insert_with(|| {
                // Plans are built after libxml2 was checked (`compiles`): this only quiets
                // the thread's error handlers.
                crate::xml::ffi::quiet_thread();
                Rc::new(Compiled(
                    plan.exprs
                        .iter()
                        .map(|e| {
                            let c = CString::new(e.as_str()).unwrap_or_default();
                            unsafe { b::xmlXPathCompile(c.as_ptr() as *const u8) }
                        })
                        .collect(),
                ))
            })
            .clone()
    })
}

/// Compile the plan's expressions on this thread now (benchmarks, warm-up).
pub fn warm(plan: &Plan) {
    let _ = compiled(plan);
}

// ---------------------------------------------------------------------------------------------
// Documents read by the rules (value sets), shared by the whole process.

struct SharedDoc(b::xmlDocPtr);
// SAFETY: value-set documents are parsed once and then only read by XPath evaluation.
unsafe impl Send for SharedDoc {}
unsafe impl Sync for SharedDoc {}

/// Value-set repairs made while running (the kit's missing Art-Decor files), reported once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    pub file: String,
    pub message: String,
}

struct DocCache {
    docs: HashMap<PathBuf, Option<SharedDoc>>,
    repairs: Vec<Repair>,
}

fn doc_cache() -> &'static Mutex<DocCache> {
    static CACHE: OnceLock<Mutex<DocCache>> = OnceLock::new();
    CACHE.get_or_init(|| {
        Mutex::new(DocCache {
            docs: HashMap::new(),
            repairs: Vec::new(),
        })
    })
}

/// Kit repairs made so far by this process.
pub fn repairs() -> Vec<Repair> {
    doc_cache()
        .lock()
        .map(|c| c.repairs.clone())
        .unwrap_or_default()
}

fn parse_file(path: &Path) -> Option<b::xmlDocPtr> {
    let bytes = std::fs::read(path).ok()?;
    parse_mem(&bytes, &path.to_string_lossy())
}

/// A value-set document, parsed with banc's hardened options and kept for the process.
fn parse_mem(bytes: &[u8], url: &str) -> Option<b::xmlDocPtr> {
    let d = crate::xml::ffi::parse(bytes, url).doc?.into_raw();
    // Document order indexes make XPath node sorting on big value sets cheap.
    unsafe { b::xmlXPathOrderDocElems(d) };
    Some(d)
}

/// The document at `path` (absolute), from the cache; `kit_root` serves the Art-Decor fallback.
fn shared_doc(path: &Path, kit_root: &Path) -> Option<b::xmlDocPtr> {
    let mut cache = doc_cache().lock().ok()?;
    if let Some(d) = cache.docs.get(path) {
        return d.as_ref().map(|d| d.0);
    }
    let mut doc = parse_file(path);
    if doc.is_none()
        && let Some((xml, svs)) = artdecor_fallback(path, kit_root)
    {
        doc = parse_mem(xml.as_bytes(), &path.to_string_lossy());
        if doc.is_some() {
            let rel = |p: &Path| {
                p.strip_prefix(kit_root)
                    .unwrap_or(p)
                    .to_string_lossy()
                    .into_owned()
            };
            cache.repairs.push(Repair {
                file: rel(path),
                message: format!(
                    "Jeu de valeurs Art-Decor absent du kit : {} ; banc le reconstruit depuis le \
                     jeu de valeurs SVS de même OID {} (comme la référence)",
                    rel(path),
                    rel(&svs)
                ),
            });
        }
    }
    cache.docs.insert(path.to_path_buf(), doc.map(SharedDoc));
    doc
}

/// `…/voc-<OID>-DYNAMIC.xml` missing: the kit's SVS value set with the same OID, in the Art-Decor
/// layout the StrucMin asserts read (`valueSets/valueSet[@id]/conceptList/concept/@code`).
pub fn artdecor_fallback(path: &Path, kit_root: &Path) -> Option<(String, PathBuf)> {
    let name = path.file_name()?.to_str()?;
    let oid = name.strip_prefix("voc-")?.strip_suffix("-DYNAMIC.xml")?;
    let svs = find_svs(kit_root, oid)?;
    let d = parse_file(&svs)?;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<valueSets>\n");
    out.push_str(&format!(
        "  <valueSet id=\"{}\" name=\"{}\">\n    <conceptList>\n",
        esc(oid),
        esc(&svs.file_stem()?.to_string_lossy())
    ));
    unsafe {
        for n in element_walk(d) {
            if cstr((*n).name as *const c_char) == "Concept" {
                let attr = |a: &str| {
                    let a = CString::new(a).unwrap_or_default();
                    owned(b::xmlGetProp(n, a.as_ptr() as *const u8))
                };
                out.push_str(&format!(
                    "      <concept code=\"{}\" codeSystem=\"{}\" displayName=\"{}\"/>\n",
                    esc(&attr("code")),
                    esc(&attr("codeSystem")),
                    esc(&attr("displayName"))
                ));
            }
        }
        b::xmlFreeDoc(d);
    }
    out.push_str("    </conceptList>\n  </valueSet>\n</valueSets>\n");
    Some((out, svs))
}

/// The SVS file of the kit's `jeuxDeValeurs/` whose `ValueSet/@id` is `oid`.
fn find_svs(kit_root: &Path, oid: &str) -> Option<PathBuf> {
    let needle = format!("id=\"{oid}\"");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(kit_root.join("jeuxDeValeurs"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    entries.sort();
    entries.into_iter().find(|p| {
        // The ValueSet element opens the file: its attributes sit in the first kilobytes.
        std::fs::File::open(p)
            .and_then(|f| {
                use std::io::Read;
                let mut head = Vec::new();
                f.take(4096).read_to_end(&mut head)?;
                Ok(String::from_utf8_lossy(&head).contains(&needle))
            })
            .unwrap_or(false)
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

// ---------------------------------------------------------------------------------------------
// Running a plan on a document.

/// What a plan produced on one document.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Per active pattern (plan order): the nodes fired, in document order.
    pub patterns: Vec<PatternRun>,
    /// Evaluation errors (an expression that failed at run time), with the check when known.
    pub errors: Vec<RunError>,
}

#[derive(Debug, Default)]
pub struct PatternRun {
    pub fired: Vec<Fired>,
}

#[derive(Debug)]
pub struct Fired {
    pub rule: usize,
    /// Address of the node in the document (valid while the document lives).
    pub node: usize,
    pub hits: Vec<Hit>,
}

#[derive(Debug)]
pub struct Hit {
    pub check: usize,
    /// Message with `value-of` resolved and whitespace collapsed.
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct RunError {
    pub pattern: usize,
    pub rule: usize,
    pub check: Option<usize>,
    pub node: usize,
    pub message: String,
}

impl Outcome {
    pub fn fired_rules(&self) -> usize {
        self.patterns.iter().map(|p| p.fired.len()).sum()
    }
}

enum Lazy {
    Unset,
    Busy,
    Ready(b::xmlXPathObjectPtr),
    Failed,
}

/// Evaluation state reachable from the C callbacks (through the context's `userData`). Only
/// shared references exist while libxml2 runs (the callbacks re-enter), hence the cells.
struct State<'p> {
    plan: &'p Plan,
    comp: Rc<Compiled>,
    ctx: b::xmlXPathContextPtr,
    doc_node: b::xmlNodePtr,
    globals: RefCell<Vec<Lazy>>,
    /// Current rule's lets and node.
    locals: RefCell<Vec<Lazy>>,
    local_rule: Cell<Option<(usize, usize)>>,
    local_node: Cell<b::xmlNodePtr>,
    /// Fresh text nodes for emulated sequences of strings live in this scratch document.
    scratch: Cell<b::xmlDocPtr>,
    scratch_root: Cell<b::xmlNodePtr>,
}

fn free_lazies(v: &mut Vec<Lazy>) {
    for l in v.drain(..) {
        if let Lazy::Ready(o) = l {
            unsafe { b::xmlXPathFreeObject(o) };
        }
    }
}

impl Drop for State<'_> {
    fn drop(&mut self) {
        free_lazies(self.globals.get_mut());
        free_lazies(self.locals.get_mut());
        unsafe {
            b::xmlXPathFreeContext(self.ctx);
            if !self.scratch.get().is_null() {
                b::xmlFreeDoc(self.scratch.get());
            }
        }
    }
}

impl State<'_> {
    /// Evaluate expression `i` with `node` as context, keeping the caller's context intact (lets
    /// are evaluated from inside another evaluation).
    fn eval_at(&self, i: usize, node: b::xmlNodePtr) -> Result<b::xmlXPathObjectPtr, String> {
        let comp = self.comp.0[i];
        if comp.is_null() {
            return Err(format!("expression non compilée : {}", self.plan.exprs[i]));
        }
        unsafe {
            let ctx = self.ctx;
            let saved = ((*ctx).node, (*ctx).contextSize, (*ctx).proximityPosition);
            (*ctx).node = node;
            (*ctx).contextSize = 1;
            (*ctx).proximityPosition = 1;
            b::xmlResetError(&mut (*ctx).lastError);
            let obj = b::xmlXPathCompiledEval(comp, ctx);
            ((*ctx).node, (*ctx).contextSize, (*ctx).proximityPosition) = saved;
            if obj.is_null() {
                let msg = if (*ctx).lastError.message.is_null() {
                    "erreur d'évaluation XPath".to_string()
                } else {
                    CStr::from_ptr((*ctx).lastError.message)
                        .to_string_lossy()
                        .trim()
                        .to_string()
                };
                return Err(format!("{msg} : {}", self.plan.exprs[i]));
            }
            Ok(obj)
        }
    }

    fn boolean(&self, i: usize, node: b::xmlNodePtr) -> Result<bool, String> {
        let obj = self.eval_at(i, node)?;
        unsafe {
            let v = b::xmlXPathCastToBoolean(obj) != 0;
            b::xmlXPathFreeObject(obj);
            Ok(v)
        }
    }

    /// XSLT 2.0 `value-of`: the items' string values joined by a space.
    fn text(&self, i: usize, node: b::xmlNodePtr) -> Result<String, String> {
        let obj = self.eval_at(i, node)?;
        unsafe {
            let s = object_string(obj, " ");
            b::xmlXPathFreeObject(obj);
            Ok(s)
        }
    }

    fn lookup(&self, name: &str) -> b::xmlXPathObjectPtr {
        let plan = self.plan;
        // Rule lets shadow globals.
        if let Some((p, r)) = self.local_rule.get() {
            let lets = &plan.patterns[p].rules[r].lets;
            if let Some(k) = lets.iter().rposition(|l| l.name == name) {
                return self.force(&self.locals, k, lets[k].expr, self.local_node.get());
            }
        }
        if let Some(k) = plan.globals.iter().rposition(|l| l.name == name) {
            return self.force(&self.globals, k, plan.globals[k].expr, self.doc_node);
        }
        ptr::null_mut()
    }

    /// The value of let `k` of `slots`, evaluated on first use; a copy for the caller to own.
    fn force(
        &self,
        slots: &RefCell<Vec<Lazy>>,
        k: usize,
        expr: Option<usize>,
        node: b::xmlNodePtr,
    ) -> b::xmlXPathObjectPtr {
        {
            let mut v = slots.borrow_mut();
            match &v[k] {
                Lazy::Ready(o) => return unsafe { b::xmlXPathObjectCopy(*o) },
                Lazy::Busy | Lazy::Failed => return ptr::null_mut(),
                Lazy::Unset => v[k] = Lazy::Busy,
            }
        }
        // No borrow is held here: the evaluation may force other lets.
        let value = expr.and_then(|i| self.eval_at(i, node).ok());
        let mut v = slots.borrow_mut();
        match value {
            Some(o) => {
                v[k] = Lazy::Ready(o);
                unsafe { b::xmlXPathObjectCopy(o) }
            }
            None => {
                v[k] = Lazy::Failed;
                ptr::null_mut()
            }
        }
    }

    fn enter_rule(&self, p: usize, r: usize, node: b::xmlNodePtr) {
        let mut locals = self.locals.borrow_mut();
        free_lazies(&mut locals);
        let n = self.plan.patterns[p].rules[r].lets.len();
        locals.extend((0..n).map(|_| Lazy::Unset));
        self.local_rule.set(Some((p, r)));
        self.local_node.set(node);
    }

    /// A fresh text node holding `s`, in the scratch document.
    fn text_node(&self, s: &str) -> b::xmlNodePtr {
        unsafe {
            if self.scratch.get().is_null() {
                let d = b::xmlNewDoc(c"1.0".as_ptr() as *const u8);
                let root = b::xmlNewDocNode(
                    d,
                    ptr::null_mut(),
                    c"seq".as_ptr() as *const u8,
                    ptr::null(),
                );
                b::xmlDocSetRootElement(d, root);
                self.scratch.set(d);
                self.scratch_root.set(root);
            }
            let c = CString::new(s.replace('\0', "")).unwrap_or_default();
            let t = b::xmlNewDocText(self.scratch.get(), c.as_ptr() as *const u8);
            // Linked by hand: xmlAddChild would merge adjacent text nodes into one.
            let root = self.scratch_root.get();
            (*t).parent = root;
            if (*root).last.is_null() {
                (*root).children = t;
            } else {
                (*(*root).last).next = t;
                (*t).prev = (*root).last;
            }
            (*root).last = t;
            t
        }
    }
}

/// String value of an XPath object; node-sets join every node's string value with `sep`.
unsafe fn object_string(obj: b::xmlXPathObjectPtr, sep: &str) -> String {
    unsafe {
        match (*obj).type_ {
            b::xmlXPathObjectType_XPATH_NODESET | b::xmlXPathObjectType_XPATH_XSLT_TREE => {
                let set = (*obj).nodesetval;
                let mut parts = Vec::new();
                if !set.is_null() && !(*set).nodeTab.is_null() {
                    for i in 0..(*set).nodeNr.max(0) as usize {
                        parts.push(node_string(*(*set).nodeTab.add(i)));
                    }
                }
                parts.join(sep)
            }
            b::xmlXPathObjectType_XPATH_NUMBER => xpath2::double_to_string((*obj).floatval),
            _ => owned(b::xmlXPathCastToString(obj)),
        }
    }
}

unsafe fn node_string(n: b::xmlNodePtr) -> String {
    unsafe { owned(b::xmlXPathCastNodeToString(n)) }
}

/// The item strings of an argument: each node's string value, or the one value.
unsafe fn arg_items(o: b::xmlXPathObjectPtr) -> Vec<String> {
    if is_nodeset(o) {
        unsafe { arg_nodes(o) }
            .into_iter()
            .map(|n| unsafe { node_string(n) })
            .collect()
    } else {
        vec![unsafe { arg_string(o) }]
    }
}

unsafe fn state<'a>(ctxt: b::xmlXPathParserContextPtr) -> &'a State<'a> {
    unsafe { &*((*(*ctxt).context).userData as *const State<'a>) }
}

unsafe extern "C" fn var_lookup(
    data: *mut c_void,
    name: *const u8,
    _ns: *const u8,
) -> b::xmlXPathObjectPtr {
    if data.is_null() || name.is_null() {
        return ptr::null_mut();
    }
    let st = unsafe { &*(data as *const State) };
    let name = unsafe { CStr::from_ptr(name as *const c_char) }.to_string_lossy();
    st.lookup(&name)
}

// --- extension functions ---------------------------------------------------------------------

/// Pop `n` arguments (in call order).
unsafe fn pop_args(ctxt: b::xmlXPathParserContextPtr, n: c_int) -> Vec<b::xmlXPathObjectPtr> {
    let mut v: Vec<_> = (0..n).map(|_| unsafe { b::valuePop(ctxt) }).collect();
    v.reverse();
    v
}

unsafe fn free_args(args: Vec<b::xmlXPathObjectPtr>) {
    for a in args {
        if !a.is_null() {
            unsafe { b::xmlXPathFreeObject(a) };
        }
    }
}

/// XPath 2.0 atomization for a string argument: the first node's string value, or the value.
unsafe fn arg_string(o: b::xmlXPathObjectPtr) -> String {
    if o.is_null() {
        return String::new();
    }
    unsafe {
        match (*o).type_ {
            b::xmlXPathObjectType_XPATH_NODESET | b::xmlXPathObjectType_XPATH_XSLT_TREE => {
                let set = (*o).nodesetval;
                if set.is_null() || (*set).nodeNr == 0 {
                    String::new()
                } else {
                    node_string(*(*set).nodeTab)
                }
            }
            _ => object_string(o, " "),
        }
    }
}

/// Nodes of a node-set argument (empty for other types).
unsafe fn arg_nodes(o: b::xmlXPathObjectPtr) -> Vec<b::xmlNodePtr> {
    let mut out = Vec::new();
    unsafe {
        if o.is_null()
            || !matches!(
                (*o).type_,
                b::xmlXPathObjectType_XPATH_NODESET | b::xmlXPathObjectType_XPATH_XSLT_TREE
            )
        {
            return out;
        }
        let set = (*o).nodesetval;
        if !set.is_null() && !(*set).nodeTab.is_null() {
            for i in 0..(*set).nodeNr.max(0) as usize {
                out.push(*(*set).nodeTab.add(i));
            }
        }
    }
    out
}

fn is_nodeset(o: b::xmlXPathObjectPtr) -> bool {
    !o.is_null()
        && unsafe {
            matches!(
                (*o).type_,
                b::xmlXPathObjectType_XPATH_NODESET | b::xmlXPathObjectType_XPATH_XSLT_TREE
            )
        }
}

/// A node-set object of `nodes`, in the given order (no document-order sort: nodes of the
/// scratch document and of the document must not be compared).
unsafe fn nodeset(nodes: &[b::xmlNodePtr]) -> b::xmlXPathObjectPtr {
    unsafe {
        let set = b::xmlXPathNodeSetCreate(ptr::null_mut());
        for n in nodes {
            b::xmlXPathNodeSetAdd(set, *n);
        }
        b::xmlXPathWrapNodeSet(set)
    }
}

unsafe fn push_string(ctxt: b::xmlXPathParserContextPtr, s: &str) {
    let c = CString::new(s.replace('\0', "")).unwrap_or_default();
    unsafe { b::valuePush(ctxt, b::xmlXPathNewString(c.as_ptr() as *const u8)) };
}

unsafe fn push_bool(ctxt: b::xmlXPathParserContextPtr, v: bool) {
    unsafe { b::valuePush(ctxt, b::xmlXPathNewBoolean(v as c_int)) };
}

unsafe fn fail(ctxt: b::xmlXPathParserContextPtr, code: u32) {
    unsafe { b::xmlXPathErr(ctxt, code as c_int) };
}

const XPATH_INVALID_ARITY: u32 = b::xmlXPathError_XPATH_INVALID_ARITY;
const XPATH_INVALID_OPERAND: u32 = b::xmlXPathError_XPATH_INVALID_OPERAND;

macro_rules! arity {
    ($ctxt:expr, $n:expr, $lo:expr, $hi:expr) => {
        if !($lo..=$hi).contains(&$n) {
            unsafe { fail($ctxt, XPATH_INVALID_ARITY) };
            return;
        }
    };
}

/// `document(uri)`, `doc(uri)`: node-set of the document node(s); unreadable → error, as the
/// reference (FODC0002 aborts the schematron).
unsafe extern "C" fn f_document(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 2);
    let st = unsafe { state(ctxt) };
    let args = unsafe { pop_args(ctxt, n) };
    let uris = unsafe { arg_items(args[0]) };
    unsafe { free_args(args) };
    let mut nodes = Vec::new();
    for u in uris {
        match shared_doc(&st.plan.base_dir.join(&u), &st.plan.kit_root) {
            Some(d) => nodes.push(d as b::xmlNodePtr),
            None => {
                unsafe { fail(ctxt, b::xmlXPathError_XPATH_INVALID_OPERAND) };
                return;
            }
        }
    }
    unsafe { b::valuePush(ctxt, nodeset(&nodes)) };
}

unsafe extern "C" fn f_doc_available(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 1);
    let st = unsafe { state(ctxt) };
    let args = unsafe { pop_args(ctxt, n) };
    let u = unsafe { arg_string(args[0]) };
    unsafe { free_args(args) };
    let ok = !u.is_empty() && shared_doc(&st.plan.base_dir.join(&u), &st.plan.kit_root).is_some();
    unsafe { push_bool(ctxt, ok) };
}

unsafe extern "C" fn f_exists(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 1);
    let args = unsafe { pop_args(ctxt, n) };
    let v = unsafe { b::xmlXPathCastToBoolean(args[0]) != 0 } || !is_nodeset(args[0]);
    unsafe {
        free_args(args);
        push_bool(ctxt, v)
    };
}

unsafe extern "C" fn f_empty(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 1);
    let args = unsafe { pop_args(ctxt, n) };
    let v = is_nodeset(args[0]) && unsafe { arg_nodes(args[0]) }.is_empty();
    unsafe {
        free_args(args);
        push_bool(ctxt, v)
    };
}

fn regex_cached(pattern: &str, flags: &str) -> Result<regex::Regex, String> {
    thread_local! {
        static RX: RefCell<HashMap<(String, String), Result<regex::Regex, String>>> =
            RefCell::new(HashMap::new());
    }
    RX.with(|m| {
        m.borrow_mut()
            .entry((pattern.to_string(), flags.to_string()))
            .or_insert_with(|| xpath2::compile_regex(pattern, flags))
            .clone()
    })
}

unsafe extern "C" fn f_matches(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 3);
    let args = unsafe { pop_args(ctxt, n) };
    let s: Vec<String> = args.iter().map(|a| unsafe { arg_string(*a) }).collect();
    unsafe { free_args(args) };
    let flags = s.get(2).map(String::as_str).unwrap_or("");
    match regex_cached(&s[1], flags) {
        Ok(rx) => unsafe { push_bool(ctxt, xpath2::matches(&s[0], &rx)) },
        Err(_) => unsafe { fail(ctxt, XPATH_INVALID_OPERAND) },
    }
}

unsafe extern "C" fn f_replace(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 3, 4);
    let args = unsafe { pop_args(ctxt, n) };
    let s: Vec<String> = args.iter().map(|a| unsafe { arg_string(*a) }).collect();
    unsafe { free_args(args) };
    let flags = s.get(3).map(String::as_str).unwrap_or("");
    match regex_cached(&s[1], flags).and_then(|rx| xpath2::replace(&s[0], &rx, &s[2])) {
        Ok(out) => unsafe { push_string(ctxt, &out) },
        Err(_) => unsafe { fail(ctxt, XPATH_INVALID_OPERAND) },
    }
}

unsafe extern "C" fn f_tokenize(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 3);
    let st = unsafe { state(ctxt) };
    let args = unsafe { pop_args(ctxt, n) };
    let s: Vec<String> = args.iter().map(|a| unsafe { arg_string(*a) }).collect();
    unsafe { free_args(args) };
    let toks: Vec<String> = if n == 1 {
        s[0].split_ascii_whitespace().map(str::to_string).collect()
    } else {
        let flags = s.get(2).map(String::as_str).unwrap_or("");
        match regex_cached(&s[1], flags).and_then(|rx| xpath2::tokenize(&s[0], &rx)) {
            Ok(t) => t,
            Err(_) => {
                unsafe { fail(ctxt, XPATH_INVALID_OPERAND) };
                return;
            }
        }
    };
    let nodes: Vec<_> = toks.iter().map(|t| st.text_node(t)).collect();
    unsafe { b::valuePush(ctxt, nodeset(&nodes)) };
}

/// `banc:seq(a, b, ...)`: the sequence constructor; atomics become scratch text nodes.
unsafe extern "C" fn f_seq(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    let st = unsafe { state(ctxt) };
    let args = unsafe { pop_args(ctxt, n) };
    let mut nodes = Vec::new();
    for a in &args {
        if is_nodeset(*a) {
            nodes.extend(unsafe { arg_nodes(*a) });
        } else if !a.is_null() {
            let s = unsafe { object_string(*a, " ") };
            nodes.push(st.text_node(&s));
        }
    }
    unsafe {
        free_args(args);
        b::valuePush(ctxt, nodeset(&nodes))
    };
}

unsafe extern "C" fn f_string_join(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 2);
    let args = unsafe { pop_args(ctxt, n) };
    let sep = if n == 2 {
        unsafe { arg_string(args[1]) }
    } else {
        String::new()
    };
    let s = if is_nodeset(args[0]) {
        unsafe { object_string(args[0], &sep) }
    } else {
        unsafe { arg_string(args[0]) }
    };
    unsafe {
        free_args(args);
        push_string(ctxt, &s)
    };
}

unsafe extern "C" fn f_distinct_values(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 1);
    let st = unsafe { state(ctxt) };
    let args = unsafe { pop_args(ctxt, n) };
    let values = unsafe { arg_items(args[0]) };
    unsafe { free_args(args) };
    let mut seen = std::collections::HashSet::new();
    let nodes: Vec<_> = values
        .into_iter()
        .filter(|v| seen.insert(v.clone()))
        .map(|v| st.text_node(&v))
        .collect();
    unsafe { b::valuePush(ctxt, nodeset(&nodes)) };
}

/// `banc:resolve-qname(value, element)` → `{uri}local` (empty value → empty sequence).
unsafe extern "C" fn f_resolve_qname(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 2);
    let args = unsafe { pop_args(ctxt, n) };
    let empty = is_nodeset(args[0]) && unsafe { arg_nodes(args[0]) }.is_empty();
    let value = unsafe { arg_string(args[0]) };
    let elem = unsafe { arg_nodes(args[1]) }.first().copied();
    unsafe { free_args(args) };
    if empty {
        unsafe { b::valuePush(ctxt, nodeset(&[])) };
        return;
    }
    let value = value.trim();
    let (prefix, local) = match value.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, value),
    };
    let Some(elem) = elem else {
        unsafe { push_string(ctxt, "") };
        return;
    };
    let uri = unsafe {
        let p = prefix.map(|p| CString::new(p).unwrap_or_default());
        let ns = b::xmlSearchNs(
            (*elem).doc,
            elem,
            p.as_ref()
                .map(|p| p.as_ptr() as *const u8)
                .unwrap_or(ptr::null()),
        );
        if ns.is_null() {
            None
        } else {
            Some(
                CStr::from_ptr((*ns).href as *const c_char)
                    .to_string_lossy()
                    .into_owned(),
            )
        }
    };
    match (prefix, uri) {
        // An undeclared prefix is an error in XPath 2.0 (FONS0004): never equal to a QName.
        (Some(_), None) => unsafe { push_string(ctxt, "") },
        (_, uri) => unsafe {
            push_string(ctxt, &format!("{{{}}}{local}", uri.unwrap_or_default()))
        },
    }
}

unsafe extern "C" fn f_castable(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 2);
    let args = unsafe { pop_args(ctxt, n) };
    let empty = is_nodeset(args[0]) && unsafe { arg_nodes(args[0]) }.is_empty();
    let many = is_nodeset(args[0]) && unsafe { arg_nodes(args[0]) }.len() > 1;
    let v = unsafe { arg_string(args[0]) };
    let ty = unsafe { arg_string(args[1]) };
    unsafe { free_args(args) };
    let optional = ty.ends_with('?');
    if empty || many {
        unsafe { push_bool(ctxt, empty && optional) };
        return;
    }
    match xpath2::castable(&v, ty.trim_start_matches("xs:").trim_end_matches('?')) {
        Ok(ok) => unsafe { push_bool(ctxt, ok) },
        Err(_) => unsafe { fail(ctxt, XPATH_INVALID_OPERAND) },
    }
}

/// `banc:if(c, a, b)` (arguments already evaluated).
unsafe extern "C" fn f_if(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 3, 3);
    let mut args = unsafe { pop_args(ctxt, n) };
    let c = unsafe { b::xmlXPathCastToBoolean(args[0]) != 0 };
    let keep = if c { 1 } else { 2 };
    let v = std::mem::replace(&mut args[keep], ptr::null_mut());
    unsafe {
        free_args(args);
        b::valuePush(ctxt, v)
    };
}

/// A one-argument string function: pop the argument, push `f` of it.
unsafe fn map_string(ctxt: b::xmlXPathParserContextPtr, n: c_int, f: fn(&str) -> String) {
    arity!(ctxt, n, 1, 1);
    let args = unsafe { pop_args(ctxt, n) };
    let s = f(&unsafe { arg_string(args[0]) });
    unsafe {
        free_args(args);
        push_string(ctxt, &s)
    };
}

unsafe extern "C" fn f_lower(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    unsafe { map_string(ctxt, n, str::to_lowercase) }
}

unsafe extern "C" fn f_upper(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    unsafe { map_string(ctxt, n, str::to_uppercase) }
}

unsafe extern "C" fn f_ends_with(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 2);
    let args = unsafe { pop_args(ctxt, n) };
    let (a, s) = unsafe { (arg_string(args[0]), arg_string(args[1])) };
    unsafe {
        free_args(args);
        push_bool(ctxt, a.ends_with(&s))
    };
}

unsafe extern "C" fn f_current_datetime(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 0, 0);
    unsafe { push_string(ctxt, &now_iso(false)) };
}

unsafe extern "C" fn f_current_date(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 0, 0);
    unsafe { push_string(ctxt, &now_iso(true)) };
}

/// UTC now as `xs:dateTime` / `xs:date` lexical form.
fn now_iso(date_only: bool) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if date_only {
        format!("{y:04}-{m:02}-{d:02}Z")
    } else {
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }
}

/// `banc:number(x)`: XPath 2.0 fn:number.
unsafe extern "C" fn f_number(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 1, 1);
    let args = unsafe { pop_args(ctxt, n) };
    let v = if !is_nodeset(args[0])
        && unsafe { (*args[0]).type_ } == b::xmlXPathObjectType_XPATH_NUMBER
    {
        unsafe { (*args[0]).floatval }
    } else {
        xpath2::xs_double(&unsafe { arg_string(args[0]) })
    };
    unsafe {
        free_args(args);
        b::valuePush(ctxt, b::xmlXPathNewFloat(v))
    };
}

unsafe fn set_op(ctxt: b::xmlXPathParserContextPtr, n: c_int, keep_common: bool) {
    arity!(ctxt, n, 2, 2);
    let args = unsafe { pop_args(ctxt, n) };
    let other: std::collections::HashSet<usize> = unsafe { arg_nodes(args[1]) }
        .into_iter()
        .map(|p| p as usize)
        .collect();
    let kept: Vec<_> = unsafe { arg_nodes(args[0]) }
        .into_iter()
        .filter(|p| other.contains(&(*p as usize)) == keep_common)
        .collect();
    unsafe {
        free_args(args);
        b::valuePush(ctxt, nodeset(&kept))
    };
}

unsafe extern "C" fn f_except(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    unsafe { set_op(ctxt, n, false) }
}

unsafe extern "C" fn f_intersect(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    unsafe { set_op(ctxt, n, true) }
}

unsafe extern "C" fn f_iri_to_uri(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    unsafe { map_string(ctxt, n, xpath2::iri_to_uri) }
}

unsafe extern "C" fn f_compare_datetime(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 2);
    let args = unsafe { pop_args(ctxt, n) };
    let (a, c) = unsafe { (arg_string(args[0]), arg_string(args[1])) };
    unsafe { free_args(args) };
    // Values without a timezone: the reference ran in France; banc takes UTC, a documented gap.
    let v = match xpath2::compare_datetime(&a, &c, 0) {
        Some(std::cmp::Ordering::Less) => -1.0,
        Some(std::cmp::Ordering::Equal) => 0.0,
        Some(std::cmp::Ordering::Greater) => 1.0,
        None => f64::NAN,
    };
    unsafe { b::valuePush(ctxt, b::xmlXPathNewFloat(v)) };
}

/// `banc:map(s, 'xpath')`: `for $v in s return e` / `s/f(...)`: the expression evaluated from
/// each node of `s`; nodes kept, other results as text nodes.
unsafe extern "C" fn f_map(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 2, 2);
    let st = unsafe { state(ctxt) };
    let args = unsafe { pop_args(ctxt, n) };
    let nodes = unsafe { arg_nodes(args[0]) };
    let expr = unsafe { arg_string(args[1]) };
    unsafe { free_args(args) };
    let comp = MAP_EXPRS.with(|m| {
        *m.borrow_mut().entry(expr.clone()).or_insert_with(|| {
            let c = CString::new(expr.as_str()).unwrap_or_default();
            unsafe { b::xmlXPathCompile(c.as_ptr() as *const u8) }
        })
    });
    if comp.is_null() {
        unsafe { fail(ctxt, b::xmlXPathError_XPATH_EXPR_ERROR) };
        return;
    }
    let mut out = Vec::new();
    let size = nodes.len() as c_int;
    for (k, node) in nodes.into_iter().enumerate() {
        let obj = unsafe {
            let c = st.ctx;
            let saved = ((*c).node, (*c).contextSize, (*c).proximityPosition);
            (*c).node = node;
            (*c).contextSize = size;
            (*c).proximityPosition = k as c_int + 1;
            let o = b::xmlXPathCompiledEval(comp, c);
            ((*c).node, (*c).contextSize, (*c).proximityPosition) = saved;
            o
        };
        if obj.is_null() {
            unsafe { fail(ctxt, b::xmlXPathError_XPATH_EXPR_ERROR) };
            return;
        }
        if is_nodeset(obj) {
            out.extend(unsafe { arg_nodes(obj) });
        } else {
            let s = unsafe { object_string(obj, " ") };
            out.push(st.text_node(&s));
        }
        unsafe { b::xmlXPathFreeObject(obj) };
    }
    unsafe { b::valuePush(ctxt, nodeset(&out)) };
}

thread_local! {
    /// Expressions given to `banc:map` as strings, compiled once per thread (kept for the
    /// process: they come from the plans, a bounded set).
    static MAP_EXPRS: RefCell<HashMap<String, b::xmlXPathCompExprPtr>> =
        RefCell::new(HashMap::new());
}

type KeyIndex = HashMap<String, Vec<usize>>;

/// Hash indexes of value-set files: (document, namespace, local name, key) → value → elements.
fn keyed_index(doc: b::xmlDocPtr, ns: &str, local: &str, key: &str) -> std::sync::Arc<KeyIndex> {
    type Key = (usize, String, String, String);
    static CACHE: OnceLock<Mutex<HashMap<Key, std::sync::Arc<KeyIndex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let k = (
        doc as usize,
        ns.to_string(),
        local.to_string(),
        key.to_string(),
    );
    let mut m = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = m.get(&k) {
        return i.clone();
    }
    let mut idx: KeyIndex = HashMap::new();
    unsafe {
        for n in element_walk(doc) {
            if element_name(n) != (ns, local) {
                continue;
            }
            if key == "#text" {
                let mut c = (*n).children;
                while !c.is_null() {
                    if matches!(
                        (*c).type_,
                        b::xmlElementType_XML_TEXT_NODE | b::xmlElementType_XML_CDATA_SECTION_NODE
                    ) {
                        let list = idx.entry(node_string(c)).or_default();
                        if list.last() != Some(&(n as usize)) {
                            list.push(n as usize);
                        }
                    }
                    c = (*c).next;
                }
            } else {
                let a = CString::new(key).unwrap_or_default();
                let v = b::xmlGetNoNsProp(n, a.as_ptr() as *const u8);
                if !v.is_null() {
                    idx.entry(owned(v)).or_default().push(n as usize);
                }
            }
        }
    }
    let idx = std::sync::Arc::new(idx);
    m.insert(k, idx.clone());
    idx
}

/// `banc:keyed(docs, 'q:name', key, value)`: the elements `q:name` of `docs` whose attribute
/// `key` (or a text child, key `#text`) equals `value` with XPath `=` semantics.
unsafe extern "C" fn f_keyed(ctxt: b::xmlXPathParserContextPtr, n: c_int) {
    arity!(ctxt, n, 4, 4);
    let args = unsafe { pop_args(ctxt, n) };
    let docs = unsafe { arg_nodes(args[0]) };
    let qname = unsafe { arg_string(args[1]) };
    let key = unsafe { arg_string(args[2]) };
    let value = args[3];
    let (prefix, local) = match qname.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, qname.as_str()),
    };
    let ns = match prefix {
        None => String::new(),
        Some(p) => unsafe {
            let pc = CString::new(p).unwrap_or_default();
            let u = b::xmlXPathNsLookup((*ctxt).context, pc.as_ptr() as *const u8);
            if u.is_null() {
                free_args(args);
                fail(ctxt, b::xmlXPathError_XPATH_UNDEF_PREFIX_ERROR);
                return;
            }
            CStr::from_ptr(u as *const c_char)
                .to_string_lossy()
                .into_owned()
        },
    };
    let mut found: Vec<usize> = Vec::new();
    for d in docs {
        if unsafe { (*d).type_ } != b::xmlElementType_XML_DOCUMENT_NODE {
            continue;
        }
        let idx = keyed_index(d as b::xmlDocPtr, &ns, local, &key);
        let t = unsafe { (*value).type_ };
        if is_nodeset(value) {
            for v in unsafe { arg_nodes(value) } {
                if let Some(l) = idx.get(&unsafe { node_string(v) }) {
                    found.extend(l);
                }
            }
        } else if t == b::xmlXPathObjectType_XPATH_NUMBER {
            let want = unsafe { (*value).floatval };
            for (k, l) in idx.iter() {
                if xpath_number(k) == want {
                    found.extend(l);
                }
            }
        } else if t == b::xmlXPathObjectType_XPATH_BOOLEAN {
            // `node = true()` holds for every element that has the key at all.
            if unsafe { (*value).boolval } != 0 {
                found.extend(idx.values().flatten());
            }
        } else if let Some(l) = idx.get(&unsafe { arg_string(value) }) {
            found.extend(l);
        }
    }
    unsafe { free_args(args) };
    found.sort_unstable();
    found.dedup();
    let nodes: Vec<b::xmlNodePtr> = found.into_iter().map(|a| a as b::xmlNodePtr).collect();
    unsafe {
        let obj = nodeset(&nodes);
        // Nodes of value-set files only: document order is safe to establish.
        b::xmlXPathNodeSetSort((*obj).nodesetval);
        b::valuePush(ctxt, obj)
    };
}

/// XPath 1.0 `number()` of a string.
fn xpath_number(s: &str) -> f64 {
    let c = CString::new(s).unwrap_or_default();
    unsafe { b::xmlXPathCastStringToNumber(c.as_ptr() as *const u8) }
}

type XFn = unsafe extern "C" fn(b::xmlXPathParserContextPtr, c_int);

/// Functions under their plain names (XSLT/XPath 2.0 names the rules call directly) and under
/// the banc namespace (targets of the XPath 2.0 translation).
const PLAIN: &[(&str, XFn)] = &[
    ("document", f_document),
    ("doc", f_document),
    ("doc-available", f_doc_available),
    ("exists", f_exists),
    ("empty", f_empty),
    ("replace", f_replace),
    ("matches", f_matches),
];

const BANC: &[(&str, XFn)] = &[
    ("keyed", f_keyed),
    ("doc", f_document),
    ("doc-available", f_doc_available),
    ("exists", f_exists),
    ("empty", f_empty),
    ("seq", f_seq),
    ("matches", f_matches),
    ("replace", f_replace),
    ("tokenize", f_tokenize),
    ("string-join", f_string_join),
    ("distinct-values", f_distinct_values),
    ("resolve-qname", f_resolve_qname),
    ("castable", f_castable),
    ("if", f_if),
    ("lower-case", f_lower),
    ("upper-case", f_upper),
    ("ends-with", f_ends_with),
    ("current-date", f_current_date),
    ("current-dateTime", f_current_datetime),
    ("number", f_number),
    ("except", f_except),
    ("intersect", f_intersect),
    ("iri-to-uri", f_iri_to_uri),
    ("compare-dateTime", f_compare_datetime),
    ("map", f_map),
];

/// Names of the extension functions registered in every context (checked against the list the
/// translator may emit, in tests).
pub fn registered_functions() -> Vec<String> {
    PLAIN
        .iter()
        .map(|(n, _)| n.to_string())
        .chain(BANC.iter().map(|(n, _)| format!("banc:{n}")))
        .collect()
}

/// (namespace URI, local name) of an element; borrowed from the tree.
unsafe fn element_name<'a>(n: b::xmlNodePtr) -> (&'a str, &'a str) {
    unsafe {
        let ns = if (*n).ns.is_null() {
            ""
        } else {
            CStr::from_ptr((*(*n).ns).href as *const c_char)
                .to_str()
                .unwrap_or("")
        };
        let local = CStr::from_ptr((*n).name as *const c_char)
            .to_str()
            .unwrap_or("");
        (ns, local)
    }
}

/// The rule-context indexes of one document, built in one walk and shared by every schematron
/// run on it.
pub struct DocIndex {
    /// Elements having an `hl7:templateId` child, by that child's `@root`, in document order.
    templates: HashMap<String, Vec<b::xmlNodePtr>>,
    /// Elements by (namespace, local name), in document order.
    names: HashMap<(String, String), Vec<b::xmlNodePtr>>,
}

impl DocIndex {
    /// # Safety
    /// `doc` must be a valid libxml2 document, unchanged while the index is used.
    pub unsafe fn build(doc: b::xmlDocPtr) -> DocIndex {
        let mut idx = DocIndex {
            templates: HashMap::new(),
            names: HashMap::new(),
        };
        for n in unsafe { element_walk(doc) } {
            let (ns, local) = unsafe { element_name(n) };
            if (ns, local) == ("urn:hl7-org:v3", "templateId") {
                let parent = unsafe { (*n).parent };
                let root = unsafe { owned(b::xmlGetProp(n, c"root".as_ptr() as *const u8)) };
                if unsafe { (*parent).type_ } == b::xmlElementType_XML_ELEMENT_NODE
                    && !root.is_empty()
                {
                    let list = idx.templates.entry(root).or_default();
                    if list.last() != Some(&parent) {
                        list.push(parent);
                    }
                }
            }
            idx.names
                .entry((ns.to_string(), local.to_string()))
                .or_default()
                .push(n);
        }
        idx
    }
}

/// Run `plan` on the document `doc` (a libxml2 document pointer owned by the caller).
///
/// # Safety
/// `doc` must be a valid libxml2 document that outlives the call and is not used by another
/// thread meanwhile; `index` must have been built on it.
pub unsafe fn run(plan: &Plan, doc: b::xmlDocPtr, index: &DocIndex) -> Outcome {
    // A parsed document exists, so libxml2 was initialised and checked.
    crate::xml::ffi::quiet_thread();
    let comp = compiled(plan);
    let ctx = unsafe { b::xmlXPathNewContext(doc) };
    let st = State {
        plan,
        comp,
        ctx,
        doc_node: doc as b::xmlNodePtr,
        globals: RefCell::new(plan.globals.iter().map(|_| Lazy::Unset).collect()),
        locals: RefCell::new(Vec::new()),
        local_rule: Cell::new(None),
        local_node: Cell::new(ptr::null_mut()),
        scratch: Cell::new(ptr::null_mut()),
        scratch_root: Cell::new(ptr::null_mut()),
    };
    unsafe {
        for (p, u) in &plan.ns {
            let p = CString::new(p.as_str()).unwrap_or_default();
            let u = CString::new(u.as_str()).unwrap_or_default();
            b::xmlXPathRegisterNs(ctx, p.as_ptr() as *const u8, u.as_ptr() as *const u8);
        }
        let banc = CString::new(BANC_NS).unwrap_or_default();
        for (name, f) in PLAIN {
            let n = CString::new(*name).unwrap_or_default();
            b::xmlXPathRegisterFunc(ctx, n.as_ptr() as *const u8, Some(*f));
        }
        for (name, f) in BANC {
            let n = CString::new(*name).unwrap_or_default();
            b::xmlXPathRegisterFuncNS(
                ctx,
                n.as_ptr() as *const u8,
                banc.as_ptr() as *const u8,
                Some(*f),
            );
        }
        let sp = &st as *const State as *mut c_void;
        (*ctx).userData = sp;
        b::xmlXPathRegisterVariableLookup(ctx, Some(var_lookup), sp);
    }
    let mut out = Outcome::default();
    for (pi, pat) in plan.patterns.iter().enumerate() {
        // First rule wins per node: claim nodes rule by rule, then visit in document order.
        let mut claimed: HashMap<usize, usize> = HashMap::new();
        let mut order: Vec<(usize, usize)> = Vec::new();
        for (ri, rule) in pat.rules.iter().enumerate() {
            let (expr, from): (usize, Vec<b::xmlNodePtr>) = match &rule.select {
                Select::Unusable => continue,
                Select::XPath(i) => (*i, vec![st.doc_node]),
                Select::ByTemplate { root, rest } => (
                    *rest,
                    index
                        .templates
                        .get(root.as_str())
                        .cloned()
                        .unwrap_or_default(),
                ),
                Select::ByName { ns, local, rest } => (
                    *rest,
                    index
                        .names
                        .get(&(ns.clone(), local.clone()))
                        .cloned()
                        .unwrap_or_default(),
                ),
            };
            for start in from {
                match st.eval_at(expr, start) {
                    Ok(obj) => {
                        for n in unsafe { arg_nodes(obj) } {
                            if let std::collections::hash_map::Entry::Vacant(e) =
                                claimed.entry(n as usize)
                            {
                                e.insert(ri);
                                order.push((n as usize, ri));
                            }
                        }
                        unsafe { b::xmlXPathFreeObject(obj) };
                    }
                    Err(message) => out.errors.push(RunError {
                        pattern: pi,
                        rule: ri,
                        check: None,
                        node: 0,
                        message,
                    }),
                }
            }
        }
        order.sort_by(|a, b| unsafe {
            // xmlXPathCmpNodes: 1 when a precedes b.
            match b::xmlXPathCmpNodes(a.0 as b::xmlNodePtr, b.0 as b::xmlNodePtr) {
                1 => std::cmp::Ordering::Less,
                -1 => std::cmp::Ordering::Greater,
                _ => std::cmp::Ordering::Equal,
            }
        });
        let mut run = PatternRun::default();
        for (node, ri) in order {
            let n = node as b::xmlNodePtr;
            st.enter_rule(pi, ri, n);
            let mut hits = Vec::new();
            for (ci, check) in pat.rules[ri].checks.iter().enumerate() {
                let Some(t) = check.test_expr else { continue };
                let value = match st.boolean(t, n) {
                    Ok(v) => v,
                    Err(message) => {
                        out.errors.push(RunError {
                            pattern: pi,
                            rule: ri,
                            check: Some(ci),
                            node,
                            message,
                        });
                        continue;
                    }
                };
                let fired = match check.kind {
                    CheckKind::Assert => !value,
                    CheckKind::Report => value,
                };
                if fired {
                    let mut text = String::new();
                    for part in &check.message {
                        match part {
                            Part::Text(t) => text.push_str(t),
                            Part::Value(Some(i)) => match st.text(*i, n) {
                                Ok(s) => text.push_str(&s),
                                Err(message) => out.errors.push(RunError {
                                    pattern: pi,
                                    rule: ri,
                                    check: Some(ci),
                                    node,
                                    message,
                                }),
                            },
                            Part::Value(None) => {}
                        }
                    }
                    hits.push(Hit {
                        check: ci,
                        text: text.split_whitespace().collect::<Vec<_>>().join(" "),
                    });
                }
            }
            run.fired.push(Fired {
                rule: ri,
                node,
                hits,
            });
        }
        out.patterns.push(run);
    }
    drop(st);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_patterns_become_selections_from_the_root() {
        assert_eq!(pattern_selection("cda:a/cda:b"), "//cda:a/cda:b");
        assert_eq!(
            pattern_selection("/cda:a | cda:b[@x='|']"),
            "/cda:a | //cda:b[@x='|']"
        );
        assert_eq!(pattern_selection("*[f(a|b)]"), "//*[f(a|b)]");
    }

    #[test]
    fn template_contexts_use_the_index_only_when_exact() {
        let h = vec!["cda".to_string()];
        assert_eq!(
            template_candidate("*[cda:templateId/@root='1.2']", &h),
            Some(("1.2".into(), "self::*[cda:templateId/@root='1.2']".into()))
        );
        assert_eq!(
            template_candidate("*[cda:templateId/@root = \"1.2\" and cda:code]/cda:x", &h),
            Some((
                "1.2".into(),
                "self::*[cda:templateId/@root = \"1.2\" and cda:code]/cda:x".into()
            ))
        );
        // Not a superset of the matches, positional, other prefix, union: left to XPath.
        assert_eq!(
            template_candidate("*[cda:templateId/@root='1' or cda:code]", &h),
            None
        );
        assert_eq!(
            template_candidate("*[cda:templateId/@root='1'][2]", &h),
            None
        );
        assert_eq!(template_candidate("*[x:templateId/@root='1']", &h), None);
        assert_eq!(
            template_candidate("*[cda:templateId/@root='1'] | cda:b", &h),
            None
        );
        assert_eq!(
            template_candidate("cda:a[cda:templateId/@root='1']", &h),
            None
        );
    }

    #[test]
    fn value_set_lookups_use_the_keyed_index() {
        assert_eq!(
            keyed_rewrite("document($jdv)//svs:Concept[@code=$c and @codeSystem=$s]"),
            "banc:keyed(document($jdv), 'svs:Concept', 'code', $c)[@codeSystem=$s]"
        );
        assert_eq!(
            keyed_rewrite(
                "not(exists(doc(concat($p, $cs,'.rdf') )//skos:notation[text()= string($c)]))"
            ),
            "not(exists(banc:keyed(doc(concat($p, $cs,'.rdf') ), 'skos:notation', '#text', string($c))))"
        );
        // A value read from the candidate node itself cannot be looked up beforehand.
        let relative = "document($j)//svs:Concept[@code=@other]";
        assert_eq!(keyed_rewrite(relative), relative);
        let plain = "doc('a.xml')//valueSet[1]";
        assert_eq!(keyed_rewrite(plain), plain);
        assert_eq!(keyed_rewrite("count(a)//b"), "count(a)//b");
    }

    #[test]
    fn named_contexts_use_the_name_index() {
        let ns = vec![("hl7".to_string(), "urn:hl7-org:v3".to_string())];
        assert_eq!(
            name_candidate("//hl7:ClinicalDocument[hl7:typeId]/hl7:code", &ns),
            Some((
                "urn:hl7-org:v3".into(),
                "ClinicalDocument".into(),
                "self::hl7:ClinicalDocument[hl7:typeId]/hl7:code".into()
            ))
        );
        assert_eq!(
            name_candidate("hl7:entry", &ns).map(|c| c.2),
            Some("self::hl7:entry".into())
        );
        assert_eq!(name_candidate("hl7:entry[2]", &ns), None);
        assert_eq!(name_candidate("/hl7:ClinicalDocument", &ns), None);
        assert_eq!(name_candidate("hl7:a | hl7:b", &ns), None);
        assert_eq!(name_candidate("x:a", &ns), None);
        assert!(name_candidate("hl7:a/*[not(self::hl7:b | self::hl7:c)]", &ns).is_some());
        assert_eq!(name_candidate("*[hl7:a]", &ns), None);
    }

    #[test]
    fn roles_give_severities() {
        assert_eq!(severity_of(None, None), Severity::Error);
        assert_eq!(severity_of(Some("warning"), None), Severity::Warning);
        assert_eq!(severity_of(Some("INFO"), None), Severity::Info);
        assert_eq!(severity_of(None, Some("fatal")), Severity::Error);
    }
}
