//! Paths named by a suite or a participants file stay in that file's folder.
//!
//! banc trusts the suites and participants files its operator gives it, but a suite may come
//! from elsewhere (downloaded, shared between events): a `document = ["../../../../etc/passwd"]`,
//! an absolute path or a link leading out must not make banc read, send or copy a host file.
//! Every path such a file names is therefore resolved against the folder of the file (the suite
//! folder for `suite.toml` and the scenarios; the participants file's folder for its `tls`
//! paths), links followed, and refused unless the result is still inside that folder. The
//! linter reports each refusal; the runner and the simulators resolve again when they read, so
//! nothing escapes even if the folder changed since the check.

use std::path::{Component, Path, PathBuf};

/// A folder the paths of a file are confined to, and the folder they are relative to (inside
/// it: the suite's fixtures folder, or the folder itself).
#[derive(Debug, Clone)]
pub struct Scope {
    /// The confining folder, canonical (links resolved).
    root: PathBuf,
    /// Where relative paths start, canonical, inside `root`.
    base: PathBuf,
    /// The folder as the user wrote it, for messages.
    shown: PathBuf,
}

/// Why a named path is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// An absolute path (`/etc/passwd`).
    Absolute { folder: PathBuf },
    /// A path that leaves the folder by its `..` components.
    Outside { folder: PathBuf },
    /// A path whose links lead out of the folder (`resolved`: where they lead).
    Link { folder: PathBuf, resolved: PathBuf },
    /// Nothing there, or unreadable (`why`, empty when simply absent).
    Missing { base: PathBuf, why: String },
    /// Not a regular file (a folder, a FIFO, a device...), where a file is expected.
    NotAFile { resolved: PathBuf },
    /// Not a folder, where a folder is expected.
    NotAFolder { resolved: PathBuf },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Absolute { folder } => write!(
                f,
                "refusé : chemin absolu ; seuls les fichiers du dossier {} peuvent être nommés, par un chemin relatif",
                folder.display()
            ),
            Refusal::Outside { folder } => write!(
                f,
                "refusé : le chemin sort du dossier {} (seuls ses fichiers peuvent être nommés)",
                folder.display()
            ),
            Refusal::Link { folder, resolved } => write!(
                f,
                "refusé : un lien mène hors du dossier {} (vers {})",
                folder.display(),
                resolved.display()
            ),
            Refusal::Missing { base, why } => {
                write!(f, "introuvable (relatif à {})", base.display())?;
                if !why.is_empty() {
                    write!(f, " : {why}")?;
                }
                Ok(())
            }
            Refusal::NotAFile { resolved } => write!(
                f,
                "refusé : {} n'est pas un fichier ordinaire",
                resolved.display()
            ),
            Refusal::NotAFolder { resolved } => {
                write!(f, "refusé : {} n'est pas un dossier", resolved.display())
            }
        }
    }
}

impl Refusal {
    /// The path leaves its folder (absolute, `..`, a link): a scope error, not a missing file.
    pub fn escapes(&self) -> bool {
        matches!(
            self,
            Refusal::Absolute { .. } | Refusal::Outside { .. } | Refusal::Link { .. }
        )
    }
}

impl Scope {
    /// The folder `dir` confines the paths named by its files; they are relative to it.
    pub fn new(dir: &Path) -> Result<Scope, String> {
        let root = dir
            .canonicalize()
            .map_err(|e| format!("{} : {e}", dir.display()))?;
        Ok(Scope {
            base: root.clone(),
            root,
            shown: dir.to_path_buf(),
        })
    }

    /// The confining folder, canonical.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where relative paths start (canonical).
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// The same confinement, relative paths now starting at the folder `rel` (e.g. a suite's
    /// `fixtures`), which must itself be inside.
    pub fn rebased(&self, rel: &str) -> Result<Scope, Refusal> {
        let base = self.resolve(rel)?;
        if !base.is_dir() {
            return Err(Refusal::NotAFolder { resolved: base });
        }
        Ok(Scope {
            root: self.root.clone(),
            base,
            shown: self.shown.clone(),
        })
    }

    /// The regular file `rel` names, canonical, if it is inside the folder.
    pub fn file(&self, rel: &str) -> Result<PathBuf, Refusal> {
        let p = self.resolve(rel)?;
        match std::fs::metadata(&p) {
            Ok(m) if m.is_file() => Ok(p),
            Ok(_) => Err(Refusal::NotAFile { resolved: p }),
            Err(e) => Err(self.missing(e)),
        }
    }

    /// Whether `path` (as found on disk, e.g. while walking the folder) is inside, links
    /// followed: the canonical path when it is.
    pub fn contains(&self, path: &Path) -> Result<PathBuf, Refusal> {
        let c = path.canonicalize().map_err(|e| self.missing(e))?;
        if c.starts_with(&self.root) {
            Ok(c)
        } else {
            Err(Refusal::Link {
                folder: self.shown.clone(),
                resolved: c,
            })
        }
    }

    fn missing(&self, e: std::io::Error) -> Refusal {
        Refusal::Missing {
            base: self.base.clone(),
            why: if e.kind() == std::io::ErrorKind::NotFound {
                String::new()
            } else {
                e.to_string()
            },
        }
    }

    /// `rel` resolved from the base: refused when absolute, when its `..` leave the folder, or
    /// when, links followed, it ends outside.
    fn resolve(&self, rel: &str) -> Result<PathBuf, Refusal> {
        let path = Path::new(rel);
        // Lexically first: an absolute path or a `..` too many is refused even when nothing is
        // there, and without looking at the disk.
        let mut depth = self
            .base
            .strip_prefix(&self.root)
            .map(|p| p.components().count())
            .unwrap_or(0);
        for c in path.components() {
            match c {
                Component::Prefix(_) | Component::RootDir => {
                    return Err(Refusal::Absolute {
                        folder: self.shown.clone(),
                    });
                }
                Component::CurDir => {}
                Component::ParentDir => {
                    depth = depth.checked_sub(1).ok_or_else(|| Refusal::Outside {
                        folder: self.shown.clone(),
                    })?;
                }
                Component::Normal(_) => depth += 1,
            }
        }
        // Then as the system resolves it (a link, then `..` from where it led).
        let c = self
            .base
            .join(path)
            .canonicalize()
            .map_err(|e| self.missing(e))?;
        if c.starts_with(&self.root) {
            Ok(c)
        } else {
            Err(Refusal::Link {
                folder: self.shown.clone(),
                resolved: c,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("banc-scope-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("suite/docs")).unwrap();
        std::fs::write(d.join("suite/docs/a.xml"), "<a/>").unwrap();
        std::fs::write(d.join("secret.txt"), "secret").unwrap();
        d
    }

    #[test]
    fn paths_inside_resolve_and_paths_outside_are_refused() {
        let d = tmp("paths");
        let s = Scope::new(&d.join("suite")).unwrap();
        assert!(s.file("docs/a.xml").unwrap().ends_with("suite/docs/a.xml"));
        assert!(s.file("./docs/../docs/a.xml").is_ok());
        assert!(matches!(
            s.file("../secret.txt"),
            Err(Refusal::Outside { .. })
        ));
        // A `..` too many is refused even when the target does not exist.
        assert!(matches!(
            s.file("docs/../../../../etc/nothing-here"),
            Err(Refusal::Outside { .. })
        ));
        let abs = d.join("secret.txt");
        assert!(matches!(
            s.file(abs.to_str().unwrap()),
            Err(Refusal::Absolute { .. })
        ));
        assert!(matches!(
            s.file("docs/absent.xml"),
            Err(Refusal::Missing { .. })
        ));
        assert!(matches!(s.file("docs"), Err(Refusal::NotAFile { .. })));
        for r in [s.file("../secret.txt"), s.file("/etc/passwd")] {
            assert!(r.unwrap_err().escapes());
        }
        assert!(!s.file("docs/absent.xml").unwrap_err().escapes());
    }

    #[test]
    fn links_count_where_they_lead() {
        let d = tmp("links");
        let suite = d.join("suite");
        std::os::unix::fs::symlink(d.join("secret.txt"), suite.join("docs/lien.xml")).unwrap();
        std::os::unix::fs::symlink(&d, suite.join("dehors")).unwrap();
        std::os::unix::fs::symlink("a.xml", suite.join("docs/interne.xml")).unwrap();
        let s = Scope::new(&suite).unwrap();
        let e = s.file("docs/lien.xml").unwrap_err();
        assert!(matches!(&e, Refusal::Link { resolved, .. } if resolved.ends_with("secret.txt")));
        assert!(
            e.to_string().contains("un lien mène hors du dossier"),
            "{e}"
        );
        assert!(matches!(
            s.file("dehors/secret.txt"),
            Err(Refusal::Link { .. })
        ));
        // `dehors/suite/docs/a.xml` comes back inside: the file is the suite's own.
        assert!(s.file("dehors/suite/docs/a.xml").is_ok());
        assert!(s.file("docs/interne.xml").is_ok());
        // A rebased scope (the fixtures folder) is still confined to the suite.
        let f = s.rebased("docs").unwrap();
        assert!(f.file("a.xml").is_ok());
        assert!(f.file("../docs/a.xml").is_ok());
        assert!(matches!(
            f.file("../../secret.txt"),
            Err(Refusal::Outside { .. })
        ));
        assert!(matches!(s.rebased("dehors"), Err(Refusal::Link { .. })));
        assert!(matches!(s.rebased(".."), Err(Refusal::Outside { .. })));
    }
}
