//! The MSSanté transport: banc's own SMTP mailbox server (receiving: STARTTLS, mutual TLS, SIZE,
//! durable spool), the test certificates of a rehearsal, and reading a mailbox over IMAP
//! ([`imap`], `banc mail fetch`). Rule ids: `transport.*`, all in [`rules`].
//!
//! The session state machine is hand-written on tokio (RFC 5321, 3207, 1870, 2920, 6152, 2034)
//! rather than taken from a server crate: banc needs two things none of them gives together —
//! the message made durable (fsync'd file, envelope and index) *before* the `250` reply, and
//! mutual TLS whose client certificate decides which mailboxes a session may write to.
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
