//! A real browser for the HTML report tests: headless Chromium at `/usr/bin/chromium`. Without
//! it the tests are skipped with a note, unless `BANC_REQUIRE_BROWSER=1` (CI).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's `chromium-driver`: WebDriver for the pages that are clicked through.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("banc-browser-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The browser, or `None` to skip (after a note); panics when CI requires it.
pub fn chromium() -> Option<&'static str> {
    if Path::new(CHROMIUM).exists() {
        return Some(CHROMIUM);
    }
    if std::env::var("BANC_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!("BANC_REQUIRE_BROWSER=1 but {CHROMIUM} is not installed");
    }
    eprintln!(
        "skipped: chromium not installed ({CHROMIUM}); set BANC_REQUIRE_BROWSER=1 to require it"
    );
    None
}

/// Chromium and its WebDriver, or `None` to skip (after a note); panics when CI requires them.
pub fn chromedriver() -> Option<(&'static str, &'static str)> {
    let browser = chromium()?;
    if Path::new(CHROMEDRIVER).exists() {
        return Some((browser, CHROMEDRIVER));
    }
    if std::env::var("BANC_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!("BANC_REQUIRE_BROWSER=1 but {CHROMEDRIVER} is not installed (chromium-driver)");
    }
    eprintln!(
        "skipped: chromedriver not installed ({CHROMEDRIVER}, Debian's chromium-driver); set BANC_REQUIRE_BROWSER=1 to require it"
    );
    None
}

/// `file://` URL of an absolute path, bytes outside the unreserved set percent-encoded.
pub fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// Headless chromium on `page`, `extra` flags before the URL; killed after 90 s.
pub fn run_chromium(browser: &str, page: &Path, extra: &[&str]) -> Output {
    run_chromium_url(browser, &file_url(page), extra)
}

/// Headless chromium on `url` (a page of a server on loopback, or `file://`).
pub fn run_chromium_url(browser: &str, url: &str, extra: &[&str]) -> Output {
    let profile = TempDir::new("chromium-profile");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    // Drain the pipes on threads so a chatty browser cannot block on a full pipe.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut v).ok();
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut v).ok();
        v
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait chromium") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out_t.join().expect("stdout thread"),
        stderr: err_t.join().expect("stderr thread"),
    }
}

/// Console messages of the page in chromium's `--enable-logging=stderr` output. Chromium logs
/// every console message (errors, uncaught exceptions, CSP violations) as
/// `[pid:tid:date:INFO:CONSOLE:12] "message", source: file:///… (12)` (older versions:
/// `CONSOLE(12)`). Our page logs nothing, so any such line is a defect.
pub fn console_messages(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect()
}

/// The page's own script ran (under its Content-Security-Policy): it unhides the filters.
pub fn assert_script_ran(dom: &str) {
    let filters = dom.find(r#"id="filtres""#).expect("filters in the DOM");
    let tag_end = filters + dom[filters..].find('>').expect("end of tag");
    assert!(
        !dom[filters..tag_end].contains("hidden"),
        "the script did not run: filters still hidden"
    );
}
