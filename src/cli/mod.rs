//! The `banc` command line: argument parsing (clap), exit statuses and printing, over the
//! library. One file per command family; the library never prints nor exits.

mod mail;
mod rules;
mod xdm;

use banc::finding::Severity;
use banc::kit::Kit;
use banc::pipeline::{Options, Validator};
use banc::profile;
use banc::report::{self, RunReport};
use banc::terminology::{Sources, Store};
use banc::xml::Limits;
use clap::{Parser, Subcommand, ValueEnum};
use rayon::prelude::*;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "banc",
    version,
    about = "banc d'essai — conformité des documents CDA CI-SIS (CR-BIO) échangés par MSSanté"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Valider des documents CDA (fichiers, ou dossiers parcourus pour les *.xml).
    Validate(ValidateArgs),
    /// Lister les profils (modèles de documents) que banc reconnaît.
    Profiles,
    /// Lister les règles de banc (id, couche, sévérité, titre, déclaration dans le code) et, avec
    /// --kit, les contrôles des schématrons du kit.
    Rules(rules::RulesArgs),
    /// Outils sur un kit de règles.
    #[command(subcommand)]
    Kit(KitCommand),
    /// Jeux de valeurs : ce qui est chargé, et l'explication d'un code.
    #[command(subcommand)]
    Terminology(TermCommand),
    /// Paquets IHE_XDM : construire, vérifier.
    #[command(subcommand)]
    Xdm(XdmCommand),
    /// Messagerie MSSanté : serveur SMTP, envoi, accusés (MDN/DSN), relève IMAP.
    #[command(subcommand)]
    Mail(mail::MailCommand),
    /// Suites de scénarios de projectathon : vérifier une suite et ses participants.
    #[command(subcommand)]
    Suite(SuiteCommand),
    /// Jouer une suite contre les systèmes des participants (SMTP, dépôts, HTTP) et les noter.
    Run(banc::scenario::run::RunArgs),
    /// Répéter une suite contre les simulateurs de banc (un participant correct, un défaillant).
    Rehearse(banc::simulate::RehearseArgs),
    /// Simulateurs de référence : un laboratoire producteur, un logiciel destinataire.
    #[command(subcommand)]
    Simulate(banc::simulate::SimulateCommand),
    /// Mesurer : compilation des schématrons, temps par document, débit d'un lot.
    Bench {
        /// Kit folder (as for `validate`).
        #[arg(long, env = "BANC_KIT")]
        kit: PathBuf,
        /// Documents in the batch (the kit's CR-BIO 2024.01 examples repeated).
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Repetitions of the one-document measure.
        #[arg(long, default_value_t = 20)]
        repeat: usize,
        /// Threads for the batch (default: all cores).
        #[arg(short = 'j', long)]
        jobs: Option<usize>,
        /// Also time reading this circuit-bio file.
        #[arg(long = "circuit-bio", value_name = "FILE", env = "BANC_CIRCUIT_BIO")]
        circuit_bio: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SuiteCommand {
    /// Vérifier une suite (et un fichier de participants) sans rien exécuter.
    Check(banc::scenario::CheckArgs),
}

#[derive(Subcommand)]
enum XdmCommand {
    /// Construire un paquet IHE_XDM.zip (INDEX.HTM, README.TXT, METADATA.XML) depuis des CDA.
    Pack(xdm::PackArgs),
    /// Vérifier un paquet IHE_XDM.zip (archive, structure, métadonnées) et les documents qu'il contient.
    Check(xdm::CheckArgs),
}

#[derive(Subcommand)]
enum KitCommand {
    /// Charger chaque schématron du kit et lister ses défauts (includes, jeux de valeurs...).
    Check {
        /// Kit folder (as for `validate`).
        #[arg(long, env = "BANC_KIT")]
        kit: PathBuf,
    },
}

#[derive(Subcommand)]
enum TermCommand {
    /// Lister les jeux de valeurs chargés (taille, version, fichier) et le circuit de la biologie.
    Info {
        #[command(flatten)]
        load: TermLoad,
    },
    /// Expliquer un code : jeux de valeurs qui le contiennent, ligne du circuit de la biologie,
    /// forme LOINC.
    Lookup {
        code: String,
        /// Only this code system (OID).
        #[arg(long)]
        system: Option<String>,
        #[command(flatten)]
        load: TermLoad,
    },
}

/// What `banc terminology` loads, and how it prints.
#[derive(clap::Args)]
struct TermLoad {
    /// Kit folder: its jeuxDeValeurs/ is loaded.
    #[arg(long, env = "BANC_KIT")]
    kit: Option<PathBuf>,
    #[command(flatten)]
    terms: TermArgs,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum FailOn {
    Error,
    Warning,
    Info,
}

#[derive(clap::Args)]
struct ValidateArgs {
    /// CDA documents, IHE_XDM.zip packages, e-mails (.eml), or folders of them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Kit folder laid out like the ANS TestContenuCDA kit (adds the CDA XSD).
    #[arg(long, env = "BANC_KIT")]
    kit: Option<PathBuf>,
    /// Force the profile instead of detecting it from the header templateIds (see `banc profiles`).
    #[arg(long)]
    profile: Option<String>,
    /// Output on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also write a self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Lowest severity that fails a document and the exit status.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    fail_on: FailOn,
    /// Documents validated in parallel (default: all cores). Output order never changes.
    #[arg(short = 'j', long)]
    jobs: Option<usize>,
    /// Largest document read, in bytes.
    #[arg(long, default_value_t = Limits::default().max_bytes)]
    max_size: u64,
    /// Deepest element nesting accepted.
    #[arg(long, default_value_t = Limits::default().max_depth)]
    max_depth: usize,
    /// Schematron phase for every schematron that declares it (`#ALL`: all patterns of all).
    #[arg(long)]
    phase: Option<String>,
    /// Also run this schematron (after the profile's; repeatable).
    #[arg(long = "schematron", value_name = "FILE")]
    schematrons: Vec<PathBuf>,
    /// Replace a schematron of the profile: NAME (file name or kit path) = FILE (repeatable).
    #[arg(long = "replace-schematron", value_name = "NAME=FILE", value_parser = parse_replace)]
    replaced: Vec<(String, PathBuf)>,
    /// Skip the kit's schematrons (XSD and banc's own rules only).
    #[arg(long)]
    no_schematron: bool,
    /// Write one SVRL file per document and schematron into DIR.
    #[arg(long, value_name = "DIR")]
    svrl: Option<PathBuf>,
    #[command(flatten)]
    terms: TermArgs,
}

/// Where the value sets come from, beside the kit's `jeuxDeValeurs/`.
#[derive(clap::Args, Clone)]
struct TermArgs {
    /// Value sets to load: IHE SVS `.xml` or FHIR R4 `.json` (ValueSet, CodeSystem, Bundle)
    /// files, or folders of them (repeatable; `:`-separated in BANC_TERMINOLOGY).
    #[arg(
        long = "terminology",
        value_name = "PATH",
        env = "BANC_TERMINOLOGY",
        value_delimiter = ':'
    )]
    terminology: Vec<PathBuf>,
    /// The "circuit de la biologie" value set, as published (.xlsx) or exported (.csv).
    #[arg(long = "circuit-bio", value_name = "FILE", env = "BANC_CIRCUIT_BIO")]
    circuit_bio: Option<PathBuf>,
}

fn parse_replace(s: &str) -> Result<(String, PathBuf), String> {
    let (name, file) = s
        .split_once('=')
        .ok_or_else(|| format!("« {s} » : attendu NOM=FICHIER"))?;
    let file = PathBuf::from(file);
    if !file.is_file() {
        return Err(format!("{} : fichier introuvable", file.display()));
    }
    Ok((name.to_string(), file))
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Profiles => {
            print_profiles();
            ExitCode::SUCCESS
        }
        Command::Kit(KitCommand::Check { kit }) => match kit_check(&kit) {
            Ok(code) => code,
            Err(msg) => {
                eprintln!("banc: {msg}");
                ExitCode::from(2)
            }
        },
        Command::Bench {
            kit,
            batch,
            repeat,
            jobs,
            circuit_bio,
        } => {
            let jobs = jobs.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            });
            let opts = banc::bench::BenchOptions {
                batch,
                repeat,
                jobs,
                circuit_bio,
            };
            match banc::bench::run(&kit, &opts) {
                Ok(text) => {
                    report::emit(&text);
                    ExitCode::SUCCESS
                }
                Err(msg) => {
                    eprintln!("banc: {msg}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Terminology(cmd) => match banc_terminology(cmd) {
            Ok(code) => code,
            Err(msg) => {
                eprintln!("banc: {msg}");
                ExitCode::from(2)
            }
        },
        Command::Xdm(cmd) => report_exit(match cmd {
            XdmCommand::Pack(a) => xdm::pack(a),
            XdmCommand::Check(a) => xdm::check(a),
        }),
        Command::Mail(cmd) => report_exit(mail::run(cmd)),
        Command::Rules(a) => report_exit(rules::run(a)),
        Command::Suite(SuiteCommand::Check(a)) => report_exit(banc::scenario::check(a)),
        Command::Run(a) => report_exit(banc::scenario::run::run(a)),
        Command::Rehearse(a) => report_exit(banc::simulate::rehearse(a)),
        Command::Simulate(c) => report_exit(banc::simulate::run(c)),
        Command::Validate(args) => match validate(args) {
            Ok(code) => code,
            Err(msg) => {
                eprintln!("banc: {msg}");
                ExitCode::from(2)
            }
        },
    }
}

fn report_exit(r: Result<ExitCode, String>) -> ExitCode {
    r.unwrap_or_else(|msg| {
        eprintln!("banc: {msg}");
        ExitCode::from(2)
    })
}

fn load_terms(load: TermLoad) -> Result<(Store, Format), String> {
    let TermLoad { kit, terms, format } = load;
    let kit = match kit {
        Some(dir) => Some(Kit::open(&dir).map_err(|e| e.to_string())?.root),
        None => None,
    };
    let store = Store::load(&Sources {
        kit,
        extra: terms.terminology,
        circuit_bio: terms.circuit_bio,
    })?;
    Ok((store, format))
}

fn banc_terminology(cmd: TermCommand) -> Result<ExitCode, String> {
    match cmd {
        TermCommand::Info { load } => {
            let start = std::time::Instant::now();
            let (store, format) = load_terms(load)?;
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            match format {
                Format::Json => report::emit(&(banc::terminology::info::json(&store) + "\n")),
                Format::Table => report::emit(&banc::terminology::info::table(
                    &store,
                    ms,
                    report::terminal_width(),
                )),
            }
            Ok(ExitCode::SUCCESS)
        }
        TermCommand::Lookup { code, system, load } => {
            let (store, format) = load_terms(load)?;
            let found = banc::terminology::info::lookup(&store, &code, system.as_deref());
            match format {
                Format::Json => report::emit(&(found.json() + "\n")),
                Format::Table => report::emit(&found.text()),
            }
            // Unknown everywhere: exit 1, so that scripts can test a code.
            Ok(if found.known() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn print_profiles() {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(vec![
            "Profil",
            "Modèle (templateId)",
            "Volet du kit",
            "Description",
        ]);
    for p in profile::all() {
        let model = match (p.template_root, p.template_extension) {
            (Some(r), Some(e)) => format!("{r} ext. {e}"),
            (Some(r), None) => format!("{r} (sans extension)"),
            _ => "-".into(),
        };
        t.add_row(vec![
            p.id.to_string(),
            model,
            p.volet.unwrap_or("-").to_string(),
            p.title.to_string(),
        ]);
    }
    println!("{t}");
}

/// Exit 0 when every schematron loads (warnings allowed), 1 when some cannot be used.
fn kit_check(dir: &std::path::Path) -> Result<ExitCode, String> {
    let kit = Kit::open(dir).map_err(|e| e.to_string())?;
    let results = banc::schematron::check_kit(&kit.root);
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
        .set_width(report::terminal_width())
        .set_header(vec!["Sévérité", "Défaut", "Fichier", "Détail"]);
    let (mut ok, mut broken, mut warned) = (0, 0, 0);
    for (file, r) in &results {
        let issues: Vec<&banc::schematron::KitIssue> = match r {
            Ok(s) => {
                ok += 1;
                s.issues.iter().collect()
            }
            Err(e) => {
                broken += 1;
                vec![e]
            }
        };
        for i in issues {
            if i.severity == Severity::Warning {
                warned += 1;
            }
            let at = if i.line > 0 {
                format!("{}:{}", i.file, i.line)
            } else {
                i.file.clone()
            };
            let detail = if &i.file == file {
                i.message.clone()
            } else {
                format!("{} (chargé par {file})", i.message)
            };
            t.add_row(vec![
                i.severity.as_str().to_string(),
                i.rule.to_string(),
                at,
                detail,
            ]);
        }
    }
    println!("Kit {} ({})", kit.root.display(), kit.fingerprint);
    if t.row_count() > 0 {
        println!("{t}");
    }
    println!(
        "{} schématrons : {ok} chargés, {broken} inutilisables ; {warned} avertissements.",
        results.len()
    );
    Ok(if broken > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn validate(args: ValidateArgs) -> Result<ExitCode, String> {
    let forced = match &args.profile {
        Some(id) => Some(profile::by_id(id).ok_or_else(|| {
            let ids: Vec<_> = profile::all().iter().map(|p| p.id).collect();
            format!("profil inconnu « {id} » (profils : {})", ids.join(", "))
        })?),
        None => None,
    };
    let fail_on = match args.fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
        FailOn::Info => Severity::Info,
    };
    let kit = match &args.kit {
        Some(dir) => Some(Kit::open(dir).map_err(|e| e.to_string())?),
        None => None,
    };
    let opts = Options {
        limits: Limits {
            max_bytes: args.max_size,
            max_depth: args.max_depth,
        },
        profile: forced,
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
    };
    for f in &args.schematrons {
        if !f.is_file() {
            return Err(format!("{} : fichier introuvable", f.display()));
        }
    }
    let validator = Validator::new(kit, opts).map_err(|e| e.to_string())?;
    let inputs = banc::input::collect(&args.paths)?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| e.to_string())?;
    // par_iter().collect() keeps input order whatever the thread that finished first.
    let docs = pool.install(|| {
        inputs
            .par_iter()
            .map(|p| banc::input::validate(&validator, p, &p.display().to_string()))
            .collect::<Vec<_>>()
    });
    let docs: Vec<_> = docs.into_iter().flatten().collect();
    let mut stamp = validator.kit_stamp();
    if let Some(s) = &mut stamp {
        s.issues = validator.kit_issues().into_iter().map(Into::into).collect();
    }
    let mut report = RunReport::new(stamp, fail_on, docs);
    report.terminology = Some(validator.terminology().stamp());
    report::output(
        &report,
        matches!(args.format, Format::Json),
        args.junit.as_deref(),
        args.html.as_deref(),
    )
}
