//! `banc validate`: the options of a run over documents, packages and messages, and its output.

use super::common::{self, TermArgs};
use super::scale::{self, RunFormat, ScaleArgs};
use banc::finding::Severity;
use banc::pipeline::{Options, Validator};
use banc::profile;
use banc::xml::Limits;
use clap::ValueEnum;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
}

#[derive(clap::Args)]
pub struct ValidateArgs {
    /// CDA documents, IHE_XDM.zip packages, e-mails (.eml), or folders of them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Kit folder laid out like the ANS TestContenuCDA kit (adds the CDA XSD). Default: the
    /// default kit installed by `banc kit fetch`, if any.
    #[arg(long, env = "BANC_KIT")]
    pub kit: Option<PathBuf>,
    /// No kit, not even the installed default: banc's own rules only.
    #[arg(long, conflicts_with = "kit")]
    pub no_kit: bool,
    #[command(flatten)]
    pub data: super::kit::DataDir,
    /// Force the profile instead of detecting it from the header templateIds (see `banc profiles`).
    #[arg(long)]
    pub profile: Option<String>,
    /// Output on stdout.
    #[arg(long, value_enum, default_value_t = RunFormat::Table)]
    pub format: RunFormat,
    #[command(flatten)]
    pub files: super::common::ReportFiles,
    /// Lowest severity that fails a document and the exit status (default: the project
    /// file's `fail_on`, else error).
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,
    /// Documents validated in parallel (default: all cores; 1 to 1024). Output order never changes.
    #[arg(short = 'j', long, value_parser = super::common::jobs_parser())]
    pub jobs: Option<usize>,
    /// Largest document read, in bytes (1 to 1073741824).
    #[arg(long, default_value_t = Limits::default().max_bytes, value_parser = clap::value_parser!(u64).range(1..=Limits::MAX_BYTES))]
    pub max_size: u64,
    /// Deepest element nesting accepted (1 to 10000).
    #[arg(long, default_value_t = Limits::default().max_depth, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=Limits::MAX_DEPTH))]
    pub max_depth: usize,
    /// Schematron phase for every schematron that declares it (`#ALL`: all patterns of all).
    #[arg(long)]
    pub phase: Option<String>,
    /// Also run this schematron (after the profile's; repeatable).
    #[arg(long = "schematron", value_name = "FILE")]
    pub schematrons: Vec<PathBuf>,
    /// Replace a schematron of the profile: NAME (file name or kit path) = FILE (repeatable).
    #[arg(long = "replace-schematron", value_name = "NAME=FILE", value_parser = parse_replace)]
    pub replaced: Vec<(String, PathBuf)>,
    /// Skip the kit's schematrons (XSD and banc's own rules only).
    #[arg(long)]
    pub no_schematron: bool,
    /// Write one SVRL file per document and schematron into DIR.
    #[arg(long, value_name = "DIR")]
    pub svrl: Option<PathBuf>,
    #[command(flatten)]
    pub terms: TermArgs,
    #[command(flatten)]
    pub scale: ScaleArgs,
}

pub fn parse_replace(s: &str) -> Result<(String, PathBuf), String> {
    let (name, file) = s
        .split_once('=')
        .ok_or_else(|| format!("« {s} » : attendu NOM=FICHIER"))?;
    let file = PathBuf::from(file);
    if !file.is_file() {
        return Err(format!("{} : fichier introuvable", file.display()));
    }
    Ok((name.to_string(), file))
}

pub fn validate(mut args: ValidateArgs, config: Option<&Path>) -> Result<ExitCode, String> {
    let project = common::project(config)?;
    let project = project.as_ref();
    // The project file fills what the command line left out.
    let check = common::check_with_project(
        common::CheckArgs {
            kit: args.kit.take(),
            terms: std::mem::take(&mut args.terms),
            no_schematron: args.no_schematron,
        },
        project,
    );
    args.kit = check.kit;
    args.terms = check.terms;
    let profile_globs = match (&args.profile, project) {
        (None, Some(p)) => p.profiles.clone(),
        _ => Vec::new(),
    };
    let forced = match &args.profile {
        Some(id) => Some(profile::by_id(id).ok_or_else(|| {
            let ids: Vec<_> = profile::all().iter().map(|p| p.id).collect();
            format!("profil inconnu « {id} » (profils : {})", ids.join(", "))
        })?),
        None => None,
    };
    let fail_on = common::fail_on(
        args.fail_on.map(|f| match f {
            FailOn::Error => Severity::Error,
            FailOn::Warning => Severity::Warning,
            FailOn::Info => Severity::Info,
        }),
        project,
    )
    .unwrap_or(Severity::Error);
    // The kit folder, and the installed kit it is when banc kit fetch put it there.
    let (kit_dir, installed) = match &args.kit {
        Some(dir) => (Some(dir.clone()), None),
        None if args.no_kit => (None, None),
        // The project file's pinned kit version: fetched once into the data folder (nothing
        // is downloaded when it is there, with the pinned archive), then used.
        None if project
            .is_some_and(|p| p.config.kit.as_ref().is_some_and(|k| k.reference.is_some())) =>
        {
            let k = project
                .and_then(|p| p.config.kit.as_ref())
                .expect("checked above");
            let reference = k.reference.as_deref().unwrap_or_default();
            let mirror = std::env::var("BANC_KIT_MIRROR").ok();
            let req = banc::kits::Request::new(reference, k.sha256.as_deref(), mirror.as_deref());
            let i = args.data.store()?.fetch(&req, false)?.kit;
            (Some(i.path.clone()), Some(i))
        }
        // Without a data folder there is no installed kit: the embedded rules, as before.
        None => match args
            .data
            .store()
            .ok()
            .map(|s| s.default_kit())
            .transpose()?
            .flatten()
        {
            Some(i) => (Some(i.path.clone()), Some(i)),
            None => (None, None),
        },
    };
    let opts = Options {
        limits: Limits {
            max_bytes: args.max_size,
            max_depth: args.max_depth,
            ..Limits::default()
        },
        profile: forced,
        profile_globs,
        fail_on,
        schematron: banc::schematron::engine::Settings {
            phase: args.phase.clone(),
            added: args.schematrons.clone(),
            replaced: args.replaced.clone(),
            svrl_dir: args.svrl.clone(),
        },
        run_schematrons: !args.no_schematron,
        terminology: args.terms.terminology.clone(),
        circuit_bio: args.terms.circuit_bio.clone(),
        budget: Default::default(),
    };
    // The added and replaced schematrons run with the kit's; without it they would be silently
    // ignored and the document would pass.
    if (!args.schematrons.is_empty() || !args.replaced.is_empty())
        && (kit_dir.is_none() || args.no_schematron)
    {
        return Err(
            "--schematron et --replace-schematron demandent --kit (et pas --no-schematron) : sans le kit, ces règles ne seraient pas exécutées".into(),
        );
    }
    if args.phase.is_some() && (kit_dir.is_none() || args.no_schematron) {
        return Err(
            "--phase demande --kit (et pas --no-schematron) : sans les schématrons, la phase ne choisirait rien".into(),
        );
    }
    for f in &args.schematrons {
        if !f.is_file() {
            return Err(format!("{} : fichier introuvable", f.display()));
        }
    }
    // A batch (a folder, several files) uses small pages from its start: the huge pages of
    // the start-up would stay resident all along (see `common::small_pages`).
    if args.paths.len() > 1 || args.paths.iter().any(|p| p.is_dir()) {
        common::small_pages();
    }
    let mut validator = Validator::open(kit_dir.as_deref(), opts, &args.scale.cache())?;
    if let Some(i) = &installed {
        validator.installed_kit(i.source(), &i.fingerprint)?;
    }
    let jobs = common::jobs(args.jobs);
    scale::run(
        validator,
        &args.paths,
        &args.scale,
        jobs,
        args.format,
        &args.files,
        (project, Some(fail_on)),
    )
}
