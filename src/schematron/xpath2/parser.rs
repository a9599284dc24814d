//! AST of the XPath 2.0 grammar and its recursive-descent parser (precedence as in the spec).
//! Syntax only: types and the XPath 1.0 form are the emitter's business. Nodes that rewrite.rs
//! reads carry the byte spans of their source text (operands, calls, steps and predicates).

use super::lexer::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::schematron) enum Op {
    Or,
    And,
    /// General comparison (`=`...), by its XPath 1.0 spelling.
    Gen(&'static str),
    /// Value comparison (`eq`...), by the XPath 1.0 spelling of its operator.
    Val(&'static str),
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Union,
    Intersect,
    Except,
}

#[derive(Debug, Clone)]
pub(in crate::schematron) enum Expr {
    /// Operator, operands, and the operands' spans.
    Bin(Op, Box<Expr>, Box<Expr>, [Span; 2]),
    Neg(Box<Expr>),
    Castable {
        expr: Box<Expr>,
        ty: String,
        opt: bool,
    },
    Cast {
        expr: Box<Expr>,
        ty: String,
    },
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    Quant {
        every: bool,
        binds: Vec<(String, Expr)>,
        body: Box<Expr>,
    },
    For {
        binds: Vec<(String, Expr)>,
        body: Box<Expr>,
    },
    /// `()` or `(a, b, ...)`.
    Seq(Vec<Expr>),
    Paren(Box<Expr>),
    /// A path with a root or at least two steps (a lone filter expression is not a path).
    Path {
        root: Root,
        /// `(after "//", step)`; the flag of the first step is meaningless.
        steps: Vec<(bool, Step)>,
    },
    Filter(Box<Expr>, Vec<Expr>),
    Str(String, char),
    Num(String),
    Var(String),
    Dot,
    /// Name, arguments, span of the whole call.
    Call(String, Vec<Expr>, Span),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::schematron) enum Root {
    None,
    Slash,
    DoubleSlash,
}

#[derive(Debug, Clone)]
pub(in crate::schematron) enum Step {
    Axis {
        axis: Axis,
        test: Test,
        preds: Vec<Expr>,
        /// The whole step, then each predicate's inside (brackets excluded).
        span: Span,
        pred_spans: Vec<Span>,
    },
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::schematron) enum Axis {
    /// No axis written: child.
    Implicit,
    /// `@`.
    At,
    /// `..` (no node test).
    DotDot,
    Named(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::schematron) enum Test {
    /// `*`, `p:*`, `*:l`, `l`, `p:l`.
    Name(String),
    /// `node()`, `text()`, ... with the raw text of its arguments.
    Kind(String, String),
}

pub(super) const KIND_TESTS: &[&str] = &[
    "node",
    "text",
    "comment",
    "processing-instruction",
    "element",
    "attribute",
    "document-node",
    "schema-element",
    "schema-attribute",
    "item",
    "empty-sequence",
];

pub(super) const AXES: &[&str] = &[
    "child",
    "descendant",
    "attribute",
    "self",
    "descendant-or-self",
    "following-sibling",
    "following",
    "namespace",
    "parent",
    "ancestor",
    "preceding-sibling",
    "preceding",
    "ancestor-or-self",
];

pub(super) struct Parser<'t> {
    pub(super) toks: &'t [Tok],
    /// The span of each token.
    pub(super) spans: &'t [Span],
    pub(super) pos: usize,
}

pub(super) type PResult<T> = Result<T, String>;

impl Parser<'_> {
    /// Start of the next token.
    fn at(&self) -> usize {
        self.spans.get(self.pos).map_or(0, |s| s.0)
    }
    /// End of the last token read.
    fn end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|p| self.spans.get(p))
            .map_or(0, |s| s.1)
    }
    /// `l op r`, `l` spanning `start..` to where `r` (at `r0`) starts.
    fn bin(&self, op: Op, l: Expr, r: Expr, start: usize, l_end: usize, r0: usize) -> Expr {
        Expr::Bin(
            op,
            Box::new(l),
            Box::new(r),
            [(start, l_end), (r0, self.end())],
        )
    }
    fn peek(&self) -> &Tok {
        &self.toks[self.pos]
    }
    fn peek_at(&self, n: usize) -> &Tok {
        self.toks.get(self.pos + n).unwrap_or(&Tok::Eof)
    }
    fn bump(&mut self) -> Tok {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }
    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Sym(x) if *x == s)
    }
    fn is_name(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Name(x) if x == s)
    }
    fn eat_sym(&mut self, s: &str) -> bool {
        if self.is_sym(s) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn eat_name(&mut self, s: &str) -> bool {
        if self.is_name(s) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn expect_sym(&mut self, s: &str) -> PResult<()> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(format!("« {s} » attendu, trouvé {:?}", self.peek()))
        }
    }
    fn expect_name(&mut self, s: &str) -> PResult<()> {
        if self.eat_name(s) {
            Ok(())
        } else {
            Err(format!("« {s} » attendu, trouvé {:?}", self.peek()))
        }
    }

    pub(super) fn parse_all(mut self) -> PResult<Expr> {
        let e = self.expr()?;
        if *self.peek() != Tok::Eof {
            return Err(format!(
                "texte inattendu après l'expression : {:?}",
                self.peek()
            ));
        }
        Ok(e)
    }

    /// Expr ::= ExprSingle ("," ExprSingle)*
    fn expr(&mut self) -> PResult<Expr> {
        let first = self.expr_single()?;
        if !self.is_sym(",") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_sym(",") {
            items.push(self.expr_single()?);
        }
        Ok(Expr::Seq(items))
    }

    fn expr_single(&mut self) -> PResult<Expr> {
        let var_follows = matches!(self.peek_at(1), Tok::Var(_));
        if var_follows && (self.is_name("for") || self.is_name("some") || self.is_name("every")) {
            let kw = match self.bump() {
                Tok::Name(n) => n,
                _ => unreachable!(),
            };
            let mut binds = Vec::new();
            loop {
                let Tok::Var(v) = self.bump() else {
                    return Err("variable attendue".into());
                };
                self.expect_name("in")?;
                binds.push((v, self.expr_single()?));
                if !self.eat_sym(",") {
                    break;
                }
            }
            if kw == "for" {
                self.expect_name("return")?;
                let body = Box::new(self.expr_single()?);
                return Ok(Expr::For { binds, body });
            }
            self.expect_name("satisfies")?;
            let body = Box::new(self.expr_single()?);
            return Ok(Expr::Quant {
                every: kw == "every",
                binds,
                body,
            });
        }
        if self.is_name("if") && matches!(self.peek_at(1), Tok::Sym("(")) {
            self.bump();
            self.bump();
            let c = self.expr()?;
            self.expect_sym(")")?;
            self.expect_name("then")?;
            let t = self.expr_single()?;
            self.expect_name("else")?;
            let e = self.expr_single()?;
            return Ok(Expr::If(Box::new(c), Box::new(t), Box::new(e)));
        }
        self.or_expr()
    }

    fn or_expr(&mut self) -> PResult<Expr> {
        let start = self.at();
        let mut l = self.and_expr()?;
        loop {
            let l_end = self.end();
            if !self.eat_name("or") {
                return Ok(l);
            }
            let r0 = self.at();
            let r = self.and_expr()?;
            l = self.bin(Op::Or, l, r, start, l_end, r0);
        }
    }

    fn and_expr(&mut self) -> PResult<Expr> {
        let start = self.at();
        let mut l = self.comparison()?;
        loop {
            let l_end = self.end();
            if !self.eat_name("and") {
                return Ok(l);
            }
            let r0 = self.at();
            let r = self.comparison()?;
            l = self.bin(Op::And, l, r, start, l_end, r0);
        }
    }

    fn comparison(&mut self) -> PResult<Expr> {
        let start = self.at();
        let l = self.range()?;
        let l_end = self.end();
        let op = match self.peek() {
            Tok::Sym(s @ ("=" | "!=" | "<" | "<=" | ">" | ">=")) => Some(Op::Gen(s)),
            Tok::Sym("<<" | ">>") => return Err("comparaison d'ordre de nœuds (<<, >>)".into()),
            Tok::Name(n) => match n.as_str() {
                "eq" => Some(Op::Val("=")),
                "ne" => Some(Op::Val("!=")),
                "lt" => Some(Op::Val("<")),
                "le" => Some(Op::Val("<=")),
                "gt" => Some(Op::Val(">")),
                "ge" => Some(Op::Val(">=")),
                "is" => return Err("comparaison d'identité de nœuds (is)".into()),
                _ => None,
            },
            _ => None,
        };
        let Some(op) = op else { return Ok(l) };
        self.bump();
        let r0 = self.at();
        let r = self.range()?;
        Ok(self.bin(op, l, r, start, l_end, r0))
    }

    fn range(&mut self) -> PResult<Expr> {
        let l = self.additive()?;
        if self.is_name("to") {
            return Err("expression d'intervalle (to)".into());
        }
        Ok(l)
    }

    fn additive(&mut self) -> PResult<Expr> {
        let start = self.at();
        let mut l = self.multiplicative()?;
        loop {
            let l_end = self.end();
            let op = if self.eat_sym("+") {
                Op::Add
            } else if self.eat_sym("-") {
                Op::Sub
            } else {
                return Ok(l);
            };
            let r0 = self.at();
            let r = self.multiplicative()?;
            l = self.bin(op, l, r, start, l_end, r0);
        }
    }

    fn multiplicative(&mut self) -> PResult<Expr> {
        let start = self.at();
        let mut l = self.union()?;
        loop {
            let l_end = self.end();
            let op = if *self.peek() == Tok::Star {
                Op::Mul
            } else if self.is_name("div") {
                Op::Div
            } else if self.is_name("mod") {
                Op::Mod
            } else if self.is_name("idiv") {
                return Err("division entière (idiv)".into());
            } else {
                return Ok(l);
            };
            self.bump();
            let r0 = self.at();
            let r = self.union()?;
            l = self.bin(op, l, r, start, l_end, r0);
        }
    }

    fn union(&mut self) -> PResult<Expr> {
        let start = self.at();
        let mut l = self.intersect()?;
        loop {
            let l_end = self.end();
            if !(self.eat_sym("|") || self.eat_name("union")) {
                return Ok(l);
            }
            let r0 = self.at();
            let r = self.intersect()?;
            l = self.bin(Op::Union, l, r, start, l_end, r0);
        }
    }

    fn intersect(&mut self) -> PResult<Expr> {
        let start = self.at();
        let mut l = self.instance_of()?;
        loop {
            let l_end = self.end();
            let op = if self.eat_name("intersect") {
                Op::Intersect
            } else if self.eat_name("except") {
                Op::Except
            } else {
                return Ok(l);
            };
            let r0 = self.at();
            let r = self.instance_of()?;
            l = self.bin(op, l, r, start, l_end, r0);
        }
    }

    fn instance_of(&mut self) -> PResult<Expr> {
        let l = self.treat()?;
        if self.is_name("instance") && matches!(self.peek_at(1), Tok::Name(n) if n == "of") {
            return Err("instance of".into());
        }
        Ok(l)
    }

    fn treat(&mut self) -> PResult<Expr> {
        let l = self.castable()?;
        if self.is_name("treat") && matches!(self.peek_at(1), Tok::Name(n) if n == "as") {
            return Err("treat as".into());
        }
        Ok(l)
    }

    fn single_type(&mut self) -> PResult<(String, bool)> {
        let Tok::Name(t) = self.bump() else {
            return Err("type attendu".into());
        };
        let opt = self.eat_sym("?");
        Ok((t, opt))
    }

    fn castable(&mut self) -> PResult<Expr> {
        let l = self.cast()?;
        if self.is_name("castable") && matches!(self.peek_at(1), Tok::Name(n) if n == "as") {
            self.bump();
            self.bump();
            let (ty, opt) = self.single_type()?;
            return Ok(Expr::Castable {
                expr: Box::new(l),
                ty,
                opt,
            });
        }
        Ok(l)
    }

    fn cast(&mut self) -> PResult<Expr> {
        let l = self.unary()?;
        if self.is_name("cast") && matches!(self.peek_at(1), Tok::Name(n) if n == "as") {
            self.bump();
            self.bump();
            let (ty, opt) = self.single_type()?;
            if opt {
                return Err("cast as T? ".into());
            }
            return Ok(Expr::Cast {
                expr: Box::new(l),
                ty,
            });
        }
        Ok(l)
    }

    fn unary(&mut self) -> PResult<Expr> {
        let mut neg = 0;
        loop {
            if self.eat_sym("-") {
                neg += 1;
            } else if self.is_sym("+") {
                return Err("plus unaire".into());
            } else {
                break;
            }
        }
        let mut e = self.path()?;
        for _ in 0..neg {
            e = Expr::Neg(Box::new(e));
        }
        Ok(e)
    }

    /// Can the current token start a relative path step (after a leading `/`)?
    fn starts_step(&self) -> bool {
        match self.peek() {
            Tok::Name(_) | Tok::Star | Tok::Var(_) | Tok::Str(..) | Tok::Num(_) => true,
            Tok::Sym(s) => matches!(*s, "@" | "." | ".." | "("),
            Tok::Eof => false,
        }
    }

    fn path(&mut self) -> PResult<Expr> {
        let root = if self.eat_sym("//") {
            Root::DoubleSlash
        } else if self.eat_sym("/") {
            Root::Slash
        } else {
            Root::None
        };
        if root == Root::Slash && !self.starts_step() {
            return Ok(Expr::Path {
                root,
                steps: Vec::new(),
            });
        }
        let mut steps = vec![(false, self.step()?)];
        loop {
            let desc = if self.eat_sym("//") {
                true
            } else if self.eat_sym("/") {
                false
            } else {
                break;
            };
            steps.push((desc, self.step()?));
        }
        if root == Root::None
            && steps.len() == 1
            && matches!(steps[0].1, Step::Expr(_))
            && let Some((_, Step::Expr(e))) = steps.pop()
        {
            return Ok(e);
        }
        Ok(Expr::Path { root, steps })
    }

    fn predicates(&mut self) -> PResult<(Vec<Expr>, Vec<Span>)> {
        let (mut preds, mut spans) = (Vec::new(), Vec::new());
        while self.eat_sym("[") {
            let start = self.at();
            preds.push(self.expr()?);
            spans.push((start, self.end()));
            self.expect_sym("]")?;
        }
        Ok((preds, spans))
    }

    fn step(&mut self) -> PResult<Step> {
        let start = self.at();
        // Axis steps.
        if self.eat_sym("..") {
            let (preds, pred_spans) = self.predicates()?;
            return Ok(Step::Axis {
                axis: Axis::DotDot,
                test: Test::Kind("node".into(), String::new()),
                preds,
                span: (start, self.end()),
                pred_spans,
            });
        }
        let mut axis = None;
        if self.eat_sym("@") {
            axis = Some(Axis::At);
        } else if let Tok::Name(n) = self.peek().clone()
            && matches!(self.peek_at(1), Tok::Sym("::"))
        {
            if !AXES.contains(&n.as_str()) {
                return Err(format!("axe inconnu {n}"));
            }
            self.bump();
            self.bump();
            axis = Some(Axis::Named(n));
        }
        let is_call =
            |p: &Self, n: &str| matches!(p.peek_at(1), Tok::Sym("(")) && !KIND_TESTS.contains(&n);
        match self.peek().clone() {
            Tok::Star => {
                self.bump();
                let (preds, pred_spans) = self.predicates()?;
                return Ok(Step::Axis {
                    axis: axis.unwrap_or(Axis::Implicit),
                    test: Test::Name("*".into()),
                    preds,
                    span: (start, self.end()),
                    pred_spans,
                });
            }
            Tok::Name(n) if axis.is_some() || !is_call(self, &n) => {
                self.bump();
                let test = if KIND_TESTS.contains(&n.as_str()) && self.is_sym("(") {
                    self.bump();
                    let mut raw = String::new();
                    loop {
                        match self.bump() {
                            Tok::Sym(")") => break,
                            Tok::Eof => return Err("test de nœud non fermé".into()),
                            Tok::Name(x) => raw.push_str(&x),
                            Tok::Str(s, q) => raw.push_str(&format!("{q}{s}{q}")),
                            Tok::Star => raw.push('*'),
                            Tok::Sym(s) => raw.push_str(s),
                            other => return Err(format!("test de nœud : {other:?}")),
                        }
                    }
                    Test::Kind(n, raw)
                } else {
                    Test::Name(n)
                };
                let (preds, pred_spans) = self.predicates()?;
                return Ok(Step::Axis {
                    axis: axis.unwrap_or(Axis::Implicit),
                    test,
                    preds,
                    span: (start, self.end()),
                    pred_spans,
                });
            }
            _ if axis.is_some() => return Err("test de nœud attendu".into()),
            _ => {}
        }
        // Filter expression.
        let primary = self.primary()?;
        let (preds, _) = self.predicates()?;
        Ok(Step::Expr(if preds.is_empty() {
            primary
        } else {
            Expr::Filter(Box::new(primary), preds)
        }))
    }

    fn primary(&mut self) -> PResult<Expr> {
        let start = self.at();
        match self.bump() {
            Tok::Str(s, q) => Ok(Expr::Str(s, q)),
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::Var(v) => Ok(Expr::Var(v)),
            Tok::Sym(".") => Ok(Expr::Dot),
            Tok::Sym("(") => {
                if self.eat_sym(")") {
                    return Ok(Expr::Seq(Vec::new()));
                }
                let e = self.expr()?;
                self.expect_sym(")")?;
                Ok(match e {
                    Expr::Seq(items) => Expr::Seq(items),
                    e => Expr::Paren(Box::new(e)),
                })
            }
            Tok::Name(n) if self.is_sym("(") => {
                self.bump();
                let mut args = Vec::new();
                if !self.eat_sym(")") {
                    loop {
                        args.push(self.expr_single()?);
                        if self.eat_sym(")") {
                            break;
                        }
                        self.expect_sym(",")?;
                    }
                }
                Ok(Expr::Call(n, args, (start, self.end())))
            }
            t => Err(format!("expression attendue, trouvé {t:?}")),
        }
    }
}
