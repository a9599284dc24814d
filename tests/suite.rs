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
            let col = i["column"]
                .as_u64()
                .map(|c| format!(":{c}"))
                .unwrap_or_default();
            match i["line"].as_u64() {
                Some(l) => format!(
                    "{} {file}:{l}{col} {}",
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

const SUITE: &str = "id = \"demo\"\ntitle = \"Démo\"\ntimeout = \"5m\"\n";

/// A suite folder `<tmp>/suites/demo` holding copies of the repository's valid CR-BIO documents
/// (`cr-bio/valid/*.xml`: a suite names only its own files).
fn suite(name: &str, scenarios: &[(&str, &str)]) -> std::path::PathBuf {
    let root = tempdir(&format!("suite-{name}"));
    let dir = root.join("suites/demo");
    write(&dir, "suite.toml", SUITE);
    std::fs::create_dir_all(dir.join("cr-bio/valid")).unwrap();
    for doc in ["tsh.xml", "nfs-crp.xml"] {
        std::fs::copy(
            common::root().join("fixtures/cr-bio/valid").join(doc),
            dir.join("cr-bio/valid").join(doc),
        )
        .unwrap();
    }
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
    ] {
        assert!(
            has(&issues, &["participants.toml:2", needle]),
            "{needle} in {issues:#?}"
        );
    }
    // A path is pointed at where it is written.
    assert!(
        has(
            &issues,
            &["participants.toml:9:6", "tls.ca « absent.pem » introuvable"]
        ),
        "{issues:#?}"
    );
}

/// `from` copied to `to`, folders and files (no links: the cases make theirs).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The hostile suites of `tests/hostile/suite/` (README there): every path leading out of the
/// suite folder — `..`, absolute, a link to a file or a folder outside, a scenario file that is
/// such a link, a fixtures folder outside — is an error of `banc suite check` at the value that
/// names it, and `banc rehearse` stops before anything runs: no output folder, nothing copied.
#[test]
fn paths_leading_out_of_a_suite_are_errors_and_nothing_is_read() {
    let cases = common::root().join("tests/hostile/suite");
    let mut seen = 0;
    for case in std::fs::read_dir(&cases).unwrap() {
        let case = case.unwrap().path();
        if !case.is_dir() {
            continue;
        }
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let dir = tempdir(&format!("hostile-suite-{name}"));
        copy_tree(&case, &dir);
        if let Ok(links) = std::fs::read_to_string(case.join("links.txt")) {
            for l in links.lines().filter(|l| !l.trim().is_empty()) {
                let (link, target) = l.split_once(" -> ").expect("PATH -> TARGET");
                std::os::unix::fs::symlink(target.trim(), dir.join(link.trim())).unwrap();
            }
        }
        let expected = std::fs::read_to_string(case.join("expected.txt")).unwrap();
        let expected: Vec<(&str, &str)> = expected
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.split_once(" | ").expect("LOCATION | TEXT"))
            .collect();
        let suite = dir.join("suite");
        let (code, issues, v) = check(&[&s(&suite)]);
        assert_eq!(code, 1, "{name}: {issues:#?}");
        for (at, text) in &expected {
            let at = format!(" {at}");
            assert!(
                has(&issues, &["error", &at, text]),
                "{name}: {at} {text} in {issues:#?}"
            );
        }
        assert_eq!(v["errors"], expected.len(), "{name}: {issues:#?}");
        assert!(
            !v.to_string().contains("SECRET-HOTE"),
            "{name}: nothing of the files outside is read"
        );
        let out = dir.join("out");
        let r = run(&["rehearse", &s(&suite), "--out", &s(&out)]);
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(r.stderr.contains(expected[0].1), "{name}: {}", r.stderr);
        assert!(!out.exists(), "{name}: rehearse wrote nothing");
        seen += 1;
    }
    assert!(seen >= 5, "{seen} cases");
}

/// A participants file names files of its own folder only (its `tls` paths), like a suite, and
/// its `hosts` are host names or addresses; `banc run` refuses such a file before anything runs.
#[test]
fn participants_paths_stay_in_their_folder_and_hosts_are_hosts() {
    let dir = suite(
        "participants-scope",
        &[(
            "C01.toml",
            &format!("id = \"C01\"\n{HEAD}\n[[step]]\nkind = \"monitor\"\ninstructions = \"x\"\n"),
        )],
    );
    let root = dir.parent().unwrap().parent().unwrap();
    std::fs::write(root.join("cle-de-l-hote.pem"), "SECRET-HOTE").unwrap();
    let pdir = root.join("evenement");
    std::fs::create_dir_all(pdir.join("certs")).unwrap();
    std::fs::write(pdir.join("certs/ca.pem"), "ca").unwrap();
    std::os::unix::fs::symlink("../../cle-de-l-hote.pem", pdir.join("certs/client.key")).unwrap();
    let p = pdir.join("participants.toml");
    std::fs::write(
        &p,
        "[[participant]]\nid = \"a\"\norganisation = \"O\"\nsystem = \"S\"\nroles = [\"consumer\"]\nmailbox = \"a@b.test\"\nsmtp = \"127.0.0.1:1\"\nhosts = [\"depot.labo.test\", \"https://depot.labo.test:8443/\", \"127.0.0.1\"]\n\n[[participant]]\nid = \"b\"\norganisation = \"O\"\nsystem = \"S\"\nroles = [\"consumer\"]\nmailbox = \"b@b.test\"\nsmtp = \"127.0.0.1:2\"\n[participant.tls]\nca = \"../cle-de-l-hote.pem\"\ncert = \"/etc/hostname\"\nkey = \"certs/client.key\"\n",
    )
    .unwrap();
    let (code, issues, v) = check(&[&s(&dir), "--participants", &s(&p)]);
    assert_eq!(code, 1, "{issues:#?}");
    for needles in [
        &[
            "participants.toml:8:29",
            "hosts « https://depot.labo.test:8443/ »",
            "nom d'hôte ou une adresse IP",
        ][..],
        &[
            "participants.toml:18:6",
            "tls.ca « ../cle-de-l-hote.pem » refusé : le chemin sort du dossier",
        ],
        &[
            "participants.toml:19:8",
            "tls.cert « /etc/hostname » refusé : chemin absolu",
        ],
        &[
            "participants.toml:20:7",
            "tls.key « certs/client.key » refusé : un lien mène hors du dossier",
        ],
    ] {
        assert!(has(&issues, needles), "{needles:?} in {issues:#?}");
    }
    assert_eq!(v["errors"], 4, "{issues:#?}");
    let out = root.join("out");
    let r = run(&[
        "run",
        &s(&dir),
        "--participants",
        &s(&p),
        "--smtp-listen",
        "127.0.0.1:0",
        "--out",
        &s(&out),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("tls.key « certs/client.key » refusé"),
        "{}",
        r.stderr
    );
    assert!(!out.exists(), "nothing ran");
}

/// suites/cr-bio carries its own documents (a suite names only its own files): copies of the
/// fixtures, which must not drift from them.
#[test]
fn cr_bio_documents_are_the_fixtures() {
    let root = common::root();
    for (copy, fixture) in [
        ("tsh.xml", "valid/tsh.xml"),
        ("nfs-crp.xml", "valid/nfs-crp.xml"),
        ("glycemie-ionogramme.xml", "valid/glycemie-ionogramme.xml"),
        ("ins-bad-key.xml", "invalid/ins-bad-key.xml"),
    ] {
        assert!(
            std::fs::read(root.join("suites/cr-bio/documents").join(copy)).unwrap()
                == std::fs::read(root.join("fixtures/cr-bio").join(fixture)).unwrap(),
            "suites/cr-bio/documents/{copy} differs from fixtures/cr-bio/{fixture}"
        );
    }
}
