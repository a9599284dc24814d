//! The default terminal output: one line per document, a table of its findings, a summary.

use super::RunReport;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use std::fmt::Write;

pub fn render(report: &RunReport, width: u16) -> String {
    let mut out = String::new();
    match &report.kit {
        Some(k) => match &k.source {
            Some(src) => writeln!(
                out,
                "banc {} — kit {} ({}) ; installé : ref {}, archive sha256:{}",
                report.banc, k.path, k.fingerprint, src.reference, src.archive_sha256
            ),
            None => writeln!(out, "banc {} — kit {} ({})", report.banc, k.path, k.fingerprint),
        },
        None => writeln!(out, "banc {} — sans kit : règles intégrées de banc seulement (--kit DIR pour le schéma CDA)", report.banc),
    }
    .ok();
    if let Some(t) = &report.terminology {
        let circuit = match &t.circuit_bio {
            Some(c) => format!(
                "{}{} ({} codes)",
                c.source,
                c.version
                    .as_deref()
                    .map(|v| format!(" version {v}"))
                    .unwrap_or_default(),
                c.codes
            ),
            None => "non fourni (--circuit-bio)".into(),
        };
        writeln!(
            out,
            "Terminologies : {} jeux de valeurs, {} codes ; circuit de la biologie : {circuit}",
            t.value_sets, t.concepts
        )
        .ok();
        for i in &t.issues {
            writeln!(out, "  terminologie : {} — {}", i.source, i.message).ok();
        }
    }
    for doc in &report.documents {
        let errors = doc
            .findings
            .iter()
            .filter(|f| f.severity == crate::finding::Severity::Error)
            .count();
        let warnings = doc
            .findings
            .iter()
            .filter(|f| f.severity == crate::finding::Severity::Warning)
            .count();
        writeln!(
            out,
            "\n{:<5} {}  [{}]  {} erreur(s), {} avertissement(s), {:.0} ms",
            doc.verdict.as_str().to_uppercase(),
            doc.path,
            doc.profile.as_deref().unwrap_or("-"),
            errors,
            warnings,
            doc.duration_ms
        )
        .ok();
        if doc.findings.is_empty() {
            continue;
        }
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(width)
            .set_header(vec!["Sévérité", "Règle", "Emplacement", "Message"]);
        for f in &doc.findings {
            let mut loc = f.location.position_text();
            if let Some(x) = &f.location.xpath {
                if !loc.is_empty() {
                    loc.push('\n');
                }
                loc.push_str(x);
            }
            let mut sev = f.severity.as_str().to_string();
            for m in f.marks_fr() {
                sev.push('\n');
                sev.push_str(&m);
            }
            t.add_row(vec![
                sev.as_str(),
                f.rule.as_str(),
                &loc,
                f.message.as_str(),
            ]);
        }
        writeln!(out, "{t}").ok();
    }
    if let Some(k) = &report.kit
        && !k.issues.is_empty()
    {
        writeln!(out, "\nDéfauts du kit rencontrés ({}) :", k.issues.len()).ok();
        for i in &k.issues {
            let at = match i.line {
                Some(l) => format!("{}:{l}", i.file),
                None => i.file.clone(),
            };
            writeln!(out, "  {} {} {at} — {}", i.severity, i.rule, i.message).ok();
        }
    }
    if let Some(g) = &report.gate {
        writeln!(out, "\nPorte CI : {}", gate_text(g)).ok();
    }
    let s = &report.summary;
    writeln!(
        out,
        "\nRésumé : {} document(s) — {} pass, {} fail, {} error (échec à partir de : {})",
        s.documents, s.pass, s.fail, s.error, report.fail_on
    )
    .ok();
    out
}

/// One line on the gate of a run: project file, baseline counts, waivers.
pub fn gate_text(g: &super::GateStamp) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &g.config {
        parts.push(format!("projet {c}"));
    }
    if let Some(b) = &g.baseline {
        parts.push(format!(
            "référence {b} : {} nouveau(x), {} connu(s), {} corrigé(s)",
            g.new, g.known, g.fixed
        ));
    }
    parts.push(format!("{} constat(s) dérogé(s)", g.waived));
    if g.fail_on_new {
        parts.push("seuls les nouveaux constats font échouer (--fail-on-new)".into());
    }
    parts.join(" ; ")
}
