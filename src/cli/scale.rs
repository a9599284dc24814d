//! Batches at scale: `banc validate --format jsonl` (reports streamed as documents finish),
//! `--shard K/N` (a stable share of the inputs) and `banc merge` (the shards' reports as one).

use super::common::{self, ReportFiles};
use banc::cache::Cache;
use banc::finding::report::{RunReport, Summary};
use banc::input::Shard;
use banc::pipeline::Validator;
use banc::report::{json, merge};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Output on stdout of a judging run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunFormat {
    /// A readable table.
    Table,
    /// The JSON contract, once the run is over.
    Json,
    /// JSON Lines: one line per document in the inputs' order as soon as it is judged, then
    /// one line for the run (summary, kit); memory stays flat on any number of documents.
    Jsonl,
}

/// The options `validate` adds for batches at scale.
#[derive(clap::Args, Debug, Clone)]
pub struct ScaleArgs {
    /// Judge only share K of N (0 ≤ K < N) of the inputs, chosen by a hash of each input's path
    /// relative to the folder given: N processes (machines, Kubernetes Indexed Job, Slurm array)
    /// with the same paths cover them once; `banc merge` joins their reports.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Folder of the start-up cache (what the kit compiles to; default: the user's cache
    /// folder, ~/.cache/banc).
    #[arg(long, value_name = "DIR", env = "BANC_CACHE")]
    pub cache: Option<PathBuf>,
    /// Build everything in the process, without reading or writing the start-up cache
    /// (whatever --cache or BANC_CACHE say).
    #[arg(long)]
    pub no_cache: bool,
}

impl ScaleArgs {
    /// The start-up cache the options ask for.
    pub fn cache(&self) -> Cache {
        match (&self.cache, self.no_cache) {
            (_, true) => Cache::none(),
            (Some(dir), false) => Cache::at(dir),
            (None, false) => Cache::user(),
        }
    }
}

/// Judge `paths` (only the shard's share) and print the run in `format`. The process ends
/// with the run: the compiled kit (schema, plans, value sets) is left to the system rather than
/// freed piece by piece, a tenth of a one-document run's time.
pub fn run(
    validator: Validator,
    paths: &[PathBuf],
    scale: &ScaleArgs,
    jobs: usize,
    format: RunFormat,
    files: &ReportFiles,
    // The CI gate's inputs: the project file and the run's threshold.
    (project, fail_on): (
        Option<&banc::project::Project>,
        Option<banc::finding::Severity>,
    ),
) -> Result<ExitCode, String> {
    // The CI gate marks findings against the whole run (baseline, fingerprints): a stream of
    // lines written as documents finish cannot carry its marks.
    if format == RunFormat::Jsonl
        && (files.baseline.is_some()
            || files.write_baseline.is_some()
            || files.fail_on_new
            || files.sarif.is_some()
            || files.json.is_some()
            || files.codequality.is_some())
    {
        return Err(
            "--format jsonl écrit chaque document dès qu'il est jugé : --baseline, --write-baseline, --fail-on-new, --sarif, --json et --codequality demandent --format table ou json (ou banc merge des parts JSON Lines)".into(),
        );
    }
    let validator = &*Box::leak(Box::new(validator));
    let inputs = banc::input::select(paths, scale.shard).map_err(|e| e.to_string())?;
    let mut summary = Summary::default();
    // The reports are kept only when a file needs all of them (JUnit, HTML) or for the JSON
    // and the table, which are written at the end.
    let keep = format != RunFormat::Jsonl || files.junit.is_some() || files.html.is_some();
    let mut kept = Vec::new();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut reader_gone = false;
    banc::input::validate_each(validator, &inputs, jobs, |doc| {
        summary.add(doc.verdict);
        if format == RunFormat::Jsonl && !reader_gone {
            // Each line reaches the reader as its document is done (a pipe into `jq`, a log).
            reader_gone = out
                .write_all(json::document_line(&doc).as_bytes())
                .and_then(|_| out.flush())
                .is_err();
        }
        if keep {
            kept.push(doc);
        }
    })
    .map_err(|e| e.to_string())?;
    drop(out);
    let mut report = validator.run_report(kept);
    if format == RunFormat::Jsonl {
        report.summary = summary;
        common::emit_json(&json::run_line(&report));
        return write_files(&report, files);
    }
    common::output(report, format == RunFormat::Json, files, project, fail_on)
}

/// The JUnit and HTML files of a run printed as JSON Lines.
fn write_files(report: &RunReport, files: &ReportFiles) -> Result<ExitCode, String> {
    if let Some(path) = &files.junit {
        let xml = banc::report::junit::render(report)?;
        std::fs::write(path, xml).map_err(|e| format!("{} : {e}", path.display()))?;
    }
    if let Some(path) = &files.html {
        std::fs::write(path, banc::report::html::render(report))
            .map_err(|e| format!("{} : {e}", path.display()))?;
    }
    Ok(common::run_status(report))
}

#[derive(clap::Args)]
pub struct MergeArgs {
    /// Reports written by `banc validate --format json` or `--format jsonl` (one per shard).
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// Output on stdout.
    #[arg(long, value_enum, default_value_t = RunFormat::Table)]
    pub format: RunFormat,
    #[command(flatten)]
    pub files: ReportFiles,
}

/// `banc merge`: one run out of several reports; the exit status is the merged run's.
pub fn merge(args: MergeArgs) -> Result<ExitCode, String> {
    let report = merge::merge(&args.reports)?;
    if args.format == RunFormat::Jsonl {
        common::emit_json(&json::render_lines(&report));
        return write_files(&report, &args.files);
    }
    common::output(
        report,
        args.format == RunFormat::Json,
        &args.files,
        None,
        None,
    )
}
