//! An event's durable store: one SQLite database (`event.db`: WAL, foreign keys, full sync, a
//! schema version migrated forward on open) and a content-addressed blob folder
//! (`blobs/ab/<sha256>`) for messages, documents, reports and evidence.
//!
//! Every change is one `BEGIN IMMEDIATE` transaction: a reader never sees half a change, two
//! banc processes on one event wait for each other (busy timeout) instead of failing, and a
//! process killed mid-change leaves the database as it was before it. A blob is on disk
//! (written, synced, renamed) before a row names it.

use super::Error;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The database file in an event folder.
pub const DB: &str = "event.db";
/// Version of the schema this banc writes; a database of a later version is refused.
pub const SCHEMA_VERSION: i64 = 2;
/// How long a command waits for another banc process holding the database.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Migrations, in order: entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE suites (
    id TEXT PRIMARY KEY,
    dir TEXT NOT NULL,
    title TEXT NOT NULL,
    version TEXT,
    hash TEXT NOT NULL,
    files TEXT NOT NULL,
    grading TEXT NOT NULL
);
CREATE TABLE participants (
    id TEXT PRIMARY KEY,
    organisation TEXT NOT NULL,
    system TEXT NOT NULL,
    roles TEXT NOT NULL,
    mailbox TEXT,
    simulated TEXT
);
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    participant TEXT NOT NULL REFERENCES participants(id),
    suite TEXT NOT NULL REFERENCES suites(id),
    scenario TEXT NOT NULL,
    role TEXT NOT NULL,
    level TEXT NOT NULL,
    required INTEGER NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    since TEXT NOT NULL,
    claimed_by TEXT,
    claimed_at TEXT,
    run INTEGER,
    retired INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX instances_participant ON instances(participant);
CREATE INDEX instances_status ON instances(status, since);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    finished TEXT,
    pid INTEGER NOT NULL,
    command TEXT NOT NULL,
    submissions TEXT NOT NULL
);
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    instance TEXT NOT NULL REFERENCES instances(id),
    number INTEGER NOT NULL,
    run INTEGER REFERENCES runs(id),
    status TEXT NOT NULL,
    reason TEXT,
    partner TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    banc TEXT NOT NULL,
    kit TEXT,
    suite_hash TEXT,
    report TEXT,
    UNIQUE (instance, number)
);
CREATE INDEX attempts_run ON attempts(run, status);
CREATE TABLE steps (
    attempt INTEGER NOT NULL REFERENCES attempts(id),
    n INTEGER NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    result TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (attempt, n)
);
CREATE TABLE artifacts (
    attempt INTEGER NOT NULL REFERENCES attempts(id),
    step INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX artifacts_attempt ON artifacts(attempt);
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY,
    instance TEXT NOT NULL REFERENCES instances(id),
    attempt INTEGER NOT NULL REFERENCES attempts(id),
    monitor TEXT NOT NULL,
    verdict TEXT NOT NULL,
    comment TEXT NOT NULL,
    checklist TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX decisions_instance ON decisions(instance);
CREATE TABLE overrides (
    id INTEGER PRIMARY KEY,
    participant TEXT NOT NULL REFERENCES participants(id),
    role TEXT NOT NULL,
    grade TEXT NOT NULL,
    manager TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    subject TEXT NOT NULL,
    action TEXT NOT NULL,
    before TEXT,
    after TEXT,
    reason TEXT,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'journal d''audit : ajout seul'); END;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'journal d''audit : ajout seul'); END;
"#,
    r#"
-- Schema 2: access to the event on the web (banc serve --event). A token is kept as its
-- sha256 only; a browser session too, with its CSRF token.
CREATE TABLE access (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    subject TEXT NOT NULL,
    created TEXT NOT NULL,
    created_by TEXT NOT NULL,
    revoked TEXT
);
CREATE INDEX access_subject ON access(role, subject);
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    access INTEGER NOT NULL REFERENCES access(id),
    csrf TEXT NOT NULL,
    created TEXT NOT NULL,
    expires INTEGER NOT NULL
);
CREATE INDEX sessions_access ON sessions(access);
"#,
];

/// An open event: its folder and a connection to its database.
pub struct Store {
    pub dir: PathBuf,
    conn: Connection,
}

impl Store {
    /// Create the store of a new event in `dir` (created if needed, owner-only); refused when
    /// `dir` already holds an event.
    pub fn create(dir: &Path) -> Result<Store, Error> {
        if dir.join(DB).exists() {
            return Err(Error::Invalid(format!(
                "{} contient déjà un événement ({DB})",
                dir.display()
            )));
        }
        create_private_dir(dir)?;
        create_private_dir(&dir.join("blobs"))?;
        Store::connect(dir)
    }

    /// Open the event of `dir`, migrating its schema forward if it is older.
    pub fn open(dir: &Path) -> Result<Store, Error> {
        if !dir.join(DB).is_file() {
            return Err(Error::Invalid(format!(
                "{} n'est pas un événement banc ({DB} absent : banc event init)",
                dir.display()
            )));
        }
        Store::connect(dir)
    }

    fn connect(dir: &Path) -> Result<Store, Error> {
        let conn = Connection::open(dir.join(DB)).map_err(Error::from)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: readers (a worklist, the web server) never wait for the runner; FULL: a
        // committed change survives a power cut, not only a killed process.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = Store {
            dir: dir.to_path_buf(),
            conn,
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), Error> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(Error::Invalid(format!(
                "base de l'événement au schéma {version}, écrite par une version de banc plus récente (celle-ci lit jusqu'au schéma {SCHEMA_VERSION}) : mettre banc à jour"
            )));
        }
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Exclusive)?;
        // Another process may have migrated while this one waited for the lock.
        let now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, m) in MIGRATIONS.iter().enumerate().skip(now as usize) {
            tx.execute_batch(m)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Run `f` in one immediate transaction, committed only if it returns Ok.
    pub fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last = |tx: &Transaction<'_>| -> Result<i64, Error> {
            Ok(tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM audit", [], |r| r.get(0))?)
        };
        let before = last(&tx)?;
        let v = f(&tx)?;
        // Entries were appended: sign the new head in the same transaction.
        if last(&tx)? != before {
            sign_head(&tx, &self.dir)?;
        }
        tx.commit()?;
        Ok(v)
    }

    /// A value of the `meta` table.
    pub fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Where the blob of this sha256 (hex) lives.
    pub fn blob_path(&self, sha: &str) -> PathBuf {
        blob_path(&self.dir, sha)
    }

    /// Keep `bytes` as a blob (once per content): written to a temporary file, synced, renamed.
    /// Its sha256 in hex.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String, Error> {
        put_blob(&self.dir, bytes)
    }

    pub fn read_blob(&self, sha: &str) -> Result<Vec<u8>, Error> {
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Invalid(format!(
                "empreinte de blob invalide : {sha}"
            )));
        }
        std::fs::read(self.blob_path(sha)).map_err(|e| Error::Io(format!("blob {sha} : {e}")))
    }
}

pub fn blob_path(dir: &Path, sha: &str) -> PathBuf {
    let head = sha.get(..2).unwrap_or("00");
    dir.join("blobs").join(head).join(sha)
}

pub fn put_blob(dir: &Path, bytes: &[u8]) -> Result<String, Error> {
    let sha = hex::encode(Sha256::digest(bytes));
    let path = blob_path(dir, &sha);
    if path.is_file() {
        return Ok(sha);
    }
    let parent = path.parent().unwrap_or(dir);
    create_private_dir(parent)?;
    let io = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::StorageFull {
            Error::Full(path.display().to_string())
        } else {
            Error::Io(format!("{} : {e}", path.display()))
        }
    };
    let tmp = parent.join(format!(".{sha}.{}.tmp", std::process::id()));
    let written = private_file(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    if let Ok(d) = std::fs::File::open(parent) {
        let _ = d.sync_all();
    }
    Ok(sha)
}

fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// A folder readable by its owner only (an event holds documents about patients).
pub fn create_private_dir(dir: &Path) -> Result<(), Error> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .map_err(|e| Error::Io(format!("{} : {e}", dir.display())))
}

/// Append one entry to the audit log: who, when, what changed from what to what, and why.
/// Each entry's hash covers the previous entry's hash and its own fields, so editing,
/// inserting or removing a row in the middle breaks the chain (`banc event audit --verify`).
#[allow(clippy::too_many_arguments)]
pub fn audit(
    tx: &Transaction<'_>,
    actor: &str,
    subject: &str,
    action: &str,
    before: Option<&str>,
    after: Option<&str>,
    reason: Option<&str>,
) -> Result<(), Error> {
    let (seq, prev): (i64, String) = tx
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .map_or((0, GENESIS.to_string()), |(s, h)| (s, h));
    let seq = seq + 1;
    let at = crate::clock::Utc::now().rfc3339();
    let entry = AuditEntry {
        seq,
        at,
        actor: actor.to_string(),
        subject: subject.to_string(),
        action: action.to_string(),
        before: before.map(String::from),
        after: after.map(String::from),
        reason: reason.map(String::from),
        prev,
        hash: String::new(),
    };
    let hash = entry.chained_hash();
    tx.execute(
        "INSERT INTO audit (seq, at, actor, subject, action, before, after, reason, prev, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            entry.seq,
            entry.at,
            entry.actor,
            entry.subject,
            entry.action,
            entry.before,
            entry.after,
            entry.reason,
            entry.prev,
            hash
        ],
    )?;
    Ok(())
}

/// Sign the chain's head (its last entry's number and hash) with the event's key, kept in
/// `meta`: truncating the log, or recomputing the whole chain without the key, is detected.
fn sign_head(tx: &Transaction<'_>, dir: &Path) -> Result<(), Error> {
    let Some((seq, hash)) = tx
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()?
    else {
        return Ok(());
    };
    let key = super::signing_key(dir)?;
    let sig = ed25519_dalek::Signer::sign(&key, head_message(seq, &hash).as_bytes());
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('audit_head', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [format!("{seq} {hash} {}", hex::encode(sig.to_bytes()))],
    )?;
    Ok(())
}

fn head_message(seq: i64, hash: &str) -> String {
    format!("banc-audit-head/1 {seq} {hash}")
}

/// Check the signed head against the last entry: None when it holds (or no head was signed:
/// an empty log).
pub fn verify_head(
    head: Option<&str>,
    last: Option<&AuditEntry>,
    key: &ed25519_dalek::VerifyingKey,
) -> Option<String> {
    let (Some(head), Some(last)) = (head, last) else {
        return match (head, last) {
            (None, None) => None,
            (None, Some(_)) => Some("tête du journal non signée".into()),
            (Some(_), None) => Some("journal vidé : la tête signée annonce des entrées".into()),
            _ => None,
        };
    };
    let parts: Vec<&str> = head.split(' ').collect();
    let [seq, hash, sig] = parts[..] else {
        return Some("tête signée illisible".into());
    };
    let sig = hex::decode(sig)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| ed25519_dalek::Signature::from_bytes(&b));
    let msg = head_message(seq.parse().unwrap_or(-1), hash);
    if sig.is_none_or(|s| ed25519_dalek::Verifier::verify(key, msg.as_bytes(), &s).is_err()) {
        return Some("signature de la tête du journal invalide (chaîne recalculée sans la clé de l'événement ?)".into());
    }
    if seq != last.seq.to_string() || hash != last.hash {
        return Some(format!(
            "la tête signée est l'entrée {seq}, le journal s'arrête à l'entrée {} : entrées retirées ou ajoutées hors de banc",
            last.seq
        ));
    }
    None
}

/// The `prev` of the first audit entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One row of the audit log.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub subject: String,
    pub action: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub reason: Option<String>,
    pub prev: String,
    pub hash: String,
}

impl AuditEntry {
    /// sha256 over the previous hash and every field, each length-prefixed (no separator can
    /// be forged by a field's text).
    pub fn chained_hash(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |s: &str| {
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        };
        field(&self.prev);
        field(&self.seq.to_string());
        field(&self.at);
        field(&self.actor);
        field(&self.subject);
        field(&self.action);
        for o in [&self.before, &self.after, &self.reason] {
            match o {
                Some(s) => field(&format!("+{s}")),
                None => field("-"),
            }
        }
        hex::encode(h.finalize())
    }
}

/// Every audit entry, in order.
pub fn audit_log(conn: &Connection) -> Result<Vec<AuditEntry>, Error> {
    let mut st = conn.prepare(
        "SELECT seq, at, actor, subject, action, before, after, reason, prev, hash
         FROM audit ORDER BY seq",
    )?;
    let rows = st.query_map([], |r| {
        Ok(AuditEntry {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            subject: r.get(3)?,
            action: r.get(4)?,
            before: r.get(5)?,
            after: r.get(6)?,
            reason: r.get(7)?,
            prev: r.get(8)?,
            hash: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Check the chain: the first entry whose hash or link is wrong, and why; None when intact.
pub fn verify_chain(entries: &[AuditEntry]) -> Option<(i64, String)> {
    let mut prev = GENESIS.to_string();
    for (expected_seq, e) in (1..).zip(entries) {
        if e.seq != expected_seq {
            return Some((
                e.seq,
                format!("entrée {expected_seq} manquante (suivante : {})", e.seq),
            ));
        }
        if e.prev != prev {
            return Some((
                e.seq,
                "lien rompu : l'empreinte de l'entrée précédente ne correspond pas".into(),
            ));
        }
        if e.chained_hash() != e.hash {
            return Some((
                e.seq,
                "entrée modifiée : son empreinte ne correspond plus à son contenu".into(),
            ));
        }
        prev = e.hash.clone();
    }
    None
}
