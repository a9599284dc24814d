//! XPath 2.0 functions evaluated by banc itself at run time (behind the libxml2 extension
//! functions): XSD regular expressions, `replace`/`tokenize`, casts and lexical forms,
//! `xs:dateTime` comparison, `iri-to-uri`. Pure Rust, no libxml2 and no translation here.

use regex::Regex;

/// XML 1.0 (5th ed.) NameStartChar without `:` (XSD `\i` includes `:`; added where used).
pub(super) const NAME_START: &str = r"A-Z_a-z\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{2FF}\x{370}-\x{37D}\x{37F}-\x{1FFF}\x{200C}-\x{200D}\x{2070}-\x{218F}\x{2C00}-\x{2FEF}\x{3001}-\x{D7FF}\x{F900}-\x{FDCF}\x{FDF0}-\x{FFFD}\x{10000}-\x{EFFFF}";
pub(super) const NAME_EXTRA: &str = r"\-.0-9\x{B7}\x{300}-\x{36F}\x{203F}-\x{2040}";

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
pub(super) fn regex_escape(
    cs: &[char],
    p: usize,
    in_class: bool,
) -> Result<(String, usize), String> {
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
pub(super) fn regex_class(cs: &[char], p: usize, x: bool) -> Result<(String, usize), String> {
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
    let out = re.replace_all(input, |caps: &regex::Captures| {
        let mut r = String::new();
        for part in &parts {
            match part {
                Part::Text(t) => r.push_str(t),
                Part::Group(n) => {
                    if let Some(g) = caps.get(*n) {
                        r.push_str(g.as_str());
                    }
                }
            }
        }
        r
    });
    Ok(out.into_owned())
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

pub(super) fn is_xml_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

pub(super) fn collapse(s: &str) -> String {
    s.split(is_xml_ws)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn is_integer_lex(s: &str) -> bool {
    all_digits(s.strip_prefix(['+', '-']).unwrap_or(s))
}

pub(super) fn is_decimal_lex(s: &str) -> bool {
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

pub(super) fn is_double_lex(s: &str) -> bool {
    if matches!(s, "INF" | "-INF" | "+INF" | "NaN") {
        return true;
    }
    match s.split_once(['e', 'E']) {
        None => is_decimal_lex(s),
        Some((mantissa, exponent)) => is_decimal_lex(mantissa) && is_integer_lex(exponent),
    }
}

pub(super) fn is_ncname(s: &str) -> bool {
    let mut it = s.chars();
    it.next().is_some_and(|c| c != ':' && is_xml_name_start(c))
        && it.all(|c| c != ':' && is_xml_name_char(c))
}

pub(super) fn is_xml_name_start(c: char) -> bool {
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

pub(super) fn is_xml_name_char(c: char) -> bool {
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
pub(super) struct DateTime {
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

pub(super) fn days_in_month(year: i64, month: u32) -> u32 {
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

pub(super) fn parse_tz(s: &str) -> Option<Option<i32>> {
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
    let h: i32 = digits_at(s, 1..3)?;
    let m: i32 = digits_at(s, 4..6)?;
    if m > 59 || h > 14 || (h == 14 && m != 0) {
        return None;
    }
    let v = h * 60 + m;
    Some(Some(if b[0] == b'-' { -v } else { v }))
}

/// The ASCII digits of `s` at byte range `r` as a number; `None` when the range is out of
/// bounds, not on char boundaries or not all digits (hostile text never panics here).
fn digits_at<T: std::str::FromStr>(s: &str, r: std::ops::Range<usize>) -> Option<T> {
    s.get(r).filter(|d| all_digits(d))?.parse().ok()
}

/// `-?YYYY-MM-DD` prefix: (year, month, day, rest).
pub(super) fn parse_date_part(s: &str) -> Option<(i64, u32, u32, &str)> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (ys, rest) = body.split_once('-')?;
    if ys.len() < 4 || !all_digits(ys) || (ys.len() > 4 && ys.starts_with('0')) {
        return None;
    }
    let month: u32 = digits_at(rest, 0..2)?;
    if rest.as_bytes().get(2) != Some(&b'-') {
        return None;
    }
    let day: u32 = digits_at(rest, 3..5)?;
    let year: i64 = ys.parse().ok()?;
    let year = if neg { -year } else { year };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some((year, month, day, rest.get(5..)?))
}

/// `hh:mm:ss(.s+)?` prefix: (h, m, s, frac, rest).
pub(super) fn parse_time_part(s: &str) -> Option<(u32, u32, u32, String, &str)> {
    let b = s.as_bytes();
    if b.get(2) != Some(&b':') || b.get(5) != Some(&b':') {
        return None;
    }
    let h: u32 = digits_at(s, 0..2)?;
    let m: u32 = digits_at(s, 3..5)?;
    let sec: u32 = digits_at(s, 6..8)?;
    let mut rest = s.get(8..)?;
    let mut frac = String::new();
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let (digits, after) = r.split_at_checked(n)?;
        frac = digits.trim_end_matches('0').to_string();
        rest = after;
    }
    if m > 59 || sec > 59 || h > 24 || (h == 24 && (m != 0 || sec != 0 || !frac.is_empty())) {
        return None;
    }
    Some((h, m, sec, frac, rest))
}

pub(super) fn parse_datetime(s: &str) -> Option<DateTime> {
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
pub(super) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
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
