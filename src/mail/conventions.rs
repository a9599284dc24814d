//! MSSanté naming conventions shared by the judge and the composer: the subject
//! `XDM/1.0/DDM+<libellé> <NOM> <prénom> <JJ/MM/AAAA>` (ECO.2.1.3), the PDF name
//! `<date de l'acte>_<type de document>_<NOM>_<prénom>[_<n° dossier>].pdf` (ECO.2.1.6), the
//! patient address `<INS>@patient.mssante.fr` (ECO.2.2.6), the MDN error codes (IG LPS).

use crate::cda::header::{CdaHeader, Patient};

pub const SUBJECT_PREFIX: &str = "XDM/1.0/DDM+";
/// Libellé used when the document has no title.
pub const DEFAULT_LABEL: &str = "CR d'examens biologiques";
pub const PATIENT_DOMAIN: &str = "patient.mssante.fr";
/// Prefix of an MDN subject on error (IG LPS struct-msg-mdn).
pub const KO_PREFIX: &str = "[KO Intégration système !]";

/// Application error codes a receiving system returns (IG LPS error-codes, table 0533; 905 and
/// 906 from mssante-xdm.md §4, French wording banc's).
pub const ERROR_CODES: [(u16, &str); 7] = [
    (
        900,
        "Version du document incorrecte lors d'une demande de remplacement/suppression",
    ),
    (
        901,
        "Auteur non autorisé à remplacer ou supprimer un document",
    ),
    (902, "Identifiant patient inconnu"),
    (903, "INS non présent dans le document"),
    (
        904,
        "L'INS transmis ne correspond pas exactement à celui stocké dans la base du consommateur",
    ),
    (905, "INS incomplet : traits d'identité manquants"),
    (906, "Autre erreur"),
];

pub fn error_label(code: u16) -> Option<&'static str> {
    ERROR_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| *l)
}

/// The patient identity a message shows (subject, PDF name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// NOM (birth name).
    pub family: String,
    /// First given name.
    pub given: String,
    /// `JJ/MM/AAAA`.
    pub birth_date: Option<String>,
}

/// The first given name (`given qualifier="BR"`, read by the header reader), else the first
/// word of the first `given`.
fn first_given(p: &Patient) -> Option<String> {
    p.first_given.clone().or_else(|| {
        p.given
            .first()
            .and_then(|g| g.split_whitespace().next())
            .map(str::to_string)
    })
}

pub fn identity(p: &Patient) -> Option<Identity> {
    let family = p.birth_name.clone().or_else(|| p.used_name.clone())?;
    Some(Identity {
        family: family.trim().to_string(),
        given: first_given(p)?,
        birth_date: p.birth_date_fr(),
    })
}

/// The libellé of the subject: the document title, else [`DEFAULT_LABEL`].
pub fn label(h: &CdaHeader) -> String {
    h.title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| DEFAULT_LABEL.to_string())
}

pub fn subject(label: &str, id: &Identity) -> String {
    let mut s = format!("{SUBJECT_PREFIX}{label} {} {}", id.family, id.given);
    if let Some(d) = &id.birth_date {
        s.push(' ');
        s.push_str(d);
    }
    s
}

/// A subject cut into its parts (M04).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `<libellé> <NOM> <prénom>` (not separable without the CDA: names may hold spaces).
    pub text: String,
    /// The trailing date, when the last word has the shape of one.
    pub date: Option<String>,
    /// The trailing date-like word is not a valid `JJ/MM/AAAA` date.
    pub bad_date: bool,
}

/// Why a subject is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectError {
    NoPrefix,
    /// Fewer than three words (libellé, NOM, prénom) after the prefix.
    Incomplete,
}

fn date_like(w: &str) -> bool {
    w.chars().any(|c| c.is_ascii_digit())
        && w.chars().all(|c| c.is_ascii_digit() || "/.-".contains(c))
}

/// Whether `JJ/MM/AAAA` is a real calendar date.
pub fn valid_date_fr(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[2] != b'/' || b[5] != b'/' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    match (num(0..2), num(3..5), num(6..10)) {
        (Some(d), Some(m), Some(y)) => valid_ymd(y, m, d),
        _ => false,
    }
}

/// Whether year `y` (1800 to 2200), month `m`, day `d` is a real calendar date.
pub fn valid_ymd(y: u32, m: u32, d: u32) -> bool {
    let (Ok(month), Ok(day)) = (u8::try_from(m), u8::try_from(d)) else {
        return false;
    };
    (1800..=2200).contains(&y)
        && time::Month::try_from(month)
            .and_then(|month| time::Date::from_calendar_date(y as i32, month, day))
            .is_ok()
}

/// Cut a subject (decoded). The prefix is matched exactly, as receivers strip it exactly
/// (SC.MSS/UX.28).
pub fn parse_subject(s: &str) -> Result<Subject, SubjectError> {
    let rest = s
        .trim()
        .strip_prefix(SUBJECT_PREFIX)
        .ok_or(SubjectError::NoPrefix)?;
    let mut words: Vec<&str> = rest.split_whitespace().collect();
    let (mut date, mut bad_date) = (None, false);
    if let Some(last) = words.last().copied().filter(|w| date_like(w)) {
        words.pop();
        bad_date = !valid_date_fr(last);
        date = Some(last.to_string());
    }
    if words.len() < 3 {
        return Err(SubjectError::Incomplete);
    }
    Ok(Subject {
        text: words.join(" "),
        date,
        bad_date,
    })
}

/// Upper case, accents removed, punctuation as spaces: how two spellings of a name compare.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let base = match c {
            'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' | 'À' | 'Â' | 'Ä' | 'Á' | 'Ã' | 'Å' => {
                "A"
            }
            'ç' | 'Ç' => "C",
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => "E",
            'î' | 'ï' | 'í' | 'ì' | 'Î' | 'Ï' | 'Í' | 'Ì' => "I",
            'ô' | 'ö' | 'ó' | 'ò' | 'õ' | 'Ô' | 'Ö' | 'Ó' | 'Ò' | 'Õ' => "O",
            'ù' | 'û' | 'ü' | 'ú' | 'Ù' | 'Û' | 'Ü' | 'Ú' => "U",
            'ÿ' | 'Ÿ' => "Y",
            'ñ' | 'Ñ' => "N",
            'æ' | 'Æ' => "AE",
            'œ' | 'Œ' => "OE",
            // Combining marks (a decomposed accent) vanish.
            '\u{300}'..='\u{36f}' => "",
            c if c.is_alphanumeric() => {
                out.extend(c.to_uppercase());
                continue;
            }
            _ => " ",
        };
        out.push_str(base);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether the subject names this patient: `<libellé> NOM prénom` ends with one of the
/// patient's names followed by one of their given names, and the date, when given, is theirs.
/// `Err` carries what was expected, for the message.
pub fn subject_matches(subject: &Subject, p: &Patient) -> Result<(), String> {
    let text = fold(&subject.text);
    let families: Vec<String> = [&p.birth_name, &p.used_name]
        .into_iter()
        .flatten()
        .map(|f| fold(f))
        .filter(|f| !f.is_empty())
        .collect();
    let mut givens: Vec<String> = p.first_given.iter().map(|g| fold(g)).collect();
    for g in &p.given {
        givens.push(fold(g));
        if let Some(w) = g.split_whitespace().next() {
            givens.push(fold(w));
        }
    }
    givens.retain(|g| !g.is_empty());
    let expected = identity(p)
        .map(|i| {
            format!(
                "« {} {}{} »",
                crate::finding::quote(&i.family),
                crate::finding::quote(&i.given),
                i.birth_date.map(|d| format!(" {d}")).unwrap_or_default()
            )
        })
        .unwrap_or_else(|| "(identité du CDA incomplète)".into());
    let named = families.iter().any(|f| {
        givens.iter().any(|g| {
            let tail = format!(" {f} {g}");
            text.ends_with(&tail) && text.len() > tail.len()
        })
    });
    if !named {
        return Err(format!("attendu {expected}"));
    }
    if let (Some(d), Some(b)) = (&subject.date, p.birth_date_fr())
        && *d != b
    {
        return Err(format!("date de naissance {d} au lieu de {b} ({expected})"));
    }
    Ok(())
}

/// Date of the act, `AAAAMMJJ`: start of the service event, else the document date.
pub fn act_date(h: &CdaHeader) -> Option<String> {
    [&h.service_start, &h.effective_time]
        .into_iter()
        .flatten()
        .find_map(|t| t.get(..8).filter(|d| d.bytes().all(|b| b.is_ascii_digit())))
        .map(str::to_string)
}

/// File names cannot hold `/`, `\` or `_` inside a field (`_` separates the fields).
fn name_field(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '/' | '\\' | '_' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => ' ',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn pdf_name(act_date: &str, doc_type: &str, id: &Identity, file_no: Option<&str>) -> String {
    let mut s = format!(
        "{}_{}_{}_{}",
        name_field(act_date),
        name_field(doc_type),
        name_field(&id.family),
        name_field(&id.given)
    );
    if let Some(n) = file_no.map(name_field).filter(|n| !n.is_empty()) {
        s.push('_');
        s.push_str(&n);
    }
    s.push_str(".pdf");
    s
}

/// The fields of a PDF name (ECO.2.1.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfName {
    pub act_date: String,
    pub doc_type: String,
    pub family: String,
    pub given: String,
    pub file_no: Option<String>,
}

/// Read a PDF name; `Err` says what is wrong.
pub fn parse_pdf_name(name: &str) -> Result<PdfName, String> {
    let stem = match name
        .len()
        .checked_sub(4)
        .and_then(|n| name.split_at_checked(n))
    {
        Some((stem, ext)) if ext.eq_ignore_ascii_case(".pdf") => stem,
        _ => return Err("l'extension n'est pas .pdf".into()),
    };
    let f: Vec<&str> = stem.split('_').collect();
    if !(4..=5).contains(&f.len()) || f.iter().any(|x| x.trim().is_empty()) {
        return Err(format!(
            "{} champ(s) non vide(s) séparés par « _ » au lieu de 4 ou 5",
            f.iter().filter(|x| !x.trim().is_empty()).count()
        ));
    }
    let d = f[0];
    let part = |r: std::ops::Range<usize>| d.get(r).and_then(|x| x.parse().ok());
    let ok_date = d.len() == 8
        && d.bytes().all(|b| b.is_ascii_digit())
        && match (part(0..4), part(4..6), part(6..8)) {
            (Some(y), Some(m), Some(dd)) => valid_ymd(y, m, dd),
            _ => false,
        };
    if !ok_date {
        return Err(format!(
            "la date de l'acte « {} » n'est pas une date AAAAMMJJ",
            crate::finding::quote(d)
        ));
    }
    Ok(PdfName {
        act_date: d.to_string(),
        doc_type: f[1].to_string(),
        family: f[2].to_string(),
        given: f[3].to_string(),
        file_no: f.get(4).map(|s| s.to_string()),
    })
}

/// The 15-character INS matricule a patient address is built on (ECO.2.2.6).
pub fn patient_address(ins: &str) -> String {
    format!("{ins}@{PATIENT_DOMAIN}")
}

/// Whether an address is a Mon espace santé patient mailbox.
pub fn is_patient_address(addr: &str) -> bool {
    addr.rsplit_once('@')
        .is_some_and(|(_, d)| d.eq_ignore_ascii_case(PATIENT_DOMAIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient() -> Patient {
        Patient {
            birth_name: Some("GAUTIER".into()),
            given: vec!["SOPHIE MAËLLE".into(), "SOPHIE".into()],
            birth_time: Some("19910223".into()),
            gender: Some("F".into()),
            ..Patient::default()
        }
    }

    #[test]
    fn subject_round_trip() {
        let id = identity(&patient()).unwrap();
        let s = subject("CR d'examens biologiques", &id);
        assert_eq!(
            s,
            "XDM/1.0/DDM+CR d'examens biologiques GAUTIER SOPHIE 23/02/1991"
        );
        let parsed = parse_subject(&s).unwrap();
        assert_eq!(parsed.date.as_deref(), Some("23/02/1991"));
        assert!(subject_matches(&parsed, &patient()).is_ok());
        let other = parse_subject("XDM/1.0/DDM+CR d'examens biologiques MARTIN Sophie").unwrap();
        assert!(subject_matches(&other, &patient()).is_err());
        let wrong_date = parse_subject("XDM/1.0/DDM+CR GAUTIER Sophie 24/02/1991").unwrap();
        assert!(subject_matches(&wrong_date, &patient()).is_err());
    }

    #[test]
    fn subject_errors() {
        assert_eq!(
            parse_subject("CR GAUTIER SOPHIE"),
            Err(SubjectError::NoPrefix)
        );
        assert_eq!(
            parse_subject("XDM/1.0/DDM+GAUTIER SOPHIE 23/02/1991"),
            Err(SubjectError::Incomplete)
        );
        assert!(
            parse_subject("XDM/1.0/DDM+CR A B 31/02/1991")
                .unwrap()
                .bad_date
        );
        assert!(
            parse_subject("XDM/1.0/DDM+CR A B 1991-02-03")
                .unwrap()
                .bad_date
        );
    }

    #[test]
    fn pdf_names() {
        let id = identity(&patient()).unwrap();
        let n = pdf_name("20260121", "CR d'examens biologiques", &id, None);
        assert_eq!(n, "20260121_CR d'examens biologiques_GAUTIER_SOPHIE.pdf");
        assert!(parse_pdf_name(&n).is_ok());
        assert!(parse_pdf_name("20220531_CR d'imagerie médicale_CORSE_FIGATELLIX.pdf").is_ok());
        assert!(parse_pdf_name("compte-rendu.pdf").is_err());
        assert!(parse_pdf_name("20221331_CR_A_B.pdf").is_err());
        assert!(parse_pdf_name("20220531_CR_A_B.PDF").is_ok());
        // A multi-byte character across the cut before the extension or in the date.
        assert!(parse_pdf_name("aépdf").is_err());
        assert!(parse_pdf_name("2022053é_CR_A_B.pdf").is_err());
    }

    #[test]
    fn act_date_skips_a_value_with_a_multibyte_char_in_its_first_8_bytes() {
        let h = CdaHeader {
            service_start: Some("2026012é".into()),
            effective_time: Some("20260121093000+0100".into()),
            ..CdaHeader::default()
        };
        assert_eq!(act_date(&h).as_deref(), Some("20260121"));
    }

    #[test]
    fn folding() {
        assert_eq!(fold("Quéré"), "QUERE");
        assert_eq!(fold("QUE\u{301}RE\u{301}"), "QUERE");
        assert_eq!(fold("Le  Bihan-Morvan"), "LE BIHAN MORVAN");
    }
}
