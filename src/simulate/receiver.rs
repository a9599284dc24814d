//! `banc simulate receiver`: a reference consumer (LGC, DPI). It receives messages on its own
//! SMTP server, "integrates" the documents of patients it knows, and answers every message that
//! asks for one with an MDN: `processed`, or an IG LPS error code (900–906) when the message or
//! document deserves it. Its faults turn it into a misbehaving consumer.

use crate::mail::mdn::{MdnOptions, Outcome, make_mdn_with};
use crate::transport::server::Analysed;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Patients of the CR-BIO dataset a consumer creates before the session (suites/cr-bio):
/// GAUTIER Sophie and MOREAU Julien. LEFEBVRE Camille stays unknown (error 902).
pub const KNOWN_INS: [&str; 2] = ["291025626003396", "157112901911239"];

crate::choice_enum! {
    /// A misbehaviour of the simulated receiver, and the scenarios of `suites/cr-bio` it makes fail.
    pub enum ReceiverFault {
        /// Integrates a document of an unknown patient and answers processed: CRBIO-C02.
        AcceptUnknownPatient = "accept-unknown-patient",
        /// Takes a replacement of an unknown document for a new one (processed, not 900): CRBIO-C06.
        ReplacementAsNew = "replacement-as-new",
        /// Never answers: every scenario awaiting an acknowledgement.
        Silent = "silent",
        /// MDNs without Original-Message-ID (banc cannot tell what they acknowledge): every
        /// scenario awaiting an acknowledgement.
        NoOriginalMessageId = "no-original-message-id",
        /// Closes every SMTP connection at once: every scenario that sends it a message.
        CloseConnection = "close-connection",
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Where it listens (`127.0.0.1:0`: any free port).
    pub listen: String,
    /// Its MSSanté address (Reporting-UA, From of its MDNs).
    pub mailbox: String,
    /// The SMTP server its MDNs go to (banc's, in a run).
    pub relay: String,
    /// CA (PEM) to trust for the relay's STARTTLS certificate (banc's test CA in a rehearsal).
    pub relay_ca: Option<Vec<u8>>,
    pub known_ins: Vec<String>,
    pub faults: Vec<ReceiverFault>,
    pub spool: PathBuf,
}

pub struct Handle {
    pub addr: std::net::SocketAddr,
    pub stop: Arc<Notify>,
}

/// What it has integrated: document ids (`root^extension`).
#[derive(Default)]
struct Record {
    documents: HashSet<String>,
}

/// Start the receiver; it runs until `stop` is notified.
pub async fn start(
    cfg: Config,
    validator: Arc<crate::pipeline::Validator>,
) -> Result<Handle, String> {
    let stop = Arc::new(Notify::new());
    if cfg.faults.contains(&ReceiverFault::CloseConnection) {
        let listener = crate::transport::server::bind(&cfg.listen).await?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let s = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    a = listener.accept() => drop(a),
                    () = s.notified() => return,
                }
            }
        });
        return Ok(Handle { addr, stop });
    }
    let host = cfg
        .mailbox
        .rsplit('@')
        .next()
        .unwrap_or("recepteur.test")
        .to_string();
    let mut e =
        crate::transport::server::embedded(&cfg.listen, &cfg.spool, &host, validator, None).await?;
    let addr = e.addr;
    let server_stop = e.stop.clone();
    let s = stop.clone();
    let cfg = Arc::new(cfg);
    tokio::spawn(async move {
        let record = Arc::new(Mutex::new(Record::default()));
        loop {
            let a = tokio::select! {
                a = e.received.recv() => match a { Some(a) => a, None => return },
                () = s.notified() => { server_stop.notify_one(); return; }
            };
            let (cfg, record) = (cfg.clone(), record.clone());
            tokio::spawn(async move {
                if let Err(err) = answer(&cfg, &record, a).await {
                    tracing::warn!("banc simulate receiver ({}) : {err}", cfg.mailbox);
                }
            });
        }
    });
    Ok(Handle { addr, stop })
}

async fn answer(cfg: &Config, record: &Mutex<Record>, a: Analysed) -> Result<(), String> {
    let raw = &a.raw;
    let outcome = {
        let mut rec = record.lock().map_err(|_| "registre verrouillé")?;
        decide(cfg, &mut rec, raw, &a.report)
    };
    let Some(dnt) = crate::mail::disposition_notification_to(raw) else {
        return Ok(());
    };
    if cfg.faults.contains(&ReceiverFault::Silent) {
        return Ok(());
    }
    let mut mdn = make_mdn_with(raw, &cfg.mailbox, outcome, &MdnOptions::default())?;
    if cfg.faults.contains(&ReceiverFault::NoOriginalMessageId) {
        mdn = drop_field(&mdn, "Original-Message-ID:");
    }
    let opts = crate::mail::submit::SubmitOptions {
        ca_pem: cfg.relay_ca.clone(),
        ..crate::mail::submit::SubmitOptions::relay(&cfg.relay, &cfg.mailbox, &dnt)
    };
    crate::mail::submit::submit(&opts, &mdn)
        .await
        .map(|_| ())
        .map_err(|e| format!("envoi de l'accusé à {} : {e}", cfg.relay))
}

/// The lines of `text` starting with `field` (case-insensitive) removed.
fn drop_field(text: &[u8], field: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for line in text.split_inclusive(|b| *b == b'\n') {
        if !line
            .to_ascii_lowercase()
            .starts_with(field.to_ascii_lowercase().as_bytes())
        {
            out.extend_from_slice(line);
        }
    }
    out
}

fn error(code: u16) -> Outcome {
    Outcome::error(code).unwrap_or(Outcome::Error {
        code,
        label: "Erreur".into(),
    })
}

/// What a careful consumer answers (IG LPS error codes), in this order: nothing readable (a zip
/// bomb, judged unopened) or several patients → 906; no INS → 903; identity (subject, INS key,
/// patientId of the metadata) or INS status contradicting the document → 904 / 905; unknown
/// patient → 902; replacement of an unknown document → 900; a package or document that fails
/// validation (no METADATA.XML, wrong hash...) → 906; else processed (and the document is
/// recorded).
fn decide(
    cfg: &Config,
    rec: &mut Record,
    raw: &[u8],
    report: &crate::finding::report::RunReport,
) -> Outcome {
    let raised = |id: &str| {
        report
            .documents
            .iter()
            .flat_map(|d| &d.findings)
            .any(|f| f.rule == id)
    };
    let headers: Vec<crate::cda::header::CdaHeader> =
        crate::scenario::steps::message_documents(raw)
            .iter()
            .filter_map(|b| crate::cda::header::read("cda", b).ok())
            .collect();
    let patients: HashSet<Option<String>> = headers
        .iter()
        .map(|h| h.patient.ins.as_ref().and_then(|i| i.extension.clone()))
        .collect();
    if headers.is_empty()
        || patients.len() > 1
        || raised("mail.patient.several")
        || raised("xdm.metadata.several-patients")
    {
        return error(906);
    }
    if raised("banc.patient.ins-missing")
        || raised("mail.x-mss-ins.missing")
        || patients.contains(&None)
    {
        return error(903);
    }
    if raised("mail.subject.identity-mismatch")
        || raised("banc.patient.ins-format")
        || raised("xdm.metadata.cda-patient-id")
    {
        return error(904);
    }
    if raised("mail.x-mss-ins.mismatch") {
        return error(905);
    }
    let ins = patients.into_iter().flatten().next().unwrap_or_default();
    if !cfg.known_ins.contains(&ins) && !cfg.faults.contains(&ReceiverFault::AcceptUnknownPatient) {
        return error(902);
    }
    for h in &headers {
        if let Some(parent) = &h.replaces
            && !rec.documents.contains(&parent.xds())
            && !cfg.faults.contains(&ReceiverFault::ReplacementAsNew)
        {
            return error(900);
        }
    }
    let failing = report.documents.iter().flat_map(|d| &d.findings).any(|f| {
        f.severity == crate::finding::Severity::Error
            && !matches!(
                f.layer,
                crate::finding::Layer::Transport | crate::finding::Layer::Mail
            )
    });
    if failing {
        return error(906);
    }
    for h in &headers {
        if let Some(id) = &h.id {
            rec.documents.insert(id.xds());
        }
    }
    Outcome::Processed
}
