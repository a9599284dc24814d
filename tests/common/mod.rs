//! Helpers shared by the integration tests: run the built binary like a user does.
#![allow(dead_code)]

pub mod browser;
pub mod http;
pub mod kit_archive;
pub mod serve;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn banc() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_banc"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env_remove("BANC_KIT");
    c.env_remove("BANC_CIRCUIT_BIO");
    c.env_remove("BANC_TERMINOLOGY");
    // No kit the developer installed (`banc kit fetch`) may become the tests' default kit.
    c.env("BANC_DATA", root().join("tests/no-banc-data"));
    c.env_remove("BANC_KIT_MIRROR");
    c
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Run `cmd` to its end and keep its status (-1 when killed) and its two outputs.
    pub fn of(cmd: &mut Command) -> Run {
        let out: Output = cmd.output().expect("the command runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Standard output then standard error, as one text (for messages and searches).
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

pub fn run(args: &[&str]) -> Run {
    run_env(args, &[])
}

/// `run` with extra environment variables.
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    Run::of(banc().args(args).envs(env.iter().copied()))
}

/// `banc validate --format json ARGS`, parsed.
pub fn validate_json(args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["validate", "--format", "json"];
    all.extend_from_slice(args);
    let r = run(&all);
    let v = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("JSON on stdout ({e}); stderr: {}", r.stderr));
    (r.code, v)
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The ANS kit beside the checkout (`../shared/ans-kit`), or `BANC_TEST_KIT`.
/// Absent: the test is skipped, unless `BANC_REQUIRE_KIT=1` (CI) makes that a failure.
pub fn kit() -> Option<PathBuf> {
    let p = std::env::var_os("BANC_TEST_KIT")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/ans-kit"));
    if p.join("infrastructure/cda/CDA_extended.xsd").is_file() {
        return Some(p);
    }
    assert!(
        std::env::var("BANC_REQUIRE_KIT").as_deref() != Ok("1"),
        "BANC_REQUIRE_KIT=1 but no kit at {}",
        p.display()
    );
    eprintln!("skipped: no ANS kit at {} (set BANC_TEST_KIT)", p.display());
    None
}

/// A document read and parsed as banc reads its inputs; `None` when it cannot be.
pub fn load_xml(path: &Path) -> Option<banc::xml::Loaded> {
    use banc::xml::{self, Limits, Load};
    let bytes = std::fs::read(path).ok()?;
    let mut findings = Vec::new();
    match xml::load(
        xml::Input {
            name: &path.display().to_string(),
            bytes: &bytes,
        },
        &Limits::default(),
        &mut findings,
    ) {
        Load::Ready(d) => Some(*d),
        _ => None,
    }
}

pub fn shared() -> Option<PathBuf> {
    kit().map(|k| k.join(".."))
}

pub fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Assert that `xml` is valid against the common JUnit schema (tests/schemas/junit.xsd).
pub fn assert_junit_valid(xml: &[u8]) {
    let schema = banc::xml::ffi::Schema::compile(&root().join("tests/schemas/junit.xsd"))
        .expect("schema compiles");
    let parsed = banc::xml::ffi::parse(xml, "junit.xml");
    let doc = parsed.doc.expect("well-formed JUnit XML");
    let (errors, _) = schema.validate(&doc, doc.root().unwrap());
    assert!(
        errors.is_empty(),
        "{:?}",
        errors.iter().map(|e| &e.message).collect::<Vec<_>>()
    );
}

/// Wait for `child` to exit, at most `limit`; its exit code (panics when it does not end).
pub fn wait_exit(child: &mut std::process::Child, limit: std::time::Duration) -> Option<i32> {
    let start = std::time::Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("wait child") {
            return st.code();
        }
        assert!(
            start.elapsed() < limit,
            "the process did not end in {limit:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A fresh temporary folder for one test.
pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("banc-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Distinct rule ids of the findings of a JSON document at or above `warning`.
pub fn rules(doc: &serde_json::Value) -> Vec<String> {
    let mut r: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    r.sort();
    r.dedup();
    r
}

pub fn all_rules(doc: &serde_json::Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

/// The first finding of a layer in a JSON document (panics when there is none).
pub fn first_in_layer<'a>(doc: &'a serde_json::Value, layer: &str) -> &'a serde_json::Value {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["layer"] == layer)
        .unwrap_or_else(|| panic!("no {layer} finding in {}", doc["path"]))
}

/// A running `banc mail serve --listen 127.0.0.1:0 --spool SPOOL ARGS...`.
pub struct Serve {
    pub child: std::process::Child,
    pub port: u16,
    /// stdout lines after the start line (one per message or refusal).
    pub lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start the server and wait (30 s at most) for its start line
/// `banc mail serve: écoute sur 127.0.0.1:PORT (spool DIR)`. stdout and stderr are drained in
/// threads, so the server never blocks on a full pipe; stderr is echoed for the test's log.
pub fn serve(spool: &Path, args: &[&str]) -> Serve {
    use std::io::BufRead;
    use std::process::Stdio;
    let mut child = banc()
        .args(["mail", "serve", "--listen", "127.0.0.1:0", "--spool"])
        .arg(spool)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("banc mail serve starts");
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let rx = lines_of(out);
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("banc mail serve: {l}");
        }
    });
    let mut s = Serve {
        child,
        port: 0,
        lines: rx,
    };
    let first = s
        .lines
        .recv_timeout(std::time::Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("banc mail serve printed no start line (see its stderr above)"));
    let prefix = "banc mail serve: écoute sur 127.0.0.1:";
    assert!(
        first.starts_with(prefix) && first.ends_with(&format!("(spool {})", spool.display())),
        "start line: {first}"
    );
    s.port = first[prefix.len()..]
        .split(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in « {first} »"));
    s
}

/// The entries (name, bytes) of a zip, in order (folders end in '/').
pub fn zip_entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut a = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    (0..a.len())
        .map(|i| {
            let mut f = a.by_index(i).unwrap();
            let mut b = Vec::new();
            f.read_to_end(&mut b).unwrap();
            (f.name().unwrap().to_string(), b)
        })
        .collect()
}

/// A deflated zip of these entries (names ending in '/' are folders).
pub fn zip_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (n, b) in files {
        if n.ends_with('/') {
            w.add_directory(n.as_str(), o).unwrap();
        } else {
            w.start_file(n.as_str(), o).unwrap();
            w.write_all(b).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

/// The zip rebuilt with `edit` applied to every entry (None drops it).
pub fn zip_rewrite(
    zip: &[u8],
    edit: impl Fn(&str, Vec<u8>) -> Option<(String, Vec<u8>)>,
) -> Vec<u8> {
    let files: Vec<(String, Vec<u8>)> = zip_entries(zip)
        .into_iter()
        .filter_map(|(n, b)| edit(&n, b))
        .collect();
    zip_of(&files)
}

/// A plain SMTP client connection of the tests: commands and their final reply lines.
pub struct SmtpConn {
    pub tcp: std::net::TcpStream,
    buf: Vec<u8>,
}

impl SmtpConn {
    /// Connect to 127.0.0.1:`port` (no-delay: a message and its final dot leave together).
    pub fn open(port: u16, timeout: std::time::Duration) -> std::io::Result<SmtpConn> {
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port))?;
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_nodelay(true)?;
        Ok(SmtpConn {
            tcp,
            buf: Vec::new(),
        })
    }

    /// The last line of the next reply: code and text.
    pub fn reply(&mut self) -> std::io::Result<(u16, String)> {
        use std::io::Read;
        loop {
            if let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=nl).collect();
                let line = String::from_utf8_lossy(&line).trim_end().to_string();
                if line.as_bytes().get(3) == Some(&b'-') {
                    continue;
                }
                let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
                return Ok((code, line));
            }
            let mut chunk = [0u8; 4096];
            let n = self.tcp.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Whether the server closed the connection (end of stream or reset) once its replies are read.
    pub fn closed(&mut self) -> bool {
        use std::io::Read;
        let mut b = [0u8; 64];
        match self.tcp.read(&mut b) {
            Ok(n) => n == 0,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }

    /// Send `line` and require reply code `want`.
    pub fn cmd(&mut self, line: &str, want: u16) -> std::io::Result<()> {
        use std::io::Write;
        self.tcp.write_all(format!("{line}\r\n").as_bytes())?;
        let (code, text) = self.reply()?;
        if code != want {
            return Err(std::io::Error::other(format!("{line} → {text}")));
        }
        Ok(())
    }
}

/// A CR-BIO-looking document whose text and attributes carry markup (shared by the serve tests).
pub const HOSTILE_CDA: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3"><!-- <script>alert(1)</script> -->
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="1.2.250.1.213.1.1.1.55" extension="2024.01"/>
  <id root="1.2.250.1.213.1.1.1.55.2024.6.1"/>
  <code code="11502-2" codeSystem="2.16.840.1.113883.6.1" displayName="&lt;script&gt;alert(2)&lt;/script&gt;"/>
  <title><![CDATA[<script>alert(3)</script>]]></title>
  <effectiveTime value="&lt;script&gt;alert(4)&lt;/script&gt;"/>
</ClinicalDocument>
"#;

/// The lines a child prints, read on their own thread (a full pipe never blocks the child).
pub fn lines_of(out: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}
