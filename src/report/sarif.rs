//! `--sarif FILE`: the run as SARIF 2.1.0 (code scanning). One run; the tool's rules are banc's
//! registry plus the kit's checks that fired; each result has its level, message,
//! document (URI relative to the current folder) with line and column, the positional XPath as
//! logical location, the fingerprint of `gate` as partial fingerprint, and its baseline state and
//! waiver (as an accepted external suppression) when the run has them.

use super::RunReport;
use crate::finding::{BaselineState, Finding, Rule, Severity};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;

pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Key of banc's fingerprint in `partialFingerprints` (versioned: a new way of hashing gets a
/// new key rather than silently re-keying every alert).
pub const FINGERPRINT_KEY: &str = "bancFinding/v1";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// `text` with the characters a relative URI reference cannot hold percent-encoded.
fn uri_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The artifact URI of a document path (relative, or `file://` outside the current folder).
fn artifact_uri(relative: &str) -> String {
    if relative.starts_with('/') {
        format!("file://{}", uri_escape(relative))
    } else {
        uri_escape(relative)
    }
}

fn help_text(hint: &str, spec: &str) -> String {
    match (hint.is_empty(), spec.is_empty()) {
        (false, false) => format!("{hint}\nSpécification : {spec}"),
        (false, true) => hint.to_string(),
        (true, false) => format!("Spécification : {spec}"),
        (true, true) => String::new(),
    }
}

fn rule_descriptor(id: &str, title: &str, hint: &str, spec: &str, severity: Severity) -> Value {
    let mut r = json!({
        "id": id,
        "shortDescription": { "text": if title.is_empty() { id } else { title } },
        "defaultConfiguration": { "level": level(severity) },
    });
    let help = help_text(hint, spec);
    if !help.is_empty() {
        r["help"] = json!({ "text": help });
    }
    r
}

fn result(f: &Finding, index: usize, path: &str, doc_profile: Option<&str>) -> Value {
    let (outer, inner) = match path.split_once('!') {
        Some((o, i)) => (o, Some(i)),
        None => (path, None),
    };
    let mut physical = json!({ "artifactLocation": { "uri": artifact_uri(outer) } });
    // A line inside a package's document is not a line of the package file.
    if inner.is_none()
        && let Some(line) = f.location.line.filter(|l| *l > 0)
    {
        let mut region = json!({ "startLine": line });
        if let Some(col) = f.location.column.filter(|c| *c > 0) {
            region["startColumn"] = json!(col);
        }
        physical["region"] = region;
    }
    let mut location = json!({ "physicalLocation": physical });
    let logical_name = match (inner, &f.location.xpath) {
        (Some(i), Some(x)) => Some(format!("{i}!{x}")),
        (Some(i), None) => Some(i.to_string()),
        (None, Some(x)) => Some(x.clone()),
        (None, None) => None,
    };
    if let Some(name) = logical_name {
        location["logicalLocations"] = json!([{ "fullyQualifiedName": name, "kind": "element" }]);
    }
    let mut r = json!({
        "ruleId": f.rule,
        "ruleIndex": index,
        "level": level(f.severity),
        "message": { "text": f.message },
        "locations": [location],
    });
    if let Some(fp) = &f.fingerprint {
        r["partialFingerprints"] = json!({ FINGERPRINT_KEY: fp });
    }
    if let Some(b) = f.baseline {
        r["baselineState"] = json!(match b {
            BaselineState::New => "new",
            BaselineState::Known => "unchanged",
        });
    }
    if let Some(w) = &f.waived {
        r["suppressions"] = json!([{
            "kind": "external",
            "status": "accepted",
            "justification": w.reason,
            "location": { "physicalLocation": { "artifactLocation": {
                "uri": artifact_uri(w.source.rsplit_once(':').map_or(w.source.as_str(), |(f, _)| f))
            } } },
        }]);
    }
    let mut props = json!({ "layer": f.layer.as_str(), "document": path });
    if let Some(p) = doc_profile {
        props["profile"] = json!(p);
    }
    if let Some(o) = &f.overridden {
        props["severityOverride"] = json!({ "from": o.from, "reason": o.reason });
    }
    if let Some(w) = &f.waived {
        props["waiver"] = json!(w);
    }
    r["properties"] = props;
    r
}

/// The run as a SARIF 2.1.0 log; document paths are made relative to `cwd`. `registry` is
/// banc's rules (`rules::all()`, given by the caller: the registry sits above the renderers).
pub fn render(report: &RunReport, cwd: &Path, registry: &[&Rule]) -> String {
    let mut rules: Vec<Value> = Vec::with_capacity(registry.len());
    let mut index: HashMap<String, usize> = HashMap::new();
    for r in registry {
        index.insert(r.id.to_string(), rules.len());
        rules.push(rule_descriptor(r.id, r.message, r.hint, r.spec, r.severity));
    }
    let mut results = Vec::new();
    for d in &report.documents {
        let path = crate::gate::relative(&d.path, cwd);
        for f in &d.findings {
            // Kit checks (schematron ids) and families (`xsd.<code>...`) are described by
            // their first finding.
            let i = *index.entry(f.rule.clone()).or_insert_with(|| {
                let title = f
                    .schematron
                    .as_ref()
                    .map(|s| format!("{} ({}, {})", f.rule, s.file, s.pattern))
                    .unwrap_or_else(|| f.rule.clone());
                rules.push(rule_descriptor(
                    &f.rule,
                    &title,
                    f.hint.as_deref().unwrap_or(""),
                    f.spec.as_deref().unwrap_or(""),
                    f.severity,
                ));
                rules.len() - 1
            });
            results.push(result(f, i, &path, d.profile.as_deref()));
        }
    }
    let mut run = json!({
        "tool": { "driver": {
            "name": "banc",
            "semanticVersion": report.banc,
            "rules": rules,
        } },
        "columnKind": "unicodeCodePoints",
        "results": results,
        "invocations": [{
            "executionSuccessful": report.summary.error == 0,
            "exitCode": report.exit_status(),
        }],
    });
    let mut props = json!({ "failOn": report.fail_on });
    if let Some(k) = &report.kit {
        props["kit"] = json!({ "path": k.path, "fingerprint": k.fingerprint });
    }
    if let Some(g) = &report.gate {
        props["gate"] = json!(g);
    }
    run["properties"] = props;
    let log = json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [run],
    });
    serde_json::to_string_pretty(&log).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use crate::finding::report::{DocumentReport, RunReport};
    use crate::finding::{Finding, Layer, Location, Severity, Verdict};

    #[test]
    fn a_document_inside_a_package_points_at_the_package_without_a_region() {
        let f = Finding::new("banc.x", Severity::Error, Layer::Banc, "m").at(Location {
            xpath: Some("/ClinicalDocument".into()),
            line: Some(7),
            column: Some(1),
        });
        let doc = DocumentReport {
            path: "/w/out/p.zip!IHE_XDM/SUBSET01/DOC0001.XML".into(),
            profile: None,
            document_id: None,
            verdict: Verdict::Fail,
            findings: vec![f],
            rules_run: Vec::new(),
            duration_ms: 0.0,
            excerpts: Default::default(),
        };
        let run = RunReport::new(None, Severity::Error, vec![doc]);
        let log: serde_json::Value =
            serde_json::from_str(&super::render(&run, std::path::Path::new("/w"), &[])).unwrap();
        let loc = &log["runs"][0]["results"][0]["locations"][0];
        assert_eq!(
            loc["physicalLocation"]["artifactLocation"]["uri"],
            "out/p.zip"
        );
        assert!(loc["physicalLocation"].get("region").is_none());
        assert_eq!(
            loc["logicalLocations"][0]["fullyQualifiedName"],
            "IHE_XDM/SUBSET01/DOC0001.XML!/ClinicalDocument"
        );
        // A rule outside the registry is described by its finding.
        assert_eq!(log["runs"][0]["tool"]["driver"]["rules"][0]["id"], "banc.x");
    }

    #[test]
    fn uris_escape_what_a_uri_cannot_hold() {
        assert_eq!(super::artifact_uri("a b/é#1.xml"), "a%20b/%C3%A9%231.xml");
        assert_eq!(super::artifact_uri("/tmp/x.xml"), "file:///tmp/x.xml");
    }
}
