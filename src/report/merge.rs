//! `banc merge`: the reports of several runs (JSON or JSON Lines, e.g. the shards of one batch
//! run on several machines) read back into one run, rendered by the usual writers.

use super::{DocumentReport, KitStamp, RunReport, Summary};
use crate::finding::Severity;
use serde::Deserialize;
use std::path::Path;

/// The run line of JSON Lines: the run without its documents.
#[derive(Deserialize)]
struct RunLine {
    banc: String,
    schema: String,
    kit: Option<KitStamp>,
    terminology: Option<super::TerminologyStamp>,
    fail_on: Severity,
    #[allow(dead_code)]
    summary: Summary,
}

/// What one report file held.
struct Part {
    run: Option<RunLine>,
    documents: Vec<DocumentReport>,
}

/// Read a report written by `--format json` or `--format jsonl` (one value after the other,
/// whatever the line breaks).
fn read(path: &Path) -> Result<Part, String> {
    let fail = |e: String| format!("{} : {e}", path.display());
    let file = crate::files::open(path).map_err(|e| fail(e.reason.to_string()))?;
    let reader = std::io::BufReader::new(file);
    let mut part = Part {
        run: None,
        documents: Vec::new(),
    };
    for (n, value) in serde_json::Deserializer::from_reader(reader)
        .into_iter::<serde_json::Value>()
        .enumerate()
    {
        let value = value.map_err(|e| fail(format!("JSON illisible : {e}")))?;
        let at = |e: serde_json::Error| fail(format!("valeur {} : {e}", n + 1));
        if part.run.is_some() {
            return Err(fail(format!(
                "valeur {} après le résumé du lot : un rapport banc se termine par lui",
                n + 1
            )));
        }
        if value.get("documents").is_some() {
            let mut run: RunReport = serde_json::from_value(value).map_err(at)?;
            part.documents.append(&mut run.documents);
            part.run = Some(RunLine {
                banc: run.banc,
                schema: run.schema,
                kit: run.kit,
                terminology: run.terminology,
                fail_on: run.fail_on,
                summary: run.summary,
            });
        } else if value.get("summary").is_some() {
            part.run = Some(serde_json::from_value(value).map_err(at)?);
        } else {
            part.documents
                .push(serde_json::from_value(value).map_err(at)?);
        }
    }
    if part.run.is_none() {
        return Err(fail(
            "pas de résumé du lot (dernière ligne) : rapport incomplet, le lot s'est-il terminé ?"
                .into(),
        ));
    }
    Ok(part)
}

/// One run out of the reports at `paths`: every document (ordered by path), the summary counted
/// again, the kit issues of all. The runs must have judged with the same kit, `--fail-on` and
/// JSON contract, else merging them would mix verdicts of different meanings.
pub fn merge(paths: &[impl AsRef<Path>]) -> Result<RunReport, String> {
    let mut first: Option<(String, RunLine)> = None;
    let mut documents = Vec::new();
    let mut issues = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let mut part = read(path)?;
        documents.append(&mut part.documents);
        let Some(mut run) = part.run else { continue };
        if let Some(kit) = &mut run.kit {
            issues.append(&mut kit.issues);
        }
        let name = path.display().to_string();
        match &first {
            None => first = Some((name, run)),
            Some((first_name, f)) => {
                let kit = |r: &RunLine| r.kit.as_ref().map(|k| k.fingerprint.clone());
                let differs = if f.schema != run.schema {
                    Some(format!("contrat {} / {}", f.schema, run.schema))
                } else if kit(f) != kit(&run) {
                    Some(format!(
                        "kit {} / {}",
                        kit(f).unwrap_or_else(|| "aucun".into()),
                        kit(&run).unwrap_or_else(|| "aucun".into())
                    ))
                } else if f.fail_on != run.fail_on {
                    Some(format!("--fail-on {} / {}", f.fail_on, run.fail_on))
                } else {
                    None
                };
                if let Some(what) = differs {
                    return Err(format!(
                        "{first_name} et {name} ne viennent pas du même lot ({what}) : rapports non fusionnables"
                    ));
                }
            }
        }
    }
    let Some((_, run)) = first else {
        return Err("aucun rapport à fusionner".into());
    };
    documents.sort_by(|a, b| a.path.cmp(&b.path));
    let kit = run.kit.map(|mut k| {
        issues.sort_by(|a, b| {
            (&a.file, a.line, &a.rule, &a.message).cmp(&(&b.file, b.line, &b.rule, &b.message))
        });
        issues.dedup_by(|a, b| {
            (&a.file, a.line, &a.rule, &a.message) == (&b.file, b.line, &b.rule, &b.message)
        });
        k.issues = issues;
        k
    });
    let mut merged = RunReport::new(kit, run.fail_on, documents);
    merged.banc = run.banc;
    merged.terminology = run.terminology;
    Ok(merged)
}
