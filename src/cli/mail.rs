//! `banc mail …`: the subcommands, each implemented in its module.

use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum MailCommand {
    /// Serveur SMTP de banc : boîtes aux lettres de test (STARTTLS, TLS mutuel, taille, spool).
    Serve(banc::smtp::server::ServeArgs),
    /// Spool du serveur SMTP : lister les messages reçus et leurs verdicts.
    #[command(subcommand)]
    Spool(banc::smtp::list::SpoolCommand),
    /// Créer une AC de test, un certificat serveur et des certificats clients (répétitions).
    Certs(banc::smtp::certs::CertsArgs),
    /// Composer un message MSSanté conforme (IHE_XDM.zip, en-têtes X-MSS-*) et l'écrire en .eml.
    Compose(banc::mail::compose::ComposeArgs),
    /// Composer un message MSSanté conforme et l'envoyer par SMTP (STARTTLS, certificat client).
    Send(banc::mail::send::SendArgs),
    /// Juger un accusé (MDN de lecture ou DSN de remise) reçu pour un message.
    Ack(banc::mail::mdn::AckArgs),
    /// Produire le MDN qu'un système destinataire enverrait pour un message.
    Mdn(banc::mail::mdn::MdnArgs),
    /// Relever une boîte IMAP (TLS) et juger chaque message.
    Fetch(banc::mail::fetch::FetchArgs),
}

pub fn run(cmd: MailCommand) -> Result<ExitCode, String> {
    match cmd {
        MailCommand::Serve(a) => banc::smtp::server::run(a),
        MailCommand::Spool(c) => banc::smtp::list::run(c),
        MailCommand::Certs(a) => banc::smtp::certs::run(a),
        MailCommand::Compose(a) => banc::mail::compose::run(a),
        MailCommand::Send(a) => banc::mail::send::run(a),
        MailCommand::Ack(a) => banc::mail::mdn::run_ack(a),
        MailCommand::Mdn(a) => banc::mail::mdn::run_mdn(a),
        MailCommand::Fetch(a) => banc::mail::fetch::run(a),
    }
}
