//! `banc indicators`: the usage indicators MS-1 to MS-4 of a period, from what a lab or a
//! hospital produced and sent (library: `banc::indicators`). Progress on stderr when it is a
//! terminal; the report on stdout or `--out`.

use super::common::{self, TermArgs};
use banc::indicators::{self, Inputs, Period, Progress, Stays, render};
use banc::pipeline::CheckOptions;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndicatorFormat {
    Table,
    Csv,
    Json,
    Html,
}

#[derive(clap::Args)]
pub struct IndicatorsArgs {
    /// First day of the period (AAAA-MM-JJ; with --to).
    #[arg(long, requires = "to", conflicts_with = "quarter")]
    pub from: Option<String>,
    /// Last day of the period, included (AAAA-MM-JJ; with --from).
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// The period as a quarter: 2026-T3 (July to September 2026).
    #[arg(long, required_unless_present = "from")]
    pub quarter: Option<String>,
    /// Documents the lab or hospital system produced: a folder (searched for *.xml and *.zip), a
    /// zip archive, or a list file (one path per line); repeatable.
    #[arg(long, value_name = "PATH", required = true)]
    pub produced: Vec<PathBuf>,
    /// What left through MSSanté: banc's spool, a Maildir, an mbox, .eml files or a folder of
    /// them, with the MDN/DSN received; repeatable.
    #[arg(long, value_name = "PATH")]
    pub sent: Vec<PathBuf>,
    /// Hospital stays of the period (MS-1's B): a number, or a CSV file with the columns mois
    /// (AAAA-MM), etablissement (FINESS or custodian id), sejours.
    #[arg(long, value_name = "N|FILE")]
    pub stays: Option<String>,
    /// Output.
    #[arg(long, value_enum, default_value_t = IndicatorFormat::Table)]
    pub format: IndicatorFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Kit folder (as for `validate`): the CDA schema and the official schematrons decide
    /// conformity.
    #[arg(long, env = "BANC_KIT")]
    pub kit: Option<PathBuf>,
    /// With a kit, skip its schematrons.
    #[arg(long)]
    pub no_schematron: bool,
    /// Documents validated in parallel (default: all cores; 1 to 1024).
    #[arg(short = 'j', long, value_parser = common::jobs_parser())]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub terms: TermArgs,
}

pub fn run(a: IndicatorsArgs) -> Result<ExitCode, String> {
    let period = match (&a.quarter, &a.from, &a.to) {
        (Some(q), _, _) => Period::quarter(q)?,
        (None, Some(f), Some(t)) => Period::between(f, t)?,
        _ => return Err("donner --quarter AAAA-Tn, ou --from et --to".into()),
    };
    let stays = match &a.stays {
        Some(s) => Stays::parse(s)?,
        None => Stays::Unknown,
    };
    let validator = CheckOptions {
        kit: a.kit.clone(),
        terminology: a.terms.terminology.clone(),
        circuit_bio: a.terms.circuit_bio.clone(),
        no_schematron: a.no_schematron,
    }
    .validator()
    .map_err(|e| e.to_string())?;
    let inputs = Inputs {
        produced: a.produced.clone(),
        sent: a.sent.clone(),
        period,
        stays,
        jobs: common::jobs(a.jobs),
    };
    use std::io::IsTerminal;
    let tty = std::io::stderr().is_terminal();
    let last = std::sync::Mutex::new(std::time::Instant::now());
    let progress = |p: Progress| {
        if !tty {
            return;
        }
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed().as_millis() >= 200 {
            *last = std::time::Instant::now();
            eprint!("\rbanc indicators : {} {} lus…\x1b[K", p.done, p.phase);
        }
    };
    let report = indicators::run(&validator, &inputs, &progress)?;
    if tty {
        eprint!("\r\x1b[K");
    }
    let text = match a.format {
        IndicatorFormat::Table => common::visible(&render::table(&report)).into_owned(),
        IndicatorFormat::Csv => render::csv(&report)?,
        IndicatorFormat::Json => render::json(&report) + "\n",
        IndicatorFormat::Html => render::html(&report),
    };
    match &a.out {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| format!("{} : {e}", path.display()))?
        }
        None => common::emit_json(&text),
    }
    Ok(ExitCode::SUCCESS)
}
