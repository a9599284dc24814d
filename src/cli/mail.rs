//! `banc mail …`: the SMTP server, its spool and test certificates, composing and sending
//! messages, acknowledgements, IMAP fetch. Arguments and printing here; the work in
//! `banc::smtp` and `banc::mail`.

use super::common::{CheckArgs, Format, choice, emit, exit_ok, output};
use banc::mail::compose::{ComposeOptions, DEFAULT_FROM, DEFAULT_NIL, Fault, PdfSource};
use banc::mail::mdn::MdnStyle;
use banc::mail::submit::{StartTls, SubmitError, SubmitOptions};
use banc::mail::tls::ClientTlsOptions;
use banc::transport::certs::{CA_NAME, CertsOptions};
use banc::transport::config::{LIMIT_CONNECTIONS, LIMIT_MAX_SIZE, LIMIT_TIMEOUT_SECS};
use banc::transport::imap::{FetchOptions, TlsMode};
use banc::transport::server::ServeOptions;
use clap::builder::RangedU64ValueParser;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Subcommand, Debug)]
pub enum MailCommand {
    /// Serveur SMTP de banc : boîtes aux lettres de test (STARTTLS, TLS mutuel, taille, spool).
    Serve(ServeArgs),
    /// Spool du serveur SMTP : lister les messages reçus et leurs verdicts.
    #[command(subcommand)]
    Spool(SpoolCommand),
    /// Créer une AC de test, un certificat serveur et des certificats clients (répétitions).
    Certs(CertsArgs),
    /// Composer un message MSSanté conforme (IHE_XDM.zip, en-têtes X-MSS-*) et l'écrire en .eml.
    Compose(ComposeArgs),
    /// Composer un message MSSanté conforme et l'envoyer par SMTP (STARTTLS, certificat client).
    Send(SendArgs),
    /// Juger un accusé (MDN de lecture ou DSN de remise) reçu pour un message.
    Ack(AckArgs),
    /// Produire le MDN qu'un système destinataire enverrait pour un message.
    Mdn(MdnArgs),
    /// Relever une boîte IMAP (TLS) et juger chaque message.
    Fetch(FetchArgs),
}

pub fn run(cmd: MailCommand, config: Option<&std::path::Path>) -> Result<ExitCode, String> {
    match cmd {
        MailCommand::Serve(a) => banc::transport::server::run(a.into())
            .map(exit_ok)
            .map_err(|e| e.to_string()),
        MailCommand::Spool(SpoolCommand::List(a)) => list(&a),
        MailCommand::Certs(a) => certs(a),
        MailCommand::Compose(a) => compose(a),
        MailCommand::Send(a) => send(a),
        MailCommand::Ack(a) => ack(a, config),
        MailCommand::Mdn(a) => mdn(a),
        MailCommand::Fetch(a) => fetch(a, config),
    }
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address and port to listen on (default 127.0.0.1:2525; port 0 picks a free one).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Spool folder where messages are stored durably (default reports/spool).
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
    /// TOML configuration (example: fixtures/smtp/serve.toml); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Name given in the greeting and EHLO reply.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Largest message in bytes (default 26214400 = 25 MiB, MSSanté usage, UNCONFIRMED; 1 to
    /// 1073741824).
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..=LIMIT_MAX_SIZE))]
    pub max_size: Option<u64>,
    /// Server certificate chain (PEM); enables STARTTLS.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// CA of client certificates (PEM): the server asks for one (mutual TLS).
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
    /// Revocation list(s) of the client CA (PEM or DER): a client certificate listed there fails
    /// the handshake (transport.tls.revoked; `banc mail certs` writes a test crl.pem).
    #[arg(long, value_name = "FILE")]
    pub crl: Option<PathBuf>,
    /// Refuse the TLS handshake without a valid client certificate.
    #[arg(long)]
    pub require_client_cert: bool,
    /// With a certificate, still accept MAIL FROM without STARTTLS (recorded as transport.tls.none).
    #[arg(long)]
    pub starttls_optional: bool,
    /// Accept RCPT TO only for this mailbox (repeatable; none: any address).
    #[arg(long = "mailbox", value_name = "ADDRESS")]
    pub mailboxes: Vec<String>,
    /// A mailbox whose messages need a session with a verified client certificate, any of the
    /// CA (RCPT TO refused with 530 otherwise; repeatable).
    #[arg(long = "mailbox-with-cert", value_name = "ADDRESS")]
    pub mailboxes_with_cert: Vec<String>,
    /// An application mailbox (BAL applicative): MAIL FROM it needs a verified client
    /// certificate that names it (SAN rfc822Name, else subject emailAddress, else CN), else
    /// 550 5.7.1 (transport.tls.identity-mismatch). Repeatable; needs --client-ca.
    #[arg(long = "application-mailbox", value_name = "ADDRESS")]
    pub application_mailboxes: Vec<String>,
    /// Seconds to wait for a command (default 300; 1 to 86400).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=LIMIT_TIMEOUT_SECS))]
    pub command_timeout: Option<u64>,
    /// Seconds to wait for each line of DATA (default 180; 1 to 86400).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=LIMIT_TIMEOUT_SECS))]
    pub data_timeout: Option<u64>,
    /// Simultaneous sessions (default 100; 1 to 10000).
    #[arg(long, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..=LIMIT_CONNECTIONS))]
    pub max_connections: Option<usize>,
    /// Exit (status 0) after N messages stored and analysed (scripts, tests; at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_messages: Option<u64>,
    #[command(flatten)]
    pub check: CheckArgs,
}

impl From<ServeArgs> for ServeOptions {
    fn from(a: ServeArgs) -> ServeOptions {
        ServeOptions {
            listen: a.listen,
            spool: a.spool,
            config: a.config,
            hostname: a.hostname,
            max_size: a.max_size,
            tls_cert: a.tls_cert,
            tls_key: a.tls_key,
            client_ca: a.client_ca,
            crl: a.crl,
            require_client_cert: a.require_client_cert,
            starttls_optional: a.starttls_optional,
            mailboxes: a.mailboxes,
            mailboxes_with_cert: a.mailboxes_with_cert,
            application_mailboxes: a.application_mailboxes,
            command_timeout: a.command_timeout,
            data_timeout: a.data_timeout,
            max_connections: a.max_connections,
            max_messages: a.max_messages,
            check: a.check.into(),
        }
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum SpoolCommand {
    /// Lister les messages d'un spool : enveloppe, TLS, certificat client, verdict.
    List(ListArgs),
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Spool folder (as given to `banc mail serve`).
    #[arg(long, value_name = "DIR", default_value = banc::transport::config::DEFAULT_SPOOL)]
    pub spool: PathBuf,
    /// Output: a readable table or JSON.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

fn list(a: &ListArgs) -> Result<ExitCode, String> {
    let rows = banc::transport::list::list(&a.spool)?;
    match a.format {
        Format::Json => super::common::emit_json(&format!(
            "{}\n",
            serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?
        )),
        Format::Table => {
            let mut t = Table::new();
            t.load_style(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_header(vec![
                    "id",
                    "reçu",
                    "de",
                    "pour",
                    "octets",
                    "TLS",
                    "certificat",
                    "verdict",
                ]);
            for r in &rows {
                t.add_row(vec![
                    r.id.clone(),
                    r.received.clone(),
                    r.from.clone(),
                    r.to.join(", "),
                    r.size.to_string(),
                    r.tls.clone().unwrap_or_else(|| "non".into()),
                    r.client_cert.clone().unwrap_or_else(|| "-".into()),
                    match (&r.verdict, r.errors) {
                        (Some(v), Some(n)) => format!("{v} ({n} erreur(s))"),
                        _ => "non analysé".into(),
                    },
                ]);
            }
            emit(&format!(
                "{t}\n{} message(s) dans {}\n",
                rows.len(),
                a.spool.display()
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct CertsArgs {
    /// Folder to write the PEM files to (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Server name added to the server certificate (besides localhost and 127.0.0.1).
    #[arg(long, value_name = "NAME")]
    pub domain: Option<String>,
    /// Application mailbox to make a client certificate for (repeatable; default
    /// bal-applicative@<domain or banc.localhost>).
    #[arg(long = "client", value_name = "ADDRESS")]
    pub clients: Vec<String>,
    /// Overwrite files already there.
    #[arg(long)]
    pub force: bool,
}

fn certs(a: CertsArgs) -> Result<ExitCode, String> {
    let opts = CertsOptions {
        out: a.out,
        domain: a.domain,
        clients: a.clients,
        force: a.force,
    };
    let mut text = String::new();
    for (path, kind, what) in banc::transport::certs::generate(&opts)? {
        text += &format!("écrit {} — {kind} : {what}\n", path.display());
    }
    let d = opts.out.display();
    let apps: String = banc::transport::certs::client_mailboxes(&opts)
        .iter()
        .map(|c| format!(" --application-mailbox {c}"))
        .collect();
    text += &format!(
        "\nServeur :  banc mail serve --tls-cert {d}/server.pem --tls-key {d}/server.key --client-ca {d}/ca.pem --crl {d}/crl.pem{apps}\n\
         Ces certificats viennent de l'AC « {CA_NAME} » : ils ne valent que pour les répétitions, jamais auprès d'un opérateur MSSanté (IGC-Santé seule).\n"
    );
    emit(&text);
    Ok(ExitCode::SUCCESS)
}

/// The TLS options of a mail client (`mail send`, `mail fetch`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ClientTlsArgs {
    /// PEM file of the CAs trusted for the server (e.g. from `banc mail certs`); default: the
    /// system's (SSL_CERT_FILE, SSL_CERT_DIR, /etc/ssl/certs...).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS (application mailboxes).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
}

impl From<ClientTlsArgs> for ClientTlsOptions {
    fn from(a: ClientTlsArgs) -> ClientTlsOptions {
        ClientTlsOptions {
            ca: a.ca,
            cert: a.cert,
            key: a.key,
        }
    }
}

/// `banc mail compose`: write a conforming MSSanté message (.eml) without sending it.
#[derive(clap::Args, Debug)]
pub struct ComposeArgs {
    /// CDA documents to send (one patient).
    #[arg(required = true)]
    pub documents: Vec<PathBuf>,
    /// Where to write the message.
    #[arg(short = 'o', long, default_value = "message.eml")]
    pub output: PathBuf,
    #[command(flatten)]
    pub message: Box<MessageArgs>,
}

/// What `compose` and `send` share.
#[derive(clap::Args, Debug, Clone)]
pub struct MessageArgs {
    /// Sender (From).
    #[arg(long, default_value = DEFAULT_FROM)]
    pub from: String,
    /// Recipient (To; repeatable). A <INS>@patient.mssante.fr address adds X-MSS-MES: FIN.
    #[arg(long = "to", value_name = "ADDR")]
    pub to: Vec<String>,
    /// Copy recipient (Cc; repeatable).
    #[arg(long = "cc", value_name = "ADDR")]
    pub cc: Vec<String>,
    /// X-MSS-NIL: the product reference issued by convergence.esante.gouv.fr (the default is a
    /// placeholder, not a valid reference).
    #[arg(long, default_value = DEFAULT_NIL)]
    pub nil: String,
    /// Libellé of the subject (default: the document title).
    #[arg(long)]
    pub label: Option<String>,
    /// Text body, from this UTF-8 file (default: a short French message).
    #[arg(long, value_name = "FILE")]
    pub body: Option<PathBuf>,
    /// PDF to attach (default: the PDF copy embedded in the first CDA, when there is one).
    #[arg(long, value_name = "FILE")]
    pub pdf: Option<PathBuf>,
    /// Attach no PDF.
    #[arg(long, conflicts_with = "pdf")]
    pub no_pdf: bool,
    /// Attach this IHE_XDM.zip instead of building one from the documents.
    #[arg(long, value_name = "FILE")]
    pub zip: Option<PathBuf>,
    /// Ask for a read receipt (MDN) at this address (Disposition-Notification-To).
    #[arg(long = "mdn-to", value_name = "ADDR")]
    pub mdn_to: Option<String>,
    /// In-Reply-To (a Message-ID).
    #[arg(long)]
    pub in_reply_to: Option<String>,
    /// References (Message-IDs; repeatable).
    #[arg(long = "references", value_name = "ID")]
    pub references: Vec<String>,
    /// Message-ID, without angle brackets (default: generated).
    #[arg(long)]
    pub message_id: Option<String>,
    /// Date of the message, RFC 3339 (e.g. 2026-01-21T16:30:00+01:00; default: now).
    #[arg(long)]
    pub date: Option<String>,
    /// Deliberate defect (repeatable): no-zip, two-zips, subject-no-prefix... (see --help).
    #[arg(long = "fault", value_parser = choice::<Fault>(), value_name = "NAME")]
    pub faults: Vec<Fault>,
}

impl MessageArgs {
    fn options(&self) -> Result<ComposeOptions, String> {
        let body = match &self.body {
            Some(p) => Some(banc::files::read_text(p, banc::files::MAX_SMALL)?),
            None => None,
        };
        let pdf = match (&self.pdf, self.no_pdf) {
            (_, true) => PdfSource::None,
            (Some(p), false) => PdfSource::File(read(p)?),
            (None, false) => PdfSource::FromCda,
        };
        let date = match &self.date {
            Some(d) => Some(
                mail_parser::DateTime::parse_rfc3339(d)
                    .filter(|t| t.is_valid())
                    .ok_or_else(|| format!("--date « {d} » : date RFC 3339 attendue"))?
                    .to_timestamp(),
            ),
            None => None,
        };
        Ok(ComposeOptions {
            from: self.from.clone(),
            to: self.to.clone(),
            cc: self.cc.clone(),
            nil: self.nil.clone(),
            label: self.label.clone(),
            body,
            pdf,
            zip: self.zip.as_deref().map(read).transpose()?,
            disposition_notification_to: self.mdn_to.clone(),
            in_reply_to: self.in_reply_to.clone(),
            references: self.references.clone(),
            message_id: self
                .message_id
                .as_ref()
                .map(|m| m.trim_matches(['<', '>']).to_string()),
            date,
            package: banc::xdm::PackOptions {
                sender: Some(self.from.clone()),
                ..Default::default()
            },
            faults: self.faults.clone(),
        })
    }
}

fn compose(args: ComposeArgs) -> Result<ExitCode, String> {
    if args.message.to.is_empty() {
        return Err("au moins un destinataire : --to ADRESSE".into());
    }
    let docs = banc::mail::compose::read_documents(&args.documents)?;
    let opts = args.message.options()?;
    let raw = banc::mail::compose::compose(&docs, &opts)?;
    std::fs::write(&args.output, &raw).map_err(|e| format!("{} : {e}", args.output.display()))?;
    emit(&format!(
        "{} : {} octets, Message-ID {}\n",
        args.output.display(),
        raw.len(),
        banc::mail::message_id(&raw).unwrap_or_else(|| "(aucun)".into())
    ));
    Ok(ExitCode::SUCCESS)
}

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
    #[arg(long, value_parser = choice::<StartTls>(), default_value = "required")]
    pub starttls: StartTls,
    #[command(flatten)]
    pub tls_files: ClientTlsArgs,
    /// Envelope sender (MAIL FROM; default: the From address).
    #[arg(long, value_name = "ADDR")]
    pub mail_from: Option<String>,
    /// Name given in EHLO.
    #[arg(long, default_value = "banc.invalid")]
    pub helo: String,
    /// Timeout of each step, in seconds (1 to 86400).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=LIMIT_TIMEOUT_SECS))]
    pub timeout: u64,
    /// Also write the message sent to FILE (to judge its MDN later with --original).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    #[command(flatten)]
    pub message: Box<MessageArgs>,
}

fn read(p: &std::path::Path) -> Result<Vec<u8>, String> {
    Ok(banc::files::read_bounded(p, banc::files::MAX_DOCUMENT)?)
}

fn send(args: SendArgs) -> Result<ExitCode, String> {
    let raw = match &args.eml {
        Some(p) => read(p)?,
        None => {
            if args.message.to.is_empty() {
                return Err("au moins un destinataire : --to ADRESSE".into());
            }
            let docs = banc::mail::compose::read_documents(&args.documents)?;
            banc::mail::compose::compose(&docs, &args.message.options()?)?
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
            if let Some(v) = banc::mail::header_text(&raw, h) {
                rcpt.extend(
                    v.split(',')
                        .map(banc::mail::checks::angle_address)
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
        .or_else(|| {
            banc::mail::header_text(&raw, "From").map(|f| banc::mail::checks::angle_address(&f))
        })
        .unwrap_or_else(|| args.message.from.clone());
    if let Some(p) = &args.save {
        std::fs::write(p, &raw).map_err(|e| format!("{} : {e}", p.display()))?;
    }
    let pem = ClientTlsOptions::from(args.tls_files.clone()).read()?;
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
    match rt.block_on(banc::mail::submit::submit(&opts, &raw)) {
        Ok(reply) => {
            emit(&format!("{}\n", reply.text()));
            Ok(ExitCode::SUCCESS)
        }
        Err(SubmitError::Refused { stage, reply }) => {
            emit(&format!("{}\n", reply.text()));
            eprintln!("banc: message refusé par le serveur à l'étape {stage}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(format!("envoi impossible — {e}")),
    }
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("password").required(true).args(["password_env", "password_file"])))]
pub struct FetchArgs {
    /// IMAP server, HOST:PORT (e.g. 127.0.0.1:10143, imap.example.fr:143).
    #[arg(long, value_name = "HOST:PORT")]
    pub imap: String,
    /// Login name of the mailbox.
    #[arg(long)]
    pub user: String,
    /// Name of the environment variable that holds the password (never on the command line).
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// File holding the password (one line; a final newline is ignored).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// How TLS starts: STARTTLS after the greeting (default) or TLS from the first byte.
    #[arg(long, value_parser = choice::<TlsMode>(), default_value = "starttls")]
    pub tls: TlsMode,
    #[command(flatten)]
    pub tls_files: ClientTlsArgs,
    /// Mailbox to read.
    #[arg(long, default_value = "INBOX")]
    pub mailbox: String,
    /// Only the messages not yet seen (\Seen unset).
    #[arg(long)]
    pub unseen: bool,
    /// At most N messages: the N most recent (highest UIDs; at least 1).
    #[arg(long, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub limit: Option<usize>,
    /// Set \Seen on every message downloaded (otherwise the mailbox is opened read-only).
    #[arg(long)]
    pub mark_seen: bool,
    /// Save every message downloaded as DIR/<uid>.eml.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Largest message downloaded, in bytes (M16; 25 MB, Mon espace santé's cap, UNCONFIRMED;
    /// 1 to 1073741824). A larger one is not downloaded and fails with `transport.imap.too-large`.
    #[arg(long, value_name = "BYTES", default_value_t = banc::mail::Policy::default().max_size, value_parser = clap::value_parser!(u64).range(1..=LIMIT_MAX_SIZE))]
    pub max_size: u64,
    /// Seconds allowed for each step (connection, TLS, greeting, login, each command; 1 to 86400).
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=LIMIT_TIMEOUT_SECS))]
    pub timeout: u64,
    /// stdout: a readable table or the JSON contract of `banc validate`.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub files: super::common::ReportFiles,
    #[command(flatten)]
    pub check: CheckArgs,
}

fn fetch(a: FetchArgs, config: Option<&std::path::Path>) -> Result<ExitCode, String> {
    let project = super::common::project(config)?;
    let check = super::common::check_with_project(a.check.clone(), project.as_ref());
    let opts = FetchOptions {
        password: password(&a)?,
        imap: a.imap.clone(),
        user: a.user.clone(),
        tls: a.tls,
        tls_files: a.tls_files.clone().into(),
        mailbox: a.mailbox.clone(),
        unseen: a.unseen,
        limit: a.limit,
        mark_seen: a.mark_seen,
        out: a.out.clone(),
        max_size: a.max_size,
        timeout: a.timeout,
        check: check.into(),
    };
    let run = banc::transport::imap::run(&opts).map_err(|e| e.to_string())?;
    output(
        run,
        a.format == Format::Json,
        &a.files,
        project.as_ref(),
        None,
    )
}

fn password(args: &FetchArgs) -> Result<String, String> {
    let pw = if let Some(var) = &args.password_env {
        std::env::var(var).map_err(|_| {
            format!("--password-env {var} : la variable d'environnement {var} n'est pas définie (ou n'est pas en UTF-8)")
        })?
    } else if let Some(file) = &args.password_file {
        let s = banc::files::read_text(file, banc::files::MAX_SMALL)
            .map_err(|e| format!("--password-file {e}"))?;
        let s = s.strip_suffix('\n').unwrap_or(&s);
        s.strip_suffix('\r').unwrap_or(s).to_string()
    } else {
        return Err(
            "donnez le mot de passe par --password-env VAR ou --password-file FICHIER".into(),
        );
    };
    if pw.is_empty() {
        return Err("mot de passe vide".into());
    }
    Ok(pw)
}

/// `banc mail ack`: judge an MDN or DSN received for a message.
#[derive(clap::Args, Debug)]
pub struct AckArgs {
    /// The acknowledgement (.eml): an MDN (read receipt) or a DSN (delivery report).
    pub file: PathBuf,
    /// The message it answers: checks Original-Message-ID, recipient and subject against it.
    #[arg(long, value_name = "MSG.eml")]
    pub original: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub files: super::common::ReportFiles,
}

/// Acknowledgements and messages read by `banc mail ack` and `banc mail mdn`: at most 64 MiB.
const MAX_ACK: u64 = banc::files::MAX_DOCUMENT;

fn ack(args: AckArgs, config: Option<&std::path::Path>) -> Result<ExitCode, String> {
    let project = super::common::project(config)?;
    let raw = banc::files::read_bounded(&args.file, MAX_ACK)?;
    let original = args
        .original
        .as_ref()
        .map(|p| banc::files::read_bounded(p, MAX_ACK))
        .transpose()?;
    let name = args.file.display().to_string();
    let report = banc::mail::mdn::ack_report(&name, &raw, original.as_deref())?;
    output(
        report,
        args.format == Format::Json,
        &args.files,
        project.as_ref(),
        None,
    )
}

/// `banc mail mdn`: make the MDN a receiving system would send for a message.
#[derive(clap::Args, Debug)]
pub struct MdnArgs {
    /// The message received (.eml).
    #[arg(long, value_name = "MSG.eml")]
    pub original: PathBuf,
    /// Report an integration error with this code (900–906; label built in unless --label).
    #[arg(long, value_name = "CODE")]
    pub error: Option<u16>,
    /// Label of the error (default: the IG's label for the code).
    #[arg(long, requires = "error")]
    pub label: Option<String>,
    /// Mailbox of the receiving system (From, Final-Recipient).
    #[arg(long, default_value = "reception@banc.invalid")]
    pub from: String,
    /// Make an MDN even when the original asks for none (no Disposition-Notification-To).
    #[arg(long)]
    pub force: bool,
    /// Where the error string goes: legacy (processed/Error: code^label, IG ≤ 1.1.2) or rfc8098
    /// (processed/error + Error: field, IG 1.1.3).
    #[arg(long, value_parser = choice::<MdnStyle>(), default_value = "legacy")]
    pub style: MdnStyle,
    /// Where to write the MDN.
    #[arg(short = 'o', long, default_value = "mdn.eml")]
    pub output: PathBuf,
}

fn mdn(args: MdnArgs) -> Result<ExitCode, String> {
    let original = banc::files::read_bounded(&args.original, MAX_ACK)?;
    let outcome = match (args.error, &args.label) {
        (None, _) => banc::mail::mdn::Outcome::Processed,
        (Some(code), Some(label)) => banc::mail::mdn::Outcome::Error {
            code,
            label: label.clone(),
        },
        (Some(code), None) => banc::mail::mdn::Outcome::error(code).ok_or_else(|| {
            format!("--error {code} : code inconnu (900 à 906) ; donnez son libellé avec --label")
        })?,
    };
    let opts = banc::mail::mdn::MdnOptions {
        force: args.force,
        style: args.style,
        ..banc::mail::mdn::MdnOptions::default()
    };
    let raw = banc::mail::mdn::make_mdn_with(&original, &args.from, outcome, &opts)?;
    std::fs::write(&args.output, &raw).map_err(|e| format!("{} : {e}", args.output.display()))?;
    emit(&format!(
        "{} : {} octets\n",
        args.output.display(),
        raw.len()
    ));
    Ok(ExitCode::SUCCESS)
}
