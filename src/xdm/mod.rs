//! The IHE_XDM package (ITI-32 "Distribute Document Set on Media", ZIP over e-mail): reading it
//! safely (Z01–Z05), its ebRIM metadata (X01–X10), and building one (`banc xdm pack`).
//! Rule ids: `xdm.zip.*`, `xdm.layout.*`, `xdm.metadata.*`.

pub mod cli;
pub mod header;

use crate::finding::Finding;
use crate::pipeline::Validator;
use crate::report::DocumentReport;
use header::CdaHeader;

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
    pub ran: Vec<crate::report::RuleRun>,
}

/// Open a package and run the zip, layout and metadata checks (no document pipeline).
pub fn inspect(_zip: &[u8], _limits: &Limits) -> Package {
    Package::default()
}

/// Everything about a package: its report (`ihe-xdm`) followed by one report per document,
/// named `<name>!<path inside>`.
pub fn check(name: &str, zip: &[u8], v: &Validator, limits: &Limits) -> Vec<DocumentReport> {
    let p = inspect(zip, limits);
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
}

/// Build an IHE_XDM.zip holding `docs` (file name, CDA bytes).
pub fn pack(_docs: &[(String, Vec<u8>)], _opts: &PackOptions) -> Result<Vec<u8>, String> {
    Err("pas encore".into())
}
