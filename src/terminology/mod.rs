//! Terminology (layer `terminology`, ids `terminology.*`): the value sets and code systems banc
//! knows, loaded once per run and shared by every document, and the checks of the coded elements
//! of a CR-BIO against them (`checks`).
//!
//! Sources, by precedence (a later one replaces an earlier value set with the same id):
//! banc's built-in value sets (`builtin/`), the kit's `jeuxDeValeurs/` (IHE SVS), then the files
//! given with `--terminology` (SVS `.xml`, FHIR R4 `ValueSet` / `CodeSystem` / `Bundle` `.json`).
//! The "circuit de la biologie" value set (`--circuit-bio`, `.csv` or `.xlsx`) is kept apart: its
//! rows carry the role, chapter, recommended unit and comparability that the checks need.

pub mod checks;
pub mod circuit;
pub mod fhir;
pub mod info;
pub mod loinc;
pub mod svs;

pub use crate::finding::report::{CircuitStamp, LoadIssue, TerminologyStamp as Stamp};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use circuit::{Circuit, CircuitEntry, Kind};

pub const LOINC: &str = "2.16.840.1.113883.6.1";
pub const SNOMED_CT: &str = "2.16.840.1.113883.6.96";
/// Codes "en attente" of a LOINC code, assigned by ANS.
pub const EN_ATTENTE: &str = "1.2.250.1.213.1.1.5.130";

/// FHIR canonical system URIs banc maps to the OIDs CDA documents use.
pub fn system_oid(uri: &str) -> String {
    match uri {
        "http://loinc.org" => LOINC.into(),
        "http://snomed.info/sct" => SNOMED_CT.into(),
        "http://unitsofmeasure.org" => "2.16.840.1.113883.6.8".into(),
        "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation" => {
            "2.16.840.1.113883.5.83".into()
        }
        "http://terminology.hl7.org/CodeSystem/v3-Confidentiality" => {
            "2.16.840.1.113883.5.25".into()
        }
        u => u.strip_prefix("urn:oid:").unwrap_or(u).to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Compiled into banc.
    Builtin,
    /// IHE SVS `RetrieveValueSetResponse`.
    Svs,
    FhirValueSet,
    FhirCodeSystem,
}

impl Format {
    pub fn label(self) -> &'static str {
        match self {
            Format::Builtin => "banc (intégré)",
            Format::Svs => "IHE SVS",
            Format::FhirValueSet => "FHIR ValueSet",
            Format::FhirCodeSystem => "FHIR CodeSystem",
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Concept {
    pub code: String,
    /// OID of the code system (FHIR URIs are mapped to OIDs).
    pub system: String,
    pub display: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ValueSet {
    /// OID (SVS `@id`, FHIR `identifier` urn:oid or `url`).
    pub id: String,
    pub name: String,
    pub version: Option<String>,
    pub format: Format,
    pub source: String,
    pub concepts: Vec<Concept>,
    /// Other names it is found by: FHIR url, file stem.
    #[serde(skip)]
    pub aliases: Vec<String>,
    /// system → code → position: looked up with borrowed strings, no allocation.
    #[serde(skip)]
    index: HashMap<String, HashMap<String, u32>>,
}

impl ValueSet {
    pub fn new(
        id: String,
        name: String,
        version: Option<String>,
        format: Format,
        source: String,
        concepts: Vec<Concept>,
    ) -> ValueSet {
        let mut index: HashMap<String, HashMap<String, u32>> = HashMap::new();
        for (i, c) in concepts.iter().enumerate() {
            index
                .entry(c.system.clone())
                .or_default()
                .entry(c.code.clone())
                .or_insert(i as u32);
        }
        ValueSet {
            id,
            name,
            version,
            format,
            source,
            concepts,
            aliases: Vec::new(),
            index,
        }
    }

    /// O(1) membership of (code system, code).
    pub fn get(&self, system: &str, code: &str) -> Option<&Concept> {
        self.index
            .get(system)
            .and_then(|m| m.get(code))
            .map(|&i| &self.concepts[i as usize])
    }

    /// Membership by code alone (for a binding whose element has no codeSystem).
    pub fn get_code(&self, code: &str) -> Option<&Concept> {
        self.concepts.iter().find(|c| c.code == code)
    }
}

/// Every terminology of a run.
#[derive(Debug, Default)]
pub struct Store {
    sets: Vec<ValueSet>,
    by_id: HashMap<String, usize>,
    /// (system, code) → value sets holding it, for `lookup`.
    by_code: HashMap<String, HashMap<String, Vec<usize>>>,
    pub circuit: Option<Circuit>,
    pub issues: Vec<LoadIssue>,
    /// Value sets replaced by a later source with the same id: (id, replaced source, by source).
    pub replaced: Vec<(String, String, String)>,
}

/// What to load.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The kit folder: its `jeuxDeValeurs/` is read.
    pub kit: Option<PathBuf>,
    /// Files or folders given with `--terminology`.
    pub extra: Vec<PathBuf>,
    /// The circuit-bio file (`--circuit-bio`).
    pub circuit_bio: Option<PathBuf>,
}

impl Store {
    /// banc's built-in value sets alone.
    pub fn builtin() -> Store {
        let mut s = Store::default();
        for (name, text) in BUILTIN {
            match svs::parse(text.as_bytes(), &format!("banc:{name}")) {
                Ok(mut sets) => {
                    for v in &mut sets {
                        v.format = Format::Builtin;
                    }
                    for v in sets {
                        s.insert(v);
                    }
                }
                Err(e) => s.issues.push(LoadIssue {
                    source: name.to_string(),
                    message: e,
                }),
            }
        }
        s
    }

    /// Load every source; unreadable files become `issues`, never a failure of the run, except a
    /// circuit-bio file that cannot be read (the user asked for it by name).
    pub fn load(sources: &Sources) -> Result<Store, String> {
        Store::load_cached(sources, &crate::cache::Cache::none(), None)
    }

    /// [`Store::load`]; the built-in and kit value sets read from `cache` when it holds them for
    /// the kit of this `fingerprint` (and this banc), else parsed and kept there. Only a run
    /// without `--terminology` files uses the cache: their changes are not in the fingerprint.
    pub fn load_cached(
        sources: &Sources,
        cache: &crate::cache::Cache,
        fingerprint: Option<&str>,
    ) -> Result<Store, String> {
        Store::from_cache(sources, cache, fingerprint, true)
            .unwrap_or_else(|| Store::finish(sources, Store::load_files(sources)))
    }

    /// [`Store::load_cached`] when `cache` holds the value sets of the kit of this
    /// `fingerprint`; `None` otherwise, and nothing is parsed or written.
    pub fn read_cached(
        sources: &Sources,
        cache: &crate::cache::Cache,
        fingerprint: &str,
    ) -> Option<Result<Store, String>> {
        Store::from_cache(sources, cache, Some(fingerprint), false)
    }

    /// The store from `cache`; on a miss, built and kept there when `build`, else `None`.
    fn from_cache(
        sources: &Sources,
        cache: &crate::cache::Cache,
        fingerprint: Option<&str>,
        build: bool,
    ) -> Option<Result<Store, String>> {
        let fp = fingerprint.filter(|_| sources.extra.is_empty() && sources.kit.is_some())?;
        // The kit's place is part of the key: what is loaded names its files by path.
        let root = sources
            .kit
            .as_ref()
            .map(|k| {
                std::path::absolute(k)
                    .unwrap_or(k.clone())
                    .display()
                    .to_string()
            })
            .unwrap_or_default();
        let store = match cache.read::<Saved>("terminology", &[fp, &root]) {
            Some(saved) => saved.into_store(),
            None if build => {
                let store = Store::load_files(sources);
                cache.write("terminology", &[fp, &root], &Saved::of(&store));
                store
            }
            None => return None,
        };
        Some(Store::finish(sources, store))
    }

    /// The circuit de la biologie file added to a loaded store.
    fn finish(sources: &Sources, mut store: Store) -> Result<Store, String> {
        if let Some(path) = &sources.circuit_bio {
            store.circuit = Some(circuit::read(path)?);
        }
        Ok(store)
    }

    /// The built-in value sets, the kit's and the `--terminology` files.
    fn load_files(sources: &Sources) -> Store {
        let mut store = Store::builtin();
        // The kit's folder first: the user's files replace its value sets, not the reverse.
        let kit = sources
            .kit
            .as_ref()
            .map(|k| k.join("jeuxDeValeurs"))
            .filter(|d| d.is_dir());
        let paths: Vec<PathBuf> = kit
            .into_iter()
            .chain(sources.extra.iter().cloned())
            .collect();
        store.load_paths(&paths);
        store
    }

    /// Read files and folders (recursed for `.xml` and `.json`) in parallel, then insert in a
    /// deterministic order (sorted paths), so that precedence does not depend on thread timing.
    pub fn load_paths(&mut self, paths: &[PathBuf]) {
        let mut files = Vec::new();
        for p in paths {
            if p.is_dir() {
                files.append(&mut crate::files::under(p, &["xml", "json"]));
            } else {
                files.push(p.clone());
            }
        }
        let read: Vec<(PathBuf, Result<Vec<ValueSet>, String>)> = files
            .par_iter()
            .map(|p| (p.clone(), read_file(p)))
            .collect();
        for (path, r) in read {
            match r {
                Ok(sets) => {
                    let stem = path
                        .file_stem()
                        .map(|s| s.to_string_lossy().to_string())
                        .unwrap_or_default();
                    for mut v in sets {
                        if !v.aliases.contains(&stem) {
                            v.aliases.push(stem.clone());
                        }
                        self.insert(v);
                    }
                }
                Err(message) => self.issues.push(LoadIssue {
                    source: path.display().to_string(),
                    message,
                }),
            }
        }
        self.rebuild_code_index();
    }

    fn insert(&mut self, v: ValueSet) {
        let keys: Vec<String> = std::iter::once(v.id.clone())
            .chain(v.aliases.iter().cloned())
            .collect();
        if let Some(&old) = self.by_id.get(&v.id) {
            self.replaced.push((
                v.id.clone(),
                self.sets[old].source.clone(),
                v.source.clone(),
            ));
            for k in keys {
                self.by_id.insert(k, old);
            }
            self.sets[old] = v;
        } else {
            let i = self.sets.len();
            self.sets.push(v);
            for k in keys {
                self.by_id.entry(k).or_insert(i);
            }
        }
    }

    fn rebuild_code_index(&mut self) {
        self.by_code.clear();
        for (i, v) in self.sets.iter().enumerate() {
            for c in &v.concepts {
                let e = self
                    .by_code
                    .entry(c.system.clone())
                    .or_default()
                    .entry(c.code.clone())
                    .or_default();
                if !e.contains(&i) {
                    e.push(i);
                }
            }
        }
    }

    pub fn value_sets(&self) -> &[ValueSet] {
        &self.sets
    }

    /// A value set by OID, FHIR url or file name (without extension).
    pub fn value_set(&self, id: &str) -> Option<&ValueSet> {
        self.by_id.get(id).map(|&i| &self.sets[i])
    }

    /// Value sets holding (system, code): O(1).
    pub fn containing(&self, system: &str, code: &str) -> Vec<&ValueSet> {
        self.by_code
            .get(system)
            .and_then(|m| m.get(code))
            .map(|v| v.iter().map(|&i| &self.sets[i]).collect())
            .unwrap_or_default()
    }

    /// Every (system, concept, value set) with this code, whatever the system.
    pub fn lookup(&self, code: &str) -> Vec<(&Concept, &ValueSet)> {
        let mut out = Vec::new();
        for (system, codes) in &self.by_code {
            for &i in codes.get(code).into_iter().flatten() {
                let v = &self.sets[i];
                if let Some(concept) = v.get(system, code) {
                    out.push((concept, v));
                }
            }
        }
        out.sort_by(|a, b| (&a.1.name, &a.0.system).cmp(&(&b.1.name, &b.0.system)));
        out
    }

    pub fn concept_count(&self) -> usize {
        self.sets.iter().map(|v| v.concepts.len()).sum()
    }
}

/// A [`Store`] as the start-up cache keeps it: the value sets and how they are found; the
/// membership indexes are rebuilt on reading (cheaper than reading them).
#[derive(Serialize, serde::Deserialize)]
struct Saved {
    sets: Vec<SavedSet>,
    /// Sorted: the same store gives the same bytes.
    by_id: Vec<(String, usize)>,
    issues: Vec<LoadIssue>,
    replaced: Vec<(String, String, String)>,
}

#[derive(Serialize, serde::Deserialize)]
struct SavedSet {
    id: String,
    name: String,
    version: Option<String>,
    format: Format,
    source: String,
    concepts: Vec<Concept>,
    aliases: Vec<String>,
}

impl Saved {
    fn of(store: &Store) -> Saved {
        Saved {
            sets: store
                .sets
                .iter()
                .map(|v| SavedSet {
                    id: v.id.clone(),
                    name: v.name.clone(),
                    version: v.version.clone(),
                    format: v.format,
                    source: v.source.clone(),
                    concepts: v.concepts.clone(),
                    aliases: v.aliases.clone(),
                })
                .collect(),
            by_id: {
                let mut v: Vec<(String, usize)> =
                    store.by_id.iter().map(|(k, i)| (k.clone(), *i)).collect();
                v.sort();
                v
            },
            issues: store.issues.clone(),
            replaced: store.replaced.clone(),
        }
    }

    fn into_store(self) -> Store {
        let sets = self
            .sets
            .into_iter()
            .map(|v| {
                let mut set =
                    ValueSet::new(v.id, v.name, v.version, v.format, v.source, v.concepts);
                set.aliases = v.aliases;
                set
            })
            .collect();
        let mut store = Store {
            sets,
            by_id: self.by_id.into_iter().collect(),
            by_code: HashMap::new(),
            circuit: None,
            issues: self.issues,
            replaced: self.replaced,
        };
        store.rebuild_code_index();
        store
    }
}

impl Store {
    pub fn stamp(&self) -> Stamp {
        let mut issues = self.issues.clone();
        if let Some(c) = &self.circuit {
            issues.extend(c.issues.iter().map(|m| LoadIssue {
                source: c.source.clone(),
                message: m.clone(),
            }));
        }
        Stamp {
            value_sets: self.sets.len(),
            concepts: self.concept_count(),
            circuit_bio: self.circuit.as_ref().map(|c| CircuitStamp {
                source: c.source.clone(),
                version: c.version.clone(),
                codes: c.entries.len(),
            }),
            issues,
        }
    }
}

fn ext(p: &Path) -> String {
    p.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Bound on one terminology file: the largest NOS files are a few MB.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

fn read_file(path: &Path) -> Result<Vec<ValueSet>, String> {
    let bytes =
        crate::files::read_bounded(path, MAX_FILE_BYTES).map_err(|e| e.reason.to_string())?;
    let source = path.display().to_string();
    match ext(path).as_str() {
        "xml" => svs::parse(&bytes, &source),
        "json" => fhir::parse(&bytes, &source),
        other => Err(format!(
            "extension « .{other} » inconnue : attendu .xml (IHE SVS) ou .json (FHIR)"
        )),
    }
}

/// banc's own value sets for the bindings of its rules, so that they run with no kit. Facts of
/// HL7 v3 code systems; the kit's files with the same OID replace them.
const BUILTIN: &[(&str, &str)] = &[
    (
        "JDV_HL7_ObservationInterpretation",
        include_str!("builtin/observation-interpretation.xml"),
    ),
    (
        "JDV_HL7_Confidentiality",
        include_str!("builtin/confidentiality.xml"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_sets_load_and_answer_membership() {
        let s = Store::builtin();
        assert!(s.issues.is_empty(), "{:?}", s.issues);
        let interp = s.value_set("2.16.840.1.113883.1.11.78").unwrap();
        assert!(interp.get("2.16.840.1.113883.5.83", "HH").is_some());
        assert!(interp.get("2.16.840.1.113883.5.83", "HAUT").is_none());
        assert!(interp.get("2.16.840.1.113883.5.25", "H").is_none());
        let conf = s.value_set("2.16.840.1.113883.1.11.10228").unwrap();
        assert!(conf.get("2.16.840.1.113883.5.25", "N").is_some());
    }

    #[test]
    fn a_later_source_replaces_a_value_set_with_the_same_id() {
        let mut s = Store::builtin();
        let n = s.value_sets().len();
        let dir = std::env::temp_dir().join(format!("banc-term-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("conf.xml");
        std::fs::write(
            &f,
            r#"<RetrieveValueSetResponse xmlns="urn:ihe:iti:svs:2008"><ValueSet id="2.16.840.1.113883.1.11.10228" displayName="Conf"><ConceptList><Concept code="N" codeSystem="2.16.840.1.113883.5.25" displayName="Normal"/></ConceptList></ValueSet></RetrieveValueSetResponse>"#,
        )
        .unwrap();
        s.load_paths(std::slice::from_ref(&f));
        assert_eq!(s.value_sets().len(), n);
        assert_eq!(s.replaced.len(), 1);
        let conf = s.value_set("2.16.840.1.113883.1.11.10228").unwrap();
        assert_eq!(conf.concepts.len(), 1);
        assert_eq!(s.value_set("conf").unwrap().id, conf.id);
        assert_eq!(s.containing("2.16.840.1.113883.5.25", "N").len(), 1);
        std::fs::remove_dir_all(&dir).ok();
    }
}
