//! `banc xdm pack` and `banc xdm check`.

use banc::finding::report::RunReport;
use banc::xdm::{Limits, PackOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct PackArgs {
    /// CDA documents to put in the package (one patient).
    #[arg(required = true)]
    pub documents: Vec<PathBuf>,
    /// Where to write the package.
    #[arg(short = 'o', long, default_value = "IHE_XDM.zip")]
    pub output: PathBuf,
    /// Sender named in INDEX.HTM and README.TXT (organisation, mailbox).
    #[arg(long)]
    pub sender: Option<String>,
    /// SubmissionSet sourceId: the OID of the sending system.
    #[arg(long, value_name = "OID")]
    pub source_id: Option<String>,
    /// SubmissionSet contentTypeCode as CODE^SYSTEM[^LABEL] (JDV_J03); default: the document's
    /// healthcare facility type.
    #[arg(long, value_name = "CODE^SYSTEM")]
    pub content_type: Option<String>,
    /// submissionTime (AAAAMMJJhhmmss, UTC) instead of now: reproducible packages.
    #[arg(long, value_name = "DTM")]
    pub submission_time: Option<String>,
    /// Overwrite the output file.
    #[arg(long)]
    pub force: bool,
}

/// Not `CheckArgs`: clap names an argument group after its struct, and `common::CheckArgs` is
/// flattened in (two groups of one name panic clap's debug assertions).
#[derive(clap::Args, Debug)]
pub struct XdmCheckArgs {
    /// IHE_XDM.zip packages.
    #[arg(required = true)]
    pub packages: Vec<PathBuf>,
    #[command(flatten)]
    pub check: super::common::CheckArgs,
    /// Output on stdout: table or json (the `banc validate` JSON contract).
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    #[command(flatten)]
    pub files: super::common::ReportFiles,
}

pub fn pack(a: PackArgs) -> Result<ExitCode, String> {
    if a.output.exists() && !a.force {
        return Err(format!(
            "{} existe déjà (--force pour le remplacer)",
            a.output.display()
        ));
    }
    let mut docs = Vec::new();
    for p in &a.documents {
        let bytes = banc::files::read_bounded(p, banc::files::MAX_DOCUMENT)?;
        docs.push((p.display().to_string(), bytes));
    }
    let content_type = match &a.content_type {
        None => None,
        Some(s) => {
            let mut it = s.split('^');
            let (Some(code), Some(system)) = (it.next(), it.next()) else {
                return Err(format!(
                    "--content-type « {s} » : attendu CODE^SYSTEME[^LIBELLE]"
                ));
            };
            Some(banc::cda::header::Code {
                code: code.into(),
                system: system.into(),
                display: it.next().unwrap_or("").into(),
            })
        }
    };
    if let Some(t) = &a.submission_time {
        if !(t.len() == 14 && t.bytes().all(|b| b.is_ascii_digit())) {
            return Err(format!(
                "--submission-time « {t} » : attendu AAAAMMJJhhmmss"
            ));
        }
        // A real instant: no month 13, no 31 April, no 25 o'clock.
        banc::cda::ts::parse(t).map_err(|e| format!("--submission-time « {t} » : {e}"))?;
    }
    if let Some(o) = &a.source_id
        && !banc::xdm::checks::is_oid(o)
    {
        return Err(format!("--source-id « {o} » n'est pas un OID"));
    }
    let zip = banc::xdm::pack(
        &docs,
        &PackOptions {
            sender: a.sender,
            content_type,
            source_id: a.source_id,
            submission_time: a.submission_time,
            allow_faults: false,
            faults: Vec::new(),
        },
    )?;
    std::fs::write(&a.output, &zip).map_err(|e| format!("{} : {e}", a.output.display()))?;
    super::common::emit(&format!(
        "{} : {} document(s), {} octets\n",
        a.output.display(),
        docs.len(),
        zip.len()
    ));
    Ok(ExitCode::SUCCESS)
}

pub fn check(a: XdmCheckArgs, config: Option<&std::path::Path>) -> Result<ExitCode, String> {
    let project = super::common::project(config)?;
    let check = super::common::check_with_project(a.check, project.as_ref());
    let v = banc::pipeline::CheckOptions::from(check).validator()?;
    let mut docs = Vec::new();
    for p in &a.packages {
        let name = p.display().to_string();
        // As `banc validate`: over --max-size, or no file (a FIFO, a device), is a finding.
        match v.read_bounded(p, &name, std::time::Instant::now()) {
            Ok(bytes) => docs.extend(banc::xdm::check(&name, &bytes, &v, &Limits::default())),
            Err(report) => docs.push(*report),
        }
    }
    let mut run = RunReport::new(v.kit_stamp(), banc::finding::Severity::Error, docs);
    run.terminology = Some(v.terminology().stamp());
    super::common::output(run, a.format == "json", &a.files, project.as_ref(), None)
}
