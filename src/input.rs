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
    let inputs = collect(paths)?;
    let mut docs = Vec::new();
    validate_each(validator, &inputs, jobs, |r| docs.push(r))?;
    Ok(validator.run_report(docs))
}

/// Inputs judged at once before their reports are handed on: enough to keep every thread busy,
/// few enough that a batch of any size holds a bounded number of reports.
const WINDOW_PER_JOB: usize = 64;

/// Judge `inputs` on `jobs` threads and hand each report to `sink` in the inputs' order, as
/// soon as it and those before it are done: at most a window of reports is held at a time,
/// so a folder of 100,000 documents streams with flat memory (`--format jsonl`).
pub fn validate_each(
    validator: &Validator,
    inputs: &[PathBuf],
    jobs: usize,
    mut sink: impl FnMut(DocumentReport),
) -> Result<(), Error> {
    use rayon::prelude::*;
    let jobs = jobs.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| Error::Threads(e.to_string()))?;
    for window in inputs.chunks(jobs * WINDOW_PER_JOB) {
        let docs = pool.install(|| {
            window
                .par_iter()
                .map(|p| validate(validator, p, &p.display().to_string()))
                .collect::<Vec<_>>()
        });
        docs.into_iter().flatten().for_each(&mut sink);
    }
    Ok(())
}

/// `--shard K/N`: the stable share K (0 to N-1) of N of a run's inputs, so that N processes on N
/// machines, given the same paths, judge every input exactly once. An input belongs to the
/// share its path relative to the folder given (a file given by itself: its path as given)
/// hashes to, so the choice is the same on every machine and whatever the mount point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("« {s} » : attendu K/N, 0 ≤ K < N (par exemple 0/4)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether the input at `relative` (`/`-separated) is in this share.
    pub fn keeps(&self, relative: &str) -> bool {
        use sha2::{Digest, Sha256};
        let h = Sha256::digest(relative.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&h[..8]);
        u64::from_be_bytes(first) % self.count == self.index
    }
}

/// The inputs of a run ([`collect`]), only those of `shard` when one is given.
pub fn select(paths: &[PathBuf], shard: Option<Shard>) -> Result<Vec<PathBuf>, Error> {
    let Some(shard) = shard else {
        return collect(paths);
    };
    let mut out = Vec::new();
    for p in paths {
        let found = collect(std::slice::from_ref(p))?;
        out.extend(found.into_iter().filter(|f| {
            let rel = f.strip_prefix(p).ok().filter(|r| !r.as_os_str().is_empty());
            shard.keeps(&slashed(rel.unwrap_or(f)))
        }));
    }
    Ok(out)
}

/// A path with `/` separators whatever the platform.
fn slashed(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
