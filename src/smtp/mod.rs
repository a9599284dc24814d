//! banc's own SMTP mailbox server (receiving: STARTTLS, mutual TLS, SIZE, durable spool) and the
//! test certificates of a rehearsal. Rule ids: `transport.*`.

pub mod certs;
pub mod server;
