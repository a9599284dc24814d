//! Lexer of XPath 2.0 text into tokens (names, literals, symbols, variables), comments
//! skipped. It does not decide what a name means (keyword, operator, function): the parser does.

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// NCName, QName, `p:*` or `*:local` (keywords and operator names too: the parser decides).
    Name(String),
    Star,
    Var(String),
    Str(String, char),
    Num(String),
    Sym(&'static str),
    Eof,
}

pub(super) fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

pub(super) fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '\u{B7}')
}

/// Byte range `start..end` of a token or node in the source text.
pub(super) type Span = (usize, usize);

/// Tokens, and whether the text had `(: comments :)`.
pub(super) fn lex(src: &str) -> Result<(Vec<Tok>, bool), String> {
    lex_spanned(src).map(|(t, _, c)| (t, c))
}

/// Tokens with their byte spans (`Eof` at the end of the text), and whether the text had
/// comments.
pub(super) fn lex_spanned(src: &str) -> Result<(Vec<Tok>, Vec<Span>, bool), String> {
    let cs: Vec<char> = src.chars().collect();
    // Byte offset of each char index, and of the end.
    let bo: Vec<usize> = src
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(src.len()))
        .collect();
    let mut i = 0;
    let mut out = Vec::new();
    let mut spans = Vec::new();
    let mut tok_start = 0;
    let mut had_comment = false;
    let ncname = |i: &mut usize| -> String {
        let start = *i;
        while *i < cs.len() && is_name_char(cs[*i]) {
            *i += 1;
        }
        cs[start..*i].iter().collect()
    };
    while i < cs.len() {
        // Each iteration reads one blank, one comment or one token.
        if spans.len() < out.len() {
            spans.push((bo[tok_start], bo[i]));
        }
        tok_start = i;
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
    if spans.len() < out.len() {
        spans.push((bo[tok_start], bo[i]));
    }
    out.push(Tok::Eof);
    spans.push((src.len(), src.len()));
    Ok((out, spans, had_comment))
}
