//! banc's own evaluator for the plain XPath 1.0 of a plan's rule contexts and tests: paths on
//! the usual axes, predicates, comparisons, arithmetic and the core string and node functions,
//! read straight from the libxml2 tree. About four in five of a CR-BIO's evaluations are of that
//! kind. A test stops a path at its first node and compares a path with a value node by node,
//! without building node lists; libxml2 builds a node set and a value stack for each. Both still
//! visit the same nodes, which is where the time goes (1.3× faster per expression, measured).
//!
//! Variables are the run's lets, read through [`with_vars`] (a let is itself evaluated here
//! when it can be, and handed to libxml2 as an object); the extension functions of the
//! timestamp and duplicate checks (`banc:matches`, `replace`, `castable`, `if`, `string-join`,
//! `seq`, `except`, `intersect`) are computed as `functions.rs` computes them.
//!
//! It never decides alone what it cannot do as libxml2 does: an expression outside that subset
//! (another extension function, an XPath 2.0 construct, a rare axis) does not compile here,
//! and a run that meets something unusual (an entity reference, a DTD node, a namespace node,
//! a number to print that is not a small integer, a value of the wrong type, an unknown or
//! failed variable, a regular expression that does not compile) gives `None`; the caller then
//! asks libxml2, whose result or error stands. Numbers are read with
//! libxml2's own algorithms (`xmlXPathCompNumber`, `xmlXPathStringEvalNumber`), so a
//! comparison rounds as it does. `tests/native_xpath.rs` compares both evaluators on every
//! context and test of every profile's schematrons, on the kit's examples and the training
//! documents.

use super::xpath2::parse_spanned;
use super::xpath2::parser::{Axis as PAxis, Expr, Op, Root, Step, Test};
use libxml::bindings as b;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::ffi::{CStr, c_char};

type P = b::xmlNodePtr;

/// A test on nodes visited one by one: `Some(true)` stops the visit.
type Visit<'a> = dyn FnMut(P) -> Option<bool> + 'a;

/// A compiled expression.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) enum N {
    Or(Box<N>, Box<N>),
    And(Box<N>, Box<N>),
    Cmp(Cmp, Box<N>, Box<N>),
    Arith(Arith, Box<N>, Box<N>),
    Neg(Box<N>),
    Union(Box<N>, Box<N>),
    Path(From, Vec<NStep>),
    Filter(Box<N>, Vec<N>),
    Str(String),
    Num(f64),
    Call(F, Vec<N>),
    /// `$name`: a let of the run, read through the evaluation's [`Vars`] (none: libxml2's).
    Var(String),
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) enum From {
    Context,
    Root,
    Expr(Box<N>),
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct NStep {
    axis: Ax,
    test: NTest,
    preds: Vec<N>,
    /// No predicate counts positions: nodes can be tested one by one as the axis yields them.
    plain: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Ax {
    Child,
    Attr,
    Itself,
    Parent,
    Desc,
    DescSelf,
    Anc,
    AncSelf,
    FollSib,
    PrecSib,
}

impl Ax {
    /// Whether the axis lists its nodes in reverse document order.
    fn reverse(self) -> bool {
        matches!(self, Ax::Anc | Ax::AncSelf | Ax::PrecSib)
    }
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum NTest {
    Any,
    Ns(String),
    Name(Option<String>, String),
    Node,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) enum F {
    Not,
    True,
    False,
    Boolean,
    Count,
    String,
    StringLength,
    NormalizeSpace,
    Concat,
    Contains,
    StartsWith,
    SubstringBefore,
    SubstringAfter,
    Translate,
    LocalName,
    Name,
    NamespaceUri,
    Number,
    Position,
    Last,
    /// `banc:except(a, b)`, `banc:intersect(a, b)` (the XPath 2.0 operators on node-sets):
    /// the nodes of `a` not in / also in `b`, in `a`'s order.
    Except,
    Intersect,
    /// `substring(s, start, len?)` with whole, positive positions (else libxml2's rounding).
    Substring,
    /// `banc:matches`, `banc:replace`, `banc:castable`, `banc:if`, `banc:string-join`,
    /// `banc:seq`: as the extension functions of `functions.rs` compute them.
    Matches,
    Replace,
    Castable,
    If,
    StringJoin,
    Seq,
}

impl F {
    /// The core function `name` called with `n` arguments, when supported.
    fn of(name: &str, n: usize) -> Option<F> {
        let (f, ok) = match name {
            "not" => (F::Not, n == 1),
            "true" => (F::True, n == 0),
            "false" => (F::False, n == 0),
            "boolean" => (F::Boolean, n == 1),
            "count" => (F::Count, n == 1),
            "string" => (F::String, n <= 1),
            "string-length" => (F::StringLength, n <= 1),
            "normalize-space" => (F::NormalizeSpace, n <= 1),
            "concat" => (F::Concat, n >= 2),
            "contains" => (F::Contains, n == 2),
            "starts-with" => (F::StartsWith, n == 2),
            "substring-before" => (F::SubstringBefore, n == 2),
            "substring-after" => (F::SubstringAfter, n == 2),
            "translate" => (F::Translate, n == 3),
            "local-name" => (F::LocalName, n <= 1),
            "name" => (F::Name, n <= 1),
            "namespace-uri" => (F::NamespaceUri, n <= 1),
            "number" => (F::Number, n <= 1),
            "position" => (F::Position, n == 0),
            "last" => (F::Last, n == 0),
            "substring" => (F::Substring, n == 2 || n == 3),
            _ => return None,
        };
        ok.then_some(f)
    }
}

/// `text` compiled with the plan's namespace bindings (`ns`, the last binding of a prefix
/// wins, as in libxml2's context), when it lies inside the subset.
pub(super) fn compile(text: &str, ns: &[(String, String)]) -> Option<N> {
    // Text the 2.0 parser reads differently from a 1.0 one is left to libxml2.
    if text.contains("(:") {
        return None;
    }
    let e = parse_spanned(text)?;
    Compiler { ns }.expr(&e)
}

struct Compiler<'a> {
    ns: &'a [(String, String)],
}

impl Compiler<'_> {
    fn uri(&self, prefix: &str) -> Option<String> {
        self.ns
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.clone())
    }

    fn boxed(&self, e: &Expr) -> Option<Box<N>> {
        self.expr(e).map(Box::new)
    }

    fn expr(&self, e: &Expr) -> Option<N> {
        Some(match e {
            Expr::Bin(op, a, c, _) => {
                let (a, c) = (self.boxed(a)?, self.boxed(c)?);
                match op {
                    Op::Or => N::Or(a, c),
                    Op::And => N::And(a, c),
                    Op::Gen(s) => N::Cmp(
                        match *s {
                            "=" => Cmp::Eq,
                            "!=" => Cmp::Ne,
                            "<" => Cmp::Lt,
                            "<=" => Cmp::Le,
                            ">" => Cmp::Gt,
                            ">=" => Cmp::Ge,
                            _ => return None,
                        },
                        a,
                        c,
                    ),
                    Op::Add => N::Arith(Arith::Add, a, c),
                    Op::Sub => N::Arith(Arith::Sub, a, c),
                    Op::Mul => N::Arith(Arith::Mul, a, c),
                    Op::Div => N::Arith(Arith::Div, a, c),
                    Op::Mod => N::Arith(Arith::Mod, a, c),
                    // Anything else is libxml2's type error to raise.
                    Op::Union if is_nodeset(&a) && is_nodeset(&c) => N::Union(a, c),
                    Op::Union => return None,
                    Op::Val(_) | Op::Intersect | Op::Except => return None,
                }
            }
            Expr::Neg(a) => N::Neg(self.boxed(a)?),
            Expr::Paren(a) => self.expr(a)?,
            Expr::Path { root, steps } => {
                let mut from = match root {
                    Root::None => From::Context,
                    Root::Slash | Root::DoubleSlash => From::Root,
                };
                let mut out = Vec::new();
                if *root == Root::DoubleSlash {
                    out.push(desc_self());
                }
                for (k, (dslash, step)) in steps.iter().enumerate() {
                    if k > 0 && *dslash {
                        out.push(desc_self());
                    }
                    match step {
                        Step::Axis {
                            axis, test, preds, ..
                        } => {
                            let mut st = self.step(axis, test, preds)?;
                            // `//x` is `descendant::x` when no predicate counts positions
                            // (libxml2 does the same): one walk, no list of every node.
                            let after_any = out.last().is_some_and(|l: &NStep| {
                                l.axis == Ax::DescSelf
                                    && matches!(l.test, NTest::Node)
                                    && l.preds.is_empty()
                            });
                            if after_any
                                && (k > 0 && *dslash || k == 0 && *root == Root::DoubleSlash)
                                && st.axis == Ax::Child
                                && st.preds.iter().all(not_positional)
                            {
                                out.pop();
                                st.axis = Ax::Desc;
                            }
                            out.push(st)
                        }
                        Step::Expr(x) if k == 0 && *root == Root::None => {
                            from = From::Expr(self.boxed(x)?)
                        }
                        Step::Expr(_) => return None,
                    }
                }
                N::Path(from, out)
            }
            Expr::Filter(x, preds) => N::Filter(
                self.boxed(x)?,
                preds.iter().map(|p| self.expr(p)).collect::<Option<_>>()?,
            ),
            Expr::Str(s, _) => N::Str(s.clone()),
            Expr::Num(s) => N::Num(literal_number(s)?),
            Expr::Dot => N::Path(From::Context, Vec::new()),
            Expr::Call(name, args, _) => {
                let f = match name.split_once(':') {
                    Some((p, local)) if self.uri(p).as_deref() == Some(super::plan::BANC_NS) => {
                        match (local, args.len()) {
                            ("except", 2) => F::Except,
                            ("intersect", 2) => F::Intersect,
                            ("matches", 2 | 3) => F::Matches,
                            ("replace", 3 | 4) => F::Replace,
                            ("castable", 2) => F::Castable,
                            ("if", 3) => F::If,
                            ("string-join", 1 | 2) => F::StringJoin,
                            ("seq", _) => F::Seq,
                            _ => return None,
                        }
                    }
                    Some(_) => return None,
                    None => F::of(name, args.len())?,
                };
                let args: Vec<N> = args.iter().map(|a| self.expr(a)).collect::<Option<_>>()?;
                // Only between node-sets by form: anything else is the function's to handle.
                if matches!(f, F::Except | F::Intersect) && !args.iter().all(is_nodeset) {
                    return None;
                }
                N::Call(f, args)
            }
            Expr::Var(v) => N::Var(v.clone()),
            Expr::Castable { .. }
            | Expr::Cast { .. }
            | Expr::If(..)
            | Expr::Quant { .. }
            | Expr::For { .. }
            | Expr::Seq(_) => return None,
        })
    }

    fn step(&self, axis_written: &PAxis, test: &Test, preds: &[Expr]) -> Option<NStep> {
        let axis = match axis_written {
            PAxis::Implicit => Ax::Child,
            PAxis::At => Ax::Attr,
            PAxis::DotDot => Ax::Parent,
            PAxis::Named(a) => match a.as_str() {
                "child" => Ax::Child,
                "attribute" => Ax::Attr,
                "self" => Ax::Itself,
                "parent" => Ax::Parent,
                "descendant" => Ax::Desc,
                "descendant-or-self" => Ax::DescSelf,
                "ancestor" => Ax::Anc,
                "ancestor-or-self" => Ax::AncSelf,
                "following-sibling" => Ax::FollSib,
                "preceding-sibling" => Ax::PrecSib,
                _ => return None,
            },
        };
        let test = match test {
            Test::Name(n) if n == "*" => NTest::Any,
            Test::Name(n) => match n.split_once(':') {
                Some(("*", _)) => return None,
                Some((p, "*")) => NTest::Ns(self.uri(p)?),
                Some((p, l)) => NTest::Name(Some(self.uri(p)?), l.to_string()),
                None => NTest::Name(None, n.clone()),
            },
            Test::Kind(k, args) if args.trim().is_empty() && k == "node" => NTest::Node,
            Test::Kind(k, args) if args.trim().is_empty() && k == "text" => NTest::Text,
            Test::Kind(..) => return None,
        };
        // `..` has no node test of its own.
        let test = if matches!(axis_written, PAxis::DotDot) {
            NTest::Node
        } else {
            test
        };
        let preds: Vec<N> = preds.iter().map(|p| self.expr(p)).collect::<Option<_>>()?;
        Some(NStep {
            axis,
            test,
            plain: preds.iter().all(not_positional),
            preds,
        })
    }
}

/// Whether a predicate surely keeps or drops a node whatever its position: a boolean or
/// node-set valued expression that never asks for `position()` or `last()`.
fn not_positional(p: &N) -> bool {
    fn no_position(n: &N) -> bool {
        match n {
            N::Call(F::Position | F::Last, _) => false,
            N::Call(_, a) => a.iter().all(no_position),
            N::Or(a, c) | N::And(a, c) | N::Cmp(_, a, c) | N::Arith(_, a, c) | N::Union(a, c) => {
                no_position(a) && no_position(c)
            }
            N::Neg(a) => no_position(a),
            N::Path(from, steps) => {
                (match from {
                    From::Expr(x) => no_position(x),
                    _ => true,
                }) && steps.iter().all(|s| s.preds.iter().all(no_position))
            }
            N::Filter(x, p) => no_position(x) && p.iter().all(no_position),
            N::Str(_) | N::Num(_) | N::Var(_) => true,
        }
    }
    let boolean_or_nodes = match p {
        N::Or(..) | N::And(..) | N::Cmp(..) | N::Union(..) | N::Path(..) | N::Filter(..) => true,
        N::Call(f, _) => matches!(
            f,
            F::Not
                | F::True
                | F::False
                | F::Boolean
                | F::Contains
                | F::StartsWith
                | F::Matches
                | F::Castable
        ),
        _ => false,
    };
    boolean_or_nodes && no_position(p)
}

fn desc_self() -> NStep {
    NStep {
        axis: Ax::DescSelf,
        test: NTest::Node,
        preds: Vec::new(),
        plain: true,
    }
}

const MAX_FRAC: usize = 20;

/// A number literal as `xmlXPathCompNumber` reads it.
fn literal_number(s: &str) -> Option<f64> {
    let c = s.as_bytes();
    let mut i = 0;
    let mut ret = 0.0f64;
    let mut ok = false;
    while i < c.len() && c[i].is_ascii_digit() {
        ret = ret * 10.0 + f64::from(c[i] - b'0');
        ok = true;
        i += 1;
    }
    if i < c.len() && c[i] == b'.' {
        i += 1;
        if !(ok || i < c.len() && c[i].is_ascii_digit()) {
            return None;
        }
        let (mut frac, mut fraction) = (0usize, 0.0f64);
        while i < c.len() && c[i].is_ascii_digit() && frac < MAX_FRAC {
            fraction = fraction * 10.0 + f64::from(c[i] - b'0');
            frac += 1;
            i += 1;
        }
        ret += fraction / 10f64.powi(frac as i32);
        while i < c.len() && c[i].is_ascii_digit() {
            i += 1;
        }
    }
    // An exponent or anything else: not a literal of XPath 1.0's grammar.
    (i == c.len() && (ok || s.contains('.'))).then_some(ret)
}

fn blank(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// A string converted to a number as `xmlXPathStringEvalNumber` does (its exponent included).
pub(super) fn string_number(s: &str) -> f64 {
    let c = s.as_bytes();
    let mut i = 0;
    while i < c.len() && blank(c[i]) {
        i += 1;
    }
    let at = |i: usize| c.get(i).copied().unwrap_or(0);
    if at(i) != b'.' && !at(i).is_ascii_digit() && at(i) != b'-' {
        return f64::NAN;
    }
    let mut neg = false;
    if at(i) == b'-' {
        neg = true;
        i += 1;
    }
    let mut ret = 0.0f64;
    let mut ok = false;
    while at(i).is_ascii_digit() {
        ret = ret * 10.0 + f64::from(at(i) - b'0');
        ok = true;
        i += 1;
    }
    if at(i) == b'.' {
        i += 1;
        if !at(i).is_ascii_digit() && !ok {
            return f64::NAN;
        }
        let mut frac = 0usize;
        while at(i) == b'0' {
            frac += 1;
            i += 1;
        }
        let max = frac + MAX_FRAC;
        let mut fraction = 0.0f64;
        while at(i).is_ascii_digit() && frac < max {
            fraction = fraction * 10.0 + f64::from(at(i) - b'0');
            frac += 1;
            i += 1;
        }
        ret += fraction / 10f64.powf(frac as f64);
        while at(i).is_ascii_digit() {
            i += 1;
        }
    }
    let mut exponent: i32 = 0;
    let mut exp_neg = false;
    if at(i) == b'e' || at(i) == b'E' {
        i += 1;
        if at(i) == b'-' {
            exp_neg = true;
            i += 1;
        } else if at(i) == b'+' {
            i += 1;
        }
        while at(i).is_ascii_digit() {
            if exponent < 1_000_000 {
                exponent = exponent * 10 + i32::from(at(i) - b'0');
            }
            i += 1;
        }
    }
    while i < c.len() && blank(c[i]) {
        i += 1;
    }
    if i != c.len() {
        return f64::NAN;
    }
    if neg {
        ret = -ret;
    }
    if exp_neg {
        exponent = -exponent;
    }
    ret * 10f64.powf(f64::from(exponent))
}

/// A value.
#[derive(Debug)]
enum V<'a> {
    Nodes(Vec<P>),
    Str(Cow<'a, str>),
    Num(f64),
    Bool(bool),
}

#[derive(Clone, Copy)]
struct Cx {
    node: P,
    pos: usize,
    size: usize,
}

const ELEMENT: u32 = b::xmlElementType_XML_ELEMENT_NODE;
const ATTRIBUTE: u32 = b::xmlElementType_XML_ATTRIBUTE_NODE;
const TEXT: u32 = b::xmlElementType_XML_TEXT_NODE;
const CDATA: u32 = b::xmlElementType_XML_CDATA_SECTION_NODE;
const COMMENT: u32 = b::xmlElementType_XML_COMMENT_NODE;
const DOCUMENT: u32 = b::xmlElementType_XML_DOCUMENT_NODE;

/// Node type; `None` for the types this evaluator leaves to libxml2.
///
/// # Safety
/// `n` must be a live node (or namespace struct: `type` is at the same place).
unsafe fn kind(n: P) -> Option<u32> {
    // SAFETY: caller's contract.
    let t = unsafe { (*n).type_ };
    matches!(t, ELEMENT | ATTRIBUTE | TEXT | CDATA | COMMENT | DOCUMENT).then_some(t)
}

/// The effective boolean value of `n` evaluated at `node`; `None` when libxml2 must decide.
///
/// # Safety
/// `node` must be a live node of a document that is not modified meanwhile.
pub(super) unsafe fn boolean(n: &N, node: P) -> Option<bool> {
    // SAFETY: this function's contract.
    unsafe { eval_bool(n, &Cx::at(node)?) }
}

impl Cx {
    /// The focus of an evaluation started at `node` (position 1 of 1); `None` for a node of a
    /// type left to libxml2.
    ///
    /// # Safety
    /// `node` must be a live node.
    unsafe fn at(node: P) -> Option<Cx> {
        // SAFETY: caller's contract.
        unsafe { kind(node)? };
        Some(Cx {
            node,
            pos: 1,
            size: 1,
        })
    }
}

/// Whether `n` is a node-set by its form.
fn is_nodeset(n: &N) -> bool {
    // A union compiles only between node-sets by form.
    matches!(
        n,
        N::Path(..) | N::Filter(..) | N::Union(..) | N::Call(F::Except | F::Intersect, _)
    )
}

/// The effective boolean value of `n`, stopping a path at its first node and comparing a
/// path with a plain value node by node, without building the node list.
///
/// # Safety
/// The context node is live; see [`boolean`].
unsafe fn eval_bool(n: &N, cx: &Cx) -> Option<bool> {
    // SAFETY: this function's contract, passed on.
    unsafe {
        match n {
            N::Or(a, c) => Some(eval_bool(a, cx)? || eval_bool(c, cx)?),
            N::And(a, c) => Some(eval_bool(a, cx)? && eval_bool(c, cx)?),
            N::Call(F::Not, a) => Some(!eval_bool(&a[0], cx)?),
            N::Call(F::Boolean, a) => eval_bool(&a[0], cx),
            N::Path(from, steps) => any_path(from, steps, cx, &mut |_| Some(true)),
            N::Union(a, c) => Some(eval_bool(a, cx)? || eval_bool(c, cx)?),
            N::Cmp(op, a, c) => match (&**a, &**c) {
                (N::Path(from, steps), other) if !is_nodeset(other) => match eval(other, cx)? {
                    // A variable may hold nodes.
                    V::Nodes(y) => compare(*op, eval(a, cx)?, V::Nodes(y)),
                    v => set_value(*op, v, &mut |f| any_path(from, steps, cx, f)),
                },
                (other, N::Path(from, steps)) if !is_nodeset(other) => match eval(other, cx)? {
                    V::Nodes(y) => compare(*op, V::Nodes(y), eval(c, cx)?),
                    v => set_value(flip(*op), v, &mut |f| any_path(from, steps, cx, f)),
                },
                _ => compare(*op, eval(a, cx)?, eval(c, cx)?),
            },
            _ => to_bool(eval(n, cx)?),
        }
    }
}

/// A node-set compared with a value that is not a node-set, the node-set on the left (XPath
/// 1.0 §3.4). `any` tells whether a test holds for one of its nodes (a list, or a path walked
/// until the first hit).
///
/// # Safety
/// The nodes `any` visits are live.
unsafe fn set_value(
    op: Cmp,
    v: V,
    any: &mut dyn FnMut(&mut Visit) -> Option<bool>,
) -> Option<bool> {
    // SAFETY: this function's contract, for every string value read.
    unsafe {
        let number = |n: P| Some(string_number(&string_value(n)?));
        match v {
            V::Nodes(_) => None,
            V::Bool(b) => {
                let nb = any(&mut |_| Some(true))?;
                Some(match op {
                    Cmp::Eq => nb == b,
                    Cmp::Ne => nb != b,
                    _ => cmp_num(op, f64::from(u8::from(nb)), f64::from(u8::from(b))),
                })
            }
            V::Str(s) if matches!(op, Cmp::Eq | Cmp::Ne) => {
                let eq = matches!(op, Cmp::Eq);
                any(&mut |n| Some((*string_value(n)? == *s) == eq))
            }
            V::Num(y) => any(&mut |n| Some(cmp_num(op, number(n)?, y))),
            V::Str(s) => {
                let y = string_number(&s);
                any(&mut |n| Some(cmp_num(op, number(n)?, y)))
            }
        }
    }
}

/// Whether `f` holds for a node of the path (visited in no particular order, possibly
/// twice).
///
/// # Safety
/// Live context node.
unsafe fn any_path(
    from: &From,
    steps: &[NStep],
    cx: &Cx,
    f: &mut dyn FnMut(P) -> Option<bool>,
) -> Option<bool> {
    // SAFETY: this function's contract, passed on.
    unsafe {
        match from {
            From::Context => walk(steps, cx.node, f),
            From::Root => {
                let d = (*cx.node).doc as P;
                if d.is_null() || kind(d)? != DOCUMENT {
                    return None;
                }
                walk(steps, d, f)
            }
            From::Expr(x) => {
                let V::Nodes(ns) = eval(x, cx)? else {
                    return None;
                };
                for n in ns {
                    if walk(steps, n, f)? {
                        return Some(true);
                    }
                }
                Some(false)
            }
        }
    }
}

/// # Safety
/// Live node.
unsafe fn walk(steps: &[NStep], node: P, f: &mut dyn FnMut(P) -> Option<bool>) -> Option<bool> {
    let Some((step, rest)) = steps.split_first() else {
        return f(node);
    };
    let principal = principal(step.axis);
    // SAFETY: this function's contract, passed on.
    unsafe {
        if step.plain {
            return for_axis(step.axis, node, &mut |c| {
                if !matches(&step.test, c, principal)? {
                    return Some(false);
                }
                let cx = Cx {
                    node: c,
                    pos: 1,
                    size: 1,
                };
                for p in &step.preds {
                    if !eval_bool(p, &cx)? {
                        return Some(false);
                    }
                }
                walk(rest, c, f)
            });
        }
        for c in step_nodes(step, node)? {
            if walk(rest, c, f)? {
                return Some(true);
            }
        }
        Some(false)
    }
}

/// `f` on the nodes of `axis` from `n` until it returns true (then `Some(true)`).
///
/// # Safety
/// `n` must be a live node of a supported kind.
unsafe fn for_axis(axis: Ax, n: P, f: &mut dyn FnMut(P) -> Option<bool>) -> Option<bool> {
    // SAFETY: caller's contract; links of a tree only read.
    unsafe {
        let k = kind(n)?;
        match axis {
            Ax::Itself => f(n),
            Ax::Child => {
                if k == ELEMENT || k == DOCUMENT {
                    let mut c = (*n).children;
                    while !c.is_null() {
                        kind(c)?;
                        if f(c)? {
                            return Some(true);
                        }
                        c = (*c).next;
                    }
                }
                Some(false)
            }
            Ax::Attr => {
                if k == ELEMENT {
                    let mut a = (*n).properties as P;
                    while !a.is_null() {
                        if f(a)? {
                            return Some(true);
                        }
                        a = (*a).next;
                    }
                }
                Some(false)
            }
            Ax::Desc | Ax::DescSelf => {
                if axis == Ax::DescSelf && f(n)? {
                    return Some(true);
                }
                if k == ELEMENT || k == DOCUMENT {
                    return descend(n, f);
                }
                Some(false)
            }
            Ax::Parent => {
                let p = (*n).parent;
                if k == DOCUMENT || p.is_null() {
                    return Some(false);
                }
                kind(p)?;
                f(p)
            }
            Ax::Anc | Ax::AncSelf => {
                if axis == Ax::AncSelf && f(n)? {
                    return Some(true);
                }
                let mut p = if k == DOCUMENT {
                    std::ptr::null_mut()
                } else {
                    (*n).parent
                };
                while !p.is_null() {
                    let pk = kind(p)?;
                    if f(p)? {
                        return Some(true);
                    }
                    p = if pk == DOCUMENT {
                        std::ptr::null_mut()
                    } else {
                        (*p).parent
                    };
                }
                Some(false)
            }
            Ax::FollSib | Ax::PrecSib => {
                if k == ATTRIBUTE || k == DOCUMENT {
                    return Some(false);
                }
                let next = |s: P| {
                    if axis == Ax::FollSib {
                        (*s).next
                    } else {
                        (*s).prev
                    }
                };
                let mut s = next(n);
                while !s.is_null() {
                    kind(s)?;
                    if f(s)? {
                        return Some(true);
                    }
                    s = next(s);
                }
                Some(false)
            }
        }
    }
}

/// # Safety
/// `n` must be a live element or document node.
unsafe fn descend(n: P, f: &mut dyn FnMut(P) -> Option<bool>) -> Option<bool> {
    // SAFETY: caller's contract.
    unsafe {
        let mut c = (*n).children;
        while !c.is_null() {
            let k = kind(c)?;
            if f(c)? || k == ELEMENT && descend(c, f)? {
                return Some(true);
            }
            c = (*c).next;
        }
        Some(false)
    }
}

/// The nodes `n` selects from `node`, in document order; `None` when libxml2 must decide
/// (the value is not a node-set, or something unusual was met).
///
/// # Safety
/// As [`boolean`].
pub(super) unsafe fn nodes(n: &N, node: P) -> Option<Vec<P>> {
    // SAFETY: this function's contract.
    unsafe {
        match eval(n, &Cx::at(node)?)? {
            V::Nodes(v) => Some(v),
            _ => None,
        }
    }
}

fn to_bool(v: V) -> Option<bool> {
    Some(match v {
        V::Nodes(ns) => !ns.is_empty(),
        V::Str(s) => !s.is_empty(),
        V::Num(x) => x != 0.0 && !x.is_nan(),
        V::Bool(x) => x,
    })
}

/// The node's string value.
///
/// # Safety
/// `n` must be a live node of a supported kind.
unsafe fn string_value<'a>(n: P) -> Option<Cow<'a, str>> {
    // SAFETY: caller's contract; the tree is only read.
    unsafe {
        match kind(n)? {
            TEXT | CDATA | COMMENT => content(n).map(Cow::Borrowed),
            ATTRIBUTE => {
                let c = (*n).children;
                // One text child, the usual case: borrowed from the tree.
                if !c.is_null() && (*c).next.is_null() && (*c).type_ == TEXT {
                    return content(c).map(Cow::Borrowed);
                }
                let mut out = String::new();
                let mut c = (*n).children;
                while !c.is_null() {
                    if (*c).type_ != TEXT {
                        return None;
                    }
                    out.push_str(content(c)?);
                    c = (*c).next;
                }
                Some(Cow::Owned(out))
            }
            _ => {
                let c = (*n).children;
                if c.is_null() {
                    return Some(Cow::Borrowed(""));
                }
                if (*c).next.is_null() && matches!((*c).type_, TEXT | CDATA) {
                    return content(c).map(Cow::Borrowed);
                }
                let mut out = String::new();
                descendant_text(n, &mut out)?;
                Some(Cow::Owned(out))
            }
        }
    }
}

/// # Safety
/// `n` must be a live element or document node.
unsafe fn descendant_text(n: P, out: &mut String) -> Option<()> {
    // SAFETY: caller's contract.
    unsafe {
        let mut c = (*n).children;
        while !c.is_null() {
            match kind(c)? {
                TEXT | CDATA => out.push_str(content(c)?),
                ELEMENT => descendant_text(c, out)?,
                COMMENT => {}
                _ => return None,
            }
            c = (*c).next;
        }
        Some(())
    }
}

/// # Safety
/// `n` must be a live text-like node.
unsafe fn content<'a>(n: P) -> Option<&'a str> {
    // SAFETY: caller's contract: content is null or a NUL-terminated string of the tree.
    unsafe {
        let c = (*n).content;
        if c.is_null() {
            return Some("");
        }
        CStr::from_ptr(c as *const c_char).to_str().ok()
    }
}

/// # Safety
/// `p` is null or a NUL-terminated string.
unsafe fn cstr<'a>(p: *const u8) -> Option<&'a str> {
    if p.is_null() {
        return Some("");
    }
    // SAFETY: caller's contract.
    unsafe { CStr::from_ptr(p as *const c_char) }.to_str().ok()
}

/// (namespace URI, local name, prefix) of an element or attribute.
///
/// # Safety
/// `n` must be a live element or attribute.
unsafe fn names<'a>(n: P) -> Option<(&'a str, &'a str, &'a str)> {
    // SAFETY: caller's contract; `ns` is at the same place in attributes and elements.
    unsafe {
        let ns = (*n).ns;
        let (uri, prefix) = if ns.is_null() {
            ("", "")
        } else {
            (cstr((*ns).href)?, cstr((*ns).prefix)?)
        };
        Some((uri, cstr((*n).name)?, prefix))
    }
}

/// Whether the NUL-terminated string at `p` (null: empty) is `s`, without measuring it first.
///
/// # Safety
/// `p` is null or a NUL-terminated string.
unsafe fn c_eq(p: *const u8, s: &str) -> bool {
    if p.is_null() {
        return s.is_empty();
    }
    let s = s.as_bytes();
    // SAFETY: caller's contract; reading stops at the first differing byte or at the NUL.
    unsafe {
        for (i, &c) in s.iter().enumerate() {
            if *p.add(i) != c {
                return false;
            }
        }
        *p.add(s.len()) == 0
    }
}

/// # Safety
/// `n` must be a live element or attribute.
unsafe fn ns_is(n: P, uri: Option<&str>) -> bool {
    // SAFETY: caller's contract; `ns` is at the same place in attributes and elements.
    unsafe {
        let ns = (*n).ns;
        match uri {
            None => ns.is_null(),
            Some(u) => !ns.is_null() && c_eq((*ns).href, u),
        }
    }
}

/// # Safety
/// `n` must be a live node of a supported kind.
unsafe fn matches(t: &NTest, n: P, principal: u32) -> Option<bool> {
    // SAFETY: caller's contract.
    unsafe {
        let k = kind(n)?;
        Some(match t {
            NTest::Node => true,
            NTest::Text => k == TEXT || k == CDATA,
            NTest::Any => k == principal,
            NTest::Ns(u) => k == principal && ns_is(n, Some(u)),
            NTest::Name(u, l) => k == principal && c_eq((*n).name, l) && ns_is(n, u.as_deref()),
        })
    }
}

/// # Safety
/// Both must be live nodes of one document.
unsafe fn doc_order(a: P, c: P) -> Ordering {
    // SAFETY: caller's contract. xmlXPathCmpNodes: 1 when a precedes c.
    match unsafe { b::xmlXPathCmpNodes(a, c) } {
        1 => Ordering::Less,
        -1 => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

/// Sorts in document order and removes duplicates.
///
/// # Safety
/// Live nodes of one document.
unsafe fn normalize(v: &mut Vec<P>) {
    if v.len() > 1 {
        // SAFETY: caller's contract.
        v.sort_by(|a, c| unsafe { doc_order(*a, *c) });
        v.dedup();
    }
}

/// # Safety
/// `n`'s depth in its tree (live node).
unsafe fn depth(mut n: P) -> usize {
    let mut d = 0;
    // SAFETY: caller's contract; parent links up to the document.
    unsafe {
        while !n.is_null() && (*n).type_ != DOCUMENT {
            n = (*n).parent;
            d += 1;
        }
    }
    d
}

/// # Safety
/// The context node is live; see [`boolean`].
unsafe fn eval<'a>(n: &'a N, cx: &Cx) -> Option<V<'a>> {
    // SAFETY: this function's contract, passed on.
    unsafe {
        Some(match n {
            N::Or(..) | N::And(..) | N::Cmp(..) => V::Bool(eval_bool(n, cx)?),
            N::Arith(op, a, c) => {
                let (x, y) = (to_number(eval(a, cx)?)?, to_number(eval(c, cx)?)?);
                V::Num(match op {
                    Arith::Add => x + y,
                    Arith::Sub => x - y,
                    Arith::Mul => x * y,
                    Arith::Div => x / y,
                    Arith::Mod => x % y,
                })
            }
            N::Neg(a) => V::Num(-to_number(eval(a, cx)?)?),
            N::Union(a, c) => {
                let (V::Nodes(mut x), V::Nodes(y)) = (eval(a, cx)?, eval(c, cx)?) else {
                    return None;
                };
                x.extend(y);
                normalize(&mut x);
                V::Nodes(x)
            }
            N::Path(from, steps) => {
                let start = match from {
                    From::Context => vec![cx.node],
                    From::Root => {
                        let d = (*cx.node).doc as P;
                        if d.is_null() || kind(d)? != DOCUMENT {
                            return None;
                        }
                        vec![d]
                    }
                    From::Expr(x) => match eval(x, cx)? {
                        V::Nodes(ns) => ns,
                        _ => return None,
                    },
                };
                V::Nodes(path(start, steps)?)
            }
            N::Filter(x, preds) => {
                let V::Nodes(ns) = eval(x, cx)? else {
                    return None;
                };
                V::Nodes(filter(ns, preds)?)
            }
            N::Str(s) => V::Str(Cow::Borrowed(s)),
            N::Num(x) => V::Num(*x),
            N::Call(f, args) => call(*f, args, cx)?,
            N::Var(name) => var(name)?,
        })
    }
}

/// Predicates applied in turn, positions counted in the list's order.
///
/// # Safety
/// Live nodes.
unsafe fn filter(mut ns: Vec<P>, preds: &[N]) -> Option<Vec<P>> {
    for p in preds {
        let size = ns.len();
        let mut kept = Vec::with_capacity(size);
        for (i, &node) in ns.iter().enumerate() {
            let cx = Cx {
                node,
                pos: i + 1,
                size,
            };
            // SAFETY: node is live (caller's contract).
            let keep = match unsafe { eval(p, &cx) }? {
                V::Num(x) => x == (i + 1) as f64,
                v => to_bool(v)?,
            };
            if keep {
                kept.push(node);
            }
        }
        ns = kept;
    }
    Some(ns)
}

/// The nodes one step selects from `node`, in the axis's order (positions count along it).
///
/// # Safety
/// Live node.
unsafe fn step_nodes(step: &NStep, node: P) -> Option<Vec<P>> {
    // SAFETY: this function's contract.
    unsafe {
        let principal = principal(step.axis);
        let mut hits = Vec::new();
        for_axis(step.axis, node, &mut |c| {
            if matches(&step.test, c, principal)? {
                hits.push(c);
            }
            Some(false)
        })?;
        filter(hits, &step.preds)
    }
}

/// The node type a name test selects on `axis`.
fn principal(axis: Ax) -> u32 {
    if axis == Ax::Attr { ATTRIBUTE } else { ELEMENT }
}

/// # Safety
/// Live nodes of one document, in document order without duplicates.
unsafe fn path(mut set: Vec<P>, steps: &[NStep]) -> Option<Vec<P>> {
    for step in steps {
        // SAFETY: this function's contract, passed on.
        set = unsafe { next_set(&set, step) }?;
    }
    Some(set)
}

/// The nodes `step` selects from the nodes of `set`, in document order, once each.
///
/// # Safety
/// As [`path`].
unsafe fn next_set(set: &[P], step: &NStep) -> Option<Vec<P>> {
    // SAFETY: this function's contract, passed on.
    unsafe {
        let mut out = Vec::new();
        for &node in set {
            let mut hits = step_nodes(step, node)?;
            if step.axis.reverse() {
                hits.reverse();
            }
            out.extend(hits);
        }
        // Children, attributes or self of nodes that do not contain one another come out in
        // document order, once each; anything else is sorted.
        let ordered = set.len() <= 1 && !matches!(step.axis, Ax::Anc | Ax::AncSelf)
            || matches!(step.axis, Ax::Child | Ax::Attr | Ax::Itself) && {
                let d = depth(set[0]);
                set.iter().all(|&s| depth(s) == d)
            };
        if !ordered {
            normalize(&mut out);
        }
        Some(out)
    }
}

/// The rule-context paths of a plan as a tree of their leading steps. Structuration
/// minimale's 765 contexts all start `self::hl7:ClinicalDocument[…]/…` and descend through the
/// same few dozen elements: evaluated one by one, they walked the document from the top 765
/// times (about 3.5 ms of a CR-BIO's 8). Each prefix is evaluated once per start node here;
/// a path is evaluated step by step on node sets, so a prefix's nodes are the same whichever
/// path reaches them.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Prefixes {
    /// Per prefix: the prefix it extends (`None` for a first step) and where its last step
    /// is written (expression, step).
    nodes: Vec<(Option<u32>, usize, usize)>,
    /// The prefix that is the whole path, by expression.
    whole: rustc_hash::FxHashMap<usize, u32>,
}

/// Node sets of prefixes already evaluated, by (start node, prefix); `None` when libxml2
/// must decide.
pub(super) type PrefixMemo = rustc_hash::FxHashMap<(usize, u32), Option<std::rc::Rc<[P]>>>;

impl Prefixes {
    /// The tree of the paths among `exprs` that start at the context node (others are left
    /// out and evaluated as before); `native` gives an expression's compiled form.
    pub(super) fn build<'a>(
        exprs: impl IntoIterator<Item = usize>,
        native: impl Fn(usize) -> Option<&'a N>,
    ) -> Prefixes {
        let mut out = Prefixes::default();
        let mut children: rustc_hash::FxHashMap<Option<u32>, Vec<u32>> = Default::default();
        for e in exprs {
            if out.whole.contains_key(&e) {
                continue;
            }
            let Some(N::Path(From::Context, steps)) = native(e) else {
                continue;
            };
            if steps.is_empty() {
                continue;
            }
            let mut at: Option<u32> = None;
            for (k, step) in steps.iter().enumerate() {
                let kids = children.entry(at).or_default();
                let same = kids.iter().copied().find(|&t| {
                    let (_, e2, k2) = out.nodes[t as usize];
                    matches!(native(e2), Some(N::Path(_, s2)) if s2[k2] == *step)
                });
                let t = match same {
                    Some(t) => t,
                    None => {
                        let t = out.nodes.len() as u32;
                        out.nodes.push((at, e, k));
                        kids.push(t);
                        t
                    }
                };
                at = Some(t);
            }
            if let Some(t) = at {
                out.whole.insert(e, t);
            }
        }
        out
    }

    /// The prefix that is the whole of expression `e`, when it is in the tree.
    pub(super) fn whole(&self, e: usize) -> Option<u32> {
        self.whole.get(&e).copied()
    }

    /// The nodes prefix `t` selects from `start`, in document order; `None` when libxml2 must
    /// decide.
    ///
    /// # Safety
    /// `start` must be a live node of a document that is not modified meanwhile, and the nodes
    /// in `memo` nodes of that document.
    pub(super) unsafe fn nodes<'a>(
        &self,
        t: u32,
        start: P,
        memo: &mut PrefixMemo,
        native: &impl Fn(usize) -> Option<&'a N>,
    ) -> Option<std::rc::Rc<[P]>> {
        if let Some(v) = memo.get(&(start as usize, t)) {
            return v.clone();
        }
        let (up, e, k) = self.nodes[t as usize];
        // SAFETY: this function's contract, passed on.
        let value = unsafe {
            let set = match up {
                Some(u) => self.nodes(u, start, memo, native),
                None => kind(start).map(|_| std::rc::Rc::from([start])),
            };
            match (set, native(e)) {
                (Some(set), Some(N::Path(_, steps))) => {
                    next_set(&set, &steps[k]).map(std::rc::Rc::from)
                }
                _ => None,
            }
        };
        memo.insert((start as usize, t), value.clone());
        value
    }
}

/// The string of a value (`string()`); `None` for a number that is not a small integer, whose
/// printing is left to libxml2.
///
/// # Safety
/// Live nodes.
unsafe fn to_string<'a>(v: V<'a>) -> Option<Cow<'a, str>> {
    Some(match v {
        V::Nodes(ns) => match ns.first() {
            // SAFETY: caller's contract.
            Some(&n) => unsafe { string_value(n)? },
            None => Cow::Borrowed(""),
        },
        V::Str(s) => s,
        V::Bool(x) => Cow::Borrowed(if x { "true" } else { "false" }),
        V::Num(x) => Cow::Owned(number_string(x)?),
    })
}

fn number_string(x: f64) -> Option<String> {
    if x.is_nan() {
        Some("NaN".into())
    } else if x.is_infinite() {
        Some(if x > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else if x == x.trunc() && x.abs() < 1e9 {
        Some(format!("{}", x as i64))
    } else {
        None
    }
}

/// # Safety
/// Live nodes.
unsafe fn to_number(v: V) -> Option<f64> {
    Some(match v {
        V::Num(x) => x,
        V::Bool(x) => f64::from(u8::from(x)),
        // SAFETY: caller's contract.
        v => string_number(&unsafe { to_string(v) }?),
    })
}

fn cmp_num(op: Cmp, x: f64, y: f64) -> bool {
    match op {
        Cmp::Eq => x == y,
        Cmp::Ne => x != y,
        Cmp::Lt => x < y,
        Cmp::Le => x <= y,
        Cmp::Gt => x > y,
        Cmp::Ge => x >= y,
    }
}

fn flip(op: Cmp) -> Cmp {
    match op {
        Cmp::Lt => Cmp::Gt,
        Cmp::Le => Cmp::Ge,
        Cmp::Gt => Cmp::Lt,
        Cmp::Ge => Cmp::Le,
        o => o,
    }
}

/// XPath 1.0 comparison (§3.4).
///
/// # Safety
/// Live nodes.
unsafe fn compare(op: Cmp, a: V, c: V) -> Option<bool> {
    let eq = matches!(op, Cmp::Eq | Cmp::Ne);
    // SAFETY: caller's contract, for every string value read below.
    unsafe {
        match (a, c) {
            (V::Nodes(x), V::Nodes(y)) => {
                if x.is_empty() || y.is_empty() {
                    return Some(false);
                }
                let ys = y
                    .iter()
                    .map(|&n| string_value(n))
                    .collect::<Option<Vec<_>>>()?;
                for &n in &x {
                    let s = string_value(n)?;
                    for t in &ys {
                        let hit = if eq {
                            (s == *t) == matches!(op, Cmp::Eq)
                        } else {
                            cmp_num(op, string_number(&s), string_number(t))
                        };
                        if hit {
                            return Some(true);
                        }
                    }
                }
                Some(false)
            }
            (V::Nodes(x), v) => nodes_value(op, &x, v),
            (v, V::Nodes(y)) => nodes_value(flip(op), &y, v),
            (a, c) => Some(if eq {
                let is_eq = match (a, c) {
                    (V::Bool(x), v) | (v, V::Bool(x)) => x == to_bool(v)?,
                    (V::Num(x), v) | (v, V::Num(x)) => x == to_number(v)?,
                    (a, c) => to_string(a)? == to_string(c)?,
                };
                is_eq == matches!(op, Cmp::Eq)
            } else {
                cmp_num(op, to_number(a)?, to_number(c)?)
            }),
        }
    }
}

/// # Safety
/// Live nodes.
unsafe fn nodes_value(op: Cmp, x: &[P], v: V) -> Option<bool> {
    // SAFETY: caller's contract.
    unsafe {
        set_value(op, v, &mut |f| {
            for &n in x {
                if f(n)? {
                    return Some(true);
                }
            }
            Some(false)
        })
    }
}

fn normalize_space(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split(|c: char| c.is_ascii() && blank(c as u8)) {
        if !w.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(w);
        }
    }
    out
}

/// # Safety
/// Live nodes.
unsafe fn call<'a>(f: F, args: &'a [N], cx: &Cx) -> Option<V<'a>> {
    // SAFETY: this function's contract, passed on.
    unsafe {
        let arg = |k: usize| eval(&args[k], cx);
        let s = |k: usize| to_string(arg(k)?);
        // The context node, or the first node of the argument.
        let node_arg = || -> Option<Option<P>> {
            if args.is_empty() {
                return Some(Some(cx.node));
            }
            match arg(0)? {
                V::Nodes(ns) => Some(ns.first().copied()),
                _ => None,
            }
        };
        Some(match f {
            F::Not => V::Bool(!eval_bool(&args[0], cx)?),
            F::Except | F::Intersect => {
                let (V::Nodes(a), V::Nodes(other)) = (arg(0)?, arg(1)?) else {
                    return None;
                };
                let keep = f == F::Intersect;
                V::Nodes(
                    a.into_iter()
                        .filter(|n| other.contains(n) == keep)
                        .collect(),
                )
            }
            F::True => V::Bool(true),
            F::False => V::Bool(false),
            F::Boolean => V::Bool(to_bool(arg(0)?)?),
            F::Count => match arg(0)? {
                V::Nodes(ns) => V::Num(ns.len() as f64),
                _ => return None,
            },
            F::String => V::Str(if args.is_empty() {
                string_value(cx.node)?
            } else {
                s(0)?
            }),
            F::StringLength => V::Num(
                (if args.is_empty() {
                    string_value(cx.node)?
                } else {
                    s(0)?
                })
                .chars()
                .count() as f64,
            ),
            F::NormalizeSpace => V::Str(Cow::Owned(normalize_space(&if args.is_empty() {
                string_value(cx.node)?
            } else {
                s(0)?
            }))),
            F::Concat => {
                let mut out = String::new();
                for k in 0..args.len() {
                    out.push_str(&s(k)?);
                }
                V::Str(Cow::Owned(out))
            }
            F::Contains => V::Bool(s(0)?.contains(&*s(1)?)),
            F::StartsWith => V::Bool(s(0)?.starts_with(&*s(1)?)),
            F::SubstringBefore => {
                let (a, c) = (s(0)?, s(1)?);
                V::Str(Cow::Owned(
                    a.split_once(&*c)
                        .map_or(String::new(), |(x, _)| x.to_string()),
                ))
            }
            F::SubstringAfter => {
                let (a, c) = (s(0)?, s(1)?);
                V::Str(Cow::Owned(
                    a.split_once(&*c)
                        .map_or(String::new(), |(_, y)| y.to_string()),
                ))
            }
            F::Translate => {
                let (a, from, to) = (s(0)?, s(1)?, s(2)?);
                let from: Vec<char> = from.chars().collect();
                let to: Vec<char> = to.chars().collect();
                V::Str(
                    a.chars()
                        .filter_map(|ch| match from.iter().position(|&x| x == ch) {
                            Some(i) => to.get(i).copied(),
                            None => Some(ch),
                        })
                        .collect(),
                )
            }
            F::LocalName | F::Name | F::NamespaceUri => {
                let Some(n) = node_arg()? else {
                    return Some(V::Str(Cow::Borrowed("")));
                };
                match kind(n)? {
                    ELEMENT | ATTRIBUTE => {
                        let (uri, local, prefix) = names(n)?;
                        V::Str(match f {
                            F::LocalName => Cow::Borrowed(local),
                            F::NamespaceUri => Cow::Borrowed(uri),
                            _ if prefix.is_empty() => Cow::Borrowed(local),
                            _ => Cow::Owned(format!("{prefix}:{local}")),
                        })
                    }
                    _ => V::Str(Cow::Borrowed("")),
                }
            }
            F::Number => V::Num(if args.is_empty() {
                string_number(&string_value(cx.node)?)
            } else {
                to_number(arg(0)?)?
            }),
            F::Position => V::Num(cx.pos as f64),
            F::Last => V::Num(cx.size as f64),
            F::Substring => {
                let text = s(0)?;
                let whole =
                    |x: f64| (x.fract() == 0.0 && (0.0..1e9).contains(&x)).then_some(x as usize);
                let start = whole(to_number(arg(1)?)?).filter(|&k| k >= 1)?;
                let len = match args.len() {
                    3 => Some(whole(to_number(arg(2)?)?)?),
                    _ => None,
                };
                let chars = text.chars().skip(start - 1);
                V::Str(Cow::Owned(match len {
                    Some(l) => chars.take(l).collect(),
                    None => chars.collect(),
                }))
            }
            F::Matches | F::Replace => {
                let at = if f == F::Matches { 2 } else { 3 };
                let flags = if args.len() > at {
                    s(at)?
                } else {
                    Cow::Borrowed("")
                };
                let (input, pattern) = (s(0)?, s(1)?);
                let rx = super::functions::regex_cached(&pattern, &flags);
                let rx = rx.as_ref().as_ref().ok()?;
                if f == F::Matches {
                    V::Bool(super::xpath2::matches(&input, rx))
                } else {
                    V::Str(Cow::Owned(super::xpath2::replace(&input, rx, &s(2)?).ok()?))
                }
            }
            F::Castable => {
                let v = arg(0)?;
                let items = match &v {
                    V::Nodes(ns) => ns.len(),
                    _ => 1,
                };
                let ty = s(1)?;
                V::Bool(super::functions::castable(items, &to_string(v)?, &ty).ok()?)
            }
            // Every argument is evaluated, as the function receives them.
            F::If => {
                let (c, a, b) = (to_bool(arg(0)?)?, arg(1)?, arg(2)?);
                if c { a } else { b }
            }
            F::StringJoin => {
                let sep = match args.len() {
                    2 => s(1)?,
                    _ => Cow::Borrowed(""),
                };
                let mut items: Vec<Cow<str>> = Vec::new();
                // `banc:seq(…)` joined: its items without building the sequence.
                let parts: &[N] = match &args[0] {
                    N::Call(F::Seq, items) => items,
                    one => std::slice::from_ref(one),
                };
                let flatten = matches!(&args[0], N::Call(F::Seq, _));
                // A node is an item once in a sequence, as in the function's node-set.
                let mut seen: Vec<P> = Vec::new();
                for p in parts {
                    match eval(p, cx)? {
                        V::Nodes(ns) => {
                            for n in ns {
                                if flatten && seen.contains(&n) {
                                    continue;
                                }
                                seen.push(n);
                                items.push(Cow::Owned(string_value(n)?.into_owned()));
                            }
                        }
                        v if flatten => items.push(to_string(v)?),
                        // One value that is not a sequence: its string.
                        v => return Some(V::Str(Cow::Owned(to_string(v)?.into_owned()))),
                    }
                }
                V::Str(Cow::Owned(items.join(&sep)))
            }
            // Only a sequence of nodes: atomic items would need nodes of their own.
            F::Seq => {
                let mut out: Vec<P> = Vec::new();
                for a in args {
                    let V::Nodes(ns) = eval(a, cx)? else {
                        return None;
                    };
                    for n in ns {
                        if !out.contains(&n) {
                            out.push(n);
                        }
                    }
                }
                V::Nodes(out)
            }
        })
    }
}

/// A variable's value as the run holds it.
#[derive(Debug, PartialEq)]
pub(super) enum Value {
    Nodes(Vec<P>),
    Str(String),
    Num(f64),
    Bool(bool),
}

/// Where an evaluation reads its variables: `None` leaves the expression to libxml2 (an
/// unknown or failed variable, a value of another type).
pub(super) type Vars<'a> = dyn Fn(&str) -> Option<Value> + 'a;

thread_local! {
    static VARS: std::cell::Cell<Option<*const Vars<'static>>> = const { std::cell::Cell::new(None) };
}

/// `f` with `vars` answering the variables of the expressions it evaluates on this thread.
pub(super) fn with_vars<T>(vars: &Vars<'_>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<*const Vars<'static>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            VARS.set(self.0);
        }
    }
    // SAFETY: only the lifetime is erased; the pointer is read by `var` while `f` runs and
    // the previous one is put back (even on unwind) before `vars` can go.
    let erased: *const Vars<'static> = unsafe { std::mem::transmute(vars as *const Vars<'_>) };
    let _restore = Restore(VARS.replace(Some(erased)));
    f()
}

fn var(name: &str) -> Option<V<'static>> {
    // SAFETY: set by `with_vars`, whose `vars` outlives this call.
    let vars = unsafe { &*VARS.get()? };
    Some(match vars(name)? {
        Value::Nodes(ns) => {
            for &n in &ns {
                // SAFETY: the run's nodes are live while it evaluates.
                unsafe { kind(n)? };
            }
            V::Nodes(ns)
        }
        Value::Str(x) => V::Str(Cow::Owned(x)),
        Value::Num(x) => V::Num(x),
        Value::Bool(x) => V::Bool(x),
    })
}

/// The value of `n` at `node` (a let's), with the variables of [`with_vars`].
///
/// # Safety
/// As [`boolean`].
pub(super) unsafe fn value(n: &N, node: P) -> Option<Value> {
    // SAFETY: this function's contract.
    unsafe {
        Some(match eval(n, &Cx::at(node)?)? {
            V::Nodes(ns) => Value::Nodes(ns),
            V::Str(x) => Value::Str(x.into_owned()),
            V::Num(x) => Value::Num(x),
            V::Bool(x) => Value::Bool(x),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_as_libxml2_reads_them() {
        assert_eq!(string_number(" 12 "), 12.0);
        assert_eq!(string_number("-1.5"), -1.5);
        assert_eq!(string_number(".5"), 0.5);
        assert_eq!(string_number("1e3"), 1000.0);
        assert!(string_number("").is_nan());
        assert!(string_number("1,5").is_nan());
        assert!(string_number("+1").is_nan());
        assert!(string_number(".").is_nan());
        assert_eq!(literal_number("007"), Some(7.0));
        assert_eq!(literal_number("2.50"), Some(2.5));
    }

    #[test]
    fn normalize_space_uses_xml_blanks_only() {
        assert_eq!(normalize_space("  a \t b\n"), "a b");
        assert_eq!(normalize_space("a\u{a0}b"), "a\u{a0}b");
    }

    /// Every expression, evaluated by banc and by libxml2 from the root element of a small
    /// document with CDATA, comments, processing instructions, namespaces and numbers: the
    /// same boolean, and for node-sets the same nodes.
    #[test]
    fn reads_as_libxml2_on_unusual_content() {
        use crate::xml::ffi;
        let xml = r#"<?xml version="1.0"?>
<r xmlns="urn:hl7-org:v3" xmlns:x="urn:hl7-org:sdtc" n="2.50" e="1e2">
  <a k="1"><![CDATA[ab]]></a><!-- c --><a k="2">a<![CDATA[b]]>  c </a>
  <b x:t="v">  un   deux  <?p data?></b>
  <x:c>-</x:c><d/><d>0</d><e> 3.0 </e>
</r>"#;
        let parsed = ffi::parse(xml.as_bytes(), "t.xml");
        let doc = parsed.doc.expect("parses");
        let root = doc.root().expect("root");
        let xp = ffi::XPath::new(&doc);
        let ns: Vec<(String, String)> = [("cda", "urn:hl7-org:v3"), ("sdtc", "urn:hl7-org:sdtc")]
            .iter()
            .map(|(p, u)| (p.to_string(), u.to_string()))
            .collect();
        let exprs = [
            "cda:a = 'ab'",
            "cda:a[2] = 'ab  c '",
            "normalize-space(cda:a[2]) = 'ab c'",
            "cda:a/text() = 'ab'",
            "count(cda:a/text()) = 3",
            "string-length(cda:a[1]) = 2",
            "cda:a[@k = 2] and not(cda:a[@k = 3])",
            "cda:a[last()]/@k = 2",
            "cda:a[position() = 1]/@k = 1",
            "count(node()) > 5",
            "count(*) = 7",
            "normalize-space(cda:b) = 'un deux'",
            "cda:b/@sdtc:t = 'v'",
            "name(sdtc:c) = 'x:c' and local-name(sdtc:c) = 'c'",
            "namespace-uri(cda:b) = 'urn:hl7-org:v3'",
            "sdtc:c = '-' and number(sdtc:c) != number(sdtc:c)",
            "@n = 2.5 and @n > 2 and @n < '3'",
            "@e = 100",
            "cda:e = 3 and cda:e >= 3",
            "cda:d = 0 and cda:d = ''",
            "cda:d[2] = 0 and not(cda:d[1] = 0)",
            "count(//cda:d) = 2 and count(descendant::*) = 7",
            "cda:d[1]/following-sibling::*[1][self::cda:d]",
            "cda:e/preceding-sibling::*[2][self::cda:d]",
            "cda:b/ancestor::cda:r and not(cda:b/ancestor::cda:b)",
            "(cda:a | cda:b)[3][self::cda:b]",
            "contains(cda:b, 'deux') and starts-with(normalize-space(cda:b), 'un')",
            "substring-before(@n, '.') = '2' and substring-after(@n, '.') = '50'",
            "translate(@n, '.05', ',') = '2,'",
            "concat(@k, 'x', count(cda:a)) = 'x2'",
            "boolean(cda:zz) = false() and not(cda:zz = cda:zz) and not(cda:zz != 'a')",
            "cda:a != cda:b and cda:a/@k != 1",
            "-(@n) = -2.5 and @n * 2 = 5 and 7 mod 3 = 1 and 1 div 0 > 1000",
            "../cda:r or /cda:r",
            "cda:a[.='ab']/@k = 1",
        ];
        let mut decided = 0;
        for e in exprs {
            let n = compile(e, &ns).unwrap_or_else(|| panic!("compiles: {e}"));
            let lib = xp.boolean(e, root).expect(e);
            // SAFETY: the root of a live document, not modified meanwhile.
            if let Some(ours) = unsafe { boolean(&n, root.raw()) } {
                assert_eq!(ours, lib, "{e}");
                decided += 1;
            }
        }
        // Left to libxml2: the four that meet <b>'s processing instruction (its string value,
        // a descent through it).
        assert_eq!(decided, exprs.len() - 4);
        for e in [
            "cda:a",
            "cda:a | cda:b",
            "cda:a/text()",
            "cda:d[2] | cda:a[1]",
            "cda:d/..",
            "cda:e/preceding-sibling::*",
        ] {
            let n = compile(e, &ns).expect(e);
            let lib: Vec<usize> = xp
                .select(e, root)
                .expect(e)
                .iter()
                .map(|n| n.addr())
                .collect();
            // SAFETY: as above.
            let ours: Vec<usize> = unsafe { nodes(&n, root.raw()) }
                .expect(e)
                .into_iter()
                .map(|p| p as usize)
                .collect();
            assert_eq!(ours, lib, "{e}");
        }
    }

    /// Paths that share leading steps share their prefixes in the tree, and each path's nodes
    /// through the tree are those it selects alone, from every start node.
    #[test]
    fn shared_prefixes_select_what_each_path_selects() {
        use crate::xml::ffi;
        let xml = r#"<r xmlns="urn:hl7-org:v3"><s><a k="1"><b/><c/></a><a k="2"><b/></a></s><s><a><c/></a></s></r>"#;
        let parsed = ffi::parse(xml.as_bytes(), "t.xml");
        let doc = parsed.doc.expect("parses");
        let root = doc.root().expect("root");
        let ns = vec![("h".to_string(), "urn:hl7-org:v3".to_string())];
        let paths = [
            "self::h:r/h:s/h:a/h:b",
            "self::h:r/h:s/h:a/h:c",
            "self::h:r/h:s/h:a[@k = 2]/h:b",
            "self::h:r/h:s/h:a[1]/*",
            "self::h:r/h:s/h:a/h:b/..",
            "self::h:r/h:s",
            "h:s/h:a",
            "h:zz | h:s",
        ];
        let compiled: Vec<N> = paths.iter().map(|e| compile(e, &ns).expect(e)).collect();
        let tree = Prefixes::build(0..paths.len(), |e| compiled.get(e));
        // r, s, a, b, c, a[@k=2], b, a[1], *, b/.. (the b under a is shared), s/a apart;
        // the union is not a path.
        assert_eq!(tree.nodes.len(), 12, "{:?}", tree.nodes);
        assert_eq!(tree.whole(7), None);
        let mut memo = PrefixMemo::default();
        // SAFETY: the document lives until the end of the test and is only read.
        unsafe {
            let mut starts = vec![root.raw()];
            starts.extend(nodes(&compiled[6], root.raw()).expect("s/a"));
            for start in starts {
                for (e, n) in compiled.iter().enumerate().take(7) {
                    let t = tree.whole(e).expect(paths[e]);
                    let shared = tree.nodes(t, start, &mut memo, &|e| compiled.get(e));
                    assert_eq!(
                        shared.map(|v| v.to_vec()),
                        nodes(n, start),
                        "{} from {:?}",
                        paths[e],
                        start
                    );
                }
            }
            let t = tree.whole(0).expect("first path");
            let b = tree.nodes(t, root.raw(), &mut memo, &|e| compiled.get(e));
            assert_eq!(b.map(|v| v.len()), Some(2));
        }
    }

    #[test]
    fn only_the_subset_compiles() {
        let ns = vec![("hl7".to_string(), "urn:hl7-org:v3".to_string())];
        assert!(compile("hl7:id[@root = '1.2'] and count(hl7:x) > 1", &ns).is_some());
        assert!(compile("$x = 1", &ns).is_some());
        assert!(compile("substring(@a, 1, 2)", &ns).is_some());
        // banc's functions only under banc's namespace, and only those computed here.
        assert!(compile("banc:matches(@a, 'x')", &ns).is_none());
        let mut with_banc = ns.clone();
        with_banc.push(("banc".to_string(), super::super::plan::BANC_NS.to_string()));
        assert!(compile("banc:matches(@a, 'x')", &with_banc).is_some());
        assert!(compile("banc:tokenize(@a, ' ')", &with_banc).is_none());
        assert!(compile("unknown:a", &ns).is_none());
        assert!(compile("following::a", &ns).is_none());
        assert!(compile("lang('fr')", &ns).is_none());
    }
}
