//! A projectathon event (`banc event …`): the participants and their systems, one test instance
//! per scenario × participant × role, the attempts played by the runner, the monitors'
//! decisions, an append-only hash-chained audit log, computed scores and signed evidence
//! bundles — all in one folder: a SQLite database and content-addressed blobs ([`store`]).
//!
//! Instance ids are `participant/scenario/role`. An instance's status is its latest attempt's,
//! then the decisions made on it: `not-started`, `running`, `passed`, `failed`, `to-verify`
//! (automated part passed, a person must decide), `verified`, `partially-verified`,
//! `rejected`, `skipped` (prerequisite not met), `interrupted`.

pub mod access;
pub mod bundle;
pub mod detail;
pub mod live;
pub mod monitor;
pub mod play;
pub mod score;
pub mod store;

use crate::clock::Utc;
use crate::scenario::model::{Participant, Role, Suite};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use store::Store;

/// Why an event command could not do its work; nothing was written when it failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A wrong request: unknown participant or instance, nothing to decide, a suite changed...
    #[error("{0}")]
    Invalid(String),
    /// The database is held by another banc process beyond the busy timeout.
    #[error(
        "base de l'événement occupée par un autre processus banc depuis {}s : réessayer quand il aura fini",
        store::BUSY_TIMEOUT.as_secs()
    )]
    Busy,
    /// The disk is full: the change was rolled back.
    #[error("disque plein : rien n'a été écrit ({0})")]
    Full(String),
    #[error("base de l'événement : {0}")]
    Db(String),
    #[error("{0}")]
    Io(String),
    /// The runner could not play (suite, kit, listeners).
    #[error(transparent)]
    Run(#[from] crate::scenario::Error),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Busy,
            Some(ErrorCode::DiskFull) => Error::Full(e.to_string()),
            _ => Error::Db(e.to_string()),
        }
    }
}

/// Status of a test instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceStatus {
    NotStarted,
    Running,
    Passed,
    Failed,
    ToVerify,
    Verified,
    PartiallyVerified,
    Rejected,
    Skipped,
    Interrupted,
}

impl InstanceStatus {
    pub const ALL: [InstanceStatus; 10] = [
        InstanceStatus::NotStarted,
        InstanceStatus::Running,
        InstanceStatus::Passed,
        InstanceStatus::Failed,
        InstanceStatus::ToVerify,
        InstanceStatus::Verified,
        InstanceStatus::PartiallyVerified,
        InstanceStatus::Rejected,
        InstanceStatus::Skipped,
        InstanceStatus::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::NotStarted => "not-started",
            InstanceStatus::Running => "running",
            InstanceStatus::Passed => "passed",
            InstanceStatus::Failed => "failed",
            InstanceStatus::ToVerify => "to-verify",
            InstanceStatus::Verified => "verified",
            InstanceStatus::PartiallyVerified => "partially-verified",
            InstanceStatus::Rejected => "rejected",
            InstanceStatus::Skipped => "skipped",
            InstanceStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<InstanceStatus> {
        InstanceStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn label_fr(self) -> &'static str {
        match self {
            InstanceStatus::NotStarted => "non commencé",
            InstanceStatus::Running => "en cours",
            InstanceStatus::Passed => "réussi",
            InstanceStatus::Failed => "échoué",
            InstanceStatus::ToVerify => "à vérifier",
            InstanceStatus::Verified => "vérifié",
            InstanceStatus::PartiallyVerified => "partiellement vérifié",
            InstanceStatus::Rejected => "rejeté",
            InstanceStatus::Skipped => "non joué (prérequis)",
            InstanceStatus::Interrupted => "interrompu",
        }
    }

    /// The instance's status after an attempt ended with the runner's `status`.
    pub fn of_run(status: crate::scenario::results::Status) -> InstanceStatus {
        use crate::scenario::results::Status as S;
        match status {
            S::Passed => InstanceStatus::Passed,
            S::Failed | S::Error => InstanceStatus::Failed,
            S::Pending => InstanceStatus::ToVerify,
            S::Skipped => InstanceStatus::Skipped,
            S::Interrupted => InstanceStatus::Interrupted,
        }
    }

    /// Passed, or verified by a person: what grading counts as done.
    pub fn achieved(self) -> bool {
        matches!(self, InstanceStatus::Passed | InstanceStatus::Verified)
    }

    /// Waiting for something (a run, a person): neither achieved nor failed yet.
    pub fn open(self) -> bool {
        matches!(
            self,
            InstanceStatus::NotStarted
                | InstanceStatus::Running
                | InstanceStatus::ToVerify
                | InstanceStatus::Interrupted
        )
    }
}

/// `participant/scenario/role`.
pub fn instance_id(participant: &str, scenario: &str, role: Role) -> String {
    format!("{participant}/{scenario}/{}", role.as_str())
}

/// What `banc event init` needs.
#[derive(Debug, Clone)]
pub struct InitRequest {
    pub dir: PathBuf,
    pub suites: Vec<PathBuf>,
    pub participants: Option<PathBuf>,
    pub title: Option<String>,
    /// Register banc's four simulated participants (a lab and a receiver, each well-behaved
    /// and faulty) so that the event can be played offline.
    pub rehearsal: bool,
}

/// What an init created.
#[derive(Debug, Clone, Serialize)]
pub struct InitSummary {
    pub dir: String,
    pub id: String,
    pub title: String,
    pub suites: Vec<String>,
    pub participants: usize,
    pub instances: usize,
    /// The event's Ed25519 public key (hex): evidence bundles are signed with its secret key.
    pub public_key: String,
}

/// A suite's files, hashed: what an event records at init and compares at each run.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct SuitePrint {
    /// sha256 over every file's relative path and sha256, in path order.
    pub hash: String,
    pub files: BTreeMap<String, String>,
}

/// Hash every file of a suite folder (links leading out of it are not followed).
pub fn suite_print(dir: &Path) -> Result<SuitePrint, Error> {
    let scope = crate::scenario::scope::Scope::new(dir).map_err(Error::Invalid)?;
    let mut files = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| scope.contains(e.path()).is_ok())
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
    {
        let rel = e
            .path()
            .strip_prefix(dir)
            .unwrap_or(e.path())
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = crate::files::read_bounded(e.path(), 256 * 1024 * 1024)
            .map_err(|x| Error::Io(x.to_string()))?;
        files.insert(rel, hex::encode(Sha256::digest(&bytes)));
    }
    let mut h = Sha256::new();
    for (p, s) in &files {
        h.update(p.as_bytes());
        h.update([0]);
        h.update(s.as_bytes());
        h.update([b'\n']);
    }
    Ok(SuitePrint {
        hash: format!("sha256:{}", hex::encode(h.finalize())),
        files,
    })
}

/// What changed between two prints of a suite, in French (empty when nothing did).
pub fn suite_changes(old: &SuitePrint, new: &SuitePrint) -> Vec<String> {
    let mut out = Vec::new();
    for (p, s) in &new.files {
        match old.files.get(p) {
            None => out.push(format!("ajouté : {p}")),
            Some(o) if o != s => out.push(format!("modifié : {p}")),
            _ => {}
        }
    }
    for p in old.files.keys() {
        if !new.files.contains_key(p) {
            out.push(format!("supprimé : {p}"));
        }
    }
    out
}

fn load_suite(dir: &Path) -> Result<Suite, Error> {
    crate::scenario::run::load_checked(dir, None)
        .map(|(s, _)| s)
        .map_err(Error::from)
}

/// The event's signing key file (secret: owner-only).
pub const KEY_FILE: &str = "event.key";

/// `banc event init`: create the event's store, register the suites, the participants and
/// their instances, and the event's signing key.
pub fn init(a: &InitRequest) -> Result<InitSummary, Error> {
    if a.suites.is_empty() {
        return Err(Error::Invalid("au moins une suite (--suite DIR)".into()));
    }
    if a.participants.is_none() && !a.rehearsal {
        return Err(Error::Invalid(
            "des participants : --participants FICHIER, ou --rehearsal pour les simulateurs de banc"
                .into(),
        ));
    }
    let mut suites = Vec::new();
    for dir in &a.suites {
        let dir =
            std::path::absolute(dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
        let s = load_suite(&dir)?;
        let print = suite_print(&dir)?;
        suites.push((s, print));
    }
    // Scenario ids name instances: two suites may not share one.
    let mut seen = std::collections::HashMap::new();
    let mut ids = std::collections::HashSet::new();
    for (s, _) in &suites {
        if !ids.insert(s.meta.id.clone()) {
            return Err(Error::Invalid(format!(
                "la suite {} est donnée deux fois",
                s.meta.id
            )));
        }
    }
    for (s, _) in &suites {
        for sc in &s.scenarios {
            if let Some(other) = seen.insert(sc.id.clone(), s.meta.id.clone()) {
                return Err(Error::Invalid(format!(
                    "le scénario {} est dans les suites {other} et {} : un événement ne peut pas les réunir",
                    sc.id, s.meta.id
                )));
            }
        }
    }
    let mut participants: Vec<(Participant, Option<String>)> = Vec::new();
    let participants_file = match &a.participants {
        Some(p) => {
            let p =
                std::path::absolute(p).map_err(|e| Error::Io(format!("{}: {e}", p.display())))?;
            let pf = crate::scenario::model::load_participants(&p)
                .map_err(|e| Error::Invalid(e.to_string()))?;
            for s in suites.iter().map(|(s, _)| s) {
                let errors: Vec<String> = crate::scenario::lint::check(s, Some(&pf))
                    .into_iter()
                    .filter(|i| i.severity == crate::finding::Severity::Error)
                    .map(|i| i.to_string())
                    .collect();
                if !errors.is_empty() {
                    return Err(Error::Invalid(format!(
                        "participants invalides :\n{}",
                        errors.join("\n")
                    )));
                }
            }
            participants.extend(pf.participants.into_iter().map(|p| (p, None)));
            Some(p)
        }
        None => None,
    };
    if a.rehearsal {
        let has = |r: Role| {
            suites
                .iter()
                .any(|(s, _)| s.scenarios.iter().any(|x| x.role == r))
        };
        let (lf, rf) = crate::simulate::default_faults();
        for (p, text) in
            crate::simulate::cast_participants(&lf, &rf, has(Role::Producer), has(Role::Consumer))
        {
            if participants.iter().any(|(q, _)| q.id == p.id) {
                return Err(Error::Invalid(format!(
                    "--rehearsal : le participant {} existe déjà dans le fichier des participants",
                    p.id
                )));
            }
            participants.push((p, Some(text)));
        }
    }
    for (p, _) in &participants {
        check_id("participant", &p.id)?;
    }
    for (s, _) in &suites {
        for sc in &s.scenarios {
            check_id("scénario", &sc.id)?;
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Error::Io(format!("aléa du système : {e}")))?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = hex::encode(key.verifying_key().to_bytes());
    let mut id_bytes = [0u8; 8];
    getrandom::fill(&mut id_bytes).map_err(|e| Error::Io(format!("aléa du système : {e}")))?;
    let id = hex::encode(id_bytes);
    let title = a
        .title
        .clone()
        .unwrap_or_else(|| format!("Projectathon {}", suites[0].0.meta.title));
    let participants_hash = match &participants_file {
        Some(p) => file_hash(p)?,
        None => String::new(),
    };
    let mut store = Store::create(&a.dir)?;
    let now = Utc::now().rfc3339();
    let created =
        write_secret(&a.dir.join(KEY_FILE), hex::encode(seed).as_bytes()).and_then(|()| {
            store.write(|tx| {
                let meta = [
                    ("id", id.clone()),
                    ("title", title.clone()),
                    ("created", now.clone()),
                    ("banc", env!("CARGO_PKG_VERSION").to_string()),
                    ("public_key", public.clone()),
                    ("rehearsal", a.rehearsal.to_string()),
                    (
                        "participants_file",
                        participants_file
                            .as_ref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                    ),
                    ("participants_hash", participants_hash.clone()),
                ];
                for (k, v) in meta {
                    tx.execute(
                        "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                        params![k, v],
                    )?;
                }
                store::audit(tx, "banc", "événement", "init", None, Some(&title), None)?;
                for (s, print) in &suites {
                    insert_suite(tx, s, print)?;
                }
                let mut n = 0;
                for (p, simulated) in &participants {
                    n += register(tx, p, simulated.as_deref(), &suites)?;
                }
                Ok(n)
            })
        });
    // A failed init leaves no half event behind (a retry would find "already an event").
    let instances = match created {
        Ok(n) => n,
        Err(e) => {
            drop(store);
            for f in [store::DB, "event.db-wal", "event.db-shm", KEY_FILE] {
                let _ = std::fs::remove_file(a.dir.join(f));
            }
            let _ = std::fs::remove_dir_all(a.dir.join("blobs"));
            return Err(e);
        }
    };
    Ok(InitSummary {
        dir: a.dir.display().to_string(),
        id,
        title,
        suites: suites.iter().map(|(s, _)| s.meta.id.clone()).collect(),
        participants: participants.len(),
        instances,
        public_key: public,
    })
}

/// Ids name instances (`participant/scenario/role`) and folders: letters, digits, `.`, `_`, `-`.
fn check_id(what: &str, id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} « {id} » : identifiant fait de lettres, chiffres, « . », « _ » et « - » attendu (il nomme des instances et des dossiers)"
        )))
    }
}

/// sha256 of a file (hex), bounded like every auxiliary input.
pub fn file_hash(path: &Path) -> Result<String, Error> {
    let b = crate::files::read_bounded(path, crate::files::MAX_SMALL)
        .map_err(|e| Error::Io(e.to_string()))?;
    Ok(hex::encode(Sha256::digest(&b)))
}

fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let io = |e: std::io::Error| Error::Io(format!("{} : {e}", path.display()));
    let mut f = o.open(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// The event's signing key.
pub fn signing_key(dir: &Path) -> Result<ed25519_dalek::SigningKey, Error> {
    let text = crate::files::read_text(&dir.join(KEY_FILE), 1024)
        .map_err(|e| Error::Io(format!("clé de l'événement : {e}")))?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::Invalid(format!("{} : clé illisible", KEY_FILE)))?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&bytes))
}

fn insert_suite(
    tx: &rusqlite::Transaction<'_>,
    s: &Suite,
    print: &SuitePrint,
) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO suites (id, dir, title, version, hash, files, grading) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            s.meta.id,
            s.dir.display().to_string(),
            s.meta.title,
            s.meta.version,
            print.hash,
            serde_json::to_string(&print.files).unwrap_or_default(),
            serde_json::to_string(&s.meta.grading).unwrap_or_default(),
        ],
    )?;
    store::audit(
        tx,
        "banc",
        &format!("suite {}", s.meta.id),
        "suite",
        None,
        Some(&format!(
            "{} {}",
            s.meta.version.as_deref().unwrap_or("?"),
            print.hash
        )),
        None,
    )?;
    Ok(())
}

/// Register a participant and create its instances (one per scenario of each of its roles);
/// the number of instances created.
fn register(
    tx: &rusqlite::Transaction<'_>,
    p: &Participant,
    simulated: Option<&str>,
    suites: &[(Suite, SuitePrint)],
) -> Result<usize, Error> {
    tx.execute(
        "INSERT INTO participants (id, organisation, system, roles, mailbox, simulated) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            p.id,
            p.organisation,
            p.system,
            p.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
            p.mailbox,
            simulated
        ],
    )?;
    store::audit(
        tx,
        "banc",
        &format!("participant {}", p.id),
        "inscription",
        None,
        Some(&format!("{} — {}", p.organisation, p.system)),
        simulated,
    )?;
    let now = Utc::now().rfc3339();
    let mut n = 0;
    for (s, _) in suites {
        for sc in s.scenarios.iter().filter(|sc| p.roles.contains(&sc.role)) {
            upsert_instance(tx, &p.id, &s.meta.id, sc, &now)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Create the instance of `scenario` for a participant, or bring a changed scenario's level,
/// requirement and title up to date (and un-retire it).
fn upsert_instance(
    tx: &rusqlite::Transaction<'_>,
    participant: &str,
    suite: &str,
    sc: &crate::scenario::model::Scenario,
    now: &str,
) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO instances (id, participant, suite, scenario, role, level, required, title, status, since)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'not-started', ?9)
         ON CONFLICT(id) DO UPDATE SET level = excluded.level, required = excluded.required,
            title = excluded.title, retired = 0",
        params![
            instance_id(participant, &sc.id, sc.role),
            participant,
            suite,
            sc.id,
            sc.role.as_str(),
            sc.level.as_str(),
            sc.required,
            sc.title,
            now
        ],
    )?;
    Ok(())
}

/// A registered suite, as recorded at init (or at the last accepted change).
#[derive(Debug, Clone)]
pub struct SuiteRecord {
    pub id: String,
    pub dir: PathBuf,
    pub version: Option<String>,
    pub print: SuitePrint,
    pub grading: crate::scenario::model::Grading,
}

pub fn suites(conn: &rusqlite::Connection) -> Result<Vec<SuiteRecord>, Error> {
    let mut st =
        conn.prepare("SELECT id, dir, version, hash, files, grading FROM suites ORDER BY id")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, dir, version, hash, files, grading) = row?;
        out.push(SuiteRecord {
            id,
            dir: PathBuf::from(dir),
            version,
            print: SuitePrint {
                hash,
                files: serde_json::from_str(&files).unwrap_or_default(),
            },
            grading: serde_json::from_str(&grading).unwrap_or_default(),
        });
    }
    Ok(out)
}

/// Load the event's suites from their folders, refusing one that changed since it was
/// recorded (saying what changed) unless `accept` — then the new version is recorded (audit)
/// and instances are created for scenarios it adds.
pub fn checked_suites(store: &mut Store, accept: bool, actor: &str) -> Result<Vec<Suite>, Error> {
    let records = suites(store.conn())?;
    let mut out = Vec::new();
    for r in records {
        let suite = load_suite(&r.dir)?;
        let print = suite_print(&r.dir)?;
        if print.hash != r.print.hash {
            let changes = suite_changes(&r.print, &print);
            let version = match (&r.version, &suite.meta.version) {
                (a, b) if a != b => format!(
                    " ; version {} → {}",
                    a.as_deref().unwrap_or("?"),
                    b.as_deref().unwrap_or("?")
                ),
                _ => String::new(),
            };
            if !accept {
                return Err(Error::Invalid(format!(
                    "la suite {} a changé depuis l'inscription de l'événement{version} :\n  {}\nrelancer avec --accept-suite-change pour jouer la nouvelle version (les tentatives passées gardent l'ancienne)",
                    r.id,
                    changes.join("\n  ")
                )));
            }
            accept_suite_change(store, &suite, &r, &print, &changes, actor)?;
        }
        out.push(suite);
    }
    Ok(out)
}

fn accept_suite_change(
    store: &mut Store,
    suite: &Suite,
    old: &SuiteRecord,
    print: &SuitePrint,
    changes: &[String],
    actor: &str,
) -> Result<(), Error> {
    let participants = participants(store.conn())?;
    store.write(|tx| {
        tx.execute(
            "UPDATE suites SET version = ?2, hash = ?3, files = ?4, grading = ?5, title = ?6 WHERE id = ?1",
            params![
                suite.meta.id,
                suite.meta.version,
                print.hash,
                serde_json::to_string(&print.files).unwrap_or_default(),
                serde_json::to_string(&suite.meta.grading).unwrap_or_default(),
                suite.meta.title,
            ],
        )?;
        store::audit(
            tx,
            actor,
            &format!("suite {}", suite.meta.id),
            "suite-change",
            Some(&old.print.hash),
            Some(&print.hash),
            Some(&changes.join(" ; ")),
        )?;
        let now = Utc::now().rfc3339();
        // New scenarios get instances; changed ones their new level, requirement and title.
        for p in &participants {
            for sc in suite.scenarios.iter().filter(|sc| p.roles.contains(&sc.role)) {
                upsert_instance(tx, &p.id, &suite.meta.id, sc, &now)?;
            }
        }
        // Scenarios the suite no longer has: their instances are retired (kept with their
        // history, neither played nor graded).
        let gone: Vec<String> = {
            let mut q = tx.prepare("SELECT id, scenario FROM instances WHERE suite = ?1 AND retired = 0")?;
            q.query_map([&suite.meta.id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                .filter_map(Result::ok)
                .filter(|(_, sc)| suite.scenario(sc).is_none())
                .map(|(id, _)| id)
                .collect()
        };
        for id in gone {
            tx.execute("UPDATE instances SET retired = 1 WHERE id = ?1", [&id])?;
            store::audit(tx, actor, &id, "retrait", None, None, Some("scénario retiré de la suite"))?;
        }
        Ok(())
    })
}

/// A registered participant.
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantRow {
    pub id: String,
    pub organisation: String,
    pub system: String,
    pub roles: Vec<Role>,
    pub mailbox: Option<String>,
    /// For banc's simulators: what it simulates.
    pub simulated: Option<String>,
}

pub fn participants(conn: &rusqlite::Connection) -> Result<Vec<ParticipantRow>, Error> {
    let mut st = conn.prepare(
        "SELECT id, organisation, system, roles, mailbox, simulated FROM participants ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        let roles: String = r.get(3)?;
        Ok(ParticipantRow {
            id: r.get(0)?,
            organisation: r.get(1)?,
            system: r.get(2)?,
            roles: roles.split(',').filter_map(Role::parse).collect(),
            mailbox: r.get(4)?,
            simulated: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One test instance, with its latest attempt.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceRow {
    /// `participant/scenario/role`.
    #[serde(rename = "instance")]
    pub id: String,
    pub participant: String,
    pub suite: String,
    pub scenario: String,
    pub role: String,
    pub level: String,
    pub required: bool,
    pub title: String,
    pub status: InstanceStatus,
    /// When the status last changed (RFC 3339).
    pub since: String,
    pub claimed_by: Option<String>,
    /// Attempts made so far.
    pub attempts: i64,
    /// The latest attempt's reason (why it failed, was skipped...).
    pub reason: Option<String>,
    /// Its scenario left the suite (accepted suite change): kept, neither played nor graded.
    pub retired: bool,
}

const INSTANCE_SELECT: &str = "SELECT i.id, i.participant, i.suite, i.scenario, i.role, i.level, i.required, i.title, i.status, i.since, i.claimed_by,
        (SELECT COUNT(*) FROM attempts a WHERE a.instance = i.id),
        (SELECT a.reason FROM attempts a WHERE a.instance = i.id ORDER BY a.number DESC LIMIT 1),
        i.retired
     FROM instances i";

fn instance_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<InstanceRow> {
    let status: String = r.get(8)?;
    Ok(InstanceRow {
        id: r.get(0)?,
        participant: r.get(1)?,
        suite: r.get(2)?,
        scenario: r.get(3)?,
        role: r.get(4)?,
        level: r.get(5)?,
        required: r.get(6)?,
        title: r.get(7)?,
        status: InstanceStatus::parse(&status).unwrap_or(InstanceStatus::NotStarted),
        since: r.get(9)?,
        claimed_by: r.get(10)?,
        attempts: r.get(11)?,
        reason: r.get(12)?,
        retired: r.get(13)?,
    })
}

/// Every instance (optionally of one participant), by participant, role and scenario.
pub fn instances(
    conn: &rusqlite::Connection,
    participant: Option<&str>,
) -> Result<Vec<InstanceRow>, Error> {
    let sql = format!(
        "{INSTANCE_SELECT} WHERE (?1 IS NULL OR i.participant = ?1) ORDER BY i.participant, i.role, i.scenario"
    );
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map([participant], instance_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn instance(conn: &rusqlite::Connection, id: &str) -> Result<InstanceRow, Error> {
    let sql = format!("{INSTANCE_SELECT} WHERE i.id = ?1");
    conn.query_row(&sql, [id], instance_row)
        .optional()?
        .ok_or_else(|| unknown_instance(conn, id))
}

fn unknown_instance(conn: &rusqlite::Connection, id: &str) -> Error {
    let hint = id
        .split('/')
        .next()
        .and_then(|p| {
            conn.query_row(
                "SELECT id FROM instances WHERE participant = ?1 LIMIT 1",
                [p],
                |r| r.get::<_, String>(0),
            )
            .ok()
        })
        .map(|e| format!(" (exemple d'instance de ce participant : {e})"))
        .unwrap_or_else(|| " (forme participant/scénario/rôle, voir banc event status)".into());
    Error::Invalid(format!("instance inconnue : {id}{hint}"))
}

/// One attempt of an instance.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptRow {
    pub id: i64,
    pub instance: String,
    pub number: i64,
    pub run: Option<i64>,
    /// The runner's status (`running` while it plays).
    pub status: String,
    pub reason: Option<String>,
    pub partner: String,
    pub started: String,
    pub finished: Option<String>,
    pub banc: String,
    pub kit: Option<String>,
    /// sha256 of the attempt's report (`banc-run/1` scenario result, JSON).
    pub report: Option<String>,
}

pub fn attempts(conn: &rusqlite::Connection, instance: &str) -> Result<Vec<AttemptRow>, Error> {
    let mut st = conn.prepare(
        "SELECT id, instance, number, run, status, reason, partner, started, finished, banc, kit, report
         FROM attempts WHERE instance = ?1 ORDER BY number",
    )?;
    let rows = st.query_map([instance], |r| {
        Ok(AttemptRow {
            id: r.get(0)?,
            instance: r.get(1)?,
            number: r.get(2)?,
            run: r.get(3)?,
            status: r.get(4)?,
            reason: r.get(5)?,
            partner: r.get(6)?,
            started: r.get(7)?,
            finished: r.get(8)?,
            banc: r.get(9)?,
            kit: r.get(10)?,
            report: r.get(11)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Change an instance's status (in the caller's transaction), with its audit entry.
pub fn set_status(
    tx: &rusqlite::Transaction<'_>,
    instance: &str,
    to: InstanceStatus,
    actor: &str,
    reason: Option<&str>,
) -> Result<(), Error> {
    let before: String = tx.query_row(
        "SELECT status FROM instances WHERE id = ?1",
        [instance],
        |r| r.get(0),
    )?;
    tx.execute(
        "UPDATE instances SET status = ?2, since = ?3 WHERE id = ?1",
        params![instance, to.as_str(), Utc::now().rfc3339()],
    )?;
    store::audit(
        tx,
        actor,
        instance,
        "statut",
        Some(&before),
        Some(to.as_str()),
        reason,
    )
}

/// Mark the attempts of runs whose process is gone (killed, crashed) `interrupted`: a run
/// holds a lock on `runs/<id>.lock` while it plays; a lock that can be taken is a dead run's.
/// The number of attempts marked.
pub fn recover(store: &mut Store) -> Result<usize, Error> {
    let open: Vec<i64> = {
        let mut st = store
            .conn()
            .prepare("SELECT id FROM runs WHERE finished IS NULL")?;
        st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    let mut marked = 0;
    for run in open {
        let lock = run_lock_path(&store.dir, run);
        let _held = match play::RunLock::try_take(&lock) {
            play::Lock::Held => continue,
            play::Lock::Taken(l) => Some(l),
            // No lock file: the run never got to play (or its folder was removed).
            play::Lock::Missing => None,
            play::Lock::Failed(e) => {
                tracing::warn!("banc event : verrou {} illisible : {e}", lock.display());
                continue;
            }
        };
        marked += store.write(|tx| {
            close_run(
                tx,
                run,
                "banc",
                "processus de banc arrêté brutalement pendant la tentative",
            )
        })?;
    }
    // An instance left `running` by a run that ended without saying how it ended (a panic in a
    // scenario, a record that could not be written).
    let stale: Vec<String> = {
        let mut st = store.conn().prepare(
            "SELECT i.id FROM instances i WHERE i.status = 'running'
             AND (i.run IS NULL OR EXISTS (SELECT 1 FROM runs r WHERE r.id = i.run AND r.finished IS NOT NULL))",
        )?;
        st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    if !stale.is_empty() {
        store.write(|tx| {
            for id in &stale {
                set_status(
                    tx,
                    id,
                    InstanceStatus::Interrupted,
                    "banc",
                    Some("exécution terminée sans fin de tentative enregistrée"),
                )?;
            }
            Ok(())
        })?;
    }
    Ok(marked + stale.len())
}

/// End a run in the caller's transaction: its attempts still `running` become `interrupted`
/// (with `why`), its instances are released. The number of attempts cut.
pub fn close_run(
    tx: &rusqlite::Transaction<'_>,
    run: i64,
    actor: &str,
    why: &str,
) -> Result<usize, Error> {
    let cut: Vec<(i64, String)> = {
        let mut st =
            tx.prepare("SELECT id, instance FROM attempts WHERE run = ?1 AND status = 'running'")?;
        st.query_map([run], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    let now = Utc::now().rfc3339();
    for (attempt, instance) in &cut {
        tx.execute(
            "UPDATE attempts SET status = 'interrupted', finished = ?2, reason = ?3 WHERE id = ?1",
            params![attempt, now, why],
        )?;
        set_status(
            tx,
            instance,
            InstanceStatus::Interrupted,
            actor,
            Some(&format!("exécution {run} : {why}")),
        )?;
    }
    tx.execute("UPDATE instances SET run = NULL WHERE run = ?1", [run])?;
    tx.execute(
        "UPDATE runs SET finished = ?2 WHERE id = ?1",
        params![run, now],
    )?;
    Ok(cut.len())
}

/// What `banc event audit --verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct AuditCheck {
    pub entries: usize,
    /// Each problem, in French; empty when the log holds.
    pub problems: Vec<String>,
}

/// Check the audit log: its hash chain, its head signed with the event's key (nothing removed
/// at the end, nothing recomputed without the key), and that the state the scores are computed
/// from — each instance's status, each override — is the one its last audit entry says.
pub fn verify_audit(store: &Store) -> Result<AuditCheck, Error> {
    let conn = store.conn();
    let entries = store::audit_log(conn)?;
    let mut problems = Vec::new();
    if let Some((seq, why)) = store::verify_chain(&entries) {
        problems.push(format!("entrée {seq} : {why}"));
    }
    let key = hex::decode(store.meta("public_key")?.unwrap_or_default())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok());
    match key {
        Some(k) => {
            if let Some(why) =
                store::verify_head(store.meta("audit_head")?.as_deref(), entries.last(), &k)
            {
                problems.push(why);
            }
        }
        None => problems.push("clé publique de l'événement illisible".into()),
    }
    let mut last_status: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    let mut last_grade: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for e in &entries {
        match e.action.as_str() {
            "statut" => {
                last_status.insert(&e.subject, e.after.as_deref().unwrap_or(""));
            }
            "note imposée" => {
                last_grade.insert(&e.subject, e.after.as_deref().unwrap_or(""));
            }
            _ => {}
        }
    }
    for i in instances(conn, None)? {
        let logged = last_status
            .get(i.id.as_str())
            .copied()
            .unwrap_or("not-started");
        if logged != i.status.as_str() {
            problems.push(format!(
                "{} : statut « {} » en base, « {logged} » d'après le journal (modifié hors de banc)",
                i.id,
                i.status.as_str()
            ));
        }
    }
    let mut latest: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for o in monitor::overrides(conn)? {
        latest.insert(format!("{}/{}", o.participant, o.role), o.grade);
    }
    for (subject, grade) in &latest {
        if last_grade.get(subject.as_str()).copied() != Some(grade.as_str()) {
            problems.push(format!(
                "{subject} : note imposée « {grade} » sans entrée d'audit correspondante"
            ));
        }
    }
    Ok(AuditCheck {
        entries: entries.len(),
        problems,
    })
}

pub fn run_lock_path(dir: &Path, run: i64) -> PathBuf {
    dir.join("runs").join(format!("{run}.lock"))
}

/// Open an event for a command that changes it: the store, with the attempts of dead runs
/// marked interrupted first.
pub fn open_for_change(dir: &Path) -> Result<Store, Error> {
    let mut store = Store::open(dir)?;
    recover(&mut store)?;
    Ok(store)
}

/// The event's title, id and public key.
#[derive(Debug, Clone, Serialize)]
pub struct EventInfo {
    pub id: String,
    pub title: String,
    pub created: String,
    pub public_key: String,
    pub rehearsal: bool,
}

pub fn info(store: &Store) -> Result<EventInfo, Error> {
    let get = |k: &str| -> Result<String, Error> { Ok(store.meta(k)?.unwrap_or_default()) };
    Ok(EventInfo {
        id: get("id")?,
        title: get("title")?,
        created: get("created")?,
        public_key: get("public_key")?,
        rehearsal: get("rehearsal")? == "true",
    })
}
