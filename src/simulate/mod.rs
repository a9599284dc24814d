//! banc's reference simulators, so that every scenario can be rehearsed with no vendor present:
//! a producer (`lab`) and a consumer (`receiver`), well-behaved or with chosen faults, and
//! `banc rehearse`, which plays a suite against both kinds.

pub mod lab;
pub mod receiver;

use crate::pipeline::CheckOptions;
use crate::scenario::Error;
use crate::scenario::inbox::Board;
use crate::scenario::model::{Kind, Participant, Role};
use crate::scenario::run::{self, Env, Plan, RunOptions};
use lab::{Lab, LabFault};
use receiver::ReceiverFault;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Suite folder (e.g. suites/cr-bio).
    pub suite: PathBuf,
    /// banc's SMTP server (`banc run --smtp-listen`).
    pub smtp: String,
    /// Domain of banc's mailboxes (as `banc run --domain`).
    pub domain: String,
    /// The lab's MSSanté address (the participant's `mailbox`).
    pub mailbox: String,
    /// The participant id it plays (submissions go to DIR/<ID>/...).
    pub participant: String,
    /// Submissions folder of the run (`banc run --submissions`, default reports/run/submissions).
    pub submissions: PathBuf,
    /// Only this scenario (repeatable).
    pub scenarios: Vec<String>,
    /// A misbehaviour (repeatable).
    pub faults: Vec<LabFault>,
    /// STARTTLS to banc: --ca (banc's CA), --cert and --key (the lab's client certificate).
    pub tls: crate::mail::tls::ClientTlsOptions,
}

#[derive(Debug, Clone)]
pub struct ReceiverOptions {
    /// Where it listens for messages.
    pub listen: String,
    /// Its MSSanté address.
    pub mailbox: String,
    /// SMTP server its acknowledgements go to (banc's, `banc run --smtp-listen`).
    pub relay: String,
    /// CA (PEM) of the relay's certificate, when it offers STARTTLS with a test CA.
    pub relay_ca: Option<PathBuf>,
    /// INS of a patient it knows (repeatable; default: GAUTIER Sophie and MOREAU Julien of the
    /// CR-BIO dataset).
    pub known_ins: Vec<String>,
    /// A misbehaviour (repeatable).
    pub faults: Vec<ReceiverFault>,
    /// Where received messages are kept.
    pub spool: PathBuf,
    pub check: CheckOptions,
}

#[derive(Debug, Clone)]
pub struct RehearseOptions {
    /// Suite folder (e.g. suites/cr-bio).
    pub suite: PathBuf,
    /// Faults of the misbehaving lab (repeatable; default: no-read-receipt,
    /// replacement-new-set-id).
    pub lab_faults: Vec<LabFault>,
    /// Faults of the misbehaving receiver (repeatable; default: accept-unknown-patient,
    /// replacement-as-new).
    pub receiver_faults: Vec<ReceiverFault>,
    /// Only this scenario (repeatable).
    pub scenarios: Vec<String>,
    /// Folder of the reports (results.json, junit.xml, report.html).
    pub out: PathBuf,
    /// Cap every wait (a simulator answers in milliseconds; a missing answer fails after this).
    pub max_wait: std::time::Duration,
    pub check: CheckOptions,
}

/// What one step of `banc simulate lab` did: scenario, step label, and what was deposited or
/// sent (or why not).
pub type LabStep<'a> = (&'a str, &'a str, Result<String, String>);

/// Play the producer scenarios' samples once; `on_step` hears each step as it is done. The
/// number of steps that failed.
pub fn run_lab(a: &LabOptions, mut on_step: impl FnMut(LabStep<'_>)) -> Result<usize, Error> {
    let (suite, _) = run::load_checked(&a.suite, None)?;
    let lab = Lab {
        mailbox: a.mailbox.clone(),
        faults: a.faults.clone(),
        tls: lab_tls(&a.tls).map_err(Error::Selection)?,
    };
    let fixtures = suite.documents().map_err(Error::Suite)?;
    let rt = run::runtime()?;
    let mut failures = 0;
    rt.block_on(async {
        for s in suite.scenarios.iter().filter(|s| s.role == Role::Producer) {
            if !a.scenarios.is_empty() && !a.scenarios.contains(&s.id) {
                continue;
            }
            for (i, st) in s.steps.iter().enumerate() {
                if st.sample.is_none() {
                    continue;
                }
                let label = st.label(i + 1);
                let done = match st.kind {
                    Kind::Submit => {
                        // The ids come from the suite: one path component each, as the runner.
                        let dir = a
                            .submissions
                            .join(run::safe(&a.participant))
                            .join(run::safe(&s.id))
                            .join(run::safe(&label));
                        lab.deposit(&fixtures, st)
                            .and_then(|(name, bytes)| lab::write_atomic(&dir, &name, &bytes))
                            .map(|p| format!("déposé {}", p.display()))
                    }
                    Kind::AwaitMail => {
                        let to = if st.mailbox.as_deref() == Some("patient") {
                            format!("<INS>@{}", crate::scenario::inbox::PATIENT_DOMAIN)
                        } else {
                            format!(
                                "{}+{}@{}",
                                st.mailbox.as_deref().unwrap_or("banc"),
                                s.id.to_ascii_lowercase(),
                                a.domain
                            )
                        };
                        lab.deliver(&fixtures, st, &to, &a.smtp)
                            .await
                            .map(|()| format!("envoyé à {to}"))
                    }
                    _ => continue,
                };
                if done.is_err() {
                    failures += 1;
                }
                on_step((&s.id, &label, done));
            }
        }
    });
    Ok(failures)
}

/// The lab's STARTTLS material: all of --ca, --cert and --key, or none.
fn lab_tls(t: &crate::mail::tls::ClientTlsOptions) -> Result<Option<lab::LabTls>, String> {
    let pem = t.read()?;
    match (pem.ca, pem.identity) {
        (None, None) => Ok(None),
        (Some(ca), Some((cert, key))) => Ok(Some(lab::LabTls { ca, cert, key })),
        _ => Err("--ca, --cert et --key vont ensemble (TLS mutuel avec le serveur de banc)".into()),
    }
}

/// Run the simulated receiver until Ctrl-C; `on_listening` hears its address once it listens.
pub fn run_receiver(
    a: &ReceiverOptions,
    on_listening: impl FnOnce(std::net::SocketAddr),
) -> Result<(), Error> {
    let validator = Arc::new(a.check.validator()?);
    let cfg = receiver::Config {
        listen: a.listen.clone(),
        mailbox: a.mailbox.clone(),
        relay: a.relay.clone(),
        relay_ca: a
            .relay_ca
            .as_ref()
            .map(|p| {
                crate::files::read_bounded(p, crate::files::MAX_SMALL)
                    .map_err(|e| format!("--relay-ca {e}"))
            })
            .transpose()
            .map_err(Error::Selection)?,
        known_ins: if a.known_ins.is_empty() {
            receiver::KNOWN_INS.map(String::from).to_vec()
        } else {
            a.known_ins.clone()
        },
        faults: a.faults.clone(),
        spool: a.spool.clone(),
    };
    let rt = run::runtime()?;
    rt.block_on(async {
        let h = receiver::start(cfg, validator)
            .await
            .map_err(Error::Listen)?;
        on_listening(h.addr);
        let _ = tokio::signal::ctrl_c().await;
        h.stop.notify_one();
        Ok(())
    })
}

fn participant(
    id: &str,
    organisation: &str,
    system: &str,
    role: Role,
    mailbox: &str,
    smtp: Option<String>,
) -> Participant {
    Participant {
        id: id.into(),
        organisation: organisation.into(),
        system: system.into(),
        roles: vec![role],
        mailbox: Some(mailbox.into()),
        smtp,
        imap: None,
        http: None,
        contact: None,
        hosts: Vec::new(),
        tls: None,
    }
}

fn faults_text<T>(f: &[T], name: impl Fn(&T) -> &str) -> String {
    f.iter().map(name).collect::<Vec<_>>().join(", ")
}

/// `banc rehearse SUITE`: the suite against a well-behaved and a misbehaving simulated
/// participant of each role it has.
pub fn rehearse(
    a: RehearseOptions,
) -> Result<(crate::scenario::results::RunResults, Vec<PathBuf>), Error> {
    let (suite, _) = run::load_checked(&a.suite, None)?;
    for id in &a.scenarios {
        if suite.scenario(id).is_none() {
            return Err(Error::Selection(format!(
                "--scenario {id} : inconnu de la suite {}",
                suite.meta.id
            )));
        }
    }
    let validator = Arc::new(a.check.validator()?);
    let lab_faults = if a.lab_faults.is_empty() {
        vec![LabFault::NoReadReceipt, LabFault::ReplacementNewSetId]
    } else {
        a.lab_faults.clone()
    };
    let receiver_faults = if a.receiver_faults.is_empty() {
        vec![
            ReceiverFault::AcceptUnknownPatient,
            ReceiverFault::ReplacementAsNew,
        ]
    } else {
        a.receiver_faults.clone()
    };
    let has = |r: Role| -> bool {
        suite
            .scenarios
            .iter()
            .any(|s| s.role == r && (a.scenarios.is_empty() || a.scenarios.contains(&s.id)))
    };
    let (producers, consumers) = (has(Role::Producer), has(Role::Consumer));
    let opts = RunOptions {
        out: a.out.clone(),
        submissions: None,
        smtp_listen: "127.0.0.1:0".into(),
        domain: "banc.test".into(),
        http_listen: None,
        max_wait: Some(a.max_wait),
        tls_cert: None,
        tls_key: None,
        client_ca: None,
    };
    // banc's server offers STARTTLS with a test CA; the simulated labs present client
    // certificates of it that name their mailboxes (CRBIO-P13), the receivers trust it for
    // their acknowledgements.
    let documents = suite.documents().map_err(Error::Suite)?;
    run::create_out(&opts.out)?;
    let certs = opts.out.join("certs");
    let lab_ids = ["labo-reference", "labo-defaillant"];
    crate::transport::certs::generate(&crate::transport::certs::CertsOptions {
        out: certs.clone(),
        domain: Some(opts.domain.clone()),
        clients: lab_ids.iter().map(|id| format!("sgl@{id}.test")).collect(),
        force: true,
    })
    .map_err(Error::Listen)?;
    let read = |name: &str| {
        let p = certs.join(name);
        crate::files::read_bounded(&p, crate::files::MAX_SMALL)
            .map_err(|e| Error::Listen(e.to_string()))
    };
    let ca = read("ca.pem")?;
    let mut lab_tls = HashMap::new();
    for id in lab_ids {
        let base = format!(
            "client-{}",
            crate::transport::certs::file_part(&format!("sgl@{id}.test"))
        );
        lab_tls.insert(
            id,
            lab::LabTls {
                ca: ca.clone(),
                cert: read(&format!("{base}.pem"))?,
                key: read(&format!("{base}.key"))?,
            },
        );
    }
    // The labs' mailboxes are application mailboxes: banc, as their operator, takes a message
    // from one only over a session whose client certificate names it (and is not revoked).
    let server_tls = crate::transport::server::EmbeddedTls {
        cert: certs.join("server.pem"),
        key: certs.join("server.key"),
        client_ca: Some(certs.join("ca.pem")),
        crl: Some(certs.join("crl.pem")),
        application_mailboxes: if producers {
            lab_ids.iter().map(|id| format!("sgl@{id}.test")).collect()
        } else {
            Vec::new()
        },
    };
    let rt = run::runtime()?;
    rt.block_on(async move {
        let embedded = crate::transport::server::embedded(
            &opts.smtp_listen,
            &opts.out.join("spool"),
            &opts.domain,
            validator.clone(),
            Some(&server_tls),
        )
        .await
        .map_err(Error::Listen)?;
        let banc_smtp = embedded.addr.to_string();
        let mut participants = Vec::new();
        let mut labs: HashMap<String, Arc<dyn run::Producer>> = HashMap::new();
        let mut receivers = Vec::new();
        if producers {
            for (id, faults) in [
                ("labo-reference", Vec::new()),
                ("labo-defaillant", lab_faults.clone()),
            ] {
                let mailbox = format!("sgl@{id}.test");
                let text = if faults.is_empty() {
                    "laboratoire simulé, sans défaut".to_string()
                } else {
                    format!(
                        "laboratoire simulé, défauts : {}",
                        faults_text(&faults, |f| f.name())
                    )
                };
                participants.push((
                    participant(
                        id,
                        "Laboratoire simulé par banc",
                        "banc simulate lab",
                        Role::Producer,
                        &mailbox,
                        None,
                    ),
                    Some(text),
                ));
                labs.insert(
                    id.to_string(),
                    Arc::new(Lab {
                        mailbox,
                        faults,
                        tls: lab_tls.remove(id),
                    }),
                );
            }
        }
        if consumers {
            for (id, faults) in [
                ("recepteur-reference", Vec::new()),
                ("recepteur-defaillant", receiver_faults.clone()),
            ] {
                let mailbox = format!("dpi@{id}.test");
                let h = receiver::start(
                    receiver::Config {
                        listen: "127.0.0.1:0".into(),
                        mailbox: mailbox.clone(),
                        relay: banc_smtp.clone(),
                        relay_ca: Some(ca.clone()),
                        known_ins: receiver::KNOWN_INS.map(String::from).to_vec(),
                        faults: faults.clone(),
                        spool: opts.out.join("simulateurs").join(id),
                    },
                    validator.clone(),
                )
                .await
                .map_err(Error::Listen)?;
                let text = if faults.is_empty() {
                    "destinataire simulé, sans défaut".to_string()
                } else {
                    format!(
                        "destinataire simulé, défauts : {}",
                        faults_text(&faults, |f| f.name())
                    )
                };
                participants.push((
                    participant(
                        id,
                        "Destinataire simulé par banc",
                        "banc simulate receiver",
                        Role::Consumer,
                        &mailbox,
                        Some(h.addr.to_string()),
                    ),
                    Some(text),
                ));
                receivers.push(h);
            }
        }
        tracing::info!("banc rehearse : SMTP de banc sur {banc_smtp}");
        let env = Env {
            validator,
            inbox: Board::default(),
            hooks: Board::default(),
            domain: opts.domain.clone(),
            smtp_addr: banc_smtp,
            http_base: None,
            submissions: opts.out.join("submissions"),
            documents,
            participants_dir: None,
            max_wait: opts.max_wait,
            decisions: Vec::new(),
            labs,
        };
        let plan = Plan {
            suite: &suite,
            participants,
            scenarios: a.scenarios.clone(),
        };
        let (results, written) = run::play_and_report(env, plan, &opts, embedded).await?;
        for h in receivers {
            h.stop.notify_one();
        }
        Ok((results, written))
    })
}
