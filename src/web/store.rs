//! Where `banc serve` keeps its results: one folder per validation under `DATA/v/<id>/`,
//! complete on disk (written in `DATA/tmp/`, every file and folder fsync'd, then renamed) before
//! the client is told where it is. The folder holds the original files, the reports and a hash
//! of the permalink's secret, never the secret: a copy of the data folder does not give the
//! links. A result is found only with its id and its secret (compared in constant time), and
//! not at all once expired; nothing lists them.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bytes of randomness in an id (found by) and in a secret (unguessable: 256 bits).
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;
/// Longest secret looked at (base64url of 32 bytes is 43 characters).
const SECRET_MAX: usize = 64;

/// Version of `meta.json`.
const META_VERSION: u32 = 1;

/// What a validation leaves: its inputs and its reports, ready to be written.
pub struct NewResult {
    /// The uploaded files: name as shown in the report, bytes.
    pub files: Vec<(String, Vec<u8>)>,
    /// The `banc.validate/1` JSON.
    pub json: String,
    /// JUnit XML (absent if it could not be rendered).
    pub junit: Option<Vec<u8>>,
    /// The HTML report, with [`BANNER_MARK`] where the page's links go.
    pub html: String,
    /// SVRL files: name, text.
    pub svrl: Vec<(String, String)>,
    /// Overall verdict (`pass`, `fail`, `error`), for the log.
    pub verdict: String,
}

/// Placed in the stored page where the links of the permalink go when it is served (they hold
/// the secret, which is not stored). maud escapes every `<` of a document's text, so the mark
/// cannot come from a document.
pub const BANNER_MARK: &str = "<!--banc:liens-->";

/// What is kept about a result besides its files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub version: u32,
    /// SHA-256 of the secret (hex).
    pub secret_sha256: String,
    /// Milliseconds since the Unix epoch.
    pub created_ms: u64,
    pub expires_ms: u64,
    /// Names of the uploaded files, in order (`files/0`, `files/1`...).
    pub files: Vec<String>,
    /// Names of the SVRL files, in order (`svrl/0`...).
    pub svrl: Vec<String>,
    pub junit: bool,
    pub verdict: String,
}

/// A result the client may read.
#[derive(Debug, Clone)]
pub struct Found {
    pub id: String,
    pub dir: PathBuf,
    pub meta: Meta,
}

pub struct Store {
    root: PathBuf,
    retention: Duration,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn random(n: usize) -> io::Result<Vec<u8>> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| io::Error::other(format!("aléa du système : {e}")))?;
    Ok(b)
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// An id as [`Store::create`] makes them: lower-case hex, so never a path.
fn valid_id(id: &str) -> bool {
    id.len() == ID_BYTES * 2 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn mkdir(path: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(path)
}

fn mkdir_all(path: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(path)
}

/// Write `bytes` to a new file and flush it to the disk.
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Flush a folder's entries (a created or renamed file) to the disk.
fn sync_dir(path: &Path) -> io::Result<()> {
    fs::File::open(path)?.sync_all()
}

impl Store {
    /// Open (create) the store under `root`; what a crash left half-written is removed.
    pub fn open(root: &Path, retention: Duration) -> io::Result<Store> {
        let store = Store {
            root: root.to_path_buf(),
            retention,
        };
        mkdir_all(&store.results())?;
        mkdir_all(&store.tmp())?;
        for e in fs::read_dir(store.tmp())? {
            let _ = fs::remove_dir_all(e?.path());
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn retention(&self) -> Duration {
        self.retention
    }

    fn results(&self) -> PathBuf {
        self.root.join("v")
    }

    fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Store a result durably; its id and secret. When this returns, the result survives a
    /// crash of the process or of the machine.
    pub fn create(&self, new: &NewResult) -> io::Result<(String, String)> {
        use base64::Engine;
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random(SECRET_BYTES)?);
        let created = now_ms();
        let meta = Meta {
            version: META_VERSION,
            secret_sha256: hex::encode(sha256(&secret)),
            created_ms: created,
            expires_ms: created.saturating_add(self.retention.as_millis() as u64),
            files: new.files.iter().map(|(n, _)| n.clone()).collect(),
            svrl: new.svrl.iter().map(|(n, _)| n.clone()).collect(),
            junit: new.junit.is_some(),
            verdict: new.verdict.clone(),
        };
        for _ in 0..8 {
            let id = hex::encode(random(ID_BYTES)?);
            let tmp = self.tmp().join(&id);
            mkdir(&tmp)?;
            let written = self.write_all(&tmp, new, &meta);
            if let Err(e) = written {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
            // rename(2) refuses a non-empty target: an id already taken is drawn again.
            match fs::rename(&tmp, self.results().join(&id)) {
                Ok(()) => {
                    sync_dir(&self.results())?;
                    sync_dir(&self.tmp())?;
                    return Ok((id, secret));
                }
                Err(e) if self.results().join(&id).exists() => {
                    let _ = fs::remove_dir_all(&tmp);
                    tracing::debug!("id déjà pris : {e}");
                }
                Err(e) => {
                    let _ = fs::remove_dir_all(&tmp);
                    return Err(e);
                }
            }
        }
        Err(io::Error::other("aucun identifiant libre"))
    }

    fn write_all(&self, dir: &Path, new: &NewResult, meta: &Meta) -> io::Result<()> {
        let files = dir.join("files");
        mkdir(&files)?;
        for (i, (_, bytes)) in new.files.iter().enumerate() {
            write_synced(&files.join(i.to_string()), bytes)?;
        }
        sync_dir(&files)?;
        if !new.svrl.is_empty() {
            let svrl = dir.join("svrl");
            mkdir(&svrl)?;
            for (i, (_, text)) in new.svrl.iter().enumerate() {
                write_synced(&svrl.join(i.to_string()), text.as_bytes())?;
            }
            sync_dir(&svrl)?;
        }
        write_synced(&dir.join("report.json"), new.json.as_bytes())?;
        if let Some(junit) = &new.junit {
            write_synced(&dir.join("report.xml"), junit)?;
        }
        write_synced(&dir.join("report.html"), new.html.as_bytes())?;
        let meta = serde_json::to_vec_pretty(meta).map_err(io::Error::other)?;
        write_synced(&dir.join("meta.json"), &meta)?;
        sync_dir(dir)
    }

    /// The result `id` if `secret` is its secret and it has not expired. Every miss looks the
    /// same to the caller (no id, wrong secret, expired).
    pub fn find(&self, id: &str, secret: &str) -> Option<Found> {
        use subtle::ConstantTimeEq;
        if !valid_id(id) || secret.len() > SECRET_MAX {
            return None;
        }
        let dir = self.results().join(id);
        let meta = read_meta(&dir)?;
        let stored = hex::decode(&meta.secret_sha256).ok()?;
        if !bool::from(stored.as_slice().ct_eq(&sha256(secret))) {
            return None;
        }
        if meta.expires_ms <= now_ms() {
            self.remove(id);
            return None;
        }
        Some(Found {
            id: id.to_string(),
            dir,
            meta,
        })
    }

    /// Remove a result: moved out of `v/` first, so that it is never seen half-deleted.
    fn remove(&self, id: &str) {
        let gone = self.tmp().join(format!("{id}.expired"));
        if fs::rename(self.results().join(id), &gone).is_ok() {
            let _ = fs::remove_dir_all(&gone);
        }
    }

    /// Delete every expired result (and what a crash left unreadable); how many were deleted.
    pub fn sweep(&self) -> usize {
        let now = now_ms();
        let Ok(entries) = fs::read_dir(self.results()) else {
            return 0;
        };
        let mut removed = 0;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let expired = match read_meta(&e.path()) {
                Some(m) => m.expires_ms <= now,
                // Not one of ours (or its meta is unreadable): never shown, so never kept.
                None => valid_id(&name),
            };
            if expired {
                self.remove(&name);
                removed += 1;
            }
        }
        removed
    }
}

fn read_meta(dir: &Path) -> Option<Meta> {
    let bytes = crate::files::read_bounded(&dir.join("meta.json"), crate::files::MAX_SMALL).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NewResult {
        NewResult {
            files: vec![("a.xml".into(), b"<a/>".to_vec())],
            json: "{}".into(),
            junit: Some(b"<testsuites/>".to_vec()),
            html: format!("<html>{BANNER_MARK}</html>"),
            svrl: vec![],
            verdict: "pass".into(),
        }
    }

    fn store(name: &str, retention: Duration) -> Store {
        let d = std::env::temp_dir().join(format!("banc-store-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        Store::open(&d, retention).unwrap()
    }

    #[test]
    fn a_result_is_found_with_its_secret_only() {
        let s = store("find", Duration::from_secs(3600));
        let (id, secret) = s.create(&sample()).unwrap();
        assert!(secret.len() >= 43, "256 bits in base64url");
        assert!(s.find(&id, &secret).is_some());
        assert!(s.find(&id, "x").is_none());
        let mut wrong = secret.clone();
        wrong.replace_range(0..1, if secret.starts_with('A') { "B" } else { "A" });
        assert!(s.find(&id, &wrong).is_none());
        assert!(s.find("../v", &secret).is_none());
        // The secret itself is nowhere on disk.
        for e in walkdir::WalkDir::new(s.root()).into_iter().flatten() {
            if e.file_type().is_file() {
                let text = fs::read(e.path()).unwrap();
                assert!(!text.windows(secret.len()).any(|w| w == secret.as_bytes()));
            }
        }
        let _ = fs::remove_dir_all(s.root());
    }

    #[test]
    fn an_expired_result_is_gone_and_swept() {
        let s = store("expire", Duration::ZERO);
        let (id, secret) = s.create(&sample()).unwrap();
        assert!(s.find(&id, &secret).is_none());
        let (id2, _) = s.create(&sample()).unwrap();
        assert_eq!(s.sweep(), 1);
        assert!(!s.root().join("v").join(&id2).exists());
        let _ = fs::remove_dir_all(s.root());
    }
}
