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

/// The identifiers of banc's simulated participants: a well-behaved and a faulty lab
/// (producers), a well-behaved and a faulty receiver (consumers).
pub const LAB_IDS: [&str; 2] = ["labo-reference", "labo-defaillant"];
pub const RECEIVER_IDS: [&str; 2] = ["recepteur-reference", "recepteur-defaillant"];

/// Default faults of the faulty lab and receiver.
pub fn default_faults() -> (Vec<LabFault>, Vec<ReceiverFault>) {
    (
        vec![LabFault::NoReadReceipt, LabFault::ReplacementNewSetId],
        vec![
            ReceiverFault::AcceptUnknownPatient,
            ReceiverFault::ReplacementAsNew,
        ],
    )
}

/// banc's simulated participants as participants of a run (their SMTP address unknown until
/// the receivers listen), each with the text saying what it simulates.
pub fn cast_participants(
    lab_faults: &[LabFault],
    receiver_faults: &[ReceiverFault],
    producers: bool,
    consumers: bool,
) -> Vec<(Participant, String)> {
    let mut out = Vec::new();
    if producers {
        for (id, faults) in [(LAB_IDS[0], &[][..]), (LAB_IDS[1], lab_faults)] {
            let text = if faults.is_empty() {
                "laboratoire simulé, sans défaut".to_string()
            } else {
                format!(
                    "laboratoire simulé, défauts : {}",
                    faults_text(faults, |f| f.name())
                )
            };
            out.push((
                participant(
                    id,
                    "Laboratoire simulé par banc",
                    "banc simulate lab",
                    Role::Producer,
                    &format!("sgl@{id}.test"),
                    None,
                ),
                text,
            ));
        }
    }
    if consumers {
        for (id, faults) in [
            (RECEIVER_IDS[0], &[][..]),
            (RECEIVER_IDS[1], receiver_faults),
        ] {
            let text = if faults.is_empty() {
                "destinataire simulé, sans défaut".to_string()
            } else {
                format!(
                    "destinataire simulé, défauts : {}",
                    faults_text(faults, |f| f.name())
                )
            };
            out.push((
                participant(
                    id,
                    "Destinataire simulé par banc",
                    "banc simulate receiver",
                    Role::Consumer,
                    &format!("dpi@{id}.test"),
                    None,
                ),
                text,
            ));
        }
    }
    out
}

/// What a rehearsal needs before banc's server starts: test certificates (a CA, banc's server
/// certificate, the labs' client certificates naming their mailboxes, a CRL) under `dir`.
pub struct Stage {
    /// STARTTLS of banc's server: the labs' mailboxes are application mailboxes, taken only over
    /// a session whose client certificate names them (and is not revoked).
    pub server_tls: crate::transport::server::EmbeddedTls,
    ca: Vec<u8>,
    lab_tls: HashMap<String, lab::LabTls>,
}

impl Stage {
    pub fn new(dir: &std::path::Path, domain: &str, producers: bool) -> Result<Stage, Error> {
        crate::transport::certs::generate(&crate::transport::certs::CertsOptions {
            out: dir.to_path_buf(),
            domain: Some(domain.to_string()),
            clients: LAB_IDS.iter().map(|id| format!("sgl@{id}.test")).collect(),
            force: true,
        })
        .map_err(Error::Listen)?;
        let read = |name: &str| {
            let p = dir.join(name);
            crate::files::read_bounded(&p, crate::files::MAX_SMALL)
                .map_err(|e| Error::Listen(e.to_string()))
        };
        let ca = read("ca.pem")?;
        let mut lab_tls = HashMap::new();
        for id in LAB_IDS {
            let base = format!(
                "client-{}",
                crate::transport::certs::file_part(&format!("sgl@{id}.test"))
            );
            lab_tls.insert(
                id.to_string(),
                lab::LabTls {
                    ca: ca.clone(),
                    cert: read(&format!("{base}.pem"))?,
                    key: read(&format!("{base}.key"))?,
                },
            );
        }
        let server_tls = crate::transport::server::EmbeddedTls {
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            client_ca: Some(dir.join("ca.pem")),
            crl: Some(dir.join("crl.pem")),
            application_mailboxes: if producers {
                LAB_IDS.iter().map(|id| format!("sgl@{id}.test")).collect()
            } else {
                Vec::new()
            },
        };
        Ok(Stage {
            server_tls,
            ca,
            lab_tls,
        })
    }
}

/// banc's simulated participants, playing: the labs (called by the runner) and the receivers
/// (listening), until [`Cast::stop`].
pub struct Cast {
    pub participants: Vec<(Participant, Option<String>)>,
    pub labs: HashMap<String, Arc<dyn run::Producer>>,
    receivers: Vec<receiver::Handle>,
}

impl Cast {
    /// Start the simulators of `wanted` (from [`cast_participants`]); `banc_smtp` is banc's
    /// server, `spool` where the receivers keep what they receive.
    pub async fn start(
        mut stage: Stage,
        wanted: Vec<(Participant, String)>,
        lab_faults: &[LabFault],
        receiver_faults: &[ReceiverFault],
        banc_smtp: &str,
        spool: &std::path::Path,
        validator: Arc<crate::pipeline::Validator>,
    ) -> Result<Cast, Error> {
        let mut cast = Cast {
            participants: Vec::new(),
            labs: HashMap::new(),
            receivers: Vec::new(),
        };
        for (mut p, text) in wanted {
            let faulty = p.id == LAB_IDS[1] || p.id == RECEIVER_IDS[1];
            match p.roles.first() {
                Some(Role::Producer) => {
                    let lab = Lab {
                        mailbox: p.mailbox.clone().unwrap_or_default(),
                        faults: if faulty {
                            lab_faults.to_vec()
                        } else {
                            Vec::new()
                        },
                        tls: stage.lab_tls.remove(&p.id),
                    };
                    cast.labs.insert(p.id.clone(), Arc::new(lab));
                }
                Some(Role::Consumer) => {
                    let h = receiver::start(
                        receiver::Config {
                            listen: "127.0.0.1:0".into(),
                            mailbox: p.mailbox.clone().unwrap_or_default(),
                            relay: banc_smtp.to_string(),
                            relay_ca: Some(stage.ca.clone()),
                            known_ins: receiver::KNOWN_INS.map(String::from).to_vec(),
                            faults: if faulty {
                                receiver_faults.to_vec()
                            } else {
                                Vec::new()
                            },
                            spool: spool.join(&p.id),
                        },
                        validator.clone(),
                    )
                    .await
                    .map_err(Error::Listen)?;
                    p.smtp = Some(h.addr.to_string());
                    cast.receivers.push(h);
                }
                None => {}
            }
            cast.participants.push((p, Some(text)));
        }
        Ok(cast)
    }

    pub fn stop(&self) {
        for h in &self.receivers {
            h.stop.notify_one();
        }
    }
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
    let (default_lab, default_receiver) = default_faults();
    let lab_faults = if a.lab_faults.is_empty() {
        default_lab
    } else {
        a.lab_faults.clone()
    };
    let receiver_faults = if a.receiver_faults.is_empty() {
        default_receiver
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
    let stage = Stage::new(&opts.out.join("certs"), &opts.domain, producers)?;
    let rt = run::runtime()?;
    rt.block_on(async move {
        let embedded = crate::transport::server::embedded(
            &opts.smtp_listen,
            &opts.out.join("spool"),
            &opts.domain,
            validator.clone(),
            Some(&stage.server_tls),
        )
        .await
        .map_err(Error::Listen)?;
        let banc_smtp = embedded.addr.to_string();
        let cast = Cast::start(
            stage,
            cast_participants(&lab_faults, &receiver_faults, producers, consumers),
            &lab_faults,
            &receiver_faults,
            &banc_smtp,
            &opts.out.join("simulateurs"),
            validator.clone(),
        )
        .await?;
        tracing::info!("banc rehearse : SMTP de banc sur {banc_smtp}");
        let env = Env {
            validator,
            inbox: Arc::default(),
            hooks: Board::default(),
            domain: opts.domain.clone(),
            smtp_addr: banc_smtp,
            http_base: None,
            submissions: opts.out.join("submissions"),
            documents,
            participants_dir: None,
            max_wait: opts.max_wait,
            decisions: Vec::new(),
            labs: cast.labs.clone(),
            observer: None,
            abort: None,
        };
        let plan = Plan {
            suite: &suite,
            participants: cast.participants.clone(),
            scenarios: a.scenarios.clone(),
            met: None,
            pairs: None,
        };
        let result = run::play_and_report(env, plan, &opts, Some(embedded)).await;
        cast.stop();
        result
    })
}
