//! What a file given to banc is — a CDA document, an IHE_XDM.zip package or an e-mail — and
//! the door that judges it: the one place that dispatches by kind, above the pipeline (one
//! document) and the containers (`xdm`, `mail`), so that neither has to know the others.

use crate::finding::report::{DocumentReport, RunReport};
use crate::pipeline::Validator;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Any input `banc validate` accepts: a CDA, an IHE_XDM.zip (package report, then one per
/// document) or an e-mail (`.eml`: message report, then its package and documents). A panic in
/// banc while judging it is this input's `banc.internal.panic` finding; the batch goes on.
pub fn validate(validator: &Validator, path: &Path, display: &str) -> Vec<DocumentReport> {
    crate::banc::internal::guard(|| judge(validator, path, display))
        .unwrap_or_else(|f| vec![validator.internal_error_report(display, *f)])
}

fn judge(validator: &Validator, path: &Path, display: &str) -> Vec<DocumentReport> {
    let start = Instant::now();
    let bytes = match validator.read_bounded(path, display, start) {
        Ok(b) => b,
        Err(report) => return vec![*report],
    };
    judge_bytes(validator, path, display, &bytes, start)
}

/// [`validate`] for an input held in memory (an upload): `name` gives its extension, as a
/// path would.
pub fn validate_bytes(validator: &Validator, name: &str, bytes: &[u8]) -> Vec<DocumentReport> {
    let start = Instant::now();
    crate::banc::internal::guard(|| judge_bytes(validator, Path::new(name), name, bytes, start))
        .unwrap_or_else(|f| vec![validator.internal_error_report(name, *f)])
}

fn judge_bytes(
    validator: &Validator,
    path: &Path,
    display: &str,
    bytes: &[u8],
    start: Instant,
) -> Vec<DocumentReport> {
    match kind(path, bytes) {
        InputKind::Zip => {
            crate::xdm::check(display, bytes, validator, &crate::xdm::Limits::default())
        }
        InputKind::Mail => {
            crate::mail::analyse(display, bytes, validator, &crate::mail::Policy::default())
        }
        InputKind::Document => {
            let mut r = validator.validate_bytes(display, bytes);
            r.duration_ms = start.elapsed().as_secs_f64() * 1000.0;
            vec![r]
        }
    }
}

pub enum InputKind {
    Document,
    Zip,
    Mail,
}

/// What a file is: by its first bytes (a zip's local header, an XML start), else its extension.
pub fn kind(path: &Path, bytes: &[u8]) -> InputKind {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return InputKind::Zip;
    }
    let body = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match ext.as_str() {
        "zip" => InputKind::Zip,
        "eml" | "msg" | "mbox" => InputKind::Mail,
        _ if first == Some(&b'<') => InputKind::Document,
        // A header line (`Name: value`) first: an e-mail saved under another name.
        _ if body
            .split(|b| *b == b'\n')
            .next()
            .and_then(|l| l.iter().position(|b| *b == b':'))
            .is_some_and(|i| {
                i > 0
                    && body[..i]
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            }) =>
        {
            InputKind::Mail
        }
        _ => InputKind::Document,
    }
}

/// What `banc validate` looks for in a folder: documents, packages, messages.
pub const INPUT_EXTENSIONS: [&str; 3] = ["xml", "zip", "eml"];

/// Why the inputs of a run could not be gathered or judged.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{} : aucun fichier .xml, .zip ou .eml dans ce dossier", .0.display())]
    EmptyFolder(PathBuf),
    #[error("{} : fichier ou dossier introuvable", .0.display())]
    NotFound(PathBuf),
    #[error("{0}")]
    Threads(String),
}

/// Expand the command line's paths: files as given, folders recursed for `*.xml`, `*.zip` and
/// `*.eml` (sorted).
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = crate::files::under(p, &INPUT_EXTENSIONS);
            if found.is_empty() {
                return Err(Error::EmptyFolder(p.clone()));
            }
            out.append(&mut found);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(Error::NotFound(p.clone()));
        }
    }
    Ok(out)
}

/// `banc validate`: every input under `paths`, judged on `jobs` threads; the reports keep the
/// inputs' order whichever thread finished first.
pub fn validate_all(
    validator: &Validator,
    paths: &[PathBuf],
    jobs: usize,
) -> Result<RunReport, Error> {
    use rayon::prelude::*;
    let inputs = collect(paths)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .map_err(|e| Error::Threads(e.to_string()))?;
    let docs = pool.install(|| {
        inputs
            .par_iter()
            .map(|p| validate(validator, p, &p.display().to_string()))
            .collect::<Vec<_>>()
    });
    Ok(validator.run_report(docs.into_iter().flatten().collect()))
}
