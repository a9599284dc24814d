//! National identifiers of health professionals and organisations in a CDA header.
//!
//! `id/@root` names the identifier space, `id/@extension` carries a one-character type prefix then
//! the number:
//!
//! - **idNat_PS** (`1.2.250.1.71.4.2.1`): `8` + RPPS (11 digits, the last one a Luhn key), `0` +
//!   ADELI (9 characters). The kit's examples spell both out in comments ("8+n°RPPS",
//!   "0+n°ADELI", `OPH-CR-RTN_2022.01.xml`). Staff identified through their structure use
//!   `3`/`4`/`5`/`6` + the structure's number + `/` + a local identifier (kit:
//!   `518003502400041/1.2.250.1.215.1.2`): accepted as such, nothing to check in the local part.
//! - **idNat_Struct** (`1.2.250.1.71.4.2.2`): `1` + FINESS (9 characters, the last one a Luhn key;
//!   Corsica's numbers start with 2A/2B), `2` + SIREN (9 digits, Luhn), `3` + SIRET (14 digits,
//!   Luhn; La Poste's establishments, SIREN 356000000, use a digit sum multiple of 5 instead). Kit:
//!   "1+n°FINESS" (`OPH-CR-RTN_2022.01.xml`), `2801234567` (BIO-TROD examples),
//!   `318003502400041` and `378435954900010` (VAC, eDISP: SIRETs with a right key).
//!
//! The ADELI key is not checked (its algorithm is not in the kit, and the kit has an ADELI with a
//! letter: `0B1057294`).

use crate::finding::quote;

/// OID of the national identifiers of health professionals.
pub const IDNAT_PS: &str = "1.2.250.1.71.4.2.1";
/// OID of the national identifiers of health organisations.
pub const IDNAT_STRUCT: &str = "1.2.250.1.71.4.2.2";

/// Luhn check digit that completes `digits` (ASCII digits only).
pub fn luhn_key(digits: &str) -> u32 {
    // Once the key is appended, the digits at odd positions from the right are doubled: here the
    // last digit of `digits` is doubled first.
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let dd = d * 2;
                if dd > 9 { dd - 9 } else { dd }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// `Ok` when the last digit of `number` is its Luhn key, else the French detail with the expected
/// key. `what` names the number in the message.
fn check_luhn(what: &str, number: &str) -> Result<(), String> {
    let (body, key) = number.split_at(number.len() - 1);
    let expected = luhn_key(body);
    if u32::from(key.as_bytes()[0] - b'0') == expected {
        Ok(())
    } else {
        Err(format!(
            "{what} {number} : clé {key} fausse, clé de Luhn attendue {expected} ({body}{expected})"
        ))
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// An idNat_PS extension (person).
pub fn check_ps(ext: &str) -> Result<(), String> {
    // The value as messages quote it: a 3 MB extension must not become a 3 MB message.
    let shown = quote(ext);
    if ext.is_empty() {
        return Err("extension absente ou vide".into());
    }
    if !ext.is_ascii() {
        return Err(format!("« {shown} » contient des caractères non ASCII"));
    }
    if ext.len() == 11 && all_digits(ext) && !ext.starts_with(['0', '8']) {
        return Err(format!(
            "« {shown} » : numéro sans préfixe de type ; un RPPS s'écrit 8 + ses 11 chiffres"
        ));
    }
    let (prefix, rest) = ext.split_at(1);
    match prefix {
        "8" => {
            if rest.len() != 11 || !all_digits(rest) {
                return Err(format!(
                    "« {shown} » : après le préfixe 8, le numéro RPPS doit avoir 11 chiffres (trouvé « {} »)",
                    quote(rest)
                ));
            }
            check_luhn("RPPS", rest)
        }
        "0" => {
            if rest.len() != 9 || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!(
                    "« {shown} » : après le préfixe 0, le numéro ADELI doit avoir 9 caractères (trouvé « {} »)",
                    quote(rest)
                ));
            }
            Ok(())
        }
        "3" | "4" | "5" | "6" => match rest.split_once('/') {
            Some((structure, local)) if all_digits(structure) && !local.is_empty() => Ok(()),
            _ => Err(format!(
                "« {shown} » : un identifiant de type {prefix} s'écrit {prefix} + numéro de la structure + « / » + identifiant local"
            )),
        },
        _ => Err(format!(
            "« {shown} » : préfixe « {prefix} » inconnu, attendu 8 (RPPS) ou 0 (ADELI)"
        )),
    }
}

/// An idNat_Struct extension (organisation).
pub fn check_struct(ext: &str) -> Result<(), String> {
    // The value as messages quote it: a 3 MB extension must not become a 3 MB message.
    let shown = quote(ext);
    if ext.is_empty() {
        return Err("extension absente ou vide".into());
    }
    if !ext.is_ascii() {
        return Err(format!("« {shown} » contient des caractères non ASCII"));
    }
    if ext.len() == 9 {
        return Err(format!(
            "« {shown} » : numéro sans préfixe de type ; un FINESS s'écrit 1 + ses 9 caractères, un SIREN 2 + ses 9 chiffres"
        ));
    }
    let (prefix, rest) = ext.split_at(1);
    match prefix {
        "1" => {
            let upper = rest.to_ascii_uppercase();
            let corsica = upper.starts_with("2A") || upper.starts_with("2B");
            let shape = rest.len() == 9
                && (all_digits(rest) || (corsica && rest.get(2..).is_some_and(all_digits)));
            if !shape {
                return Err(format!(
                    "« {shown} » : après le préfixe 1, le numéro FINESS doit avoir 9 caractères (trouvé « {} »)",
                    quote(rest)
                ));
            }
            if corsica {
                // The key of 2A/2B numbers is not computed on these letters: only the shape.
                return Ok(());
            }
            check_luhn("FINESS", rest)
        }
        "2" => {
            if rest.len() != 9 || !all_digits(rest) {
                return Err(format!(
                    "« {shown} » : après le préfixe 2, le numéro SIREN doit avoir 9 chiffres (trouvé « {} »)",
                    quote(rest)
                ));
            }
            check_luhn("SIREN", rest)
        }
        "3" => {
            if rest.len() != 14 || !all_digits(rest) {
                return Err(format!(
                    "« {shown} » : après le préfixe 3, le numéro SIRET doit avoir 14 chiffres (trouvé « {} »)",
                    quote(rest)
                ));
            }
            if rest.starts_with("356000000") {
                let sum: u32 = rest.bytes().map(|b| u32::from(b - b'0')).sum();
                return if sum.is_multiple_of(5) {
                    Ok(())
                } else {
                    Err(format!(
                        "SIRET {rest} (La Poste) : la somme des chiffres doit être un multiple de 5"
                    ))
                };
            }
            check_luhn("SIRET", rest)
        }
        _ => Err(format!(
            "« {shown} » : préfixe « {prefix} » inconnu, attendu 1 (FINESS), 2 (SIREN) ou 3 (SIRET)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_keys_of_known_numbers() {
        // SIRETs of the kit (VAC_2023.01, eDISP-MED_2024.01) and the usual Luhn example.
        assert_eq!(luhn_key("1800350240004"), 1);
        assert_eq!(luhn_key("7843595490001"), 0);
        assert_eq!(luhn_key("7992739871"), 3);
        // The fixtures' RPPS and FINESS.
        assert_eq!(luhn_key("1010342718"), 2);
        assert_eq!(luhn_key("35004217"), 2);
        assert_eq!(luhn_key("0"), 0);
    }

    #[test]
    fn rpps_needs_the_prefix_eleven_digits_and_the_right_key() {
        assert_eq!(check_ps("810103427182"), Ok(()));
        let e = check_ps("810103427183").unwrap_err();
        assert!(
            e.contains("clé 3 fausse") && e.contains("attendue 2"),
            "{e}"
        );
        // The kit's placeholder author: 01234534765 has the key 4, not 5.
        assert!(check_ps("801234534765").unwrap_err().contains("attendue 4"));
        assert!(check_ps("8101034271").unwrap_err().contains("11 chiffres"));
        assert!(check_ps("8101034271X2").is_err());
        // The bare RPPS without its prefix.
        assert!(
            check_ps("10103427182")
                .unwrap_err()
                .contains("sans préfixe")
        );
        assert!(check_ps("").is_err());
    }

    #[test]
    fn adeli_and_structure_forms() {
        assert_eq!(check_ps("0351234567"), Ok(()));
        assert_eq!(check_ps("00B1057294"), Ok(()));
        assert!(check_ps("035123456").unwrap_err().contains("9 caractères"));
        assert_eq!(check_ps("518003502400041/1.2.250.1.215.1.2"), Ok(()));
        assert!(check_ps("3123456789").unwrap_err().contains("« / »"));
        assert!(check_ps("7123").unwrap_err().contains("inconnu"));
    }

    #[test]
    fn organisations() {
        assert_eq!(check_struct("1350042172"), Ok(()));
        let e = check_struct("1350042173").unwrap_err();
        assert!(e.contains("FINESS") && e.contains("attendue 2"), "{e}");
        // The kit's placeholder laboratory 120459876 (key 0 expected).
        assert!(
            check_struct("1120459876")
                .unwrap_err()
                .contains("attendue 0")
        );
        assert_eq!(check_struct("12A0001234"), Ok(()), "Corsica: shape only");
        assert!(
            check_struct("135004217")
                .unwrap_err()
                .contains("9 caractères")
        );
        assert_eq!(check_struct("318003502400041"), Ok(()));
        assert!(check_struct("318003502400042").is_err());
        assert_eq!(check_struct("2801234568"), Ok(()));
        assert!(check_struct("2801234567").unwrap_err().contains("SIREN"));
        // La Poste: digit sum 3+5+6+1+2+3 = 20, a multiple of 5 whatever Luhn says.
        assert_eq!(check_struct("335600000000123"), Ok(()));
        assert!(check_struct("335600000000124").is_err());
        assert!(
            check_struct("350042172")
                .unwrap_err()
                .contains("sans préfixe")
        );
        assert!(check_struct("9123").is_err());
    }
}
