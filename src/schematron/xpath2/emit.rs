//! Emitter: the XPath 2.0 AST written as XPath 1.0 + banc extension functions, guided by a
//! coarse static type of each subexpression (and the focus analysis it needs). It refuses what
//! it cannot give the same meaning; it does not evaluate anything.

use super::parser::*;
use super::*;

/// Does evaluating `e` read the focus (context item, position, size) it is evaluated with?
/// Predicates and later path steps have their own focus and do not count.
pub(super) fn uses_focus(e: &Expr) -> bool {
    match e {
        Expr::Dot => true,
        Expr::Path { root, steps } => {
            *root != Root::None
                || match &steps[0].1 {
                    Step::Axis { .. } => true,
                    Step::Expr(x) => uses_focus(x),
                }
        }
        Expr::Filter(p, _) => uses_focus(p),
        Expr::Call(name, args, _) => {
            let focus_fn = focus_function(name, args.is_empty());
            focus_fn || args.iter().any(uses_focus)
        }
        Expr::Var(_) | Expr::Str(..) | Expr::Num(_) => false,
        Expr::Bin(_, a, b, _) => uses_focus(a) || uses_focus(b),
        Expr::Neg(a) | Expr::Paren(a) => uses_focus(a),
        Expr::Castable { expr, .. } | Expr::Cast { expr, .. } => uses_focus(expr),
        Expr::If(a, b, c) => uses_focus(a) || uses_focus(b) || uses_focus(c),
        Expr::Seq(items) => items.iter().any(uses_focus),
        Expr::Quant { binds, body, .. } | Expr::For { binds, body } => {
            binds.iter().any(|(_, e)| uses_focus(e)) || uses_focus(body)
        }
    }
}

pub(super) fn mentions_var(e: &Expr, v: &str) -> bool {
    let m = |x: &Expr| mentions_var(x, v);
    match e {
        Expr::Var(n) => n == v,
        Expr::Dot | Expr::Str(..) | Expr::Num(_) => false,
        Expr::Path { steps, .. } => steps.iter().any(|(_, s)| match s {
            Step::Axis { preds, .. } => preds.iter().any(m),
            Step::Expr(x) => m(x),
        }),
        Expr::Filter(p, preds) => m(p) || preds.iter().any(m),
        Expr::Call(_, args, _) | Expr::Seq(args) => args.iter().any(m),
        Expr::Bin(_, a, b, _) => m(a) || m(b),
        Expr::Neg(a) | Expr::Paren(a) => m(a),
        Expr::Castable { expr, .. } | Expr::Cast { expr, .. } => m(expr),
        Expr::If(a, b, c) => m(a) || m(b) || m(c),
        Expr::Quant { binds, body, .. } | Expr::For { binds, body } => {
            binds.iter().any(|(_, e)| m(e)) || m(body)
        }
    }
}

/// Replace `$v` by `.` where it is read with the focus of `e` itself. `Err` when `$v` is also
/// read under another focus (a predicate, a later path step), where `.` would mean something else.
pub(super) fn subst_focus(e: &Expr, v: &str) -> PResult<Expr> {
    let s = |x: &Expr| subst_focus(x, v);
    let nested = |x: &Expr| -> PResult<()> {
        if mentions_var(x, v) {
            Err(format!(
                "${v} est lu sous un autre focus (prédicat ou étape de chemin)"
            ))
        } else {
            Ok(())
        }
    };
    Ok(match e {
        Expr::Var(n) if n == v => Expr::Dot,
        Expr::Var(_) | Expr::Dot | Expr::Str(..) | Expr::Num(_) => e.clone(),
        Expr::Path { root, steps } => {
            let mut out = Vec::new();
            for (i, (d, st)) in steps.iter().enumerate() {
                match st {
                    Step::Expr(x) if i == 0 && *root == Root::None => {
                        out.push((*d, Step::Expr(s(x)?)));
                    }
                    Step::Expr(x) => {
                        nested(x)?;
                        out.push((*d, st.clone()));
                    }
                    Step::Axis { preds, .. } => {
                        for p in preds {
                            nested(p)?;
                        }
                        out.push((*d, st.clone()));
                    }
                }
            }
            Expr::Path {
                root: *root,
                steps: out,
            }
        }
        Expr::Filter(p, preds) => {
            for x in preds {
                nested(x)?;
            }
            Expr::Filter(Box::new(s(p)?), preds.clone())
        }
        Expr::Call(n, args, sp) => {
            Expr::Call(n.clone(), args.iter().map(s).collect::<PResult<_>>()?, *sp)
        }
        Expr::Seq(items) => Expr::Seq(items.iter().map(s).collect::<PResult<_>>()?),
        Expr::Bin(op, a, b, sp) => Expr::Bin(*op, Box::new(s(a)?), Box::new(s(b)?), *sp),
        Expr::Neg(a) => Expr::Neg(Box::new(s(a)?)),
        Expr::Paren(a) => Expr::Paren(Box::new(s(a)?)),
        Expr::Castable { expr, ty, opt } => Expr::Castable {
            expr: Box::new(s(expr)?),
            ty: ty.clone(),
            opt: *opt,
        },
        Expr::Cast { expr, ty } => Expr::Cast {
            expr: Box::new(s(expr)?),
            ty: ty.clone(),
        },
        Expr::If(a, b, c) => Expr::If(Box::new(s(a)?), Box::new(s(b)?), Box::new(s(c)?)),
        Expr::Quant { .. } | Expr::For { .. } => {
            nested(e)?;
            e.clone()
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Emitter

/// Coarse static type of an emitted XPath 1.0 expression, as an XPath 2.0 value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ty {
    Bool,
    Num,
    /// Exactly one string.
    Str,
    /// Nodes of a document (a node-set in 1.0).
    Nodes,
    /// A sequence of atomic values emulated as text nodes.
    Atoms,
    /// Unknown (variables, `banc:if`, `banc:resolve-qname`...).
    Any,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Ctx {
    /// Only the effective boolean value is used.
    Bool,
    Value,
}

pub(super) struct Out {
    pub(super) s: String,
    pub(super) ty: Ty,
}

pub(super) fn out(s: String, ty: Ty) -> PResult<Out> {
    Ok(Out { s, ty })
}

pub(super) struct Emitter<'v> {
    pub(super) bodies: Vec<String>,
    pub(super) vars: &'v std::collections::HashMap<String, Ty>,
}

/// An XPath 1.0 string literal for `s` (1.0 has no escapes: `concat` when both quotes occur).
pub(super) fn literal(s: &str, prefer: char) -> String {
    let other = if prefer == '\'' { '"' } else { '\'' };
    if !s.contains(prefer) {
        return format!("{prefer}{s}{prefer}");
    }
    if !s.contains(other) {
        return format!("{other}{s}{other}");
    }
    let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
    format!("concat({})", parts.join(", \"'\", "))
}

pub(super) fn lit_str(e: &Expr) -> Option<&str> {
    match e {
        Expr::Str(s, _) => Some(s),
        Expr::Paren(x) => lit_str(x),
        _ => None,
    }
}

pub(super) fn is_literal(e: &Expr) -> bool {
    match e {
        Expr::Str(..) | Expr::Num(_) => true,
        Expr::Paren(x) => is_literal(x),
        _ => false,
    }
}

pub(super) fn strip_xs(name: &str) -> Option<&str> {
    name.strip_prefix("xs:")
}

impl Emitter<'_> {
    pub(super) fn emit(&mut self, e: &Expr, ctx: Ctx) -> PResult<Out> {
        match e {
            Expr::Str(s, q) => out(literal(s, *q), Ty::Str),
            Expr::Num(n) => {
                if n.contains(['e', 'E']) {
                    let v: f64 = n.parse().map_err(|_| format!("nombre {n}"))?;
                    if !v.is_finite() {
                        return Err(format!("nombre {n}"));
                    }
                    out(format!("{v}"), Ty::Num)
                } else {
                    out(n.clone(), Ty::Num)
                }
            }
            Expr::Var(v) => out(
                format!("${v}"),
                self.vars.get(v).copied().unwrap_or(Ty::Any),
            ),
            Expr::Dot => out(".".into(), Ty::Nodes),
            Expr::Paren(x) => {
                let o = self.emit(x, ctx)?;
                out(format!("({})", o.s), o.ty)
            }
            Expr::Seq(items) => self.seq(items, ctx),
            Expr::Bin(op, a, b, _) => self.bin(*op, a, b, ctx),
            Expr::Neg(a) => {
                let o = self.emit(a, Ctx::Value)?;
                if o.ty != Ty::Num && o.ty != Ty::Any {
                    return Err("moins unaire sur une valeur non numérique".into());
                }
                out(format!("-{}", o.s), Ty::Num)
            }
            Expr::Castable { expr, ty, opt } => {
                let t = strip_xs(ty).ok_or_else(|| format!("type {ty}"))?;
                castable("", t).map_err(|e| format!("castable as {ty} : {e}"))?;
                let o = self.emit(expr, Ctx::Value)?;
                if matches!(o.ty, Ty::Num | Ty::Bool) {
                    return Err("castable sur un nombre ou un booléen".into());
                }
                let q = if *opt { "?" } else { "" };
                out(format!("banc:castable({}, '{t}{q}')", o.s), Ty::Bool)
            }
            Expr::Cast { expr, ty } => self.cast(ty, expr),
            Expr::If(c, t, f) => {
                let cs = self.bool_value(c)?;
                if ctx == Ctx::Bool {
                    let ts = self.bool_value(t)?;
                    let fs = self.bool_value(f)?;
                    return out(
                        format!("(({cs} and {ts}) or (not({cs}) and {fs}))"),
                        Ty::Bool,
                    );
                }
                let to = self.emit(t, Ctx::Value)?;
                let fo = self.emit(f, Ctx::Value)?;
                let ty = if to.ty == fo.ty { to.ty } else { Ty::Any };
                out(format!("banc:if({cs}, {}, {})", to.s, fo.s), ty)
            }
            Expr::Quant { every, binds, body } => {
                let [(v, s)] = binds.as_slice() else {
                    return Err("quantificateur à plusieurs variables".into());
                };
                if uses_focus(body) {
                    return Err(format!(
                        "la condition de « {} ${v} » lit aussi le contexte extérieur",
                        if *every { "every" } else { "some" }
                    ));
                }
                let body = subst_focus(body, v)?;
                let src = self.filterable(s)?;
                let p = self.bool_value(&body)?;
                if *every {
                    out(format!("not({src}[not({p})])"), Ty::Bool)
                } else if ctx == Ctx::Bool {
                    out(format!("{src}[{p}]"), Ty::Nodes)
                } else {
                    out(format!("boolean({src}[{p}])"), Ty::Bool)
                }
            }
            Expr::For { binds, body } => {
                let [(v, s)] = binds.as_slice() else {
                    return Err("for à plusieurs variables".into());
                };
                if uses_focus(body) {
                    return Err(format!(
                        "le corps de « for ${v} » lit aussi le contexte extérieur"
                    ));
                }
                let body = subst_focus(body, v)?;
                let src = self.emit(s, Ctx::Value)?;
                let src = match src.ty {
                    Ty::Nodes | Ty::Atoms | Ty::Any => src.s,
                    _ => format!("banc:seq({})", src.s),
                };
                self.map(src, &body)
            }
            Expr::Path { root, steps } => self.path(*root, steps, ctx),
            Expr::Filter(p, preds) => {
                let base = self.filter_base(p)?;
                let mut s = base.s;
                for x in preds {
                    s.push_str(&format!("[{}]", self.pred(x)?));
                }
                out(s, base.ty)
            }
            Expr::Call(name, args, _) => self.call(name, args),
        }
    }

    /// The primary of a filter expression, as XPath 1.0 accepts it before `[`.
    fn filter_base(&mut self, p: &Expr) -> PResult<Out> {
        if let Expr::Dot = p {
            return out("self::node()".into(), Ty::Nodes);
        }
        let o = self.emit(p, Ctx::Value)?;
        match o.ty {
            Ty::Nodes | Ty::Atoms | Ty::Any => Ok(o),
            _ => Err("prédicat sur une valeur atomique".into()),
        }
    }

    /// `S` ready to take a predicate: `$v`, `f(...)`, or `(expr)`.
    fn filterable(&mut self, s: &Expr) -> PResult<String> {
        let o = self.emit(s, Ctx::Value)?;
        Ok(match (o.ty, s) {
            (Ty::Str | Ty::Num | Ty::Bool, _) => format!("banc:seq({})", o.s),
            (_, Expr::Var(_) | Expr::Call(..) | Expr::Paren(_)) => o.s,
            _ => format!("({})", o.s),
        })
    }

    /// A predicate: numeric values stay positional (same rule in 1.0 and 2.0).
    fn pred(&mut self, e: &Expr) -> PResult<String> {
        let o = self.emit(e, Ctx::Value)?;
        if o.ty == Ty::Atoms {
            return Err("prédicat sur une séquence de valeurs atomiques (EBV)".into());
        }
        Ok(o.s)
    }

    /// The effective boolean value of `e` as an XPath 1.0 expression usable anywhere (a
    /// predicate included: never a number).
    fn bool_value(&mut self, e: &Expr) -> PResult<String> {
        let o = self.emit(e, Ctx::Bool)?;
        match o.ty {
            Ty::Bool => Ok(o.s),
            Ty::Atoms => {
                Err("valeur booléenne effective d'une séquence de valeurs atomiques".into())
            }
            _ => Ok(format!("boolean({})", o.s)),
        }
    }

    /// An operand used only for its effective boolean value (`and`, `or`, `not()`).
    fn bool_operand(&mut self, e: &Expr) -> PResult<String> {
        let o = self.emit(e, Ctx::Bool)?;
        if o.ty == Ty::Atoms {
            return Err("valeur booléenne effective d'une séquence de valeurs atomiques".into());
        }
        Ok(o.s)
    }

    fn map(&mut self, src: String, body: &Expr) -> PResult<Out> {
        let b = self.emit(body, Ctx::Value)?;
        if matches!(b.ty, Ty::Nodes | Ty::Any) {
            return Err("for/étape finale produisant des nœuds (ordre et doublons)".into());
        }
        self.bodies.push(b.s.clone());
        out(
            format!("banc:map({src}, {})", literal(&b.s, '"')),
            Ty::Atoms,
        )
    }

    fn seq(&mut self, items: &[Expr], ctx: Ctx) -> PResult<Out> {
        if items.is_empty() {
            return out("banc:seq()".into(), Ty::Nodes);
        }
        let outs = items
            .iter()
            .map(|x| self.emit(x, Ctx::Value))
            .collect::<PResult<Vec<_>>>()?;
        let all_nodes = outs.iter().all(|o| o.ty == Ty::Nodes);
        if all_nodes && ctx == Ctx::Bool {
            // Only emptiness matters: order and duplicates are irrelevant, a union is exact.
            let parts: Vec<_> = outs.iter().map(|o| o.s.as_str()).collect();
            return out(format!("({})", parts.join(" | ")), Ty::Nodes);
        }
        let parts: Vec<_> = outs.iter().map(|o| o.s.as_str()).collect();
        // NB: banc:seq keeps argument order and duplicates (2.0 semantics), unlike a union.
        out(
            format!("banc:seq({})", parts.join(", ")),
            if all_nodes { Ty::Nodes } else { Ty::Atoms },
        )
    }

    fn cast(&mut self, ty: &str, expr: &Expr) -> PResult<Out> {
        let o = self.emit(expr, Ctx::Value)?;
        match (strip_xs(ty), o.ty) {
            (Some("string"), Ty::Str) => out(o.s, Ty::Str),
            (Some("string"), Ty::Num | Ty::Bool) => out(format!("string({})", o.s), Ty::Str),
            (Some("string"), Ty::Nodes) => out(
                // `()` stays `()` in 2.0 (an empty string would compare differently).
                format!("banc:if(boolean({0}), string({0}), banc:seq())", o.s),
                Ty::Any,
            ),
            (Some("integer"), Ty::Str) => out(
                // Exact for castable input (the only `+` is a leading sign), else 2.0 errors.
                format!("number(translate(normalize-space({}), '+', ''))", o.s),
                Ty::Num,
            ),
            _ => Err(format!("conversion vers {ty}")),
        }
    }

    fn bin(&mut self, op: Op, a: &Expr, b: &Expr, ctx: Ctx) -> PResult<Out> {
        match op {
            Op::Or | Op::And => {
                let l = self.bool_operand(a)?;
                let r = self.bool_operand(b)?;
                let kw = if op == Op::Or { "or" } else { "and" };
                out(format!("{l} {kw} {r}"), Ty::Bool)
            }
            Op::Gen(o) => self.compare(o, false, a, b, ctx),
            Op::Val(o) => self.compare(o, true, a, b, ctx),
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod => {
                let l = self.emit(a, Ctx::Value)?;
                let r = self.emit(b, Ctx::Value)?;
                for t in [l.ty, r.ty] {
                    if !matches!(t, Ty::Num | Ty::Any) {
                        // A node operand may be empty: `()` in 2.0, NaN in 1.0.
                        return Err("opérande arithmétique non numérique".into());
                    }
                }
                let sym = match op {
                    Op::Add => "+",
                    Op::Sub => "-",
                    Op::Mul => "*",
                    Op::Div => "div",
                    _ => "mod",
                };
                out(format!("{} {sym} {}", l.s, r.s), Ty::Num)
            }
            Op::Union => {
                let l = self.emit(a, Ctx::Value)?;
                let r = self.emit(b, Ctx::Value)?;
                for t in [l.ty, r.ty] {
                    if !matches!(t, Ty::Nodes | Ty::Any) {
                        return Err("union de valeurs non-nœuds".into());
                    }
                }
                out(format!("{} | {}", l.s, r.s), Ty::Nodes)
            }
            Op::Intersect | Op::Except => {
                let l = self.emit(a, Ctx::Value)?;
                let r = self.emit(b, Ctx::Value)?;
                let f = if op == Op::Except {
                    "except"
                } else {
                    "intersect"
                };
                out(format!("banc:{f}({}, {})", l.s, r.s), Ty::Nodes)
            }
        }
    }

    /// General (`value == false`) or value comparison; `op` is the XPath 1.0 operator.
    fn compare(
        &mut self,
        op: &'static str,
        value: bool,
        a: &Expr,
        b: &Expr,
        ctx: Ctx,
    ) -> PResult<Out> {
        let relational = matches!(op, "<" | "<=" | ">" | ">=");
        // xs:dateTime(x) OP xs:dateTime(y): timeline comparison.
        if let (Expr::Call(fa, xa, _), Expr::Call(fb, xb, _)) = (a, b)
            && fa == "xs:dateTime"
            && fb == "xs:dateTime"
            && xa.len() == 1
            && xb.len() == 1
        {
            let l = self.emit(&xa[0], Ctx::Value)?;
            let r = self.emit(&xb[0], Ctx::Value)?;
            for t in [l.ty, r.ty] {
                if t != Ty::Str && t != Ty::Any {
                    return Err("xs:dateTime() d'une valeur possiblement vide".into());
                }
            }
            return out(
                format!("(banc:compare-dateTime({}, {}) {op} 0)", l.s, r.s),
                Ty::Bool,
            );
        }
        // A literal sequence: existential comparison = disjunction over its items.
        if !value {
            for (seq, other, seq_left) in [(b, a, false), (a, b, true)] {
                if let Expr::Seq(items) = seq
                    && items.iter().all(is_literal)
                {
                    if items.is_empty() {
                        return out("false()".into(), Ty::Bool);
                    }
                    let mut parts = Vec::new();
                    for it in items {
                        let lit = Expr::Paren(Box::new(it.clone()));
                        let (l, r) = if seq_left {
                            (&lit, other)
                        } else {
                            (other, &lit)
                        };
                        parts.push(self.compare(op, false, l, r, Ctx::Value)?.s);
                    }
                    return out(format!("({})", parts.join(" or ")), Ty::Bool);
                }
            }
        }
        let l = self.emit_operand(a, value)?;
        let r = self.emit_operand(b, value)?;
        let (lt, rt) = (l.ty, r.ty);
        if lt == Ty::Bool || rt == Ty::Bool {
            let other = if lt == Ty::Bool { rt } else { lt };
            if !matches!(other, Ty::Bool | Ty::Num) {
                return Err(
                    "comparaison d'un booléen (XPath 1.0 convertirait l'autre opérande)".into(),
                );
            }
        }
        if relational && lt != Ty::Num && rt != Ty::Num {
            return Err(format!(
                "« {op} » sans opérande numérique : XPath 2.0 compare des chaînes, XPath 1.0 des nombres"
            ));
        }
        // Untyped nodes against a number: 2.0 casts each node to xs:double (`+1`, `1e3`, `INF`
        // are numbers there), 1.0 uses its own number(). Rewrite existentially with banc:number.
        let node_num = |t: Ty, u: Ty| t == Ty::Nodes && u == Ty::Num;
        if node_num(lt, rt) || node_num(rt, lt) {
            let (nodes_expr, num_expr) = if lt == Ty::Nodes { (a, b) } else { (b, a) };
            if uses_focus(num_expr) {
                return Err("comparaison nœuds/nombre dont le nombre dépend du contexte".into());
            }
            let (ns, num) = if lt == Ty::Nodes {
                (&l.s, &r.s)
            } else {
                (&r.s, &l.s)
            };
            let cond = if lt == Ty::Nodes {
                format!("banc:number(.) {op} {num}")
            } else {
                format!("{num} {op} banc:number(.)")
            };
            let base = if matches!(nodes_expr, Expr::Dot) {
                "self::node()".to_string()
            } else {
                format!("({ns})")
            };
            let set = format!("{base}[{cond}]");
            return if ctx == Ctx::Bool {
                out(set, Ty::Nodes)
            } else {
                out(format!("boolean({set})"), Ty::Bool)
            };
        }
        out(format!("{} {op} {}", l.s, r.s), Ty::Bool)
    }

    /// An operand of a comparison. A comma sequence of node-sets is a union there (existential
    /// comparison: order and duplicates are irrelevant).
    fn emit_operand(&mut self, e: &Expr, value: bool) -> PResult<Out> {
        if let Expr::Seq(items) = e
            && !value
            && !items.is_empty()
        {
            let outs = items
                .iter()
                .map(|x| self.emit(x, Ctx::Value))
                .collect::<PResult<Vec<_>>>()?;
            if outs.iter().all(|o| o.ty == Ty::Nodes) {
                let parts: Vec<_> = outs.iter().map(|o| o.s.as_str()).collect();
                return out(format!("({})", parts.join(" | ")), Ty::Nodes);
            }
        }
        self.emit(e, Ctx::Value)
    }

    fn path(&mut self, root: Root, steps: &[(bool, Step)], ctx: Ctx) -> PResult<Out> {
        let mut s = match root {
            Root::None => String::new(),
            Root::Slash => "/".to_string(),
            Root::DoubleSlash => "//".to_string(),
        };
        if steps.is_empty() {
            return out(s, Ty::Nodes);
        }
        let mut ty = Ty::Nodes;
        let last = steps.len() - 1;
        for (i, (desc, st)) in steps.iter().enumerate() {
            let sep = if i == 0 {
                ""
            } else if *desc {
                "//"
            } else {
                "/"
            };
            match st {
                Step::Axis {
                    axis, test, preds, ..
                } => {
                    s.push_str(sep);
                    s.push_str(&self.axis_step(axis, test, preds)?);
                }
                Step::Expr(x) if i == 0 && root == Root::None => {
                    let o = match x {
                        Expr::Dot => out(".".into(), Ty::Nodes)?,
                        Expr::Var(_) | Expr::Call(..) | Expr::Paren(_) | Expr::Filter(..) => {
                            self.emit(x, Ctx::Value)?
                        }
                        _ => {
                            let o = self.emit(x, Ctx::Value)?;
                            Out {
                                s: format!("({})", o.s),
                                ty: o.ty,
                            }
                        }
                    };
                    if !matches!(o.ty, Ty::Nodes | Ty::Any) {
                        return Err("chemin partant d'une valeur atomique".into());
                    }
                    s.push_str(&o.s);
                }
                Step::Expr(x) => {
                    // XPath 2.0 only: an expression as a later step.
                    let mut probe = Emitter {
                        bodies: Vec::new(),
                        vars: self.vars,
                    };
                    let o = probe.emit(x, Ctx::Value)?;
                    if matches!(o.ty, Ty::Nodes) {
                        // `a/(b | c)`: distribute over the union members.
                        let members = union_members(x)
                            .ok_or("étape de chemin parenthésée autre qu'une union de chemins")?;
                        let mut alts = Vec::new();
                        for m in members {
                            if let Expr::Path { root, .. } = m
                                && *root != Root::None
                            {
                                return Err("étape de chemin absolue".into());
                            }
                            if !matches!(m, Expr::Path { .. }) {
                                return Err("étape de chemin non relative".into());
                            }
                            let mo = self.emit(m, Ctx::Value)?;
                            alts.push(format!("{s}{sep}{}", mo.s));
                        }
                        s = format!("({})", alts.join(" | "));
                        continue;
                    }
                    if i != last {
                        return Err("valeur atomique au milieu d'un chemin".into());
                    }
                    if o.ty == Ty::Bool && ctx == Ctx::Bool {
                        // `a/b/(p and q)`: one boolean per node; its EBV (valid in 2.0 for at
                        // most one node) is "some node satisfies it".
                        let p = self.bool_value(x)?;
                        return out(format!("({s})[{p}]"), Ty::Nodes);
                    }
                    let prefix = std::mem::take(&mut s);
                    let m = self.map(prefix, x)?;
                    s = m.s;
                    ty = m.ty;
                }
            }
        }
        out(s, ty)
    }

    fn axis_step(&mut self, axis: &Axis, test: &Test, preds: &[Expr]) -> PResult<String> {
        let mut s = match axis {
            Axis::Implicit => String::new(),
            Axis::At => "@".into(),
            Axis::DotDot => {
                if preds.is_empty() {
                    return Ok("..".into());
                }
                "parent::".into()
            }
            Axis::Named(a) => format!("{a}::"),
        };
        match test {
            Test::Name(n) => {
                if let Some(local) = n.strip_prefix("*:") {
                    s.push_str(&format!("*[local-name()='{local}']"));
                } else {
                    s.push_str(n);
                }
            }
            Test::Kind(k, raw) => match k.as_str() {
                "node" | "text" | "comment" if raw.is_empty() => s.push_str(&format!("{k}()")),
                "processing-instruction" => s.push_str(&format!("{k}({raw})")),
                _ => return Err(format!("test de nœud {k}({raw})")),
            },
        }
        for p in preds {
            s.push_str(&format!("[{}]", self.pred(p)?));
        }
        Ok(s)
    }

    fn call(&mut self, name: &str, args: &[Expr]) -> PResult<Out> {
        let n = args.len();
        let arity = |ok: bool| -> PResult<()> {
            if ok {
                Ok(())
            } else {
                Err(format!("{name}() avec {n} arguments"))
            }
        };
        // Plain XPath 1.0 calls whose meaning is the same for one-item (or empty) arguments.
        let same = |em: &mut Self, ty: Ty| -> PResult<Out> {
            let parts = args
                .iter()
                .map(|a| em.emit(a, Ctx::Value).map(|o| o.s))
                .collect::<PResult<Vec<_>>>()?;
            out(format!("{name}({})", parts.join(", ")), ty)
        };
        let banc = |em: &mut Self, f: &str, ty: Ty| -> PResult<Out> {
            let parts = args
                .iter()
                .map(|a| em.emit(a, Ctx::Value).map(|o| o.s))
                .collect::<PResult<Vec<_>>>()?;
            out(format!("banc:{f}({})", parts.join(", ")), ty)
        };
        match name {
            "not" | "boolean" => {
                arity(n == 1)?;
                let a = self.bool_operand(&args[0])?;
                out(format!("{name}({a})"), Ty::Bool)
            }
            "true" | "false" => {
                arity(n == 0)?;
                same(self, Ty::Bool)
            }
            "empty" | "exists" => {
                arity(n == 1)?;
                let o = self.emit_operand(&args[0], false)?;
                let (pos, neg) = match o.ty {
                    Ty::Nodes | Ty::Atoms => (format!("boolean({})", o.s), format!("not({})", o.s)),
                    Ty::Str | Ty::Num | Ty::Bool => ("true()".into(), "false()".into()),
                    Ty::Any => (
                        format!("banc:exists({})", o.s),
                        format!("not(banc:exists({}))", o.s),
                    ),
                };
                out(if name == "exists" { pos } else { neg }, Ty::Bool)
            }
            "count" => {
                arity(n == 1)?;
                let o = self.emit(&args[0], Ctx::Value)?;
                match o.ty {
                    Ty::Str | Ty::Num | Ty::Bool => out("1".into(), Ty::Num),
                    _ => out(format!("count({})", o.s), Ty::Num),
                }
            }
            "string" | "normalize-space" | "name" | "local-name" | "namespace-uri" => {
                arity(n <= 1)?;
                same(self, Ty::Str)
            }
            "string-length" => {
                arity(n <= 1)?;
                same(self, Ty::Num)
            }
            "concat" => {
                arity(n >= 2)?;
                same(self, Ty::Str)
            }
            "substring" => {
                arity(n == 2 || n == 3)?;
                same(self, Ty::Str)
            }
            "substring-before" | "substring-after" => {
                arity(n == 2)?;
                same(self, Ty::Str)
            }
            "translate" => {
                arity(n == 3)?;
                same(self, Ty::Str)
            }
            "starts-with" | "contains" => {
                arity(n == 2)?;
                same(self, Ty::Bool)
            }
            "position" | "last" => {
                arity(n == 0)?;
                same(self, Ty::Num)
            }
            "floor" | "ceiling" | "round" | "sum" => {
                arity(n == 1)?;
                same(self, Ty::Num)
            }
            "lang" => {
                arity(n == 1)?;
                same(self, Ty::Bool)
            }
            "number" => {
                arity(n <= 1)?;
                if n == 0 {
                    return out("banc:number(.)".into(), Ty::Num);
                }
                banc(self, "number", Ty::Num)
            }
            "doc" | "document" => {
                arity(n >= 1)?;
                same(self, Ty::Nodes)
            }
            "doc-available" => {
                arity(n == 1)?;
                same(self, Ty::Bool)
            }
            "matches" => {
                arity(n == 2 || n == 3)?;
                self.check_literal_regex(args, 1, 2)?;
                banc(self, "matches", Ty::Bool)
            }
            "replace" => {
                arity(n == 3 || n == 4)?;
                self.check_literal_regex(args, 1, 3)?;
                banc(self, "replace", Ty::Str)
            }
            "tokenize" => {
                arity(n == 2 || n == 3)?;
                self.check_literal_regex(args, 1, 2)?;
                banc(self, "tokenize", Ty::Atoms)
            }
            "string-join" => {
                arity(n == 2)?;
                banc(self, "string-join", Ty::Str)
            }
            "distinct-values" => {
                arity(n == 1)?;
                banc(self, "distinct-values", Ty::Atoms)
            }
            "lower-case" | "upper-case" | "iri-to-uri" => {
                arity(n == 1)?;
                banc(self, name, Ty::Str)
            }
            "ends-with" => {
                arity(n == 2)?;
                banc(self, name, Ty::Bool)
            }
            "current-date" | "current-dateTime" => {
                arity(n == 0)?;
                banc(self, name, Ty::Str)
            }
            "resolve-QName" => {
                arity(n == 2)?;
                banc(self, "resolve-qname", Ty::Any)
            }
            "QName" => {
                arity(n == 2)?;
                let (Some(uri), Some(lex)) = (lit_str(&args[0]), lit_str(&args[1])) else {
                    return Err("QName() d'arguments non littéraux".into());
                };
                let local = lex.rsplit(':').next().unwrap_or(lex);
                out(literal(&format!("{{{uri}}}{local}"), '\''), Ty::Str)
            }
            "local-name-from-QName" | "namespace-uri-from-QName" => {
                arity(n == 1)?;
                if !matches!(&args[0], Expr::Call(f, ..) if f == "resolve-QName" || f == "QName") {
                    return Err(format!(
                        "{name}() d'autre chose que resolve-QName()/QName()"
                    ));
                }
                let o = self.emit(&args[0], Ctx::Value)?;
                // `{uri}local`: the local name has no `}`; a namespace URI with `}` is not met.
                if name == "local-name-from-QName" {
                    out(format!("substring-after({}, '}}')", o.s), Ty::Str)
                } else {
                    out(
                        format!("substring-before(substring-after({}, '{{'), '}}')", o.s),
                        Ty::Str,
                    )
                }
            }
            "xs:string" | "xs:integer" => {
                arity(n == 1)?;
                self.cast(name, &args[0])
            }
            _ => Err(format!("fonction {name}() non prise en charge")),
        }
    }

    /// A literal regex must compile now (Saxon rejects a bad literal regex when compiling).
    fn check_literal_regex(&self, args: &[Expr], re: usize, flags: usize) -> PResult<()> {
        let flags = match args.get(flags) {
            None => "",
            Some(f) => match lit_str(f) {
                Some(f) => f,
                None => return Ok(()),
            },
        };
        if let Some(p) = lit_str(&args[re]) {
            compile_regex(p, flags).map_err(|e| format!("expression régulière « {p} » : {e}"))?;
        }
        Ok(())
    }
}

/// Members of a (possibly parenthesized) union of expressions.
pub(super) fn union_members(e: &Expr) -> Option<Vec<&Expr>> {
    match e {
        Expr::Paren(x) => union_members(x),
        Expr::Bin(Op::Union, a, b, _) => {
            let mut v = union_members(a)?;
            v.extend(union_members(b)?);
            Some(v)
        }
        Expr::Path { .. } => Some(vec![e]),
        _ => None,
    }
}

/// Whether a call of function `name` reads the focus (the context node, position or size):
/// `position()`, `last()`, `current()`, `lang()`, `id()`, `idref()`, `key()`, and the functions
/// that default to the context node when called without arguments (`string()`, `name()`...).
pub(crate) fn focus_function(name: &str, no_args: bool) -> bool {
    matches!(
        name,
        "position" | "last" | "current" | "lang" | "id" | "idref" | "key"
    ) || (no_args
        && matches!(
            name,
            "string"
                | "number"
                | "string-length"
                | "normalize-space"
                | "name"
                | "local-name"
                | "namespace-uri"
                | "root"
                | "base-uri"
                | "data"
                | "generate-id"
                | "document-uri"
                | "node-name"
        ))
}
