//! HL7 V3 timestamps (`TS`, the `@value` of `effectiveTime`, `time`, `low`, `high`, `center`):
//! `YYYY[MM[DD[hh[mm[ss[.f…]]]]]][+|-ZZzz]`.
//!
//! The CDA schema only checks the shape (`[0-9]{1,8}|([0-9]{9,14}|[0-9]{14}\.[0-9]+)([+-][0-9]{1,4})?`),
//! so it lets through a 31 April, a month 13 or a 3-digit zone. [`parse`] checks the calendar too.

/// A well-formed timestamp: how precise it is and whether it carries a time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ts {
    /// Number of digits before any fraction or zone: 4 (year), 6, 8 (day), 10, 12 (minute), 14.
    pub digits: usize,
    /// Digits of the fraction of a second (0 when none).
    pub fraction: usize,
    /// Offset in minutes east of UTC, when a zone is given.
    pub zone: Option<i32>,
}

impl Ts {
    /// Precise at least to the minute.
    pub fn has_minutes(&self) -> bool {
        self.digits >= 12
    }
}

const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// Days in `month` (1–12) of `year`, Gregorian calendar (31 for a month out of range).
pub fn days_in_month(year: u32, month: u32) -> u32 {
    match (
        i32::try_from(year),
        u8::try_from(month)
            .ok()
            .and_then(|m| time::Month::try_from(m).ok()),
    ) {
        (Ok(y), Some(m)) => u32::from(m.length(y)),
        _ => 31,
    }
}

/// The value of ASCII digits (the caller has checked they are digits).
fn num(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |n, &b| n * 10 + u32::from(b - b'0'))
}

/// Parse an HL7 TS; `Err` is the French reason (the caller quotes the value).
pub fn parse(value: &str) -> Result<Ts, String> {
    if value.is_empty() {
        return Err("valeur vide".into());
    }
    if !value.is_ascii() {
        return Err("caractères non ASCII".into());
    }
    // The zone starts at the first sign; a sign in first position is not a zone (no negative years).
    let (main, zone) = match value
        .char_indices()
        .skip(1)
        .find(|&(_, c)| c == '+' || c == '-')
    {
        Some((i, sign)) => {
            let (main, z) = value.split_at(i); // i is a char boundary from char_indices
            (main, Some((sign, z.strip_prefix(sign).unwrap_or(z))))
        }
        None => (value, None),
    };
    let (date, fraction) = match main.split_once('.') {
        Some((d, f)) => (d, Some(f)),
        None => (main, None),
    };
    if !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(
            "caractères autres que des chiffres (forme attendue : AAAA[MM[JJ[hh[mm[ss[.f]]]]]][±hhmm])"
                .into(),
        );
    }
    let digits = date.len();
    if !matches!(digits, 4 | 6 | 8 | 10 | 12 | 14) {
        return Err(format!(
            "{digits} chiffres pour la date et l'heure : 4 (AAAA), 6, 8 (AAAAMMJJ), 10, 12 ou 14 (AAAAMMJJhhmmss) attendus"
        ));
    }
    let fraction = match fraction {
        None => 0,
        Some(_) if digits < 14 => {
            return Err("fraction de seconde sans les secondes".into());
        }
        Some(f) if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) => {
            return Err("fraction de seconde vide ou non numérique".into());
        }
        Some(f) => f.len(),
    };
    // Only ASCII digits from here on: byte ranges are exact.
    let d = date.as_bytes();
    let year = num(&d[..4]);
    if digits >= 6 {
        let month = num(&d[4..6]);
        if !(1..=12).contains(&month) {
            return Err(format!("mois {:02} inexistant (01 à 12)", month));
        }
        if digits >= 8 {
            let day = num(&d[6..8]);
            let max = days_in_month(year, month);
            if day == 0 || day > max {
                return Err(format!(
                    "jour {day:02} inexistant en {} {year} ({max} jours)",
                    MONTHS[month as usize - 1]
                ));
            }
        }
    }
    // Out of range means two digits above 23 or 59: printing the number prints the digits.
    if digits >= 10 && num(&d[8..10]) > 23 {
        return Err(format!("heure {} invalide (00 à 23)", num(&d[8..10])));
    }
    if digits >= 12 && num(&d[10..12]) > 59 {
        return Err(format!("minute {} invalide (00 à 59)", num(&d[10..12])));
    }
    if digits >= 14 && num(&d[12..14]) > 59 {
        return Err(format!("seconde {} invalide (00 à 59)", num(&d[12..14])));
    }
    let zone = match zone {
        None => None,
        Some((sign, z)) => {
            let sign = if sign == '-' { -1 } else { 1 };
            if z.len() != 4 || !z.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "décalage horaire « {}{} » mal formé : 4 chiffres attendus (±hhmm, par exemple +0100)",
                    if sign < 0 { '-' } else { '+' },
                    crate::finding::quote(z)
                ));
            }
            let (h, m) = (num(&z.as_bytes()[..2]), num(&z.as_bytes()[2..]));
            if h > 14 || m > 59 || (h == 14 && m > 0) {
                return Err(format!("décalage horaire {z} hors limites (±1400 au plus)"));
            }
            Some(sign * (h * 60 + m) as i32)
        }
    };
    Ok(Ts {
        digits,
        fraction,
        zone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_precision_with_or_without_zone() {
        for v in [
            "2026",
            "202603",
            "20260314",
            "2026031409",
            "202603140935",
            "20260314093512",
            "20260314093512.5",
            "20260314093512.123+0100",
            "20260314+0100",
            "20260314093512-0500",
            "20240229",
            "20000229",
            "20261231235959+1400",
        ] {
            assert!(parse(v).is_ok(), "{v}: {:?}", parse(v));
        }
        let ts = parse("20260314093512.12-0230").unwrap();
        assert_eq!(ts.digits, 14);
        assert_eq!(ts.fraction, 2);
        assert_eq!(ts.zone, Some(-150));
        assert!(ts.has_minutes());
        assert!(!parse("2026031409+0100").unwrap().has_minutes());
        assert_eq!(parse("20260314").unwrap().zone, None);
    }

    #[test]
    fn rejects_impossible_calendar_values() {
        let e = parse("20260431120000+0100").unwrap_err();
        assert!(e.contains("jour 31") && e.contains("avril"), "{e}");
        assert!(parse("20261301").unwrap_err().contains("mois 13"));
        assert!(parse("202600").unwrap_err().contains("mois 00"));
        assert!(parse("20260300").unwrap_err().contains("jour 00"));
        assert!(parse("20250229").unwrap_err().contains("28 jours"));
        assert!(parse("19000229").is_err(), "1900 is not a leap year");
        assert!(parse("2026031425").unwrap_err().contains("heure 25"));
        assert!(parse("202603141260").unwrap_err().contains("minute 60"));
        assert!(parse("20260314120060").unwrap_err().contains("seconde 60"));
        // The kit's Electrophorese example writes 12/09/20 as 20092012...: month 20.
        assert!(
            parse("20092012081500+0100")
                .unwrap_err()
                .contains("mois 20")
        );
    }

    #[test]
    fn rejects_malformed_shapes_and_zones() {
        assert!(parse("").is_err());
        assert!(parse("2026-03-14").is_err());
        assert!(parse("20260314T0935").is_err());
        assert!(parse("202603141").unwrap_err().contains("9 chiffres"));
        assert!(parse("20260314093512Z").is_err());
        assert!(parse("202603140935.5").unwrap_err().contains("fraction"));
        assert!(parse("20260314093512.").is_err());
        // Three-digit zone, as in the kit's BIO-TROD examples (legalAuthenticator/time).
        assert!(
            parse("20240106113623+100")
                .unwrap_err()
                .contains("4 chiffres")
        );
        assert!(parse("20260314093512+01:00").is_err());
        assert!(
            parse("20260314093512+1500")
                .unwrap_err()
                .contains("hors limites")
        );
        assert!(parse("20260314093512+0160").is_err());
        assert!(parse("-2026").is_err());
        assert!(parse("2026é").is_err());
        for v in [
            "é2026",
            "202é0314",
            "20260314+é100",
            "20260314093512.é",
            "2026-é",
        ] {
            assert!(parse(v).unwrap_err().contains("non ASCII"), "{v}");
        }
    }

    #[test]
    fn days_in_month_follows_the_gregorian_calendar() {
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2026, 4), 30);
        assert_eq!(days_in_month(2026, 12), 31);
    }
}
