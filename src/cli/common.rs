//! What every command shares: the validation options of the judging doors, output formats,
//! printing a run, exit statuses, and where the library's log goes.

use banc::choice::Choice;
use banc::finding::Severity;
use banc::finding::report::RunReport;
use banc::gate;
use banc::pipeline::CheckOptions;
use banc::project::Project;
use banc::report::{codequality, html, json, junit, sarif, table};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What every door that judges documents (mail server, IMAP fetch, XDM check, scenario runner)
/// takes from the command line to build its validator: the same meaning as `banc validate`'s
/// options.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CheckArgs {
    /// Kit folder laid out like the ANS TestContenuCDA kit (XSD, schematrons, value sets).
    #[arg(long, env = "BANC_KIT")]
    pub kit: Option<PathBuf>,
    #[command(flatten)]
    pub terms: TermArgs,
    /// Skip the kit's schematrons (XSD and banc's rules only).
    #[arg(long)]
    pub no_schematron: bool,
}

impl From<CheckArgs> for CheckOptions {
    fn from(a: CheckArgs) -> CheckOptions {
        CheckOptions {
            kit: a.kit,
            terminology: a.terms.terminology,
            circuit_bio: a.terms.circuit_bio,
            no_schematron: a.no_schematron,
        }
    }
}

/// Where the value sets come from, beside the kit's `jeuxDeValeurs/`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TermArgs {
    /// Value sets to load: IHE SVS `.xml` or FHIR R4 `.json` (ValueSet, CodeSystem, Bundle)
    /// files, or folders of them (repeatable; `:`-separated in BANC_TERMINOLOGY).
    #[arg(
        long = "terminology",
        value_name = "PATH",
        env = "BANC_TERMINOLOGY",
        value_delimiter = ':'
    )]
    pub terminology: Vec<PathBuf>,
    /// The "circuit de la biologie" value set, as published (.xlsx) or exported (.csv).
    #[arg(long = "circuit-bio", value_name = "FILE", env = "BANC_CIRCUIT_BIO")]
    pub circuit_bio: Option<PathBuf>,
}

/// The report files a judging command also writes, and the CI gate over its findings.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ReportFiles {
    /// Also write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write a GitLab Code Quality report (JSON) to FILE.
    #[arg(long, value_name = "FILE")]
    pub codequality: Option<PathBuf>,
    /// Also write a self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Also write the JSON report (the `--format json` contract) to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write a SARIF 2.1.0 log (code scanning) to FILE.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Mark each finding new or known against FILE (a baseline, or an earlier JSON report).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write the run's findings as a baseline to FILE.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Only new findings (not in --baseline) fail the run.
    #[arg(long, requires = "baseline")]
    pub fail_on_new: bool,
}

/// The project file of a judging command: `--config FILE`, else the `banc.toml` of the current
/// folder or a parent, else none.
pub fn project(config: Option<&Path>) -> Result<Option<Project>, String> {
    let path = match config {
        Some(p) => p.to_path_buf(),
        None => match std::env::current_dir().ok().and_then(|d| Project::find(&d)) {
            Some(p) => p,
            None => return Ok(None),
        },
    };
    Project::load(&path).map(Some)
}

/// `--fail-on`, else the project file's `fail_on`.
pub fn fail_on(cli: Option<Severity>, project: Option<&Project>) -> Option<Severity> {
    cli.or_else(|| project.and_then(|p| p.config.fail_on))
}

/// `CheckArgs` completed by the project file where the command line left them out.
pub fn check_with_project(mut a: CheckArgs, project: Option<&Project>) -> CheckArgs {
    if let Some(p) = project {
        if a.kit.is_none() {
            a.kit = p.kit_path();
        }
        if let Some(t) = &p.config.terminology {
            if a.terms.terminology.is_empty() {
                a.terms.terminology = t.files.iter().map(|f| p.resolve(f)).collect();
            }
            if a.terms.circuit_bio.is_none() {
                a.terms.circuit_bio = t.circuit_bio.as_ref().map(|f| p.resolve(f));
            }
        }
    }
    a
}

/// Output on stdout: a readable table or JSON.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// The clap values of a library [`Choice`] (names and one-line helps, as a `ValueEnum`).
pub fn choice<T: Choice + Clone>() -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(T::ALL.iter().map(|c| match c.help() {
        "" => PossibleValue::new(c.name()),
        h => PossibleValue::new(c.name()).help(one_line(h)),
    }))
    .map(|s| T::from_name(&s).expect("clap accepted one of the possible values"))
}

/// A choice's help as clap shows a doc comment: a lone sentence without its final period.
fn one_line(help: &str) -> &str {
    match help.strip_suffix('.') {
        Some(h) if !h.contains(". ") => h,
        _ => help,
    }
}

/// Most threads `-j` accepts: more is a typo that would exhaust the machine's threads.
pub const MAX_JOBS: u64 = 1024;

/// The parser of `-j N` (1 to [`MAX_JOBS`]).
pub fn jobs_parser() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..=MAX_JOBS)
}

/// Threads for a batch: `-j N`, else every core.
pub fn jobs(asked: Option<usize>) -> usize {
    asked
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .max(1)
}

/// Width of the terminal tables (`COLUMNS`, else 140).
pub fn terminal_width() -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(140)
}

/// Write text for a reader to stdout: control characters other than line feed and tab (an
/// escape sequence, a carriage return in a file name or a message) are shown as `\x1B`, so
/// submitted text can neither drive the terminal nor forge a line. A reader that went away
/// (`| head`) is not an error of banc's.
pub fn emit(text: &str) {
    write_out(&visible(text));
}

/// Write JSON to stdout as it is (serde_json escapes what JSON requires).
pub fn emit_json(text: &str) {
    write_out(text);
}

fn write_out(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// `text` with its control characters (C0 but line feed and tab, DEL, C1) written `\xHH`.
pub fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    shown(text, &['\n', '\t'])
}

/// `text` with every control character but those `kept` written `\xHH`.
fn shown<'t>(text: &'t str, kept: &[char]) -> std::borrow::Cow<'t, str> {
    let hidden = |c: char| c.is_control() && !kept.contains(&c);
    if !text.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hidden(c) {
            out.push_str(&format!("\\x{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The exit status of a run: 0 pass, 1 fail, 2 error.
pub fn run_status(run: &RunReport) -> ExitCode {
    ExitCode::from(run.exit_status())
}

/// Apply the CI gate (project file, baseline), print a run (table, or the JSON contract) and
/// write its report files: what every judging command (`validate`, `xdm check`, `mail fetch`,
/// ...) does with its run. `fail_on` is the run's threshold when the command has one.
pub fn output(
    mut run: RunReport,
    json_out: bool,
    files: &ReportFiles,
    project: Option<&Project>,
    fail_on: Option<Severity>,
) -> Result<ExitCode, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("dossier courant : {e}"))?;
    let baseline = match &files.baseline {
        Some(f) => {
            let (entries, _) = gate::read_findings(f)?;
            Some((f.display().to_string(), entries))
        }
        None => None,
    };
    let g = gate::Gate {
        project,
        baseline,
        fail_on_new: files.fail_on_new,
        fail_on: fail_on.or_else(|| project.and_then(|p| p.config.fail_on)),
        today: gate::Gate::today(),
    };
    g.apply(&mut run, &cwd);
    if json_out {
        emit_json(&(json::render(&run) + "\n"));
    } else {
        emit(&table::render(&run, terminal_width()));
    }
    // The project file's outputs, unless the command line names that file.
    let out = project.and_then(|p| p.config.outputs.as_ref());
    let pick = |cli: &Option<PathBuf>, conf: Option<&PathBuf>| -> Option<PathBuf> {
        cli.clone().or_else(|| Some(project?.resolve(conf?)))
    };
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes).map_err(|e| format!("{} : {e}", path.display()))
    };
    if let Some(path) = pick(&files.junit, out.and_then(|o| o.junit.as_ref())) {
        write(&path, &junit::render(&run)?)?;
    }
    if let Some(path) = pick(&files.html, out.and_then(|o| o.html.as_ref())) {
        write(&path, html::render(&run).as_bytes())?;
    }
    if let Some(path) = pick(&files.json, out.and_then(|o| o.json.as_ref())) {
        write(&path, (json::render(&run) + "\n").as_bytes())?;
    }
    if let Some(path) = pick(&files.sarif, out.and_then(|o| o.sarif.as_ref())) {
        write(
            &path,
            sarif::render(&run, &cwd, &banc::rules::all()).as_bytes(),
        )?;
    }
    if let Some(path) = &files.write_baseline {
        write(path, gate::baseline_json(&run, &cwd).as_bytes())?;
    }
    if let Some(path) = &files.codequality {
        write(path, (codequality::render(&run) + "\n").as_bytes())?;
    }
    Ok(run_status(&run))
}

/// A command that ends without a verdict: 0.
pub fn exit_ok(_: ()) -> ExitCode {
    ExitCode::SUCCESS
}

/// A command's outcome as its exit status; an error is one line on stderr and status 2.
pub fn exit(r: Result<ExitCode, String>) -> ExitCode {
    r.unwrap_or_else(|msg| {
        eprintln!("banc: {}", visible(&msg));
        ExitCode::from(2)
    })
}

/// Where the library's log (`tracing` events, one line each, message only) is written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ServerLog {
    /// The SMTP server's log on stdout (`banc mail serve`: scripts read its lines there).
    Stdout,
    /// Everything on stderr (stdout carries a report or a scoreboard).
    Stderr,
}

/// A log writer that shows control characters of an event `\xHH`, line feeds inside it
/// included: a certificate subject or a client's text cannot forge a log line (`tracing`
/// writes each event whole, its final line feed last).
struct VisibleLines<W>(W);

impl<W: std::io::Write> std::io::Write for VisibleLines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (body, end) = match buf.split_last() {
            Some((b'\n', body)) => (body, &b"\n"[..]),
            _ => (buf, &b""[..]),
        };
        let text = String::from_utf8_lossy(body);
        self.0.write_all(shown(&text, &['\t']).as_bytes())?;
        self.0.write_all(end)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Install the subscriber that prints the library's log: the message alone, one line per
/// event, as the commands printed before `tracing` (scripts and tests read these lines).
pub fn init_log(server: ServerLog) {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    let stdout = || VisibleLines(std::io::stdout());
    let stderr = || VisibleLines(std::io::stderr());
    let stdout_for_server = stdout.with_filter(move |meta: &tracing::Metadata<'_>| {
        server == ServerLog::Stdout && meta.target() == banc::transport::session::LOG_TARGET
    });
    // Only banc's own events: the libraries under it (hyper, reqwest...) speak to developers.
    let stderr_for_banc =
        stderr.with_filter(|meta: &tracing::Metadata<'_>| meta.target().starts_with("banc"));
    let writer = stdout_for_server.or_else(stderr_for_banc);
    let _ = tracing_subscriber::fmt()
        .with_writer(writer)
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}

/// From here on the process's memory (a batch, a server) is faulted in 4 KiB pages, not
/// transparent huge pages. The allocator asks for huge pages, which halve a one-document run's
/// page faults; over a batch they keep freed memory resident (peak 187 MiB for 1,000 CR-BIO on
/// 2 threads against 94 MiB without, at the same speed). Pages already faulted stay as they are.
pub fn small_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE only sets a flag of the calling process; its
    // failure (an old kernel) leaves huge pages on, which is harmless.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(test)]
mod log_tests {
    use super::VisibleLines;
    use std::io::Write;

    #[test]
    fn a_log_event_stays_one_line_whatever_it_quotes() {
        let mut w = VisibleLines(Vec::new());
        w.write_all("reçu de=<a@b.fr> cert=\"CN=x\nreçu id=forgé\u{1b}[2J\"\n".as_bytes())
            .unwrap();
        let out = String::from_utf8(w.0).unwrap();
        assert_eq!(
            out,
            "reçu de=<a@b.fr> cert=\"CN=x\\x0Areçu id=forgé\\x1B[2J\"\n"
        );
    }
}
