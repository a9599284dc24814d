//! A loaded [`Schema`] compiled into a [`Plan`]: lets, rule contexts (through the document
//! indexes when their shape allows), checks and messages as XPath 1.0 expressions checked by
//! libxml2, and their per-thread compiled form. No document is read here.

use super::docs::Docs;
use super::rewrite::{
    Anchor, anchor, descendant_rewrite, has_key_rewrite, keyed_rewrite, membership_rewrite,
    name_candidate, pattern_selection, template_candidate,
};
use super::xpath2;
use super::{CheckKind, KitIssue, MessagePart, Schema};
use crate::finding::Severity;
use libxml::bindings as b;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Namespace of banc's XPath extension functions (see `xpath2`).
pub const BANC_NS: &str = "urn:banc:xpath";

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// Unique per plan: keys the per-thread compiled expressions (a new one when read back
    /// from the start-up cache).
    #[serde(skip, default = "next_uid")]
    uid: u64,
    /// Kit-relative path of the `.sch`.
    pub file: String,
    /// File name without `.sch`: the middle part of synthesised rule ids.
    pub stem: String,
    pub phase: String,
    pub(super) kit_root: PathBuf,
    /// Folder of the `.sch`: `document()`/`doc()` resolve from here.
    pub(super) base_dir: PathBuf,
    /// The documents its rules read (shared with the engine's other plans).
    #[serde(skip)]
    pub(super) docs: Arc<Docs>,
    pub(super) ns: Vec<(String, String)>,
    /// XPath 1.0 text of every expression, indexed by the plan's `usize` references.
    pub(super) exprs: Vec<String>,
    pub(super) globals: Vec<LetPlan>,
    pub patterns: Vec<PatternPlan>,
    /// Expressions that could not be translated or compiled (kit issues).
    pub issues: Vec<KitIssue>,
    /// Checks left out because an expression is unusable.
    pub skipped_checks: usize,
    /// String values of the document-constant expressions `banc:in` compares with, by
    /// expression (built on first use, shared by the threads).
    #[serde(skip)]
    constants: std::sync::Mutex<HashMap<usize, Arc<super::run::ConstantSet>>>,
    /// Each expression in banc's own evaluator (`native`), compiled on first use; `None`
    /// when it lies outside that evaluator's subset. Those compiled when the plan is written
    /// to the start-up cache (its rule contexts) are kept there: a warm start does not parse
    /// them again.
    #[serde(with = "kept_natives", default)]
    natives: std::sync::OnceLock<Vec<std::sync::OnceLock<Option<super::native::N>>>>,
    /// The rule contexts' leading steps, shared (built on first use, kept in the cache).
    #[serde(with = "kept", default)]
    prefixes: std::sync::OnceLock<super::native::Prefixes>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct LetPlan {
    pub(super) name: String,
    pub(super) expr: Option<usize>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct PatternPlan {
    pub id: Option<String>,
    pub rules: Vec<RulePlan>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct RulePlan {
    /// As written in the schematron (after abstract-pattern substitution).
    pub context: String,
    pub(super) select: Select,
    pub(super) lets: Vec<LetPlan>,
    pub checks: Vec<CheckPlan>,
}

/// How a rule's nodes are found.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) enum Select {
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

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct CheckPlan {
    pub kind: CheckKind,
    /// As written (after abstract-pattern substitution).
    pub test: String,
    pub(super) test_expr: Option<usize>,
    /// What the test's value depends on: evaluated once per anchor when above the node. Read
    /// when the plan is built and kept with it in the start-up cache: reading the tests a
    /// document meets cost a warm process ~15 ms.
    pub(super) anchor: Anchor,
    /// Stable finding id: `schematron.<stem>.<@id>` or `schematron.<stem>.<pattern>.<hash>`.
    pub rule_id: String,
    pub id: Option<String>,
    pub role: Option<String>,
    pub flag: Option<String>,
    pub severity: Severity,
    pub(super) message: Vec<Part>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(super) enum Part {
    Text(String),
    Value(Option<usize>),
}

static NEXT_UID: AtomicU64 = AtomicU64::new(1);

fn next_uid() -> u64 {
    NEXT_UID.fetch_add(1, Ordering::Relaxed)
}

fn severity_of(role: Option<&str>, flag: Option<&str>) -> Severity {
    let word = role.or(flag).unwrap_or("error").to_ascii_lowercase();
    match word.as_str() {
        "warning" | "warn" => Severity::Warning,
        "info" | "information" | "informational" | "note" => Severity::Info,
        _ => Severity::Error,
    }
}

struct Builder<'a> {
    pub(super) exprs: Vec<String>,
    pub(super) issues: Vec<KitIssue>,
    pub(super) file: &'a str,
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
            Ok(x) => {
                let x = descendant_rewrite(&has_key_rewrite(&keyed_rewrite(&x)));
                let x = membership_rewrite(&x, |c| self.add_raw(c.to_string()));
                self.add_raw(x)
            }
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
            && let Some(i) = self.add_raw(descendant_rewrite(&rest))
        {
            return Select::ByTemplate { root, rest: i };
        }
        if let Some((ns, local, rest)) = name_candidate(&x, ns)
            && let Some(i) = self.add_raw(descendant_rewrite(&rest))
        {
            return Select::ByName { ns, local, rest: i };
        }
        match self.add_raw(descendant_rewrite(&pattern_selection(&x))) {
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
        Plan::build_with(kit_root, schema, phase, Arc::default())
    }

    /// [`Plan::build`], the documents its rules read kept in `docs` (the engine's).
    pub fn build_with(
        kit_root: &Path,
        schema: &Schema,
        phase: Option<&str>,
        docs: Arc<Docs>,
    ) -> Result<Plan, String> {
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
        let mut anchors: HashMap<(usize, String), Anchor> = HashMap::new();
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
                    let rule_id =
                        super::check_rule_id(&stem, &pid, &r.context, &c.test, c.id.as_deref());
                    // The same test under the same rule lets is read once.
                    let let_names: Vec<&str> = lets.iter().map(|l| l.name.as_str()).collect();
                    let anchor = match test_expr {
                        Some(t) => *anchors
                            .entry((t, let_names.join(" ")))
                            .or_insert_with(|| anchor(&bld.exprs[t], &let_names)),
                        None => Anchor::Node,
                    };
                    checks.push(CheckPlan {
                        kind: c.kind,
                        test: c.test.clone(),
                        test_expr,
                        anchor,
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
            docs,
            ns,
            exprs: bld.exprs,
            globals,
            patterns,
            issues: bld.issues,
            skipped_checks: skipped,
            constants: Default::default(),
            natives: Default::default(),
            prefixes: Default::default(),
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
pub(super) fn compiles(expr: &str) -> bool {
    let Ok(c) = CString::new(expr) else {
        return false;
    };
    if crate::xml::ffi::init().is_err() {
        return false;
    }
    // SAFETY: a NUL-terminated expression; the compiled form is freed at once.
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
/// function it calls on first use, so sharing one between threads would race. Each is compiled
/// on its first evaluation: a document meets a few thousand of a kit's ~16,000 expressions,
/// and one document in its own process should not pay for the others.
pub(super) struct Compiled(Vec<std::cell::Cell<Option<b::xmlXPathCompExprPtr>>>);

impl Compiled {
    /// Expression `i` (text `text`) compiled; null when libxml2 refuses it.
    pub(super) fn get(&self, i: usize, text: &str) -> b::xmlXPathCompExprPtr {
        let Some(slot) = self.0.get(i) else {
            return std::ptr::null_mut();
        };
        if let Some(c) = slot.get() {
            return c;
        }
        let c = CString::new(text).unwrap_or_default();
        // SAFETY: a NUL-terminated expression; the result (null when it does not compile) is
        // owned by `Compiled`.
        let comp = unsafe { b::xmlXPathCompile(c.as_ptr() as *const u8) };
        slot.set(Some(comp));
        comp
    }
}

impl Drop for Compiled {
    fn drop(&mut self) {
        for c in self.0.iter().filter_map(|c| c.get()) {
            if !c.is_null() {
                // SAFETY: compiled by `get` on this thread, owned here, freed once.
                unsafe { b::xmlXPathFreeCompExpr(c) }
            }
        }
    }
}

thread_local! {
    static COMPILED: RefCell<HashMap<u64, Rc<Compiled>>> = RefCell::new(HashMap::new());
}

pub(super) fn compiled(plan: &Plan) -> Rc<Compiled> {
    COMPILED.with(|m| {
        m.borrow_mut()
            .entry(plan.uid)
            .or_insert_with(|| {
                // Plans are built after libxml2 was checked (`compiles`): this only quiets
                // the thread's error handlers.
                crate::xml::ffi::quiet_thread();
                Rc::new(Compiled(vec![Default::default(); plan.exprs.len()]))
            })
            .clone()
    })
}

impl Plan {
    /// Expression `i` compiled for banc's own evaluator, when it lies inside its subset.
    pub(super) fn native(&self, i: usize) -> Option<&super::native::N> {
        let all = self.natives.get_or_init(|| {
            (0..self.exprs.len())
                .map(|_| std::sync::OnceLock::new())
                .collect()
        });
        all.get(i)?
            .get_or_init(|| super::native::compile(&self.exprs[i], &self.ns))
            .as_ref()
    }

    /// The rule contexts that are paths from their start node, as a tree of shared prefixes.
    pub(super) fn prefixes(&self) -> &super::native::Prefixes {
        self.prefixes.get_or_init(|| {
            let rests =
                self.patterns
                    .iter()
                    .flat_map(|p| &p.rules)
                    .filter_map(|r| match &r.select {
                        Select::ByTemplate { rest, .. } | Select::ByName { rest, .. } => {
                            Some(*rest)
                        }
                        Select::XPath(_) | Select::Unusable => None,
                    });
            super::native::Prefixes::build(rests, |e| self.native(e))
        })
    }

    /// A plan read back from the start-up cache, reading its documents through `docs` (the
    /// engine's).
    pub fn with_docs(mut self, docs: Arc<Docs>) -> Plan {
        self.docs = docs;
        self
    }

    /// The string values of document-constant expression `k`, when already built.
    pub(super) fn constant_set(&self, k: usize) -> Option<Arc<super::run::ConstantSet>> {
        let m = self.constants.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&k).cloned()
    }

    /// Keep `set` as the values of expression `k` (or the one another thread kept first).
    pub(super) fn keep_constant_set(
        &self,
        k: usize,
        set: super::run::ConstantSet,
    ) -> Arc<super::run::ConstantSet> {
        let mut m = self.constants.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(k).or_insert_with(|| Arc::new(set)).clone()
    }
}

/// Compile the plan's expressions on this thread now (benchmarks, warm-up).
pub fn warm(plan: &Plan) {
    let c = compiled(plan);
    for (i, text) in plan.exprs.iter().enumerate() {
        c.get(i, text);
    }
}

/// A `OnceLock` as an `Option` in the start-up cache: its value when it was set.
mod kept {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::sync::OnceLock;

    pub fn serialize<T: Serialize, S: Serializer>(
        v: &OnceLock<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        v.get().serialize(s)
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<OnceLock<T>, D::Error> {
        let cell = OnceLock::new();
        if let Some(v) = Option::<T>::deserialize(d)? {
            let _ = cell.set(v);
        }
        Ok(cell)
    }
}

/// The expressions compiled for banc's evaluator, each `None` when not compiled yet.
mod kept_natives {
    use super::super::native::N;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::sync::OnceLock;

    type Natives = OnceLock<Vec<OnceLock<Option<N>>>>;

    pub fn serialize<S: Serializer>(v: &Natives, s: S) -> Result<S::Ok, S::Error> {
        v.get()
            .map(|all| all.iter().map(OnceLock::get).collect::<Vec<_>>())
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Natives, D::Error> {
        let cell = OnceLock::new();
        if let Some(all) = Option::<Vec<Option<Option<N>>>>::deserialize(d)? {
            let _ = cell.set(
                all.into_iter()
                    .map(|n| {
                        let one = OnceLock::new();
                        if let Some(n) = n {
                            let _ = one.set(n);
                        }
                        one
                    })
                    .collect(),
            );
        }
        Ok(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_give_severities() {
        assert_eq!(severity_of(None, None), Severity::Error);
        assert_eq!(severity_of(Some("warning"), None), Severity::Warning);
        assert_eq!(severity_of(Some("INFO"), None), Severity::Info);
        assert_eq!(severity_of(None, Some("fatal")), Severity::Error);
    }

    /// A plan read back from the start-up cache has its rule contexts compiled for banc's
    /// evaluator and their shared prefixes, as written: a warm start parses none again.
    #[test]
    fn rule_contexts_compiled_are_kept_in_the_cache() {
        let dir = std::env::temp_dir().join(format!("banc-plan-kept-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sch = dir.join("kept.sch");
        std::fs::write(
            &sch,
            r#"<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">
  <ns prefix="hl7" uri="urn:hl7-org:v3"/>
  <pattern id="patient">
    <rule context="hl7:patientRole/hl7:patient">
      <assert test="hl7:name">Le patient n'a pas de nom.</assert>
    </rule>
    <rule context="hl7:patientRole/hl7:id">
      <assert test="@root">Identifiant sans racine.</assert>
    </rule>
  </pattern>
</schema>"#,
        )
        .unwrap();
        let schema = super::super::load(&dir, &sch).expect("schematron");
        let plan = Plan::build(&dir, &schema, None).expect("plan");
        let rests: Vec<usize> = plan
            .patterns
            .iter()
            .flat_map(|p| &p.rules)
            .filter_map(|r| match &r.select {
                Select::ByTemplate { rest, .. } | Select::ByName { rest, .. } => Some(*rest),
                _ => None,
            })
            .collect();
        assert_eq!(rests.len(), 2, "{:?}", plan.patterns);
        plan.prefixes();
        let back: Plan = postcard::from_bytes(&postcard::to_stdvec(&plan).unwrap()).unwrap();
        let (ours, kept) = (
            plan.natives.get().unwrap(),
            back.natives.get().expect("kept"),
        );
        for r in rests {
            assert!(kept[r].get().is_some(), "context {r} not kept");
            assert_eq!(kept[r].get(), ours[r].get());
        }
        assert_eq!(back.prefixes.get(), plan.prefixes.get());
        std::fs::remove_dir_all(&dir).ok();
    }
}
