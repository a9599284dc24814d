//! `banc run SUITE --participants FILE`: every selected scenario of every participant at once
//! (tokio tasks), prerequisites awaited, each wait bounded, Ctrl-C safe; then `results.json`,
//! `junit.xml`, `report.html` and a scoreboard.

use super::Error;
use super::inbox::{Board, Hit, Received};
use super::model::{Participant, Scenario, Step, Suite};
use super::results::{
    Decision, ParticipantResult, RESULTS_SCHEMA, RunResults, RunSummary, ScenarioResult, Score,
    Status, StepResult, SuiteInfo,
};
use super::scope::Scope;
use super::steps::{self, Output};
use crate::clock::Utc;
use crate::pipeline::{CheckOptions, Validator};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Default wait of a step when neither it, its scenario nor the suite says.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Suite folder (e.g. suites/cr-bio).
    pub suite: PathBuf,
    /// Participants file (see suites/participants.example.toml).
    pub participants: PathBuf,
    /// Only this participant (repeatable).
    pub only_participants: Vec<String>,
    /// Only this scenario (repeatable).
    pub only_scenarios: Vec<String>,
    pub common: RunOptions,
    /// Validators' decisions on manual steps (TOML `[[decision]]` participant, scenario, step,
    /// verdict = "pass"|"fail", by, note).
    pub decisions: Option<PathBuf>,
    pub check: CheckOptions,
}

/// Options shared by `banc run` and `banc rehearse`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Folder for results.json, junit.xml, report.html, the spool of received messages and
    /// the submissions.
    pub out: PathBuf,
    /// Where participants drop documents for `submit` steps (and evidence):
    /// DIR/<participant>/<scenario>/<step>/ (default OUT/submissions).
    pub submissions: Option<PathBuf>,
    /// banc's SMTP server, where producers send and consumers return acknowledgements.
    pub smtp_listen: String,
    /// Mail domain of banc's mailboxes (`banc+<scenario>@DOMAIN`).
    pub domain: String,
    /// banc's HTTP listener for `http` steps that wait for the SUT's call
    /// (http://ADDR/<participant>/<path>); none by default.
    pub http_listen: Option<String>,
    /// Cap every wait at this duration (`30s`, `2m`), whatever the suite says: rehearsals, CI.
    pub max_wait: Option<Duration>,
    /// Certificate chain (PEM) of banc's SMTP server: STARTTLS offered (e.g. from
    /// `banc mail certs`).
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// CA of the participants' client certificates (PEM): banc asks for one and records it.
    pub client_ca: Option<PathBuf>,
}

impl RunOptions {
    pub fn server_tls(&self) -> Option<crate::transport::server::EmbeddedTls> {
        Some(crate::transport::server::EmbeddedTls {
            cert: self.tls_cert.clone()?,
            key: self.tls_key.clone()?,
            client_ca: self.client_ca.clone(),
            ..Default::default()
        })
    }
}

/// One entry of the decisions file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionEntry {
    pub participant: String,
    pub scenario: String,
    pub step: String,
    pub verdict: String,
    pub by: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionsFile {
    #[serde(default)]
    decision: Vec<DecisionEntry>,
}

/// What every scenario of a run shares.
pub struct Env {
    pub validator: Arc<Validator>,
    /// Messages banc's SMTP server received: fed by the run's own server, or shared by a
    /// server that outlives runs (`banc serve --event`).
    pub inbox: Arc<Board<Received>>,
    pub hooks: Board<Hit>,
    pub domain: String,
    /// Address of banc's SMTP server, as listening.
    pub smtp_addr: String,
    /// `http://ADDR` of banc's HTTP listener, when there is one.
    pub http_base: Option<String>,
    pub submissions: PathBuf,
    /// Where the suite's documents are read from, confined to the suite folder.
    pub documents: Scope,
    /// Folder of the participants file: its tls paths are relative to it and stay inside
    /// (none for simulated participants).
    pub participants_dir: Option<Scope>,
    pub max_wait: Option<Duration>,
    pub decisions: Vec<DecisionEntry>,
    /// Producers banc simulates in this process (`banc rehearse`).
    pub labs: HashMap<String, Arc<dyn Producer>>,
    /// Hears each scenario start, each step end and each scenario end as they happen (an
    /// event records them durably); none for `banc run`.
    pub observer: Option<Arc<dyn Observer>>,
    /// Notified to stop the run as Ctrl-C does (an observer that can no longer record).
    pub abort: Option<Arc<tokio::sync::Notify>>,
}

/// Follows a run as it goes, for a store that must not lose what was played (`banc event`).
/// Its methods run on the runtime's threads and should be quick (a few milliseconds).
pub trait Observer: Send + Sync {
    /// `participant` begins `scenario` (its prerequisites met).
    fn started(&self, participant: &str, scenario: &Scenario);
    /// Step `n` (1-based) ended with `result`; `output` holds what it used.
    fn step(
        &self,
        participant: &str,
        scenario: &str,
        n: usize,
        result: &StepResult,
        output: &Output,
    );
    /// The scenario ended (or was skipped, or interrupted before it began: `started` is None).
    fn finished(&self, participant: &str, result: &ScenarioResult);
    /// A step waits for the participant: `action` says what to do (deposit, send, call).
    fn waiting(&self, _participant: &str, _scenario: &str, _step: &str, _action: &str) {}
}

/// A producer banc plays itself (`banc rehearse`): when a step waits for the participant, the
/// runner asks it to act, then waits exactly as for a real system. The simulators implement
/// it; the runner knows nothing else of them.
pub trait Producer: Send + Sync {
    /// A submit step waits for a file in `dir`: deposit the step's sample there.
    fn submit(self: Arc<Self>, cx: &Ctx, step: &Step, dir: &Path);
    /// An await-mail step waits for a message to `to`: send the step's sample.
    fn send(self: Arc<Self>, cx: &Ctx, step: &Step, to: &str);
}

/// One scenario played for one participant.
pub struct Ctx {
    pub env: Arc<Env>,
    pub participant: Participant,
    pub scenario_id: String,
}

/// When a wait ends, and how long it was.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    pub at: Instant,
    pub total: Duration,
}

impl Deadline {
    pub fn left(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }
}

impl Ctx {
    pub fn step_dir(&self, step_id: &str) -> PathBuf {
        self.env
            .submissions
            .join(safe(&self.participant.id))
            .join(safe(&self.scenario_id))
            .join(safe(step_id))
    }

    /// The simulated producer playing this participant, if banc plays it.
    pub fn lab(&self) -> Option<Arc<dyn Producer>> {
        self.env.labs.get(&self.participant.id).cloned()
    }

    /// banc's address for this scenario: `banc+<scenario>@DOMAIN`.
    pub fn banc_address(&self) -> String {
        format!(
            "banc+{}@{}",
            self.scenario_id.to_ascii_lowercase(),
            self.env.domain
        )
    }

    /// One line on stderr when a step waits for the participant (what to do).
    pub fn announce(&self, step: &Step, step_id: &str, action: &str) {
        let title = step.title.as_deref().unwrap_or("");
        tracing::info!(
            "[{} {} {step_id}] {title} : {action}",
            self.participant.id,
            self.scenario_id
        );
        if let Some(o) = &self.env.observer {
            let said = if title.is_empty() {
                action.to_string()
            } else {
                format!("{title} : {action}")
            };
            o.waiting(&self.participant.id, &self.scenario_id, step_id, &said);
        }
    }

    fn tls_file(&self, f: &Option<String>) -> Result<Option<Vec<u8>>, String> {
        f.as_ref()
            .map(|p| {
                let path = self
                    .env
                    .participants_dir
                    .as_ref()
                    .ok_or_else(|| format!("tls « {p} » : pas de fichier des participants"))?
                    .file(p)
                    .map_err(|r| format!("tls « {p} » {r}"))?;
                Ok(crate::files::read_bounded(&path, crate::files::MAX_SMALL)?)
            })
            .transpose()
    }

    /// How banc submits to this participant: STARTTLS required when its file has a `tls`
    /// block (its CA, banc's client certificate), else used when offered.
    pub fn submit_options(
        &self,
        server: &str,
        from: &str,
        to: &str,
    ) -> Result<crate::mail::submit::SubmitOptions, String> {
        let opts = crate::mail::submit::SubmitOptions::relay(server, from, to);
        Ok(match &self.participant.tls {
            Some(t) => {
                let identity = self.tls_file(&t.cert)?.zip(self.tls_file(&t.key)?);
                opts.with_tls(self.tls_file(&t.ca)?, identity)
            }
            None => opts,
        })
    }

    /// An HTTP client for one checked target of this participant (its CA and client
    /// certificate when given): connects only to the addresses checked, through no proxy,
    /// redirects followed on the same host only.
    pub fn http_client(
        &self,
        target: &super::fetch::Target,
        timeout: Duration,
    ) -> Result<reqwest::Client, String> {
        let (ca, identity) = match &self.participant.tls {
            Some(t) => (
                self.tls_file(&t.ca)?,
                match (self.tls_file(&t.cert)?, self.tls_file(&t.key)?) {
                    (Some(c), Some(k)) => Some((c, k)),
                    _ => None,
                },
            ),
            None => (None, None),
        };
        let tls = crate::mail::tls::client_config(
            ca.as_deref(),
            identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
        )?;
        let mut b = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .timeout(timeout.max(Duration::from_millis(100)))
            .connect_timeout(timeout.clamp(Duration::from_millis(100), Duration::from_secs(30)))
            .no_proxy()
            .redirect(super::fetch::same_host_redirects(&target.host));
        if !target.addrs.is_empty() {
            b = b.resolve_to_addrs(&target.host, &target.addrs);
        }
        b.build().map_err(|e| format!("client HTTP : {e}"))
    }

    pub fn decision(&self, step_id: &str) -> Option<Decision> {
        self.env
            .decisions
            .iter()
            .find(|d| {
                d.participant == self.participant.id
                    && d.scenario == self.scenario_id
                    && d.step == step_id
            })
            .map(|d| Decision {
                verdict: d.verdict.clone(),
                by: d.by.clone(),
                note: d.note.clone(),
            })
    }
}

/// A file-name-safe form of an id (a participant, a scenario, a step): one path component,
/// never `..` nor a hidden name.
pub fn safe(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

/// Everything a run needs besides the suite: the environment, the participants and the
/// selection.
pub struct Plan<'a> {
    pub suite: &'a Suite,
    pub participants: Vec<(Participant, Option<String>)>,
    pub scenarios: Vec<String>,
    /// Where prerequisites are judged: `None` (`banc run`), a prerequisite not played in this
    /// run is not waited for; `Some(met)` (an event), the (participant, scenario) pairs already
    /// met in earlier attempts count as met, one played in this run is awaited, any other is
    /// not met.
    pub met: Option<std::collections::HashSet<(String, String)>>,
    /// Only these (participant, scenario) pairs (an event plays instances, not whole
    /// participants); None: every selected scenario of every participant.
    pub pairs: Option<std::collections::HashSet<(String, String)>>,
}

/// Play the plan until done or `cancel` turns true; the results of every scenario, finished,
/// skipped or interrupted.
pub async fn execute(
    env: Arc<Env>,
    plan: &Plan<'_>,
    cancel: watch::Receiver<bool>,
) -> Vec<ParticipantResult> {
    let suite_timeout = plan.suite.meta.timeout.map(|d| d.0);
    let mut handles = Vec::new();
    for (p, _) in &plan.participants {
        let scenarios: Vec<&Scenario> = plan
            .suite
            .scenarios
            .iter()
            .filter(|s| p.roles.contains(&s.role))
            .filter(|s| plan.scenarios.is_empty() || plan.scenarios.contains(&s.id))
            .filter(|s| {
                plan.pairs
                    .as_ref()
                    .is_none_or(|x| x.contains(&(p.id.clone(), s.id.clone())))
            })
            .collect();
        let mut done: HashMap<String, watch::Receiver<Option<Status>>> = HashMap::new();
        let mut senders = Vec::new();
        for s in &scenarios {
            let (tx, rx) = watch::channel(None);
            done.insert(s.id.clone(), rx);
            senders.push(tx);
        }
        let mut tasks = Vec::new();
        for (s, tx) in scenarios.into_iter().zip(senders) {
            let mut prereqs: Vec<(String, watch::Receiver<Option<Status>>)> = Vec::new();
            for id in &s.prerequisites {
                let before = plan
                    .met
                    .as_ref()
                    .map(|m| m.contains(&(p.id.clone(), id.clone())));
                match (before, done.get(id)) {
                    (Some(true), _) => {}
                    (_, Some(rx)) => prereqs.push((id.clone(), rx.clone())),
                    (None, None) => {}
                    // Neither met in the event nor played now: a prerequisite that failed.
                    (Some(false), None) => {
                        let (_, rx) = watch::channel(Some(Status::Skipped));
                        prereqs.push((id.clone(), rx));
                    }
                }
            }
            let cx = Ctx {
                env: env.clone(),
                participant: p.clone(),
                scenario_id: s.id.clone(),
            };
            let s = s.clone();
            let cancel = cancel.clone();
            let shown = s.clone();
            tasks.push((
                shown,
                tokio::spawn(async move {
                    let observer = cx.env.observer.clone();
                    let who = cx.participant.id.clone();
                    let r = scenario(cx, &s, suite_timeout, prereqs, cancel).await;
                    if let Some(o) = observer {
                        o.finished(&who, &r);
                    }
                    let _ = tx.send(Some(r.status));
                    r
                }),
            ));
        }
        handles.push((p.clone(), tasks));
    }
    let mut out = Vec::new();
    for ((p, tasks), (_, simulated)) in handles.into_iter().zip(&plan.participants) {
        let mut results = Vec::new();
        for (s, t) in tasks {
            match t.await {
                Ok(r) => results.push(r),
                // A panic in banc while playing a scenario is that scenario's error; the
                // others go on (their prerequisite on it is then not met).
                Err(e) => results.push(internal_error(&s, e)),
            }
        }
        results.sort_by(|a, b| a.id.cmp(&b.id));
        out.push(ParticipantResult {
            score: Score::of(&results),
            id: p.id.clone(),
            organisation: p.organisation.clone(),
            system: p.system.clone(),
            roles: p.roles.clone(),
            simulated: simulated.clone(),
            scenarios: results,
        });
    }
    out
}

/// The result of a scenario whose task ended in a panic (or was cancelled by the runtime).
fn internal_error(s: &Scenario, e: tokio::task::JoinError) -> ScenarioResult {
    let what = if e.is_panic() {
        let payload = e.into_panic();
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panique".into())
    } else {
        "tâche annulée".into()
    };
    let why = format!(
        "{} : {} « {} »",
        crate::banc::internal::PANIC.id,
        crate::banc::internal::PANIC.message,
        crate::finding::quote(&what)
    );
    ScenarioResult {
        id: s.id.clone(),
        title: s.title.clone(),
        role: s.role,
        level: s.level,
        required: s.required,
        status: Status::Error,
        reason: Some(why.clone()),
        started: None,
        duration_ms: 0,
        steps: skipped_steps(s, &why),
    }
}

fn skipped_steps(s: &Scenario, why: &str) -> Vec<StepResult> {
    s.steps
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let (r, _) = steps::Play::new(st, i + 1).end(Status::Skipped, why);
            r
        })
        .collect()
}

async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    while !*cancel.borrow() {
        if cancel.changed().await.is_err() {
            // The sender is gone: nobody will cancel any more.
            std::future::pending::<()>().await;
        }
    }
}

async fn scenario(
    cx: Ctx,
    s: &Scenario,
    suite_timeout: Option<Duration>,
    prereqs: Vec<(String, watch::Receiver<Option<Status>>)>,
    mut cancel: watch::Receiver<bool>,
) -> ScenarioResult {
    let mut result = ScenarioResult {
        id: s.id.clone(),
        title: s.title.clone(),
        role: s.role,
        level: s.level,
        required: s.required,
        status: Status::Skipped,
        reason: None,
        started: None,
        duration_ms: 0,
        steps: Vec::new(),
    };
    for (id, mut rx) in prereqs {
        let status = tokio::select! {
            r = rx.wait_for(|v| v.is_some()) => r.ok().and_then(|v| *v),
            () = cancelled(&mut cancel) => {
                result.status = Status::Interrupted;
                result.reason = Some(format!("interrompu en attendant le prérequis {id}"));
                result.steps = skipped_steps(s, "interrompu avant de commencer");
                return result;
            }
        };
        match status {
            Some(Status::Passed | Status::Pending) => {}
            other => {
                let label = other.map_or("inconnu", |x| x.label_fr());
                let why = format!("prérequis {id} non réussi ({label})");
                result.reason = Some(why.clone());
                result.steps = skipped_steps(s, &why);
                return result;
            }
        }
    }
    result.started = Some(Utc::now().rfc3339());
    if let Some(o) = &cx.env.observer {
        o.started(&cx.participant.id, s);
    }
    let start = Instant::now();
    let timeout = s
        .timeout
        .map(|d| d.0)
        .or(suite_timeout)
        .unwrap_or(DEFAULT_TIMEOUT);
    let scenario_end = start + timeout;
    let mut outputs: HashMap<String, Output> = HashMap::new();
    let mut last_send: Option<Output> = None;
    let mut stop: Option<(Status, String)> = None;
    for (i, st) in s.steps.iter().enumerate() {
        if let Some((_, why)) = &stop {
            let (r, _) = steps::Play::new(st, i + 1).end(Status::Skipped, why.clone());
            result.steps.push(r);
            continue;
        }
        let wait = st
            .timeout
            .map(|d| d.0)
            .unwrap_or(timeout)
            .min(cx.env.max_wait.unwrap_or(Duration::MAX));
        let at = (Instant::now() + wait).min(scenario_end);
        let deadline = Deadline {
            at,
            total: at.saturating_duration_since(Instant::now()),
        };
        let played = tokio::select! {
            r = steps::play(&cx, st, i + 1, &outputs, last_send.as_ref(), deadline) => Some(r),
            () = cancelled(&mut cancel) => None,
        };
        let Some((r, out)) = played else {
            let (r, _) =
                steps::Play::new(st, i + 1).end(Status::Interrupted, "interrompu (Ctrl-C)");
            result.steps.push(r);
            stop = Some((Status::Interrupted, "interrompu (Ctrl-C)".into()));
            continue;
        };
        tracing::info!(
            "[{} {} {}] {} : {}",
            cx.participant.id,
            s.id,
            r.id,
            r.status.label_fr(),
            r.message
        );
        if matches!(r.status, Status::Failed | Status::Error | Status::Skipped) {
            stop = Some((
                r.status,
                format!("étape {} : {}", r.id, r.status.label_fr()),
            ));
        }
        if let Some(o) = &cx.env.observer {
            o.step(&cx.participant.id, &s.id, i + 1, &r, &out);
        }
        if st.kind == super::model::Kind::SendMail {
            last_send = Some(out.clone());
        }
        if let Some(id) = &st.id {
            outputs.insert(id.clone(), out);
        }
        result.steps.push(r);
    }
    result.duration_ms = start.elapsed().as_millis() as u64;
    result.status = ScenarioResult::status_from_steps(&result.steps);
    result.reason = result
        .steps
        .iter()
        .find(|x| x.status == result.status && result.status != Status::Passed)
        .map(|x| format!("{} : {}", x.id, x.message));
    result
}

/// The run's exit status: 0 every required scenario passed; 1 one did not; 3 none failed but
/// some wait for a validator; 130 interrupted.
pub fn exit_status(r: &RunResults) -> u8 {
    if r.interrupted {
        130
    } else if r.summary.passed {
        0
    } else if r.summary.required_failed == 0 {
        3
    } else {
        1
    }
}

/// The shared part of `banc run` and `banc rehearse`: start banc's mailboxes and HTTP listener,
/// play, write the reports, print the scoreboard. `embedded`: the run's own SMTP server (its
/// messages go to the inbox, it stops with the run); None when the caller feeds `env.inbox`
/// from a server that outlives the run.
pub async fn play_and_report(
    mut env: Env,
    plan: Plan<'_>,
    opts: &RunOptions,
    embedded: Option<crate::transport::server::Embedded>,
) -> Result<(RunResults, Vec<PathBuf>), Error> {
    let started = Utc::now().rfc3339();
    let t0 = Instant::now();
    let hits = match &opts.http_listen {
        Some(addr) => {
            let (base, rx) = super::hooks::start(addr).await.map_err(Error::Listen)?;
            tracing::info!("banc : écoute HTTP sur {base}");
            env.http_base = Some(base);
            Some(rx)
        }
        None => None,
    };
    let env = Arc::new(env);
    // Messages reach the inbox as soon as they are judged.
    let owned = embedded.is_some();
    let (stop, forward) = match embedded {
        Some(crate::transport::server::Embedded {
            mut received, stop, ..
        }) => {
            let inbox = env.inbox.clone();
            let forward = tokio::spawn(async move {
                while let Some(a) = received.recv().await {
                    inbox.push(Received::from_analysed(a));
                }
            });
            (Some(stop), Some(forward))
        }
        None => (None, None),
    };
    if let Some(mut hits) = hits {
        let hook_env = env.clone();
        tokio::spawn(async move {
            while let Some(h) = hits.recv().await {
                hook_env.hooks.push(h);
            }
        });
    }
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let abort = env.abort.clone();
    let signal = tokio::spawn(async move {
        let aborted = async {
            match abort {
                Some(n) => n.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = stop_signal() => {
                tracing::info!("banc : interruption demandée, écriture des résultats partiels…");
            }
            () = aborted => {
                tracing::warn!("banc : arrêt de l'exécution demandé");
            }
        }
        let _ = cancel_tx.send(true);
    });
    let participants = execute(env.clone(), &plan, cancel_rx.clone()).await;
    let interrupted = *cancel_rx.borrow();
    signal.abort();
    if let Some(stop) = stop {
        stop.notify_one();
    }
    if let Some(forward) = forward {
        forward.abort();
    }
    // A shared inbox outlives the run: its unclaimed messages may be another run's.
    for m in env.inbox.unclaimed().iter().filter(|_| owned) {
        tracing::info!(
            "banc : message {} de <{}> pour {} reçu mais attendu par aucune étape",
            m.envelope.id,
            m.envelope.mail_from,
            m.envelope.rcpt_to.join(", ")
        );
    }
    let summary = RunSummary::of(&participants);
    let results = RunResults {
        schema: RESULTS_SCHEMA.into(),
        banc: env!("CARGO_PKG_VERSION").into(),
        suite: SuiteInfo {
            id: plan.suite.meta.id.clone(),
            title: plan.suite.meta.title.clone(),
            version: plan.suite.meta.version.clone(),
            dir: plan.suite.dir.display().to_string(),
        },
        started,
        finished: Utc::now().rfc3339(),
        duration_ms: t0.elapsed().as_millis() as u64,
        interrupted,
        kit: env
            .validator
            .kit_stamp()
            .and_then(|k| serde_json::to_value(k).ok()),
        participants,
        summary,
    };
    let written = super::report::write_all(&opts.out, &results).map_err(Error::Reports)?;
    Ok((results, written))
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Load and lint a suite; lint errors stop the run (exit 2) with every one listed.
pub fn load_checked(
    dir: &Path,
    participants: Option<&Path>,
) -> Result<(Suite, Option<super::model::ParticipantsFile>), Error> {
    let suite = super::model::load_suite(dir)
        .map_err(|errs| {
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .map_err(Error::Suite)?;
    let pf = participants
        .map(|p| super::model::load_participants(p).map_err(|e| e.to_string()))
        .transpose()
        .map_err(Error::Suite)?;
    let errors: Vec<String> = super::lint::check(&suite, pf.as_ref())
        .into_iter()
        .filter(|i| i.severity == crate::finding::Severity::Error)
        .map(|i| i.to_string())
        .collect();
    if !errors.is_empty() {
        return Err(Error::Suite(format!(
            "suite invalide ({} erreur(s), voir banc suite check) :\n{}",
            errors.len(),
            errors.join("\n")
        )));
    }
    Ok((suite, pf))
}

fn read_decisions(path: &Path) -> Result<Vec<DecisionEntry>, String> {
    let (f, _) = super::model::read_toml::<DecisionsFile>(path).map_err(|e| e.to_string())?;
    for d in &f.decision {
        if d.verdict != "pass" && d.verdict != "fail" {
            return Err(format!(
                "{} : décision {} {} {} : verdict « {} » (pass ou fail attendu)",
                path.display(),
                d.participant,
                d.scenario,
                d.step,
                d.verdict
            ));
        }
    }
    Ok(f.decision)
}

/// Play a suite against the participants' systems: the results, and the report files written.
pub fn run(a: RunRequest) -> Result<(RunResults, Vec<PathBuf>), Error> {
    let (suite, pf) = load_checked(&a.suite, Some(&a.participants))?;
    let pf = pf.ok_or_else(|| Error::Suite("fichier de participants manquant".into()))?;
    for id in &a.only_participants {
        if !pf.participants.iter().any(|p| &p.id == id) {
            return Err(Error::Selection(format!(
                "--participant {id} : inconnu de {}",
                a.participants.display()
            )));
        }
    }
    for id in &a.only_scenarios {
        if suite.scenario(id).is_none() {
            return Err(Error::Selection(format!(
                "--scenario {id} : inconnu de la suite {}",
                suite.meta.id
            )));
        }
    }
    let decisions = match &a.decisions {
        Some(p) => read_decisions(p).map_err(Error::Decisions)?,
        None => Vec::new(),
    };
    let validator = Arc::new(a.check.validator()?);
    let participants: Vec<(Participant, Option<String>)> = pf
        .participants
        .iter()
        .filter(|p| a.only_participants.is_empty() || a.only_participants.contains(&p.id))
        .map(|p| (p.clone(), None))
        .collect();
    let documents = suite.documents().map_err(Error::Suite)?;
    let participants_dir = Some(pf.scope().map_err(Error::Suite)?);
    let opts = a.common.clone();
    create_out(&opts.out)?;
    let rt = runtime()?;
    rt.block_on(async move {
        let embedded = crate::transport::server::embedded(
            &opts.smtp_listen,
            &opts.out.join("spool"),
            &opts.domain,
            validator.clone(),
            opts.server_tls().as_ref(),
        )
        .await
        .map_err(Error::Listen)?;
        tracing::info!(
            "banc run : SMTP de banc sur {} (domaine {})",
            embedded.addr,
            opts.domain
        );
        let env = Env {
            validator,
            inbox: Arc::default(),
            hooks: Board::default(),
            domain: opts.domain.clone(),
            smtp_addr: embedded.addr.to_string(),
            http_base: None,
            submissions: opts
                .submissions
                .clone()
                .unwrap_or_else(|| opts.out.join("submissions")),
            documents,
            participants_dir,
            max_wait: opts.max_wait,
            decisions,
            labs: HashMap::new(),
            observer: None,
            abort: None,
        };
        let plan = Plan {
            suite: &suite,
            participants,
            scenarios: a.only_scenarios.clone(),
            met: None,
            pairs: None,
        };
        play_and_report(env, plan, &opts, Some(embedded)).await
    })
}

/// The output folder of a run, created readable by its owner only when banc creates it: it
/// holds the submissions, the messages received, test keys and the reports, with documents
/// about patients in them (an existing folder keeps the mode its owner gave it).
pub fn create_out(dir: &Path) -> Result<(), Error> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .map_err(|e| Error::Reports(format!("{} : {e}", dir.display())))
}

pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("runtime tokio : {e}")))
}
