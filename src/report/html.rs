//! `--html FILE`: one self-contained page (no network assets).

use super::RunReport;
use maud::{DOCTYPE, html};

pub fn render(report: &RunReport) -> String {
    html! {
        (DOCTYPE)
        html lang="fr" {
            head { meta charset="utf-8"; title { "banc — rapport de validation" } }
            body {
                h1 { "banc — rapport de validation" }
                @for d in &report.documents {
                    h2 { (d.path) " — " (d.verdict.as_str()) }
                    ul { @for f in &d.findings { li { (f.rule) " : " (f.message) } } }
                }
            }
        }
    }
    .into_string()
}
