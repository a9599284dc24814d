//! What an attempt holds, for the web pages and the API: its steps as recorded (with the
//! runner's full result: log, checks, findings) and its artifacts (blobs).

use super::Error;
use serde::Serialize;

/// One step of an attempt.
#[derive(Debug, Clone, Serialize)]
pub struct StepRow {
    pub n: i64,
    pub id: String,
    pub kind: String,
    pub status: String,
    pub message: String,
    pub at: String,
    /// The runner's result of the step (`banc-run/1`: log, checks, reports...).
    pub result: serde_json::Value,
}

/// One file an attempt used or received, kept as a blob.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactRow {
    /// Its place in the attempt's list, from 0 (the download's address).
    pub index: usize,
    pub step: i64,
    /// `sent`, `received`, `ack`, `submission`, `evidence`...
    pub kind: String,
    pub name: String,
    pub sha256: String,
    pub size: i64,
}

pub fn steps(conn: &rusqlite::Connection, attempt: i64) -> Result<Vec<StepRow>, Error> {
    let mut st = conn.prepare(
        "SELECT n, id, kind, status, message, at, result FROM steps WHERE attempt = ?1 ORDER BY n",
    )?;
    let rows = st.query_map([attempt], |r| {
        let json: String = r.get(6)?;
        Ok(StepRow {
            n: r.get(0)?,
            id: r.get(1)?,
            kind: r.get(2)?,
            status: r.get(3)?,
            message: r.get(4)?,
            at: r.get(5)?,
            result: serde_json::from_str(&json).unwrap_or(serde_json::Value::Null),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn artifacts(conn: &rusqlite::Connection, attempt: i64) -> Result<Vec<ArtifactRow>, Error> {
    let mut st = conn.prepare(
        "SELECT step, kind, name, sha256, size FROM artifacts WHERE attempt = ?1 ORDER BY rowid",
    )?;
    let rows = st.query_map([attempt], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for (index, row) in rows.enumerate() {
        let (step, kind, name, sha256, size) = row?;
        out.push(ArtifactRow {
            index,
            step,
            kind,
            name,
            sha256,
            size,
        });
    }
    Ok(out)
}
