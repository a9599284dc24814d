//! The terminal scoreboard of a run (`banc run`'s standard output).

use super::*;

// ---------------------------------------------------------------------------------------------
// Terminal

/// The scoreboard as a terminal table, then one line per required scenario that did not pass,
/// then the overall verdict.
pub fn table(r: &RunResults, width: u16) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "Suite {} — {}{}",
        visible(&r.suite.id),
        visible(&r.suite.title),
        r.suite
            .version
            .as_deref()
            .map(|v| format!(" (version {})", visible(v)))
            .unwrap_or_default()
    )
    .ok();
    if r.interrupted {
        writeln!(out, "Exécution interrompue : résultats partiels.").ok();
    }
    let rows = rows(r);
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_header(vec![
            "Participant",
            "Rôle",
            "Système",
            "Verdict",
            "Oblig. réussis",
            "Oblig. échoués",
            "Option. réussis",
            "En attente (scén. · étapes)",
            "Non joués",
            "Erreurs",
        ]);
    for row in &rows {
        let s = &row.score;
        let mut system = visible(&row.p.system).into_owned();
        if row.p.simulated.is_some() {
            system.push_str(" (simulé)");
        }
        let v = row.verdict();
        t.add_row(vec![
            format!("{}\n{}", visible(&row.p.id), visible(&row.p.organisation)),
            role_fr(row.role).to_string(),
            system,
            format!("{} {}", icon(v), v.label_fr()),
            ratio(s.required_passed, s.required),
            s.required_failed.to_string(),
            ratio(s.optional_passed, s.optional),
            row.pending_text(),
            s.skipped.to_string(),
            s.errors.to_string(),
        ]);
    }
    writeln!(out, "{t}").ok();
    for row in &rows {
        for sc in row
            .scenarios
            .iter()
            .filter(|s| s.required && s.status != Status::Passed)
        {
            let label = match sc.status {
                Status::Failed => String::new(),
                s => format!(" ({})", s.label_fr()),
            };
            writeln!(
                out,
                "{} {} {}{label} : {}",
                icon(sc.status),
                visible(&row.p.id),
                visible(&sc.id),
                visible(sc.reason.as_deref().unwrap_or(sc.status.label_fr()))
            )
            .ok();
        }
    }
    writeln!(out, "{}", overall_text(&r.summary)).ok();
    out
}
