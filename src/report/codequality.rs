//! `--codequality FILE`: the run's findings as a GitLab Code Quality report (the Code Climate
//! issue subset GitLab reads: description, check_name, fingerprint, severity, location), shown
//! in merge requests by `artifacts:reports:codequality`.
//!
//! The fingerprint hashes the rule id, the file and the finding's XPath (its line when it has
//! none) and the rank among identical ones: the same problem keeps its fingerprint when lines
//! move, so GitLab tells new problems from old ones.

use super::RunReport;
use crate::finding::Severity;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

#[derive(Serialize)]
struct Issue<'a> {
    description: String,
    check_name: &'a str,
    fingerprint: String,
    severity: &'static str,
    location: Location,
}

#[derive(Serialize)]
struct Location {
    path: String,
    lines: Lines,
}

#[derive(Serialize)]
struct Lines {
    begin: u32,
}

/// GitLab's scale: info, minor, major, critical, blocker.
fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "major",
        Severity::Warning => "minor",
        Severity::Info => "info",
    }
}

pub fn render(report: &RunReport) -> String {
    let mut seen: HashMap<[u8; 32], u32> = HashMap::new();
    let mut issues = Vec::new();
    for doc in &report.documents {
        // What a package or a message holds is named `outer!inner`: the repository file is
        // the outer one.
        let path = doc.path.split('!').next().unwrap_or(&doc.path).to_string();
        for f in &doc.findings {
            // A waived finding is accepted in banc.toml, with its reason: not an open issue.
            if f.waived.is_some() {
                continue;
            }
            let place = match (&f.location.xpath, f.location.line) {
                (Some(x), _) => x.clone(),
                (None, Some(l)) => l.to_string(),
                (None, None) => String::new(),
            };
            let key: [u8; 32] = Sha256::digest(format!("{}\0{}\0{place}", f.rule, doc.path)).into();
            let rank = seen.entry(key).or_insert(0);
            *rank += 1;
            let mut h = Sha256::new();
            h.update(key);
            h.update(rank.to_be_bytes());
            issues.push(Issue {
                description: match &f.location.xpath {
                    Some(x) => format!("{} ({x})", f.message),
                    None => f.message.clone(),
                },
                check_name: &f.rule,
                fingerprint: hex::encode(&h.finalize()[..16]),
                severity: severity(f.severity),
                location: Location {
                    path: path.clone(),
                    lines: Lines {
                        begin: f.location.line.unwrap_or(1).max(1),
                    },
                },
            });
        }
    }
    serde_json::to_string_pretty(&issues).unwrap_or_default()
}
