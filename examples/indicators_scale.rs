//! `banc indicators` at a lab's yearly scale: N produced CR-BIO (our `tsh.xml` with a new id and
//! date each, in one zip archive) and M sent messages (one per document, each with its own
//! IHE_XDM package, in one mbox), generated into a temporary folder; prints the time of the
//! measure and the peak resident memory of the process during it.
//!
//! `cargo run --release --example indicators_scale -- [N] [M]` (default 100000 100000).

use banc::indicators::{self, Inputs, Period, Stays};
use std::io::Write;
use std::time::Instant;

fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU seconds (user + system) of the process so far.
fn cpu_secs() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage, RUSAGE_SELF.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn main() -> Result<(), String> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(100_000);
    let m = args.get(1).copied().unwrap_or(100_000).min(n);
    let dir = std::env::temp_dir().join(format!("banc-indicators-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tsh = std::fs::read_to_string(root.join("fixtures/cr-bio/valid/tsh.xml"))
        .map_err(|e| e.to_string())?;
    let id_line = r#"<id root="C3892141-D0D2-4E16-9399-2EAD9E21DCF3"/>"#;
    let set_line = r#"<setId root="841AA20A-1432-4A04-8380-1BDBE15ADBF7"/>"#;
    let time_line = r#"<effectiveTime value="20260121162240+0100"/>"#;
    let doc = |i: usize| {
        let month = 1 + i % 12;
        tsh.replacen(
            id_line,
            &format!(r#"<id root="1.2.3.4.999.1" extension="D{i}"/>"#),
            1,
        )
        .replacen(
            set_line,
            &format!(r#"<setId root="1.2.3.4.999.2" extension="S{i}"/>"#),
            1,
        )
        .replacen(
            time_line,
            &format!(
                r#"<effectiveTime value="2026{month:02}{:02}093000+0100"/>"#,
                1 + i % 28
            ),
            1,
        )
    };

    let t = Instant::now();
    let zip_path = dir.join("produced.zip");
    {
        let f = std::fs::File::create(&zip_path).map_err(|e| e.to_string())?;
        let mut z = zip::ZipWriter::new(std::io::BufWriter::new(f));
        for i in 0..n {
            z.start_file(
                format!("cr-bio/D{i}.xml"),
                zip::write::SimpleFileOptions::default(),
            )
            .map_err(|e| e.to_string())?;
            z.write_all(doc(i).as_bytes()).map_err(|e| e.to_string())?;
        }
        z.finish().map_err(|e| e.to_string())?;
    }
    let mbox_path = dir.join("sent.mbox");
    {
        let f = std::fs::File::create(&mbox_path).map_err(|e| e.to_string())?;
        let mut w = std::io::BufWriter::new(f);
        for i in 0..m {
            let opts = banc::mail::compose::ComposeOptions {
                from: "sgl@labo-golfe.test".into(),
                to: vec!["dpi@recepteur.test".into()],
                pdf: banc::mail::compose::PdfSource::None,
                message_id: Some(format!("m{i}@labo-golfe.test")),
                date: Some(1_767_225_600),
                package: banc::xdm::PackOptions {
                    submission_time: Some("20260101093000".into()),
                    ..Default::default()
                },
                ..Default::default()
            };
            let raw =
                banc::mail::compose::compose(&[(format!("D{i}.xml"), doc(i).into_bytes())], &opts)?;
            w.write_all(b"From sgl@labo-golfe.test Thu Jan  1 09:30:00 2026\n")
                .and_then(|_| w.write_all(&raw))
                .and_then(|_| w.write_all(b"\n"))
                .map_err(|e| e.to_string())?;
        }
    }
    let size = |p: &std::path::Path| {
        std::fs::metadata(p)
            .map(|m| m.len() / (1024 * 1024))
            .unwrap_or(0)
    };
    println!(
        "generated {n} documents ({} MiB zip) and {m} messages ({} MiB mbox) in {:.1} s",
        size(&zip_path),
        size(&mbox_path),
        t.elapsed().as_secs_f64()
    );

    // Peak memory of the measure alone: reset the high-water mark (Linux: clear_refs 5).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = peak_kib();
    let validator = banc::pipeline::CheckOptions::default()
        .validator()
        .map_err(|e| e.to_string())?;
    let inputs = Inputs {
        produced: vec![zip_path],
        sent: vec![mbox_path],
        period: Period::quarter("2026-T1")?,
        stays: Stays::Unknown,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let t = Instant::now();
    let cpu = cpu_secs();
    let report = indicators::run(&validator, &inputs, &|_| {})?;
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu;
    let peak = peak_kib();
    let total = &report.labs_total.total;
    println!(
        "indicators: {n} documents + {m} messages in {secs:.1} s ({:.0} documents/s, {} threads, {cpu:.1} s of CPU); peak RSS {:.0} MiB (after generation: {:.0} MiB)",
        n as f64 / secs,
        inputs.jobs,
        peak as f64 / 1024.0,
        before as f64 / 1024.0
    );
    println!(
        "2026-T1: K = {}, L = {}, MS-4 = {:?} %; produced read {} (balanced: {}), sent read {} (balanced: {})",
        total.k,
        total.l,
        total.ms4,
        report.produced.total,
        report.produced.balanced,
        report.sent.total,
        report.sent.balanced
    );
    std::fs::remove_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(())
}
