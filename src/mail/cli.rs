//! `banc mail …`: the subcommands, each implemented in its module.

use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum MailCommand {
    /// Serveur SMTP de banc : boîtes aux lettres de test (STARTTLS, TLS mutuel, taille, spool).
    Serve(crate::smtp::server::ServeArgs),
    /// Spool du serveur SMTP : lister les messages reçus et leurs verdicts.
    #[command(subcommand)]
    Spool(crate::smtp::list::SpoolCommand),
    /// Créer une AC de test, un certificat serveur et des certificats clients (répétitions).
    Certs(crate::smtp::certs::CertsArgs),
    /// Composer un message MSSanté conforme (IHE_XDM.zip, en-têtes X-MSS-*) et l'écrire en .eml.
    Compose(crate::mail::compose::ComposeArgs),
    /// Composer un message MSSanté conforme et l'envoyer par SMTP (STARTTLS, certificat client).
    Send(crate::mail::send::SendArgs),
    /// Juger un accusé (MDN de lecture ou DSN de remise) reçu pour un message.
    Ack(crate::mail::mdn::AckArgs),
    /// Produire le MDN qu'un système destinataire enverrait pour un message.
    Mdn(crate::mail::mdn::MdnArgs),
    /// Relever une boîte IMAP (TLS) et juger chaque message.
    Fetch(crate::mail::fetch::FetchArgs),
}

pub fn run(cmd: MailCommand) -> Result<ExitCode, String> {
    match cmd {
        MailCommand::Serve(a) => crate::smtp::server::run(a),
        MailCommand::Spool(c) => crate::smtp::list::run(c),
        MailCommand::Certs(a) => crate::smtp::certs::run(a),
        MailCommand::Compose(a) => crate::mail::compose::run(a),
        MailCommand::Send(a) => crate::mail::send::run(a),
        MailCommand::Ack(a) => crate::mail::mdn::run_ack(a),
        MailCommand::Mdn(a) => crate::mail::mdn::run_mdn(a),
        MailCommand::Fetch(a) => crate::mail::fetch::run(a),
    }
}
