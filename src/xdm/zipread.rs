//! Opening an IHE_XDM.zip without trusting it (Z01–Z03): the central directory is read first and
//! judged (names, counts, declared sizes, ratios, encryption, methods, links) before a byte is
//! inflated; entries are then inflated with a bound equal to their declared size, so a lying
//! header cannot make banc allocate more than the limits allow.

use super::Limits;
use crate::finding::{Finding, Layer, Rule, Severity, quote};
use std::collections::HashMap;
use std::io::{Cursor, Read};

const SEC: &str = "sécurité ; IHE ITI TF-1 §16 (XDM), APPNOTE.TXT (PKWARE)";

pub const UNREADABLE: &Rule = &crate::rule! {
    id: "xdm.zip.unreadable",
    severity: Severity::Error,
    layer: Layer::Xdm,
    message: "Le paquet IHE_XDM n'est pas une archive ZIP lisible :",
    hint: "Send a standard ZIP archive (store or deflate), e.g. as `zip -r IHE_XDM.zip INDEX.HTM README.TXT IHE_XDM` does.",
    spec: "MSSanté Z01 — IHE ITI-32 (ZIP over e-mail)",
};
pub const ENCRYPTED: &Rule = &crate::rule! {
    id: "xdm.zip.encrypted",
    severity: Severity::Error,
    layer: Layer::Xdm,
    message: "Entrée chiffrée dans l'archive : le destinataire ne peut pas la lire.",
    hint: "Do not encrypt XDM entries; MSSanté protects the transport (TLS), not the archive.",
    spec: "MSSanté Z01 — IHE XDM, implémentations",
};
pub const METHOD: &Rule = &crate::rule! {
    id: "xdm.zip.compression",
    severity: Severity::Error,
    layer: Layer::Xdm,
    message: "Méthode de compression non admise (seules « store » et « deflate » le sont) :",
    hint: "Compress entries with deflate (method 8) or store them (method 0).",
    spec: "MSSanté Z01 — IHE XDM, implémentations",
};
pub const ZIP64: &Rule = &crate::rule! {
    id: "xdm.zip.zip64",
    severity: Severity::Warning,
    layer: Layer::Xdm,
    message: "Archive au format ZIP64 : des destinataires ne savent pas la lire.",
    hint: "A CR-BIO package is far below 4 GB: write a plain ZIP (no ZIP64 records).",
    spec: "MSSanté §6 (entrées hostiles : ZIP64) — APPNOTE.TXT §4.3.14",
};
pub const TRAVERSAL: &Rule = &crate::rule! {
    id: "xdm.zip.path-traversal",
    severity: Severity::Error,
    layer: Layer::Xdm,
    message: "Chemin d'entrée dangereux (absolu, « .. », lecteur Windows) : l'entrée est ignorée.",
    hint: "Entry names are relative paths inside the package, e.g. IHE_XDM/SUBSET01/DOC0001.XML.",
    spec: SEC,
};
pub const BACKSLASH: &Rule = &crate::rule! {
    id: "xdm.zip.backslash",
    severity: Severity::Error,
    layer: Layer::Xdm,
    message: "Nom d'entrée avec une barre oblique inverse « \\ » : le séparateur ZIP est « / ».",
    hint: "Use '/' as the path separator in entry names (APPNOTE 4.4.17).",
    spec: SEC,
};
pub const SYMLINK: &Rule = &crate::rule! {
    id: "xdm.zip.symlink",
    severity: Severity::Error,
    layer: Layer::Xdm,
    message: "Entrée de type lien symbolique : l'entrée est ignorée.",
    hint: "An XDM package holds plain files only.",
    spec: SEC,
};
pub const DUPLICATE: &Rule = &crate::rule! {
    id: "xdm.zip.duplicate-name",
    severity: Severity::Error,
    layer: Layer::Xdm,
    message: "Deux entrées portent le même nom (à la casse près) : laquelle lire est ambigu.",
    hint: "Give every entry a distinct name; names differing only by case collide on many systems.",
    spec: SEC,
};
pub const TOO_MANY: &Rule = &crate::rule! {
    id: "xdm.zip.too-many-entries",
    severity: Severity::Error,
    layer: Layer::Xdm,
    message: "L'archive contient trop d'entrées : paquet non analysé.",
    hint: "A CR-BIO package holds a few files (INDEX.HTM, README.TXT, METADATA.XML, the documents).",
    spec: "MSSanté Z03 — sécurité (bombe ZIP)",
};
pub const BOMB: &Rule = &crate::rule! {
    id: "xdm.zip.bomb",
    severity: Severity::Error,
    layer: Layer::Xdm,
    message: "Bombe ZIP : taille décompressée ou taux de compression au-delà des limites ; contenu non décompressé.",
    hint: "Check the producer: a CDA compresses about 10:1, never hundreds to one.",
    spec: "MSSanté Z03 — sécurité (bombe ZIP)",
};
pub const SIZE_LIE: &Rule = &crate::rule! {
    id: "xdm.zip.size-mismatch",
    severity: Severity::Error,
    layer: Layer::Xdm,
    message: "Une entrée décompressée ne fait pas la taille annoncée dans l'archive, ou son CRC est faux :",
    hint: "The archive is corrupt or forged; rebuild it.",
    spec: "MSSanté Z01/Z03 — APPNOTE.TXT (CRC-32, tailles)",
};
pub const NESTED: &Rule = &crate::rule! {
    id: "xdm.zip.nested",
    severity: Severity::Warning,
    layer: Layer::Xdm,
    message: "Archive ZIP dans l'archive : son contenu n'est ni lu ni intégré par le destinataire.",
    hint: "Put the documents directly in IHE_XDM/SUBSETnn/, not in an inner zip.",
    spec: "MSSanté §6 (entrées hostiles : zip dans le zip) — IHE ITI-32",
};

/// Every rule of this file.
pub const RULES: &[&Rule] = &[
    UNREADABLE, ENCRYPTED, METHOD, ZIP64, TRAVERSAL, BACKSLASH, SYMLINK, DUPLICATE, TOO_MANY, BOMB,
    SIZE_LIE, NESTED,
];

/// A file of the package, read into memory.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub bytes: Vec<u8>,
}

fn at(f: Finding, name: &str) -> Finding {
    f.at(crate::finding::Location {
        xpath: Some(format!("zip:{name}")),
        line: None,
        column: None,
    })
}

/// Whether the archive uses ZIP64: an end of central directory 64 locator, or a ZIP64 extra
/// field (header id 0x0001) on an entry of the central directory.
fn has_zip64(zip: &[u8]) -> bool {
    let tail = &zip[zip.len().saturating_sub(64 * 1024 + 100)..];
    tail.windows(4).any(|w| w == b"PK\x06\x07") || central_zip64_extra(zip)
}

/// Walk the central directory from the end record (APPNOTE §4.3.12, §4.3.16) looking for a
/// ZIP64 extended information extra field. Bounds-checked: a lying record ends the walk.
fn central_zip64_extra(zip: &[u8]) -> bool {
    let u16_at = |i: usize| {
        zip.get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |i: usize| {
        zip.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let from = zip.len().saturating_sub(64 * 1024 + 22);
    let Some(eocd) = zip
        .get(from..)
        .and_then(|t| t.windows(4).rposition(|w| w == b"PK\x05\x06"))
        .map(|i| from + i)
    else {
        return false;
    };
    let (Some(count), Some(mut at)) = (u16_at(eocd + 10), u32_at(eocd + 16)) else {
        return false;
    };
    for _ in 0..count {
        if zip.get(at..at + 4) != Some(b"PK\x01\x02") {
            return false;
        }
        let (Some(name), Some(extra), Some(comment)) =
            (u16_at(at + 28), u16_at(at + 30), u16_at(at + 32))
        else {
            return false;
        };
        let mut x = at + 46 + name;
        let end = x + extra;
        while x + 4 <= end {
            let (Some(id), Some(len)) = (u16_at(x), u16_at(x + 2)) else {
                return false;
            };
            if id == 0x0001 {
                return true;
            }
            x += 4 + len;
        }
        at = end + comment;
    }
    false
}

fn dangerous_path(name: &str) -> bool {
    let b = name.as_bytes();
    name.starts_with('/')
        || (b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic())
        || name.split(['/', '\\']).any(|c| c == "..")
}

/// Read every plain file of the archive that passes the checks; findings for the rest.
/// `None` when nothing can be read (not a zip, too many entries, bomb).
pub fn read(zip: &[u8], limits: &Limits, out: &mut Vec<Finding>) -> Option<Vec<Entry>> {
    let mut archive = match zip::ZipArchive::new(Cursor::new(zip)) {
        Ok(a) => a,
        Err(e) => {
            out.push(UNREADABLE.finding(e.to_string()));
            return None;
        }
    };
    if has_zip64(zip) {
        out.push(ZIP64.finding(""));
    }
    if archive.len() > limits.max_entries {
        out.push(TOO_MANY.finding(format!(
            "{} entrées (limite {}).",
            archive.len(),
            limits.max_entries
        )));
        return None;
    }
    // Pass 1: the central directory only.
    let mut total: u64 = 0;
    let mut wanted = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for i in 0..archive.len() {
        let f = match archive.by_index_raw(i) {
            Ok(f) => f,
            Err(e) => {
                out.push(UNREADABLE.finding(format!("entrée {} : {e}", i + 1)));
                return None;
            }
        };
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
        if let Some(first) = seen.insert(name.to_lowercase(), name.clone()) {
            out.push(at(
                DUPLICATE.finding(format!(
                    "« {} » et « {} ».",
                    quote(first.as_str()),
                    quote(&name)
                )),
                &name,
            ));
            continue;
        }
        if dangerous_path(&name) {
            out.push(at(
                TRAVERSAL.finding(format!("« {} »", quote(&name))),
                &name,
            ));
            continue;
        }
        if name.contains('\\') {
            out.push(at(
                BACKSLASH.finding(format!("« {} »", quote(&name))),
                &name,
            ));
            continue;
        }
        if f.is_symlink() {
            out.push(at(SYMLINK.finding(format!("« {} »", quote(&name))), &name));
            continue;
        }
        if f.is_dir() {
            continue;
        }
        if f.encrypted() {
            out.push(at(
                ENCRYPTED.finding(format!("« {} »", quote(&name))),
                &name,
            ));
            continue;
        }
        let method = f.compression();
        if !matches!(
            method,
            zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
        ) {
            out.push(at(
                METHOD.finding(format!("« {} » ({method:?})", quote(&name))),
                &name,
            ));
            continue;
        }
        let size = f.size();
        let packed = f.compressed_size().max(1);
        total = total.saturating_add(size);
        if size / packed > limits.max_ratio && size > 1024 * 1024 {
            out.push(at(
                BOMB.finding(format!(
                    "« {} » : {size} octets pour {packed} compressés (rapport {} ; limite {}).",
                    quote(&name),
                    size / packed,
                    limits.max_ratio
                )),
                &name,
            ));
            return None;
        }
        if name.to_ascii_lowercase().ends_with(".zip") {
            out.push(at(NESTED.finding(format!("« {} »", quote(&name))), &name));
        }
        wanted.push((i, name, size));
    }
    if total > limits.max_total_bytes {
        out.push(BOMB.finding(format!(
            "{total} octets décompressés annoncés au total (limite {}).",
            limits.max_total_bytes
        )));
        return None;
    }
    // Pass 2: inflate, never past the declared size (+1 byte to detect a lie).
    let mut entries = Vec::new();
    for (i, name, size) in wanted {
        let mut bytes = Vec::with_capacity(size.min(limits.max_total_bytes) as usize);
        let read = archive.by_index(i).and_then(|f| {
            f.take(size + 1)
                .read_to_end(&mut bytes)
                .map_err(zip::result::ZipError::Io)
        });
        match read {
            Ok(_) if bytes.len() as u64 == size => entries.push(Entry { name, bytes }),
            Ok(_) => out.push(at(
                SIZE_LIE.finding(format!(
                    "« {} » : {} octets lus, {size} annoncés.",
                    quote(&name),
                    bytes.len()
                )),
                &name,
            )),
            Err(e) => out.push(at(
                SIZE_LIE.finding(format!("« {} » : {e}", quote(&name))),
                &name,
            )),
        }
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (n, b) in files {
            w.start_file(*n, SimpleFileOptions::default()).unwrap();
            w.write_all(b).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn ids(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.rule.as_str()).collect()
    }

    #[test]
    fn hostile_names_are_reported_and_skipped() {
        let z = zip_of(&[
            ("../evil.txt", b"x"),
            ("/etc/passwd", b"x"),
            ("C:/x.txt", b"x"),
            ("a\\b.txt", b"x"),
            ("README.TXT", b"ok"),
            ("readme.txt", b"dup"),
        ]);
        let mut out = Vec::new();
        let entries = read(&z, &Limits::default(), &mut out).unwrap();
        assert_eq!(
            ids(&out),
            [
                TRAVERSAL.id,
                TRAVERSAL.id,
                TRAVERSAL.id,
                BACKSLASH.id,
                DUPLICATE.id
            ]
        );
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].bytes, b"ok");
    }

    #[test]
    fn a_bomb_is_refused_before_inflating() {
        let big = vec![0u8; 20 * 1024 * 1024];
        let z = zip_of(&[("IHE_XDM/SUBSET01/DOC0001.XML", &big)]);
        assert!(z.len() < 100_000);
        let mut out = Vec::new();
        assert!(read(&z, &Limits::default(), &mut out).is_none());
        assert_eq!(ids(&out), [BOMB.id]);
    }

    #[test]
    fn not_a_zip_is_unreadable() {
        let mut out = Vec::new();
        assert!(read(b"hello", &Limits::default(), &mut out).is_none());
        assert_eq!(ids(&out), [UNREADABLE.id]);
    }
}
