//! `banc mail send`: compose a conforming MSSanté message and submit it over SMTP.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct SendArgs {}

pub fn run(_args: SendArgs) -> Result<ExitCode, String> {
    Err("pas encore disponible".into())
}
