//! Suites and participants as the operator writes them, and the mail server's configuration:
//! TOML parsing, the suite model, `banc suite check`'s lint. The input is up to four files
//! separated by NUL bytes: suite.toml, scenarios/a.toml, participants.toml, serve.toml.
#![no_main]

use banc::scenario::{lint, model};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0);
    let suite_toml = parts.next().unwrap_or_default();
    let scenario = parts.next().unwrap_or_default();
    let participants = parts.next().unwrap_or_default();
    let serve = parts.next().unwrap_or_default();

    let dir = banc_fuzz::scratch().join("fuzz-suite");
    let _ = std::fs::create_dir_all(dir.join("scenarios"));
    std::fs::write(dir.join("suite.toml"), suite_toml).expect("write suite");
    std::fs::write(dir.join("scenarios/a.toml"), scenario).expect("write scenario");
    let pfile = banc_fuzz::scratch().join("participants.toml");
    std::fs::write(&pfile, participants).expect("write participants");

    let p = model::load_participants(&pfile).ok();
    if let Ok(suite) = model::load_suite(&dir) {
        for issue in lint::check(&suite, p.as_ref()) {
            let _ = issue.message.len();
        }
    }
    if let Ok(text) = std::str::from_utf8(serve)
        && let Ok(file) = banc::transport::config::parse(text, &dir)
    {
        let _ = banc::transport::config::settings(file, Default::default());
    }
});
