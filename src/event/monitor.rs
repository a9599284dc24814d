//! What waits for a person, and what people decide: the monitors' worklist, claims, decisions
//! on the latest attempt (`verified`, `partially-verified`, `rejected`), and the managers'
//! grade overrides — each in the audit log with who, when and why.

use super::store::Store;
use super::{Error, InstanceStatus};
use crate::clock::Utc;
use crate::scenario::results::{Status, StepResult};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// A manual step of the latest attempt, as a monitor sees it.
#[derive(Debug, Clone, Serialize)]
pub struct PendingStep {
    pub id: String,
    pub kind: String,
    pub title: Option<String>,
    /// What the person must do.
    pub instructions: Option<String>,
    /// What to check (numbered from 1 in `decide --checklist`).
    pub checklist: Vec<String>,
    /// Evidence the participant dropped (file names) — kept as blobs of the attempt.
    pub evidence: Vec<String>,
}

/// One worklist entry.
#[derive(Debug, Clone, Serialize)]
pub struct WorkItem {
    pub instance: String,
    pub participant: String,
    pub scenario: String,
    pub role: String,
    pub level: String,
    pub title: String,
    pub status: InstanceStatus,
    /// Since when it waits (RFC 3339).
    pub since: String,
    pub claimed_by: Option<String>,
    pub attempt: i64,
    pub steps: Vec<PendingStep>,
    /// Reports of the attempt: its scenario result (sha256 of the blob).
    pub report: Option<String>,
}

/// The latest attempt of an instance: id, number, report.
fn latest(
    conn: &rusqlite::Connection,
    instance: &str,
) -> Result<Option<(i64, i64, Option<String>)>, Error> {
    Ok(conn
        .query_row(
            "SELECT id, number, report FROM attempts WHERE instance = ?1 ORDER BY number DESC LIMIT 1",
            [instance],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

/// The manual steps (evidence, monitor) of an attempt, with their checklists.
pub fn pending_steps(conn: &rusqlite::Connection, attempt: i64) -> Result<Vec<PendingStep>, Error> {
    let mut st = conn
        .prepare("SELECT result FROM steps WHERE attempt = ?1 AND status = 'pending' ORDER BY n")?;
    let rows = st.query_map([attempt], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for json in rows {
        let Ok(s) = serde_json::from_str::<StepResult>(&json?) else {
            continue;
        };
        if s.status != Status::Pending {
            continue;
        }
        out.push(PendingStep {
            id: s.id,
            kind: s.kind.as_str().to_string(),
            title: s.title,
            instructions: s.instructions,
            checklist: s.checklist,
            evidence: s
                .evidence
                .iter()
                .map(|e| {
                    std::path::Path::new(e)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| e.clone())
                })
                .collect(),
        });
    }
    Ok(out)
}

/// What waits for a person, oldest first: instances `to-verify`; with a monitor, only those
/// unclaimed or claimed by them.
pub fn worklist(store: &Store, monitor: Option<&str>) -> Result<Vec<WorkItem>, Error> {
    let conn = store.conn();
    let mut st = conn.prepare(
        "SELECT i.id, i.participant, i.scenario, i.role, i.level, i.title, i.status, i.since, i.claimed_by,
                a.id, a.number, a.report
         FROM instances i JOIN attempts a ON a.instance = i.id
              AND a.number = (SELECT MAX(number) FROM attempts b WHERE b.instance = i.id)
         WHERE i.status = 'to-verify' AND i.retired = 0 AND (?1 IS NULL OR i.claimed_by IS NULL OR i.claimed_by = ?1)
         ORDER BY i.since, i.id",
    )?;
    let rows = st.query_map([monitor], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, Option<String>>(8)?,
            r.get::<_, i64>(9)?,
            r.get::<_, i64>(10)?,
            r.get::<_, Option<String>>(11)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (
            instance,
            participant,
            scenario,
            role,
            level,
            title,
            status,
            since,
            claimed_by,
            aid,
            number,
            report,
        ) = row?;
        let mut steps = pending_steps(conn, aid)?;
        // Evidence dropped since the step was played shows too.
        for (_, id, dir) in evidence_dirs(conn, &instance)? {
            if let Some(s) = steps.iter_mut().find(|s| s.id == id) {
                for f in crate::scenario::steps::complete_files(&dir) {
                    let name = f
                        .file_name()
                        .map(|x| x.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if !s.evidence.contains(&name) {
                        s.evidence.push(name);
                    }
                }
            }
        }
        out.push(WorkItem {
            steps,
            instance,
            participant,
            scenario,
            role,
            level,
            title,
            status: InstanceStatus::parse(&status).unwrap_or(InstanceStatus::ToVerify),
            since,
            claimed_by,
            attempt: number,
            report,
        });
    }
    Ok(out)
}

fn decidable(s: InstanceStatus) -> bool {
    matches!(
        s,
        InstanceStatus::ToVerify
            | InstanceStatus::Verified
            | InstanceStatus::PartiallyVerified
            | InstanceStatus::Rejected
    )
}

/// A monitor takes an instance of the worklist (others see it claimed). Checked and written in
/// one transaction: two monitors cannot both take it.
pub fn claim(store: &mut Store, instance: &str, monitor: &str) -> Result<(), Error> {
    non_empty("--monitor", monitor)?;
    store.write(|tx| {
        let i = super::instance(tx, instance)?;
        if i.status != InstanceStatus::ToVerify {
            return Err(Error::Invalid(format!(
                "{instance} est « {} » : rien à vérifier (seules les instances à vérifier se prennent)",
                i.status.label_fr()
            )));
        }
        if let Some(other) = i.claimed_by.as_deref().filter(|o| *o != monitor) {
            return Err(Error::Invalid(format!("{instance} est déjà pris par {other}")));
        }
        tx.execute(
            "UPDATE instances SET claimed_by = ?2, claimed_at = ?3 WHERE id = ?1",
            params![instance, monitor, Utc::now().rfc3339()],
        )?;
        super::store::audit(tx, monitor, instance, "prise", i.claimed_by.as_deref(), Some(monitor), None)
    })
}

/// A monitor's verdict on an instance's latest attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Verified,
    PartiallyVerified,
    Rejected,
}

impl Verdict {
    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "verified" => Some(Verdict::Verified),
            "partially-verified" => Some(Verdict::PartiallyVerified),
            "rejected" => Some(Verdict::Rejected),
            _ => None,
        }
    }

    pub fn status(self) -> InstanceStatus {
        match self {
            Verdict::Verified => InstanceStatus::Verified,
            Verdict::PartiallyVerified => InstanceStatus::PartiallyVerified,
            Verdict::Rejected => InstanceStatus::Rejected,
        }
    }
}

/// What `decide` recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Decided {
    pub instance: String,
    pub attempt: i64,
    pub before: InstanceStatus,
    pub after: InstanceStatus,
    /// The checklist items ticked, as text.
    pub checked: Vec<String>,
}

/// Decide an instance that waits for a person (or revise a decision): on its latest attempt,
/// with a comment and the checklist items (1-based over the attempt's manual steps) that held.
pub fn decide(
    store: &mut Store,
    instance: &str,
    verdict: Verdict,
    monitor: &str,
    comment: &str,
    checklist: &[usize],
) -> Result<Decided, Error> {
    non_empty("--monitor", monitor)?;
    non_empty("--comment", comment)?;
    // Evidence dropped since the step was played is kept first (blobs), so that the decision
    // rests on files the event holds.
    let collected = collect_evidence(store, instance)?;
    store.write(|tx| {
        let i = super::instance(tx, instance)?;
        if !decidable(i.status) {
            return Err(Error::Invalid(format!(
                "{instance} est « {} » : rien à décider (une décision porte sur une instance à vérifier ou déjà décidée)",
                i.status.label_fr()
            )));
        }
        if let Some(other) = i.claimed_by.as_deref().filter(|o| *o != monitor) {
            return Err(Error::Invalid(format!(
                "{instance} est pris par {other} : c'est à lui de décider"
            )));
        }
        let (attempt, number, _) = latest(tx, instance)?
            .ok_or_else(|| Error::Invalid(format!("{instance} : aucune tentative")))?;
        let items: Vec<String> = pending_steps(tx, attempt)?
            .into_iter()
            .flat_map(|s| s.checklist)
            .collect();
        let mut checked = Vec::new();
        for n in checklist {
            match n.checked_sub(1).and_then(|k| items.get(k)) {
                Some(t) => checked.push(t.clone()),
                None => {
                    return Err(Error::Invalid(format!(
                        "--checklist {n} : la liste de {instance} a {} point(s)",
                        items.len()
                    )));
                }
            }
        }
        for (step, name, sha, size) in &collected {
            tx.execute(
                "INSERT INTO artifacts (attempt, step, kind, name, sha256, size) VALUES (?1, ?2, 'evidence', ?3, ?4, ?5)",
                params![attempt, step, name, sha, *size as i64],
            )?;
            super::store::audit(tx, monitor, instance, "preuve", None, Some(name), Some(sha))?;
        }
        let after = verdict.status();
        let why = format!("tentative {number} : {comment}");
        tx.execute(
            "INSERT INTO decisions (instance, attempt, monitor, verdict, comment, checklist, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                instance,
                attempt,
                monitor,
                after.as_str(),
                comment,
                serde_json::to_string(checklist).unwrap_or_default(),
                Utc::now().rfc3339()
            ],
        )?;
        super::set_status(tx, instance, after, monitor, Some(&why))?;
        Ok(Decided {
            instance: instance.to_string(),
            attempt: number,
            before: i.status,
            after,
            checked,
        })
    })
}

/// The folder a manual step's evidence is dropped in, for the latest attempt of `instance`:
/// (step number, step id, folder).
pub fn evidence_dirs(
    conn: &rusqlite::Connection,
    instance: &str,
) -> Result<Vec<(i64, String, std::path::PathBuf)>, Error> {
    let Some((attempt, _, _)) = latest(conn, instance)? else {
        return Ok(Vec::new());
    };
    let submissions: Option<String> = conn
        .query_row(
            "SELECT r.submissions FROM attempts a JOIN runs r ON r.id = a.run WHERE a.id = ?1",
            [attempt],
            |r| r.get(0),
        )
        .optional()?;
    let Some(root) = submissions else {
        return Ok(Vec::new());
    };
    let i = super::instance(conn, instance)?;
    let mut st = conn
        .prepare("SELECT n, id FROM steps WHERE attempt = ?1 AND kind = 'evidence' ORDER BY n")?;
    let rows = st.query_map([attempt], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (n, id) = row?;
        let dir = std::path::Path::new(&root)
            .join(crate::scenario::run::safe(&i.participant))
            .join(crate::scenario::run::safe(&i.scenario))
            .join(crate::scenario::run::safe(&id));
        out.push((n, id, dir));
    }
    Ok(out)
}

/// Keep as blobs the evidence files found now in the latest attempt's evidence folders and not
/// yet kept: (step, name, sha256, size) of each.
fn collect_evidence(
    store: &Store,
    instance: &str,
) -> Result<Vec<(i64, String, String, usize)>, Error> {
    let conn = store.conn();
    let Some((attempt, _, _)) = latest(conn, instance)? else {
        return Ok(Vec::new());
    };
    let kept: std::collections::HashSet<String> = {
        let mut q = conn.prepare("SELECT sha256 FROM artifacts WHERE attempt = ?1")?;
        q.query_map([attempt], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    let mut out = Vec::new();
    for (n, _, dir) in evidence_dirs(conn, instance)? {
        for path in crate::scenario::steps::complete_files(&dir) {
            let name = path
                .file_name()
                .map(|x| x.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = crate::files::read_bounded(&path, MAX_EVIDENCE)
                .map_err(|e| Error::Io(e.to_string()))?;
            let sha = store.put_blob(&bytes)?;
            if !kept.contains(&sha) {
                out.push((n, name, sha, bytes.len()));
            }
        }
    }
    Ok(out)
}

/// Largest evidence file kept (a screenshot, a log extract, a video capture).
const MAX_EVIDENCE: u64 = 256 * 1024 * 1024;

/// A decision as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionRow {
    pub instance: String,
    pub attempt: i64,
    pub monitor: String,
    pub verdict: String,
    pub comment: String,
    pub checklist: Vec<usize>,
    pub at: String,
}

pub fn decisions(
    conn: &rusqlite::Connection,
    instance: Option<&str>,
) -> Result<Vec<DecisionRow>, Error> {
    let mut st = conn.prepare(
        "SELECT d.instance, a.number, d.monitor, d.verdict, d.comment, d.checklist, d.at
         FROM decisions d JOIN attempts a ON a.id = d.attempt
         WHERE ?1 IS NULL OR d.instance = ?1 ORDER BY d.id",
    )?;
    let rows = st.query_map([instance], |r| {
        let list: String = r.get(5)?;
        Ok(DecisionRow {
            instance: r.get(0)?,
            attempt: r.get(1)?,
            monitor: r.get(2)?,
            verdict: r.get(3)?,
            comment: r.get(4)?,
            checklist: serde_json::from_str(&list).unwrap_or_default(),
            at: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A manager's override of a computed grade.
#[derive(Debug, Clone, Serialize)]
pub struct OverrideRow {
    pub participant: String,
    pub role: String,
    pub grade: String,
    pub manager: String,
    pub reason: String,
    pub at: String,
}

/// Override the grade of a participant in a role, with a reason (the latest override counts;
/// the computed grade and its reasons stay visible beside it).
pub fn override_grade(
    store: &mut Store,
    participant: &str,
    role: crate::scenario::model::Role,
    grade: super::score::Grade,
    manager: &str,
    reason: &str,
) -> Result<(), Error> {
    non_empty("--manager", manager)?;
    non_empty("--reason", reason)?;
    let p = super::participants(store.conn())?
        .into_iter()
        .find(|p| p.id == participant)
        .ok_or_else(|| Error::Invalid(format!("participant inconnu : {participant}")))?;
    if !p.roles.contains(&role) {
        return Err(Error::Invalid(format!(
            "{participant} ne joue pas le rôle {}",
            role.as_str()
        )));
    }
    let before = overrides(store.conn())?
        .into_iter()
        .rev()
        .find(|o| o.participant == participant && o.role == role.as_str())
        .map(|o| o.grade);
    store.write(|tx| {
        tx.execute(
            "INSERT INTO overrides (participant, role, grade, manager, reason, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![participant, role.as_str(), grade.as_str(), manager, reason, Utc::now().rfc3339()],
        )?;
        super::store::audit(
            tx,
            manager,
            &format!("{participant}/{}", role.as_str()),
            "note imposée",
            before.as_deref(),
            Some(grade.as_str()),
            Some(reason),
        )
    })
}

pub fn overrides(conn: &rusqlite::Connection) -> Result<Vec<OverrideRow>, Error> {
    let mut st = conn.prepare(
        "SELECT participant, role, grade, manager, reason, at FROM overrides ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        Ok(OverrideRow {
            participant: r.get(0)?,
            role: r.get(1)?,
            grade: r.get(2)?,
            manager: r.get(3)?,
            reason: r.get(4)?,
            at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn non_empty(option: &str, v: &str) -> Result<(), Error> {
    if v.trim().is_empty() {
        return Err(Error::Invalid(format!("{option} : ne peut pas être vide")));
    }
    Ok(())
}
