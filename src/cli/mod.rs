//! The `banc` command line: argument parsing (clap), exit statuses and printing, over the
//! library. One file per command family; the library never prints nor exits.

mod common;
mod diff;
mod event;
mod indicators;
mod kit;
mod mail;
mod rules;
mod scale;
mod scenario;
mod serve;
mod validate;
mod xdm;

use clap::{Parser, Subcommand};
use common::{emit, exit};
use kit::{KitCommand, TermCommand};
use std::path::PathBuf;
use std::process::ExitCode;
use validate::ValidateArgs;

#[derive(Parser)]
#[command(
    name = "banc",
    version,
    about = "banc d'essai — conformité des documents CDA CI-SIS (CR-BIO) échangés par MSSanté"
)]
struct Cli {
    /// Project file (default: banc.toml in the current folder or a parent); every option given
    /// on the command line overrides it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Valider des documents CDA (fichiers, ou dossiers parcourus pour les *.xml).
    Validate(ValidateArgs),
    /// Comparer les constats de deux exécutions (rapports JSON ou références) : nouveaux,
    /// corrigés, persistants, par document et par règle.
    Diff(diff::DiffArgs),
    /// Fusionner des rapports JSON / JSON Lines (les parts d'un lot `--shard`) en un seul.
    Merge(scale::MergeArgs),
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
    Suite(scenario::SuiteCommand),
    /// Jouer une suite contre les systèmes des participants (SMTP, dépôts, HTTP) et les noter.
    Run(scenario::RunArgs),
    /// Répéter une suite contre les simulateurs de banc (un participant correct, un défaillant).
    Rehearse(scenario::RehearseArgs),
    /// Simulateurs de référence : un laboratoire producteur, un logiciel destinataire.
    #[command(subcommand)]
    Simulate(scenario::SimulateCommand),
    /// Événement de projectathon : instances, tentatives, moniteurs, notes, preuves signées.
    #[command(subcommand)]
    Event(event::EventCommand),
    /// Service web de validation (comme EVS) : formulaire de dépôt, API, résultats sous lien
    /// secret, effacés après la durée de conservation.
    Serve(serve::ServeArgs),
    /// Indicateurs d'usage MS-1 à MS-4 (appel à projets MSSanté) d'une période, à partir des
    /// documents produits et des messages envoyés.
    Indicators(indicators::IndicatorsArgs),
    /// Mesurer : compilation des schématrons, temps par document, débit d'un lot.
    Bench {
        /// Kit folder (as for `validate`).
        #[arg(long, env = "BANC_KIT")]
        kit: PathBuf,
        /// Documents in the batch (the kit's CR-BIO 2024.01 examples repeated; 1 to 100000).
        #[arg(long, default_value_t = 1000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
        batch: usize,
        /// Repetitions of the one-document measure (1 to 10000).
        #[arg(long, default_value_t = 20, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
        repeat: usize,
        /// Threads for the batch (default: all cores; 1 to 1024).
        #[arg(short = 'j', long, value_parser = common::jobs_parser())]
        jobs: Option<usize>,
        /// Also time reading this circuit-bio file.
        #[arg(long = "circuit-bio", value_name = "FILE", env = "BANC_CIRCUIT_BIO")]
        circuit_bio: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum XdmCommand {
    /// Construire un paquet IHE_XDM.zip (INDEX.HTM, README.TXT, METADATA.XML) depuis des CDA.
    Pack(xdm::PackArgs),
    /// Vérifier un paquet IHE_XDM.zip (archive, structure, métadonnées) et les documents qu'il contient.
    Check(xdm::XdmCheckArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    common::init_log(match &cli.command {
        Command::Mail(mail::MailCommand::Serve(_)) => common::ServerLog::Stdout,
        _ => common::ServerLog::Stderr,
    });
    match cli.command {
        Command::Profiles => {
            kit::print_profiles();
            ExitCode::SUCCESS
        }
        Command::Kit(cmd) => exit(kit::kit_command(cmd)),
        Command::Bench {
            kit,
            batch,
            repeat,
            jobs,
            circuit_bio,
        } => exit({
            // Its batch is measured as `validate` runs one (see `common::small_pages`).
            common::small_pages();
            banc::bench::run(
                &kit,
                &banc::bench::BenchOptions {
                    batch,
                    repeat,
                    jobs: common::jobs(jobs),
                    circuit_bio,
                },
            )
            .map(|text| {
                emit(&text);
                ExitCode::SUCCESS
            })
        }),
        Command::Terminology(cmd) => exit(kit::terminology(cmd)),
        Command::Xdm(cmd) => exit(match cmd {
            XdmCommand::Pack(a) => xdm::pack(a),
            XdmCommand::Check(a) => xdm::check(a, cli.config.as_deref()),
        }),
        Command::Mail(cmd) => exit(mail::run(cmd, cli.config.as_deref())),
        Command::Diff(a) => exit(diff::run(a)),
        Command::Rules(a) => exit(rules::run(a)),
        Command::Suite(c) => exit(scenario::suite(c)),
        Command::Run(a) => exit(scenario::run(a)),
        Command::Rehearse(a) => exit(scenario::rehearse(a)),
        Command::Simulate(c) => exit(scenario::simulate(c)),
        Command::Event(c) => exit(event::run(c)),
        Command::Validate(args) => exit(validate::validate(args, cli.config.as_deref())),
        Command::Merge(args) => exit(scale::merge(args)),
        Command::Serve(args) => exit(serve::serve(args)),
        Command::Indicators(args) => exit(indicators::run(args)),
    }
}
