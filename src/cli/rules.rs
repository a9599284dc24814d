//! `banc rules`: every rule banc can report, where it is declared, and with `--kit` the kit's
//! schematron checks under the ids of their findings.

use banc::finding::Layer;
use banc::kit::Kit;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct RulesArgs {
    /// Only the rules whose id starts with this prefix (`mail.`, `xdm.zip`, ...).
    pub prefix: Option<String>,
    /// Only the rules of this layer (xml, xsd, schematron, banc, terminology, xdm, mail,
    /// transport, scenario).
    #[arg(long)]
    pub layer: Option<String>,
    /// Also list the kit's schematron checks (asserts and reports), with their `.sch` and line.
    #[arg(long, env = "BANC_KIT")]
    pub kit: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = super::common::Format::Table)]
    pub format: super::common::Format,
}

/// One row of the listing (JSON `rules[]`).
#[derive(serde::Serialize)]
struct Row {
    id: String,
    layer: Layer,
    severity: banc::finding::Severity,
    title: String,
    source: String,
}

const LAYERS: &[Layer] = &[
    Layer::Xml,
    Layer::Xsd,
    Layer::Schematron,
    Layer::Banc,
    Layer::Terminology,
    Layer::Xdm,
    Layer::Mail,
    Layer::Transport,
    Layer::Scenario,
    Layer::Project,
];

pub fn run(args: RulesArgs) -> Result<ExitCode, String> {
    let layer = match &args.layer {
        Some(name) => Some(
            *LAYERS
                .iter()
                .find(|l| l.as_str() == name)
                .ok_or_else(|| format!("couche inconnue « {name} »"))?,
        ),
        None => None,
    };
    let mut rows: Vec<Row> = banc::rules::all()
        .into_iter()
        .map(|r| Row {
            id: r.id.to_string(),
            layer: r.layer,
            severity: r.severity,
            title: r.message.to_string(),
            source: r.source(),
        })
        .collect();
    if let Some(dir) = &args.kit {
        let kit = Kit::open(dir).map_err(|e| e.to_string())?;
        rows.extend(banc::rules::kit_checks(&kit.root).into_iter().map(|c| Row {
            id: c.id,
            layer: Layer::Schematron,
            severity: c.severity,
            title: c.title,
            source: format!("{}:{}", c.file, c.line),
        }));
    }
    rows.retain(|r| {
        layer.is_none_or(|l| r.layer == l)
            && args.prefix.as_deref().is_none_or(|p| r.id.starts_with(p))
    });
    match args.format {
        super::common::Format::Json => {
            let out = serde_json::json!({ "rules": rows });
            super::common::emit_json(&format!(
                "{}\n",
                serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
            ));
        }
        super::common::Format::Table => {
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
                .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
                .set_width(super::common::terminal_width())
                .set_header(vec!["Règle", "Couche", "Sévérité", "Titre", "Source"]);
            for r in &rows {
                t.add_row(vec![
                    r.id.clone(),
                    r.layer.to_string(),
                    r.severity.to_string(),
                    r.title.clone(),
                    r.source.clone(),
                ]);
            }
            super::common::emit(&format!("{t}\n{} règles\n", rows.len()));
        }
    }
    Ok(ExitCode::SUCCESS)
}
