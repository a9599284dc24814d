//! A rule pack on disk laid out like the ANS TestContenuCDA kit, and its fingerprint.
//!
//! The fingerprint is `sha256:<hex>` of the sorted list of (relative path, sha256 of content) of
//! every regular file under the kit root, hidden folders (`.git`) excluded: it changes when any
//! file is added, removed, renamed or edited, and is the same on every machine.

use crate::cache::Cache;
use crate::finding::Severity;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// Kit-relative path of the CDA schema.
pub const CDA_XSD: &str = "infrastructure/cda/CDA_extended.xsd";

/// Defects of the kit itself (`kit.*`), met while loading and compiling its schematrons and
/// listed by `banc kit check`; the findings of a document that cannot be checked are
/// `schematron.unusable`. Their layer is the one the kit feeds.
pub mod rules {
    use crate::finding::{Layer, Rule, Severity};

    pub const XML_UNREADABLE: &Rule = &crate::rule! {
        id: "kit.xml.unreadable",
        layer: Layer::Schematron,
        severity: Severity::Error,
        message: "Fichier du kit illisible (lecture, UTF-8 ou XML) : le schématron n'est pas utilisable.",
        hint: "",
        spec: "",
    };
    pub const INCLUDE_MISSING: &Rule = &crate::rule! {
        id: "kit.include.missing",
        layer: Layer::Schematron,
        severity: Severity::Error,
        message: "include d'un fichier introuvable : le schématron n'est pas utilisable.",
        hint: "",
        spec: "",
    };
    pub const INCLUDE_UNUSABLE: &Rule = &crate::rule! {
        id: "kit.include.unusable",
        layer: Layer::Schematron,
        severity: Severity::Error,
        message: "include d'un dossier, d'un fichier vide ou imbriqué sur plus de 32 niveaux : le schématron n'est pas utilisable.",
        hint: "",
        spec: "",
    };
    pub const INCLUDE_CASE_MISMATCH: &Rule = &crate::rule! {
        id: "kit.include.case-mismatch",
        layer: Layer::Schematron,
        severity: Severity::Warning,
        message: "include qui ne diffère que par la casse du fichier présent : résolu sans tenir compte de la casse, comme sous Windows.",
        hint: "",
        spec: "",
    };
    pub const RULE_UNKNOWN_ABSTRACT: &Rule = &crate::rule! {
        id: "kit.rule.unknown-abstract",
        layer: Layer::Schematron,
        severity: Severity::Error,
        message: "rule extends d'une règle abstraite absente : la règle est ignorée.",
        hint: "",
        spec: "",
    };
    pub const PATTERN_UNKNOWN_ABSTRACT: &Rule = &crate::rule! {
        id: "kit.pattern.unknown-abstract",
        layer: Layer::Schematron,
        severity: Severity::Error,
        message: "pattern is-a d'un pattern abstrait absent : le pattern est ignoré.",
        hint: "",
        spec: "",
    };
    pub const VALUESET_MISSING: &Rule = &crate::rule! {
        id: "kit.valueset.missing",
        layer: Layer::Schematron,
        severity: Severity::Warning,
        message: "Fichier de jeu de valeurs introuvable.",
        hint: "",
        spec: "",
    };
    pub const VALUESET_FALLBACK: &Rule = &crate::rule! {
        id: "kit.valueset.fallback",
        layer: Layer::Schematron,
        severity: Severity::Warning,
        message: "Jeu de valeurs absent reconstruit depuis un autre fichier du kit (même OID), comme la référence.",
        hint: "",
        spec: "",
    };
    pub const PHASE_UNKNOWN: &Rule = &crate::rule! {
        id: "kit.phase.unknown",
        layer: Layer::Schematron,
        severity: Severity::Error,
        message: "Phase du schématron absente : le schématron n'est pas utilisable.",
        hint: "",
        spec: "",
    };
    pub const XPATH_UNSUPPORTED: &Rule = &crate::rule! {
        id: "kit.xpath.unsupported",
        layer: Layer::Schematron,
        severity: Severity::Warning,
        message: "Expression XPath du schématron que banc ne sait pas évaluer.",
        hint: "",
        spec: "",
    };

    /// Every `kit.*` rule.
    pub const LIBXML2_UNSUPPORTED: &Rule = &crate::rule! {
        id: "kit.libxml2.unsupported",
        layer: Layer::Schematron,
        severity: Severity::Error,
        message: "La bibliothèque libxml2 du système n'est pas de la série 2.9 pour laquelle banc est construit : les schématrons ne sont pas utilisables.",
        hint: "Install libxml2 2.9.x (Debian: libxml2 2.9.14), or rebuild banc against the system's libxml2.",
        spec: "",
    };
    pub static RULES: &[&Rule] = &[
        XML_UNREADABLE,
        INCLUDE_MISSING,
        INCLUDE_UNUSABLE,
        INCLUDE_CASE_MISMATCH,
        RULE_UNKNOWN_ABSTRACT,
        PATTERN_UNKNOWN_ABSTRACT,
        VALUESET_MISSING,
        VALUESET_FALLBACK,
        PHASE_UNKNOWN,
        XPATH_UNSUPPORTED,
        LIBXML2_UNSUPPORTED,
    ];
}

/// A defect of the kit met while loading a schematron.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KitIssue {
    /// The id of one of [`rules::RULES`].
    pub rule: &'static str,
    pub severity: Severity,
    /// Kit-relative file where the problem is written.
    pub file: String,
    pub line: u32,
    pub message: String,
}

// By hand: the rule id is one of [`rules::RULES`] (a `&'static str`), found again by its text
// (the start-up cache reads issues back).
impl<'de> serde::Deserialize<'de> for KitIssue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<KitIssue, D::Error> {
        #[derive(serde::Deserialize)]
        struct Read {
            rule: String,
            severity: Severity,
            file: String,
            line: u32,
            message: String,
        }
        let r = Read::deserialize(d)?;
        let rule = rules::RULES
            .iter()
            .find(|k| k.id == r.rule)
            .map(|k| k.id)
            .ok_or_else(|| serde::de::Error::custom(format!("règle de kit inconnue {}", r.rule)))?;
        Ok(KitIssue {
            rule,
            severity: r.severity,
            file: r.file,
            line: r.line,
            message: r.message,
        })
    }
}

impl From<KitIssue> for crate::finding::report::KitIssueView {
    fn from(i: KitIssue) -> Self {
        crate::finding::report::KitIssueView {
            rule: i.rule.to_string(),
            severity: i.severity,
            file: i.file,
            line: (i.line > 0).then_some(i.line),
            message: i.message,
        }
    }
}

#[derive(Debug)]
pub struct KitError(pub String);

impl fmt::Display for KitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KitError {}

/// The doors report their errors as French sentences; a kit error is one of them.
impl From<KitError> for String {
    fn from(e: KitError) -> String {
        e.0
    }
}

#[derive(Debug, Clone)]
pub struct Kit {
    pub root: PathBuf,
    pub fingerprint: String,
    /// Ref and archive of a kit installed by `banc kit fetch` (none for a folder given as is).
    pub source: Option<crate::finding::report::KitSource>,
}

impl Kit {
    /// Open a kit folder: it must hold the CDA schema where the ANS kit has it. Every file is
    /// hashed for the fingerprint.
    pub fn open(root: &Path) -> Result<Kit, KitError> {
        Kit::open_cached(root, &Cache::none())
    }

    /// [`Kit::open`], the fingerprint from the file index kept in `cache` (only the files whose
    /// size or modification time changed are hashed again).
    pub fn open_cached(root: &Path, cache: &Cache) -> Result<Kit, KitError> {
        if !root.is_dir() {
            return Err(KitError(format!(
                "kit introuvable : {} n'est pas un dossier",
                root.display()
            )));
        }
        if !root.join(CDA_XSD).is_file() {
            return Err(KitError(format!(
                "{} ne ressemble pas à un kit TestContenuCDA : {} est absent",
                root.display(),
                CDA_XSD
            )));
        }
        let fingerprint = fingerprint_with(root, cache)?;
        Ok(Kit {
            root: root.to_path_buf(),
            fingerprint,
            source: None,
        })
    }

    pub fn xsd_path(&self) -> PathBuf {
        self.root.join(CDA_XSD)
    }
}

/// `sha256:<hex>` over the kit's files (see the module documentation), every file hashed.
pub fn fingerprint(root: &Path) -> Result<String, KitError> {
    fingerprint_with(root, &Cache::none())
}

/// What the cache remembers of a kit file, as git's index does: its size and modification
/// time when it was hashed, and the hash. `None`: modified too close to the indexing to trust
/// the time (a later write within the clock's grain would not show), hashed again next time.
#[derive(serde::Serialize, serde::Deserialize)]
struct Indexed {
    rel: String,
    size: u64,
    mtime_ns: i128,
    digest: Option<[u8; 32]>,
}

/// A file modified less than this before the index is written is hashed again next time.
const RACY_NS: i128 = 2_000_000_000;

fn mtime_ns(meta: &std::fs::Metadata) -> Option<i128> {
    let t = meta.modified().ok()?;
    Some(match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    })
}

/// The fingerprint the kit at `root` had when `cache` last indexed it, read from that index
/// alone (no file is looked at): what [`fingerprint_with`] returns when nothing changed since.
/// A run starts what this fingerprint keys while the kit is checked, and keeps it only if the
/// check agrees.
pub fn indexed_fingerprint(root: &Path, cache: &Cache) -> Option<String> {
    let abs = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let index_key = abs.to_string_lossy().into_owned();
    let mut index = cache.read::<Vec<Indexed>>("kit-index", &[&index_key])?;
    index.sort_by(|a, b| a.rel.as_bytes().cmp(b.rel.as_bytes()));
    let mut outer = Sha256::new();
    for e in &index {
        outer.update(e.rel.as_bytes());
        outer.update([0u8]);
        outer.update(e.digest?);
    }
    Some(format!("sha256:{}", hex::encode(outer.finalize())))
}

/// [`fingerprint`], hashing only the files whose size or modification time changed since the
/// index kept in `cache` (the same fingerprint, without reading 53 MB when nothing changed).
pub fn fingerprint_with(root: &Path, cache: &Cache) -> Result<String, KitError> {
    let abs = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let index_key = abs.to_string_lossy().into_owned();
    let old: std::collections::HashMap<String, Indexed> = cache
        .read::<Vec<Indexed>>("kit-index", &[&index_key])
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.rel.clone(), e))
        .collect();
    // Each file's size and time, read in the walk (one lstat a file: a kit has thousands),
    // then its hash from the index when they are unchanged, else from its content, the
    // changed files hashed on all cores.
    // (relative path, path, size, modification time).
    type Walked = (String, PathBuf, u64, Option<i128>);
    let mut files: Vec<Walked> = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = entry.map_err(|e| KitError(format!("lecture du kit impossible : {e}")))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .map_err(|e| KitError(e.to_string()))?;
        // '/' separators whatever the platform, so the fingerprint is the same everywhere.
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let meta = entry.metadata().ok();
        let size = meta.as_ref().map_or(u64::MAX, |m| m.len());
        let mtime = meta.as_ref().and_then(mtime_ns);
        files.push((rel, entry.into_path(), size, mtime));
    }
    files.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let known = |(rel, _, size, mtime): &Walked| -> Option<[u8; 32]> {
        let e = old.get(rel)?;
        (e.size == *size && Some(e.mtime_ns) == *mtime).then_some(e.digest?)
    };
    let digest = |f: &Walked| match known(f) {
        Some(d) => Ok((d, false)),
        None => hash_file(&f.0, &f.1).map(|d| (d, true)),
    };
    // On all cores only when something must be hashed: starting the thread pool costs more
    // than a warm check.
    let digests: Vec<Result<([u8; 32], bool), KitError>> =
        if files.iter().all(|f| known(f).is_some()) {
            files.iter().map(digest).collect()
        } else {
            files.par_iter().map(digest).collect()
        };
    let mut outer = Sha256::new();
    let mut index = Vec::with_capacity(files.len());
    let mut changed = old.len() != files.len();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    for ((rel, _, size, mtime), d) in files.into_iter().zip(digests) {
        let (d, hashed) = d?;
        outer.update(rel.as_bytes());
        outer.update([0u8]);
        outer.update(d);
        changed |= hashed;
        if let Some(mtime) = mtime {
            index.push(Indexed {
                digest: (now - mtime > RACY_NS).then_some(d),
                rel,
                size,
                mtime_ns: mtime,
            });
        }
    }
    if changed {
        cache.write("kit-index", &[&index_key], &index);
    }
    Ok(format!("sha256:{}", hex::encode(outer.finalize())))
}

/// The sha256 of one kit file, streamed: a file of any size costs one buffer.
fn hash_file(rel: &str, path: &Path) -> Result<[u8; 32], KitError> {
    use std::io::Read;
    let fail = |e: String| KitError(format!("lecture de {rel} impossible : {e}"));
    let mut f = crate::files::open(path).map_err(|e| fail(e.reason.to_string()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    Ok(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_changes_with_content_and_names_only() {
        let dir = std::env::temp_dir().join(format!("banc-kit-fp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/b/x.xml"), "<x/>").unwrap();
        std::fs::write(dir.join("y.txt"), "y").unwrap();
        let f1 = fingerprint(&dir).unwrap();
        assert_eq!(f1, fingerprint(&dir).unwrap(), "stable across runs");
        assert!(f1.starts_with("sha256:") && f1.len() == 7 + 64);
        std::fs::create_dir_all(dir.join(".git")).unwrap();
        std::fs::write(dir.join(".git/HEAD"), "ref").unwrap();
        assert_eq!(f1, fingerprint(&dir).unwrap(), "hidden folders ignored");
        std::fs::write(dir.join("y.txt"), "z").unwrap();
        let f2 = fingerprint(&dir).unwrap();
        assert_ne!(f1, f2, "content change");
        std::fs::rename(dir.join("y.txt"), dir.join("w.txt")).unwrap();
        assert_ne!(f2, fingerprint(&dir).unwrap(), "rename");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
