//! `banc mail send`: compose a conforming MSSanté message (or take an .eml) and submit it over
//! SMTP with STARTTLS, optionally with a client certificate (mutual TLS, as MSSanté application
//! mailboxes). Exit 0 when the server accepts (2xx), 1 when it refuses (4xx/5xx), 2 when the
//! connection or TLS fails.

use super::compose::{self, MessageArgs};
use super::submit::{self, StartTls, SubmitError, SubmitOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct SendArgs {
    /// CDA documents to send (one patient); not with --eml.
    #[arg(required_unless_present = "eml", conflicts_with = "eml")]
    pub documents: Vec<PathBuf>,
    /// Send this message as it is instead of composing one.
    #[arg(long, value_name = "FILE")]
    pub eml: Option<PathBuf>,
    /// Submission server, HOST:PORT (587 for MSSanté operators; UNCONFIRMED).
    #[arg(long, value_name = "HOST:PORT")]
    pub smtp: String,
    /// STARTTLS: required (default), opportunistic, or none.
    #[arg(long, value_enum, default_value_t = StartTls::Required)]
    pub starttls: StartTls,
    #[command(flatten)]
    pub tls_files: super::tls::ClientTlsArgs,
    /// Envelope sender (MAIL FROM; default: the From address).
    #[arg(long, value_name = "ADDR")]
    pub mail_from: Option<String>,
    /// Name given in EHLO.
    #[arg(long, default_value = "banc.invalid")]
    pub helo: String,
    /// Timeout of each step, in seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Also write the message sent to FILE (to judge its MDN later with --original).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    #[command(flatten)]
    pub message: Box<MessageArgs>,
}

fn read(p: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("{} : {e}", p.display()))
}

pub fn run(args: SendArgs) -> Result<ExitCode, String> {
    let raw = match &args.eml {
        Some(p) => read(p)?,
        None => {
            if args.message.to.is_empty() {
                return Err("au moins un destinataire : --to ADRESSE".into());
            }
            let docs = compose::read_documents(&args.documents)?;
            compose::compose(&docs, &args.message.options()?)?
        }
    };
    // Recipients: --to/--cc, else those the message names.
    let mut rcpt: Vec<String> = args
        .message
        .to
        .iter()
        .chain(args.message.cc.iter())
        .cloned()
        .collect();
    if rcpt.is_empty() {
        for h in ["To", "Cc"] {
            if let Some(v) = super::header_text(&raw, h) {
                rcpt.extend(
                    v.split(',')
                        .map(super::checks::angle_address)
                        .filter(|a| !a.is_empty()),
                );
            }
        }
    }
    if rcpt.is_empty() {
        return Err("aucun destinataire : --to ADRESSE".into());
    }
    let mail_from = args
        .mail_from
        .clone()
        .or_else(|| super::header_text(&raw, "From").map(|f| super::checks::angle_address(&f)))
        .unwrap_or_else(|| args.message.from.clone());
    if let Some(p) = &args.save {
        std::fs::write(p, &raw).map_err(|e| format!("{} : {e}", p.display()))?;
    }
    let pem = args.tls_files.read()?;
    let opts = SubmitOptions {
        server: args.smtp.clone(),
        starttls: args.starttls,
        ca_pem: pem.ca,
        client_cert_pem: pem.identity.as_ref().map(|(c, _)| c.clone()),
        client_key_pem: pem.identity.map(|(_, k)| k),
        helo: args.helo.clone(),
        timeout: Duration::from_secs(args.timeout.max(1)),
        mail_from,
        rcpt_to: rcpt,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime : {e}"))?;
    match rt.block_on(submit::submit(&opts, &raw)) {
        Ok(reply) => {
            println!("{}", reply.text());
            Ok(ExitCode::SUCCESS)
        }
        Err(SubmitError::Refused { stage, reply }) => {
            println!("{}", reply.text());
            eprintln!("banc: message refusé par le serveur à l'étape {stage}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(format!("envoi impossible — {e}")),
    }
}
