//! The produced side: CDA documents from folders (searched for `*.xml` and `*.zip`), zip
//! archives (their `*.xml` entries) and list files (one path per line, relative to the list;
//! `#` starts a comment), each validated with the full pipeline and reduced to a [`Record`].
//! Documents are read one at a time and validated in batches on the run's threads: memory holds
//! one batch of documents and the small records.

use super::{DocType, Progress, Record};
use crate::finding::Verdict;
use crate::pipeline::Validator;
use crate::profile::Family;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

/// One produced input, read or not.
pub enum Input {
    Bytes { name: String, bytes: Vec<u8> },
    Unreadable { name: String, reason: String },
}

/// Nested list files followed at most this deep (a list naming itself ends there).
const MAX_LIST_DEPTH: u8 = 4;

/// Every input under `paths`, in order, to `sink`.
pub fn walk(paths: &[PathBuf], sink: &mut dyn FnMut(Input)) {
    for p in paths {
        walk_path(p, &p.display().to_string(), sink, 0);
    }
}

fn walk_path(path: &Path, display: &str, sink: &mut dyn FnMut(Input), depth: u8) {
    if path.is_dir() {
        for f in crate::files::under(path, &["xml", "zip"]) {
            let d = f.display().to_string();
            file(&f, &d, sink, depth);
        }
    } else if path.exists() {
        file(path, display, sink, depth);
    } else {
        sink(Input::Unreadable {
            name: display.to_string(),
            reason: "fichier ou dossier introuvable".into(),
        });
    }
}

fn unreadable(name: &str, reason: impl ToString) -> Input {
    Input::Unreadable {
        name: name.to_string(),
        reason: reason.to_string(),
    }
}

fn file(path: &Path, display: &str, sink: &mut dyn FnMut(Input), depth: u8) {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    // The first bytes tell a document or an archive whatever its name; else a list.
    let mut head = [0u8; 512];
    let n = match crate::files::open(path).and_then(|mut f| {
        f.read(&mut head).map_err(|e| crate::files::ReadError {
            path: path.to_path_buf(),
            reason: e.into(),
        })
    }) {
        Ok(n) => n,
        Err(e) => return sink(unreadable(display, e.reason)),
    };
    let head = &head[..n];
    let body = head.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(head);
    let xml_start = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'<');
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") || ext == "zip" {
        archive(path, display, sink);
    } else if ext == "xml" || xml_start || n == 0 {
        sink(
            match crate::files::read_bounded(path, crate::files::MAX_DOCUMENT) {
                Ok(bytes) => Input::Bytes {
                    name: display.to_string(),
                    bytes,
                },
                Err(e) => unreadable(display, e.reason),
            },
        );
    } else if head.contains(&0) {
        sink(unreadable(
            display,
            "ni un document XML, ni une archive zip, ni une liste de fichiers (texte)",
        ));
    } else {
        list(path, display, sink, depth);
    }
}

/// The `*.xml` entries of a zip archive, one at a time.
fn archive(path: &Path, display: &str, sink: &mut dyn FnMut(Input)) {
    let f = match crate::files::open(path) {
        Ok(f) => f,
        Err(e) => return sink(unreadable(display, e.reason)),
    };
    let mut zip = match zip::ZipArchive::new(std::io::BufReader::new(f)) {
        Ok(z) => z,
        Err(e) => return sink(unreadable(display, format!("archive zip illisible : {e}"))),
    };
    for i in 0..zip.len() {
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                sink(unreadable(
                    &format!("{display}!#{}", i + 1),
                    format!("entrée illisible : {e}"),
                ));
                continue;
            }
        };
        let inner = match entry.name() {
            Ok(n) => n.into_owned(),
            Err(e) => {
                sink(unreadable(
                    &format!("{display}!#{}", i + 1),
                    format!("nom d'entrée illisible : {e}"),
                ));
                continue;
            }
        };
        let name = format!("{display}!{inner}");
        if entry.is_dir() || !inner.to_ascii_lowercase().ends_with(".xml") {
            continue;
        }
        let max = crate::files::MAX_DOCUMENT;
        if entry.size() > max {
            sink(unreadable(
                &name,
                format!("document de plus de {max} octets, non lu"),
            ));
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        match (&mut entry).take(max + 1).read_to_end(&mut bytes) {
            Ok(_) if bytes.len() as u64 > max => sink(unreadable(
                &name,
                format!("document de plus de {max} octets, non lu"),
            )),
            Ok(_) => sink(Input::Bytes { name, bytes }),
            Err(e) => sink(unreadable(&name, format!("entrée illisible : {e}"))),
        }
    }
}

/// A list of paths, one per line (relative to the list's folder).
fn list(path: &Path, display: &str, sink: &mut dyn FnMut(Input), depth: u8) {
    if depth >= MAX_LIST_DEPTH {
        return sink(unreadable(
            display,
            format!("liste de fichiers imbriquée à plus de {MAX_LIST_DEPTH} niveaux"),
        ));
    }
    let f = match crate::files::open(path) {
        Ok(f) => f,
        Err(e) => return sink(unreadable(display, e.reason)),
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let mut r = std::io::BufReader::new(f);
    let mut line = Vec::new();
    let mut n = 0;
    loop {
        line.clear();
        // A line longer than a path can be is no path: read it out in bounded steps.
        match (&mut r).take(64 * 1024).read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return sink(unreadable(display, format!("lecture impossible : {e}"))),
        }
        n += 1;
        let Ok(text) = std::str::from_utf8(&line) else {
            sink(unreadable(
                &format!("{display}:{n}"),
                "ligne qui n'est pas du texte UTF-8 (une liste de fichiers est attendue)",
            ));
            continue;
        };
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let p = base.join(text);
        walk_path(&p, &p.display().to_string(), sink, depth + 1);
    }
}

/// The record of one input: the pipeline's verdict and the header facts the indicators need.
pub fn record(v: &Validator, input: Input) -> Record {
    let (name, bytes) = match input {
        Input::Unreadable { name, reason } => return blank(name, Some(reason)),
        Input::Bytes { name, bytes } => (name, bytes),
    };
    let (report, header) = v.validate_bytes_with_header(&name, &bytes);
    drop(bytes);
    let Some(profile_id) = report.profile.clone() else {
        let why = report
            .findings
            .first()
            .map(|f| format!("{} ({})", f.message, f.rule))
            .unwrap_or_else(|| "document illisible".into());
        return blank(name, Some(why));
    };
    let Some(header) = header else {
        return blank(name, Some("en-tête CDA illisible".into()));
    };
    let family = crate::profile::by_id(&profile_id).map(|p| p.family);
    let code = header.code.as_ref().map(|c| c.code.as_str());
    let (doc_type, level3) = match family {
        Some(Family::CrBio) => (DocType::CrBio, true),
        Some(Family::CrBioN1) => (DocType::CrBio, false),
        Some(Family::Ldl) if profile_id.starts_with("ldl-ses") => (DocType::Ldl, false),
        Some(Family::Ldl | Family::BioTrod) => (DocType::Other, false),
        _ => match code {
            Some("11502-2") => (DocType::CrBio, false),
            Some("11490-0") => (DocType::Ldl, false),
            _ => (DocType::Other, false),
        },
    };
    let (day, bad_date) = match header.effective_time.as_deref() {
        None => (None, None),
        Some(t) => match crate::cda::ts::parse(t) {
            Ok(ts) if ts.digits >= 8 => (t.get(..8).and_then(|d| d.parse().ok()), None),
            _ => (None, Some(t.to_string())),
        },
    };
    let mut failing: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.severity >= v.fail_on())
        .map(|f| f.rule.clone())
        .collect();
    failing.sort();
    failing.dedup();
    Record {
        source: name,
        id: header.id.as_ref().map(|i| i.xds()),
        set_id: header.set_id.as_ref().map(|i| i.xds()),
        version: header
            .version_number
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
        replaces: header.replaces.as_ref().map(|i| i.xds()),
        custodian: header.custodian.as_ref().map(|i| i.xds()),
        custodian_name: header.custodian_name.clone(),
        day,
        bad_date,
        doc_type,
        level3,
        conformant: report.verdict == Verdict::Pass,
        failing,
        unreadable: None,
    }
}

fn blank(source: String, unreadable: Option<String>) -> Record {
    Record {
        source,
        id: None,
        set_id: None,
        version: 1,
        replaces: None,
        custodian: None,
        custodian_name: None,
        day: None,
        bad_date: None,
        doc_type: DocType::Other,
        level3: false,
        conformant: false,
        failing: Vec::new(),
        unreadable,
    }
}

/// Read and validate everything under `paths` on `pool`'s threads, a batch at a time.
pub fn read_all(
    v: &Validator,
    paths: &[PathBuf],
    pool: &rayon::ThreadPool,
    progress: &(dyn Fn(Progress) + Sync),
) -> Vec<Record> {
    super::in_batches(
        |sink| walk(paths, sink),
        pool,
        |i| record(v, i),
        "produits",
        progress,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_names_documents_and_a_binary_file_is_one_unreadable_input() {
        let dir = std::env::temp_dir().join(format!("banc-produced-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.xml"), "<ClinicalDocument/>").unwrap();
        std::fs::write(dir.join("list.txt"), "# export\na.xml\n\nmissing.xml\n").unwrap();
        std::fs::write(dir.join("blob.bin"), [0u8, 1, 2, 3, b'\n', 0, 9]).unwrap();
        let mut got = Vec::new();
        walk(&[dir.join("list.txt"), dir.join("blob.bin")], &mut |i| {
            got.push(match i {
                Input::Bytes { name, .. } => format!("doc {name}"),
                Input::Unreadable { name, reason } => format!("bad {name}: {reason}"),
            })
        });
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            got[0].starts_with("doc ") && got[0].ends_with("a.xml"),
            "{got:?}"
        );
        assert!(
            got[1].contains("missing.xml") && got[1].contains("introuvable"),
            "{got:?}"
        );
        assert!(
            got[2].contains("blob.bin") && got[2].contains("ni un document"),
            "{got:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
