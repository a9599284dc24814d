//! `banc event run` and `banc event rerun`: instances played by the runner of `banc run`
//! (same SMTP server, HTTP listener, submissions), each attempt recorded as it goes — its
//! start, every step with what it used (blobs), its end — so that a run cut by Ctrl-C,
//! SIGTERM or SIGKILL loses nothing already played. A running `event run` holds a lock
//! (`runs/<id>.lock`); the next command finds a dead run's lock free and marks its cut
//! attempts `interrupted` ([`super::recover`]).

use super::store::{self, Store};
use super::{Error, InstanceStatus, instance_id};
use crate::clock::Utc;
use crate::pipeline::CheckOptions;
use crate::scenario::inbox::Board;
use crate::scenario::model::{Participant, Role, Scenario};
use crate::scenario::results::{ScenarioResult, Status, StepResult};
use crate::scenario::run::{self, Env, Observer, Plan, RunOptions};
use crate::scenario::steps::Output;
use rusqlite::params;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// An exclusive lock on a file (flock), released when dropped or when the process dies.
pub struct RunLock {
    _file: std::fs::File,
}

/// What trying a run's lock found.
pub enum Lock {
    /// Taken: nobody held it (a dead run's, or a new one).
    Taken(RunLock),
    /// Another process (or handle) holds it: the run is alive.
    Held,
    /// The lock file does not exist.
    Missing,
    /// It could not be tried (permissions...).
    Failed(String),
}

impl RunLock {
    /// Try the lock of an existing run (`create`: false) or a new one.
    fn try_open(path: &Path, create: bool) -> Lock {
        let file = match std::fs::OpenOptions::new()
            .create(create)
            .truncate(false)
            .write(true)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lock::Missing,
            Err(e) => return Lock::Failed(e.to_string()),
        };
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor this function owns; no memory is shared.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r == 0 {
            return Lock::Taken(RunLock { _file: file });
        }
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::WouldBlock {
            Lock::Held
        } else {
            Lock::Failed(e.to_string())
        }
    }

    /// The lock of an existing run.
    pub fn try_take(path: &Path) -> Lock {
        RunLock::try_open(path, false)
    }

    /// The lock of a new run (created).
    fn take_new(path: &Path) -> Result<RunLock, Error> {
        match RunLock::try_open(path, true) {
            Lock::Taken(l) => Ok(l),
            Lock::Held => Err(Error::Io(format!("verrou {} déjà pris", path.display()))),
            Lock::Missing => Err(Error::Io(format!("verrou {} introuvable", path.display()))),
            Lock::Failed(e) => Err(Error::Io(format!("verrou {} : {e}", path.display()))),
        }
    }
}

/// What `banc event run` / `rerun` play.
#[derive(Debug, Clone)]
pub struct PlayRequest {
    pub dir: PathBuf,
    /// Only these participants (run).
    pub participants: Vec<String>,
    /// Only these scenarios (run).
    pub scenarios: Vec<String>,
    /// Exactly this instance, as a new attempt (rerun).
    pub rerun: Option<String>,
    /// Play a suite whose files changed since init (recorded in the audit log).
    pub accept_suite_change: bool,
    /// The system the participant exchanged with in these attempts (a registered participant;
    /// default banc itself).
    pub partner: Option<String>,
    /// Who asked, when not the command line (`banc serve`: a participant, a manager): recorded
    /// with the run and in the audit log.
    pub actor: Option<String>,
    pub options: RunOptions,
    pub check: CheckOptions,
}

/// One instance played, and how it ended.
#[derive(Debug, Clone, Serialize)]
pub struct Played {
    pub instance: String,
    pub participant: String,
    pub scenario: String,
    pub role: String,
    pub status: InstanceStatus,
    /// The attempt's number (1 for the first).
    pub attempt: Option<i64>,
    pub reason: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct PlaySummary {
    /// The run's number (null when there was nothing to play).
    pub run: Option<i64>,
    pub interrupted: bool,
    pub played: Vec<Played>,
    /// Instances selected but not played, with their status (already passed, waiting for a
    /// monitor...: use `rerun` to play one again).
    pub left: Vec<(String, InstanceStatus)>,
    /// Attempts of earlier runs found cut (process killed) and marked interrupted.
    pub recovered: usize,
    /// Where the run's reports (results.json, junit.xml, report.html) were written.
    pub reports: Vec<String>,
}

/// Statuses `event run` plays again without being asked: never played, or cut, or skipped
/// because a prerequisite was not met then.
fn playable(s: InstanceStatus) -> bool {
    matches!(
        s,
        InstanceStatus::NotStarted | InstanceStatus::Interrupted | InstanceStatus::Skipped
    )
}

pub fn play(req: &PlayRequest) -> Result<PlaySummary, Error> {
    match prepare(req, None)? {
        Prepared::Nothing(s) => Ok(s),
        Prepared::Ready(r) => run::runtime()?.block_on(play_reserved(*r, Hooks::default())),
    }
}

/// What [`prepare`] found: nothing to play, or a run reserved in the store.
pub enum Prepared {
    Nothing(PlaySummary),
    Ready(Box<Reserved>),
}

/// A run recorded in the store, its lock held and its instances reserved (another process
/// leaves them alone): [`play_reserved`] plays it.
pub struct Reserved {
    st: Store,
    run_id: i64,
    lock: RunLock,
    selected: Vec<super::InstanceRow>,
    suites: Vec<crate::scenario::model::Suite>,
    registered: Vec<super::ParticipantRow>,
    pf: Option<crate::scenario::model::ParticipantsFile>,
    participants_file: String,
    met: HashSet<(String, String)>,
    left: Vec<(String, InstanceStatus)>,
    recovered: usize,
    submissions: PathBuf,
    kit: Option<String>,
    suite_hashes: HashMap<String, String>,
    validator: Arc<crate::pipeline::Validator>,
    options: RunOptions,
    partner: Option<String>,
}

impl Reserved {
    /// The run's number.
    pub fn run(&self) -> i64 {
        self.run_id
    }

    /// The instances it will play.
    pub fn instances(&self) -> Vec<String> {
        self.selected.iter().map(|i| i.id.clone()).collect()
    }
}

/// What a caller running the event in its own runtime gives a run (`banc serve --event`).
#[derive(Default, Clone)]
pub struct Hooks {
    /// banc's SMTP server, shared by the runs of a long-lived process: its address and the
    /// inbox it feeds. None: each suite played gets its own server (`banc event run`). Runs
    /// with banc's simulators always get their own (its TLS is the simulators' stage).
    pub smtp: Option<(String, Arc<Board<crate::scenario::inbox::Received>>)>,
    /// Hears the run as it goes, after the store recorded each change.
    pub observer: Option<Arc<dyn Observer>>,
    /// Notified to stop the run (its attempts end `interrupted`).
    pub abort: Option<Arc<tokio::sync::Notify>>,
}

/// Everything before playing, synchronous: recover dead runs, check the suites and the
/// request, pick the instances, then record the run, take its lock and reserve its instances
/// in one transaction. `validator`: the caller's (a server keeps one), else built from
/// `req.check`.
pub fn prepare(
    req: &PlayRequest,
    validator: Option<Arc<crate::pipeline::Validator>>,
) -> Result<Prepared, Error> {
    let mut st = Store::open(&req.dir)?;
    let recovered = super::recover(&mut st)?;
    let suites = super::checked_suites(&mut st, req.accept_suite_change, "banc")?;
    let registered = super::participants(st.conn())?;
    for p in &req.participants {
        if !registered.iter().any(|r| &r.id == p) {
            return Err(Error::Invalid(format!(
                "--participant {p} : inconnu de l'événement (inscrits : {})",
                registered
                    .iter()
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    for s in &req.scenarios {
        if !suites.iter().any(|x| x.scenario(s).is_some()) {
            return Err(Error::Invalid(format!(
                "--scenario {s} : inconnu des suites de l'événement"
            )));
        }
    }
    if let Some(p) = &req.partner
        && p != "banc"
        && !registered.iter().any(|r| &r.id == p)
    {
        return Err(Error::Invalid(format!(
            "--partner {p} : participant inconnu de l'événement"
        )));
    }
    let all = super::instances(st.conn(), None)?;
    if let Some(partner) = &req.partner {
        let plays_itself = match &req.rerun {
            Some(id) => id.starts_with(&format!("{partner}/")),
            None => req.participants.is_empty() || req.participants.contains(partner),
        };
        if partner != "banc" && plays_itself {
            return Err(Error::Invalid(format!(
                "--partner {partner} : un participant n'est pas son propre partenaire (choisir les autres participants avec --participant)"
            )));
        }
    }
    let mut candidates = Vec::new();
    let mut left = Vec::new();
    match &req.rerun {
        Some(id) => {
            let i = super::instance(st.conn(), id)?;
            if i.retired {
                return Err(Error::Invalid(format!(
                    "{id} : son scénario a été retiré de la suite"
                )));
            }
            candidates.push(i);
        }
        None => {
            for i in all.iter().filter(|i| {
                !i.retired
                    && (req.participants.is_empty() || req.participants.contains(&i.participant))
                    && (req.scenarios.is_empty() || req.scenarios.contains(&i.scenario))
            }) {
                if playable(i.status) {
                    candidates.push(i.clone());
                } else {
                    left.push((i.id.clone(), i.status));
                }
            }
        }
    }
    // Prerequisites met in earlier attempts: an attempt passed, or waiting only for a person
    // and not rejected since (a later failed rerun does not undo a pass).
    let met: HashSet<(String, String)> = {
        let mut q = st.conn().prepare(
            "SELECT DISTINCT i.participant, i.scenario FROM instances i
             WHERE i.status IN ('passed', 'verified', 'to-verify', 'partially-verified')
                OR EXISTS (SELECT 1 FROM attempts a WHERE a.instance = i.id AND (a.status = 'passed'
                    OR (a.status = 'pending' AND COALESCE((SELECT d.verdict FROM decisions d
                        WHERE d.attempt = a.id ORDER BY d.id DESC LIMIT 1), '') != 'rejected')))",
        )?;
        q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    let status_of: HashMap<(String, String), InstanceStatus> = all
        .iter()
        .map(|i| ((i.participant.clone(), i.scenario.clone()), i.status))
        .collect();
    let selected = with_prerequisites(&suites, candidates, &met, &status_of, &mut left);
    if selected.is_empty() {
        return Ok(Prepared::Nothing(PlaySummary {
            run: None,
            interrupted: false,
            played: Vec::new(),
            left,
            recovered,
            reports: Vec::new(),
        }));
    }
    let validator = match validator {
        Some(v) => v,
        None => Arc::new(
            req.check
                .validator()
                .map_err(crate::scenario::Error::from)?,
        ),
    };
    let kit = validator.kit_stamp().map(|k| k.fingerprint);
    let submissions = req
        .options
        .submissions
        .clone()
        .unwrap_or_else(|| req.dir.join("submissions"));
    let submissions = std::path::absolute(&submissions).unwrap_or(submissions);
    // The run's row, its lock and its instances, in one transaction: another process never
    // sees a run without its lock, and never plays an instance this run holds.
    let lock_dir = req.dir.join("runs");
    store::create_private_dir(&lock_dir)?;
    let mut command = match &req.rerun {
        Some(i) => format!("rerun {i}"),
        None => "run".to_string(),
    };
    if let Some(who) = &req.actor {
        command.push_str(&format!(" (banc serve, {who})"));
    }
    let (run_id, lock, selected) = st.write(|tx| {
        tx.execute(
            "INSERT INTO runs (started, pid, command, submissions) VALUES (?1, ?2, ?3, ?4)",
            params![
                Utc::now().rfc3339(),
                std::process::id(),
                command,
                submissions.display().to_string()
            ],
        )?;
        let id = tx.last_insert_rowid();
        let lock = RunLock::take_new(&super::run_lock_path(&req.dir, id))?;
        let mut held = Vec::new();
        for i in selected {
            let n = tx.execute(
                "UPDATE instances SET run = ?1 WHERE id = ?2 AND status != 'running'
                 AND (run IS NULL OR EXISTS (SELECT 1 FROM runs r WHERE r.id = instances.run AND r.finished IS NOT NULL))",
                params![id, i.id],
            )?;
            if n == 1 {
                if let Some(who) = &req.actor {
                    store::audit(
                        tx,
                        who,
                        &i.id,
                        "tentative demandée",
                        None,
                        None,
                        Some(&format!("exécution {id} (banc serve)")),
                    )?;
                }
                held.push(i);
            } else {
                left.push((i.id.clone(), InstanceStatus::Running));
            }
        }
        Ok((id, lock, held))
    })?;
    if selected.is_empty() && req.rerun.is_some() {
        let _ = st.write(|tx| super::close_run(tx, run_id, "banc", "rien à jouer"));
        return Err(Error::Invalid(format!(
            "{} est en cours dans une autre exécution : attendre sa fin",
            req.rerun.as_deref().unwrap_or_default()
        )));
    }
    let participants_file = st.meta("participants_file")?.unwrap_or_default();
    let pf = if participants_file.is_empty() {
        None
    } else {
        let path = Path::new(&participants_file);
        let now = super::file_hash(path)?;
        let before = st.meta("participants_hash")?.unwrap_or_default();
        if now != before {
            // Contacts and addresses change during an event: used, and recorded.
            tracing::warn!(
                "banc event : le fichier des participants {participants_file} a changé depuis l'inscription"
            );
            st.write(|tx| {
                tx.execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'participants_hash'",
                    [&now],
                )?;
                store::audit(
                    tx,
                    "banc",
                    "participants",
                    "fichier modifié",
                    Some(&before),
                    Some(&now),
                    Some(&participants_file),
                )
            })?;
        }
        Some(
            crate::scenario::model::load_participants(path)
                .map_err(|e| Error::Invalid(e.to_string()))?,
        )
    };
    let suite_hashes: HashMap<String, String> = super::suites(st.conn())?
        .into_iter()
        .map(|s| (s.id, s.print.hash))
        .collect();
    Ok(Prepared::Ready(Box::new(Reserved {
        st,
        run_id,
        lock,
        selected,
        suites,
        registered,
        pf,
        participants_file,
        met,
        left,
        recovered,
        submissions,
        kit,
        suite_hashes,
        validator,
        options: req.options.clone(),
        partner: req.partner.clone(),
    })))
}

/// Play a reserved run inside the caller's runtime (multi-threaded: records are written off
/// its workers), recording each attempt as it goes; the run is closed at the end whatever
/// happened.
pub async fn play_reserved(r: Reserved, hooks: Hooks) -> Result<PlaySummary, Error> {
    let Reserved {
        st,
        run_id,
        lock,
        selected,
        suites,
        registered,
        pf,
        participants_file,
        met,
        left,
        recovered,
        submissions,
        kit,
        suite_hashes,
        validator,
        options,
        partner,
    } = r;
    let abort = hooks
        .abort
        .clone()
        .unwrap_or_else(|| Arc::new(tokio::sync::Notify::new()));
    let recorder = Arc::new(Recorder {
        dir: st.dir.clone(),
        store: Mutex::new(st),
        run: run_id,
        kit,
        partner: partner.unwrap_or_else(|| "banc".into()),
        suite_hash: Mutex::new(None),
        attempts: Mutex::new(HashMap::new()),
        failures: Mutex::new(Vec::new()),
        abort: abort.clone(),
    });
    let mut reports = Vec::new();
    let mut interrupted = false;
    let mut played = Vec::new();
    for suite in &suites {
        let mine: Vec<&super::InstanceRow> = selected
            .iter()
            .filter(|i| i.suite == suite.meta.id)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let pairs: HashSet<(String, String)> = mine
            .iter()
            .map(|i| (i.participant.clone(), i.scenario.clone()))
            .collect();
        let wanted: HashSet<&str> = mine.iter().map(|i| i.participant.as_str()).collect();
        let mut real: Vec<(Participant, Option<String>)> = Vec::new();
        let mut simulated: Vec<(Participant, String)> = Vec::new();
        for r in registered.iter().filter(|r| wanted.contains(r.id.as_str())) {
            match &r.simulated {
                Some(text) => {
                    let (lf, rf) = crate::simulate::default_faults();
                    let p = crate::simulate::cast_participants(&lf, &rf, true, true)
                        .into_iter()
                        .find(|(p, _)| p.id == r.id)
                        .map(|(p, _)| p)
                        .ok_or_else(|| {
                            Error::Invalid(format!("{} : simulateur inconnu de banc", r.id))
                        })?;
                    simulated.push((p, text.clone()));
                }
                None => {
                    let p = pf
                        .as_ref()
                        .and_then(|f| f.participants.iter().find(|p| p.id == r.id))
                        .ok_or_else(|| {
                            Error::Invalid(format!(
                                "{} : absent du fichier des participants {participants_file}",
                                r.id
                            ))
                        })?;
                    real.push((p.clone(), None));
                }
            }
        }
        let mut opts = options.clone();
        opts.out = recorder
            .dir
            .join("runs")
            .join(run_id.to_string())
            .join(run::safe(&suite.meta.id));
        opts.submissions = Some(submissions.clone());
        if let Ok(mut h) = recorder.suite_hash.lock() {
            *h = suite_hashes.get(&suite.meta.id).cloned();
        }
        store::create_private_dir(&opts.out)?;
        let stage = if simulated.is_empty() {
            None
        } else {
            let producers = simulated
                .iter()
                .any(|(p, _)| p.roles.contains(&Role::Producer));
            Some(crate::simulate::Stage::new(
                &opts.out.join("certs"),
                &opts.domain,
                producers,
            )?)
        };
        let documents = suite.documents().map_err(Error::Invalid)?;
        let participants_dir = match &pf {
            Some(f) => Some(f.scope().map_err(Error::Invalid)?),
            None => None,
        };
        let validator = validator.clone();
        let observer: Arc<dyn Observer> = match &hooks.observer {
            Some(o) => Arc::new(Both(recorder.clone(), o.clone())),
            None => recorder.clone(),
        };
        let shared = hooks.smtp.clone().filter(|_| stage.is_none());
        let (results, written) = async {
            let (embedded, banc_smtp, inbox) = match shared {
                Some((addr, inbox)) => (None, addr, inbox),
                None => {
                    let server_tls = match &stage {
                        Some(s) => Some(s.server_tls.clone()),
                        None => opts.server_tls(),
                    };
                    let e = crate::transport::server::embedded(
                        &opts.smtp_listen,
                        &opts.out.join("spool"),
                        &opts.domain,
                        validator.clone(),
                        server_tls.as_ref(),
                    )
                    .await
                    .map_err(crate::scenario::Error::Listen)?;
                    let addr = e.addr.to_string();
                    (Some(e), addr, Arc::default())
                }
            };
            tracing::info!(
                "banc event run : exécution {run_id}, suite {}, SMTP de banc sur {banc_smtp}",
                suite.meta.id
            );
            let cast = match stage {
                Some(stage) => {
                    let (lf, rf) = crate::simulate::default_faults();
                    Some(
                        crate::simulate::Cast::start(
                            stage,
                            simulated,
                            &lf,
                            &rf,
                            &banc_smtp,
                            &opts.out.join("simulateurs"),
                            validator.clone(),
                        )
                        .await?,
                    )
                }
                None => None,
            };
            let mut participants = real;
            if let Some(c) = &cast {
                participants.extend(c.participants.iter().cloned());
            }
            let env = Env {
                validator,
                inbox,
                hooks: Board::default(),
                domain: opts.domain.clone(),
                smtp_addr: banc_smtp,
                http_base: None,
                submissions: opts.submissions.clone().unwrap_or_default(),
                documents,
                participants_dir,
                max_wait: opts.max_wait,
                decisions: Vec::new(),
                labs: cast.as_ref().map(|c| c.labs.clone()).unwrap_or_default(),
                observer: Some(observer),
                abort: Some(abort.clone()),
            };
            let plan = Plan {
                suite,
                participants,
                scenarios: Vec::new(),
                met: Some(met.clone()),
                pairs: Some(pairs),
            };
            let r = run::play_and_report(env, plan, &opts, embedded).await;
            if let Some(c) = &cast {
                c.stop();
            }
            r
        }
        .await?;
        interrupted |= results.interrupted;
        reports.extend(written.iter().map(|p| p.display().to_string()));
        for p in &results.participants {
            for s in &p.scenarios {
                let (_, attempt) = recorder
                    .attempts
                    .lock()
                    .map(|m| m.get(&(p.id.clone(), s.id.clone())).cloned())
                    .ok()
                    .flatten()
                    .unzip();
                played.push(Played {
                    instance: instance_id(&p.id, &s.id, s.role),
                    participant: p.id.clone(),
                    scenario: s.id.clone(),
                    role: s.role.as_str().to_string(),
                    status: InstanceStatus::of_run(s.status),
                    attempt,
                    reason: s.reason.clone(),
                });
            }
        }
        if interrupted {
            break;
        }
    }
    let failures = recorder
        .failures
        .lock()
        .map(|f| f.clone())
        .unwrap_or_default();
    tokio::task::block_in_place(|| {
        let mut st = recorder
            .store
            .lock()
            .map_err(|_| Error::Db("verrou du magasin empoisonné".into()))?;
        // Whatever did not say how it ended (a panic in a scenario, a record that failed) is
        // interrupted, and the run's instances are released.
        st.write(|tx| super::close_run(tx, run_id, "banc", "tentative sans fin enregistrée"))
    })?;
    drop(lock);
    if !failures.is_empty() {
        return Err(Error::Db(format!(
            "exécution {run_id} : {} enregistrement(s) en échec :\n{}",
            failures.len(),
            failures.join("\n")
        )));
    }
    Ok(PlaySummary {
        run: Some(run_id),
        interrupted,
        played,
        left,
        recovered,
        reports,
    })
}

/// The candidates that can be played now: each of their prerequisites met in the event, or
/// played in this run too, or failed (then the instance is played to record that it is
/// skipped — once: an instance already skipped waits until its prerequisite changes). Others
/// go to `left` (their prerequisite still waits for a run or a person).
fn with_prerequisites(
    suites: &[crate::scenario::model::Suite],
    candidates: Vec<super::InstanceRow>,
    met: &HashSet<(String, String)>,
    status_of: &HashMap<(String, String), InstanceStatus>,
    left: &mut Vec<(String, InstanceStatus)>,
) -> Vec<super::InstanceRow> {
    let prereqs = |i: &super::InstanceRow| -> Vec<String> {
        suites
            .iter()
            .find_map(|s| s.scenario(&i.scenario))
            .map(|s| s.prerequisites.clone())
            .unwrap_or_default()
    };
    let mut kept = candidates;
    // Dropping one instance may leave another without its prerequisite: to a fixed point.
    loop {
        let playing: HashSet<(String, String)> = kept
            .iter()
            .map(|i| (i.participant.clone(), i.scenario.clone()))
            .collect();
        let before = kept.len();
        kept.retain(|i| {
            let ok = prereqs(i).iter().all(|p| {
                let key = (i.participant.clone(), p.clone());
                if met.contains(&key) || playing.contains(&key) {
                    return true;
                }
                let st = status_of.get(&key).copied();
                let failed = st.is_some_and(|s| !s.open() && !s.achieved());
                // Failed: played, to record it skipped, unless already recorded so.
                failed && i.status != InstanceStatus::Skipped
            });
            if !ok {
                left.push((i.id.clone(), i.status));
            }
            ok
        });
        if kept.len() == before {
            return kept;
        }
    }
}

/// Writes a run's attempts into the store as the runner plays them.
struct Recorder {
    store: Mutex<Store>,
    dir: PathBuf,
    run: i64,
    kit: Option<String>,
    partner: String,
    /// Hash of the suite being played (recorded with each attempt).
    suite_hash: Mutex<Option<String>>,
    /// Notified when a record fails: the run stops (nothing is played that cannot be kept).
    abort: Arc<tokio::sync::Notify>,
    /// (participant, scenario) → (attempt id, its number) of the attempts this run began.
    attempts: Mutex<HashMap<(String, String), (i64, i64)>>,
    /// Records that could not be written (disk full...): the run reports them at its end.
    failures: Mutex<Vec<String>>,
}

impl Recorder {
    fn record(&self, what: &str, f: impl FnOnce(&mut Store) -> Result<(), Error>) {
        // Synchronous writes (full sync, busy waits): off the runtime's worker so that the SMTP
        // server and the other scenarios go on meanwhile.
        let r = tokio::task::block_in_place(|| match self.store.lock() {
            Ok(mut st) => f(&mut st),
            Err(_) => Err(Error::Db("verrou du magasin empoisonné".into())),
        });
        if let Err(e) = r {
            self.failed(format!("{what} : {e}"));
        }
    }

    fn failed(&self, what: String) {
        tracing::error!("banc event : non enregistré : {what}");
        if let Ok(mut f) = self.failures.lock() {
            f.push(what);
        }
        self.abort.notify_one();
    }

    /// Begin an attempt (the next number of its instance), the instance `running`.
    /// Insert the next attempt of `instance` (in the caller's transaction); `running`: the
    /// instance becomes `running` (a skipped attempt goes straight to its end).
    fn begin(
        &self,
        tx: &rusqlite::Transaction<'_>,
        instance: &str,
        status: &str,
    ) -> Result<(i64, i64), Error> {
        let (run, banc, kit, partner) = (
            self.run,
            env!("CARGO_PKG_VERSION"),
            self.kit.clone(),
            self.partner.clone(),
        );
        let suite_hash = self.suite_hash.lock().ok().and_then(|h| h.clone());
        {
            let number: i64 = tx.query_row(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM attempts WHERE instance = ?1",
                [instance],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO attempts (instance, number, run, status, partner, started, banc, kit, suite_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    instance,
                    number,
                    run,
                    status,
                    partner,
                    Utc::now().rfc3339(),
                    banc,
                    kit,
                    suite_hash
                ],
            )?;
            let id = tx.last_insert_rowid();
            // A new attempt starts unclaimed: a claim was on the previous one.
            tx.execute(
                "UPDATE instances SET claimed_by = NULL, claimed_at = NULL WHERE id = ?1",
                [instance],
            )?;
            if status == "running" {
                super::set_status(
                    tx,
                    instance,
                    InstanceStatus::Running,
                    "banc",
                    Some(&format!("tentative {number} (exécution {run})")),
                )?;
            }
            Ok((id, number))
        }
    }
}

impl Observer for Recorder {
    fn started(&self, participant: &str, scenario: &Scenario) {
        let instance = instance_id(participant, &scenario.id, scenario.role);
        self.record(&format!("début de {instance}"), |st| {
            let begun = st.write(|tx| self.begin(tx, &instance, "running"))?;
            if let Ok(mut m) = self.attempts.lock() {
                m.insert((participant.to_string(), scenario.id.clone()), begun);
            }
            Ok(())
        });
    }

    fn step(
        &self,
        participant: &str,
        scenario: &str,
        n: usize,
        result: &StepResult,
        output: &Output,
    ) {
        let Some((attempt, _)) = self.attempts.lock().ok().and_then(|m| {
            m.get(&(participant.to_string(), scenario.to_string()))
                .cloned()
        }) else {
            return;
        };
        let instance = format!("{participant}/{scenario}");
        self.record(&format!("étape {} de {instance}", result.id), |st| {
            // Blobs first: a row never names a file that is not on disk.
            let mut kept = Vec::new();
            for a in &output.artifacts {
                kept.push((a.kind, a.name.clone(), st.put_blob(&a.bytes)?, a.bytes.len()));
            }
            let json = serde_json::to_string(result).map_err(|e| Error::Db(e.to_string()))?;
            st.write(|tx| {
                tx.execute(
                    "INSERT OR REPLACE INTO steps (attempt, n, id, kind, status, message, result, at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        attempt,
                        n as i64,
                        result.id,
                        result.kind.as_str(),
                        result.status.as_str(),
                        result.message,
                        json,
                        Utc::now().rfc3339()
                    ],
                )?;
                for (kind, name, sha, size) in &kept {
                    tx.execute(
                        "INSERT INTO artifacts (attempt, step, kind, name, sha256, size) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![attempt, n as i64, kind, name, sha, *size as i64],
                    )?;
                }
                Ok(())
            })
        });
    }

    fn finished(&self, participant: &str, result: &ScenarioResult) {
        let instance = instance_id(participant, &result.id, result.role);
        let began = self.attempts.lock().ok().and_then(|m| {
            m.get(&(participant.to_string(), result.id.clone()))
                .cloned()
        });
        // Cut while it waited for a prerequisite: nothing was played, nothing to record.
        if began.is_none() && result.status == Status::Interrupted {
            return;
        }
        self.record(&format!("fin de {instance}"), |st| {
            let json = serde_json::to_vec_pretty(result).map_err(|e| Error::Db(e.to_string()))?;
            let report = st.put_blob(&json)?;
            let status = InstanceStatus::of_run(result.status);
            let begun = st.write(|tx| {
                let (attempt, number) = match began {
                    Some(b) => b,
                    // Skipped before it began (prerequisite failed): one attempt that says so.
                    None => self.begin(tx, &instance, "skipped")?,
                };
                tx.execute(
                    "UPDATE attempts SET status = ?2, reason = ?3, finished = ?4, report = ?5 WHERE id = ?1",
                    params![
                        attempt,
                        result.status.as_str(),
                        result.reason,
                        Utc::now().rfc3339(),
                        report
                    ],
                )?;
                super::set_status(
                    tx,
                    &instance,
                    status,
                    "banc",
                    result.reason.as_deref().or(Some("tentative terminée")),
                )?;
                Ok((attempt, number))
            })?;
            if began.is_none()
                && let Ok(mut m) = self.attempts.lock()
            {
                m.insert((participant.to_string(), result.id.clone()), begun);
            }
            Ok(())
        });
    }
}

/// Two observers, the store's first: a follower hears of a change once it is recorded.
struct Both(Arc<Recorder>, Arc<dyn Observer>);

impl Observer for Both {
    fn started(&self, participant: &str, scenario: &Scenario) {
        self.0.started(participant, scenario);
        self.1.started(participant, scenario);
    }

    fn step(
        &self,
        participant: &str,
        scenario: &str,
        n: usize,
        result: &StepResult,
        output: &Output,
    ) {
        self.0.step(participant, scenario, n, result, output);
        self.1.step(participant, scenario, n, result, output);
    }

    fn finished(&self, participant: &str, result: &ScenarioResult) {
        self.0.finished(participant, result);
        self.1.finished(participant, result);
    }

    fn waiting(&self, participant: &str, scenario: &str, step: &str, action: &str) {
        self.1.waiting(participant, scenario, step, action);
    }
}
