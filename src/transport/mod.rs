//! The MSSanté transport: banc's own SMTP mailbox server (receiving: STARTTLS, mutual TLS, SIZE,
//! durable spool), the test certificates of a rehearsal, and reading a mailbox over IMAP
//! ([`imap`], `banc mail fetch`). Rule ids: `transport.*`, all in [`rules`].
//!
//! The session state machine is hand-written on tokio (RFC 5321, 3207, 1870, 2920, 6152, 2034)
//! rather than taken from a server crate: banc needs two things none of them gives together —
//! the message made durable (fsync'd file, envelope and index) *before* the `250` reply, and
//! mutual TLS whose client certificate decides which mailboxes a session may write to.
//!
//! Who authenticates whom. The server proves itself to clients with its certificate (STARTTLS);
//! clients check it, banc does not see how. With a client CA, a client proves itself with a
//! certificate that rustls verifies during the handshake (chain, dates, client-auth usage and,
//! with a CRL file, revocation of that certificate: `transport.tls.revoked`). A verified
//! certificate says who holds it, not which mailbox it may use: that is the session's check. An
//! *application mailbox* (BAL applicative, declared `application = true`) is accepted as MAIL
//! FROM only over a session whose certificate names it (subjectAltName rfc822Name, else subject
//! emailAddress, else CN: [`tls::mailbox_names`]); otherwise `550 5.7.1`,
//! `transport.tls.identity-mismatch`. Not checked: senders not declared as application mailboxes,
//! the `From:` header against the certificate, revocation of intermediate CAs, OCSP.
//!
//! - [`command`]: parsing one command line (pure, unit-tested).
//! - [`session`]: one connection, from the greeting to QUIT (STARTTLS upgrade, DATA streaming).
//! - [`spool`]: the durable spool, its layout and its recovery after a crash.
//! - [`config`]: the TOML file and the command line merged into [`config::Settings`].
//! - [`tls`]: rustls configuration and what the handshake tells (version, cipher, client cert).
//! - [`analysis`]: judging a spooled message after the reply (transport findings + mail pipeline).
//! - [`server`]: `banc mail serve`; [`certs`]: `banc mail certs`; [`list`]: `banc mail spool list`.

pub mod analysis;
pub mod certs;
pub mod command;
pub mod config;
pub mod imap;
pub mod list;
pub mod rules;
pub mod server;
pub mod session;
pub mod spool;
pub mod tls;

/// Why banc's mail server could not start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings (TOML file, then flags) cannot be used.
    #[error("{0}")]
    Settings(String),
    /// The server certificate, its key or the client CA cannot be loaded.
    #[error("{0}")]
    Tls(String),
    /// The kit cannot be opened or compiled.
    #[error(transparent)]
    Kit(#[from] crate::kit::KitError),
    /// The spool cannot be opened (locked by another server, unreadable, not a spool).
    #[error("{0}")]
    Spool(String),
    /// The address cannot be listened on.
    #[error("{0}")]
    Listen(String),
    /// The asynchronous runtime or one of its tasks failed.
    #[error("{0}")]
    Runtime(String),
}
