//! LOINC code syntax and check digit.
//!
//! A LOINC code is a number, a hyphen and a mod-10 check digit computed on that number (LOINC
//! users' guide, "Calculating mod 10 check digits": the Luhn scheme, doubling every second digit
//! from the right). Codes passed 99999 in 2021, hence up to 7 digits here. Answer, part and group
//! codes (`LA…`, `LP…`, `LG…`, `LL…`) have a prefix; their check digit is not the plain mod 10 of
//! their number and is not verified.

/// Why a string is not a LOINC code.
#[derive(Debug, PartialEq, Eq)]
pub enum LoincError {
    /// Not `digits-digit` (French reason).
    Syntax(String),
    /// Well formed, wrong check digit: (found, expected).
    CheckDigit(u8, u8),
}

/// Mod-10 check digit of the digits of `number`: the Luhn key, as for RPPS and SIRET numbers.
pub fn check_digit(number: &str) -> Option<u8> {
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(crate::cda::ids::luhn_key(number) as u8)
}

pub fn check(code: &str) -> Result<(), LoincError> {
    let syntax = |why: &str| {
        let code = crate::finding::quote(code);
        Err(LoincError::Syntax(format!("« {code} » {why}")))
    };
    let Some((number, check)) = code.split_once('-') else {
        return syntax("n'a pas de tiret avant le chiffre de contrôle (forme attendue : 2951-2)");
    };
    let (prefix, digits) = match number.split_at_checked(2) {
        Some((p @ ("LA" | "LP" | "LG" | "LL"), digits)) => (Some(p), digits),
        _ => (None, number),
    };
    if digits.is_empty() || digits.len() > 7 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return syntax(": la partie avant le tiret doit compter de 1 à 7 chiffres");
    }
    if check.len() != 1 || !check.as_bytes()[0].is_ascii_digit() {
        return syntax(": un seul chiffre de contrôle est attendu après le tiret");
    }
    if prefix.is_some() {
        return Ok(());
    }
    let found = check.as_bytes()[0] - b'0';
    match check_digit(digits) {
        Some(expected) if expected != found => Err(LoincError::CheckDigit(found, expected)),
        _ => Ok(()),
    }
}

/// Shaped like a LOINC code with a right check digit (used to tell a LOINC code put under another
/// code system).
pub fn looks_like_loinc(code: &str) -> bool {
    code.contains('-') && check(code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_codes_pass() {
        for c in [
            "2951-2", "2823-3", "14749-6", "14682-9", "718-7", "20-8", "11502-2", "58410-2",
            "24326-1", "3016-3", "1988-5", "LA6576-8",
        ] {
            assert_eq!(check(c), Ok(()), "{c}");
        }
    }

    #[test]
    fn wrong_check_digits_and_shapes_fail() {
        assert_eq!(check("2823-4"), Err(LoincError::CheckDigit(4, 3)));
        assert_eq!(check("14749-5"), Err(LoincError::CheckDigit(5, 6)));
        for bad in [
            "2951.2",
            "2951",
            "-2",
            "2951-",
            "2951-22",
            "29a1-2",
            "12345678-1",
            "",
        ] {
            assert!(matches!(check(bad), Err(LoincError::Syntax(_))), "{bad}");
        }
        assert!(looks_like_loinc("14682-9"));
        assert!(!looks_like_loinc("271649006"));
    }
}
