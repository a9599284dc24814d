//! What every command shares: the validation options of the judging doors, output formats,
//! printing a run, exit statuses, and where the library's log goes.

use banc::choice::Choice;
use banc::finding::report::RunReport;
use banc::pipeline::CheckOptions;
use banc::report::{codequality, html, json, junit, table};
use std::path::PathBuf;
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

/// The report files a judging command also writes.
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

/// Print a run (table, or the JSON contract) and write its JUnit and HTML files: what every
/// judging command (`validate`, `xdm check`, `mail fetch`, ...) does with its run.
pub fn output(run: &RunReport, json_out: bool, files: &ReportFiles) -> Result<ExitCode, String> {
    if json_out {
        emit_json(&(json::render(run) + "\n"));
    } else {
        emit(&table::render(run, terminal_width()));
    }
    if let Some(path) = &files.junit {
        let xml = junit::render(run)?;
        std::fs::write(path, xml).map_err(|e| format!("{} : {e}", path.display()))?;
    }
    if let Some(path) = &files.html {
        std::fs::write(path, html::render(run)).map_err(|e| format!("{} : {e}", path.display()))?;
    }
    if let Some(path) = &files.codequality {
        std::fs::write(path, codequality::render(run) + "\n")
            .map_err(|e| format!("{} : {e}", path.display()))?;
    }
    Ok(run_status(run))
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
