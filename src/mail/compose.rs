//! `banc mail compose`: write a conforming MSSanté message (.eml) without sending it.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ComposeArgs {}

pub fn run(_args: ComposeArgs) -> Result<ExitCode, String> {
    Err("pas encore disponible".into())
}
