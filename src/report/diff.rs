//! `banc diff OLD NEW`: what changed between two runs' findings (two JSON reports, or
//! baselines) — new, fixed and persisting findings per document and per rule. The same
//! documents judged twice (before and after a change), or judged with two kits (what a kit
//! update changes for a vendor). Findings are matched as the baseline matches them
//! (`gate::matching`).

use crate::finding::Severity;
use crate::finding::report::KitStamp;
use crate::gate::{Entry, Key, matching};
use maud::{DOCTYPE, Markup, html};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Version of the JSON output of `banc diff`.
pub const DIFF_SCHEMA: &str = "banc.diff/1";

/// One side of the comparison.
#[derive(Debug, Serialize)]
pub struct Side {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kit: Option<String>,
    pub findings: usize,
}

#[derive(Debug, Default, Serialize)]
pub struct DocumentDiff {
    pub path: String,
    pub new: Vec<Entry>,
    pub fixed: Vec<Entry>,
    pub persisting: Vec<Entry>,
}

#[derive(Debug, Default, Serialize)]
pub struct RuleDiff {
    pub rule: String,
    pub new: usize,
    pub fixed: usize,
    pub persisting: usize,
}

#[derive(Debug, Default, Serialize)]
pub struct Totals {
    pub new: usize,
    pub fixed: usize,
    pub persisting: usize,
    /// New findings of severity error that no waiver covers: they fail `banc diff`.
    pub new_errors: usize,
}

#[derive(Debug, Serialize)]
pub struct RunDiff {
    pub schema: &'static str,
    pub old: Side,
    pub new: Side,
    pub totals: Totals,
    /// Documents with a change or a persisting finding, by path.
    pub documents: Vec<DocumentDiff>,
    pub rules: Vec<RuleDiff>,
}

fn kit_text(k: Option<KitStamp>) -> Option<String> {
    k.map(|k| format!("{} ({})", k.path, k.fingerprint))
}

/// Compare `old` and `new` (as [`crate::gate::read_findings`] reads them).
pub fn compute(
    (old_file, old, old_kit): (String, Vec<Entry>, Option<KitStamp>),
    (new_file, new, new_kit): (String, Vec<Entry>, Option<KitStamp>),
) -> RunDiff {
    let matched = {
        let ok: Vec<Key<'_>> = old.iter().map(Entry::key).collect();
        let nk: Vec<Key<'_>> = new.iter().map(Entry::key).collect();
        matching(&ok, &nk)
    };
    let mut seen_old = vec![false; old.len()];
    let mut docs: BTreeMap<String, DocumentDiff> = BTreeMap::new();
    let mut rules: BTreeMap<String, RuleDiff> = BTreeMap::new();
    let mut totals = Totals::default();
    let (old_count, new_count) = (old.len(), new.len());
    for (e, m) in new.into_iter().zip(&matched) {
        let r = rules.entry(e.rule.clone()).or_insert_with(|| RuleDiff {
            rule: e.rule.clone(),
            ..RuleDiff::default()
        });
        let d = document(&mut docs, &e.path);
        match m {
            Some(i) => {
                seen_old[*i] = true;
                r.persisting += 1;
                totals.persisting += 1;
                d.persisting.push(e);
            }
            None => {
                r.new += 1;
                totals.new += 1;
                if e.severity == Severity::Error && e.waived.is_none() {
                    totals.new_errors += 1;
                }
                d.new.push(e);
            }
        }
    }
    for (e, seen) in old.into_iter().zip(seen_old) {
        if seen {
            continue;
        }
        rules
            .entry(e.rule.clone())
            .or_insert_with(|| RuleDiff {
                rule: e.rule.clone(),
                ..RuleDiff::default()
            })
            .fixed += 1;
        totals.fixed += 1;
        document(&mut docs, &e.path).fixed.push(e);
    }
    RunDiff {
        schema: DIFF_SCHEMA,
        old: Side {
            file: old_file,
            kit: kit_text(old_kit),
            findings: old_count,
        },
        new: Side {
            file: new_file,
            kit: kit_text(new_kit),
            findings: new_count,
        },
        totals,
        documents: docs.into_values().collect(),
        rules: rules.into_values().collect(),
    }
}

fn document<'a>(docs: &'a mut BTreeMap<String, DocumentDiff>, path: &str) -> &'a mut DocumentDiff {
    docs.entry(path.to_string())
        .or_insert_with(|| DocumentDiff {
            path: path.to_string(),
            ..DocumentDiff::default()
        })
}

impl RunDiff {
    /// 1 when a new error appeared, else 0.
    pub fn exit_status(&self) -> u8 {
        u8::from(self.totals.new_errors > 0)
    }
}

fn line(e: &Entry) -> String {
    let at = match (e.line, &e.xpath) {
        (Some(l), Some(x)) => format!("l. {l} {x}"),
        (Some(l), None) => format!("l. {l}"),
        (None, Some(x)) => x.clone(),
        (None, None) => String::new(),
    };
    let waived = if e.waived.is_some() {
        " [dérogé]"
    } else {
        ""
    };
    format!("{} {} {at}{waived} — {}", e.severity, e.rule, e.message)
}

pub fn render_table(d: &RunDiff) -> String {
    let mut out = String::new();
    let side = |s: &Side| {
        format!(
            "{} ({} constat(s){})",
            s.file,
            s.findings,
            s.kit
                .as_deref()
                .map(|k| format!(", kit {k}"))
                .unwrap_or_default()
        )
    };
    writeln!(out, "avant : {}", side(&d.old)).ok();
    writeln!(out, "après : {}", side(&d.new)).ok();
    for doc in &d.documents {
        if doc.new.is_empty() && doc.fixed.is_empty() {
            continue;
        }
        writeln!(
            out,
            "\n{}  +{} nouveau(x), -{} corrigé(s), {} persistant(s)",
            doc.path,
            doc.new.len(),
            doc.fixed.len(),
            doc.persisting.len()
        )
        .ok();
        for e in &doc.new {
            writeln!(out, "  + {}", line(e)).ok();
        }
        for e in &doc.fixed {
            writeln!(out, "  - {}", line(e)).ok();
        }
    }
    let changed: Vec<&RuleDiff> = d
        .rules
        .iter()
        .filter(|r| r.new > 0 || r.fixed > 0)
        .collect();
    if !changed.is_empty() {
        writeln!(out, "\nPar règle :").ok();
        for r in changed {
            writeln!(
                out,
                "  {:<50} +{} -{} ={}",
                r.rule, r.new, r.fixed, r.persisting
            )
            .ok();
        }
    }
    let t = &d.totals;
    writeln!(
        out,
        "\nRésumé : {} nouveau(x) dont {} erreur(s), {} corrigé(s), {} persistant(s)",
        t.new, t.new_errors, t.fixed, t.persisting
    )
    .ok();
    out
}

pub fn render_json(d: &RunDiff) -> String {
    serde_json::to_string_pretty(d).unwrap_or_default() + "\n"
}

fn entries(title: &str, class: &str, list: &[Entry]) -> Markup {
    html! {
        @if !list.is_empty() {
            h3 { (title) " (" (list.len()) ")" }
            ul class=(class) {
                @for e in list { li { code { (super::html::visible(&e.rule)) } " " (super::html::visible(&line(e))) } }
            }
        }
    }
}

/// A self-contained page (no script, no network asset).
pub fn render_html(d: &RunDiff) -> String {
    let t = &d.totals;
    html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                title { "banc — comparaison de deux exécutions" }
                style { "body{font-family:sans-serif;margin:2em}.new li{color:#a00}.fixed li{color:#070}td,th{padding:.2em .6em;text-align:left}" }
            }
            body {
                h1 { "banc — comparaison de deux exécutions" }
                p { "avant : " code { (super::html::visible(&d.old.file)) } @if let Some(k) = &d.old.kit { " — kit " (super::html::visible(k)) } }
                p { "après : " code { (super::html::visible(&d.new.file)) } @if let Some(k) = &d.new.kit { " — kit " (super::html::visible(k)) } }
                p { (t.new) " nouveau(x) dont " (t.new_errors) " erreur(s), " (t.fixed) " corrigé(s), " (t.persisting) " persistant(s)" }
                h2 { "Par règle" }
                table {
                    tr { th { "règle" } th { "nouveaux" } th { "corrigés" } th { "persistants" } }
                    @for r in &d.rules {
                        tr { td { code { (super::html::visible(&r.rule)) } } td { (r.new) } td { (r.fixed) } td { (r.persisting) } }
                    }
                }
                h2 { "Par document" }
                @for doc in &d.documents {
                    section {
                        h2 { code { (super::html::visible(&doc.path)) } }
                        (entries("Nouveaux", "new", &doc.new))
                        (entries("Corrigés", "fixed", &doc.fixed))
                        (entries("Persistants", "persisting", &doc.persisting))
                    }
                }
            }
        }
    }
    .into_string()
}
