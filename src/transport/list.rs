//! The messages of a spool with their transport facts and verdicts (`banc mail spool list`).
//! Reads the spool without locking it (the index is append-only; a running server may add lines).

use super::spool::{self, Envelope};
use serde::Serialize;
use std::path::Path;

/// One spooled message.
#[derive(Debug, Serialize)]
pub struct Row {
    pub id: String,
    pub received: String,
    pub from: String,
    pub to: Vec<String>,
    pub size: u64,
    pub sha256: String,
    /// `TLSv1.3` or null (clear text).
    pub tls: Option<String>,
    pub client_cert: Option<String>,
    /// Worst verdict of the report's documents; null when not analysed yet.
    pub verdict: Option<String>,
    pub errors: Option<usize>,
}

/// The messages of the spool at `root`, refused when it is not a spool of banc's.
pub fn list(root: &Path) -> Result<Vec<Row>, String> {
    if !root.join(spool::INDEX).is_file() {
        return Err(format!(
            "{} : pas un spool de banc (aucun {})",
            root.display(),
            spool::INDEX
        ));
    }
    rows(root)
}

/// The spool's messages in commit order, with what their envelope and report say.
pub fn rows(root: &Path) -> Result<Vec<Row>, String> {
    let entries = spool::read_entries(root).map_err(|e| format!("{} : {e}", root.display()))?;
    let msg = root.join("msg");
    Ok(entries
        .into_iter()
        .map(|e| {
            let env: Option<Envelope> = std::fs::read(msg.join(format!("{}.envelope.json", e.id)))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let report: Option<serde_json::Value> =
                std::fs::read(msg.join(format!("{}.report.json", e.id)))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok());
            let tls = env.as_ref().and_then(|v| v.tls.as_ref());
            let (verdict, errors) = match &report {
                Some(r) => worst(r),
                None => (None, None),
            };
            Row {
                tls: tls.map(|t| t.version.clone()),
                client_cert: tls.and_then(|t| t.client_cert.as_ref().map(|c| c.subject.clone())),
                id: e.id,
                received: e.received,
                from: e.from,
                to: e.to,
                size: e.size,
                sha256: e.sha256,
                verdict,
                errors,
            }
        })
        .collect())
}

/// The worst verdict of a report's documents, and its error count.
fn worst(r: &serde_json::Value) -> (Option<String>, Option<usize>) {
    let docs = r["documents"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let rank = |v: &str| match v {
        "error" => 2,
        "fail" => 1,
        _ => 0,
    };
    let verdict = docs
        .iter()
        .filter_map(|d| d["verdict"].as_str())
        .max_by_key(|v| rank(v))
        .map(str::to_string);
    let errors = docs
        .iter()
        .filter_map(|d| d["findings"].as_array())
        .flatten()
        .filter(|f| f["severity"] == "error")
        .count();
    (verdict, Some(errors))
}

#[cfg(test)]
mod tests {
    use super::super::spool::{Spool, sample_envelope};

    #[test]
    fn rows_show_envelope_and_worst_verdict() {
        let d = std::env::temp_dir().join(format!("banc-list-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let (s, _) = Spool::open(&d).unwrap();
        let mut ids = Vec::new();
        for body in [&b"Subject: un\r\n"[..], b"Subject: deux\r\n"] {
            let id = s.new_id();
            std::fs::write(s.tmp_message(&id), body).unwrap();
            s.commit(&sample_envelope(&id, body)).unwrap();
            ids.push(id);
        }
        let report = r#"{"documents": [
            {"verdict": "pass", "findings": []},
            {"verdict": "fail", "findings": [{"severity": "error"}, {"severity": "warning"}]}
        ]}"#;
        s.write_report(&ids[0], report).unwrap();
        let rows = super::rows(&d).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].id, ids[0]);
        assert_eq!(rows[0].verdict.as_deref(), Some("fail"));
        assert_eq!(rows[0].errors, Some(1));
        assert_eq!(rows[0].tls, None);
        assert_eq!(rows[1].verdict, None, "not analysed yet");
        assert_eq!(rows[1].to, vec!["dpi@chu.mssante.fr".to_string()]);
    }
}
