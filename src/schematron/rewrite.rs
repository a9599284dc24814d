//! Textual rewrites of translated (XPath 1.0) expressions that make rule contexts and value-set
//! look-ups use banc's indexes: the first step's name or templateId root, top-level `|`
//! alternatives, `doc(U)//q:name[@a = V]` turned into `banc:keyed(…)`. Each recognises one
//! exact shape and leaves anything else untouched; none evaluates anything.
//!
//! They scan the XPath 1.0 text the translator emitted rather than its AST on purpose: that text
//! (spacing, quotes, parentheses kept when unchanged) is what libxml2 compiles and what error
//! messages and kit issues quote, and a re-emission from an AST would not reproduce it exactly.

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
pub(super) fn name_candidate(
    pattern: &str,
    ns: &[(String, String)],
) -> Option<(String, String, String)> {
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
pub(super) fn keyed_rewrite(expr: &str) -> String {
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
pub(super) fn template_candidate(
    pattern: &str,
    hl7_prefixes: &[String],
) -> Option<(String, String)> {
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
                parts.push(&pattern[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&pattern[start..]);
    parts
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
}
