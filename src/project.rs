//! The project file `banc.toml`: what a CI job would otherwise repeat on every command line
//! (kit, profiles per document glob, severity overrides, `fail_on`, report files, waivers,
//! value sets). Found in the current folder or a parent (or given by `--config`); every
//! command-line option overrides it. Paths in it are relative to its folder. An unknown key is an
//! error naming `file:line`, so a typo never silently weakens a gate.
//!
//! ```toml
//! fail_on = "error"
//! [kit]
//! path = "../ans-kit"
//! [outputs]
//! sarif = "reports/banc.sarif"
//! [[profile]]
//! documents = "legacy/**"
//! id = "cr-bio-2023.01"
//! [[severity]]
//! rule = "banc.author.id-format"
//! severity = "info"
//! reason = "numéros fictifs des documents de test"
//! [[waiver]]
//! rule = "terminology.unit.not-recommended"
//! reason = "unités du SGL en cours de migration (ticket 42)"
//! expires = 2027-03-31
//! documents = "lab-b/**"
//! ```

use crate::finding::{Layer, Rule, Severity};
use crate::profile::Profile;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The project file's name, searched in the current folder and its parents.
pub const FILE_NAME: &str = "banc.toml";

/// A waiver whose expiry date has passed: it no longer covers anything.
pub const WAIVER_EXPIRED: &Rule = &crate::rule! {
    id: "project.waiver.expired",
    layer: Layer::Project,
    severity: Severity::Warning,
    message: "Dérogation expirée : elle ne couvre plus les constats qu'elle visait.",
    hint: "Fix the findings it covered, or renew the waiver with a new `expires` date and reason in banc.toml.",
    spec: "banc (banc.toml, [[waiver]])",
};

/// The rules owned by this module (`project.*`).
pub static RULES: &[&Rule] = &[WAIVER_EXPIRED];

/// `banc.toml` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Lowest severity that fails a document (`--fail-on`).
    pub fail_on: Option<Severity>,
    pub kit: Option<KitConfig>,
    /// Value sets (`--terminology`, `--circuit-bio`).
    pub terminology: Option<TerminologyConfig>,
    /// Report files written by every judging command (`--junit`, `--html`, `--json`, `--sarif`).
    pub outputs: Option<Outputs>,
    /// The document model of the documents a glob matches (`--profile` for them).
    #[serde(default)]
    pub profile: Vec<Spanned<ProfileRule>>,
    /// Severity of a rule's findings changed, with the reason.
    #[serde(default)]
    pub severity: Vec<Spanned<SeverityOverride>>,
    #[serde(default)]
    pub waiver: Vec<Spanned<WaiverConfig>>,
}

/// `[kit]`: the rules the project is judged with.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KitConfig {
    /// A kit folder (`--kit`), relative to the project file.
    pub path: Option<PathBuf>,
    /// A kit version `banc kit fetch` installs (a TestContenuCDA tag or commit). Read here,
    /// used by the kit commands: with `sha256` it pins the rules a CI job runs.
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// The sha256 of the kit archive `ref` must download; any other archive is refused.
    pub sha256: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminologyConfig {
    /// Value-set files or folders (IHE SVS `.xml`, FHIR `.json`).
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// The "circuit de la biologie" file (`.xlsx` or `.csv`).
    pub circuit_bio: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outputs {
    pub junit: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub sarif: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileRule {
    /// Glob of the documents (relative to the project file, or as given on the command line).
    pub documents: String,
    /// Profile id (`banc profiles`).
    pub id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityOverride {
    pub rule: String,
    pub severity: Severity,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaiverConfig {
    /// A rule id: every finding of it (in `documents`).
    pub rule: Option<String>,
    /// One finding, by its fingerprint (JSON `fingerprint`).
    pub fingerprint: Option<String>,
    pub reason: String,
    /// Last day the waiver holds (a TOML date: `expires = 2027-03-31`).
    pub expires: Option<toml::value::Datetime>,
    /// Glob of the documents it covers (all when absent).
    pub documents: Option<String>,
}

/// A waiver ready to match findings.
#[derive(Debug, Clone)]
pub struct Waiver {
    pub rule: Option<String>,
    pub fingerprint: Option<String>,
    pub reason: String,
    /// `AAAA-MM-JJ`.
    pub expires: Option<String>,
    pub documents: Option<Glob>,
    /// Line of its `[[waiver]]` in the project file.
    pub line: u32,
}

impl Waiver {
    /// Expired on `today` (`AAAA-MM-JJ`): the waiver holds through its `expires` day.
    pub fn expired(&self, today: &str) -> bool {
        self.expires.as_deref().is_some_and(|e| e < today)
    }

    /// Whether it covers a finding of `rule` with `fingerprint` in document `path`.
    pub fn covers(&self, rule: &str, fingerprint: Option<&str>, path: &str) -> bool {
        self.rule.as_deref().is_none_or(|r| r == rule)
            && self
                .fingerprint
                .as_deref()
                .is_none_or(|f| Some(f) == fingerprint)
            && self.documents.as_ref().is_none_or(|g| g.matches(path))
    }
}

/// A severity override ready to apply.
#[derive(Debug, Clone)]
pub struct Override {
    pub rule: String,
    pub severity: Severity,
    pub reason: String,
}

/// A document glob of the project file. A document matches by its path as given on the command
/// line or relative to the project file's folder; a document inside a package or a message
/// (`a.zip!DOC0001.XML`) by its container's path.
#[derive(Debug, Clone)]
pub struct Glob {
    pub pattern: String,
    matcher: globset::GlobMatcher,
    base: PathBuf,
}

impl Glob {
    pub fn new(pattern: &str, base: &Path) -> Result<Glob, String> {
        let glob = globset::Glob::new(pattern).map_err(|e| e.kind().to_string())?;
        Ok(Glob {
            pattern: pattern.to_string(),
            matcher: glob.compile_matcher(),
            base: base.to_path_buf(),
        })
    }

    pub fn matches(&self, document: &str) -> bool {
        let outer = document.split_once('!').map_or(document, |(o, _)| o);
        let given = outer.strip_prefix("./").unwrap_or(outer);
        if self.matcher.is_match(given) {
            return true;
        }
        let absolute = match std::env::current_dir() {
            Ok(cwd) => cwd.join(given),
            Err(_) => return false,
        };
        absolute
            .strip_prefix(&self.base)
            .is_ok_and(|rel| self.matcher.is_match(rel))
    }
}

/// A loaded project file.
#[derive(Debug)]
pub struct Project {
    /// The file, as found or given.
    pub path: PathBuf,
    /// Its folder: the base of its relative paths and globs.
    pub dir: PathBuf,
    pub config: Config,
    pub profiles: Vec<(Glob, Profile)>,
    pub overrides: Vec<Override>,
    pub waivers: Vec<Waiver>,
}

impl Project {
    /// The nearest `banc.toml` from `start` up to the root.
    pub fn find(start: &Path) -> Option<PathBuf> {
        start
            .ancestors()
            .map(|d| d.join(FILE_NAME))
            .find(|f| f.is_file())
    }

    /// Read and check a project file. Errors read `FILE:LINE: what`.
    pub fn load(path: &Path) -> Result<Project, String> {
        let text =
            crate::files::read_text(path, crate::files::MAX_SMALL).map_err(|e| e.to_string())?;
        let shown = path.display().to_string();
        let at = |span: Option<std::ops::Range<usize>>| {
            span.map(|s| format!("{shown}:{}", line_of(&text, s.start)))
                .unwrap_or_else(|| shown.clone())
        };
        let config: Config =
            toml::from_str(&text).map_err(|e| format!("{}: {}", at(e.span()), e.message()))?;
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let dir = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
        let glob = |pattern: &str, span: &std::ops::Range<usize>| {
            Glob::new(pattern, &dir).map_err(|e| {
                format!(
                    "{}: motif « {pattern} » invalide : {e}",
                    at(Some(span.clone()))
                )
            })
        };
        let mut profiles = Vec::new();
        for p in &config.profile {
            let profile = crate::profile::by_id(&p.get_ref().id).ok_or_else(|| {
                let ids: Vec<_> = crate::profile::all().iter().map(|p| p.id).collect();
                format!(
                    "{}: profil inconnu « {} » (profils : {})",
                    at(Some(p.span())),
                    p.get_ref().id,
                    ids.join(", ")
                )
            })?;
            profiles.push((glob(&p.get_ref().documents, &p.span())?, profile));
        }
        let overrides = config
            .severity
            .iter()
            .map(|o| {
                let o = o.get_ref();
                Override {
                    rule: o.rule.clone(),
                    severity: o.severity,
                    reason: o.reason.clone(),
                }
            })
            .collect();
        let mut waivers = Vec::new();
        for w in &config.waiver {
            let span = w.span();
            let c = w.get_ref();
            if c.rule.is_none() && c.fingerprint.is_none() {
                return Err(format!(
                    "{}: une dérogation nomme une règle (rule) ou un constat (fingerprint)",
                    at(Some(span))
                ));
            }
            if c.reason.trim().is_empty() {
                return Err(format!(
                    "{}: une dérogation donne sa raison (reason)",
                    at(Some(span))
                ));
            }
            let expires = match &c.expires {
                None => None,
                Some(d) => match (d.date, d.time) {
                    (Some(date), None) => Some(date.to_string()),
                    _ => {
                        return Err(format!(
                            "{}: expires = {d} : attendu une date seule (expires = 2027-03-31)",
                            at(Some(span))
                        ));
                    }
                },
            };
            waivers.push(Waiver {
                rule: c.rule.clone(),
                fingerprint: c.fingerprint.clone(),
                reason: c.reason.clone(),
                expires,
                documents: match &c.documents {
                    Some(g) => Some(glob(g, &span)?),
                    None => None,
                },
                line: line_of(&text, span.start),
            });
        }
        Ok(Project {
            path: path.to_path_buf(),
            dir,
            config,
            profiles,
            overrides,
            waivers,
        })
    }

    /// A path of the project file, relative to its folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        self.dir.join(p)
    }

    /// The kit folder of `[kit] path`.
    pub fn kit_path(&self) -> Option<PathBuf> {
        let p = self.config.kit.as_ref()?.path.as_ref()?;
        Some(self.resolve(p))
    }
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> u32 {
    let head = text.as_bytes().get(..offset).unwrap_or(text.as_bytes());
    head.iter().filter(|b| **b == b'\n').count() as u32 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Project, String> {
        let dir = std::env::temp_dir().join(format!("banc-project-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join(format!("{}.toml", text.len()));
        std::fs::write(&f, text).unwrap();
        Project::load(&f)
    }

    #[test]
    fn an_unknown_key_names_its_line() {
        let e =
            load("fail_on = \"error\"\n\n[kit]\npath = \"k\"\nbranch = \"main\"\n").unwrap_err();
        assert!(e.contains(".toml:5: unknown field `branch`"), "{e}");
        let e =
            load("[[waiver]]\nrule = \"x.y\"\nreason = \"r\"\nexpire = 2027-01-01\n").unwrap_err();
        assert!(e.contains(".toml:4:"), "{e}");
    }

    #[test]
    fn waivers_need_a_target_a_reason_and_a_plain_date() {
        let e = load("[[waiver]]\nreason = \"r\"\n").unwrap_err();
        assert!(e.contains(":1: une dérogation nomme"), "{e}");
        let e = load("x = 1\n[[waiver]]\nrule = \"a\"\nreason = \" \"\n").unwrap_err();
        assert!(e.contains("unknown field `x`"), "{e}");
        let e = load("[[waiver]]\nrule = \"a\"\nreason = \"r\"\nexpires = 2027-01-01T10:00:00\n")
            .unwrap_err();
        assert!(e.contains("date seule"), "{e}");
        let p = load(
            "[kit]\nref = \"v1\"\nsha256 = \"ab\"\n\n[[waiver]]\nrule = \"a.b\"\nreason = \"r\"\nexpires = 2027-01-31\ndocuments = \"lab/**\"\n",
        )
        .unwrap();
        let w = &p.waivers[0];
        assert_eq!((w.line, w.expires.as_deref()), (5, Some("2027-01-31")));
        assert!(!w.expired("2027-01-31") && w.expired("2027-02-01"));
        assert!(w.covers("a.b", None, "lab/x/doc.xml") && !w.covers("a.b", None, "other/doc.xml"));
        assert_eq!(p.config.kit.unwrap().reference.as_deref(), Some("v1"));
    }
}
