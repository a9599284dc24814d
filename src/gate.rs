//! The CI gate over a judged run: fingerprints, the project file's severity overrides and
//! waivers, a baseline (new / known findings) and the verdicts that follow.
//!
//! A finding's fingerprint is a hash of its rule id, its document's identity
//! (`ClinicalDocument/id` when the document has one, else its path relative to the current
//! folder), its positional XPath (never its line or column: reformatting a document keeps it) and
//! an occurrence counter for identical ones. Several documents may share an id (copies of one
//! template), so findings are matched to a baseline or an older run by fingerprint *and* path
//! first, then by fingerprint alone (a moved document), then by path, rule and XPath (a
//! document regenerated with a new id): each older finding matches at most one.

use crate::finding::report::{DocumentReport, GateStamp, KitStamp, RunReport};
use crate::finding::{BaselineState, Finding, Location, Severity, Verdict, Waived};
use crate::project::{self, Project};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;

/// Version of the baseline file (`--write-baseline`).
pub const BASELINE_SCHEMA: &str = "banc.baseline/1";

/// A document's path as fingerprints and SARIF see it: relative to `cwd` when under it, `/`
/// separators, no leading `./`; a document inside a container keeps its `!inner` part.
pub fn relative(path: &str, cwd: &Path) -> String {
    let (outer, inner) = match path.split_once('!') {
        Some((o, i)) => (o, Some(i)),
        None => (path, None),
    };
    let p = Path::new(outer);
    let rel = if p.is_absolute() {
        p.strip_prefix(cwd).unwrap_or(p)
    } else {
        p
    };
    let mut out: Vec<String> = Vec::new();
    for c in rel.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::RootDir => out.push(String::new()),
            c => out.push(c.as_os_str().to_string_lossy().into_owned()),
        }
    }
    let mut s = out.join("/");
    if s.is_empty() && rel.has_root() {
        s = "/".into();
    }
    match inner {
        Some(i) => format!("{s}!{i}"),
        None => s,
    }
}

/// A document's identity: its `ClinicalDocument/id`, else its relative path.
pub fn identity(doc: &DocumentReport, cwd: &Path) -> String {
    match &doc.document_id {
        Some(id) => format!("id:{id}"),
        None => format!("path:{}", relative(&doc.path, cwd)),
    }
}

/// The fingerprint of the `occurrence`-th (from 0) finding of `rule` at `xpath` in the document
/// of `identity`: 32 hex digits.
pub fn fingerprint(rule: &str, identity: &str, xpath: Option<&str>, occurrence: usize) -> String {
    let mut h = Sha256::new();
    for part in [
        "banc-finding/1",
        rule,
        identity,
        xpath.unwrap_or(""),
        &occurrence.to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// Set the fingerprint of every finding of `doc`.
pub fn fingerprint_document(doc: &mut DocumentReport, cwd: &Path) {
    let identity = identity(doc, cwd);
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for f in &mut doc.findings {
        let xpath = f.location.xpath.clone().unwrap_or_default();
        let n = seen.entry((f.rule.clone(), xpath)).or_default();
        f.fingerprint = Some(fingerprint(
            &f.rule,
            &identity,
            f.location.xpath.as_deref(),
            *n,
        ));
        *n += 1;
    }
}

/// A finding as a baseline file or an earlier run's JSON records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Document path, relative (see [`relative`]).
    pub path: String,
    pub fingerprint: String,
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xpath: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waived: Option<Waived>,
}

impl Entry {
    fn of(f: &Finding, path: &str) -> Entry {
        Entry {
            path: path.to_string(),
            fingerprint: f.fingerprint.clone().unwrap_or_default(),
            rule: f.rule.clone(),
            severity: f.severity,
            message: f.message.clone(),
            xpath: f.location.xpath.clone(),
            line: f.location.line,
            waived: f.waived.clone(),
        }
    }

    /// What [`matching`] compares.
    pub fn key(&self) -> Key<'_> {
        Key {
            path: &self.path,
            fingerprint: &self.fingerprint,
            rule: &self.rule,
            xpath: self.xpath.as_deref().unwrap_or(""),
        }
    }
}

/// `--write-baseline`: every finding of the run (waived ones too: lifting a waiver must not make
/// them new).
#[derive(Debug, Serialize, Deserialize)]
pub struct BaselineFile {
    pub schema: String,
    pub banc: String,
    pub findings: Vec<Entry>,
}

/// The baseline of a run, as JSON.
pub fn baseline_json(run: &RunReport, cwd: &Path) -> String {
    let file = BaselineFile {
        schema: BASELINE_SCHEMA.into(),
        banc: env!("CARGO_PKG_VERSION").into(),
        findings: entries(run, cwd),
    };
    serde_json::to_string_pretty(&file).unwrap_or_default() + "\n"
}

/// The findings of a run as entries (fingerprints set by [`Gate::apply`]).
pub fn entries(run: &RunReport, cwd: &Path) -> Vec<Entry> {
    run.documents
        .iter()
        .flat_map(|d| {
            let path = relative(&d.path, cwd);
            d.findings
                .iter()
                .map(move |f| Entry::of(f, &path))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Findings recorded in `file`: a baseline (`banc.baseline/1`) or a run's JSON
/// (`banc.validate/1`; a finding without fingerprint, from an older banc, gets one here), with
/// the kit of the run when it says.
pub fn read_findings(file: &Path) -> Result<(Vec<Entry>, Option<KitStamp>), String> {
    let shown = file.display();
    let text =
        crate::files::read_text(file, crate::files::MAX_DOCUMENT).map_err(|e| e.to_string())?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{shown} : JSON illisible : {e}"))?;
    let schema = value.get("schema").and_then(|s| s.as_str()).unwrap_or("");
    let bad = |e: serde_json::Error| format!("{shown} : {e}");
    if schema == BASELINE_SCHEMA {
        let b: BaselineFile = serde_json::from_value(value).map_err(bad)?;
        return Ok((b.findings, None));
    }
    if schema != crate::finding::report::JSON_SCHEMA {
        return Err(format!(
            "{shown} : ni un rapport JSON de banc ({}) ni une référence ({BASELINE_SCHEMA})",
            crate::finding::report::JSON_SCHEMA
        ));
    }
    let mut run: RunReport = serde_json::from_value(value).map_err(bad)?;
    let cwd = std::env::current_dir().unwrap_or_default();
    for d in &mut run.documents {
        // A run of an older banc has no fingerprints: they are computed as this one would.
        if d.findings.iter().any(|f| f.fingerprint.is_none()) {
            fingerprint_document(d, &cwd);
        }
    }
    Ok((entries(&run, &cwd), run.kit))
}

/// What matching looks at in a finding.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    pub path: &'a str,
    pub fingerprint: &'a str,
    pub rule: &'a str,
    pub xpath: &'a str,
}

/// For each of `new`, the index of the `old` finding it is (each old one at most once): same
/// fingerprint and path, then same fingerprint (the document moved), then same path, rule and
/// XPath (the document got a new id).
pub fn matching(old: &[Key<'_>], new: &[Key<'_>]) -> Vec<Option<usize>> {
    let mut out = vec![None; new.len()];
    let mut used = vec![false; old.len()];
    type Pick = fn(&Key<'_>) -> (String, String, String);
    let passes: [Pick; 3] = [
        |k| (k.fingerprint.into(), k.path.into(), String::new()),
        |k| (k.fingerprint.into(), String::new(), String::new()),
        |k| (k.path.into(), k.rule.into(), k.xpath.into()),
    ];
    for pick in passes {
        let mut index: HashMap<(String, String, String), Vec<usize>> = HashMap::new();
        for (i, k) in old.iter().enumerate().rev() {
            if !used[i] {
                index.entry(pick(k)).or_default().push(i);
            }
        }
        for (j, k) in new.iter().enumerate() {
            if out[j].is_some() {
                continue;
            }
            if let Some(i) = index.get_mut(&pick(k)).and_then(Vec::pop) {
                used[i] = true;
                out[j] = Some(i);
            }
        }
    }
    out
}

/// What is applied to a run after it was judged.
#[derive(Default)]
pub struct Gate<'a> {
    pub project: Option<&'a Project>,
    /// The baseline as given (shown in reports) and its findings.
    pub baseline: Option<(String, Vec<Entry>)>,
    /// Only new findings fail (`--fail-on-new`).
    pub fail_on_new: bool,
    /// `--fail-on` or the project's `fail_on`, when the run should use it.
    pub fail_on: Option<Severity>,
    /// Today, `AAAA-MM-JJ` (UTC): waivers past their date are expired.
    pub today: String,
}

impl Gate<'_> {
    /// Today's date for [`Gate::today`].
    pub fn today() -> String {
        crate::clock::Utc::now()
            .rfc3339()
            .get(..10)
            .unwrap_or_default()
            .to_string()
    }

    /// Overrides, fingerprints, waivers and baseline states on every finding; the project
    /// file's expired waivers as findings of its own report; verdicts judged again.
    pub fn apply(&self, run: &mut RunReport, cwd: &Path) {
        if let Some(f) = self.fail_on {
            run.fail_on = f;
        }
        let mut stamp = GateStamp {
            config: self
                .project
                .map(|p| relative(&p.path.display().to_string(), cwd)),
            baseline: self.baseline.as_ref().map(|(b, _)| b.clone()),
            fail_on_new: self.fail_on_new,
            ..GateStamp::default()
        };
        if let Some(p) = self.project {
            for d in &mut run.documents {
                override_severities(d, p);
            }
        }
        for d in &mut run.documents {
            fingerprint_document(d, cwd);
        }
        if let Some(p) = self.project {
            let live: Vec<&project::Waiver> = p
                .waivers
                .iter()
                .filter(|w| !w.expired(&self.today))
                .collect();
            let source = relative(&p.path.display().to_string(), cwd);
            for d in &mut run.documents {
                let path = relative(&d.path, cwd);
                for f in &mut d.findings {
                    if let Some(w) = live
                        .iter()
                        .find(|w| w.covers(&f.rule, f.fingerprint.as_deref(), &path))
                    {
                        f.waived = Some(Waived {
                            reason: w.reason.clone(),
                            expires: w.expires.clone(),
                            source: format!("{source}:{}", w.line),
                        });
                    }
                }
            }
            if let Some(mut doc) = expired_report(p, &self.today, &source) {
                fingerprint_document(&mut doc, cwd);
                run.documents.push(doc);
            }
        }
        stamp.waived = run
            .documents
            .iter()
            .flat_map(|d| &d.findings)
            .filter(|f| f.waived.is_some())
            .count();
        if let Some((_, old)) = &self.baseline {
            let paths: Vec<String> = run
                .documents
                .iter()
                .map(|d| relative(&d.path, cwd))
                .collect();
            let new_keys: Vec<Key<'_>> = run
                .documents
                .iter()
                .zip(&paths)
                .flat_map(|(d, path)| {
                    d.findings.iter().map(move |f| Key {
                        path,
                        fingerprint: f.fingerprint.as_deref().unwrap_or(""),
                        rule: &f.rule,
                        xpath: f.location.xpath.as_deref().unwrap_or(""),
                    })
                })
                .collect();
            let old_keys: Vec<Key<'_>> = old.iter().map(Entry::key).collect();
            let matched = matching(&old_keys, &new_keys);
            let total = new_keys.len();
            drop(new_keys);
            let found = matched.iter().filter(|m| m.is_some()).count();
            let mut states = matched.into_iter();
            for f in run.documents.iter_mut().flat_map(|d| &mut d.findings) {
                let known = states.next().flatten().is_some();
                f.baseline = Some(if known {
                    BaselineState::Known
                } else {
                    BaselineState::New
                });
            }
            stamp.known = found;
            stamp.new = total - found;
            stamp.fixed = old.len() - found;
        }
        if self.project.is_some() || self.baseline.is_some() || self.fail_on_new {
            run.gate = Some(stamp);
        }
        run.rejudge();
    }
}

fn override_severities(d: &mut DocumentReport, p: &Project) {
    for f in &mut d.findings {
        if let Some(o) = p.overrides.iter().find(|o| o.rule == f.rule) {
            f.overridden = Some(crate::finding::Overridden {
                from: f.severity,
                reason: o.reason.clone(),
            });
            f.severity = o.severity;
        }
    }
}

/// The project file's own report when some of its waivers expired: one
/// `project.waiver.expired` warning per waiver, at its line.
fn expired_report(p: &Project, today: &str, source: &str) -> Option<DocumentReport> {
    let findings: Vec<Finding> = p
        .waivers
        .iter()
        .filter(|w| w.expired(today))
        .map(|w| {
            let target = match (&w.rule, &w.fingerprint) {
                (Some(r), Some(fp)) => format!("règle {r}, constat {fp}"),
                (Some(r), None) => format!("règle {r}"),
                (None, Some(fp)) => format!("constat {fp}"),
                (None, None) => String::new(),
            };
            project::WAIVER_EXPIRED
                .finding(format!(
                    "Dérogation ({target}) échue le {} : « {} ».",
                    w.expires.as_deref().unwrap_or(""),
                    crate::finding::quote(&w.reason)
                ))
                .at(Location {
                    xpath: None,
                    line: Some(w.line),
                    column: Some(1),
                })
        })
        .collect();
    if findings.is_empty() {
        return None;
    }
    let ran = vec![project::WAIVER_EXPIRED.ran()];
    Some(DocumentReport {
        path: source.to_string(),
        profile: Some("banc-project".into()),
        document_id: None,
        verdict: Verdict::Pass,
        findings,
        rules_run: ran,
        duration_ms: 0.0,
        excerpts: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_current_folder() {
        let cwd = Path::new("/w/repo");
        assert_eq!(relative("/w/repo/a/b.xml", cwd), "a/b.xml");
        assert_eq!(relative("./a/./b.xml", cwd), "a/b.xml");
        assert_eq!(relative("/elsewhere/b.xml", cwd), "/elsewhere/b.xml");
        assert_eq!(
            relative("/w/repo/p.zip!IHE_XDM/SUBSET01/DOC0001.XML", cwd),
            "p.zip!IHE_XDM/SUBSET01/DOC0001.XML"
        );
    }

    #[test]
    fn matching_prefers_the_same_document_then_follows_moves_and_new_ids() {
        let k = |path, fingerprint, xpath| Key {
            path,
            fingerprint,
            rule: "r",
            xpath,
        };
        // Two documents with one id share fingerprints: each keeps its own.
        let old = [k("a", "F", "/x"), k("b", "F", "/x")];
        let new = [k("b", "F", "/x"), k("a", "F", "/x"), k("a", "G", "/y")];
        assert_eq!(matching(&old, &new), vec![Some(1), Some(0), None]);
        // Moved: same fingerprint elsewhere. Regenerated with a new id: same path and XPath.
        let old = [k("a", "F", "/x"), k("c", "H", "/z")];
        let new = [k("moved", "F", "/x"), k("c", "H2", "/z")];
        assert_eq!(matching(&old, &new), vec![Some(0), Some(1)]);
    }

    #[test]
    fn fingerprints_ignore_lines_and_count_repeats() {
        let a = fingerprint("r", "id:1", Some("/a"), 0);
        assert_eq!(a, fingerprint("r", "id:1", Some("/a"), 0));
        assert_ne!(a, fingerprint("r", "id:1", Some("/a"), 1));
        assert_ne!(a, fingerprint("r", "id:2", Some("/a"), 0));
        assert_eq!(a.len(), 32);
    }
}
