//! `banc mail certs`: a test CA, server and client certificates (rcgen).

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct CertsArgs {}

pub fn run(_args: CertsArgs) -> Result<ExitCode, String> {
    Err("pas encore disponible".into())
}
