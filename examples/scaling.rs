//! How the cost of a document grows with its size: a CR-BIO grown to N result entries
//! (`banc::bench::repeat_entries`), then one element with N attributes, each judged in-process
//! with and without the kit. Prints N, size, time and peak memory; no assertion (the tests hold
//! the bounds). `cargo run --release --example scaling -- [--kit DIR] [FIXTURE] [N...]`

use banc::pipeline::{Options, Validator};
use std::time::Instant;

/// Peak resident memory of the process so far, in MiB (Linux).
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_string();
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> Result<(), String> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let kit = match args.iter().position(|a| a == "--kit") {
        Some(i) if i + 1 < args.len() => {
            let dir = args.remove(i + 1);
            args.remove(i);
            Some(banc::kit::Kit::open(std::path::Path::new(&dir)).map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    let fixture = match args.first().filter(|a| a.parse::<usize>().is_err()) {
        Some(_) => args.remove(0),
        None => "fixtures/cr-bio/valid/glycemie-ionogramme.xml".into(),
    };
    let counts: Vec<usize> = match args.iter().map(|a| a.parse()).collect() {
        Ok(v) if !args.is_empty() => v,
        _ => vec![100, 1000, 3000, 10000],
    };
    let doc = std::fs::read_to_string(&fixture).map_err(|e| format!("{fixture}: {e}"))?;
    let mut validators = vec![(
        "sans kit",
        Validator::new(None, Options::default()).map_err(|e| e.0)?,
    )];
    if let Some(k) = kit {
        validators.push((
            "avec kit",
            Validator::new(Some(k), Options::default()).map_err(|e| e.0)?,
        ));
    }
    // Compile the kit's plans outside the figures.
    for (_, v) in &validators {
        v.validate_bytes("warm-up", doc.as_bytes());
    }
    println!("CR-BIO de N entrées de résultat ({fixture})");
    println!(
        "{:>7} {:>10}  {:<9} {:>9} {:>10} {:>9}  verdict",
        "N", "octets", "", "ms", "µs/entrée", "pic Mio"
    );
    for &n in &counts {
        let grown = banc::bench::repeat_entries(&doc, n)?;
        for (label, v) in &validators {
            let t = Instant::now();
            let r = v.validate_bytes("grown.xml", grown.as_bytes());
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            let budget = r.findings.iter().any(|f| f.rule == "banc.limit.budget");
            println!(
                "{n:>7} {:>10}  {label:<9} {ms:>9.0} {:>10.0} {:>9.0}  {}{}",
                grown.len(),
                ms * 1000.0 / n as f64,
                peak_mib(),
                r.verdict,
                if budget { " (budget dépassé)" } else { "" }
            );
        }
    }
    println!("\nUn élément portant N attributs");
    println!("{:>7} {:>10} {:>9}  constat", "N", "octets", "ms");
    for n in [100, 256, 1000, 10_000, 100_000] {
        let attrs: String = (0..n).map(|i| format!(" a{i}=\"x\"")).collect();
        let text = format!(
            "<?xml version=\"1.0\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\">\n<title{attrs}/></ClinicalDocument>"
        );
        let t = Instant::now();
        let r = validators[0].1.validate_bytes("flood.xml", text.as_bytes());
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let limit = r.findings.iter().any(|f| f.rule == "xml.limit.attributes");
        println!(
            "{n:>7} {:>10} {ms:>9.1}  {}",
            text.len(),
            if limit {
                "xml.limit.attributes"
            } else {
                "analysé"
            }
        );
    }
    Ok(())
}
