//! Kits installed by `banc kit fetch`: the official ANS kit (TestContenuCDA) downloaded as the
//! archive of a tag or commit, unpacked safely, checked, and kept in banc's data folder, one
//! folder per ref. The default one is what `banc validate` uses without `--kit`; `diff` compares
//! two kits (what a kit update changes).
//!
//! Layout: `<data>/kits/<ref>/` is the kit root as published (usable with `--kit`), with
//! `.banc-kit.json` (ref, URL, archive sha256, fingerprint, date: a hidden file, outside the
//! fingerprint); `<data>/kits/default` names the default ref. Work in progress lives in hidden
//! `.partial-*` folders of the same file system and is renamed into place whole, so a kit is
//! either entirely there or absent.

pub mod diff;
mod extract;
mod fetch;

use crate::finding::report::KitSource;
use crate::kit::Kit;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The repository of the kit banc follows.
pub const REPO: &str = "ansforge/TestContenuCDA-3-0";
/// The kit commit banc is tested with (`../shared/ans-kit`, the oracle's reference verdicts):
/// 2025-02-19. `banc kit fetch` without a ref fetches it.
pub const DEFAULT_REF: &str = "7cd489b39368809df9bcf2cfef5e5d6354438a02";
/// Where the archive of a ref is downloaded from; `{ref}` is replaced by the ref.
pub const DEFAULT_URL: &str = "https://github.com/ansforge/TestContenuCDA-3-0/archive/{ref}.tar.gz";
/// Name of an installed kit's description, in its root.
pub const META: &str = ".banc-kit.json";
const DEFAULT_FILE: &str = "default";

/// Bounds of a download and of its unpacking: the kit at [`DEFAULT_REF`] is a 40 MB archive of
/// 143 MB in 6,412 files; these leave room for growth and stop a hostile or wrong archive.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub archive_bytes: u64,
    pub unpacked_bytes: u64,
    pub entries: usize,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            archive_bytes: 512 << 20,
            unpacked_bytes: 2 << 30,
            entries: 100_000,
        }
    }
}

/// An installed kit as described by its `.banc-kit.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Installed {
    #[serde(rename = "ref")]
    pub reference: String,
    pub url: String,
    /// Hex sha256 of the archive as downloaded.
    pub sha256: String,
    /// banc's fingerprint of the unpacked kit (`kit::fingerprint`).
    pub fingerprint: String,
    /// RFC 3339, UTC.
    pub fetched_at: String,
    /// banc version that fetched it.
    pub banc: String,
    /// The kit root.
    #[serde(skip)]
    pub path: PathBuf,
}

impl Installed {
    /// Open the kit for a run; reports name it by ref and archive. A kit whose files changed
    /// since it was fetched is refused: it would be judged under a ref it no longer is.
    pub fn open(&self) -> Result<Kit, String> {
        let mut kit = Kit::open(&self.path).map_err(|e| e.to_string())?;
        if kit.fingerprint != self.fingerprint {
            return Err(format!(
                "le kit installé « {} » ({}) a changé depuis banc kit fetch (empreinte {} au lieu de {}) : banc kit fetch {} --force le réinstalle",
                self.reference,
                self.path.display(),
                kit.fingerprint,
                self.fingerprint,
                self.reference
            ));
        }
        kit.source = Some(self.source());
        Ok(kit)
    }

    /// How reports name this kit.
    pub fn source(&self) -> KitSource {
        KitSource {
            reference: self.reference.clone(),
            archive_sha256: self.sha256.clone(),
            url: self.url.clone(),
        }
    }
}

/// What to fetch: a ref, an optional pin of the archive, an optional URL (`{ref}` replaced).
/// The project file's `[kit] ref/sha256` is this same request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub reference: String,
    pub sha256: Option<String>,
    pub url: Option<String>,
}

impl Request {
    pub fn new(reference: &str, sha256: Option<&str>, url: Option<&str>) -> Request {
        Request {
            reference: reference.to_string(),
            sha256: sha256.map(str::to_string),
            url: url.map(str::to_string),
        }
    }

    /// The archive's URL.
    pub fn url(&self) -> String {
        self.url
            .as_deref()
            .unwrap_or(DEFAULT_URL)
            .replace("{ref}", &self.reference)
    }
}

/// The outcome of a fetch.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub kit: Installed,
    /// It was already installed (with the pinned archive when a pin was given): nothing
    /// downloaded.
    pub already: bool,
}

/// The kits folder of a data folder.
#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
}

impl Store {
    /// `<data>/kits`.
    pub fn new(data_dir: &Path) -> Store {
        Store {
            dir: data_dir.join("kits"),
        }
    }

    /// The user's data folder (`~/.local/share/banc` on Linux, its equivalent elsewhere).
    pub fn user_data_dir() -> Result<PathBuf, String> {
        dirs::data_dir()
            .map(|d| d.join("banc"))
            .ok_or_else(|| "dossier de données de l'utilisateur introuvable : donnez --data-dir DIR (ou BANC_DATA)".into())
    }

    /// Installed kits, oldest fetch first. Hidden folders (work in progress) are not kits.
    pub fn list(&self) -> Result<Vec<Installed>, String> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("{} : {e}", self.dir.display())),
        };
        let mut out = Vec::new();
        for e in rd.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !e.path().is_dir() {
                continue;
            }
            if let Some(k) = read_meta(&e.path()) {
                out.push(k);
            }
        }
        out.sort_by(|a, b| {
            (a.fetched_at.as_str(), a.reference.as_str())
                .cmp(&(b.fetched_at.as_str(), b.reference.as_str()))
        });
        Ok(out)
    }

    /// The installed kit of `reference`.
    pub fn get(&self, reference: &str) -> Option<Installed> {
        let k = read_meta(&self.dir.join(folder_name(reference)))?;
        (k.reference == reference).then_some(k)
    }

    /// The default kit: the one `banc kit default` named, else the last fetched; `None` when
    /// no kit is installed.
    pub fn default_kit(&self) -> Result<Option<Installed>, String> {
        if let Some(r) = self.default_ref() {
            return self.get(&r).map(Some).ok_or_else(|| {
                format!(
                    "le kit par défaut « {r} » n'est plus installé dans {} : banc kit fetch {r}, ou banc kit default REF",
                    self.dir.display()
                )
            });
        }
        Ok(self.list()?.pop())
    }

    /// The ref the `default` file names.
    pub fn default_ref(&self) -> Option<String> {
        let s = std::fs::read_to_string(self.dir.join(DEFAULT_FILE)).ok()?;
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_string())
    }

    /// Make an installed kit the default.
    pub fn set_default(&self, reference: &str) -> Result<Installed, String> {
        let k = self.get(reference).ok_or_else(|| {
            format!("kit « {reference} » non installé (banc kit list ; banc kit fetch {reference})")
        })?;
        write_atomic(
            &self.dir.join(DEFAULT_FILE),
            format!("{reference}\n").as_bytes(),
        )?;
        Ok(k)
    }

    /// Download, check and install the kit of `req` (see [`fetch`]).
    pub fn fetch(&self, req: &Request, force: bool) -> Result<Fetched, String> {
        fetch::fetch(self, req, force, Bounds::default())
    }

    /// [`Store::fetch`] with other bounds.
    pub fn fetch_bounded(
        &self,
        req: &Request,
        force: bool,
        bounds: Bounds,
    ) -> Result<Fetched, String> {
        fetch::fetch(self, req, force, bounds)
    }
}

/// The kit a project pins (`[kit] ref`, `sha256`, optional mirror `url`): the installed one
/// when it is there with that archive, else fetched now; a different archive is refused and
/// nothing is installed. For the project file; `banc kit fetch` is the same request.
pub fn ensure(
    data_dir: &Path,
    reference: &str,
    sha256: Option<&str>,
    url: Option<&str>,
) -> Result<Installed, String> {
    Store::new(data_dir)
        .fetch(&Request::new(reference, sha256, url), false)
        .map(|f| f.kit)
}

/// A ref as git accepts it for a tag, a branch or a commit, and safe in a URL and a file name:
/// letters, digits, `.`, `_`, `-`, `/` (not first, not `..`, at most 200 characters).
pub fn check_ref(reference: &str) -> Result<(), String> {
    let ok = !reference.is_empty()
        && reference.len() <= 200
        && reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
        && reference
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && !reference.contains("..")
        && !reference.contains("//")
        && !reference.ends_with('/');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "ref « {reference} » refusée : un tag, une branche ou un commit (lettres, chiffres, . _ - /)"
        ))
    }
}

/// A pin: 64 hex digits, `sha256:` prefix allowed; lower case.
pub fn check_sha256(pin: &str) -> Result<String, String> {
    let hex = pin
        .strip_prefix("sha256:")
        .unwrap_or(pin)
        .to_ascii_lowercase();
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(format!(
            "--sha256 « {pin} » : attendu 64 chiffres hexadécimaux (l'empreinte de l'archive)"
        ))
    }
}

/// The folder of a ref: its `/` written `_` (a tag `v1/x` is one folder).
pub fn folder_name(reference: &str) -> String {
    reference.replace('/', "_")
}

fn read_meta(root: &Path) -> Option<Installed> {
    let text = std::fs::read_to_string(root.join(META)).ok()?;
    let mut k: Installed = serde_json::from_str(&text).ok()?;
    k.path = root.to_path_buf();
    Some(k)
}

/// Write through a temporary file and a rename: a reader sees the old or the new content.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("{} : {e}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(|e| format!("{} : {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{} : {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_that_could_leave_the_url_or_the_folder_are_refused() {
        for ok in [
            DEFAULT_REF,
            "v1.2",
            "release/2025-02",
            "testContenuCDA20250218",
        ] {
            assert!(check_ref(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "../x", "a/../b", "-x", "/x", "x/", "a b", "a?b", "a//b", ".x",
        ] {
            assert!(check_ref(bad).is_err(), "{bad}");
        }
        assert_eq!(folder_name("release/2025"), "release_2025");
    }

    #[test]
    fn pins_are_hex_sha256() {
        let h = "A".repeat(64);
        assert_eq!(check_sha256(&h).unwrap(), "a".repeat(64));
        assert_eq!(
            check_sha256(&format!("sha256:{}", "b".repeat(64))).unwrap(),
            "b".repeat(64)
        );
        assert!(check_sha256("abc").is_err());
        assert!(check_sha256(&"g".repeat(64)).is_err());
    }
}
