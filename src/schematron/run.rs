//! A [`Plan`] run on one document: the document's rule-context indexes, the evaluation state
//! the XPath callbacks reach (lazy lets, scratch text nodes), the run loop and its outcome.

use super::CheckKind;
use super::functions::{BANC, PLAIN, arg_nodes, object_string, var_lookup};
use super::plan::{BANC_NS, Compiled, Part, Plan, Select, compiled};
use super::rewrite::Anchor;
use crate::clock::Deadline;
use crate::xml::ffi::{self, element_walk, owned};
use libxml::bindings as b;
use rustc_hash::FxHashMap as HashMap;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char, c_void};
use std::marker::PhantomData;
use std::ptr;
use std::rc::Rc;

/// What a plan produced on one document.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Per active pattern (plan order): the nodes fired, in document order.
    pub patterns: Vec<PatternRun>,
    /// Evaluation errors (an expression that failed at run time), with the check when known.
    pub errors: Vec<RunError>,
    /// Stopped at the document's deadline: the patterns and nodes after that point did not run.
    pub stopped: bool,
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
pub(super) struct State<'p> {
    pub(super) plan: &'p Plan,
    /// The checked document's rule-context and name indexes.
    pub(super) index: &'p DocIndex<'p>,
    comp: Rc<Compiled>,
    pub(super) ctx: b::xmlXPathContextPtr,
    doc_node: b::xmlNodePtr,
    globals: RefCell<Vec<Lazy>>,
    /// Current rule's lets and node.
    locals: RefCell<Vec<Lazy>>,
    local_rule: Cell<Option<(usize, usize)>>,
    local_node: Cell<b::xmlNodePtr>,
    /// Fresh text nodes for emulated sequences of strings live in this scratch document.
    scratch: Cell<b::xmlDocPtr>,
    scratch_root: Cell<b::xmlNodePtr>,
    /// Rule-context prefixes evaluated on this document (see [`super::native::Prefixes`]).
    prefix_memo: RefCell<super::native::PrefixMemo>,
}

fn free_lazies(v: &mut Vec<Lazy>) {
    for l in v.drain(..) {
        if let Lazy::Ready(o) = l {
            // SAFETY: a let's value is owned by its slot and freed once, here.
            unsafe { b::xmlXPathFreeObject(o) };
        }
    }
}

impl Drop for State<'_> {
    fn drop(&mut self) {
        free_lazies(self.globals.get_mut());
        free_lazies(self.locals.get_mut());
        // SAFETY: the context and the scratch document are owned by the state, freed once,
        // after every object that refers to them.
        unsafe {
            b::xmlXPathFreeContext(self.ctx);
            if !self.scratch.get().is_null() {
                b::xmlFreeDoc(self.scratch.get());
            }
        }
    }
}

impl State<'_> {
    /// Run `eval` on expression `i` compiled, with `node` as the focus, keeping the caller's
    /// focus intact (lets are evaluated from inside another evaluation); `failed` tells from
    /// its result whether libxml2 stopped on an error, whose message is then returned.
    ///
    /// # Safety
    /// `node` must be a live node of the run's document, of a value set or of the scratch
    /// document (the only nodes a run hands out).
    unsafe fn focused<T>(
        &self,
        i: usize,
        node: b::xmlNodePtr,
        eval: unsafe extern "C" fn(b::xmlXPathCompExprPtr, b::xmlXPathContextPtr) -> T,
        failed: fn(&T) -> bool,
    ) -> Result<T, String> {
        let comp = self.comp.get(i, &self.plan.exprs[i]);
        if comp.is_null() {
            return Err(format!("expression non compilée : {}", self.plan.exprs[i]));
        }
        // SAFETY: ctx is the state's live context; comp was compiled on this thread; node is a
        // node of the run's documents; the caller's focus is restored before returning.
        unsafe {
            let ctx = self.ctx;
            let saved = ((*ctx).node, (*ctx).contextSize, (*ctx).proximityPosition);
            (*ctx).node = node;
            (*ctx).contextSize = 1;
            (*ctx).proximityPosition = 1;
            b::xmlResetError(&mut (*ctx).lastError);
            let out = eval(comp, ctx);
            ((*ctx).node, (*ctx).contextSize, (*ctx).proximityPosition) = saved;
            if failed(&out) {
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
            Ok(out)
        }
    }

    /// Evaluate expression `i` with `node` as context: a fresh, non-null result.
    ///
    /// # Safety
    /// As [`State::focused`].
    unsafe fn eval_at(
        &self,
        i: usize,
        node: b::xmlNodePtr,
    ) -> Result<b::xmlXPathObjectPtr, String> {
        // SAFETY: this function's contract.
        unsafe { self.focused(i, node, b::xmlXPathCompiledEval, |o| o.is_null()) }
    }

    /// Effective boolean value of expression `i` from `node`: libxml2's own boolean
    /// evaluation, which stops a node-set at its first node and builds no result object.
    ///
    /// # Safety
    /// As [`State::focused`].
    unsafe fn boolean(&self, i: usize, node: b::xmlNodePtr) -> Result<bool, String> {
        // SAFETY: this function's contract.
        unsafe {
            self.decide(
                i,
                node,
                || {
                    let n = self.plan.native(i)?;
                    super::native::with_vars(&|v| self.var_value(v), || {
                        super::native::boolean(n, node)
                    })
                },
                Self::libxml2_boolean,
                |a, c| a == c,
            )
        }
    }

    /// The nodes expression `i` selects from `node` (a rule context), by banc's evaluator
    /// when it can decide (through the plan's shared prefixes when the context is a path),
    /// else by libxml2 (no node when the value is not a node-set).
    ///
    /// # Safety
    /// As [`State::focused`].
    unsafe fn select(&self, i: usize, node: b::xmlNodePtr) -> Result<Vec<b::xmlNodePtr>, String> {
        let sorted = |v: &[b::xmlNodePtr]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        let prefixes = self.plan.prefixes();
        // SAFETY: node is live (this function's contract); the memo holds nodes of this run's
        // document only (the state is per run).
        let ours = || unsafe {
            match prefixes.whole(i) {
                Some(t) => {
                    let mut memo = self.prefix_memo.borrow_mut();
                    let native = |e| self.plan.native(e);
                    prefixes
                        .nodes(t, node, &mut memo, &native)
                        .map(|v| v.to_vec())
                }
                None => self
                    .plan
                    .native(i)
                    .and_then(|n| super::native::nodes(n, node)),
            }
        };
        // SAFETY: this function's contract.
        unsafe {
            self.decide(i, node, ours, Self::libxml2_select, |a, c| {
                sorted(a) == sorted(c)
            })
        }
    }

    /// Expression `i` at `node` by banc's evaluator (`ours`), or by libxml2 (`theirs`) when
    /// it cannot decide; under [`compare_native`], by both, their values compared by `same`.
    ///
    /// # Safety
    /// As [`State::focused`].
    unsafe fn decide<T: std::fmt::Debug>(
        &self,
        i: usize,
        node: b::xmlNodePtr,
        ours: impl FnOnce() -> Option<T>,
        theirs: unsafe fn(&Self, usize, b::xmlNodePtr) -> Result<T, String>,
        same: impl Fn(&T, &T) -> bool,
    ) -> Result<T, String> {
        let decided = ours();
        if COMPARING.get() {
            // SAFETY: as below.
            let lib = decided.as_ref().map(|_| unsafe { theirs(self, i, node) });
            note_comparison(&self.plan.exprs[i], node, decided.as_ref(), lib, same);
        }
        match decided {
            Some(v) => Ok(v),
            // SAFETY: this function's contract.
            None => unsafe { theirs(self, i, node) },
        }
    }

    /// # Safety
    /// As [`State::focused`].
    unsafe fn libxml2_select(
        &self,
        i: usize,
        node: b::xmlNodePtr,
    ) -> Result<Vec<b::xmlNodePtr>, String> {
        // SAFETY: node is live (this function's contract).
        let obj = unsafe { self.eval_at(i, node) }?;
        // SAFETY: obj is a fresh result, owned here and freed once; the node addresses kept
        // are nodes of the run's documents.
        unsafe {
            let nodes = arg_nodes(obj);
            b::xmlXPathFreeObject(obj);
            Ok(nodes)
        }
    }

    /// [`State::boolean`] by libxml2 alone: its own boolean evaluation, which stops a
    /// node-set at its first node and builds no result object.
    ///
    /// # Safety
    /// As [`State::focused`].
    unsafe fn libxml2_boolean(&self, i: usize, node: b::xmlNodePtr) -> Result<bool, String> {
        // SAFETY: this function's contract.
        let v = unsafe { self.focused(i, node, b::xmlXPathCompiledEvalToBoolean, |v| *v < 0) }?;
        Ok(v != 0)
    }

    /// XSLT 2.0 `value-of`: the items' string values joined by a space.
    ///
    /// # Safety
    /// As [`State::boolean`].
    unsafe fn text(&self, i: usize, node: b::xmlNodePtr) -> Result<String, String> {
        // SAFETY: node is live (this function's contract).
        let obj = unsafe { self.eval_at(i, node) }?;
        // SAFETY: obj is a fresh, non-null result owned here and freed once.
        unsafe {
            let s = object_string(obj, " ");
            b::xmlXPathFreeObject(obj);
            Ok(s)
        }
    }

    pub(super) fn lookup(&self, name: &str) -> b::xmlXPathObjectPtr {
        // SAFETY: force_let's value stays owned by its slot; the copy is the caller's.
        unsafe {
            match self.force_let(name) {
                Some(o) if !o.is_null() => b::xmlXPathObjectCopy(o),
                _ => ptr::null_mut(),
            }
        }
    }

    /// A variable's value for banc's evaluator, read from its slot without a copy.
    fn var_value(&self, name: &str) -> Option<super::native::Value> {
        let o = self.force_let(name)?;
        // SAFETY: o is the slot's live value (null when it failed).
        unsafe { object_value(o) }
    }

    /// The let `name` in scope (rule lets shadow globals), forced: its slot's value, null
    /// when it failed or is being computed; `None` when no let has that name.
    fn force_let(&self, name: &str) -> Option<b::xmlXPathObjectPtr> {
        let plan = self.plan;
        // Rule lets shadow globals.
        if let Some((p, r)) = self.local_rule.get() {
            let lets = &plan.patterns[p].rules[r].lets;
            if let Some(k) = lets.iter().rposition(|l| l.name == name) {
                // SAFETY: local_node is the node of the rule being run (set by `enter_rule`).
                return Some(unsafe {
                    self.force(&self.locals, k, lets[k].expr, self.local_node.get())
                });
            }
        }
        let k = plan.globals.iter().rposition(|l| l.name == name)?;
        // SAFETY: doc_node is the run's document, alive for the whole run.
        Some(unsafe { self.force(&self.globals, k, plan.globals[k].expr, self.doc_node) })
    }

    /// The value of let `k` of `slots`, evaluated on first use (by banc's evaluator when it
    /// can decide); owned by the slot (null when it failed or is being computed).
    ///
    /// # Safety
    /// As [`State::eval_at`].
    unsafe fn force(
        &self,
        slots: &RefCell<Vec<Lazy>>,
        k: usize,
        expr: Option<usize>,
        node: b::xmlNodePtr,
    ) -> b::xmlXPathObjectPtr {
        {
            let mut v = slots.borrow_mut();
            match &v[k] {
                Lazy::Ready(o) => return *o,
                Lazy::Busy | Lazy::Failed => return ptr::null_mut(),
                Lazy::Unset => v[k] = Lazy::Busy,
            }
        }
        // No borrow is held here: the evaluation may force other lets.
        // SAFETY: node is live (this function's contract).
        let value = expr.and_then(|i| unsafe { self.let_value(i, node) });
        let mut v = slots.borrow_mut();
        match value {
            Some(o) => {
                v[k] = Lazy::Ready(o);
                o
            }
            None => {
                v[k] = Lazy::Failed;
                ptr::null_mut()
            }
        }
    }

    /// A let's expression `i` evaluated at `node`: by banc's evaluator, else by libxml2.
    ///
    /// # Safety
    /// As [`State::eval_at`].
    unsafe fn let_value(&self, i: usize, node: b::xmlNodePtr) -> Option<b::xmlXPathObjectPtr> {
        let ours = self.plan.native(i).and_then(|n| {
            super::native::with_vars(&|v| self.var_value(v), || {
                // SAFETY: node is live (this function's contract).
                unsafe { super::native::value(n, node) }
            })
        });
        // SAFETY: node is live; libxml2's objects are owned here and freed once.
        unsafe {
            if COMPARING.get() {
                let lib = ours.as_ref().map(|_| {
                    self.eval_at(i, node).and_then(|o| {
                        let v = object_value(o);
                        b::xmlXPathFreeObject(o);
                        v.ok_or_else(|| "valeur d'un autre type".to_string())
                    })
                });
                note_comparison(&self.plan.exprs[i], node, ours.as_ref(), lib, same_value);
            }
            match ours.and_then(|v| object_of(v)) {
                Some(o) => Some(o),
                None => self.eval_at(i, node).ok(),
            }
        }
    }

    /// The string values of the plan's document-constant expression `k` (see
    /// `functions::f_in`), evaluated once per plan and shared by its threads. An evaluation
    /// error is not kept: it is raised again on each use, as the expression would.
    pub(super) fn constant_set(&self, k: usize) -> Result<std::sync::Arc<ConstantSet>, String> {
        if let Some(set) = self.plan.constant_set(k) {
            return Ok(set);
        }
        // SAFETY: doc_node is the run's document, alive for the whole run.
        let obj = unsafe { self.eval_at(k, self.doc_node) }?;
        // SAFETY: obj is a fresh, non-null result owned here and freed once; its nodes are of
        // the documents the plan reads, alive meanwhile.
        let strings = unsafe {
            let strings = if super::functions::is_nodeset(obj) {
                arg_nodes(obj)
                    .into_iter()
                    .map(|n| super::functions::node_string(n))
                    .collect()
            } else {
                Default::default()
            };
            b::xmlXPathFreeObject(obj);
            strings
        };
        Ok(self.plan.keep_constant_set(k, ConstantSet { strings }))
    }

    /// Start rule `r` of pattern `p` on `node`: its lets are evaluated from there when used.
    ///
    /// # Safety
    /// `node` must stay live until the next `enter_rule` or the end of the run (see `eval_at`).
    unsafe fn enter_rule(&self, p: usize, r: usize, node: b::xmlNodePtr) {
        let mut locals = self.locals.borrow_mut();
        free_lazies(&mut locals);
        let n = self.plan.patterns[p].rules[r].lets.len();
        locals.extend((0..n).map(|_| Lazy::Unset));
        self.local_rule.set(Some((p, r)));
        self.local_node.set(node);
    }

    /// A fresh text node holding `s`, in the scratch document.
    pub(super) fn text_node(&self, s: &str) -> b::xmlNodePtr {
        // SAFETY: the scratch document is created here once and owned by the state; the new
        // text node is linked under its root by hand (fields of nodes of that document only).
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

/// An XPath object as banc's evaluator reads it: `None` for a type it leaves to libxml2.
///
/// # Safety
/// `o` is null or a live object whose nodes are live.
unsafe fn object_value(o: b::xmlXPathObjectPtr) -> Option<super::native::Value> {
    use super::native::Value;
    if o.is_null() {
        return None;
    }
    // SAFETY: caller's contract.
    unsafe {
        Some(match (*o).type_ {
            b::xmlXPathObjectType_XPATH_NODESET => Value::Nodes(arg_nodes(o)),
            b::xmlXPathObjectType_XPATH_STRING if !(*o).stringval.is_null() => Value::Str(
                CStr::from_ptr((*o).stringval as *const c_char)
                    .to_str()
                    .ok()?
                    .to_string(),
            ),
            b::xmlXPathObjectType_XPATH_NUMBER => Value::Num((*o).floatval),
            b::xmlXPathObjectType_XPATH_BOOLEAN => Value::Bool((*o).boolval != 0),
            _ => return None,
        })
    }
}

/// A libxml2 object holding `v` (owned by the caller); `None` for a string with a NUL.
///
/// # Safety
/// The nodes of `v` are live.
unsafe fn object_of(v: super::native::Value) -> Option<b::xmlXPathObjectPtr> {
    use super::native::Value;
    // SAFETY: fresh objects; the set is filled with live nodes, each once (banc's node lists
    // hold no duplicate), then wrapped.
    unsafe {
        Some(match v {
            Value::Nodes(ns) => {
                let set = b::xmlXPathNodeSetCreate(ptr::null_mut());
                for n in ns {
                    b::xmlXPathNodeSetAddUnique(set, n);
                }
                b::xmlXPathWrapNodeSet(set)
            }
            Value::Str(x) => {
                let c = CString::new(x).ok()?;
                b::xmlXPathNewString(c.as_ptr() as *const u8)
            }
            Value::Num(x) => b::xmlXPathNewFloat(x),
            Value::Bool(x) => b::xmlXPathNewBoolean(x as std::ffi::c_int),
        })
    }
}

fn same_value(a: &super::native::Value, c: &super::native::Value) -> bool {
    use super::native::Value;
    match (a, c) {
        (Value::Num(x), Value::Num(y)) => x == y || x.is_nan() && y.is_nan(),
        _ => a == c,
    }
}

thread_local! {
    /// Set by [`compare_native`]: every test is evaluated by both evaluators.
    static COMPARING: Cell<bool> = const { Cell::new(false) };
    static COMPARISON: RefCell<NativeComparison> = RefCell::new(NativeComparison::default());
}

/// What [`compare_native`] found: tests banc's evaluator decided (and how many of those
/// libxml2 decided otherwise), tests it left to libxml2.
#[derive(Debug, Default, Clone)]
pub struct NativeComparison {
    pub native: usize,
    pub left_to_libxml2: usize,
    /// Expression, node address, banc's value, libxml2's value or error (as printed).
    pub disagreements: Vec<(String, usize, String, String)>,
}

fn note_comparison<T: std::fmt::Debug>(
    expr: &str,
    node: b::xmlNodePtr,
    ours: Option<&T>,
    lib: Option<Result<T, String>>,
    same: impl Fn(&T, &T) -> bool,
) {
    COMPARISON.with(|c| {
        let mut c = c.borrow_mut();
        let (Some(v), Some(lib)) = (ours, lib) else {
            c.left_to_libxml2 += 1;
            return;
        };
        c.native += 1;
        if !lib.as_ref().is_ok_and(|l| same(v, l)) {
            c.disagreements.push((
                expr.to_string(),
                node as usize,
                format!("{v:?}"),
                format!("{lib:?}"),
            ));
        }
    });
}

/// Test support: `plan` run on `doc` with every test evaluated by banc's evaluator and by
/// libxml2, and what they said.
#[doc(hidden)]
pub fn compare_native(plan: &Plan, doc: &ffi::Doc) -> (Outcome, NativeComparison) {
    COMPARING.set(true);
    COMPARISON.take();
    let index = DocIndex::build(doc);
    let out = run(plan, doc, &index);
    COMPARING.set(false);
    (out, COMPARISON.take())
}

/// (namespace URI, local name) of an element; borrowed from the tree.
///
/// # Safety
/// `n` must be a live element whose document outlives `'a` unmodified.
pub(super) unsafe fn element_name<'a>(n: b::xmlNodePtr) -> (&'a str, &'a str) {
    // SAFETY: n is live (caller's contract); its name and namespace href are NUL-terminated
    // strings of its document.
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

/// The string values of a node-set read from documents only (`banc:in`).
#[derive(Debug, Default)]
pub(super) struct ConstantSet {
    pub(super) strings: std::collections::HashSet<String>,
}

/// The rule-context indexes of one document, built in one walk and shared by every schematron
/// run on it. It borrows the document: its node pointers cannot outlive the tree.
pub struct DocIndex<'d> {
    /// The document indexed (checked by [`run`]).
    doc: b::xmlDocPtr,
    /// Elements having an `hl7:templateId` child, by that child's `@root`, in document order.
    templates: HashMap<String, Vec<b::xmlNodePtr>>,
    /// Elements by namespace, then local name, in document order: looked up with borrowed
    /// names, filled with one key allocation per distinct name.
    names: HashMap<String, HashMap<String, Vec<b::xmlNodePtr>>>,
    _doc: PhantomData<&'d ffi::Doc>,
}

impl<'d> DocIndex<'d> {
    /// The elements `{ns}local` of `doc` in document order, when `doc` is the indexed one.
    pub(super) fn named(
        &self,
        doc: b::xmlDocPtr,
        ns: &str,
        local: &str,
    ) -> Option<&[b::xmlNodePtr]> {
        if doc != self.doc {
            return None;
        }
        Some(self.elements(ns, local))
    }

    /// The elements `{ns}local` of the indexed document, in document order.
    fn elements(&self, ns: &str, local: &str) -> &[b::xmlNodePtr] {
        self.names
            .get(ns)
            .and_then(|m| m.get(local))
            .map_or(&[][..], Vec::as_slice)
    }

    /// The elements named `local` in any namespace of `doc`, in document order, when `doc` is
    /// the indexed one.
    pub(super) fn named_local(&self, doc: b::xmlDocPtr, local: &str) -> Option<Vec<b::xmlNodePtr>> {
        if doc != self.doc {
            return None;
        }
        let lists: Vec<&Vec<b::xmlNodePtr>> =
            self.names.values().filter_map(|m| m.get(local)).collect();
        let mut all: Vec<b::xmlNodePtr> = lists.iter().flat_map(|v| v.iter().copied()).collect();
        if lists.len() > 1 {
            // SAFETY: elements of the indexed document, alive while it is borrowed.
            all.sort_by(|a, b| unsafe { document_order(*a, *b) });
        }
        Some(all)
    }

    pub fn build(doc: &'d ffi::Doc) -> DocIndex<'d> {
        let mut idx = DocIndex {
            doc: doc.raw(),
            templates: HashMap::default(),
            names: HashMap::default(),
            _doc: PhantomData,
        };
        // SAFETY: doc is borrowed for 'd and never modified: the walk, the names, the parent
        // links and the attribute copy (freed by `owned`) read nodes of that tree.
        unsafe {
            for n in element_walk(doc.raw()) {
                let (ns, local) = element_name(n);
                if (ns, local) == ("urn:hl7-org:v3", "templateId") {
                    let parent = (*n).parent;
                    let root = owned(b::xmlGetProp(n, c"root".as_ptr() as *const u8));
                    if (*parent).type_ == b::xmlElementType_XML_ELEMENT_NODE && !root.is_empty() {
                        let list = idx.templates.entry(root).or_default();
                        if list.last() != Some(&parent) {
                            list.push(parent);
                        }
                    }
                }
                let by_local = match idx.names.get_mut(ns) {
                    Some(m) => m,
                    None => idx.names.entry(ns.to_string()).or_default(),
                };
                match by_local.get_mut(local) {
                    Some(list) => list.push(n),
                    None => {
                        by_local.insert(local.to_string(), vec![n]);
                    }
                }
            }
        }
        idx
    }
}

/// Document order of two nodes.
///
/// # Safety
/// Both must be live nodes.
unsafe fn document_order(a: b::xmlNodePtr, b: b::xmlNodePtr) -> std::cmp::Ordering {
    // SAFETY: caller's contract. xmlXPathCmpNodes: 1 when a precedes b.
    match unsafe { b::xmlXPathCmpNodes(a, b) } {
        1 => std::cmp::Ordering::Less,
        -1 => std::cmp::Ordering::Greater,
        _ => std::cmp::Ordering::Equal,
    }
}

/// Run `plan` on `doc`, whose rule-context indexes are `index` (built afresh if they are of
/// another document). A `Doc` is neither `Send` nor `Sync`: no other thread uses it meanwhile.
pub fn run(plan: &Plan, doc: &ffi::Doc, index: &DocIndex<'_>) -> Outcome {
    run_until(plan, doc, index, &Deadline::never())
}

/// [`run`], stopped at `deadline`: looked at before each rule, each node a context is
/// evaluated from and each node checked (one XPath evaluation apart).
pub fn run_until(
    plan: &Plan,
    doc: &ffi::Doc,
    index: &DocIndex<'_>,
    deadline: &Deadline,
) -> Outcome {
    let own;
    let index = if index.doc == doc.raw() {
        index
    } else {
        own = DocIndex::build(doc);
        &own
    };
    let doc = doc.raw();
    // A parsed document exists, so libxml2 was initialised and checked.
    crate::xml::ffi::quiet_thread();
    let comp = compiled(plan);
    // SAFETY: doc is a live document borrowed for the call; the context is freed with `st`.
    let ctx = unsafe { b::xmlXPathNewContext(doc) };
    let st = State {
        plan,
        index,
        comp,
        ctx,
        doc_node: doc as b::xmlNodePtr,
        globals: RefCell::new(plan.globals.iter().map(|_| Lazy::Unset).collect()),
        locals: RefCell::new(Vec::new()),
        local_rule: Cell::new(None),
        local_node: Cell::new(ptr::null_mut()),
        scratch: Cell::new(ptr::null_mut()),
        scratch_root: Cell::new(ptr::null_mut()),
        prefix_memo: RefCell::default(),
    };
    // SAFETY: ctx is live; names are copied by libxml2; the functions are the C entry points of
    // `functions`; `st` outlives every evaluation with this context (it owns and frees it), so
    // userData stays valid while callbacks can read it.
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
    // The clock is read every 16 nodes (per node, it cost 1 % of a batch).
    let mut tick = 0u32;
    let mut late = || {
        tick = tick.wrapping_add(1);
        tick.is_multiple_of(16) && deadline.passed()
    };
    // Values of tests anchored above their node, by (expression, anchor node).
    let mut memo: HashMap<(usize, usize), Result<bool, String>> = HashMap::default();
    'patterns: for (pi, pat) in plan.patterns.iter().enumerate() {
        // First rule wins per node: claim nodes rule by rule, then visit in document order.
        let mut claimed: HashMap<usize, usize> = HashMap::default();
        let mut order: Vec<(usize, usize)> = Vec::new();
        for (ri, rule) in pat.rules.iter().enumerate() {
            if deadline.passed() {
                out.stopped = true;
                break 'patterns;
            }
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
                Select::ByName { ns, local, rest } => (*rest, index.elements(ns, local).to_vec()),
            };
            for start in from {
                if late() {
                    out.stopped = true;
                    break 'patterns;
                }
                // SAFETY: start is the document node or an indexed element of the document.
                match unsafe { st.select(expr, start) } {
                    Ok(nodes) => {
                        for n in nodes {
                            if let std::collections::hash_map::Entry::Vacant(e) =
                                claimed.entry(n as usize)
                            {
                                e.insert(ri);
                                order.push((n as usize, ri));
                            }
                        }
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
        // SAFETY: the addresses are nodes the contexts selected in live documents.
        order.sort_by(|a, b| unsafe { document_order(a.0 as b::xmlNodePtr, b.0 as b::xmlNodePtr) });
        let mut run = PatternRun::default();
        for (node, ri) in order {
            if late() {
                out.stopped = true;
                // What was found so far stands.
                out.patterns.push(run);
                break 'patterns;
            }
            let n = node as b::xmlNodePtr;
            // SAFETY: n is a node the rule's context selected in the document, alive for the
            // whole run (the evaluations below rely on the same).
            unsafe { st.enter_rule(pi, ri, n) };
            let mut hits = Vec::new();
            for (ci, check) in pat.rules[ri].checks.iter().enumerate() {
                let Some(t) = check.test_expr else { continue };
                let key = match check.anchor {
                    Anchor::Document => Some(st.doc_node),
                    // A namespace node (another struct) has no parent link to read.
                    // SAFETY: n is a live node (see enter_rule); `type` is at the same place in
                    // every node struct, `parent` in those of the other types.
                    Anchor::Parent => unsafe {
                        ((*n).type_ != b::xmlElementType_XML_NAMESPACE_DECL).then(|| (*n).parent)
                    },
                    Anchor::Node => None,
                };
                // SAFETY: see enter_rule above.
                let eval = || unsafe { st.boolean(t, n) };
                let result = match key {
                    Some(k) => memo.entry((t, k as usize)).or_insert_with(eval).clone(),
                    None => eval(),
                };
                let value = match result {
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
                            // SAFETY: see enter_rule above.
                            Part::Value(Some(i)) => match unsafe { st.text(*i, n) } {
                                // value-of and name() quote the document: a few hundred characters.
                                Ok(s) => text.push_str(&crate::finding::quote(&s)),
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
