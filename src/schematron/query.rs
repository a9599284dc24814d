//! The XPath questions of banc's own rules and of the terminology checks (`//cda:observation[…]`,
//! `descendant-or-self::*[@code and @codeSystem]`, …), asked through banc's evaluator
//! (`native`) where it can decide, else through libxml2 as before. libxml2 compiled each
//! question afresh on every call and walked `//` as `descendant-or-self::node()/child::`: those
//! questions took 0.8 ms of a CR-BIO's 5.6 (measured over 1,000 documents). Each expression is
//! compiled here once per thread.

use super::native::{self, N};
use crate::xml::ffi::{Doc, NAMESPACES, Node, XPath};
use rustc_hash::FxHashMap;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

thread_local! {
    /// Each expression in banc's evaluator; `None` when it lies outside its subset.
    static COMPILED: RefCell<FxHashMap<String, Option<Rc<N>>>> = RefCell::default();
    /// Set by [`comparing`]: evaluate both ways and record where they differ.
    static COMPARING: Cell<bool> = const { Cell::new(false) };
    static DISAGREEMENTS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static DECIDED: Cell<usize> = const { Cell::new(0) };
}

fn compiled(expr: &str) -> Option<Rc<N>> {
    COMPILED.with(|c| {
        if let Some(n) = c.borrow().get(expr) {
            return n.clone();
        }
        let ns: Vec<(String, String)> = NAMESPACES
            .iter()
            .map(|(p, u)| (p.to_string(), u.to_string()))
            .collect();
        let n = native::compile(expr, &ns).map(Rc::new);
        c.borrow_mut().insert(expr.to_string(), n.clone());
        n
    })
}

/// XPath over one document with the CDA prefixes ([`NAMESPACES`]), as [`XPath`] answers it.
pub struct Query<'d> {
    xpath: XPath<'d>,
}

impl<'d> Query<'d> {
    pub fn new(doc: &'d Doc) -> Query<'d> {
        Query {
            xpath: XPath::new(doc),
        }
    }

    /// Nodes selected by `expr` from `node`, in document order (attributes too). An
    /// expression that does not compile yields `Err` with the expression.
    pub fn select(&self, expr: &str, node: Node<'d>) -> Result<Vec<Node<'d>>, String> {
        // SAFETY: node is a live node of the document borrowed for 'd, only read meanwhile.
        let ours = compiled(expr).and_then(|n| unsafe { native::nodes(&n, node.raw()) });
        let ours: Option<Vec<Node<'d>>> = ours.map(|v| {
            v.into_iter()
                // SAFETY: the nodes selected are nodes of the same document.
                .map(|p| unsafe { Node::from_raw(p) })
                .collect()
        });
        if COMPARING.get() {
            let addrs = |v: &[Node<'d>]| v.iter().map(Node::addr).collect::<Vec<_>>();
            note(expr, ours.as_deref().map(addrs), || {
                self.xpath.select(expr, node).map(|v| addrs(&v))
            });
        }
        match ours {
            Some(v) => Ok(v),
            None => self.xpath.select(expr, node),
        }
    }

    /// Effective boolean value of `expr` evaluated from `node`.
    pub fn boolean(&self, expr: &str, node: Node<'d>) -> Result<bool, String> {
        // SAFETY: node is a live node of the document borrowed for 'd, only read meanwhile.
        let ours = compiled(expr).and_then(|n| unsafe { native::boolean(&n, node.raw()) });
        if COMPARING.get() {
            note(expr, ours, || self.xpath.boolean(expr, node));
        }
        match ours {
            Some(v) => Ok(v),
            None => self.xpath.boolean(expr, node),
        }
    }

    /// String value of `expr` evaluated from `node` (libxml2's).
    pub fn string(&self, expr: &str, node: Node<'d>) -> Result<String, String> {
        self.xpath.string(expr, node)
    }
}

fn note<T: PartialEq + std::fmt::Debug>(
    expr: &str,
    ours: Option<T>,
    theirs: impl FnOnce() -> Result<T, String>,
) {
    let Some(ours) = ours else { return };
    DECIDED.set(DECIDED.get() + 1);
    match theirs() {
        Ok(t) if t == ours => {}
        other => DISAGREEMENTS.with(|d| {
            d.borrow_mut()
                .push(format!("{expr}: banc {ours:?}, libxml2 {other:?}"))
        }),
    }
}

/// Run `f` with every question of this thread answered both ways: its value, how many banc's
/// evaluator decided, and where libxml2 answered otherwise (expected: nowhere).
pub fn comparing<T>(f: impl FnOnce() -> T) -> (T, usize, Vec<String>) {
    COMPARING.set(true);
    DECIDED.set(0);
    DISAGREEMENTS.with(|d| d.borrow_mut().clear());
    let out = f();
    COMPARING.set(false);
    (
        out,
        DECIDED.get(),
        DISAGREEMENTS.with(|d| std::mem::take(&mut *d.borrow_mut())),
    )
}
