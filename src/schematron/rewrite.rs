//! Rewrites of translated (XPath 1.0) expressions that make rule contexts and value-set
//! look-ups use banc's indexes: the first step's name or templateId root, top-level `|`
//! alternatives, `doc(U)//q:name[@a = V]` turned into `banc:keyed(…)`. Each recognises one
//! exact shape and leaves anything else untouched; none evaluates anything.
//!
//! The shape is recognised on the AST of the XPath 1.0 text, read by the XPath 2.0 parser of
//! [`super::xpath2`] (1.0 is a subset of 2.0 for what the kit uses; a text it refuses is left
//! as is). The output is not re-emitted from the AST but cut from the text by the byte spans the
//! parser records: that text (spacing, quotes, parentheses) is what libxml2 compiles and what
//! error messages and kit issues quote, and a re-emission would not reproduce it exactly.

use super::xpath2::parse_spanned;
use super::xpath2::parser::{Axis, Expr, Op, Root, Step, Test};

/// A byte range of the text.
type Span = (usize, usize);

/// A QName at the start of a string.
static QNAME: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"^[A-Za-z_][\w.\-]*(:[A-Za-z_][\w.\-]*)?").expect("static regex")
});

/// Whether `n` is a plain QName (no wildcard).
fn is_qname(n: &str) -> bool {
    QNAME.find(n).is_some_and(|m| m.len() == n.len())
}

/// The direct subexpressions of `e` (step predicates and filter steps included).
fn children(e: &Expr) -> Vec<&Expr> {
    fn step(s: &Step) -> Vec<&Expr> {
        match s {
            Step::Axis { preds, .. } => preds.iter().collect(),
            Step::Expr(x) => vec![x],
        }
    }
    match e {
        Expr::Bin(_, a, b, _) => vec![a, b],
        Expr::Neg(a) | Expr::Paren(a) => vec![a],
        Expr::Castable { expr, .. } | Expr::Cast { expr, .. } => vec![expr],
        Expr::If(a, b, c) => vec![a, b, c],
        Expr::Quant { binds, body, .. } | Expr::For { binds, body } => {
            binds.iter().map(|(_, x)| x).chain([&**body]).collect()
        }
        Expr::Seq(xs) | Expr::Call(_, xs, _) => xs.iter().collect(),
        Expr::Path { steps, .. } => steps.iter().flat_map(|(_, s)| step(s)).collect(),
        Expr::Filter(x, preds) => std::iter::once(&**x).chain(preds).collect(),
        Expr::Str(..) | Expr::Num(_) | Expr::Var(_) | Expr::Dot => Vec::new(),
    }
}

/// Whether `f` holds for `e` or one of its subexpressions.
fn any(e: &Expr, f: &dyn Fn(&Expr) -> bool) -> bool {
    f(e) || children(e).into_iter().any(|c| any(c, f))
}

/// Whether predicates of a first step use a position: evaluated from `self::`, they would count
/// along another axis than the pattern's child axis. A predicate is positional when it is a
/// number or calls `position()`/`last()`. As in the text scanner this replaced, only what ends
/// before the first `/` at or after `from` counts, so `a[b/c][1]` is missed: a known gap, kept
/// so that the output is unchanged.
fn positional(text: &str, preds: &[Expr], spans: &[Span], from: usize) -> bool {
    let cut = text
        .get(from..)
        .and_then(|t| t.find('/'))
        .map_or(text.len(), |k| from + k);
    let number = |p: &Expr| match p {
        Expr::Num(_) => true,
        Expr::Neg(x) => matches!(**x, Expr::Num(_)),
        _ => false,
    };
    preds.iter().zip(spans).any(|(p, s)| {
        (number(p) && s.1 <= cut)
            || any(p, &|e| {
                matches!(e, Expr::Call(f, a, s)
                    if (f == "position" || f == "last") && a.is_empty() && s.1 <= cut)
            })
    })
}

/// The first conjunct of `e` and the span of the others: `a and b and c` → (`a`, `b and c`).
fn first_conjunct(e: &Expr) -> (&Expr, Option<Span>) {
    let (mut e, mut rest) = (e, None::<Span>);
    while let Expr::Bin(Op::And, l, _, [_, r]) = e {
        rest = Some((r.0, rest.map_or(r.1, |x| x.1)));
        e = l;
    }
    (e, rest)
}

/// A string literal as XPath 1.0 reads it (no doubled quote inside).
fn literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Str(s, q) if !s.contains(*q) => Some(s),
        _ => None,
    }
}

/// The first step of a pattern that is a child step with a name test.
struct FirstStep {
    name: String,
    preds: Vec<Expr>,
    /// The whole step, then each predicate's inside.
    span: Span,
    pred_spans: Vec<Span>,
}

/// The first step of the relative path `p` (or of `//p` when `descendant`), when it is a child
/// step with a name test; None for any other shape or a text the parser refuses.
fn first_child_step(p: &str, descendant: bool) -> Option<FirstStep> {
    let Expr::Path { root, steps } = parse_spanned(p)? else {
        return None;
    };
    if !(root == Root::None || descendant && root == Root::DoubleSlash) {
        return None;
    }
    let (name, preds, span, pred_spans) = name_step(&steps)?;
    Some(FirstStep {
        name: name.to_string(),
        preds: preds.to_vec(),
        span,
        pred_spans: pred_spans.to_vec(),
    })
}

/// The first of `steps` when it is a child step with a name test: its name, predicates, span
/// and predicate spans.
fn name_step(steps: &[(bool, Step)]) -> Option<(&str, &[Expr], Span, &[Span])> {
    match steps.first() {
        Some((
            _,
            Step::Axis {
                axis: Axis::Implicit,
                test: Test::Name(name),
                preds,
                span,
                pred_spans,
            },
        )) => Some((name, preds, *span, pred_spans)),
        _ => None,
    }
}

/// `[//]q:name[P]…/…` (no union, no positional predicate on the first step): the expanded
/// name of the first step and the expression to evaluate from each element of that name.
pub(super) fn name_candidate(
    pattern: &str,
    ns: &[(String, String)],
) -> Option<(String, String, String)> {
    let p = pattern.trim();
    let FirstStep {
        name,
        preds,
        span,
        pred_spans,
    } = first_child_step(p, true)?;
    if !is_qname(&name) || positional(p, &preds, &pred_spans, span.0) {
        return None;
    }
    let (uri, local) = match name.split_once(':') {
        Some((pre, l)) => (ns.iter().find(|(q, _)| q == pre)?.1.clone(), l),
        None => (String::new(), name.as_str()),
    };
    Some((
        uri,
        local.to_string(),
        format!("self::{}", p.get(span.0..)?),
    ))
}

/// `banc:keyed(…)` for `call//q:name[@attr = V and …]` (see [`keyed_rewrite`]): the span it
/// replaces and its text.
fn keyed(
    text: &str,
    call: Span,
    name: &str,
    pred: &Expr,
    pred_span: Span,
) -> Option<(Span, String)> {
    let (first, more) = first_conjunct(pred);
    let Expr::Bin(Op::Gen("="), lhs, value, [_, v]) = first else {
        return None;
    };
    let key = match &**lhs {
        Expr::Path {
            root: Root::None,
            steps,
        } => match steps.as_slice() {
            [
                (
                    _,
                    Step::Axis {
                        axis: Axis::At,
                        test: Test::Name(a),
                        preds,
                        ..
                    },
                ),
            ] if preds.is_empty() && is_qname(a) && !a.contains(':') => a.clone(),
            [
                (
                    _,
                    Step::Axis {
                        axis: Axis::Implicit,
                        test: Test::Kind(k, args),
                        preds,
                        ..
                    },
                ),
            ] if preds.is_empty() && k == "text" && args.is_empty() => "#text".to_string(),
            _ => return None,
        },
        _ => return None,
    };
    // A context-free V: `$v`, a literal or `string($v)`.
    let plain_var = |e: &Expr| matches!(e, Expr::Var(n) if !n.contains(':'));
    let context_free = plain_var(value)
        || literal(value).is_some()
        || matches!(&**value, Expr::Call(f, a, _) if f == "string" && a.len() == 1 && plain_var(&a[0]));
    if !context_free {
        return None;
    }
    let close = pred_span.1 + text.get(pred_span.1..)?.find(']')? + 1;
    let mut out = format!(
        "banc:keyed({}, '{name}', '{key}', {})",
        text.get(call.0..call.1)?,
        text.get(v.0..v.1)?
    );
    if let Some(m) = more {
        out.push_str(&format!("[{}]", text.get(m.0..m.1)?));
    }
    Some(((call.0, close), out))
}

/// The keyed rewrites in `e`, in text order, none inside another.
fn keyed_edits(text: &str, e: &Expr, edits: &mut Vec<(Span, String)>) {
    if let Expr::Path {
        root: Root::None,
        steps,
    } = e
        && let [
            (_, Step::Expr(Expr::Call(f, _, call))),
            (
                true,
                Step::Axis {
                    axis: Axis::Implicit,
                    test: Test::Name(name),
                    preds,
                    pred_spans,
                    ..
                },
            ),
            further @ ..,
        ] = steps.as_slice()
        && matches!(f.as_str(), "doc" | "document" | "banc:doc")
        && is_qname(name)
        && let (Some(pred), Some(span)) = (preds.first(), pred_spans.first())
        && let Some(edit) = keyed(text, *call, name, pred, *span)
    {
        edits.push(edit);
        // What follows the rewritten predicate is still scanned.
        for p in &preds[1..] {
            keyed_edits(text, p, edits);
        }
        for (_, s) in further {
            match s {
                Step::Axis { preds, .. } => preds.iter().for_each(|p| keyed_edits(text, p, edits)),
                Step::Expr(x) => keyed_edits(text, x, edits),
            }
        }
        return;
    }
    for c in children(e) {
        keyed_edits(text, c, edits);
    }
}

/// Value-set look-ups `doc(U)//q:name[@attr = V and …]` and `…[text() = V]` with a
/// context-free V scan the whole value-set file for every code checked; they become
/// `banc:keyed(doc(U), 'q:name', 'attr' | '#text', V)[…]`, served by a hash index built once
/// per file. Same nodes, same order: only the scan is gone.
pub(super) fn keyed_rewrite(expr: &str) -> String {
    rewrite_with(expr, keyed_edits)
}

/// `boolean(banc:keyed(doc(U), 'q:name', key, V))` (the keyed form of the terminology
/// schematron's `exists(doc(U)//skos:notation[text() = V])`) becomes
/// `banc:has-key(U, 'q:name', key, V)`: the same boolean, from the document's keys alone, so
/// the document's tree is not kept (the RDF files of a CR-BIO batch took 50 MB as trees). U must
/// be one string: a literal or a `concat()`.
pub(super) fn has_key_rewrite(expr: &str) -> String {
    rewrite_with(expr, has_key_edits)
}

fn has_key_edits(text: &str, e: &Expr, edits: &mut Vec<(Span, String)>) {
    if let Expr::Call(f, args, whole) = e
        && f == "boolean"
        && let [Expr::Call(k, kargs, keyed)] = args.as_slice()
        && k == "banc:keyed"
        && let [Expr::Call(d, dargs, doc), ..] = kargs.as_slice()
        && matches!(d.as_str(), "doc" | "document")
        && let [u] = dargs.as_slice()
        && (literal(u).is_some() || matches!(u, Expr::Call(c, _, _) if c == "concat"))
        && let Some(inner) = text
            .get(doc.0..doc.1)
            .and_then(|t| t.strip_prefix(d.as_str()))
            .map(str::trim_start)
            .and_then(|t| t.strip_prefix('('))
            .and_then(|t| t.strip_suffix(')'))
        && let Some(rest) = text.get(doc.1..keyed.1)
    {
        edits.push((*whole, format!("banc:has-key({inner}{rest}")));
        return;
    }
    for c in children(e) {
        has_key_edits(text, c, edits);
    }
}

/// `expr` with the edits `find` lists on its AST applied; as it is when the parser refuses it.
fn rewrite_with(expr: &str, find: fn(&str, &Expr, &mut Vec<(Span, String)>)) -> String {
    let Some(ast) = parse_spanned(expr) else {
        return expr.to_string();
    };
    let mut edits = Vec::new();
    find(expr, &ast, &mut edits);
    apply_edits(expr, edits)
}

/// `expr` with each span replaced by its text (spans not overlapping). The parser's spans are
/// char boundaries; were one not, the expression stays as it is.
fn apply_edits(expr: &str, mut edits: Vec<(Span, String)>) -> String {
    edits.sort_by_key(|(s, _)| s.0);
    let apply = || {
        let (mut out, mut at) = (String::new(), 0);
        for ((start, end), text) in edits {
            out.push_str(expr.get(at..start)?);
            out.push_str(&text);
            at = end;
        }
        out.push_str(expr.get(at..)?);
        Some(out)
    };
    apply().unwrap_or_else(|| expr.to_string())
}

/// `//q:name…` and `//*[local-name() = 'l']…` walk the whole document at every evaluation (the
/// kit's closed-template and value-set asserts do, a few hundred times per CR-BIO); they become
/// `banc:elements('q:name')…` and `banc:elements-local('l')…`, served by the document's name
/// index (a walk of the other document when the context is elsewhere, e.g. in a value set).
/// Same nodes, same order. A positional predicate on that step counts along the child axis of
/// each parent, not along the document: such a step is left as it is.
pub(super) fn descendant_rewrite(expr: &str) -> String {
    rewrite_with(expr, descendant_edits)
}

fn descendant_edits(text: &str, e: &Expr, edits: &mut Vec<(Span, String)>) {
    if let Expr::Path {
        root: Root::DoubleSlash,
        steps,
    } = e
        && let Some((name, preds, span, pred_spans)) = name_step(steps)
        && let Some(slashes) = text
            .get(..span.0)
            .map(str::trim_end)
            .filter(|t| t.ends_with("//"))
            .map(|t| t.len() - 2)
    {
        fn local_name_test(p: &Expr) -> Option<&str> {
            match p {
                Expr::Bin(Op::Gen("="), a, b, _) => match (&**a, &**b) {
                    (Expr::Call(f, args, _), lit) | (lit, Expr::Call(f, args, _))
                        if f == "local-name" && args.is_empty() =>
                    {
                        literal(lit).filter(|l| is_qname(l) && !l.contains(':'))
                    }
                    _ => None,
                },
                _ => None,
            }
        }
        let edit = if is_qname(name) && !positional(text, preds, pred_spans, span.0) {
            let end = span.0 + name.len();
            (text.get(span.0..end) == Some(name))
                .then(|| ((slashes, end), format!("banc:elements('{name}')")))
        } else if name == "*"
            && let (Some(first), Some(first_span)) = (preds.first(), pred_spans.first())
            && let Some(local) = local_name_test(first)
            && !positional(text, &preds[1..], &pred_spans[1..], first_span.1)
            && let Some(close) = text
                .get(first_span.1..)
                .and_then(|t| t.find(']'))
                .map(|k| first_span.1 + k + 1)
        {
            Some(((slashes, close), format!("banc:elements-local('{local}')")))
        } else {
            None
        };
        if let Some(edit) = edit {
            let replaced = edit.0;
            edits.push(edit);
            // Predicates and steps after the replaced text are still scanned.
            for (p, ps) in preds.iter().zip(pred_spans) {
                if ps.0 >= replaced.1 {
                    descendant_edits(text, p, edits);
                }
            }
            for (_, s) in &steps[1..] {
                match s {
                    Step::Axis { preds, .. } => {
                        preds.iter().for_each(|p| descendant_edits(text, p, edits))
                    }
                    Step::Expr(x) => descendant_edits(text, x, edits),
                }
            }
            return;
        }
    }
    for c in children(e) {
        descendant_edits(text, c, edits);
    }
}

/// Whether `e` is a node-set read from documents only (`doc('lit')/…`, unions of those): the
/// same nodes from any context, as long as nothing in it reads a variable or the rule's node.
fn document_constant(e: &Expr) -> bool {
    let open = |x: &Expr| {
        any(x, &|y| {
            matches!(y, Expr::Var(_))
                || matches!(y, Expr::Call(f, ..) if matches!(f.rsplit(':').next(), Some("current" | "map")))
                || matches!(y, Expr::Quant { .. } | Expr::For { .. })
        })
    };
    match e {
        Expr::Paren(x) => document_constant(x),
        Expr::Bin(Op::Union, a, b, _) => document_constant(a) && document_constant(b),
        Expr::Call(f, args, _) => {
            matches!(f.as_str(), "doc" | "document" | "banc:doc")
                && args.len() == 1
                && literal(&args[0]).is_some()
        }
        Expr::Path {
            root: Root::None,
            steps,
        } => match steps.split_first() {
            Some(((_, Step::Expr(x)), rest)) => {
                document_constant(x)
                    && rest.iter().all(|(_, s)| match s {
                        Step::Axis { preds, .. } => !preds.iter().any(open),
                        Step::Expr(_) => false,
                    })
            }
            _ => false,
        },
        Expr::Filter(x, preds) => document_constant(x) && !preds.iter().any(open),
        _ => false,
    }
}

/// `A = C` where C is a [`document_constant`] node-set (`. = (doc('voc-….xml')/*/valueSet/
/// conceptList/concept/@code)`): libxml2 builds C and compares every pair at each evaluation,
/// ~100 µs per code checked. Each such comparison, outermost first, as the span of the whole
/// comparison, of A and of C: the plan turns it into `banc:in(A, k)`, k the expression C, whose
/// string values are hashed once per engine.
pub(super) fn constant_memberships(expr: &str) -> Vec<(Span, Span, Span)> {
    fn walk(e: &Expr, out: &mut Vec<(Span, Span, Span)>) {
        if let Expr::Bin(Op::Gen("="), a, c, [sa, sc]) = e {
            if document_constant(c) && !document_constant(a) {
                out.push(((sa.0, sc.1), *sa, *sc));
                return;
            }
            if document_constant(a) && !document_constant(c) {
                out.push(((sa.0, sc.1), *sc, *sa));
                return;
            }
        }
        for x in children(e) {
            walk(x, out);
        }
    }
    let mut out = Vec::new();
    if let Some(ast) = parse_spanned(expr) {
        walk(&ast, &mut out);
    }
    out
}

/// `expr` with each of its [`constant_memberships`] replaced: `k(C)` names the expression C
/// (None keeps that comparison as it is).
pub(super) fn membership_rewrite(expr: &str, mut k: impl FnMut(&str) -> Option<usize>) -> String {
    let mut edits = Vec::new();
    for (whole, a, c) in constant_memberships(expr) {
        let (Some(a_text), Some(c_text)) = (expr.get(a.0..a.1), expr.get(c.0..c.1)) else {
            continue;
        };
        if let Some(i) = k(c_text) {
            edits.push((whole, format!("banc:in({a_text}, {i})")));
        }
    }
    apply_edits(expr, edits)
}

/// The root of a first conjunct `h:templateId/@root = 'R'` or `h:templateId[@root = 'R']`, `h`
/// one of `hl7_prefixes`.
fn template_root<'e>(first: &'e Expr, hl7_prefixes: &[String]) -> Option<&'e str> {
    let template_id = |s: &Step| match s {
        Step::Axis {
            axis: Axis::Implicit,
            test: Test::Name(n),
            ..
        } => n
            .split_once(':')
            .is_some_and(|(p, l)| l == "templateId" && hl7_prefixes.iter().any(|h| h == p)),
        _ => false,
    };
    let at_root = |s: &Step| {
        matches!(s, Step::Axis { axis: Axis::At, test: Test::Name(n), preds, .. }
            if n == "root" && preds.is_empty())
    };
    let path = |e: &'e Expr| match e {
        Expr::Path {
            root: Root::None,
            steps,
        } => Some(steps.as_slice()),
        _ => None,
    };
    match first {
        Expr::Bin(Op::Gen("="), l, r, _) => match path(l)? {
            [(_, t), (false, a)] if template_id(t) && at_root(a) => match t {
                Step::Axis { preds, .. } if preds.is_empty() => literal(r),
                _ => None,
            },
            _ => None,
        },
        _ => match path(first)? {
            [(_, t @ Step::Axis { preds, .. })] if template_id(t) => match preds.as_slice() {
                [Expr::Bin(Op::Gen("="), l, r, _)] => match path(l)? {
                    [(_, a)] if at_root(a) => literal(r),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        },
    }
}

/// `*[P1]REST` where P1 requires a `hl7:templateId` child with a literal `@root` (first
/// conjunct, no top-level `or`) and no positional predicate follows: the root and the expression
/// to evaluate from each candidate. None when the pattern has another form.
pub(super) fn template_candidate(
    pattern: &str,
    hl7_prefixes: &[String],
) -> Option<(String, String)> {
    let p = pattern.trim();
    let FirstStep {
        name: star,
        preds,
        span,
        pred_spans,
    } = first_child_step(p, false)?;
    let (Some(p1), Some(s1)) = (preds.first(), pred_spans.first()) else {
        return None;
    };
    if star != "*" || matches!(p1, Expr::Bin(Op::Or, ..)) {
        return None;
    }
    // After P1's `]`: as the text scanner this replaced, further predicates count as positional
    // only when they follow it directly.
    let after = s1.1 + p.get(s1.1..)?.find(']')? + 1;
    if p.get(after..)?.starts_with('[') && positional(p, &preds[1..], &pred_spans[1..], after) {
        return None;
    }
    let root = template_root(first_conjunct(p1).0, hl7_prefixes)?;
    Some((root.to_string(), format!("self::{}", p.get(span.0..)?)))
}

/// What the value of an expression depends on, besides the documents and the global lets.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub(super) enum Anchor {
    /// Nothing: the same value from every context node (absolute paths, literals, globals).
    Document,
    /// The context node's parent only: every relative path starts with `..`.
    Parent,
    /// The context node itself.
    Node,
}

/// The [`Anchor`] of the XPath 1.0 `expr` evaluated with the rule lets `rule_lets` in scope
/// (they are evaluated from the rule's node). A test anchored above its node is evaluated once
/// per anchor: a kit test such as `../cda:entry[@typeCode='DRIV']`, checked on each of the
/// entries of a section, would otherwise cost the section's size per entry. `Node` whenever
/// unsure (a text the parser refuses, focus functions, `banc:map`'s expression text).
pub(super) fn anchor(expr: &str, rule_lets: &[&str]) -> Anchor {
    let Some(ast) = parse_spanned(expr) else {
        return Anchor::Node;
    };
    let rule_let = |e: &Expr| matches!(e, Expr::Var(n) if rule_lets.contains(&n.as_str()));
    if any(&ast, &rule_let) {
        return Anchor::Node;
    }
    // `current()` is the rule's node wherever it stands; `banc:map` evaluates a text.
    let map = |e: &Expr| {
        matches!(e, Expr::Call(f, ..) if matches!(f.rsplit(':').next(), Some("map" | "current")))
            || matches!(e, Expr::Quant { .. } | Expr::For { .. })
    };
    if any(&ast, &map) {
        return Anchor::Node;
    }
    top_anchor(&ast)
}

/// The anchor of `e` from the context node: only what is evaluated from that node counts
/// (predicates and later steps are evaluated from the nodes a path selects).
fn top_anchor(e: &Expr) -> Anchor {
    match e {
        Expr::Dot => Anchor::Node,
        Expr::Var(_) | Expr::Str(..) | Expr::Num(_) => Anchor::Document,
        Expr::Path { root, steps } => {
            if *root != Root::None {
                return Anchor::Document;
            }
            match steps.first() {
                Some((
                    _,
                    Step::Axis {
                        axis: Axis::DotDot, ..
                    },
                )) => Anchor::Parent,
                Some((_, Step::Axis { .. })) | None => Anchor::Node,
                Some((_, Step::Expr(x))) => top_anchor(x),
            }
        }
        Expr::Filter(x, _) => top_anchor(x),
        Expr::Call(name, args, _) => {
            let local = name.rsplit(':').next().unwrap_or(name);
            let focus = super::xpath2::focus_function(local, args.is_empty());
            if focus {
                Anchor::Node
            } else {
                args.iter()
                    .map(top_anchor)
                    .max()
                    .unwrap_or(Anchor::Document)
            }
        }
        Expr::Bin(..)
        | Expr::Neg(_)
        | Expr::Paren(_)
        | Expr::Castable { .. }
        | Expr::Cast { .. }
        | Expr::If(..)
        | Expr::Seq(_) => children(e)
            .into_iter()
            .map(top_anchor)
            .max()
            .unwrap_or(Anchor::Document),
        Expr::Quant { .. } | Expr::For { .. } => Anchor::Node,
    }
}

/// Split a (translated) match pattern at its top-level `|` and make each alternative a selection
/// from the document node: `a/b | /c` → `//a/b | /c`.
pub(super) fn pattern_selection(pattern: &str) -> String {
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
pub(super) fn alternatives(pattern: &str) -> Vec<&str> {
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
                // `i` comes from char_indices and `|` is one byte: both are char boundaries.
                parts.push(pattern.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(pattern.get(start..).unwrap_or_default());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_tell_what_a_test_depends_on() {
        let none: Vec<&str> = Vec::new();
        let a = |x: &str| anchor(x, &none);
        assert_eq!(a("../cda:entry[@typeCode='DRIV']"), Anchor::Parent);
        assert_eq!(
            a("../cda:act and (../cda:act/cda:code[@x = 'y'] or not(../cda:act/cda:code/@code))"),
            Anchor::Parent
        );
        assert_eq!(a("count(//cda:entry[cda:x = 1]) > 0"), Anchor::Document);
        assert_eq!(
            a("$global = 'a' and /cda:ClinicalDocument"),
            Anchor::Document
        );
        assert_eq!(a("doc('x.xml')//v:c[@code = 'a']"), Anchor::Document);
        // From the node: relative paths, `.`, focus functions, other axes.
        assert_eq!(a("cda:code"), Anchor::Node);
        assert_eq!(a("@code = 'a'"), Anchor::Node);
        assert_eq!(a("../a or cda:b"), Anchor::Node);
        assert_eq!(a("string-length() > 0"), Anchor::Node);
        assert_eq!(a("name(.) = 'a'"), Anchor::Node);
        assert_eq!(a("preceding-sibling::cda:entry"), Anchor::Node);
        assert_eq!(a("//cda:a[. = current()]"), Anchor::Node);
        assert_eq!(a("banc:map(//a, '. = $x')"), Anchor::Node);
        // A rule let is evaluated from the rule's node, even inside a predicate.
        let lets = vec!["v"];
        assert_eq!(anchor("../cda:entry[@x = $v]", &lets), Anchor::Node);
        assert_eq!(anchor("//cda:entry[@x = $w]", &lets), Anchor::Document);
        assert_eq!(a("not well formed ]"), Anchor::Node);
    }

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
    fn a_key_s_existence_is_read_from_the_keys_alone() {
        assert_eq!(
            has_key_rewrite(
                "not(d and not(boolean(banc:keyed(doc(concat($p, $cs,'.rdf') ), 'skos:notation', '#text', string($c)))))"
            ),
            "not(d and not(banc:has-key(concat($p, $cs,'.rdf') , 'skos:notation', '#text', string($c))))"
        );
        assert_eq!(
            has_key_rewrite("boolean(banc:keyed(document('v.xml'), 'svs:C', 'code', $c))"),
            "banc:has-key('v.xml', 'svs:C', 'code', $c)"
        );
        // The nodes are read further, or the URI may be several: the tree stays.
        for kept in [
            "boolean(banc:keyed(doc('v.xml'), 'svs:C', 'code', $c)[@codeSystem = $s])",
            "boolean(banc:keyed(doc($u), 'svs:C', 'code', $c))",
            "count(banc:keyed(doc('v.xml'), 'svs:C', 'code', $c))",
            "boolean(banc:keyed(doc('v.xml'), 'svs:C', 'code', $c)/@x)",
        ] {
            assert_eq!(has_key_rewrite(kept), kept);
        }
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
    fn shapes_are_read_on_the_ast_not_the_characters() {
        let h = vec!["cda".to_string()];
        let ns = vec![("hl7".to_string(), "urn:hl7-org:v3".to_string())];
        // `|`, `and`, `or`, brackets inside literals are not operators.
        assert_eq!(
            name_candidate("hl7:a[@x='|' and @y='a and b']", &ns).map(|c| c.2),
            Some("self::hl7:a[@x='|' and @y='a and b']".into())
        );
        assert_eq!(
            template_candidate("*[cda:templateId/@root='1 or ]' and @x]", &h),
            Some((
                "1 or ]".into(),
                "self::*[cda:templateId/@root='1 or ]' and @x]".into()
            ))
        );
        assert_eq!(
            template_candidate("*[cda:templateId[@root=\"1\"]]/cda:b", &h).map(|c| c.0),
            Some("1".into())
        );
        assert_eq!(
            keyed_rewrite("doc($u)//svs:C[@code = 'a and b' and @x = ']']"),
            "banc:keyed(doc($u), 'svs:C', 'code', 'a and b')[@x = ']']"
        );
        // Nested predicates: a number inside one is not a position of the first step.
        assert!(name_candidate("hl7:a[hl7:b[1]]", &ns).is_some());
        assert_eq!(name_candidate("hl7:a[position() = 1]", &ns), None);
        assert_eq!(
            keyed_rewrite("x[doc($u)//v:C[@code=$c][v:d[@e]]]/y"),
            "x[banc:keyed(doc($u), 'v:C', 'code', $c)[v:d[@e]]]/y"
        );
        // Spans are byte offsets.
        assert_eq!(
            keyed_rewrite("f('é')=doc('ü')//v:C[@code='à']"),
            "f('é')=banc:keyed(doc('ü'), 'v:C', 'code', 'à')"
        );
        // Not XPath the parser reads: left as is.
        let odd = "doc($u)//v:C[@code=$c";
        assert_eq!(keyed_rewrite(odd), odd);
        assert_eq!(name_candidate("hl7:a[", &ns), None);
    }

    #[test]
    fn descendant_scans_become_index_look_ups() {
        assert_eq!(
            descendant_rewrite("//hl7:author[not($p1) or (not($p1[not(. = $t1)]))]"),
            "banc:elements('hl7:author')[not($p1) or (not($p1[not(. = $t1)]))]"
        );
        assert_eq!(
            descendant_rewrite(
                "count(//*[local-name()='ClinicalDocument']/*[local-name()='documentationOf']) >= 1"
            ),
            "count(banc:elements-local('ClinicalDocument')/*[local-name()='documentationOf']) >= 1"
        );
        assert_eq!(
            descendant_rewrite("not(// hl7:a/hl7:b/@root='1') and not(//hl7:c)"),
            "not(banc:elements('hl7:a')/hl7:b/@root='1') and not(banc:elements('hl7:c'))"
        );
        // Nested scans are rewritten too; those of a value set (`doc(U)//x`) are not.
        assert_eq!(
            descendant_rewrite("//a[//b = 1]"),
            "banc:elements('a')[banc:elements('b') = 1]"
        );
        let kept = [
            "doc('v.xml')//c[@code = 'x']",
            "//a[1]",
            "//a[position() = last()]",
            "//*[local-name()='x'][2]",
            "//*",
            "//@code",
            "//descendant::a",
            "//text()",
            "a//b",
        ];
        for k in kept {
            assert_eq!(descendant_rewrite(k), k);
        }
    }

    #[test]
    fn comparisons_with_a_value_set_become_hashed_memberships() {
        let rewrite = |x: &str| {
            let mut constants = Vec::new();
            let out = membership_rewrite(x, |c| {
                constants.push(c.to_string());
                Some(40 + constants.len())
            });
            (out, constants)
        };
        let (out, c) = rewrite(
            "not(@code) or not($v[not(. = (doc('include/voc-1.xml')/*/valueSet/conceptList/concept/@code))])",
        );
        assert_eq!(out, "not(@code) or not($v[not(banc:in(., 41))])");
        assert_eq!(
            c,
            ["(doc('include/voc-1.xml')/*/valueSet/conceptList/concept/@code)"]
        );
        let (out, c) = rewrite("(doc('a.xml')//c/@code | doc('b.xml')//c/@code) = @code");
        assert_eq!(out, "banc:in(@code, 41)");
        assert_eq!(c, ["(doc('a.xml')//c/@code | doc('b.xml')//c/@code)"]);
        // What depends on the context or a variable is compared as it is.
        for kept in [
            "@code = doc($u)//c/@code",
            "@code = doc('a.xml')//c[@x = $y]/@code",
            "@code = doc('a.xml')//c[@x = current()/@y]/@code",
            "@code != doc('a.xml')//c/@code",
            "@code = 'x'",
            "doc('a.xml')//c = doc('b.xml')//c",
        ] {
            assert_eq!(rewrite(kept), (kept.to_string(), Vec::new()), "{kept}");
        }
    }
}
