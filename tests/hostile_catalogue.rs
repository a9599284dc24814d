//! The hostile-input catalogue: every `*.case.toml` under `tests/hostile/<door>/` is one attack, with the
//! finding or error banc must give and its time and memory bound (README, "Security"). A case
//! either holds its input (`text`) or names a generator below for inputs too big or too binary
//! to keep as text (zip bombs, floods). Doors: `validate` (a file given to `banc validate`,
//! optionally with a user schematron), `smtp` (a client session against `banc mail serve`).
//! Bounds are generous (a hang or a quadratic blow-up exceeds them by orders of magnitude);
//! the figures measured are printed for the README.

mod common;

use serde::Deserialize;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the attack is, in a line.
    what: String,
    door: String,
    /// Name of the input file (its extension tells banc what it is).
    #[serde(default = "default_name")]
    name: String,
    text: Option<String>,
    generate: Option<String>,
    #[serde(default)]
    n: usize,
    /// `fifo` or `dev-zero`: the input is a named pipe or the zero device.
    special: Option<String>,
    /// A user schematron run with the kit (`--schematron`) on the input.
    schematron: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    exit: Option<i32>,
    /// Rule ids that must appear among the findings (all documents of the run).
    #[serde(default)]
    findings: Vec<String>,
    /// Rule ids that must not appear.
    #[serde(default)]
    absent: Vec<String>,
    /// Text that must appear on stderr (errors that are not findings).
    stderr: Option<String>,
    /// Text that must not appear in banc's output (a file it must not have read).
    #[serde(default)]
    not_in_output: Vec<String>,
    /// Largest JSON report accepted, in KB (attacker text is quoted, not copied).
    max_report_kb: Option<u64>,
    /// SMTP: the client's bytes, and the reply codes expected in order.
    session: Option<String>,
    #[serde(default)]
    replies: Vec<String>,
    /// SMTP: messages in the spool after the session.
    stored: Option<usize>,
    max_seconds: f64,
    max_rss_mb: u64,
}

fn default_name() -> String {
    "input.xml".into()
}

/// What a case cost.
struct Cost {
    seconds: f64,
    rss_mb: u64,
}

#[test]
fn every_case_of_the_catalogue_holds() {
    let dir = common::root().join("tests/hostile");
    let mut files: Vec<PathBuf> = walk(&dir);
    files.sort();
    assert!(files.len() >= 40, "catalogue too small: {}", files.len());
    let mut failures = Vec::new();
    let mut worst: std::collections::BTreeMap<String, (f64, u64)> = Default::default();
    eprintln!("{:<48} {:>8} {:>8}", "case", "seconds", "RSS MB");
    for f in &files {
        let rel = f.strip_prefix(&dir).unwrap().display().to_string();
        let text = std::fs::read_to_string(f).unwrap();
        let case: Case = match toml::from_str(&text) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{rel}: {e}"));
                continue;
            }
        };
        let result = match case.door.as_str() {
            "validate" => validate(&rel, &case),
            "smtp" => smtp(&rel, &case),
            other => Err(format!("door « {other} » unknown")),
        };
        match result {
            Ok(Some(c)) => {
                eprintln!("{rel:<48} {:>8.2} {:>8}", c.seconds, c.rss_mb);
                let door = rel.split('/').next().unwrap().to_string();
                let w = worst.entry(door).or_default();
                w.0 = w.0.max(c.seconds);
                w.1 = w.1.max(c.rss_mb);
                if c.seconds > case.max_seconds {
                    failures.push(format!(
                        "{rel} ({}): {:.2} s > {} s",
                        case.what, c.seconds, case.max_seconds
                    ));
                }
                if c.rss_mb > case.max_rss_mb {
                    failures.push(format!(
                        "{rel} ({}): {} MB > {} MB",
                        case.what, c.rss_mb, case.max_rss_mb
                    ));
                }
            }
            Ok(None) => eprintln!("{rel:<48} (needs the kit: not run)"),
            Err(e) => failures.push(format!("{rel} ({}): {e}", case.what)),
        }
    }
    eprintln!("worst per door (seconds, RSS MB): {worst:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.to_string_lossy().ends_with(".case.toml") {
            out.push(p);
        }
    }
    out
}

/// The input bytes of a case.
fn input(case: &Case) -> Result<Vec<u8>, String> {
    match (&case.text, &case.generate) {
        (Some(t), None) => Ok(t.as_bytes().to_vec()),
        (None, Some(g)) => generate(g, case.n),
        (None, None) if case.special.is_some() => Ok(Vec::new()),
        _ => Err("give `text` or `generate`".into()),
    }
}

/// Run banc, measuring its wall time and peak memory (`wait4`), killing it past twice the
/// case's time bound so that a hang fails the test instead of stalling it.
fn measured(
    cmd: &mut std::process::Command,
    limit: f64,
) -> Result<(i32, String, String, Cost), String> {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.id() as libc::pid_t;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Duration::from_secs_f64(limit * 2.0 + 5.0);
    let mut killed = false;
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our child, not yet reaped (std's Child is never waited here).
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break (status, usage);
        }
        if r < 0 {
            return Err("wait4 failed".into());
        }
        if !killed && start.elapsed() > deadline {
            let _ = child.kill();
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let seconds = start.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
    if killed {
        return Err(format!("no answer after {seconds:.1} s: killed"));
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        return Err(format!(
            "ended by signal {}; stderr: {stderr}",
            libc::WTERMSIG(status)
        ));
    };
    let cost = Cost {
        seconds,
        rss_mb: (usage.ru_maxrss as u64) / 1024,
    };
    Ok((code, stdout, stderr, cost))
}

fn validate(rel: &str, case: &Case) -> Result<Option<Cost>, String> {
    let dir = common::tempdir(&format!("hostile-{}", rel.replace(['/', '.'], "-")));
    let path = dir.join(&case.name);
    match case.special.as_deref() {
        Some("fifo") => {
            let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            // SAFETY: c is a valid NUL-terminated path.
            if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
                return Err("mkfifo failed".into());
            }
        }
        Some("dev-zero") => {}
        Some(other) => return Err(format!("special « {other} » unknown")),
        None => std::fs::write(&path, input(case)?).unwrap(),
    }
    let target = if case.special.as_deref() == Some("dev-zero") {
        PathBuf::from("/dev/zero")
    } else {
        path.clone()
    };
    let mut cmd = common::banc();
    cmd.args(["validate", "--format", "json"]);
    if let Some(sch) = &case.schematron {
        let Some(kit) = common::kit() else {
            return Ok(None);
        };
        // The schematron in its own folder; beside that folder, an XML file it must not read.
        std::fs::create_dir_all(dir.join("sch")).unwrap();
        std::fs::write(dir.join("secret.xml"), "<secret>BANC-SECRET-4242</secret>").unwrap();
        let file = dir.join("sch/user.sch");
        std::fs::write(&file, sch).unwrap();
        cmd.arg("--kit").arg(kit).arg("--schematron").arg(&file);
    }
    cmd.args(&case.args).arg(&target);
    let (code, stdout, stderr, cost) = measured(&mut cmd, case.max_seconds)?;
    if let Some(want) = case.exit
        && code != want
    {
        return Err(format!("exit {code}, expected {want}; stderr: {stderr}"));
    }
    if let Some(s) = &case.stderr
        && !stderr.contains(s.as_str())
    {
        return Err(format!("stderr lacks « {s} »: {stderr}"));
    }
    for t in &case.not_in_output {
        if stdout.contains(t.as_str()) || stderr.contains(t.as_str()) {
            return Err(format!("output contains « {t} »"));
        }
    }
    if !case.findings.is_empty() || !case.absent.is_empty() || case.max_report_kb.is_some() {
        let v: serde_json::Value = serde_json::from_str(&stdout)
            .map_err(|e| format!("JSON report ({e}); stderr: {stderr}"))?;
        let ids: Vec<String> = v["documents"]
            .as_array()
            .map(|d| d.iter().flat_map(common::all_rules).collect())
            .unwrap_or_default();
        for want in &case.findings {
            if !ids.contains(want) {
                return Err(format!("no {want} finding; got {ids:?}"));
            }
        }
        for not in &case.absent {
            if ids.contains(not) {
                return Err(format!("unexpected {not} finding"));
            }
        }
        if let Some(kb) = case.max_report_kb
            && stdout.len() as u64 > kb * 1024
        {
            return Err(format!("report of {} KB > {kb} KB", stdout.len() / 1024));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Some(cost))
}

fn smtp(rel: &str, case: &Case) -> Result<Option<Cost>, String> {
    let spool = common::tempdir(&format!("hostile-{}", rel.replace(['/', '.'], "-")));
    let mut server = common::serve(
        &spool,
        &case.args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let session = match (&case.session, &case.generate) {
        (Some(s), None) => s.as_bytes().to_vec(),
        (None, Some(g)) => generate(g, case.n)?,
        _ => return Err("give `session` or `generate`".into()),
    };
    let start = Instant::now();
    let mut tcp =
        std::net::TcpStream::connect(("127.0.0.1", server.port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs_f64(case.max_seconds * 2.0 + 5.0)))
        .unwrap();
    // Send while reading: a flood larger than the socket buffers must not deadlock the test.
    let mut writer = tcp.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&session);
        let _ = writer.shutdown(std::net::Shutdown::Write);
    });
    let mut got = Vec::new();
    let _ = tcp.read_to_end(&mut got);
    let seconds = start.elapsed().as_secs_f64();
    let _ = sender.join();
    let text = String::from_utf8_lossy(&got);
    // Final lines of replies only ("250 ..." not "250-...").
    let codes: Vec<&str> = text
        .split("\r\n")
        .filter(|l| l.len() >= 4 && l.as_bytes()[3] == b' ')
        .map(|l| &l[..3])
        .collect();
    // "250*100" stands for a hundred 250 replies.
    let expected: Vec<String> = case
        .replies
        .iter()
        .flat_map(|r| match r.split_once('*') {
            Some((code, n)) => vec![code.to_string(); n.parse().unwrap_or(0)],
            None => vec![r.clone()],
        })
        .collect();
    if !expected.is_empty() && codes != expected {
        let shown: String = text.chars().take(2000).collect();
        return Err(format!(
            "replies {} codes {:?}..., expected {} codes {:?}...\n{shown}",
            codes.len(),
            &codes[..codes.len().min(12)],
            expected.len(),
            &expected[..expected.len().min(12)]
        ));
    }
    let rss_mb = peak_rss_mb(server.child.id());
    if let Some(n) = case.stored {
        // Stored messages are committed before their 250: count them now.
        let count = std::fs::read_dir(spool.join("msg"))
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".eml"))
                })
                .count()
            })
            .unwrap_or(0);
        if count != n {
            return Err(format!("{count} message(s) stored, expected {n}"));
        }
    }
    let _ = server.child.kill();
    let _ = std::fs::remove_dir_all(&spool);
    Ok(Some(Cost { seconds, rss_mb }))
}

/// The peak resident memory of a running process (VmHWM), in MB.
fn peak_rss_mb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

const CDA_HEAD: &str =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\">";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(common::root().join("fixtures/cr-bio/valid").join(name)).unwrap()
}

type ZipW = zip::ZipWriter<std::io::Cursor<Vec<u8>>>;

/// Inputs too big or too binary to keep as text in a case file.
fn generate(name: &str, n: usize) -> Result<Vec<u8>, String> {
    let zip_opts = || {
        zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
    };
    let zip_with = |f: &dyn Fn(&mut ZipW)| {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        f(&mut w);
        w.finish().unwrap().into_inner()
    };
    let cda = fixture("tsh.xml").into_bytes();
    Ok(match name {
        // One element with n attributes (libxml2 2.9 is quadratic in them).
        "attributes" => {
            let mut s = String::from(CDA_HEAD);
            s.push_str("<title");
            for i in 0..n {
                s.push_str(&format!(" a{i}=\"x\""));
            }
            s.push_str("/></ClinicalDocument>");
            s.into_bytes()
        }
        // n namespace declarations on one element.
        "namespaces" => {
            let mut s = String::from(CDA_HEAD);
            s.push_str("<title");
            for i in 0..n {
                s.push_str(&format!(" xmlns:p{i}=\"urn:x:{i}\""));
            }
            s.push_str("/></ClinicalDocument>");
            s.into_bytes()
        }
        // n nested elements.
        "deep" => {
            let mut s = String::from(CDA_HEAD);
            s.push_str(&"<x>".repeat(n));
            s.push_str(&"</x>".repeat(n));
            s.push_str("</ClinicalDocument>");
            s.into_bytes()
        }
        // An element name of n bytes.
        "long-name" => format!("{CDA_HEAD}<{0}/></ClinicalDocument>", "n".repeat(n)).into_bytes(),
        // A valid CR-BIO whose title is n multi-byte characters (reports must quote, not copy).
        "huge-title" => {
            let s = fixture("tsh.xml");
            let start = s.find("<title>").ok_or("no title")? + "<title>".len();
            let end = s[start..].find("</title>").ok_or("no title end")? + start;
            format!("{}{}{}", &s[..start], "Ä".repeat(n), &s[end..]).into_bytes()
        }
        // A CR-BIO with n comments of 1 KB between elements.
        "comment-flood" => {
            let s = fixture("tsh.xml");
            let at = s.find("<title>").ok_or("no title")?;
            let c = format!("<!--{}-->", "c".repeat(1000));
            format!("{}{}{}", &s[..at], c.repeat(n), &s[at..]).into_bytes()
        }
        "tsh" => cda.clone(),
        // Bytes that are not UTF-8 in a document that says it is.
        "invalid-utf8" => {
            let mut b = format!("{CDA_HEAD}<title>").into_bytes();
            b.extend_from_slice(b"\xff\xfe\xc3\x28");
            b.extend_from_slice(b"</title></ClinicalDocument>");
            b
        }
        // A DOCTYPE with an external entity, in UTF-16 (refused in every encoding).
        "utf16-doctype" => {
            let t = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<!DOCTYPE ClinicalDocument [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><title>&x;</title></ClinicalDocument>";
            let mut b = vec![0xFF, 0xFE];
            for u in t.encode_utf16() {
                b.extend_from_slice(&u.to_le_bytes());
            }
            b
        }
        // Zips.
        "zip-traversal" => zip_with(&|w| {
            w.start_file("../../../../tmp/banc-evil.xml", zip_opts()).unwrap();
            w.write_all(&cda).unwrap();
        }),
        "zip-absolute" => zip_with(&|w| {
            w.start_file("/etc/banc-evil.xml", zip_opts()).unwrap();
            w.write_all(&cda).unwrap();
        }),
        "zip-symlink" => zip_with(&|w| {
            w.add_symlink("IHE_XDM/SUBSET01/DOC0001.XML", "/etc/passwd", zip_opts()).unwrap();
        }),
        // n MB of zeros deflated to a few KB.
        "zip-bomb" => zip_with(&|w| {
            w.start_file("IHE_XDM/SUBSET01/DOC0001.XML", zip_opts()).unwrap();
            let mb = vec![0u8; 1 << 20];
            for _ in 0..n {
                w.write_all(&mb).unwrap();
            }
        }),
        // A zip in a zip in a zip..., n levels.
        "zip-nested" => {
            let mut inner = cda.clone();
            let mut inner_name = "DOC0001.XML".to_string();
            for i in 0..n {
                let bytes = inner.clone();
                let nm = inner_name.clone();
                inner = zip_with(&|w| {
                    w.start_file(nm.as_str(), zip_opts()).unwrap();
                    w.write_all(&bytes).unwrap();
                });
                inner_name = format!("level{i}.zip");
            }
            inner
        }
        // The central directory says 10 bytes; the entry inflates to 10 MB.
        "zip-lying-size" => {
            let mut z = zip_with(&|w| {
                w.start_file("IHE_XDM/SUBSET01/DOC0001.XML", zip_opts()).unwrap();
                w.write_all(&vec![b' '; 10 << 20]).unwrap();
            });
            patch_sizes(&mut z, 10);
            z
        }
        "zip-encrypted" => {
            let mut z = zip_with(&|w| {
                w.start_file("IHE_XDM/SUBSET01/DOC0001.XML", zip_opts()).unwrap();
                w.write_all(&cda).unwrap();
            });
            set_flag(&mut z, 1);
            z
        }
        "zip64" => zip_with(&|w| {
            w.start_file("IHE_XDM/SUBSET01/DOC0001.XML", zip_opts().large_file(true)).unwrap();
            w.write_all(&cda).unwrap();
        }),
        "zip-truncated" => {
            let z = zip_with(&|w| {
                w.start_file("IHE_XDM/SUBSET01/DOC0001.XML", zip_opts()).unwrap();
                w.write_all(&cda).unwrap();
            });
            z[..z.len() / 2].to_vec()
        }
        "zip-many-entries" => zip_with(&|w| {
            for i in 0..n {
                w.start_file(format!("IHE_XDM/SUBSET01/F{i}.TXT"), zip_opts()).unwrap();
                w.write_all(b"x").unwrap();
            }
        }),
        // MIME.
        "mime-deep" => {
            let mut s = String::from("From: <a@labo.mssante.fr>\r\nTo: <b@chu.mssante.fr>\r\nSubject: x\r\nMIME-Version: 1.0\r\n");
            for i in 0..n {
                s.push_str(&format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"));
            }
            s.push_str("Content-Type: text/plain\r\n\r\nfin\r\n");
            for i in (0..n).rev() {
                s.push_str(&format!("--b{i}--\r\n"));
            }
            s.into_bytes()
        }
        "mime-parts" => {
            let mut s = String::from("From: <a@labo.mssante.fr>\r\nTo: <b@chu.mssante.fr>\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n");
            for _ in 0..n {
                s.push_str("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n");
            }
            s.push_str("--b--\r\n");
            s.into_bytes()
        }
        "header-flood" => {
            let mut s = String::from("From: <a@labo.mssante.fr>\r\nTo: <b@chu.mssante.fr>\r\n");
            for i in 0..n {
                s.push_str(&format!("X-Flood-{i}: {}\r\n", "v".repeat(50)));
            }
            s.push_str("Subject: x\r\n\r\ncorps\r\n");
            s.into_bytes()
        }
        // SMTP sessions.
        "rcpt-flood" => {
            let mut s = String::from("EHLO flood.example\r\nMAIL FROM:<a@labo.mssante.fr>\r\n");
            for i in 0..n {
                s.push_str(&format!("RCPT TO:<r{i}@chu.mssante.fr>\r\n"));
            }
            s.push_str("QUIT\r\n");
            s.into_bytes()
        }
        "noop-flood" => {
            let mut s = String::from("EHLO flood.example\r\n");
            s.push_str(&"NOOP\r\n".repeat(n));
            s.push_str("QUIT\r\n");
            s.into_bytes()
        }
        "long-line" => format!("EHLO {}\r\nQUIT\r\n", "a".repeat(n)).into_bytes(),
        "long-data-line" => format!(
            "EHLO x\r\nMAIL FROM:<a@labo.mssante.fr>\r\nRCPT TO:<b@chu.mssante.fr>\r\nDATA\r\nSubject: x\r\n\r\n{}\r\n.\r\nQUIT\r\n",
            "a".repeat(n)
        )
        .into_bytes(),
        other => return Err(format!("generator « {other} » unknown")),
    })
}

/// Set the uncompressed size of every entry (local headers and central directory) to `size`.
fn patch_sizes(z: &mut [u8], size: u32) {
    let mut i = 0;
    while i + 4 <= z.len() {
        match &z[i..i + 4] {
            b"PK\x03\x04" => z[i + 22..i + 26].copy_from_slice(&size.to_le_bytes()),
            b"PK\x01\x02" => z[i + 24..i + 28].copy_from_slice(&size.to_le_bytes()),
            _ => {}
        }
        i += 1;
    }
}

/// Set general-purpose flag bits on every entry (bit 0: encrypted).
fn set_flag(z: &mut [u8], bits: u8) {
    let mut i = 0;
    while i + 4 <= z.len() {
        match &z[i..i + 4] {
            b"PK\x03\x04" => z[i + 6] |= bits,
            b"PK\x01\x02" => z[i + 8] |= bits,
            _ => {}
        }
        i += 1;
    }
}
