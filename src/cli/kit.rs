//! `banc profiles`, `banc kit check`, `banc terminology`: what banc knows of document models,
//! a kit's schematrons and value sets.

use super::common::TermArgs;
use super::common::{Format, emit, emit_json, terminal_width};
use banc::finding::Severity;
use banc::kit::Kit;
use banc::kits::{Installed, Request, Store as KitStore};
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
    /// Télécharger le kit officiel de l'ANS (TestContenuCDA) à un tag ou un commit, le vérifier
    /// et l'installer (il devient le kit par défaut de `banc validate`).
    Fetch(FetchArgs),
    /// Lister les kits installés (ref, sha256 de l'archive, empreinte, date, défaut).
    List {
        #[command(flatten)]
        data: DataDir,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Choisir le kit installé que `banc validate` utilise sans --kit.
    Default {
        /// Ref of an installed kit (see `banc kit list`).
        #[arg(value_name = "REF")]
        reference: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Comparer deux kits : schématrons, contrôles (assert/report), jeux de valeurs, XSD.
    Diff {
        /// Older kit: a folder, or the ref of an installed kit.
        old: String,
        /// Newer kit: a folder, or the ref of an installed kit.
        new: String,
        #[command(flatten)]
        data: DataDir,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// Where installed kits live.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DataDir {
    /// banc's data folder; kits go to DIR/kits (default: the user's data folder, e.g.
    /// ~/.local/share/banc).
    #[arg(long = "data-dir", value_name = "DIR", env = "BANC_DATA")]
    pub data_dir: Option<PathBuf>,
}

impl DataDir {
    pub fn store(&self) -> Result<KitStore, String> {
        Ok(KitStore::new(&match &self.data_dir {
            Some(d) => d.clone(),
            None => KitStore::user_data_dir()?,
        }))
    }
}

#[derive(clap::Args)]
pub struct FetchArgs {
    /// Tag or commit of ansforge/TestContenuCDA-3-0 (default: the commit banc is tested with).
    #[arg(value_name = "REF", default_value = banc::kits::DEFAULT_REF)]
    pub reference: String,
    /// Refuse any archive whose sha256 is not HEX (nothing is installed).
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Archive URL, `{ref}` replaced by REF: a mirror or an internal copy (default: GitHub's
    /// archive of the ref). Proxies: HTTPS_PROXY, HTTP_PROXY, NO_PROXY.
    #[arg(long = "kit-url", value_name = "URL", env = "BANC_KIT_MIRROR")]
    pub url: Option<String>,
    /// Download again even if this ref is installed.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub data: DataDir,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
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

pub fn kit_command(cmd: KitCommand) -> Result<ExitCode, String> {
    match cmd {
        KitCommand::Check { kit } => kit_check(&kit),
        KitCommand::Fetch(a) => fetch(a),
        KitCommand::List { data, format } => list(&data.store()?, format),
        KitCommand::Default { reference, data } => {
            let k = data.store()?.set_default(&reference)?;
            emit(&format!(
                "Kit par défaut : {} ({})\n",
                k.reference,
                k.path.display()
            ));
            Ok(ExitCode::SUCCESS)
        }
        KitCommand::Diff {
            old,
            new,
            data,
            format,
        } => {
            let store = data.store()?;
            let old = kit_folder(&store, &old)?;
            let new = kit_folder(&store, &new)?;
            let d = banc::kits::diff::diff(&old, &new)?;
            match format {
                Format::Json => emit_json(&(d.json() + "\n")),
                Format::Table => emit(&d.table(terminal_width())),
            }
            // Like diff(1): 1 when the kits differ.
            Ok(if d.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// A kit given as a folder, or as the ref of an installed kit.
fn kit_folder(store: &KitStore, given: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(given);
    if p.is_dir() {
        return Ok(p);
    }
    store.get(given).map(|k| k.path).ok_or_else(|| {
        format!("« {given} » : ni un dossier, ni la ref d'un kit installé (banc kit list)")
    })
}

fn fetch(a: FetchArgs) -> Result<ExitCode, String> {
    let store = a.data.store()?;
    let req = Request {
        reference: a.reference,
        sha256: a.sha256,
        url: a.url,
    };
    let f = store.fetch(&req, a.force)?;
    match a.format {
        Format::Json => emit_json(
            &(serde_json::json!({
                "ref": f.kit.reference,
                "path": f.kit.path,
                "url": f.kit.url,
                "sha256": f.kit.sha256,
                "fingerprint": f.kit.fingerprint,
                "fetched_at": f.kit.fetched_at,
                "already_installed": f.already,
                "default": true,
            })
            .to_string()
                + "\n"),
        ),
        Format::Table => emit(&format!(
            "{} {}\n  dossier      {}\n  archive      sha256:{}\n  empreinte    {}\n  source       {}\n  (kit par défaut de banc validate ; épingler : --sha256 {})\n",
            if f.already {
                "Kit déjà installé :"
            } else {
                "Kit installé :"
            },
            f.kit.reference,
            f.kit.path.display(),
            f.kit.sha256,
            f.kit.fingerprint,
            f.kit.url,
            f.kit.sha256,
        )),
    }
    Ok(ExitCode::SUCCESS)
}

fn list(store: &KitStore, format: Format) -> Result<ExitCode, String> {
    let kits = store.list()?;
    let default = store.default_kit().ok().flatten().map(|k| k.reference);
    let is_default = |k: &Installed| default.as_deref() == Some(k.reference.as_str());
    match format {
        Format::Json => {
            let v: Vec<serde_json::Value> = kits
                .iter()
                .map(|k| {
                    serde_json::json!({
                        "ref": k.reference,
                        "path": k.path,
                        "url": k.url,
                        "sha256": k.sha256,
                        "fingerprint": k.fingerprint,
                        "fetched_at": k.fetched_at,
                        "default": is_default(k),
                    })
                })
                .collect();
            emit_json(&(serde_json::Value::Array(v).to_string() + "\n"));
        }
        Format::Table => {
            if kits.is_empty() {
                emit(&format!(
                    "Aucun kit installé dans {} (banc kit fetch).\n",
                    store.dir.display()
                ));
                return Ok(ExitCode::SUCCESS);
            }
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
                .set_header(vec![
                    "",
                    "Ref",
                    "Archive (sha256)",
                    "Empreinte",
                    "Récupéré le",
                ]);
            for k in &kits {
                t.add_row(vec![
                    if is_default(k) { "*" } else { "" }.to_string(),
                    k.reference.clone(),
                    k.sha256.clone(),
                    k.fingerprint.clone(),
                    k.fetched_at.clone(),
                ]);
            }
            emit(&format!(
                "{t}\nKits dans {} ; * : kit par défaut.\n",
                store.dir.display()
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}
