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

impl RunLock {
    fn open(path: &Path) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
    }

    /// Take the lock, or None when another process (or another handle) holds it.
    pub fn try_take(path: &Path) -> Option<RunLock> {
        let file = RunLock::open(path).ok()?;
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a descriptor this function owns; no memory is shared.
            let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if r != 0 {
                return None;
            }
        }
        Some(RunLock { _file: file })
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
    let mut selected = Vec::new();
    let mut left = Vec::new();
    match &req.rerun {
        Some(id) => {
            let i = super::instance(st.conn(), id)?;
            if i.status == InstanceStatus::Running {
                return Err(Error::Invalid(format!(
                    "{id} est en cours dans une autre exécution : attendre sa fin"
                )));
            }
            selected.push(i);
        }
        None => {
            for i in all.iter().filter(|i| {
                (req.participants.is_empty() || req.participants.contains(&i.participant))
                    && (req.scenarios.is_empty() || req.scenarios.contains(&i.scenario))
            }) {
                if playable(i.status) {
                    selected.push(i.clone());
                } else {
                    left.push((i.id.clone(), i.status));
                }
            }
        }
    }
    if selected.is_empty() {
        return Ok(PlaySummary {
            run: None,
            interrupted: false,
            played: Vec::new(),
            left,
            recovered,
            reports: Vec::new(),
        });
    }
    // Prerequisites met in earlier attempts: passed or waiting only for a person, now or in
    // any earlier attempt (a later failed rerun does not undo a pass).
    let met: HashSet<(String, String)> = {
        let mut q = st.conn().prepare(
            "SELECT DISTINCT i.participant, i.scenario FROM instances i
             WHERE i.status IN ('passed', 'verified', 'to-verify', 'partially-verified')
                OR EXISTS (SELECT 1 FROM attempts a WHERE a.instance = i.id AND a.status IN ('passed', 'pending'))",
        )?;
        q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    let validator = Arc::new(
        req.check
            .validator()
            .map_err(crate::scenario::Error::from)?,
    );
    let kit = validator.kit_stamp().map(|k| k.fingerprint);
    // The run's row and its lock, taken before the row is visible: another process never sees
    // a run without its lock.
    let lock_dir = req.dir.join("runs");
    store::create_private_dir(&lock_dir)?;
    let command = match &req.rerun {
        Some(i) => format!("rerun {i}"),
        None => "run".to_string(),
    };
    let (run_id, lock) = st.write(|tx| {
        tx.execute(
            "INSERT INTO runs (started, pid, command) VALUES (?1, ?2, ?3)",
            params![Utc::now().rfc3339(), std::process::id(), command],
        )?;
        let id = tx.last_insert_rowid();
        let lock = RunLock::try_take(&super::run_lock_path(&req.dir, id)).ok_or_else(|| {
            Error::Io(format!(
                "verrou {} impossible à prendre",
                super::run_lock_path(&req.dir, id).display()
            ))
        })?;
        Ok((id, lock))
    })?;
    let participants_file = st.meta("participants_file")?.unwrap_or_default();
    let pf = if participants_file.is_empty() {
        None
    } else {
        Some(
            crate::scenario::model::load_participants(Path::new(&participants_file))
                .map_err(|e| Error::Invalid(e.to_string()))?,
        )
    };
    let recorder = Arc::new(Recorder {
        store: Mutex::new(st),
        run: run_id,
        kit,
        partner: req.partner.clone().unwrap_or_else(|| "banc".into()),
        attempts: Mutex::new(HashMap::new()),
        failures: Mutex::new(Vec::new()),
    });
    let rt = run::runtime()?;
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
        let mut opts = req.options.clone();
        opts.out = req
            .dir
            .join("runs")
            .join(run_id.to_string())
            .join(run::safe(&suite.meta.id));
        opts.submissions = Some(
            req.options
                .submissions
                .clone()
                .unwrap_or_else(|| req.dir.join("submissions")),
        );
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
        let observer: Arc<dyn Observer> = recorder.clone();
        let (results, written) = rt.block_on(async {
            let server_tls = match &stage {
                Some(s) => Some(s.server_tls.clone()),
                None => opts.server_tls(),
            };
            let embedded = crate::transport::server::embedded(
                &opts.smtp_listen,
                &opts.out.join("spool"),
                &opts.domain,
                validator.clone(),
                server_tls.as_ref(),
            )
            .await
            .map_err(crate::scenario::Error::Listen)?;
            let banc_smtp = embedded.addr.to_string();
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
                inbox: Board::default(),
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
        })?;
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
    {
        let mut st = recorder
            .store
            .lock()
            .map_err(|_| Error::Db("verrou du magasin empoisonné".into()))?;
        st.write(|tx| {
            tx.execute(
                "UPDATE runs SET finished = ?2 WHERE id = ?1",
                params![run_id, Utc::now().rfc3339()],
            )?;
            Ok(())
        })?;
    }
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

/// Writes a run's attempts into the store as the runner plays them.
struct Recorder {
    store: Mutex<Store>,
    run: i64,
    kit: Option<String>,
    partner: String,
    /// (participant, scenario) → (attempt id, its number) of the attempts this run began.
    attempts: Mutex<HashMap<(String, String), (i64, i64)>>,
    /// Records that could not be written (disk full...): the run reports them at its end.
    failures: Mutex<Vec<String>>,
}

impl Recorder {
    fn record(&self, what: &str, f: impl FnOnce(&mut Store) -> Result<(), Error>) {
        let r = match self.store.lock() {
            Ok(mut st) => f(&mut st),
            Err(_) => Err(Error::Db("verrou du magasin empoisonné".into())),
        };
        if let Err(e) = r {
            tracing::error!("banc event : {what} non enregistré : {e}");
            if let Ok(mut f) = self.failures.lock() {
                f.push(format!("{what} : {e}"));
            }
        }
    }

    /// Begin an attempt (the next number of its instance), the instance `running`.
    fn begin(&self, st: &mut Store, instance: &str, status: &str) -> Result<(i64, i64), Error> {
        let (run, banc, kit, partner) = (
            self.run,
            env!("CARGO_PKG_VERSION"),
            self.kit.clone(),
            self.partner.clone(),
        );
        st.write(|tx| {
            let number: i64 = tx.query_row(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM attempts WHERE instance = ?1",
                [instance],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO attempts (instance, number, run, status, partner, started, banc, kit)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    instance,
                    number,
                    run,
                    status,
                    partner,
                    Utc::now().rfc3339(),
                    banc,
                    kit
                ],
            )?;
            let id = tx.last_insert_rowid();
            // A new attempt starts unclaimed: a claim was on the previous one.
            tx.execute(
                "UPDATE instances SET claimed_by = NULL, claimed_at = NULL WHERE id = ?1",
                [instance],
            )?;
            super::set_status(
                tx,
                instance,
                InstanceStatus::Running,
                "banc",
                Some(&format!("tentative {number} (exécution {run})")),
            )?;
            Ok((id, number))
        })
    }
}

impl Observer for Recorder {
    fn started(&self, participant: &str, scenario: &Scenario) {
        let instance = instance_id(participant, &scenario.id, scenario.role);
        self.record(&format!("début de {instance}"), |st| {
            let begun = self.begin(st, &instance, "running")?;
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
            let attempt = match &began {
                Some((a, _)) => *a,
                // Skipped before it began (prerequisite): an attempt that says so.
                None => {
                    let begun = self.begin(st, &instance, "skipped")?;
                    if let Ok(mut m) = self.attempts.lock() {
                        m.insert((participant.to_string(), result.id.clone()), begun);
                    }
                    begun.0
                }
            };
            let json = serde_json::to_vec_pretty(result).map_err(|e| Error::Db(e.to_string()))?;
            let report = st.put_blob(&json)?;
            let status = InstanceStatus::of_run(result.status);
            st.write(|tx| {
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
                )
            })
        });
    }
}
