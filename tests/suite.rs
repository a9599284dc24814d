//! `banc suite check`: the shipped suites are clean; every kind of mistake in a suite or a
//! participants file is an error naming file, line and key, and nothing is run.

mod common;

use common::{run, s, tempdir};
use serde_json::Value;
use std::path::Path;

/// `banc suite check --format json ARGS`: (exit code, issues as "file:line message").
fn check(args: &[&str]) -> (i32, Vec<String>, Value) {
    let mut all = vec!["suite", "check", "--format", "json"];
    all.extend_from_slice(args);
    let r = run(&all);
    let v: Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", r.stdout, r.stderr));
    let issues = v["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let file = Path::new(i["file"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            match i["line"].as_u64() {
                Some(l) => format!(
                    "{} {file}:{l} {}",
                    i["severity"].as_str().unwrap(),
                    i["message"].as_str().unwrap()
                ),
                None => format!(
                    "{} {file} {}",
                    i["severity"].as_str().unwrap(),
                    i["message"].as_str().unwrap()
                ),
            }
        })
        .collect();
    (r.code, issues, v)
}

/// Whether one issue contains every piece of `needles`.
fn has(issues: &[String], needles: &[&str]) -> bool {
    issues.iter().any(|i| needles.iter().all(|n| i.contains(n)))
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const SUITE: &str =
    "id = \"demo\"\ntitle = \"Démo\"\nfixtures = \"../../fixtures\"\ntimeout = \"5m\"\n";

/// A suite folder `<tmp>/suites/demo` whose fixtures are the repository's.
fn suite(name: &str, scenarios: &[(&str, &str)]) -> std::path::PathBuf {
    let root = tempdir(&format!("suite-{name}"));
    let dir = root.join("suites/demo");
    write(&dir, "suite.toml", SUITE);
    std::os::unix::fs::symlink(common::root().join("fixtures"), root.join("fixtures")).unwrap();
    for (file, text) in scenarios {
        write(&dir, &format!("scenarios/{file}"), text);
    }
    dir
}

const HEAD: &str = "title = \"t\"\nrole = \"consumer\"\nlevel = \"N1\"\n";

#[test]
fn shipped_suites_have_no_error() {
    for (suite, min) in [("suites/cr-bio", 20), ("suites/ldl", 3)] {
        let (code, issues, v) =
            check(&[suite, "--participants", "suites/participants.example.toml"]);
        assert_eq!(code, 0, "{suite}: {issues:#?}");
        assert_eq!(v["errors"], 0);
        assert!(v["scenarios"].as_u64().unwrap() >= min, "{suite}: {v}");
    }
}

#[test]
fn a_clean_suite_passes_and_counts_its_steps() {
    let dir = suite(
        "clean",
        &[(
            "C01.toml",
            &format!(
                "id = \"C01\"\n{HEAD}\n[[step]]\nkind = \"send-mail\"\nid = \"envoi\"\ndocument = [\"cr-bio/valid/tsh.xml\"]\nrequest_mdn = true\n\n[[step]]\nkind = \"await-ack\"\nack = \"mdn\"\nof = \"envoi\"\nexpect = {{ disposition = \"processed\" }}\n\n[[step]]\nkind = \"monitor\"\ninstructions = \"Vérifier l'intégration des résultats.\"\n"
            ),
        )],
    );
    let (code, issues, v) = check(&[&s(&dir)]);
    assert_eq!(code, 0, "{issues:#?}");
    assert_eq!(
        (v["scenarios"].as_u64(), v["steps"].as_u64()),
        (Some(1), Some(3))
    );
    assert!(issues.is_empty(), "{issues:#?}");
    // The table says the same.
    let r = run(&["suite", "check", &s(&dir)]);
    assert!(
        r.stdout.contains("1 scénario(s), 3 étape(s) ; 0 erreur(s)"),
        "{}",
        r.stdout
    );
}

#[test]
fn parse_errors_name_file_line_and_key() {
    let dir = suite(
        "parse",
        &[
            (
                "A.toml",
                &format!(
                    "id = \"A\"\n{HEAD}\n[[step]]\nkind = \"monitor\"\ninstructions = \"x\"\nchecklst = [\"a\"]\n"
                ),
            ),
            (
                "B.toml",
                "id = \"B\"\ntitle = \"t\"\nrole = \"consumer\"\nlevel = \"N7\"\n",
            ),
            (
                "C.toml",
                &format!("id = \"C\"\n{HEAD}timeout = \"dix minutes\"\n"),
            ),
            (
                "D.toml",
                &format!("id = \"D\"\n{HEAD}\n[[step]]\nkind = \"teleport\"\n"),
            ),
        ],
    );
    let (code, issues, v) = check(&[&s(&dir)]);
    assert_eq!(code, 1);
    for (file, line, word) in [
        ("A.toml", 9, "checklst"),
        ("B.toml", 4, "N7"),
        ("C.toml", 5, "dix minutes"),
        ("D.toml", 7, "teleport"),
    ] {
        let at = format!("{file}:{line}");
        assert!(
            has(&issues, &["error", &at, word]),
            "{at} {word} in {issues:#?}"
        );
    }
    // Every error is reported, not only the first.
    assert_eq!(v["errors"], 4, "{issues:#?}");
}

#[test]
fn references_files_and_keys_are_checked() {
    let dir = suite(
        "refs",
        &[
            (
                "C01.toml",
                &format!(
                    "id = \"C01\"\n{HEAD}prerequisites = [\"C99\"]\n\n[[step]]\nkind = \"send-mail\"\ndocument = [\"cr-bio/valid/absent.xml\"]\nfaults = [\"no-such-fault\"]\n\n[[step]]\nkind = \"await-ack\"\nof = \"nowhere\"\n\n[[step]]\nkind = \"monitor\"\nurl = \"http://x\"\n"
                ),
            ),
            (
                "N2a.toml",
                "id = \"N2a\"\ntitle = \"t\"\nrole = \"consumer\"\nlevel = \"N2\"\nprerequisites = [\"N2b\"]\n\n[[step]]\nkind = \"evidence\"\ninstructions = \"x\"\n",
            ),
            (
                "N2b.toml",
                "id = \"N2b\"\ntitle = \"t\"\nrole = \"consumer\"\nlevel = \"N2\"\nprerequisites = [\"N2a\"]\n\n[[step]]\nkind = \"evidence\"\ninstructions = \"x\"\n",
            ),
        ],
    );
    let (code, issues, _) = check(&[&s(&dir)]);
    assert_eq!(code, 1);
    for needles in [
        &["C01.toml:5", "prérequis « C99 »"][..],
        &[
            "C01.toml:9",
            "document « cr-bio/valid/absent.xml » introuvable",
        ],
        &["C01.toml:10", "défaut « no-such-fault » inconnu", "no-zip"],
        &["C01.toml:12", "« ack » (mdn ou dsn) est obligatoire"],
        &["C01.toml:14", "of = « nowhere »"],
        // The monitor's stray url is pointed at its own line.
        &[
            "C01.toml:18",
            "la clé « url » ne s'applique pas à une étape « monitor »",
        ],
        &["C01.toml", "demande des « instructions »"],
        &["prérequis en cycle", "N2a → N2b → N2a"],
    ] {
        assert!(has(&issues, needles), "{needles:?} in {issues:#?}");
    }
    // A cycle is reported once.
    assert_eq!(issues.iter().filter(|i| i.contains("en cycle")).count(), 1);
}

#[test]
fn participants_are_checked_with_the_suite() {
    let dir = suite(
        "participants",
        &[(
            "C01.toml",
            &format!("id = \"C01\"\n{HEAD}\n[[step]]\nkind = \"monitor\"\ninstructions = \"x\"\n"),
        )],
    );
    let p = dir.join("participants.toml");
    let first = "[[participant]]\nid = \"a\"\norganisation = \"O\"\nsystem = \"S\"\nroles = [\"consumer\"]\nmailbox = \"pas-une-adresse\"\nsmtp = \"127.0.0.1\"\n[participant.tls]\nca = \"absent.pem\"\n";
    std::fs::write(
        &p,
        format!("{first}\n[[participant]]\nid = \"a\"\norganisation = \"O\"\nsystem = \"S\"\nroles = []\nfax = \"01\"\n"),
    )
    .unwrap();
    let (code, issues, _) = check(&[&s(&dir), "--participants", &s(&p)]);
    assert_eq!(code, 1);
    // An unknown key stops the file at that key.
    assert!(
        has(&issues, &["participants.toml:16", "fax"]),
        "{issues:#?}"
    );
    std::fs::write(&p, first).unwrap();
    let (code, issues, _) = check(&[&s(&dir), "--participants", &s(&p)]);
    assert_eq!(code, 1);
    for needle in [
        "adresse « pas-une-adresse » invalide",
        "smtp « 127.0.0.1 » : attendu HÔTE:PORT",
        "tls.ca « absent.pem » introuvable",
    ] {
        assert!(
            has(&issues, &["participants.toml:2", needle]),
            "{needle} in {issues:#?}"
        );
    }
}
