//! `banc suite check`, `banc run`, `banc rehearse` and `banc simulate`: arguments, the
//! scoreboard and exit statuses; the work in `banc::scenario` and `banc::simulate`.

use super::common::{CheckArgs, choice, emit, emit_json, terminal_width};
use super::mail::ClientTlsArgs;
use banc::finding::Severity;
use banc::scenario::results::RunResults;
use banc::scenario::run::{RunOptions, RunRequest};
use banc::simulate::lab::LabFault;
use banc::simulate::receiver::ReceiverFault;
use banc::simulate::{LabOptions, ReceiverOptions, RehearseOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum SuiteCommand {
    /// Vérifier une suite (et un fichier de participants) sans rien exécuter.
    Check(SuiteCheckArgs),
}

/// `banc suite check SUITE [--participants FILE]`.
#[derive(clap::Args, Debug)]
pub struct SuiteCheckArgs {
    /// Suite folder (e.g. suites/cr-bio).
    pub suite: PathBuf,
    /// Participants file to check with it.
    #[arg(long, value_name = "FILE")]
    pub participants: Option<PathBuf>,
    /// Output: a table, or JSON (`{"suite", "scenarios", "steps", "issues": [{"severity",
    /// "file", "line", "column", "message"}]}`) for scripts.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

pub fn suite(cmd: SuiteCommand) -> Result<ExitCode, String> {
    let SuiteCommand::Check(a) = cmd;
    let c = banc::scenario::check(&a.suite, a.participants.as_deref());
    if a.format == "json" {
        let list: Vec<serde_json::Value> = c
            .issues
            .iter()
            .map(|i| {
                serde_json::json!({
                    "severity": i.severity.as_str(),
                    "file": i.file.display().to_string(),
                    "line": i.line,
                    "column": i.column,
                    "message": i.message,
                })
            })
            .collect();
        let v = serde_json::json!({
            "suite": a.suite.display().to_string(),
            "scenarios": c.scenarios,
            "steps": c.steps,
            "errors": c.errors,
            "warnings": c.warnings,
            "issues": list,
        });
        emit_json(&format!("{v:#}\n"));
    } else {
        if !c.issues.is_empty() {
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
                .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
                .set_width(terminal_width())
                .set_header(vec!["Sévérité", "Fichier", "Problème"]);
            for i in &c.issues {
                let at = match (i.line, i.column) {
                    (Some(l), Some(c)) => format!("{}:{l}:{c}", i.file.display()),
                    (Some(l), None) => format!("{}:{l}", i.file.display()),
                    _ => i.file.display().to_string(),
                };
                t.add_row(vec![i.severity.as_str().to_string(), at, i.message.clone()]);
            }
            emit(&format!("{t}\n"));
        }
        emit(&format!(
            "Suite {} : {} scénario(s), {} étape(s) ; {} erreur(s), {} avertissement(s).\n",
            a.suite.display(),
            c.scenarios,
            c.steps,
            c.errors,
            c.warnings
        ));
    }
    debug_assert_eq!(
        c.errors,
        c.issues
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .count()
    );
    Ok(if c.errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Suite folder (e.g. suites/cr-bio).
    pub suite: PathBuf,
    /// Participants file (see suites/participants.example.toml).
    #[arg(long, value_name = "FILE")]
    pub participants: PathBuf,
    /// Only this participant (repeatable).
    #[arg(long = "participant", value_name = "ID")]
    pub only_participants: Vec<String>,
    /// Only this scenario (repeatable).
    #[arg(long = "scenario", value_name = "ID")]
    pub only_scenarios: Vec<String>,
    #[command(flatten)]
    pub common: RunOptionsArgs,
    /// Validators' decisions on manual steps (TOML `[[decision]]` participant, scenario, step,
    /// verdict = "pass"|"fail", by, note).
    #[arg(long, value_name = "FILE")]
    pub decisions: Option<PathBuf>,
    #[command(flatten)]
    pub check: CheckArgs,
}

/// Options of `banc run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunOptionsArgs {
    /// Folder for results.json, junit.xml, report.html, the spool of received messages and
    /// the submissions.
    #[arg(long, value_name = "DIR", default_value = "reports/run")]
    pub out: PathBuf,
    #[command(flatten)]
    pub runner: RunnerArgs,
}

/// How banc meets the participants: shared by `banc run` and `banc event run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunnerArgs {
    /// Where participants drop documents for `submit` steps (and evidence):
    /// DIR/<participant>/<scenario>/<step>/ (default OUT/submissions; for an event
    /// EVENT/submissions).
    #[arg(long, value_name = "DIR")]
    pub submissions: Option<PathBuf>,
    /// banc's SMTP server, where producers send and consumers return acknowledgements.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:2525")]
    pub smtp_listen: String,
    /// Mail domain of banc's mailboxes (`banc+<scenario>@DOMAIN`).
    #[arg(long, value_name = "DOMAIN", default_value = "banc.test")]
    pub domain: String,
    /// banc's HTTP listener for `http` steps that wait for the SUT's call
    /// (http://ADDR/<participant>/<path>); none by default.
    #[arg(long, value_name = "ADDR:PORT")]
    pub http_listen: Option<String>,
    /// Cap every wait at this duration (`30s`, `2m`), whatever the suite says: rehearsals, CI.
    #[arg(long, value_name = "DURATION", value_parser = banc::scenario::model::parse_duration)]
    pub max_wait: Option<Duration>,
    /// Certificate chain (PEM) of banc's SMTP server: STARTTLS offered (e.g. from
    /// `banc mail certs`).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA of the participants' client certificates (PEM): banc asks for one and records it.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
}

impl From<RunOptionsArgs> for RunOptions {
    fn from(o: RunOptionsArgs) -> RunOptions {
        RunOptions {
            out: o.out,
            ..o.runner.into()
        }
    }
}

impl From<RunnerArgs> for RunOptions {
    fn from(a: RunnerArgs) -> RunOptions {
        RunOptions {
            out: PathBuf::new(),
            submissions: a.submissions,
            smtp_listen: a.smtp_listen,
            domain: a.domain,
            http_listen: a.http_listen,
            max_wait: a.max_wait,
            tls_cert: a.tls_cert,
            tls_key: a.tls_key,
            client_ca: a.client_ca,
        }
    }
}

pub fn run(a: RunArgs) -> Result<ExitCode, String> {
    let results = banc::scenario::run::run(RunRequest {
        suite: a.suite,
        participants: a.participants,
        only_participants: a.only_participants,
        only_scenarios: a.only_scenarios,
        common: a.common.into(),
        decisions: a.decisions,
        check: a.check.into(),
    })
    .map_err(|e| e.to_string())?;
    Ok(scoreboard(results))
}

/// Print the scoreboard and the written files; the run's exit status.
fn scoreboard((results, written): (RunResults, Vec<PathBuf>)) -> ExitCode {
    emit(&banc::scenario::report::table(&results, terminal_width()));
    for w in &written {
        eprintln!("banc : écrit {}", w.display());
    }
    ExitCode::from(banc::scenario::run::exit_status(&results))
}

#[derive(clap::Args, Debug)]
pub struct RehearseArgs {
    /// Suite folder (e.g. suites/cr-bio).
    pub suite: PathBuf,
    /// Faults of the misbehaving lab (repeatable; default: no-read-receipt,
    /// replacement-new-set-id).
    #[arg(long = "lab-fault", value_parser = choice::<LabFault>())]
    pub lab_faults: Vec<LabFault>,
    /// Faults of the misbehaving receiver (repeatable; default: accept-unknown-patient,
    /// replacement-as-new).
    #[arg(long = "receiver-fault", value_parser = choice::<ReceiverFault>())]
    pub receiver_faults: Vec<ReceiverFault>,
    /// Only this scenario (repeatable).
    #[arg(long = "scenario", value_name = "ID")]
    pub scenarios: Vec<String>,
    /// Folder of the reports (results.json, junit.xml, report.html).
    #[arg(long, value_name = "DIR", default_value = "reports/rehearse")]
    pub out: PathBuf,
    /// Cap every wait (a simulator answers in milliseconds; a missing answer fails after this).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = banc::scenario::model::parse_duration)]
    pub max_wait: std::time::Duration,
    #[command(flatten)]
    pub check: CheckArgs,
}

pub fn rehearse(a: RehearseArgs) -> Result<ExitCode, String> {
    let results = banc::simulate::rehearse(RehearseOptions {
        suite: a.suite,
        lab_faults: a.lab_faults,
        receiver_faults: a.receiver_faults,
        scenarios: a.scenarios,
        out: a.out,
        max_wait: a.max_wait,
        check: a.check.into(),
    })
    .map_err(|e| e.to_string())?;
    Ok(scoreboard(results))
}

#[derive(clap::Subcommand, Debug)]
pub enum SimulateCommand {
    /// Un laboratoire (producteur) : dépose et envoie les échantillons des scénarios producteurs.
    Lab(LabArgs),
    /// Un logiciel destinataire (consommateur) : reçoit, intègre, répond par MDN (900–906).
    Receiver(ReceiverArgs),
}

#[derive(clap::Args, Debug)]
pub struct LabArgs {
    /// Suite folder (e.g. suites/cr-bio).
    pub suite: PathBuf,
    /// banc's SMTP server (`banc run --smtp-listen`).
    #[arg(long, value_name = "HOST:PORT")]
    pub smtp: String,
    /// Domain of banc's mailboxes (as `banc run --domain`).
    #[arg(long, default_value = "banc.test")]
    pub domain: String,
    /// The lab's MSSanté address (the participant's `mailbox`).
    #[arg(long, default_value = "sgl@labo-simule.test")]
    pub mailbox: String,
    /// The participant id it plays (submissions go to DIR/<ID>/...).
    #[arg(long, default_value = "labo-simule")]
    pub participant: String,
    /// Submissions folder of the run (`banc run --submissions`, default reports/run/submissions).
    #[arg(long, value_name = "DIR", default_value = "reports/run/submissions")]
    pub submissions: PathBuf,
    /// Only this scenario (repeatable).
    #[arg(long = "scenario", value_name = "ID")]
    pub scenarios: Vec<String>,
    /// A misbehaviour (repeatable).
    #[arg(long = "fault", value_parser = choice::<LabFault>())]
    pub faults: Vec<LabFault>,
    /// STARTTLS to banc: --ca (banc's CA), --cert and --key (the lab's client certificate).
    #[command(flatten)]
    pub tls: ClientTlsArgs,
}

#[derive(clap::Args, Debug)]
pub struct ReceiverArgs {
    /// Where it listens for messages.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:2526")]
    pub listen: String,
    /// Its MSSanté address.
    #[arg(long, default_value = "dpi@recepteur-simule.test")]
    pub mailbox: String,
    /// SMTP server its acknowledgements go to (banc's, `banc run --smtp-listen`).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:2525")]
    pub relay: String,
    /// CA (PEM) of the relay's certificate, when it offers STARTTLS with a test CA.
    #[arg(long, value_name = "FILE")]
    pub relay_ca: Option<PathBuf>,
    /// INS of a patient it knows (repeatable; default: GAUTIER Sophie and MOREAU Julien of the
    /// CR-BIO dataset).
    #[arg(long = "known-ins", value_name = "INS")]
    pub known_ins: Vec<String>,
    /// A misbehaviour (repeatable).
    #[arg(long = "fault", value_parser = choice::<ReceiverFault>())]
    pub faults: Vec<ReceiverFault>,
    /// Where received messages are kept.
    #[arg(long, value_name = "DIR", default_value = "reports/receiver-spool")]
    pub spool: PathBuf,
    #[command(flatten)]
    pub check: CheckArgs,
}

pub fn simulate(cmd: SimulateCommand) -> Result<ExitCode, String> {
    match cmd {
        SimulateCommand::Lab(a) => {
            let opts = LabOptions {
                suite: a.suite,
                smtp: a.smtp,
                domain: a.domain,
                mailbox: a.mailbox,
                participant: a.participant,
                submissions: a.submissions,
                scenarios: a.scenarios,
                faults: a.faults,
                tls: a.tls.into(),
            };
            let failures = banc::simulate::run_lab(&opts, |(scenario, label, done)| match done {
                Ok(m) => emit(&format!("{scenario} {label} : {m}\n")),
                Err(e) => eprintln!("{scenario} {label} : {}", super::common::visible(&e)),
            })
            .map_err(|e| e.to_string())?;
            Ok(if failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        SimulateCommand::Receiver(a) => {
            let opts = ReceiverOptions {
                listen: a.listen,
                mailbox: a.mailbox,
                relay: a.relay,
                relay_ca: a.relay_ca,
                known_ins: a.known_ins,
                faults: a.faults,
                spool: a.spool,
                check: a.check.into(),
            };
            banc::simulate::run_receiver(&opts, |addr| {
                emit(&format!(
                    "banc simulate receiver: écoute sur {addr} (boîte {}, accusés vers {})\n",
                    opts.mailbox, opts.relay
                ))
            })
            .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
