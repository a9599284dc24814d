//! One SMTP command line (RFC 5321 §4.1) parsed into a [`Command`], or the reply that refuses it.
//! Pure functions on bytes: nothing here can block, allocate without bound or panic.

use std::fmt;

/// Longest command line, CRLF included (RFC 5321 §4.5.3.1.4).
pub const MAX_COMMAND_LINE: usize = 512;
/// Longest text line of DATA, CRLF included (RFC 5321 §4.5.3.1.6).
pub const MAX_TEXT_LINE: usize = 1000;
/// Longest local part and domain of an address (RFC 5321 §4.5.3.1.1-2).
const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    Mail(MailFrom),
    /// The forward-path (source route removed).
    Rcpt(String),
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Help,
    StartTls,
    /// A command of the SMTP vocabulary banc does not implement (EXPN, AUTH, BDAT, ETRN...).
    NotImplemented(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailFrom {
    /// The reverse-path; empty for the null sender `<>` (notifications).
    pub address: String,
    /// `SIZE=` (RFC 1870): what the client announces.
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152): `7BIT` or `8BITMIME`.
    pub body: Option<String>,
}

/// A reply: code, enhanced status code (RFC 3463) and text. Multi-line when `text` holds `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub status: &'static str,
    pub text: String,
}

impl Reply {
    pub fn new(code: u16, status: &'static str, text: impl Into<String>) -> Reply {
        Reply {
            code,
            status,
            text: text.into(),
        }
    }

    /// The reply as sent on the wire: `250-…` continuation lines, then `250 …`.
    pub fn wire(&self) -> Vec<u8> {
        let lines: Vec<&str> = self.text.split('\n').collect();
        let mut out = String::new();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            if self.status.is_empty() {
                out.push_str(&format!("{}{sep}{line}\r\n", self.code));
            } else {
                out.push_str(&format!("{}{sep}{} {line}\r\n", self.code, self.status));
            }
        }
        out.into_bytes()
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.text.split('\n').next().unwrap_or_default();
        write!(f, "{} {} {first}", self.code, self.status)
    }
}

/// Parse a command line, its CRLF (or bare LF) already removed.
pub fn parse(line: &[u8]) -> Result<Command, Reply> {
    let verb_end = line.iter().position(|b| *b == b' ').unwrap_or(line.len());
    let verb = &line[..verb_end];
    if verb.is_empty() || !verb.iter().all(u8::is_ascii_alphabetic) {
        return Err(unknown());
    }
    let verb = String::from_utf8_lossy(verb).to_ascii_uppercase();
    let rest = &line[verb_end..];
    let Ok(rest) = std::str::from_utf8(rest) else {
        return Err(syntax("caractères non ASCII dans la commande"));
    };
    if !rest.is_ascii() || rest.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err(syntax(
            "caractères non ASCII ou de contrôle dans la commande",
        ));
    }
    let arg = rest.trim();
    match verb.as_str() {
        "EHLO" | "HELO" => {
            if arg.is_empty() || arg.contains(char::is_whitespace) && verb == "HELO" {
                return Err(syntax(&format!("syntaxe : {verb} nom-de-domaine")));
            }
            // EHLO may carry more words in the wild; only the first names the client.
            let name = arg
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            Ok(if verb == "EHLO" {
                Command::Ehlo(name)
            } else {
                Command::Helo(name)
            })
        }
        "MAIL" => parse_mail(arg),
        "RCPT" => parse_rcpt(arg),
        "DATA" | "RSET" | "QUIT" | "STARTTLS" => {
            if !arg.is_empty() {
                return Err(syntax(&format!("{verb} ne prend pas d'argument")));
            }
            Ok(match verb.as_str() {
                "DATA" => Command::Data,
                "RSET" => Command::Rset,
                "QUIT" => Command::Quit,
                _ => Command::StartTls,
            })
        }
        // NOOP and HELP may carry a string, which is ignored (RFC 5321 §4.1.1.9, §4.1.1.8).
        "NOOP" => Ok(Command::Noop),
        "HELP" => Ok(Command::Help),
        "VRFY" => {
            if arg.is_empty() {
                return Err(syntax("syntaxe : VRFY adresse"));
            }
            Ok(Command::Vrfy)
        }
        "EXPN" | "AUTH" | "BDAT" | "ETRN" | "TURN" | "ATRN" | "SEND" | "SOML" | "SAML"
        | "XCLIENT" | "XFORWARD" => Ok(Command::NotImplemented(verb)),
        _ => Err(unknown()),
    }
}

fn unknown() -> Reply {
    Reply::new(500, "5.5.2", "Commande inconnue")
}

fn syntax(what: &str) -> Reply {
    Reply::new(501, "5.5.4", format!("Erreur de syntaxe : {what}"))
}

/// `prefix` (`FROM:` / `TO:`) case-insensitively, then optional spaces (tolerated, common).
fn after_prefix<'a>(arg: &'a str, prefix: &str) -> Option<&'a str> {
    let (head, rest) = arg.split_at_checked(prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| rest.trim_start())
}

/// `<path>` at the start of `s`, and what follows it.
fn path(s: &str) -> Option<(&str, &str)> {
    s.strip_prefix('<')?.split_once('>')
}

fn parse_mail(arg: &str) -> Result<Command, Reply> {
    let Some(rest) = after_prefix(arg, "FROM:") else {
        return Err(syntax(
            "syntaxe : MAIL FROM:<adresse> [SIZE=n] [BODY=8BITMIME]",
        ));
    };
    let Some((addr, params)) = path(rest) else {
        return Err(syntax(
            "syntaxe : MAIL FROM:<adresse> (chevrons obligatoires)",
        ));
    };
    let address = if addr.is_empty() {
        String::new()
    } else {
        mailbox(addr)?
    };
    let mut mail = MailFrom {
        address,
        ..MailFrom::default()
    };
    if !params.is_empty() && !params.starts_with(' ') {
        return Err(syntax("espace attendue après l'adresse"));
    }
    for p in params.split_whitespace() {
        let (key, value) = p.split_once('=').unwrap_or((p, ""));
        match key.to_ascii_uppercase().as_str() {
            "SIZE" if mail.size.is_none() => match value.parse::<u64>() {
                Ok(n) if value.len() <= 20 => mail.size = Some(n),
                _ => return Err(syntax("SIZE= attend un nombre d'octets")),
            },
            "BODY" if mail.body.is_none() => {
                let v = value.to_ascii_uppercase();
                if v != "7BIT" && v != "8BITMIME" {
                    return Err(Reply::new(555, "5.5.4", "BODY= accepte 7BIT ou 8BITMIME"));
                }
                mail.body = Some(v);
            }
            _ => return Err(param_unknown(p)),
        }
    }
    Ok(Command::Mail(mail))
}

fn param_unknown(p: &str) -> Reply {
    // The parameter is echoed cut short: it is client data.
    let shown: String = p.chars().take(40).collect();
    Reply::new(
        555,
        "5.5.4",
        format!("Paramètre non reconnu ou non proposé : {shown}"),
    )
}

fn parse_rcpt(arg: &str) -> Result<Command, Reply> {
    let Some(rest) = after_prefix(arg, "TO:") else {
        return Err(syntax("syntaxe : RCPT TO:<adresse>"));
    };
    let Some((addr, params)) = path(rest) else {
        return Err(syntax(
            "syntaxe : RCPT TO:<adresse> (chevrons obligatoires)",
        ));
    };
    // No DSN extension is advertised, so no RCPT parameter is acceptable.
    if let Some(p) = params.split_whitespace().next() {
        return Err(param_unknown(p));
    }
    if addr.eq_ignore_ascii_case("postmaster") {
        return Ok(Command::Rcpt("postmaster".into()));
    }
    Ok(Command::Rcpt(mailbox(addr)?))
}

/// Check a mailbox `local@domain` (an optional source route `@a,@b:` is dropped, RFC 5321 §4.1.2
/// and Appendix C); returns it as given.
pub fn mailbox(addr: &str) -> Result<String, Reply> {
    let bad = |why: &str| Reply::new(501, "5.1.3", format!("Adresse mal formée ({why})"));
    let addr = match addr.strip_prefix('@') {
        Some(route) => match route.split_once(':') {
            Some((_, addr)) => addr,
            None => return Err(bad("route source sans « : »")),
        },
        None => addr,
    };
    if !addr.is_ascii() {
        return Err(Reply::new(
            553,
            "5.6.7",
            "Adresse non ASCII : SMTPUTF8 n'est pas proposé",
        ));
    }
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return Err(bad("pas de « @ »"));
    };
    if local.is_empty() || local.len() > MAX_LOCAL {
        return Err(bad("partie locale vide ou de plus de 64 caractères"));
    }
    let quoted = local.len() >= 2 && local.starts_with('"') && local.ends_with('"');
    if !quoted && !dot_atom(local) {
        return Err(bad("partie locale"));
    }
    if domain.is_empty() || domain.len() > MAX_DOMAIN {
        return Err(bad("domaine vide ou trop long"));
    }
    let literal = domain.starts_with('[') && domain.ends_with(']');
    if !literal
        && !domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
    {
        return Err(bad("domaine"));
    }
    Ok(addr.to_string())
}

fn dot_atom(s: &str) -> bool {
    const SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
    s.split('.').all(|atom| {
        !atom.is_empty()
            && atom
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || SPECIALS.contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(line: &str) -> u16 {
        match parse(line.as_bytes()) {
            Ok(c) => panic!("{line:?} parsed as {c:?}"),
            Err(r) => r.code,
        }
    }

    #[test]
    fn verbs_are_case_insensitive() {
        assert_eq!(
            parse(b"ehlo client.example").unwrap(),
            Command::Ehlo("client.example".into())
        );
        assert_eq!(parse(b"QuIt").unwrap(), Command::Quit);
        assert_eq!(parse(b"starttls").unwrap(), Command::StartTls);
        assert_eq!(parse(b"NOOP anything").unwrap(), Command::Noop);
    }

    #[test]
    fn mail_from_with_parameters() {
        let Command::Mail(m) =
            parse(b"MAIL FROM:<sgl@labo.mssante.fr> SIZE=1234 BODY=8bitmime").unwrap()
        else {
            panic!()
        };
        assert_eq!(m.address, "sgl@labo.mssante.fr");
        assert_eq!(m.size, Some(1234));
        assert_eq!(m.body.as_deref(), Some("8BITMIME"));
        // Null sender, and the space after the colon some clients send.
        let Command::Mail(m) = parse(b"MAIL FROM: <>").unwrap() else {
            panic!()
        };
        assert_eq!(m.address, "");
    }

    #[test]
    fn mail_from_errors() {
        assert_eq!(code("MAIL FROM:sgl@labo.fr"), 501);
        assert_eq!(code("MAIL TO:<a@b.fr>"), 501);
        assert_eq!(code("MAIL FROM:<a@b.fr> SIZE=abc"), 501);
        assert_eq!(code("MAIL FROM:<a@b.fr> SIZE=99999999999999999999999"), 501);
        assert_eq!(code("MAIL FROM:<a@b.fr> AUTH=<>"), 555);
        assert_eq!(code("MAIL FROM:<a@b.fr> BODY=BINARYMIME"), 555);
        assert_eq!(code("MAIL FROM:<a b@c.fr>"), 501);
        assert_eq!(code("MAIL FROM:<a@b..fr>"), 501);
        assert_eq!(code("MAIL FROM:<é@b.fr>"), 501);
    }

    /// A multi-byte character where a prefix, `>`, `:` or `@` is expected is a reply, not a
    /// panic (the prefix length then cuts the character).
    #[test]
    fn multibyte_at_every_cut_is_a_reply() {
        assert_eq!(code("MAIL FROMé<a@b.fr>"), 501);
        assert_eq!(code("RCPT TOé<a@b.fr>"), 501);
        assert_eq!(code("MAIL FROM:<a@b.fré"), 501);
        assert_eq!(code("RCPT TO:<@relayé>"), 501);
    }

    #[test]
    fn rcpt_to() {
        assert_eq!(
            parse(b"RCPT TO:<@relay.fr:jean.dupont@medecin.mssante.fr>").unwrap(),
            Command::Rcpt("jean.dupont@medecin.mssante.fr".into())
        );
        assert_eq!(
            parse(b"rcpt to:<Postmaster>").unwrap(),
            Command::Rcpt("postmaster".into())
        );
        assert_eq!(
            parse(b"RCPT TO:<\"jean dupont\"@x.fr>").unwrap(),
            Command::Rcpt("\"jean dupont\"@x.fr".into())
        );
        assert_eq!(code("RCPT TO:<a@b.fr> NOTIFY=SUCCESS"), 555);
        assert_eq!(code("RCPT TO:<nodomain>"), 501);
        assert_eq!(code("RCPT TO:<a@-bad.fr>"), 501);
    }

    #[test]
    fn unknown_and_garbage() {
        assert_eq!(code("FOO"), 500);
        assert_eq!(code(""), 500);
        assert_eq!(code("\u{1}\u{2}\u{3}"), 500);
        assert_eq!(code("MAIL\u{0}FROM:<a@b.fr>"), 500);
        assert_eq!(code("DATA now"), 501);
        assert_eq!(code("HELO"), 501);
        assert_eq!(code("VRFY"), 501);
        let bin = [b'H', b'E', b'L', b'O', b' ', 0xff, 0xfe];
        assert_eq!(parse(&bin).unwrap_err().code, 501);
        assert_eq!(
            parse(b"EXPN list").unwrap(),
            Command::NotImplemented("EXPN".into())
        );
    }

    #[test]
    fn replies_on_the_wire() {
        let r = Reply::new(250, "", "banc.test\nSIZE 10\n8BITMIME");
        assert_eq!(
            r.wire(),
            b"250-banc.test\r\n250-SIZE 10\r\n250 8BITMIME\r\n"
        );
        let r = Reply::new(552, "5.3.4", "Message trop gros");
        assert_eq!(r.wire(), b"552 5.3.4 Message trop gros\r\n");
    }
}
