//! MSSanté e-mail: reading a message and judging it (M01–M16), then its IHE_XDM package and its
//! documents; composing and sending one; acknowledgements (MDN, DSN); reading a mailbox (IMAP).
//! Rule ids: `mail.*`.

pub mod cli;
pub mod compose;
pub mod fetch;
pub mod mdn;
pub mod send;
