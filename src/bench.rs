//! `banc bench`: the figures issue 3 asks for, measured in-process on the machine at hand.
//! Compile time per schematron, time per document for the full CR-BIO profile (XSD + all
//! schematrons) with its mean per stage (`clock::stages`: reading, XSD, each schematron, banc
//! rules, terminology, report), and throughput over a batch of the kit's CR-BIO examples, with resident memory
//! sampled along the batch to show it stays flat; then the terminology store's load time and
//! look-up cost (issue 4).

use crate::kit::Kit;
use crate::pipeline::{Options, Validator};
use crate::profile;
use crate::schematron::engine::{Engine, Settings};
use crate::schematron::eval;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct BenchOptions {
    /// Documents in the batch (the examples repeated).
    pub batch: usize,
    /// Repetitions of the single-document measure (median reported).
    pub repeat: usize,
    pub jobs: usize,
    /// A circuit-bio file to time too.
    pub circuit_bio: Option<PathBuf>,
}

/// Resident set size of this process, in MiB (Linux `/proc`; None elsewhere).
pub fn rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The kit's CR-BIO 2024.01 examples, and the one closest to 135 KB (the issue's reference size).
fn examples(kit: &Path) -> Result<(Vec<PathBuf>, PathBuf), String> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(kit.join("ExemplesCDA"))
        .map_err(|e| format!("ExemplesCDA : {e}"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("BIO-CR-BIO_2024.01"))
        })
        .collect();
    v.sort();
    let typical = v
        .iter()
        .min_by_key(|p| {
            let len = p.metadata().map(|m| m.len()).unwrap_or(0) as i64;
            (len - 135_000).abs()
        })
        .cloned()
        .ok_or("aucun exemple BIO-CR-BIO_2024.01 dans ExemplesCDA")?;
    Ok((v, typical))
}

/// Run the benchmark and return its report as text.
pub fn run(kit_dir: &Path, o: &BenchOptions) -> Result<String, String> {
    let mut out = String::new();
    let kit = Kit::open(kit_dir).map_err(|e| e.to_string())?;
    let p = profile::by_id("cr-bio-2024.01").ok_or("profil cr-bio-2024.01")?;
    out.push_str(&format!(
        "banc bench — kit {} ({})\nmachine : {} cœurs logiques\n\n",
        kit.root.display(),
        kit.fingerprint,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    ));

    // 1. Compile each schematron of the profile (load + includes + translation + XPath compile).
    out.push_str(
        "1. Compilation des schématrons du profil cr-bio-2024.01 (une fois par processus)\n",
    );
    let engine = Engine::new(&kit.root, Settings::default());
    let mut total = 0.0;
    for f in engine.files_for(&p) {
        let t = Instant::now();
        let plan = engine.plan(&f).map_err(|e| e.message)?;
        eval::warm(&plan);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        total += ms;
        out.push_str(&format!(
            "   {:<72} {:>8.1} ms  ({} règles, {} assertions)\n",
            plan.file,
            ms,
            plan.rule_count(),
            plan.check_count()
        ));
    }
    out.push_str(&format!(
        "   {:<72} {:>8.1} ms  (référence Saxon : ~10 s)\n\n",
        "total", total
    ));

    // 2. One typical document through the whole pipeline, on one thread.
    let (docs, typical) = examples(&kit.root)?;
    let validator = Validator::new(Some(kit.clone()), Options::default()).map_err(|e| e.0)?;
    let bytes = crate::files::read_bounded(&typical, crate::files::MAX_DOCUMENT)?;
    let name = typical.display().to_string();
    let first = validator.validate_bytes(&name, &bytes); // compiles the plans on this thread
    let mut times = Vec::new();
    let mut per_stage: Vec<(String, f64)> = Vec::new();
    for _ in 0..o.repeat.max(1) {
        let t = Instant::now();
        let (r, stages) = crate::clock::stages::stages(|| validator.validate_bytes(&name, &bytes));
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        for (stage, spent) in stages {
            let ms = spent.as_secs_f64() * 1000.0;
            match per_stage.iter_mut().find(|(s, _)| *s == stage) {
                Some((_, total)) => *total += ms,
                None => per_stage.push((stage, ms)),
            }
        }
        if r.findings.len() != first.findings.len() {
            return Err(format!(
                "{name} : résultats différents d'un passage à l'autre"
            ));
        }
    }
    out.push_str(&format!(
        "2. Un document ({}, {} Ko) : XSD + {} schématrons + règles banc\n   médiane {:.1} ms, min {:.1} ms sur {} passages (verdict {}) — référence : 430 ms/document en lot\n   par étape (moyenne) :\n",
        typical.file_name().unwrap_or_default().to_string_lossy(),
        bytes.len() / 1000,
        p.schematrons.len(),
        median(times.clone()),
        times.iter().cloned().fold(f64::INFINITY, f64::min),
        times.len(),
        first.verdict
    ));
    // Mean per stage; the rest of the wall time is the pipeline's own glue.
    let n = times.len() as f64;
    let staged: f64 = per_stage.iter().map(|(_, ms)| ms / n).sum();
    for (stage, total) in &per_stage {
        out.push_str(&format!("   {:<72} {:>8.2} ms\n", stage, total / n));
    }
    out.push_str(&format!(
        "   {:<72} {:>8.2} ms\n\n",
        "total des étapes (moyenne)", staged
    ));

    // 3. Batch: the examples repeated, in parallel; memory sampled per tenth of the batch.
    let inputs: Vec<(String, Vec<u8>)> = docs
        .iter()
        .map(|d| {
            (
                d.display().to_string(),
                crate::files::read_bounded(d, crate::files::MAX_DOCUMENT).unwrap_or_default(),
            )
        })
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(o.jobs.max(1))
        .build()
        .map_err(|e| e.to_string())?;
    let chunks = 10;
    let per = o.batch.div_ceil(chunks);
    let mut rss = vec![rss_mib().unwrap_or(0.0)];
    let t = Instant::now();
    let mut done = 0;
    let mut failed = 0;
    for c in 0..chunks {
        let n = per.min(o.batch - done);
        if n == 0 {
            break;
        }
        let verdicts: Vec<_> = pool.install(|| {
            (0..n)
                .into_par_iter()
                .map(|i| {
                    let (name, bytes) = &inputs[(c * per + i) % inputs.len()];
                    validator.validate_bytes(name, bytes).verdict
                })
                .collect()
        });
        failed += verdicts
            .iter()
            .filter(|v| **v != crate::finding::Verdict::Pass)
            .count();
        done += n;
        rss.push(rss_mib().unwrap_or(0.0));
    }
    let secs = t.elapsed().as_secs_f64();
    out.push_str(&format!(
        "3. Lot de {done} documents ({} exemples CR-BIO 2024.01 répétés), {} fils : {:.2} s, {:.1} documents/s ({} non « pass ») — référence : 2,3 documents/s\n   mémoire résidente (Mio) au départ puis après chaque dixième : {}\n",
        inputs.len(),
        o.jobs,
        secs,
        done as f64 / secs,
        failed,
        rss.iter()
            .map(|m| format!("{m:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    out.push('\n');
    out.push_str(&terminology(&kit.root, o)?);
    Ok(out)
}

/// 4. The terminology store: loading the kit's value sets, and the cost of a look-up.
fn terminology(kit: &Path, o: &BenchOptions) -> Result<String, String> {
    use crate::terminology::{Sources, Store};
    let mut out = String::new();
    let files = std::fs::read_dir(kit.join("jeuxDeValeurs"))
        .map(|d| d.filter_map(Result::ok).count())
        .unwrap_or(0);
    let sources = Sources {
        kit: Some(kit.to_path_buf()),
        ..Default::default()
    };
    let mut times = Vec::new();
    let mut store = Store::default();
    for _ in 0..5 {
        let t = Instant::now();
        store = Store::load(&sources)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.push_str(&format!(
        "4. Terminologies : chargement de jeuxDeValeurs/ ({files} fichiers → {} jeux de valeurs, {} codes, {} fichiers illisibles) : premier {:.0} ms, médiane {:.0} ms sur 5 — objectif : moins de 1 s\n",
        store.value_sets().len(),
        store.concept_count(),
        store.issues.len(),
        times[0],
        median(times.clone())
    ));
    // O(1): the same cost per look-up in the largest and in a small value set.
    let mut sets: Vec<_> = store
        .value_sets()
        .iter()
        .filter(|v| !v.concepts.is_empty())
        .collect();
    sets.sort_by_key(|v| v.concepts.len());
    if let (Some(small), Some(large)) = (sets.first(), sets.last()) {
        let per = |v: &crate::terminology::ValueSet| {
            let n = 1_000_000usize;
            let t = Instant::now();
            let mut hits = 0usize;
            for i in 0..n {
                let c = &v.concepts[i % v.concepts.len()];
                hits += v.get(&c.system, &c.code).is_some() as usize;
            }
            (t.elapsed().as_secs_f64() * 1e9 / n as f64, hits == n)
        };
        let (ns_small, ok_small) = per(small);
        let (ns_large, ok_large) = per(large);
        let all: Vec<(&str, &str)> = store
            .value_sets()
            .iter()
            .flat_map(|v| {
                v.concepts
                    .iter()
                    .map(|c| (c.system.as_str(), c.code.as_str()))
            })
            .collect();
        let n = 1_000_000usize;
        let t = Instant::now();
        let mut found = 0usize;
        for i in 0..n {
            let (s, c) = all[(i * 7919) % all.len()];
            found += !store.containing(s, c).is_empty() as usize;
        }
        let ns_store = t.elapsed().as_secs_f64() * 1e9 / n as f64;
        out.push_str(&format!(
            "   recherche d'un code : {ns_small:.0} ns dans {} ({} codes), {ns_large:.0} ns dans {} ({} codes) ; tous jeux confondus {ns_store:.0} ns ({} trouvés sur {n}){}\n",
            small.name,
            small.concepts.len(),
            large.name,
            large.concepts.len(),
            found,
            if ok_small && ok_large { "" } else { " — ÉCHEC : codes non retrouvés" }
        ));
    }
    if let Some(path) = &o.circuit_bio {
        let mut times = Vec::new();
        let mut codes = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let c = crate::terminology::circuit::read(path)?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            codes = c.entries.len();
        }
        out.push_str(&format!(
            "   circuit de la biologie {} ({codes} codes) : médiane {:.1} ms sur 5\n",
            path.display(),
            median(times)
        ));
    }
    Ok(out)
}

/// A CR-BIO grown to `n` result entries: the first result `entry` of `doc` (the one carrying the
/// FR-Resultats-examens-de-biologie-medicale templateId `1.3.6.1.4.1.19376.1.3.1`) repeated in
/// place, byte for byte. Measures how the engines' cost grows with the size of a document whose
/// every part is meaningful (a hostile lab can send it; it compresses under any bomb ratio).
pub fn repeat_entries(doc: &str, n: usize) -> Result<String, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(doc);
    // Each open element: (start offset, is an `entry`, carries the result templateId).
    let mut open: Vec<(usize, bool, bool)> = Vec::new();
    loop {
        let before = reader.buffer_position() as usize;
        let ev = reader.read_event().map_err(|e| e.to_string())?;
        match ev {
            Event::Start(s) => open.push((before, s.local_name().as_ref() == "entry", false)),
            Event::Empty(s) if s.local_name().as_ref() == "templateId" => {
                let result = s.attributes().flatten().any(|a| {
                    a.key.local_name().as_ref() == "root"
                        && a.value.as_ref() == "1.3.6.1.4.1.19376.1.3.1"
                });
                if result && let Some(top) = open.last_mut() {
                    top.2 = true;
                }
            }
            Event::End(_) => {
                let end = reader.buffer_position() as usize;
                if let Some((start, true, true)) = open.pop() {
                    // quick-xml positions are of `<` and `>`: char boundaries.
                    let (Some(entry), Some(head), Some(tail)) =
                        (doc.get(start..end), doc.get(..end), doc.get(end..))
                    else {
                        return Err("position hors du texte".into());
                    };
                    let mut out = String::with_capacity(doc.len() + entry.len() * n);
                    out.push_str(head);
                    for _ in 1..n {
                        out.push_str("\n              ");
                        out.push_str(entry);
                    }
                    out.push_str(tail);
                    return Ok(out);
                }
            }
            Event::Eof => {
                return Err(
                    "aucune entrée de résultat (templateId 1.3.6.1.4.1.19376.1.3.1)".into(),
                );
            }
            _ => {}
        }
    }
}
