//! `banc mail serve`: the SMTP server.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {}

pub fn run(_args: ServeArgs) -> Result<ExitCode, String> {
    Err("pas encore disponible".into())
}
