//! XPath 2.0 → XPath 1.0 (+ banc extension functions) translation.
//!
//! The kit's schematrons declare `queryBinding="xslt2"`; the reference evaluates them with Saxon-HE
//! through the ISO skeleton for XSLT 2. banc evaluates with libxml2's XPath 1.0 engine, extended
//! with C functions in the namespace `urn:banc:xpath` (prefix `banc`). This module rewrites each
//! expression so that libxml2 computes what Saxon computes, or refuses ([`Untranslatable`]) when it
//! cannot prove it: a refusal is visible, a silently different verdict is not.
//!
//! Design: a small lexer and recursive-descent parser build an AST of the XPath 2.0 grammar; an
//! emitter walks it with a coarse static type (boolean, number, string, nodes, emulated atomic
//! sequence, unknown) and writes XPath 1.0. Expressions whose emitted token stream equals the
//! input's come back byte for byte unchanged.
//!
//! Entry points: [`to_xpath1`] (any expression, value kept: lets), [`test_to_xpath1`] (assert
//! and report tests: only the effective boolean value is kept), [`value_of_to_xpath1`] (message
//! `value-of`: XSLT 2.0 joins all items with a space), [`pattern_to_xpath1`] (rule contexts). The
//! same methods on a [`Scope`] know the type of the `let`s in scope; without it, variables are of
//! unknown type and a few expressions are refused (`$a >= $b`) or take a safer, slower form
//! (`empty($v)` → `not(banc:exists($v))`).
//!
//! # Sequences of atomic values
//! XPath 1.0 has none. They are emulated as node-sets of fresh text nodes (one per item, created
//! in a scratch document in sequence order, which is then their document order). General
//! comparisons on node-sets are existential as in 2.0; `count()` counts items.
//!
//! # Extension functions (all in `urn:banc:xpath`; see [`EXTENSION_FUNCTIONS`])
//! "Item list" of an argument: a node-set gives its nodes in node-set order; a string, number or
//! boolean gives one item (numbers formatted with [`double_to_string`]). "String of" an argument
//! is XPath 1.0 `string()` (first node of a node-set, `""` for an empty one).
//! - `banc:seq(a, ...)` → node-set: the items of all arguments in argument order, existing nodes
//!   kept as they are (not copied), atomic items as new text nodes. `banc:seq()` is `()`.
//! - `banc:exists(x)` → boolean: node-set non-empty; any string/number/boolean → true (one item,
//!   even `""`). Used for `exists`/`empty` when the static type is unknown (variables).
//! - `banc:matches(s, re [, flags])` → boolean; `banc:replace(s, re, rep [, flags])` → string;
//!   `banc:tokenize(s, re [, flags])` → node-set of text nodes (empty input → empty set; empty
//!   tokens kept, as in fn:tokenize). `s` is "string of". Use [`compile_regex`], [`replace`],
//!   [`tokenize`] of this module (they implement the XPath rules, errors included).
//! - `banc:string-join(x, sep)` → string: string values of the items of `x` joined by `sep`.
//! - `banc:distinct-values(x)` → node-set of text nodes: item strings, first occurrences in order
//!   (codepoint equality).
//! - `banc:resolve-qname(x, el)` → `{uri}local` (no namespace: `{}local`), the lexical QName
//!   "string of" `x` (whitespace-trimmed) resolved against the in-scope namespaces of the first node
//!   of `el` (unprefixed: its default namespace). `x` an empty node-set → empty node-set. An invalid
//!   QName or undeclared prefix is a Saxon error; return `""` (never equal to a QName).
//! - `banc:castable(x, 'T')` → boolean: `x castable as xs:T`. `x` a node-set: false unless it has
//!   exactly one node, whose string value is checked; empty with `'T?'` → true. A string: checked.
//!   Use [`castable`] (strip a trailing `?` from T first).
//! - `banc:if(c, a, b)` → `a` if boolean(c) else `b` (both evaluated; used only on pure operands).
//! - `banc:number(x)` → number: fn:number of XPath 2.0: [`xs_double`] of the "string of" x (NaN if
//!   not an xs:double lexical form: `+1`, `1e3`, `INF` are numbers there, not in XPath 1.0).
//! - `banc:except(a, b)` / `banc:intersect(a, b)` → node-set: nodes of `a` (not) in `b`.
//! - `banc:map(s, 'xpath')` → node-set: for each node of `s` (in order, context position/size set
//!   accordingly), evaluate the XPath 1.0 expression given as a string (compile once and cache; same
//!   variables and namespaces as the caller) with that node as context; a node-set result
//!   contributes its nodes, any other result one text node of its string value (numbers with
//!   [`double_to_string`]). Implements `for $v in S return E` and `S/f(...)`.
//! - `banc:lower-case(s)`, `banc:upper-case(s)` (Unicode, Rust `to_lowercase`), `banc:ends-with(a,
//!   b)` → as fn:*. `banc:iri-to-uri(s)` → [`iri_to_uri`].
//! - `banc:compare-dateTime(a, b)` → number -1, 0 or 1 comparing two xs:dateTime lexical forms
//!   ([`compare_datetime`]), NaN if either is not castable (Saxon would raise an error).
//! - `banc:current-date()`, `banc:current-dateTime()` → strings (only if the kit needs them).
//! - `doc`, `doc-available` and XSLT `document` are left under their plain names.
//!
//! # Known, accepted differences (only where XPath 2.0 raises a dynamic error)
//! Saxon aborts the whole schematron on a dynamic error; banc gives some verdict instead: an
//! untyped value compared with a number that is not numeric (`@value > 0` with `abc`), `string()`
//! or a function argument of several nodes, a value comparison on several items, a QName with an
//! undeclared prefix. Static type checks are coarse: variables are of unknown type, and a
//! variable used as `$v[...]` or `$v/...` must hold a node-set at run time (libxml2 reports an
//! error otherwise, it does not silently differ).

use regex::Regex;
use std::fmt;

/// Every extension function the translation may emit (local name in `urn:banc:xpath`, contract).
pub const EXTENSION_FUNCTIONS: &[(&str, &str)] = &[
    (
        "seq",
        "seq(a, ...) -> node-set: items of the arguments in order; nodes kept, atomics as new text nodes",
    ),
    (
        "exists",
        "exists(x) -> boolean: node-set non-empty; a string/number/boolean is one item (true)",
    ),
    (
        "matches",
        "matches(s, re [, flags]) -> boolean: fn:matches, regex via compile_regex",
    ),
    (
        "replace",
        "replace(s, re, rep [, flags]) -> string: fn:replace via xpath2::replace",
    ),
    (
        "tokenize",
        "tokenize(s, re [, flags]) -> node-set of text nodes: fn:tokenize via xpath2::tokenize",
    ),
    (
        "string-join",
        "string-join(x, sep) -> string: item strings of x joined by sep",
    ),
    (
        "distinct-values",
        "distinct-values(x) -> node-set of text nodes: distinct item strings, first occurrences in order",
    ),
    (
        "resolve-qname",
        "resolve-qname(x, el) -> '{uri}local' resolved on el's in-scope namespaces; empty x -> empty node-set; error -> ''",
    ),
    (
        "castable",
        "castable(x, 'T' | 'T?') -> boolean: exactly one item castable as xs:T (xpath2::castable); empty -> T? only",
    ),
    ("if", "if(c, a, b) -> a when boolean(c), else b"),
    (
        "number",
        "number(x) -> number: XPath 2.0 fn:number, xpath2::xs_double of string(x)",
    ),
    ("except", "except(a, b) -> node-set: nodes of a not in b"),
    (
        "intersect",
        "intersect(a, b) -> node-set: nodes of a also in b",
    ),
    (
        "map",
        "map(s, 'xpath1') -> node-set: per node of s (as context), result nodes or a text node of its string",
    ),
    ("lower-case", "lower-case(s) -> string: fn:lower-case"),
    ("upper-case", "upper-case(s) -> string: fn:upper-case"),
    (
        "ends-with",
        "ends-with(a, b) -> boolean: fn:ends-with (codepoints)",
    ),
    ("iri-to-uri", "iri-to-uri(s) -> string: xpath2::iri_to_uri"),
    (
        "compare-dateTime",
        "compare-dateTime(a, b) -> -1/0/1 per xpath2::compare_datetime, NaN if either is not a dateTime",
    ),
    (
        "current-date",
        "current-date() -> string: xs:date of now, with timezone",
    ),
    (
        "current-dateTime",
        "current-dateTime() -> string: xs:dateTime of now, with timezone",
    ),
];

/// An expression that cannot be given the same meaning in XPath 1.0 + banc functions.
#[derive(Clone, PartialEq, Eq)]
pub struct Untranslatable {
    pub expr: String,
    pub reason: String,
}

impl fmt::Display for Untranslatable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expression XPath 2.0 non traduisible ({}) : {}",
            self.reason, self.expr
        )
    }
}

impl fmt::Debug for Untranslatable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Untranslatable {}

/// Translate an XPath 2.0 expression into XPath 1.0 + banc extension functions, keeping its
/// value (lets, any expression). Expressions that are already XPath 1.0 with the same meaning
/// come back unchanged. Variables are of unknown type: prefer [`Scope::to_xpath1`].
pub fn to_xpath1(expr: &str) -> Result<String, Untranslatable> {
    Scope::default().to_xpath1(expr)
}

/// Same for an XSLT match pattern (a rule context): patterns are expressions of a restricted
/// shape, translated the same way (the result is used as an expression selecting the nodes).
pub fn pattern_to_xpath1(pattern: &str) -> Result<String, Untranslatable> {
    Scope::default().pattern_to_xpath1(pattern)
}

/// Translate an assert/report `test`: only its effective boolean value is kept (the result may
/// be a node-set whose emptiness is the answer), which allows purer XPath 1.0 rewrites of `if`
/// and `some`. [`to_xpath1`] is also correct for tests.
pub fn test_to_xpath1(expr: &str) -> Result<String, Untranslatable> {
    Scope::default().test_to_xpath1(expr)
}

/// Translate the `select` of a message `value-of`: XSLT 2.0 `xsl:value-of` joins all items with
/// a space (XPath 1.0 `string()` would keep the first node only).
pub fn value_of_to_xpath1(expr: &str) -> Result<String, Untranslatable> {
    Scope::default().value_of_to_xpath1(expr)
}

/// The `let`s visible where an expression is evaluated (schema, then pattern, then rule lets, in
/// document order), with the static type of each value. Knowing that `$n` is a number or `$v` a
/// node-set lets more expressions translate exactly (`$a >= $b`, `empty($v)`).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    vars: std::collections::HashMap<String, Ty>,
}

impl Scope {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a `let` (a later one with the same name hides the earlier). Its type is the one of
    /// its translated value; an untranslatable value leaves the variable of unknown type.
    pub fn add_let(&mut self, name: &str, value: &str) {
        let ty = self
            .translate(value, Mode::Value)
            .map(|(_, _, ty)| ty)
            .unwrap_or(Ty::Any);
        self.vars.insert(name.to_string(), ty);
    }

    pub fn to_xpath1(&self, expr: &str) -> Result<String, Untranslatable> {
        self.translate(expr, Mode::Value).map(|(s, _, _)| s)
    }

    pub fn pattern_to_xpath1(&self, pattern: &str) -> Result<String, Untranslatable> {
        self.translate(pattern, Mode::Value).map(|(s, _, _)| s)
    }

    pub fn test_to_xpath1(&self, expr: &str) -> Result<String, Untranslatable> {
        self.translate(expr, Mode::Test).map(|(s, _, _)| s)
    }

    pub fn value_of_to_xpath1(&self, expr: &str) -> Result<String, Untranslatable> {
        self.translate(expr, Mode::ValueOf).map(|(s, _, _)| s)
    }

    /// Translation, with the XPath 1.0 bodies given to `banc:map` as strings (so tests can
    /// compile them too) and the static type of the result.
    fn translate(
        &self,
        expr: &str,
        mode: Mode,
    ) -> Result<(String, Vec<String>, Ty), Untranslatable> {
        let err = |reason: String| Untranslatable {
            expr: expr.to_string(),
            reason,
        };
        let (toks, had_comment) = lex(expr).map_err(err)?;
        let ast = Parser {
            toks: &toks,
            pos: 0,
        }
        .parse_all()
        .map_err(err)?;
        let mut em = Emitter {
            bodies: Vec::new(),
            vars: &self.vars,
        };
        let out = match mode {
            Mode::Test => em.emit(&ast, Ctx::Bool),
            Mode::Value => em.emit(&ast, Ctx::Value),
            Mode::ValueOf => em.emit(&ast, Ctx::Value).map(|o| match o.ty {
                Ty::Nodes | Ty::Atoms | Ty::Any => Out {
                    s: format!("banc:string-join({}, ' ')", o.s),
                    ty: Ty::Str,
                },
                _ => o,
            }),
        }
        .map_err(err)?;
        // Unchanged when the token streams agree: keep the author's text (spacing, quotes).
        let same = !had_comment && lex(&out.s).map(|(t, _)| t == toks).unwrap_or(false);
        let s = if same { expr.trim().to_string() } else { out.s };
        Ok((s, em.bodies, out.ty))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// An assert/report test: the result is used for its effective boolean value.
    Test,
    /// A let value or a rule context: the value itself.
    Value,
    ValueOf,
}

#[cfg(test)]
fn translate(expr: &str, mode: Mode) -> Result<(String, Vec<String>), Untranslatable> {
    Scope::default()
        .translate(expr, mode)
        .map(|(s, b, _)| (s, b))
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// NCName, QName, `p:*` or `*:local` (keywords and operator names too: the parser decides).
    Name(String),
    Star,
    Var(String),
    Str(String, char),
    Num(String),
    Sym(&'static str),
    Eof,
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '\u{B7}')
}

/// Tokens, and whether the text had `(: comments :)`.
fn lex(src: &str) -> Result<(Vec<Tok>, bool), String> {
    let cs: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let mut had_comment = false;
    let ncname = |i: &mut usize| -> String {
        let start = *i;
        while *i < cs.len() && is_name_char(cs[*i]) {
            *i += 1;
        }
        cs[start..*i].iter().collect()
    };
    while i < cs.len() {
        let c = cs[i];
        let next = cs.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '(' && next == Some(':') {
            had_comment = true;
            let mut depth = 0;
            while i < cs.len() {
                if cs[i] == '(' && cs.get(i + 1) == Some(&':') {
                    depth += 1;
                    i += 2;
                } else if cs[i] == ':' && cs.get(i + 1) == Some(&')') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            if depth != 0 {
                return Err("commentaire non fermé".into());
            }
            continue;
        }
        if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match cs.get(i) {
                    None => return Err("littéral non fermé".into()),
                    Some(&q) if q == c => {
                        if cs.get(i + 1) == Some(&c) {
                            s.push(c);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s, c));
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) {
            let start = i;
            while i < cs.len() && cs[i].is_ascii_digit() {
                i += 1;
            }
            if i < cs.len() && cs[i] == '.' {
                i += 1;
                while i < cs.len() && cs[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < cs.len() && (cs[i] == 'e' || cs[i] == 'E') {
                let mut j = i + 1;
                if j < cs.len() && (cs[j] == '+' || cs[j] == '-') {
                    j += 1;
                }
                if j < cs.len() && cs[j].is_ascii_digit() {
                    i = j;
                    while i < cs.len() && cs[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            out.push(Tok::Num(cs[start..i].iter().collect()));
            continue;
        }
        if c == '$' {
            i += 1;
            while i < cs.len() && cs[i].is_whitespace() {
                i += 1;
            }
            if !(i < cs.len() && is_name_start(cs[i])) {
                return Err("nom de variable attendu après $".into());
            }
            let mut name = ncname(&mut i);
            if i + 1 < cs.len() && cs[i] == ':' && is_name_start(cs[i + 1]) {
                i += 1;
                name.push(':');
                name.push_str(&ncname(&mut i));
            }
            out.push(Tok::Var(name));
            continue;
        }
        if is_name_start(c) {
            let mut name = ncname(&mut i);
            if i + 1 < cs.len() && cs[i] == ':' && cs[i + 1] != ':' {
                if is_name_start(cs[i + 1]) {
                    i += 1;
                    name.push(':');
                    name.push_str(&ncname(&mut i));
                } else if cs[i + 1] == '*' {
                    i += 2;
                    name.push_str(":*");
                }
            }
            out.push(Tok::Name(name));
            continue;
        }
        if c == '*' {
            if next == Some(':') && cs.get(i + 2).is_some_and(|&n| is_name_start(n)) {
                i += 2;
                let local = ncname(&mut i);
                out.push(Tok::Name(format!("*:{local}")));
            } else {
                i += 1;
                out.push(Tok::Star);
            }
            continue;
        }
        let two: String = cs[i..cs.len().min(i + 2)].iter().collect();
        let sym2 = ["//", "::", "..", "!=", "<=", ">=", "<<", ">>"]
            .into_iter()
            .find(|s| *s == two);
        if let Some(s) = sym2 {
            out.push(Tok::Sym(s));
            i += 2;
            continue;
        }
        let sym1 = [
            "(", ")", "[", "]", ",", "/", "@", ".", "=", "<", ">", "+", "-", "|", "?",
        ]
        .into_iter()
        .find(|s| s.starts_with(c));
        match sym1 {
            Some(s) => {
                out.push(Tok::Sym(s));
                i += 1;
            }
            None => return Err(format!("caractère inattendu « {c} »")),
        }
    }
    out.push(Tok::Eof);
    Ok((out, had_comment))
}

// ---------------------------------------------------------------------------------------------
// AST and parser (XPath 2.0 grammar, precedence from the spec)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
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
enum Expr {
    Bin(Op, Box<Expr>, Box<Expr>),
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
    Call(String, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    None,
    Slash,
    DoubleSlash,
}

#[derive(Debug, Clone)]
enum Step {
    Axis {
        axis: Axis,
        test: Test,
        preds: Vec<Expr>,
    },
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Axis {
    /// No axis written: child.
    Implicit,
    /// `@`.
    At,
    /// `..` (no node test).
    DotDot,
    Named(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Test {
    /// `*`, `p:*`, `*:l`, `l`, `p:l`.
    Name(String),
    /// `node()`, `text()`, ... with the raw text of its arguments.
    Kind(String, String),
}

const KIND_TESTS: &[&str] = &[
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

const AXES: &[&str] = &[
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

struct Parser<'t> {
    toks: &'t [Tok],
    pos: usize,
}

type PResult<T> = Result<T, String>;

impl Parser<'_> {
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

    fn parse_all(mut self) -> PResult<Expr> {
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
        let mut l = self.and_expr()?;
        while self.eat_name("or") {
            let r = self.and_expr()?;
            l = Expr::Bin(Op::Or, Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn and_expr(&mut self) -> PResult<Expr> {
        let mut l = self.comparison()?;
        while self.eat_name("and") {
            let r = self.comparison()?;
            l = Expr::Bin(Op::And, Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn comparison(&mut self) -> PResult<Expr> {
        let l = self.range()?;
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
        let r = self.range()?;
        Ok(Expr::Bin(op, Box::new(l), Box::new(r)))
    }

    fn range(&mut self) -> PResult<Expr> {
        let l = self.additive()?;
        if self.is_name("to") {
            return Err("expression d'intervalle (to)".into());
        }
        Ok(l)
    }

    fn additive(&mut self) -> PResult<Expr> {
        let mut l = self.multiplicative()?;
        loop {
            let op = if self.eat_sym("+") {
                Op::Add
            } else if self.eat_sym("-") {
                Op::Sub
            } else {
                return Ok(l);
            };
            let r = self.multiplicative()?;
            l = Expr::Bin(op, Box::new(l), Box::new(r));
        }
    }

    fn multiplicative(&mut self) -> PResult<Expr> {
        let mut l = self.union()?;
        loop {
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
            let r = self.union()?;
            l = Expr::Bin(op, Box::new(l), Box::new(r));
        }
    }

    fn union(&mut self) -> PResult<Expr> {
        let mut l = self.intersect()?;
        while self.eat_sym("|") || self.eat_name("union") {
            let r = self.intersect()?;
            l = Expr::Bin(Op::Union, Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn intersect(&mut self) -> PResult<Expr> {
        let mut l = self.instance_of()?;
        loop {
            let op = if self.eat_name("intersect") {
                Op::Intersect
            } else if self.eat_name("except") {
                Op::Except
            } else {
                return Ok(l);
            };
            let r = self.instance_of()?;
            l = Expr::Bin(op, Box::new(l), Box::new(r));
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

    fn predicates(&mut self) -> PResult<Vec<Expr>> {
        let mut preds = Vec::new();
        while self.eat_sym("[") {
            preds.push(self.expr()?);
            self.expect_sym("]")?;
        }
        Ok(preds)
    }

    fn step(&mut self) -> PResult<Step> {
        // Axis steps.
        if self.eat_sym("..") {
            let preds = self.predicates()?;
            return Ok(Step::Axis {
                axis: Axis::DotDot,
                test: Test::Kind("node".into(), String::new()),
                preds,
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
                let preds = self.predicates()?;
                return Ok(Step::Axis {
                    axis: axis.unwrap_or(Axis::Implicit),
                    test: Test::Name("*".into()),
                    preds,
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
                let preds = self.predicates()?;
                return Ok(Step::Axis {
                    axis: axis.unwrap_or(Axis::Implicit),
                    test,
                    preds,
                });
            }
            _ if axis.is_some() => return Err("test de nœud attendu".into()),
            _ => {}
        }
        // Filter expression.
        let primary = self.primary()?;
        let preds = self.predicates()?;
        Ok(Step::Expr(if preds.is_empty() {
            primary
        } else {
            Expr::Filter(Box::new(primary), preds)
        }))
    }

    fn primary(&mut self) -> PResult<Expr> {
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
                Ok(Expr::Call(n, args))
            }
            t => Err(format!("expression attendue, trouvé {t:?}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Static analysis

/// Does evaluating `e` read the focus (context item, position, size) it is evaluated with?
/// Predicates and later path steps have their own focus and do not count.
fn uses_focus(e: &Expr) -> bool {
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
        Expr::Call(name, args) => {
            let focus_fn = matches!(name.as_str(), "position" | "last" | "current")
                || (args.is_empty()
                    && matches!(
                        name.as_str(),
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
                || matches!(name.as_str(), "lang" | "id" | "idref" | "key");
            focus_fn || args.iter().any(uses_focus)
        }
        Expr::Var(_) | Expr::Str(..) | Expr::Num(_) => false,
        Expr::Bin(_, a, b) => uses_focus(a) || uses_focus(b),
        Expr::Neg(a) | Expr::Paren(a) => uses_focus(a),
        Expr::Castable { expr, .. } | Expr::Cast { expr, .. } => uses_focus(expr),
        Expr::If(a, b, c) => uses_focus(a) || uses_focus(b) || uses_focus(c),
        Expr::Seq(items) => items.iter().any(uses_focus),
        Expr::Quant { binds, body, .. } | Expr::For { binds, body } => {
            binds.iter().any(|(_, e)| uses_focus(e)) || uses_focus(body)
        }
    }
}

fn mentions_var(e: &Expr, v: &str) -> bool {
    let m = |x: &Expr| mentions_var(x, v);
    match e {
        Expr::Var(n) => n == v,
        Expr::Dot | Expr::Str(..) | Expr::Num(_) => false,
        Expr::Path { steps, .. } => steps.iter().any(|(_, s)| match s {
            Step::Axis { preds, .. } => preds.iter().any(m),
            Step::Expr(x) => m(x),
        }),
        Expr::Filter(p, preds) => m(p) || preds.iter().any(m),
        Expr::Call(_, args) | Expr::Seq(args) => args.iter().any(m),
        Expr::Bin(_, a, b) => m(a) || m(b),
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
fn subst_focus(e: &Expr, v: &str) -> PResult<Expr> {
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
        Expr::Call(n, args) => Expr::Call(n.clone(), args.iter().map(s).collect::<PResult<_>>()?),
        Expr::Seq(items) => Expr::Seq(items.iter().map(s).collect::<PResult<_>>()?),
        Expr::Bin(op, a, b) => Expr::Bin(*op, Box::new(s(a)?), Box::new(s(b)?)),
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
enum Ty {
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
enum Ctx {
    /// Only the effective boolean value is used.
    Bool,
    Value,
}

struct Out {
    s: String,
    ty: Ty,
}

fn out(s: String, ty: Ty) -> PResult<Out> {
    Ok(Out { s, ty })
}

struct Emitter<'v> {
    bodies: Vec<String>,
    vars: &'v std::collections::HashMap<String, Ty>,
}

/// An XPath 1.0 string literal for `s` (1.0 has no escapes: `concat` when both quotes occur).
fn literal(s: &str, prefer: char) -> String {
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

fn lit_str(e: &Expr) -> Option<&str> {
    match e {
        Expr::Str(s, _) => Some(s),
        Expr::Paren(x) => lit_str(x),
        _ => None,
    }
}

fn is_literal(e: &Expr) -> bool {
    match e {
        Expr::Str(..) | Expr::Num(_) => true,
        Expr::Paren(x) => is_literal(x),
        _ => false,
    }
}

fn strip_xs(name: &str) -> Option<&str> {
    name.strip_prefix("xs:")
}

impl Emitter<'_> {
    fn emit(&mut self, e: &Expr, ctx: Ctx) -> PResult<Out> {
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
            Expr::Bin(op, a, b) => self.bin(*op, a, b, ctx),
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
            Expr::Call(name, args) => self.call(name, args),
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
        if let (Expr::Call(fa, xa), Expr::Call(fb, xb)) = (a, b)
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
                Step::Axis { axis, test, preds } => {
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
                if !matches!(&args[0], Expr::Call(f, _) if f == "resolve-QName" || f == "QName") {
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
fn union_members(e: &Expr) -> Option<Vec<&Expr>> {
    match e {
        Expr::Paren(x) => union_members(x),
        Expr::Bin(Op::Union, a, b) => {
            let mut v = union_members(a)?;
            v.extend(union_members(b)?);
            Some(v)
        }
        Expr::Path { .. } => Some(vec![e]),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Regular expressions (XSD + XPath 2.0 syntax → Rust `regex`)

/// XML 1.0 (5th ed.) NameStartChar without `:` (XSD `\i` includes `:`; added where used).
const NAME_START: &str = r"A-Z_a-z\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{2FF}\x{370}-\x{37D}\x{37F}-\x{1FFF}\x{200C}-\x{200D}\x{2070}-\x{218F}\x{2C00}-\x{2FEF}\x{3001}-\x{D7FF}\x{F900}-\x{FDCF}\x{FDF0}-\x{FFFD}\x{10000}-\x{EFFFF}";
const NAME_EXTRA: &str = r"\-.0-9\x{B7}\x{300}-\x{36F}\x{203F}-\x{2040}";

/// Compile an XSD/XPath 2.0 regular expression (fn:matches/replace/tokenize syntax, flags `s`,
/// `m`, `i`, `x`) into a Rust regex with the same meaning. Unanchored (search) like fn:matches.
pub fn compile_regex(pattern: &str, flags: &str) -> Result<Regex, String> {
    let (mut s, mut m, mut i, mut x) = (false, false, false, false);
    for f in flags.chars() {
        match f {
            's' => s = true,
            'm' => m = true,
            'i' => i = true,
            'x' => x = true,
            _ => return Err(format!("drapeau d'expression régulière inconnu « {f} »")),
        }
    }
    let cs: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    if i {
        out.push_str("(?i)");
    }
    if m {
        out.push_str("(?m)");
    }
    let mut p = 0;
    let mut depth = 0i32;
    while p < cs.len() {
        let c = cs[p];
        if x && matches!(c, ' ' | '\t' | '\n' | '\r') {
            p += 1;
            continue;
        }
        match c {
            '\\' => {
                let (t, np) = regex_escape(&cs, p, false)?;
                out.push_str(&t);
                p = np;
                continue;
            }
            '.' => out.push_str(if s { r"(?s:.)" } else { r"[^\n\r]" }),
            '[' => {
                let (t, np) = regex_class(&cs, p, x)?;
                out.push_str(&t);
                p = np;
                continue;
            }
            '(' => {
                depth += 1;
                if cs.get(p + 1) == Some(&'?') {
                    if cs.get(p + 2) == Some(&':') {
                        out.push_str("(?:");
                        p += 3;
                        continue;
                    }
                    return Err("construction (? non prise en charge".into());
                }
                out.push('(');
            }
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("parenthèse fermante sans ouvrante".into());
                }
                out.push(')');
            }
            '|' | '*' | '+' | '?' | '^' | '$' => out.push(c),
            '{' => {
                // Quantifier {n}, {n,}, {n,m}.
                let end = cs[p..]
                    .iter()
                    .position(|&ch| ch == '}')
                    .ok_or("quantificateur { non fermé")?;
                let body: String = cs[p + 1..p + end].iter().collect();
                let ok = {
                    let mut parts = body.splitn(2, ',');
                    let a = parts.next().unwrap_or("");
                    let b = parts.next();
                    !a.is_empty()
                        && a.chars().all(|d| d.is_ascii_digit())
                        && b.is_none_or(|b| b.chars().all(|d| d.is_ascii_digit()))
                };
                if !ok {
                    return Err(format!("quantificateur invalide {{{body}}}"));
                }
                out.push('{');
                out.push_str(&body);
                out.push('}');
                p += end + 1;
                continue;
            }
            ']' | '}' => return Err(format!("« {c} » doit être échappé")),
            _ => out.push_str(&regex::escape(&c.to_string())),
        }
        p += 1;
    }
    if depth != 0 {
        return Err("parenthèse non fermée".into());
    }
    Regex::new(&out).map_err(|e| e.to_string())
}

/// A backslash escape at `cs[p]`; `in_class`: the text goes inside a Rust `[...]`.
fn regex_escape(cs: &[char], p: usize, in_class: bool) -> Result<(String, usize), String> {
    let c = *cs.get(p + 1).ok_or("\\ final")?;
    let class = |body: String, neg: bool| -> String {
        if in_class && !neg {
            body
        } else {
            format!("[{}{body}]", if neg { "^" } else { "" })
        }
    };
    let t = match c {
        'n' => r"\n".to_string(),
        'r' => r"\r".to_string(),
        't' => r"\t".to_string(),
        '\\' | '|' | '.' | '?' | '*' | '+' | '(' | ')' | '{' | '}' | '[' | ']' | '^' | '$'
        | '-' => format!("\\{c}"),
        'd' => r"\p{Nd}".to_string(),
        'D' => r"\P{Nd}".to_string(),
        // XSD \s is exactly these four characters (Rust's \s is Unicode whitespace).
        's' => class(r"\x20\t\n\r".into(), false),
        'S' => class(r"\x20\t\n\r".into(), true),
        'w' => class(r"\p{P}\p{Z}\p{C}".into(), true),
        'W' => class(r"\p{P}\p{Z}\p{C}".into(), false),
        'i' => class(format!(":{NAME_START}"), false),
        'I' => class(format!(":{NAME_START}"), true),
        'c' => class(format!(":{NAME_START}{NAME_EXTRA}"), false),
        'C' => class(format!(":{NAME_START}{NAME_EXTRA}"), true),
        'p' | 'P' => {
            if cs.get(p + 2) != Some(&'{') {
                return Err("\\p sans {".into());
            }
            let end = cs[p + 3..]
                .iter()
                .position(|&ch| ch == '}')
                .ok_or("\\p{ non fermé")?;
            let name: String = cs[p + 3..p + 3 + end].iter().collect();
            const CATS: &[&str] = &[
                "L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No",
                "P", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Z", "Zs", "Zl", "Zp", "S", "Sm",
                "Sc", "Sk", "So", "C", "Cc", "Cf", "Co", "Cn",
            ];
            if !CATS.contains(&name.as_str()) {
                return Err(format!(
                    "propriété Unicode \\p{{{name}}} non prise en charge"
                ));
            }
            return Ok((format!("\\{c}{{{name}}}"), p + 4 + end));
        }
        '1'..='9' => return Err("référence arrière non prise en charge".into()),
        _ => return Err(format!("échappement \\{c} invalide")),
    };
    Ok((t, p + 2))
}

/// A character class expression at `cs[p] == '['`, with XSD subtraction `[a-z-[aeiou]]`.
fn regex_class(cs: &[char], p: usize, x: bool) -> Result<(String, usize), String> {
    let mut q = p + 1;
    let neg = cs.get(q) == Some(&'^');
    if neg {
        q += 1;
    }
    let mut items = String::new();
    let mut first = true;
    let mut sub: Option<String> = None;
    // A single character (or single-char escape) as written, for range ends.
    let single = |q: usize| -> Result<Option<(char, usize)>, String> {
        match cs.get(q) {
            None => Err("classe non fermée".into()),
            Some('\\') => {
                let c = *cs.get(q + 1).ok_or("\\ final")?;
                Ok(match c {
                    'n' => Some(('\n', q + 2)),
                    'r' => Some(('\r', q + 2)),
                    't' => Some(('\t', q + 2)),
                    '\\' | '|' | '.' | '?' | '*' | '+' | '(' | ')' | '{' | '}' | '[' | ']'
                    | '^' | '$' | '-' => Some((c, q + 2)),
                    _ => None,
                })
            }
            Some('[') => Err("« [ » doit être échappé dans une classe".into()),
            Some(&c) => Ok(Some((c, q + 1))),
        }
    };
    let esc = |c: char| -> String {
        if c.is_ascii_alphanumeric() || !c.is_ascii() {
            c.to_string()
        } else {
            format!("\\x{{{:X}}}", c as u32)
        }
    };
    loop {
        if x {
            while q < cs.len() && matches!(cs[q], ' ' | '\t' | '\n' | '\r') {
                q += 1;
            }
        }
        match cs.get(q) {
            None => return Err("classe non fermée".into()),
            Some(']') if !first => {
                q += 1;
                break;
            }
            Some('-') if cs.get(q + 1) == Some(&'[') && !first => {
                let (t, nq) = regex_class(cs, q + 1, x)?;
                sub = Some(t);
                if cs.get(nq) != Some(&']') {
                    return Err("soustraction de classe non finale".into());
                }
                q = nq + 1;
                break;
            }
            Some('\\') if single(q)?.is_none() => {
                let (t, nq) = regex_escape(cs, q, true)?;
                items.push_str(&t);
                q = nq;
            }
            _ => {
                let (a, nq) = single(q)?.ok_or("classe invalide")?;
                if cs.get(nq) == Some(&'-') && cs.get(nq + 1).is_some_and(|&c| c != ']' && c != '[')
                {
                    let (b, nq2) = single(nq + 1)?.ok_or("borne d'intervalle invalide")?;
                    if b < a {
                        return Err("intervalle inversé".into());
                    }
                    items.push_str(&format!("{}-{}", esc(a), esc(b)));
                    q = nq2;
                } else {
                    items.push_str(&esc(a));
                    q = nq;
                }
            }
        }
        first = false;
    }
    let base = format!("[{}{items}]", if neg { "^" } else { "" });
    Ok((
        match sub {
            Some(s) => format!("[{base}--{s}]"),
            None => base,
        },
        q,
    ))
}

/// fn:matches with a compiled regex.
pub fn matches(input: &str, re: &Regex) -> bool {
    re.is_match(input)
}

/// fn:replace: `$N` group references per F&O 2.0 §7.6.3 (`\$`, `\\` escapes). Errors: a regex
/// matching the empty string (FORX0003), a bad replacement string (FORX0004).
pub fn replace(input: &str, re: &Regex, replacement: &str) -> Result<String, String> {
    if re.is_match("") {
        return Err("FORX0003: l'expression régulière accepte la chaîne vide".into());
    }
    let groups = re.captures_len() - 1;
    // Parse the replacement once: literal text and group numbers.
    enum Part {
        Text(String),
        Group(usize),
    }
    let rc: Vec<char> = replacement.chars().collect();
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut k = 0;
    while k < rc.len() {
        match rc[k] {
            '\\' => match rc.get(k + 1) {
                Some(&c @ ('\\' | '$')) => {
                    text.push(c);
                    k += 2;
                }
                _ => return Err("FORX0004: \\ invalide dans le remplacement".into()),
            },
            '$' => {
                let start = k + 1;
                let mut end = start;
                while end < rc.len() && rc[end].is_ascii_digit() {
                    end += 1;
                }
                if end == start {
                    return Err("FORX0004: $ sans numéro dans le remplacement".into());
                }
                // Longest prefix of the digits naming an existing group (or a single digit).
                let mut e = end;
                loop {
                    let n: usize = rc[start..e]
                        .iter()
                        .collect::<String>()
                        .parse()
                        .unwrap_or(usize::MAX);
                    if n <= groups || e == start + 1 {
                        if !text.is_empty() {
                            parts.push(Part::Text(std::mem::take(&mut text)));
                        }
                        parts.push(Part::Group(n));
                        text.extend(&rc[e..end]);
                        break;
                    }
                    e -= 1;
                }
                k = end;
            }
            c => {
                text.push(c);
                k += 1;
            }
        }
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    let mut out = String::new();
    let mut last = 0;
    for caps in re.captures_iter(input) {
        let m = caps.get(0).expect("group 0");
        out.push_str(&input[last..m.start()]);
        for part in &parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Group(n) => {
                    if let Some(g) = caps.get(*n) {
                        out.push_str(g.as_str());
                    }
                }
            }
        }
        last = m.end();
    }
    out.push_str(&input[last..]);
    Ok(out)
}

/// fn:tokenize: `""` gives no token; empty tokens are kept (leading, trailing, between adjacent
/// separators). Error for a regex matching the empty string (FORX0003).
pub fn tokenize(input: &str, re: &Regex) -> Result<Vec<String>, String> {
    if re.is_match("") {
        return Err("FORX0003: l'expression régulière accepte la chaîne vide".into());
    }
    if input.is_empty() {
        return Ok(Vec::new());
    }
    Ok(re.split(input).map(str::to_string).collect())
}

// ---------------------------------------------------------------------------------------------
// Casts and lexical forms

fn is_xml_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn collapse(s: &str) -> String {
    s.split(is_xml_ws)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_integer_lex(s: &str) -> bool {
    all_digits(s.strip_prefix(['+', '-']).unwrap_or(s))
}

fn is_decimal_lex(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    match s.split_once('.') {
        None => all_digits(s),
        Some((a, b)) => {
            (a.is_empty() || all_digits(a))
                && (b.is_empty() || all_digits(b))
                && !(a.is_empty() && b.is_empty())
        }
    }
}

fn is_double_lex(s: &str) -> bool {
    if matches!(s, "INF" | "-INF" | "+INF" | "NaN") {
        return true;
    }
    match s.find(['e', 'E']) {
        None => is_decimal_lex(s),
        Some(k) => is_decimal_lex(&s[..k]) && is_integer_lex(&s[k + 1..]),
    }
}

fn is_ncname(s: &str) -> bool {
    let mut it = s.chars();
    it.next().is_some_and(|c| c != ':' && is_xml_name_start(c))
        && it.all(|c| c != ':' && is_xml_name_char(c))
}

fn is_xml_name_start(c: char) -> bool {
    let u = c as u32;
    c == ':'
        || c == '_'
        || c.is_ascii_alphabetic()
        || (0xC0..=0xD6).contains(&u)
        || (0xD8..=0xF6).contains(&u)
        || (0xF8..=0x2FF).contains(&u)
        || (0x370..=0x37D).contains(&u)
        || (0x37F..=0x1FFF).contains(&u)
        || (0x200C..=0x200D).contains(&u)
        || (0x2070..=0x218F).contains(&u)
        || (0x2C00..=0x2FEF).contains(&u)
        || (0x3001..=0xD7FF).contains(&u)
        || (0xF900..=0xFDCF).contains(&u)
        || (0xFDF0..=0xFFFD).contains(&u)
        || (0x10000..=0xEFFFF).contains(&u)
}

fn is_xml_name_char(c: char) -> bool {
    let u = c as u32;
    is_xml_name_start(c)
        || c == '-'
        || c == '.'
        || c.is_ascii_digit()
        || u == 0xB7
        || (0x300..=0x36F).contains(&u)
        || (0x203F..=0x2040).contains(&u)
}

/// A parsed xs:dateTime / xs:date / xs:time (Gregorian proleptic, year zero allowed as in XSD
/// 1.1, which Saxon-HE ≥ 9.8 uses by default).
#[derive(Debug, Clone, PartialEq, Eq)]
struct DateTime {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// Fractional seconds digits, trailing zeros removed.
    frac: String,
    /// Timezone offset in minutes.
    tz: Option<i32>,
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) {
                29
            } else {
                28
            }
        }
    }
}

fn parse_tz(s: &str) -> Option<Option<i32>> {
    if s.is_empty() {
        return Some(None);
    }
    if s == "Z" {
        return Some(Some(0));
    }
    let b = s.as_bytes();
    if b.len() != 6 || !(b[0] == b'+' || b[0] == b'-') || b[3] != b':' {
        return None;
    }
    if !all_digits(&s[1..3]) || !all_digits(&s[4..6]) {
        return None;
    }
    let h: i32 = s[1..3].parse().ok()?;
    let m: i32 = s[4..6].parse().ok()?;
    if m > 59 || h > 14 || (h == 14 && m != 0) {
        return None;
    }
    let v = h * 60 + m;
    Some(Some(if b[0] == b'-' { -v } else { v }))
}

/// `-?YYYY-MM-DD` prefix: (year, month, day, rest).
fn parse_date_part(s: &str) -> Option<(i64, u32, u32, &str)> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let ylen = body.find('-')?;
    let ys = &body[..ylen];
    if ys.len() < 4 || !all_digits(ys) || (ys.len() > 4 && ys.starts_with('0')) {
        return None;
    }
    let rest = &body[ylen + 1..];
    if rest.len() < 5 || !all_digits(&rest[..2]) || &rest[2..3] != "-" || !all_digits(&rest[3..5]) {
        return None;
    }
    let year: i64 = ys.parse().ok()?;
    let year = if neg { -year } else { year };
    let month: u32 = rest[..2].parse().ok()?;
    let day: u32 = rest[3..5].parse().ok()?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some((year, month, day, &rest[5..]))
}

/// `hh:mm:ss(.s+)?` prefix: (h, m, s, frac, rest).
fn parse_time_part(s: &str) -> Option<(u32, u32, u32, String, &str)> {
    if s.len() < 8 || &s[2..3] != ":" || &s[5..6] != ":" {
        return None;
    }
    if !all_digits(&s[..2]) || !all_digits(&s[3..5]) || !all_digits(&s[6..8]) {
        return None;
    }
    let h: u32 = s[..2].parse().ok()?;
    let m: u32 = s[3..5].parse().ok()?;
    let sec: u32 = s[6..8].parse().ok()?;
    let mut rest = &s[8..];
    let mut frac = String::new();
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        frac = r[..n].trim_end_matches('0').to_string();
        rest = &r[n..];
    }
    if m > 59 || sec > 59 || h > 24 || (h == 24 && (m != 0 || sec != 0 || !frac.is_empty())) {
        return None;
    }
    Some((h, m, sec, frac, rest))
}

fn parse_datetime(s: &str) -> Option<DateTime> {
    let s = s.trim_matches(is_xml_ws);
    let (year, month, day, rest) = parse_date_part(s)?;
    let rest = rest.strip_prefix('T')?;
    let (hour, minute, second, frac, rest) = parse_time_part(rest)?;
    let tz = parse_tz(rest)?;
    Some(DateTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
        frac,
        tz,
    })
}

/// Days from 0000-03-01-based civil algorithm (H. Hinnant), valid for any proleptic year.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Compare two xs:dateTime lexical values on the timeline (op:dateTime-less-than / equal). A
/// value without timezone takes `implicit_tz_minutes` (Saxon: the implicit timezone of the
/// evaluation, i.e. the machine's offset at that time). `None` if either is not a dateTime.
pub fn compare_datetime(a: &str, b: &str, implicit_tz_minutes: i32) -> Option<std::cmp::Ordering> {
    let key = |s: &str| -> Option<(i64, String)> {
        let d = parse_datetime(s)?;
        let secs = days_from_civil(d.year, d.month, d.day) * 86400
            + d.hour as i64 * 3600
            + d.minute as i64 * 60
            + d.second as i64
            - d.tz.unwrap_or(implicit_tz_minutes) as i64 * 60;
        Some((secs, d.frac))
    };
    let (sa, fa) = key(a)?;
    let (sb, fb) = key(b)?;
    // Fractions compare as digit strings once padded to the same length.
    let w = fa.len().max(fb.len());
    let pad = |f: &str| format!("{f:0<w$}");
    Some(sa.cmp(&sb).then_with(|| pad(&fa).cmp(&pad(&fb))))
}

/// `value castable as xs:TYPE` for a string (or untyped) value. `type_local` is the local name
/// (`integer`, `dateTime`...); a trailing `?` is not accepted here. Unknown types → `Err`.
pub fn castable(value: &str, type_local: &str) -> Result<bool, String> {
    let c = collapse(value);
    let c = c.as_str();
    Ok(match type_local {
        "string" | "untypedAtomic" | "normalizedString" | "token" => true,
        // Saxon accepts any string as xs:anyURI (XSD 1.1 lexical space); `castable` only
        // checks the lexical form.
        "anyURI" => true,
        "integer" | "long" | "int" | "short" | "byte" => {
            is_integer_lex(c) && {
                let bound: i128 = match type_local {
                    "integer" => i128::MAX,
                    "long" => i64::MAX as i128,
                    "int" => i32::MAX as i128,
                    "short" => i16::MAX as i128,
                    _ => i8::MAX as i128,
                };
                let digits = c.trim_start_matches(['+', '-']).trim_start_matches('0');
                type_local == "integer"
                    || (digits.len() <= 38
                        && c.parse::<i128>()
                            .is_ok_and(|v| v <= bound && v >= -bound - 1))
            }
        }
        "nonNegativeInteger" | "positiveInteger" => {
            is_integer_lex(c) && {
                let neg = c.starts_with('-');
                let zero = c
                    .trim_start_matches(['+', '-'])
                    .trim_start_matches('0')
                    .is_empty();
                if type_local == "positiveInteger" {
                    !neg && !zero
                } else {
                    !neg || zero
                }
            }
        }
        "decimal" => is_decimal_lex(c),
        "double" | "float" => is_double_lex(c),
        "boolean" => matches!(c, "true" | "false" | "1" | "0"),
        "dateTime" => parse_datetime(c).is_some(),
        "date" => parse_date_part(c).is_some_and(|(_, _, _, r)| parse_tz(r).is_some()),
        "time" => parse_time_part(c).is_some_and(|(_, _, _, _, r)| parse_tz(r).is_some()),
        "NCName" | "ID" | "IDREF" | "ENTITY" => is_ncname(c),
        "Name" => {
            let mut it = c.chars();
            it.next().is_some_and(is_xml_name_start) && it.all(is_xml_name_char)
        }
        "NMTOKEN" => !c.is_empty() && c.chars().all(is_xml_name_char),
        "language" => {
            let mut parts = c.split('-');
            parts.next().is_some_and(|p| {
                (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic())
            }) && parts
                .all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        }
        _ => return Err(format!("type xs:{type_local} non pris en charge")),
    })
}

/// XPath 2.0 fn:number on a string: the xs:double cast of the whitespace-trimmed value, NaN
/// when it is not an xs:double lexical form.
pub fn xs_double(s: &str) -> f64 {
    let t = s.trim_matches(is_xml_ws);
    match t {
        "INF" | "+INF" => f64::INFINITY,
        "-INF" => f64::NEG_INFINITY,
        _ if !is_double_lex(t) || t == "NaN" => f64::NAN,
        _ => {
            let norm = if let Some(r) = t.strip_prefix('+') {
                r
            } else {
                t
            };
            // Rust rejects "5." / ".5e1" forms? It accepts both; pad defensively.
            norm.parse::<f64>().unwrap_or_else(|_| {
                let fixed = norm.replace(".e", ".0e").replace(".E", ".0E");
                let fixed = if fixed.ends_with('.') {
                    format!("{fixed}0")
                } else {
                    fixed
                };
                fixed.parse().unwrap_or(f64::NAN)
            })
        }
    }
}

/// XPath 2.0 string form of an xs:double as Saxon prints it: plain decimal for
/// 1e-6 ≤ |d| < 1e6 (`1`, `0.5`), else scientific with at least one fractional digit
/// (`1.0E20`, `1.5E-7`); `NaN`, `INF`, `-INF`, `0`, `-0`.
pub fn double_to_string(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "INF".into() } else { "-INF".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let a = d.abs();
    if (1e-6..1e6).contains(&a) {
        // Rust's Display is the shortest round-trip decimal, never in exponent form.
        return format!("{d}");
    }
    let e = format!("{d:e}");
    let (mant, exp) = e.split_once('e').expect("exponent form");
    let mant = if mant.contains('.') {
        mant.to_string()
    } else {
        format!("{mant}.0")
    };
    format!("{mant}E{exp}")
}

/// fn:iri-to-uri as Saxon implements it: percent-encode (UTF-8, upper-case hex) every character
/// outside printable ASCII (`<= 0x20` or `>= 0x7F`) and `< > " { } | \ ^ ``.
pub fn iri_to_uri(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let u = c as u32;
        if u <= 0x20 || u >= 0x7F || "<>\"{}|\\^`".contains(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::PathBuf;

    fn t(e: &str) -> String {
        to_xpath1(e).unwrap_or_else(|u| panic!("{u}"))
    }
    fn tb(e: &str) -> String {
        test_to_xpath1(e).unwrap_or_else(|u| panic!("{u}"))
    }
    fn refused(e: &str) -> String {
        match to_xpath1(e) {
            Ok(s) => panic!("{e} should be refused, got {s}"),
            Err(u) => u.reason,
        }
    }

    /// libxml2 accepts the expression (syntax; functions are looked up at run time).
    fn compiles(expr: &str) -> bool {
        let c = std::ffi::CString::new(expr).expect("no NUL");
        unsafe {
            let comp = libxml::bindings::xmlXPathCompile(c.as_ptr() as *const u8);
            if comp.is_null() {
                return false;
            }
            libxml::bindings::xmlXPathFreeCompExpr(comp);
        }
        true
    }

    #[test]
    fn xpath1_unchanged() {
        for e in [
            "not(@nullFlavor and @code)",
            "count(hl7:qualifier) <= 1",
            "cda:title = \"Compte rendu d'examens biologiques\"",
            "//hl7:ClinicalDocument[hl7:typeId[@root = '2.16.840.1.113883.1.3']]/hl7:documentationOf",
            "substring(normalize-space(.),1,1)='\"'",
            "not(.//hl7:translation[@codeSystem][not(@code)])",
            "preceding-sibling::*[local-name()=$name] | following-sibling::*[local-name()=$name]",
            "count(document('../x.xml')//code[@a=current])",
            "$count_ER_MotifTraitement>=1 and parent::cda:entryRelationship[@typeCode='RSON']",
            "string(@code) = ('S')",
            "../@a",
            "/",
        ] {
            assert_eq!(t(e), e, "{e}");
        }
    }

    #[test]
    fn literals_and_comments() {
        assert_eq!(t("'it''s'"), "\"it's\"");
        assert_eq!(t("\"a\"\"b\""), "'a\"b'");
        assert_eq!(
            t("concat('a''\"', 'b')"),
            "concat(concat('a', \"'\", '\"'), 'b')"
        );
        assert_eq!(t("1 (: one (: nested :) :) + 2"), "1 + 2");
        assert_eq!(t("1e3 = 1000"), "1000 = 1000");
    }

    #[test]
    fn empty_exists_depend_on_type() {
        assert_eq!(tb("empty(@xsi:type)"), "not(@xsi:type)");
        assert_eq!(tb("exists(hl7:x)"), "boolean(hl7:x)");
        // A variable may hold the string "": it is one item in 2.0, false in 1.0.
        assert_eq!(tb("empty($theTS)"), "not(banc:exists($theTS))");
        assert_eq!(tb("empty(concat('a', 'b'))"), "false()");
    }

    #[test]
    fn qnames() {
        assert_eq!(
            tb("empty(@xsi:type) or resolve-QName(@xsi:type, .) = QName('urn:hl7-org:v3', 'ST')"),
            "not(@xsi:type) or banc:resolve-qname(@xsi:type, .) = '{urn:hl7-org:v3}ST'"
        );
        assert_eq!(
            value_of_to_xpath1("local-name-from-QName(resolve-QName(@xsi:type,.))").unwrap(),
            "substring-after(banc:resolve-qname(@xsi:type, .), '}')"
        );
    }

    #[test]
    fn if_then_else() {
        assert_eq!(
            t("if (empty($theDay)) then '01' else $theDay"),
            "banc:if(not(banc:exists($theDay)), '01', $theDay)"
        );
        assert_eq!(
            t("if (starts-with($theTS,'-')) then '-' else ()"),
            "banc:if(starts-with($theTS, '-'), '-', banc:seq())"
        );
        assert_eq!(
            tb("if (@a) then b else c"),
            "((boolean(@a) and boolean(b)) or (not(boolean(@a)) and boolean(c)))"
        );
    }

    #[test]
    fn castable_and_datetime() {
        assert_eq!(
            t("substring($b,1,2) castable as xs:integer"),
            "banc:castable(substring($b, 1, 2), 'integer')"
        );
        assert_eq!(t("$x castable as xs:date?"), "banc:castable($x, 'date?')");
        assert_eq!(
            tb("not(@value) or string(@value castable as xs:anyURI)"),
            "not(@value) or string(banc:castable(@value, 'anyURI'))"
        );
        assert_eq!(
            tb("xs:dateTime($a) le xs:dateTime($b)"),
            "(banc:compare-dateTime($a, $b) <= 0)"
        );
        assert!(refused("xs:dateTime(@a) le xs:dateTime(@b)").contains("vide"));
    }

    #[test]
    fn quantified() {
        assert_eq!(
            tb("//hl7:author[not($p1) or (every $p in $p1 satisfies $p = $t1)]"),
            "//hl7:author[not($p1) or (not($p1[not($t1 = .)]))]".replace("$t1 = .", ". = $t1")
        );
        let e = tb("every $elm in descendant-or-self::* satisfies $elm[not(@nullFlavor) or @x]");
        assert_eq!(
            e,
            "not((descendant-or-self::*)[not(boolean(self::node()[not(@nullFlavor) or @x]))])"
        );
        assert_eq!(tb("some $v in a satisfies $v/@b = 'x'"), "(a)[./@b = 'x']");
        // The condition reads the outer context: `.` would change meaning.
        assert!(refused("every $v in a satisfies $v = @b").contains("contexte"));
        // $v under another focus.
        assert!(refused("every $v in a satisfies $v/b[@c = $v]").contains("focus"));
    }

    #[test]
    fn for_and_map() {
        assert_eq!(
            value_of_to_xpath1("for $elm in * return concat('<', name($elm), '... />')").unwrap(),
            "banc:string-join(banc:map(*, \"concat('<', name(.), '... />')\"), ' ')"
        );
        let (s, bodies) = translate(
            "for $att in (@* except @nullFlavor) return concat(' ', name($att), '=\"', $att, '\"')",
            Mode::Value,
        )
        .unwrap();
        assert_eq!(bodies, vec!["concat(' ', name(.), '=\"', ., '\"')"]);
        assert!(
            s.starts_with("banc:map((banc:except(@*, @nullFlavor)), concat("),
            "{s}"
        );
        assert!(compiles(&s), "{s}");
        assert_eq!(
            t(".//hl7:translation/concat(@code,@codeSystem)"),
            "banc:map(.//hl7:translation, \"concat(@code, @codeSystem)\")"
        );
        assert_eq!(
            tb("cda:entry/cda:act/(cda:a and cda:b)"),
            "(cda:entry/cda:act)[(cda:a and cda:b)]"
        );
        assert_eq!(t("a/(b|c)/d"), "(a/b | a/c)/d");
    }

    #[test]
    fn sequences_and_comparisons() {
        assert_eq!(
            tb("@nullFlavor = ('OTH', 'NA', 'UNC')"),
            "(@nullFlavor = ('OTH') or @nullFlavor = ('NA') or @nullFlavor = ('UNC'))"
        );
        assert_eq!(
            t("string-join(($a, $b),':')"),
            "banc:string-join(banc:seq($a, $b), ':')"
        );
        assert_eq!(
            tb("$v[not(. = (doc('a.xml')/x/@code, doc('b.xml')/x/@code))]"),
            "$v[not(. = (doc('a.xml')/x/@code | doc('b.xml')/x/@code))]"
        );
        assert_eq!(
            tb("@nullFlavor or @value > 0"),
            "@nullFlavor or (@value)[banc:number(.) > 0]"
        );
        assert_eq!(t("@value > 0"), "boolean((@value)[banc:number(.) > 0])");
        assert_eq!(t("string-length(x) gt 0"), "string-length(x) > 0");
        assert!(refused("@a < @b").contains("chaînes"));
        assert!(refused("@a lt 'x'").contains("chaînes"));
        assert!(refused("@a = true()").contains("booléen"));
        assert_eq!(
            tb("*[not(self::*:validTime | @nullFlavor)]"),
            "*[not(self::*[local-name()='validTime'] | @nullFlavor)]"
        );
        assert_eq!(
            t("@* except (@a|@*:b)"),
            "banc:except(@*, (@a | @*[local-name()='b']))"
        );
        assert_eq!(
            t("count($translations)=count(distinct-values($translations))"),
            "count($translations) = count(banc:distinct-values($translations))"
        );
        assert_eq!(
            tb("not(*[tokenize(@qualifier,'\\s')='LS'])"),
            "not(*[banc:tokenize(@qualifier, '\\s') = 'LS'])"
        );
        assert_eq!(t("number(@v) > 0"), "banc:number(@v) > 0");
    }

    #[test]
    fn scope_types_variables() {
        let mut sc = Scope::new();
        sc.add_let("a", "count(x)");
        sc.add_let("b", "count(y)");
        sc.add_let("ts", "@value");
        sc.add_let("s", "string-join((@a, @b), '')");
        sc.add_let("v", "@v");
        assert_eq!(sc.test_to_xpath1("$a>=$b").unwrap(), "$a>=$b");
        assert!(to_xpath1("$a>=$b").is_err());
        assert_eq!(sc.test_to_xpath1("empty($ts)").unwrap(), "not($ts)");
        assert_eq!(sc.test_to_xpath1("empty($s)").unwrap(), "false()");
        assert_eq!(sc.to_xpath1("count($a)").unwrap(), "1");
        assert_eq!(
            sc.to_xpath1("$v > $a").unwrap(),
            "boolean(($v)[banc:number(.) > $a])"
        );
        assert!(sc.to_xpath1("$s[1]").is_err());
    }

    #[test]
    fn refusals() {
        for e in [
            "1 to 3",
            "a instance of xs:string",
            "a is b",
            "5 idiv 2",
            "current()/@a",
        ] {
            refused(e);
        }
        // EBV of a sequence of strings: ("") is false in 2.0, a text node is true in 1.0.
        refused("boolean(tokenize(@a, ' '))");
        refused("matches(@a, '(a')");
    }

    #[test]
    fn regexes() {
        let m = |p: &str, f: &str, s: &str| compile_regex(p, f).unwrap().is_match(s);
        // Unanchored search.
        assert!(m("[a-z]", "", "AbC"));
        assert!(m(r"[\r\n\t]", "", "a\tb"));
        assert!(!m(r"\s", "", "\u{A0}")); // XSD \s is 4 characters only
        assert!(m(r"^[0-2](\.(0|[1-9]\d*))*$", "", "1.2.250.1.213.1.4.8"));
        assert!(!m(r"^[0-2](\.(0|[1-9]\d*))*$", "", "1.2.03"));
        assert!(!m(r"^[0-2](\.(0|[1-9]\d*))*$", "", "1.2\n"));
        let uuid = r"^[A-Fa-f\d]{8}-[A-Fa-f\d]{4}-[A-Fa-f\d]{4}-[A-Fa-f\d]{4}-[A-Fa-f\d]{12}$";
        assert!(m(uuid, "", "6E3A2B8C-1234-4def-8abc-0123456789ab"));
        assert!(m(r"^[A-Za-z][A-Za-z\d\-]*$", "", "a-1"));
        let rfc = r"^[a-z]{2,3}(-[a-z]{2})?|[ix](-[a-z\d]{2,8})+$";
        assert!(m(rfc, "i", "FR-fr"));
        assert!(m(r"^(us|ms|s|min|h|d|wk|mo|a|)$", "", ""));
        // `^+?` is the anchor quantified (Saxon accepts it): same as `^`.
        assert!(m(r"^-?[1-9]\d*$|^+?\d*$", "", "012"));
        assert!(!m(r"^-?[1-9]\d*$|^+?\d*$", "", "+12"));
        assert!(m(r"^[0-9]{4,14}", "", "20240101"));
        assert!(m(r"[a-z-[aeiou]]", "", "b"));
        assert!(!m(r"^[a-z-[aeiou]]$", "", "a"));
        assert!(!m(r"^[^a-z-[0-9]]$", "", "5"));
        assert!(m(r"\{.[a-z]*.\}", "", "{abc}"));
        assert!(!m("a.b", "", "a\nb"));
        assert!(m("a.b", "s", "a\nb"));
        assert!(m("^b", "m", "a\nb"));
        assert!(m("a b", "x", "ab"));
        assert!(m(r"^\i\c*$", "", "xs:name-1"));
        assert!(compile_regex(r"(a)\1", "").is_err());
        assert!(compile_regex("a", "q").is_err());
        assert!(compile_regex(r"\p{IsBasicLatin}", "").is_err());

        let re = compile_regex("^-?([^+-]+)([+-].*)?", "").unwrap();
        assert_eq!(
            replace("20240101120000+0100", &re, "$1").unwrap(),
            "20240101120000"
        );
        let re = compile_regex(r"^-?[^+-]+([+-]\d{1,4})?$", "").unwrap();
        assert_eq!(replace("20240101120000+0100", &re, "$1").unwrap(), "+0100");
        assert_eq!(replace("20240101", &re, "$1").unwrap(), "");
        assert_eq!(replace("2024-01-01", &re, "$1").unwrap(), "2024-01-01");
        let re = compile_regex("(a)(b)?", "").unwrap();
        assert_eq!(replace("xaby", &re, "[$1$2$3$12\\$]").unwrap(), "x[aba2$]y");
        assert_eq!(replace("xay", &re, "[$2]").unwrap(), "x[]y");
        assert!(replace("x", &re, "$").is_err());
        assert!(replace("x", &compile_regex("a*", "").unwrap(), "").is_err());
        let re = compile_regex(r"\s", "").unwrap();
        assert_eq!(tokenize(" a  b", &re).unwrap(), vec!["", "a", "", "b"]);
        assert!(tokenize("", &re).unwrap().is_empty());
    }

    #[test]
    fn castables() {
        let c = |v: &str, t: &str| castable(v, t).unwrap();
        assert!(c("12", "integer") && c(" +01 ", "integer") && c("-3", "integer"));
        assert!(!c("", "integer") && !c("1.0", "integer") && !c("1 2", "integer"));
        assert!(!c("٣", "integer")); // only ASCII digits in XSD lexical forms
        assert!(c("2024-02-29T00:00:00", "dateTime"));
        assert!(!c("2023-02-29T00:00:00", "dateTime"));
        assert!(c("1900-02-28T23:59:59.123+14:00", "dateTime"));
        assert!(!c("1900-02-29T00:00:00", "dateTime"));
        assert!(c("2000-02-29T24:00:00", "dateTime"));
        assert!(!c("2000-01-01T24:00:01", "dateTime"));
        assert!(!c("2000-01-01T12:60:00", "dateTime"));
        assert!(!c("2000-01-01T12:00:00+14:30", "dateTime"));
        assert!(!c("2000-01-01T12:00:00+01", "dateTime"));
        assert!(!c("2000-01-01T12:00:00.", "dateTime"));
        assert!(!c("2000-1-01T12:00:00", "dateTime"));
        assert!(!c("02000-01-01T12:00:00", "dateTime"));
        assert!(c("12000-01-01T12:00:00Z", "dateTime"));
        assert!(c("-0044-03-15T12:00:00", "dateTime"));
        assert!(c("0000-01-01T00:00:00", "dateTime")); // XSD 1.1 year zero
        assert!(!c("2000-01-01", "dateTime"));
        assert!(c("2000-01-01", "date") && c("2000-01-01Z", "date"));
        assert!(c("anything at all", "anyURI"));
        assert!(c("1e3", "double") && c("INF", "double") && !c("1e", "double"));
        assert!(c(".5", "decimal") && !c(".", "decimal"));
        assert!(c("true", "boolean") && c("0", "boolean") && !c("TRUE", "boolean"));
        assert!(c("a-b.c", "NCName") && !c("a:b", "NCName") && !c("1a", "NCName"));
        assert!(castable("x", "QName").is_err());
    }

    #[test]
    fn datetime_order() {
        use std::cmp::Ordering::*;
        let cmp = |a: &str, b: &str| compare_datetime(a, b, 60).unwrap();
        assert_eq!(cmp("2024-01-01T10:00:00", "2024-01-01T10:00:00.000"), Equal);
        assert_eq!(
            cmp("2024-01-01T10:00:00+01:00", "2024-01-01T09:00:00Z"),
            Equal
        );
        assert_eq!(cmp("2024-01-01T10:00:00", "2024-01-01T09:00:00Z"), Equal); // implicit +01:00
        assert_eq!(
            cmp("2024-01-01T10:00:00.5", "2024-01-01T10:00:00.45"),
            Greater
        );
        assert_eq!(cmp("2023-12-31T24:00:00", "2024-01-01T00:00:00"), Equal);
        assert_eq!(cmp("-0001-01-01T00:00:00", "0001-01-01T00:00:00"), Less);
        assert!(compare_datetime("2024-13-01T00:00:00", "2024-01-01T00:00:00", 0).is_none());
    }

    #[test]
    fn numbers_and_uris() {
        assert_eq!(double_to_string(1.0), "1");
        assert_eq!(double_to_string(0.5), "0.5");
        assert_eq!(double_to_string(1e20), "1.0E20");
        assert_eq!(double_to_string(1e6), "1.0E6");
        assert_eq!(double_to_string(999999.0), "999999");
        assert_eq!(double_to_string(1.5e-7), "1.5E-7");
        assert_eq!(double_to_string(0.000001), "0.000001");
        assert_eq!(double_to_string(-2.25), "-2.25");
        assert_eq!(double_to_string(f64::NAN), "NaN");
        assert_eq!(double_to_string(f64::NEG_INFINITY), "-INF");
        assert_eq!(double_to_string(0.0), "0");
        assert_eq!(xs_double(" +1 "), 1.0);
        assert_eq!(xs_double("1e3"), 1000.0);
        assert_eq!(xs_double("5."), 5.0);
        assert!(xs_double("abc").is_nan() && xs_double("").is_nan() && xs_double("inf").is_nan());
        assert_eq!(xs_double("-INF"), f64::NEG_INFINITY);
        assert_eq!(iri_to_uri("http://a/b c<é>"), "http://a/b%20c%3C%C3%A9%3E");
        assert_eq!(iri_to_uri("tel:+33.1"), "tel:+33.1");
    }

    // ------------------------------------------------------------------ the kit's expressions

    fn kit_root() -> Option<PathBuf> {
        let p = std::env::var_os("BANC_KIT")
            .or_else(|| std::env::var_os("BANC_TEST_KIT"))
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/ans-kit"));
        if p.join("schematrons").is_dir() {
            return Some(p);
        }
        if std::env::var("BANC_REQUIRE_KIT").as_deref() == Ok("1") {
            panic!("kit ANS absent ({})", p.display());
        }
        eprintln!("skipped: kit ANS absent ({})", p.display());
        None
    }

    #[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy, Debug)]
    enum Kind {
        Context,
        Test,
        Let,
        ValueOf,
    }

    /// Every expression of a schema with the scope it is evaluated in.
    fn expressions(schema: &crate::schematron::Schema) -> Vec<(Kind, String, Scope)> {
        use crate::schematron::MessagePart;
        let mut out = Vec::new();
        let msg = |parts: &[MessagePart], sc: &Scope, out: &mut Vec<(Kind, String, Scope)>| {
            for p in parts {
                match p {
                    MessagePart::ValueOf(v) => out.push((Kind::ValueOf, v.clone(), sc.clone())),
                    MessagePart::Name(Some(v)) => out.push((Kind::Let, v.clone(), sc.clone())),
                    _ => {}
                }
            }
        };
        let mut top = Scope::new();
        for l in &schema.lets {
            out.push((Kind::Let, l.value.clone(), top.clone()));
            top.add_let(&l.name, &l.value);
        }
        for p in &schema.patterns {
            let mut ps = top.clone();
            for l in &p.lets {
                out.push((Kind::Let, l.value.clone(), ps.clone()));
                ps.add_let(&l.name, &l.value);
            }
            for r in &p.rules {
                out.push((Kind::Context, r.context.clone(), ps.clone()));
                let mut rs = ps.clone();
                for l in &r.lets {
                    out.push((Kind::Let, l.value.clone(), rs.clone()));
                    rs.add_let(&l.name, &l.value);
                }
                for c in &r.checks {
                    out.push((Kind::Test, c.test.clone(), rs.clone()));
                    msg(&c.message, &rs, &mut out);
                    for d in &c.diagnostics {
                        if let Some(parts) = schema.diagnostics.get(d) {
                            msg(parts, &rs, &mut out);
                        }
                    }
                }
            }
        }
        for d in schema.diagnostics.values() {
            msg(d, &top, &mut out);
        }
        out
    }

    const SETS: &[&str] = &[
        "schematrons/profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
        "schematrons/profils/IHE.sch",
        "schematrons/profils/CI-SIS_ModelesDeContenusCDA.sch",
        "schematrons/profils/CI-SIS_Modeles_ANS.sch",
        "schematrons/profils/terminologies/schematron/terminologie.sch",
        "schematrons/CI-SIS_BIO-CR-BIO_2024.01.sch",
        "schematrons/CI-SIS_BIO-TROD_2024.01.sch",
        "schematrons/CI-SIS_LDL-SES_2022.01.sch",
        "schematrons/CI-SIS_LDL-EES_2022.01.sch",
        "schematrons/CI-SIS_BIO-CR-BIO_2021.01.sch",
    ];

    #[test]
    fn kit_expressions_translate_and_compile() {
        let Some(kit) = kit_root() else { return };
        let mut strucmin_refused = 0;
        let mut not_compiling = Vec::new();
        // BANC_XPATH2_DUMP=FILE: every rewrite, for review.
        let mut dump = Vec::new();
        for set in SETS {
            let schema = crate::schematron::load(&kit, &kit.join(set))
                .unwrap_or_else(|e| panic!("{set}: {e:?}"));
            // Distinct (kind, expression): rewritten if any occurrence is, refused if any is.
            let mut seen: BTreeMap<(Kind, String), Result<bool, String>> = BTreeMap::new();
            for (kind, e, scope) in expressions(&schema) {
                let mode = match kind {
                    Kind::Test => Mode::Test,
                    Kind::ValueOf => Mode::ValueOf,
                    Kind::Context | Kind::Let => Mode::Value,
                };
                let r = match scope.translate(&e, mode) {
                    Ok((s, bodies, _)) => {
                        if s != e.trim() {
                            dump.push(format!("{kind:?} {e}\n   => {s}"));
                        }
                        for x in std::iter::once(&s).chain(&bodies) {
                            if !compiles(x) {
                                not_compiling.push(format!("{set}: {e}  =>  {x}"));
                            }
                        }
                        Ok(s != e.trim())
                    }
                    Err(u) => Err(u.reason),
                };
                let slot = seen.entry((kind, e)).or_insert(Ok(false));
                *slot = match (slot.clone(), r) {
                    (Err(x), _) | (_, Err(x)) => Err(x),
                    (Ok(a), Ok(b)) => Ok(a || b),
                };
            }
            let unchanged = seen.values().filter(|r| matches!(r, Ok(false))).count();
            let rewritten = seen.values().filter(|r| matches!(r, Ok(true))).count();
            let mut reasons: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for ((_, e), r) in &seen {
                if let Err(reason) = r {
                    reasons.entry(reason.clone()).or_default().push(e.clone());
                }
            }
            let exprs = &seen;
            let refused: usize = reasons.values().map(Vec::len).sum();
            eprintln!(
                "{set}: {} distinct, {unchanged} unchanged, {rewritten} rewritten, {refused} untranslatable",
                exprs.len()
            );
            for (r, es) in &reasons {
                eprintln!("    {} × {r}\n        e.g. {}", es.len(), es[0]);
            }
            if set.contains("StrucMin") {
                strucmin_refused = refused;
            }
        }
        if let Some(f) = std::env::var_os("BANC_XPATH2_DUMP") {
            dump.sort();
            dump.dedup();
            std::fs::write(f, dump.join("\n")).expect("dump");
        }
        assert!(not_compiling.is_empty(), "{}", not_compiling.join("\n"));
        assert_eq!(strucmin_refused, 0, "StrucMin must translate entirely");
    }

    #[test]
    fn extension_functions_are_declared() {
        // Every banc: function the translator can write is in EXTENSION_FUNCTIONS.
        let src = include_str!("xpath2.rs");
        let declared: BTreeSet<&str> = EXTENSION_FUNCTIONS.iter().map(|(n, _)| *n).collect();
        let re = Regex::new(r"banc:([a-zA-Z-]+)\(").unwrap();
        let code = &src[..src.find("#[cfg(test)]\nmod tests").unwrap()];
        for c in re.captures_iter(code) {
            let name = c.get(1).unwrap().as_str();
            assert!(declared.contains(name), "banc:{name} non déclarée");
        }
    }
}
