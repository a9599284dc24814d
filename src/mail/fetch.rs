//! `banc mail fetch`: pull messages from an IMAP mailbox over TLS and judge them.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct FetchArgs {}

pub fn run(_args: FetchArgs) -> Result<ExitCode, String> {
    Err("pas encore disponible".into())
}
