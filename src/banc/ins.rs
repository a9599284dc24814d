//! The INS matricule (NIR or NIA): 13 characters and a 2-digit control key.
//!
//! Key = 97 - (number mod 97). For the key, Corsica's department codes 2A and 2B count as 19
//! and 18.

use crate::finding::quote;

/// `Ok(())` when `ins` is well formed with a right key, else the French reason.
pub fn check(ins: &str) -> Result<(), String> {
    let ins = ins.trim();
    if !ins.is_ascii() {
        return Err(format!(
            "« {} » contient des caractères non ASCII",
            quote(ins)
        ));
    }
    if ins.len() != 15 {
        return Err(format!(
            "« {} » a {} caractères au lieu de 15",
            quote(ins),
            ins.chars().count()
        ));
    }
    let (body, key) = ins.split_at(13);
    let Ok(key) = key.parse::<u64>() else {
        return Err(format!("clé « {key} » non numérique"));
    };
    let number = body_value(body).ok_or_else(|| format!("« {body} » n'est pas un NIR valide"))?;
    let expected = 97 - number % 97;
    if key != expected {
        return Err(format!("clé {key:02} fausse, attendue {expected:02}"));
    }
    Ok(())
}

/// The 13 characters as a number (ASCII input, checked by the caller).
fn body_value(body: &str) -> Option<u64> {
    let mut digits = body.to_ascii_uppercase().into_bytes();
    if let Some(department) = digits.get_mut(5..7) {
        match &*department {
            b"2A" => department.copy_from_slice(b"19"),
            b"2B" => department.copy_from_slice(b"18"),
            _ => {}
        }
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build a valid INS from its 13 digits (the key is computed, as a test fixture would).
    fn with_key(body: &str) -> String {
        let n: u64 = body.parse().unwrap();
        format!("{body}{:02}", 97 - n % 97)
    }

    #[test]
    fn accepts_a_right_key_and_rejects_a_wrong_one() {
        let ins = with_key("2850775123456");
        assert_eq!(check(&ins), Ok(()));
        let (body, key) = ins.split_at(13);
        let mut wrong = body.to_string();
        let bad_key = (key.parse::<u64>().unwrap() + 1) % 100;
        wrong.push_str(&format!("{bad_key:02}"));
        assert!(check(&wrong).unwrap_err().contains("clé"));
    }

    #[test]
    fn rejects_bad_lengths_and_letters() {
        assert!(check("12345").unwrap_err().contains("15"));
        assert!(check("1850775X234560").is_err());
        assert!(check("18507751234X600").is_err());
    }

    #[test]
    fn corsica_departments_use_their_numeric_substitutes() {
        // 2A is counted as 19 for the key.
        let n: u64 = "1850719123456".parse().unwrap();
        let ins = format!("185072A123456{:02}", 97 - n % 97);
        assert_eq!(check(&ins), Ok(()));
    }
}
