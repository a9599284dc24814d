//! `banc profiles`, `banc kit check`, `banc terminology`: what banc knows of document models,
//! a kit's schematrons and value sets.

use super::common::TermArgs;
use super::common::{Format, emit, emit_json, terminal_width};
use banc::finding::Severity;
use banc::kit::Kit;
use banc::profile;
use banc::terminology::{Sources, Store};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum KitCommand {
    /// Charger chaque schématron du kit et lister ses défauts (includes, jeux de valeurs...).
    Check {
        /// Kit folder (as for `validate`).
        #[arg(long, env = "BANC_KIT")]
        kit: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum TermCommand {
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
pub struct TermLoad {
    /// Kit folder: its jeuxDeValeurs/ is loaded.
    #[arg(long, env = "BANC_KIT")]
    pub kit: Option<PathBuf>,
    #[command(flatten)]
    pub terms: TermArgs,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn load_terms(load: TermLoad) -> Result<(Store, Format), String> {
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

pub fn terminology(cmd: TermCommand) -> Result<ExitCode, String> {
    match cmd {
        TermCommand::Info { load } => {
            let start = std::time::Instant::now();
            let (store, format) = load_terms(load)?;
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            match format {
                Format::Json => emit_json(&(banc::terminology::info::json(&store) + "\n")),
                Format::Table => emit(&banc::terminology::info::table(
                    &store,
                    ms,
                    terminal_width(),
                )),
            }
            Ok(ExitCode::SUCCESS)
        }
        TermCommand::Lookup { code, system, load } => {
            let (store, format) = load_terms(load)?;
            let found = banc::terminology::info::lookup(&store, &code, system.as_deref());
            match format {
                Format::Json => emit_json(&(found.json() + "\n")),
                Format::Table => emit(&found.text()),
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

pub fn print_profiles() {
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
    emit(&format!(
        "{t}
"
    ));
}

/// Exit 0 when every schematron loads (warnings allowed), 1 when some cannot be used.
pub fn kit_check(dir: &std::path::Path) -> Result<ExitCode, String> {
    let kit = Kit::open(dir).map_err(|e| e.to_string())?;
    let results = banc::schematron::check_kit(&kit.root);
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
        .set_width(terminal_width())
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
    emit(&format!(
        "Kit {} ({})\n",
        kit.root.display(),
        kit.fingerprint
    ));
    if t.row_count() > 0 {
        emit(&format!(
            "{t}
"
        ));
    }
    emit(&format!(
        "{} schématrons : {ok} chargés, {broken} inutilisables ; {warned} avertissements.\n",
        results.len()
    ));
    Ok(if broken > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
