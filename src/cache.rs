//! The start-up cache: what a kit compiles to (its file index for the fingerprint, the
//! translated schematron plans, the value sets), kept between processes in the user's cache
//! folder so that a one-document run does not redo a kit's work.
//!
//! An entry is named by what it depends on — banc's version, the kit's fingerprint and the
//! options that change it — hashed into its file name, so a changed kit or another banc simply
//! misses. Each file is written whole to a temporary name then renamed (a reader never sees half
//! of it) and carries a checksum: a truncated, corrupt or foreign file is ignored and rebuilt,
//! never trusted. Every failure of the cache is silent for the run: it only costs time. Entries
//! no run has read for a month are swept when banc next writes one (`sweep`).

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// First bytes of an entry, with the layout's version.
const MAGIC: &[u8; 8] = b"BANCACH1";

/// Where entries live; `None`: no cache (`--no-cache`).
#[derive(Debug, Clone, Default)]
pub struct Cache {
    dir: Option<PathBuf>,
}

impl Cache {
    /// No cache: everything is built in the process.
    pub fn none() -> Cache {
        Cache { dir: None }
    }

    /// Entries under `dir` (created when first written).
    pub fn at(dir: impl Into<PathBuf>) -> Cache {
        Cache {
            dir: Some(dir.into()),
        }
    }

    /// The user's cache folder: `$XDG_CACHE_HOME/banc`, else `~/.cache/banc`; none without a home.
    pub fn user() -> Cache {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
        Cache {
            dir: base.map(|b| b.join("banc")),
        }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The file of the entry `kind` for `key` (every part it depends on, banc's version added).
    pub fn path(&self, kind: &str, key: &[&str]) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let mut h = Sha256::new();
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.update(build_id().as_bytes());
        for part in key {
            h.update([0u8]);
            h.update(part.as_bytes());
        }
        let digest = hex::encode(&h.finalize()[..16]);
        Some(dir.join(format!("{kind}-{digest}.bin")))
    }

    /// The entry, if present and whole; anything else (absent, truncated, corrupt, another
    /// layout) is `None` and will be rebuilt.
    pub fn read<T: DeserializeOwned>(&self, kind: &str, key: &[&str]) -> Option<T> {
        use std::io::Read;
        let path = self.path(kind, key)?;
        let mut f = std::fs::File::open(&path).ok()?;
        let meta = f.metadata().ok()?;
        let modified = meta.modified().ok();
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        f.read_to_end(&mut bytes).ok()?;
        let value = decode(&bytes);
        if value.is_none() {
            tracing::debug!("cache : {} illisible, reconstruit", path.display());
        } else if let Some(t) = modified
            && let now = std::time::SystemTime::now()
            && older(t, DAY, now)
        {
            // Used: its time refreshed (at most daily), so that `sweep` keeps it.
            let _ = std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(now));
        }
        value
    }

    /// Store the entry (temporary file, then rename). A cache that cannot be written is not an
    /// error of the run.
    pub fn write<T: Serialize>(&self, kind: &str, key: &[&str], value: &T) {
        let Some(path) = self.path(kind, key) else {
            return;
        };
        let Ok(bytes) = encode(value) else { return };
        if let Err(e) = write_atomic(&path, &bytes) {
            tracing::debug!("cache : écriture de {} impossible : {e}", path.display());
        }
        // Entries are only written on a miss (a new kit, a new banc): the time to sweep.
        static SWEPT: std::sync::Once = std::sync::Once::new();
        if let Some(dir) = &self.dir {
            SWEPT.call_once(|| sweep(dir, std::time::SystemTime::now()));
        }
    }
}

const DAY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// An entry unused this long is removed: each banc build and each kit version has its own
/// entries, which nothing else would ever remove.
const UNUSED_FOR: std::time::Duration = DAY.saturating_mul(30);
/// A temporary file this old was left by a process that died while writing.
const TEMP_FOR: std::time::Duration = DAY;

/// Whether `t` is more than `limit` before `now`.
fn older(t: std::time::SystemTime, limit: std::time::Duration, now: std::time::SystemTime) -> bool {
    now.duration_since(t).is_ok_and(|d| d > limit)
}

/// Remove from `dir` the entries unused for [`UNUSED_FOR`] and the temporary files older than
/// [`TEMP_FOR`], as of `now`. Only names banc gives are looked at (`--cache` may name a folder
/// holding other files); a file that cannot be removed stays.
fn sweep(dir: &Path, now: std::time::SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let limit = if is_entry_name(name) {
            UNUSED_FOR
        } else if name.starts_with('.') && name.ends_with(".tmp") {
            TEMP_FOR
        } else {
            continue;
        };
        let old = e
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_file)
            .and_then(|m| m.modified().ok())
            .is_some_and(|t| older(t, limit, now));
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// `<kind>-<32 hex digits>.bin`, as [`Cache::path`] names entries.
fn is_entry_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".bin") else {
        return false;
    };
    let Some((kind, digest)) = stem.rsplit_once('-') else {
        return false;
    };
    !kind.is_empty()
        && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        && digest.len() == 32
        && digest.bytes().all(|b| b.is_ascii_hexdigit())
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    let body = postcard::to_stdvec(value)?;
    let mut out = Vec::with_capacity(body.len() + 20);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (crc, rest) = rest.split_first_chunk::<4>()?;
    let (len, body) = rest.split_first_chunk::<8>()?;
    if u64::from_le_bytes(*len) != body.len() as u64
        || crc32fast::hash(body) != u32::from_le_bytes(*crc)
    {
        return None;
    }
    postcard::from_bytes(body).ok()
}

/// Write `bytes` to `path` so that no reader ever sees a partial file: a temporary file in the
/// same folder (unique to this process and write), then a rename over the old entry.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let written = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// This build of banc: its executable's size and modification time. The version alone is not
/// enough — a rebuild of the same version may translate the rules differently, and must not
/// read the plans of the build before.
fn build_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        std::env::current_exe()
            .and_then(std::fs::metadata)
            .map(|m| {
                let t = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                format!("{}:{t}", m.len())
            })
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_unused_for_a_month_and_stale_temporary_files_are_swept_others_stay() {
        let dir = std::env::temp_dir().join(format!("banc-cache-sweep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let c = Cache::at(&dir);
        c.write("plan", &["used"], &1u8);
        c.write("plan", &["unused"], &2u8);
        let used = c.path("plan", &["used"]).unwrap();
        let unused = c.path("plan", &["unused"]).unwrap();
        let day = std::time::Duration::from_secs(24 * 3600);
        let now = std::time::SystemTime::now();
        let date = |p: &Path, t: std::time::SystemTime| {
            std::fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(t)
                .unwrap()
        };
        let tmp = dir.join(".plan-x.bin.1.0.tmp");
        let fresh_tmp = dir.join(".plan-y.bin.1.1.tmp");
        let foreign = dir.join("notes-2026.bin");
        for p in [&tmp, &fresh_tmp, &foreign] {
            std::fs::write(p, b"x").unwrap();
        }
        for p in [&used, &unused, &foreign] {
            date(p, now - 40 * day);
        }
        date(&tmp, now - 2 * day);
        // A read marks the entry used.
        assert_eq!(c.read::<u8>("plan", &["used"]), Some(1));
        sweep(&dir, now);
        assert!(used.exists(), "read today");
        assert!(!unused.exists(), "unused for 40 days");
        assert!(!tmp.exists(), "left by a dead writer");
        assert!(fresh_tmp.exists(), "maybe being written");
        assert!(foreign.exists(), "not a name banc gives");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn an_entry_is_read_back_and_a_damaged_one_is_ignored() {
        let dir = std::env::temp_dir().join(format!("banc-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let c = Cache::at(&dir);
        let v: Vec<(String, u32)> = vec![("a".into(), 1), ("b".into(), 2)];
        c.write("t", &["k"], &v);
        assert_eq!(c.read::<Vec<(String, u32)>>("t", &["k"]), Some(v.clone()));
        assert_eq!(c.read::<Vec<(String, u32)>>("t", &["other"]), None, "key");
        let path = c.path("t", &["k"]).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xFF;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(c.read::<Vec<(String, u32)>>("t", &["k"]), None, "corrupt");
        std::fs::write(&path, &bytes[..10]).unwrap();
        assert_eq!(c.read::<Vec<(String, u32)>>("t", &["k"]), None, "truncated");
        c.write("t", &["k"], &v);
        assert_eq!(
            c.read::<Vec<(String, u32)>>("t", &["k"]),
            Some(v),
            "rewritten"
        );
        assert!(Cache::none().read::<u32>("t", &["k"]).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
