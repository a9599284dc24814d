//! `banc terminology info` and `banc terminology lookup`: what is loaded, and what banc knows of a
//! code.

use super::{Circuit, CircuitEntry, Kind, Store, ValueSet, loinc};
use serde::Serialize;
use serde_json::json;
use std::fmt::Write;

pub fn table(store: &Store, load_ms: f64, width: u16) -> String {
    let mut out = String::new();
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
        .set_width(width)
        .set_header(vec![
            "Jeu de valeurs",
            "OID / id",
            "Codes",
            "Version",
            "Format",
            "Fichier",
        ]);
    let mut sets: Vec<&ValueSet> = store.value_sets().iter().collect();
    sets.sort_by(|a, b| a.name.cmp(&b.name));
    for v in sets {
        t.add_row(vec![
            v.name.clone(),
            v.id.clone(),
            v.concepts.len().to_string(),
            v.version.clone().unwrap_or_else(|| "-".into()),
            v.format.label().to_string(),
            v.source.clone(),
        ]);
    }
    writeln!(out, "{t}").ok();
    writeln!(
        out,
        "{} jeux de valeurs, {} codes, chargés en {load_ms:.0} ms.",
        store.value_sets().len(),
        store.concept_count()
    )
    .ok();
    for (id, old, new) in &store.replaced {
        writeln!(out, "  {id} : {old} remplacé par {new}").ok();
    }
    match &store.circuit {
        Some(c) => {
            writeln!(
                out,
                "\nCircuit de la biologie : {}{} — {} codes : {} Order, {} Both, {} Observation, {} chapitres ; colonnes lues : {}.",
                c.source,
                c.version.as_deref().map(|v| format!(" (version {v})")).unwrap_or_default(),
                c.entries.len(),
                c.count(Kind::Order),
                c.count(Kind::Both),
                c.count(Kind::Observation),
                c.count(Kind::Chapitre) + c.count(Kind::SousChapitre),
                c.columns.join(", ")
            )
            .ok();
            if c.count(Kind::Inconnu) > 0 {
                writeln!(
                    out,
                    "  {} codes sans type connu : leur rôle n'est pas vérifié.",
                    c.count(Kind::Inconnu)
                )
                .ok();
            }
            for i in &c.issues {
                writeln!(out, "  {i}").ok();
            }
        }
        None => {
            writeln!(
                out,
                "\nCircuit de la biologie : non fourni (--circuit-bio FICHIER.xlsx|.csv)."
            )
            .ok();
        }
    }
    for i in &store.issues {
        writeln!(out, "Illisible : {} — {}", i.source, i.message).ok();
    }
    out
}

pub fn json(store: &Store) -> String {
    let sets: Vec<_> = store
        .value_sets()
        .iter()
        .map(|v| {
            json!({"id": v.id, "name": v.name, "version": v.version, "format": v.format,
                   "source": v.source, "codes": v.concepts.len()})
        })
        .collect();
    let circuit = store.circuit.as_ref().map(|c: &Circuit| {
        json!({"source": c.source, "version": c.version, "codes": c.entries.len(),
               "order": c.count(Kind::Order), "both": c.count(Kind::Both),
               "observation": c.count(Kind::Observation),
               "chapters": c.count(Kind::Chapitre) + c.count(Kind::SousChapitre),
               "unknown_type": c.count(Kind::Inconnu),
               "columns": c.columns, "issues": c.issues})
    });
    serde_json::to_string_pretty(&json!({
        "value_sets": sets,
        "concepts": store.concept_count(),
        "circuit_bio": circuit,
        "replaced": store.replaced.iter().map(|(id, old, new)| json!({"id": id, "replaced": old, "by": new})).collect::<Vec<_>>(),
        "issues": store.issues,
    }))
    .unwrap_or_default()
}

#[derive(Serialize)]
pub struct InSet {
    pub value_set: String,
    pub id: String,
    pub system: String,
    pub display: String,
    pub source: String,
}

#[derive(Serialize)]
pub struct Lookup {
    pub code: String,
    /// `null` when the code is not LOINC-shaped, else `ok` or the reason.
    pub loinc: Option<String>,
    pub value_sets: Vec<InSet>,
    pub circuit_bio: Option<CircuitEntry>,
    /// For a LOINC code absent from the circuit-bio file: nothing can be suggested without its
    /// label, so this stays empty; for a present one, the other retained codes of its analyte.
    pub same_analyte: Vec<CircuitEntry>,
}

impl Lookup {
    pub fn known(&self) -> bool {
        !self.value_sets.is_empty() || self.circuit_bio.is_some()
    }
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
    pub fn text(&self) -> String {
        let mut out = String::new();
        writeln!(out, "Code {}", self.code).ok();
        if let Some(l) = &self.loinc {
            writeln!(out, "  Forme LOINC : {l}").ok();
        }
        match &self.circuit_bio {
            Some(e) => {
                writeln!(
                    out,
                    "  Circuit de la biologie : {} « {} »",
                    e.kind.label(),
                    e.label
                )
                .ok();
                if let Some(p) = &e.print_label {
                    writeln!(out, "    libellé d'édition : {p}").ok();
                }
                if let Some(c) = &e.chapter {
                    writeln!(
                        out,
                        "    chapitre : {c}{}",
                        e.sub_chapter
                            .as_deref()
                            .map(|s| format!(", sous-chapitre {s}"))
                            .unwrap_or_default()
                    )
                    .ok();
                }
                if let Some(u) = &e.unit {
                    writeln!(out, "    unité recommandée : {u}").ok();
                }
                if let Some(n) = e.comparability {
                    let why = if n == 1 {
                        "le code LOINC suffit à comparer"
                    } else {
                        "la technique doit être prise en compte"
                    };
                    writeln!(out, "    niveau de comparabilité : {n} ({why})").ok();
                }
                if let Some(t) = e.discriminating_technique {
                    writeln!(
                        out,
                        "    technique discriminante : {}",
                        if t { "oui" } else { "non" }
                    )
                    .ok();
                }
                writeln!(out, "    rôle : {}", role(e.kind)).ok();
                writeln!(
                    out,
                    "    source : {}ligne {}",
                    e.sheet
                        .as_deref()
                        .map(|s| format!("feuille « {s} », "))
                        .unwrap_or_default(),
                    e.row
                )
                .ok();
                for o in &self.same_analyte {
                    writeln!(
                        out,
                        "    même analyte : {} « {} »{}",
                        o.code,
                        o.label,
                        o.unit
                            .as_deref()
                            .map(|u| format!(" en {u}"))
                            .unwrap_or_default()
                    )
                    .ok();
                }
            }
            None => {
                writeln!(
                    out,
                    "  Circuit de la biologie : absent (ou fichier non fourni)"
                )
                .ok();
            }
        }
        if self.value_sets.is_empty() {
            writeln!(
                out,
                "  Jeux de valeurs : aucun des jeux chargés ne le contient"
            )
            .ok();
        }
        for v in &self.value_sets {
            writeln!(
                out,
                "  Jeu de valeurs {} ({}) : système {}, « {} » — {}",
                v.value_set, v.id, v.system, v.display, v.source
            )
            .ok();
        }
        out
    }
}

fn role(k: Kind) -> &'static str {
    match k {
        Kind::Order => "demande seulement (acte ou batterie), jamais un résultat",
        Kind::Both => "demande ou résultat",
        Kind::Observation => "résultat seulement",
        Kind::Chapitre | Kind::SousChapitre => "chapitre : code de section et d'acte",
        Kind::Inconnu => "non précisé par le fichier",
    }
}

pub fn lookup(store: &Store, code: &str, system: Option<&str>) -> Lookup {
    let code = code.trim();
    let loinc = code.contains('-').then(|| match loinc::check(code) {
        Ok(()) => "ok".to_string(),
        Err(loinc::LoincError::Syntax(s)) => s,
        Err(loinc::LoincError::CheckDigit(f, e)) => {
            format!("chiffre de contrôle {f} faux, attendu {e}")
        }
    });
    let value_sets = store
        .lookup(code)
        .into_iter()
        .filter(|(c, _)| system.is_none_or(|s| c.system == s))
        .map(|(c, v)| InSet {
            value_set: v.name.clone(),
            id: v.id.clone(),
            system: c.system.clone(),
            display: c.display.clone(),
            source: v.source.clone(),
        })
        .collect();
    let entry = store.circuit.as_ref().and_then(|c| c.get(code)).cloned();
    let same_analyte = match (&entry, &store.circuit) {
        (Some(e), Some(c)) => c
            .suggestions(&e.label)
            .into_iter()
            .filter(|o| o.code != e.code)
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    Lookup {
        code: code.to_string(),
        loinc,
        value_sets,
        circuit_bio: entry,
        same_analyte,
    }
}
