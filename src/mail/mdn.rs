//! Acknowledgements: MDN (RFC 8098, MSSanté conventions) and DSN (RFC 3464): judging and making.

use std::process::ExitCode;

/// `banc mail ack`: judge an MDN or DSN received for a message.
#[derive(clap::Args, Debug)]
pub struct AckArgs {}

pub fn run_ack(_args: AckArgs) -> Result<ExitCode, String> {
    Err("pas encore disponible".into())
}

/// `banc mail mdn`: make the MDN a receiving system would send for a message.
#[derive(clap::Args, Debug)]
pub struct MdnArgs {}

pub fn run_mdn(_args: MdnArgs) -> Result<ExitCode, String> {
    Err("pas encore disponible".into())
}
