//! The event played by a long-lived process (`banc serve --event`): banc's SMTP server for the
//! whole life of the process — participants send at any hour, a message waits in the inbox
//! until a step claims it — and attempts started on demand, one instance at a time, each a run
//! of [`super::play`] reserved in the store (another process, or a second click, cannot play
//! the same instance meanwhile). Followers hear each run as it goes ([`LiveEvent`]) once the
//! store has recorded it.

use super::Error;
use super::play::{self, Hooks, PlayRequest, Prepared};
use crate::pipeline::Validator;
use crate::scenario::inbox::{Board, Received};
use crate::scenario::model::Scenario;
use crate::scenario::results::{ScenarioResult, StepResult};
use crate::scenario::run::{Observer, RunOptions};
use crate::scenario::steps::Output;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, broadcast};

/// Messages kept in banc's inbox for steps to come (the oldest are dropped beyond).
const MAX_WAITING: usize = 2_000;

/// What a follower of a run hears.
#[derive(Debug, Clone, Serialize)]
pub struct LiveEvent {
    /// Order of the event in this process (a follower that replayed the attempt's past events
    /// skips those it already has).
    pub seq: u64,
    pub participant: String,
    pub scenario: String,
    /// `started`, `waiting` (a step waits for the participant), `step` (a step ended),
    /// `finished` (the attempt ended, recorded).
    pub kind: &'static str,
    pub step: Option<String>,
    /// The step's number, from 1.
    pub n: Option<usize>,
    /// The step's or the attempt's status.
    pub status: Option<String>,
    /// In French: what to do, or how it ended.
    pub text: String,
}

/// Events of the current attempt, per (participant, scenario).
type Past = HashMap<(String, String), Vec<LiveEvent>>;

struct Running {
    instance: String,
    abort: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

/// The event's runner in a server.
pub struct Runner {
    dir: PathBuf,
    validator: Arc<Validator>,
    options: RunOptions,
    smtp: (String, Arc<Board<Received>>),
    smtp_stop: Arc<Notify>,
    events: broadcast::Sender<LiveEvent>,
    /// The current (or last) attempt's events per (participant, scenario): a follower arriving
    /// late learns where it is.
    past: Mutex<(u64, Past)>,
    running: Mutex<HashMap<i64, Running>>,
}

/// What starting an attempt did.
#[derive(Debug, Clone, Serialize)]
pub struct Started {
    pub instance: String,
    /// The run that plays it.
    pub run: i64,
}

impl Runner {
    /// Open the event (marking dead runs' attempts interrupted) and start its SMTP server on
    /// `options.smtp_listen`, its spool in `DIR/smtp`. Runs with banc's simulators get their
    /// own server on a free port.
    pub async fn start(
        dir: PathBuf,
        validator: Arc<Validator>,
        mut options: RunOptions,
    ) -> Result<Arc<Runner>, Error> {
        let d = dir.clone();
        tokio::task::spawn_blocking(move || super::open_for_change(&d).map(|_| ()))
            .await
            .map_err(|e| Error::Io(e.to_string()))??;
        let spool = dir.join("smtp");
        super::store::create_private_dir(&spool)?;
        let embedded = crate::transport::server::embedded(
            &options.smtp_listen,
            &spool,
            &options.domain,
            validator.clone(),
            options.server_tls().as_ref(),
        )
        .await
        .map_err(|e| Error::Run(crate::scenario::Error::Listen(e)))?;
        let addr = embedded.addr.to_string();
        let inbox: Arc<Board<Received>> = Arc::default();
        let crate::transport::server::Embedded {
            mut received, stop, ..
        } = embedded;
        let feed = inbox.clone();
        tokio::spawn(async move {
            while let Some(a) = received.recv().await {
                feed.push(Received::from_analysed(a));
                feed.keep_at_most(MAX_WAITING);
            }
        });
        // Runs with simulators start their own server: never on the shared one's port.
        options.smtp_listen = "127.0.0.1:0".into();
        let (events, _) = broadcast::channel(1024);
        Ok(Arc::new(Runner {
            dir,
            validator,
            options,
            smtp: (addr, inbox),
            smtp_stop: stop,
            events,
            past: Mutex::new((0, HashMap::new())),
            running: Mutex::new(HashMap::new()),
        }))
    }

    /// Where participants send: banc's SMTP server.
    pub fn smtp_addr(&self) -> &str {
        &self.smtp.0
    }

    pub fn domain(&self) -> &str {
        &self.options.domain
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Where participants' files go: `DIR/submissions/<participant>/<scenario>/<step>/`.
    pub fn submissions(&self) -> PathBuf {
        self.options
            .submissions
            .clone()
            .unwrap_or_else(|| self.dir.join("submissions"))
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    /// Is `instance` being played by this process?
    pub fn is_running(&self, instance: &str) -> bool {
        self.running
            .lock()
            .map(|m| {
                m.values()
                    .any(|r| r.instance == instance && !r.task.is_finished())
            })
            .unwrap_or(false)
    }

    /// Start a new attempt of `instance` for `actor` (recorded in the audit log), played in the
    /// background. Refused when the instance is being played (here or by another process) or
    /// a prerequisite is not met.
    pub async fn start_attempt(
        self: &Arc<Self>,
        instance: &str,
        actor: &str,
    ) -> Result<Started, Error> {
        let req = PlayRequest {
            dir: self.dir.clone(),
            participants: Vec::new(),
            scenarios: Vec::new(),
            rerun: Some(instance.to_string()),
            accept_suite_change: false,
            partner: None,
            actor: Some(actor.to_string()),
            options: self.options.clone(),
            check: Default::default(),
        };
        let validator = self.validator.clone();
        let prepared = tokio::task::spawn_blocking(move || play::prepare(&req, Some(validator)))
            .await
            .map_err(|e| Error::Io(e.to_string()))??;
        let reserved = match prepared {
            Prepared::Ready(r) => r,
            Prepared::Nothing(_) => {
                return Err(Error::Invalid(format!(
                    "{instance} ne peut pas commencer : un de ses prérequis n'est pas atteint (réussi, ou en attente d'un moniteur)"
                )));
            }
        };
        let run = reserved.run();
        // The previous attempt's events are no longer where the instance is.
        if let (Ok(mut p), Some((who, rest))) = (self.past.lock(), instance.split_once('/'))
            && let Some((scenario, _)) = rest.split_once('/')
        {
            p.1.remove(&(who.to_string(), scenario.to_string()));
        }
        let abort = Arc::new(Notify::new());
        let observer: Arc<dyn Observer> = self.clone();
        let hooks = Hooks {
            smtp: Some(self.smtp.clone()),
            observer: Some(observer),
            abort: Some(abort.clone()),
        };
        let me = self.clone();
        let id = instance.to_string();
        let task = tokio::spawn(async move {
            match play::play_reserved(*reserved, hooks).await {
                Ok(s) => tracing::info!(
                    "banc serve : exécution {run} ({id}) terminée{}",
                    if s.interrupted { ", interrompue" } else { "" }
                ),
                Err(e) => tracing::error!("banc serve : exécution {run} ({id}) : {e}"),
            }
            me.smtp.1.forget_claimed();
            if let Ok(mut m) = me.running.lock() {
                m.remove(&run);
            }
        });
        if let Ok(mut m) = self.running.lock() {
            m.retain(|_, r| !r.task.is_finished());
            m.insert(
                run,
                Running {
                    instance: instance.to_string(),
                    abort,
                    task,
                },
            );
        }
        Ok(Started {
            instance: instance.to_string(),
            run,
        })
    }

    /// Stop: the attempts in progress end `interrupted` (recorded), then the SMTP server.
    pub async fn stop(&self) {
        let running: Vec<Running> = self
            .running
            .lock()
            .map(|mut m| m.drain().map(|(_, r)| r).collect())
            .unwrap_or_default();
        for r in &running {
            r.abort.notify_one();
        }
        for r in running {
            if tokio::time::timeout(Duration::from_secs(15), r.task)
                .await
                .is_err()
            {
                tracing::warn!("banc serve : {} ne s'est pas arrêté à temps", r.instance);
            }
        }
        self.smtp_stop.notify_one();
    }

    /// The events of the current (or last) attempt of `participant`'s `scenario`, in order.
    pub fn replay(&self, participant: &str, scenario: &str) -> Vec<LiveEvent> {
        self.past
            .lock()
            .ok()
            .and_then(|p| {
                p.1.get(&(participant.to_string(), scenario.to_string()))
                    .cloned()
            })
            .unwrap_or_default()
    }

    fn send(&self, mut e: LiveEvent) {
        if let Ok(mut p) = self.past.lock() {
            p.0 += 1;
            e.seq = p.0;
            let list =
                p.1.entry((e.participant.clone(), e.scenario.clone()))
                    .or_default();
            if e.kind == "started" {
                list.clear();
            }
            // Bounded: a scenario has a few steps; a runaway one keeps its latest events.
            if list.len() >= 64 {
                list.remove(0);
            }
            list.push(e.clone());
        }
        // Nobody listening is fine.
        let _ = self.events.send(e);
    }
}

impl Observer for Runner {
    fn started(&self, participant: &str, scenario: &Scenario) {
        self.send(LiveEvent {
            seq: 0,
            participant: participant.into(),
            scenario: scenario.id.clone(),
            kind: "started",
            step: None,
            n: None,
            status: Some("running".into()),
            text: format!("tentative commencée : {}", scenario.title),
        });
    }

    fn step(
        &self,
        participant: &str,
        scenario: &str,
        n: usize,
        result: &StepResult,
        _output: &Output,
    ) {
        self.send(LiveEvent {
            seq: 0,
            participant: participant.into(),
            scenario: scenario.into(),
            kind: "step",
            step: Some(result.id.clone()),
            n: Some(n),
            status: Some(result.status.as_str().into()),
            text: format!("{} : {}", result.status.label_fr(), result.message),
        });
    }

    fn finished(&self, participant: &str, result: &ScenarioResult) {
        self.send(LiveEvent {
            seq: 0,
            participant: participant.into(),
            scenario: result.id.clone(),
            kind: "finished",
            step: None,
            n: None,
            status: Some(super::InstanceStatus::of_run(result.status).as_str().into()),
            text: format!(
                "tentative terminée : {}{}",
                result.status.label_fr(),
                result
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
        });
    }

    fn waiting(&self, participant: &str, scenario: &str, step: &str, action: &str) {
        self.send(LiveEvent {
            seq: 0,
            participant: participant.into(),
            scenario: scenario.into(),
            kind: "waiting",
            step: Some(step.into()),
            n: None,
            status: None,
            text: format!("en attente : {action}"),
        });
    }
}
