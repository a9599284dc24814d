//! The IHE_XDM package (ITI-32 "Distribute Document Set on Media", ZIP over e-mail): reading it
//! safely (Z01–Z05), its ebRIM metadata (X01–X10), and building one (`banc xdm pack`).
//! Rule ids: `xdm.zip.*`, `xdm.layout.*`, `xdm.metadata.*`.

pub mod checks;
pub mod metadata;
pub mod pack;
pub mod zipread;

use crate::cda::header::{self, CdaHeader};
use crate::finding::report::DocumentReport;
use crate::finding::{Finding, Location, Rule, quote};
use crate::pipeline::Validator;
use crate::terminology::Store;

/// Safety limits on a package (Z03).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_entries: usize,
    /// Sum of the declared uncompressed sizes.
    pub max_total_bytes: u64,
    /// Largest uncompressed size over compressed size accepted for an entry.
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        // A CR-BIO package is a handful of files of a few MB; 25 MB is MSSanté's usual mail cap.
        Limits {
            max_entries: 1000,
            max_total_bytes: 256 * 1024 * 1024,
            max_ratio: 200,
        }
    }
}

/// A document found in a package.
#[derive(Debug, Clone)]
pub struct PackedDocument {
    /// Path inside the zip (`IHE_XDM/SUBSET01/DOC0001.XML`).
    pub path: String,
    pub bytes: Vec<u8>,
    /// Its CDA header, when it could be read.
    pub header: Option<CdaHeader>,
}

/// What [`inspect`] learnt of a package: its own findings and the documents inside.
#[derive(Debug, Clone, Default)]
pub struct Package {
    pub findings: Vec<Finding>,
    pub documents: Vec<PackedDocument>,
    /// Rules that ran (with or without findings), for the package report.
    pub ran: Vec<crate::finding::report::RuleRun>,
}

/// Open a package and run the zip, layout and metadata checks (no document pipeline).
pub fn inspect(zip: &[u8], limits: &Limits) -> Package {
    inspect_with(zip, limits, None)
}

/// Every rule of the package layers (JUnit test cases of a package report).
pub fn rules() -> impl Iterator<Item = &'static Rule> {
    zipread::RULES
        .iter()
        .chain(metadata::RULES)
        .chain(checks::RULES)
        .copied()
}

/// [`inspect`], with value sets to check the metadata codes against (X04).
pub fn inspect_with(zip: &[u8], limits: &Limits, store: Option<&Store>) -> Package {
    let mut p = Package {
        ran: rules().map(Rule::ran).collect(),
        ..Package::default()
    };
    let Some(entries) = zipread::read(zip, limits, &mut p.findings) else {
        return p;
    };
    layout_and_metadata(&entries, store, &mut p);
    p
}

/// `IHE_XDM/<subset>/<file>` → (subset, file), case-insensitive on `IHE_XDM`.
fn split_subset(name: &str) -> Option<(&str, &str)> {
    let (head, rest) = name.split_at_checked(8)?;
    if !head.eq_ignore_ascii_case("IHE_XDM/") {
        return None;
    }
    let (subset, file) = rest.split_once('/')?;
    (!subset.is_empty() && !file.is_empty() && !file.contains('/')).then_some((subset, file))
}

fn at_entry(f: Finding, name: &str) -> Finding {
    f.at(Location {
        xpath: Some(format!("zip:{name}")),
        line: None,
        column: None,
    })
}

fn layout_and_metadata(entries: &[zipread::Entry], store: Option<&Store>, p: &mut Package) {
    for (want, rule) in [
        ("INDEX.HTM", checks::INDEX_HTM),
        ("README.TXT", checks::README_TXT),
    ] {
        match entries.iter().find(|e| e.name.eq_ignore_ascii_case(want)) {
            None => p.findings.push(rule.finding("")),
            Some(e) if e.name != want => p.findings.push(at_entry(
                checks::NAME_CASE.finding(format!("« {} ».", quote(&e.name))),
                &e.name,
            )),
            Some(_) => {}
        }
    }
    // Subsets, in name order.
    let mut subsets: std::collections::BTreeMap<&str, Vec<&zipread::Entry>> = Default::default();
    for e in entries {
        match split_subset(&e.name) {
            Some((s, _)) => subsets.entry(s).or_default().push(e),
            None if e.name.eq_ignore_ascii_case("INDEX.HTM")
                || e.name.eq_ignore_ascii_case("README.TXT") => {}
            None => p.findings.push(at_entry(
                checks::OUTSIDE.finding(format!("« {} ».", quote(&e.name))),
                &e.name,
            )),
        }
    }
    let mut any_metadata = false;
    for (subset, files) in &subsets {
        let file_of = |e: &zipread::Entry| {
            split_subset(&e.name)
                .map(|(_, f)| f.to_string())
                .unwrap_or_default()
        };
        let Some(md_entry) = files
            .iter()
            .find(|e| file_of(e).eq_ignore_ascii_case("METADATA.XML"))
        else {
            continue;
        };
        any_metadata = true;
        let md = match metadata::parse(&md_entry.bytes) {
            Ok(md) => md,
            Err(f) => {
                p.findings.push((*f).at(Location {
                    xpath: Some(format!("zip:{}", md_entry.name)),
                    ..Default::default()
                }));
                continue;
            }
        };
        let mut referenced: Vec<&str> = vec![md_entry.name.as_str()];
        let mut docs: Vec<(usize, usize)> = Vec::new(); // (object index, entry index in files)
        for (oi, o) in md.objects.iter().enumerate() {
            if o.kind != "ExtrinsicObject" {
                continue;
            }
            let Some(uri) = o.slot_value("URI") else {
                continue;
            };
            match files
                .iter()
                .position(|e| file_of(e).eq_ignore_ascii_case(uri))
            {
                Some(fi) => {
                    referenced.push(&files[fi].name);
                    docs.push((oi, fi));
                }
                None => p.findings.push(
                    checks::URI_MISSING
                        .finding(format!("« {} » ({}).", quote(uri), quote(&o.id)))
                        .at(o.location(o.line)),
                ),
            }
        }
        for e in files {
            if !referenced.contains(&e.name.as_str()) {
                p.findings.push(at_entry(
                    checks::UNREFERENCED.finding(format!("« {} ».", quote(&e.name))),
                    &e.name,
                ));
            }
            let f = file_of(e);
            if !checks::is_8_3(&f) || !checks::is_8_3(subset) {
                p.findings.push(at_entry(
                    checks::NAME_CASE.finding(format!("« {} ».", quote(&e.name))),
                    &e.name,
                ));
            }
        }
        let start = p.documents.len();
        for &(_, fi) in &docs {
            let e = files[fi];
            p.documents.push(PackedDocument {
                path: e.name.clone(),
                bytes: e.bytes.clone(),
                header: header::read(&e.name, &e.bytes).ok(),
            });
        }
        let mut with_docs: Vec<checks::Entry<'_>> = md
            .objects
            .iter()
            .filter(|o| o.kind == "ExtrinsicObject")
            .map(|o| checks::Entry {
                object: o,
                document: None,
            })
            .collect();
        for (k, &(oi, _)) in docs.iter().enumerate() {
            let d = &p.documents[start + k];
            if let Some(e) = with_docs
                .iter_mut()
                .find(|e| std::ptr::eq(e.object, &md.objects[oi]))
            {
                e.document = Some((d.bytes.as_slice(), d.header.as_ref()));
            }
        }
        let mut found = Vec::new();
        checks::metadata(&md, &with_docs, store, &mut found);
        for f in &mut found {
            if let Some(x) = f.location.xpath.as_mut() {
                *x = format!("zip:{}!{x}", md_entry.name);
            }
        }
        p.findings.extend(found);
    }
    let out = &mut p.findings;
    if !any_metadata {
        out.push(checks::METADATA_MISSING.finding(""));
        // Still judge what looks like documents, so the producer sees their findings too.
        for e in entries.iter().filter(|e| {
            split_subset(&e.name).is_some() && e.name.to_ascii_uppercase().ends_with(".XML")
        }) {
            p.documents.push(PackedDocument {
                path: e.name.clone(),
                bytes: e.bytes.clone(),
                header: header::read(&e.name, &e.bytes).ok(),
            });
        }
    }
}

/// Everything about a package: its report (`ihe-xdm`) followed by one report per document,
/// named `<name>!<path inside>`.
pub fn check(name: &str, zip: &[u8], v: &Validator, limits: &Limits) -> Vec<DocumentReport> {
    reports(name, inspect_with(zip, limits, Some(v.terminology())), v)
}

/// The reports of an opened package: its own, then its documents' through the pipeline.
pub fn reports(name: &str, p: Package, v: &Validator) -> Vec<DocumentReport> {
    let mut out = vec![v.container_report(name, "ihe-xdm", p.findings, p.ran)];
    for d in &p.documents {
        out.push(v.validate_bytes(&format!("{name}!{}", d.path), &d.bytes));
    }
    out
}

/// What `banc xdm pack` writes beside the documents.
#[derive(Debug, Clone, Default)]
pub struct PackOptions {
    /// Sender shown in INDEX.HTM and README.TXT (organisation, mailbox).
    pub sender: Option<String>,
    /// SubmissionSet contentTypeCode (JDV_J03); default: the CDA's healthcare facility type.
    pub content_type: Option<header::Code>,
    /// SubmissionSet sourceId (the sending system's OID); default: a fixed 2.25 OID of banc.
    pub source_id: Option<String>,
    /// submissionTime (`AAAAMMJJhhmmss`, UTC); default: now.
    pub submission_time: Option<String>,
    /// Let documents without INS or of several patients through (to build faulty packages).
    pub allow_faults: bool,
    /// Deliberate defects of the package (`banc mail compose --fault`).
    pub faults: Vec<PackFault>,
}

pub use pack::{PackFault, pack};
