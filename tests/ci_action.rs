//! The CI integrations run here as a CI runner would run them: the GitHub composite action's
//! shell steps (inputs, `env:`, `GITHUB_OUTPUT`/`GITHUB_ENV` between steps; its `uses:` steps are
//! checked by name, not run) and the GitLab template's job script, with banc on PATH and the kit
//! served from a local HTTP server.
#![cfg(unix)]

mod common;

use common::kit_archive::{Temp, archives, serve};
use common::{kit, root};
use serde_yaml_ng::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A workspace with one valid and one invalid CR-BIO, and a bin folder holding `banc`.
fn workspace(t: &Temp) -> (PathBuf, String) {
    let ws = t.0.join("ws");
    std::fs::create_dir_all(ws.join("docs")).unwrap();
    for (from, to) in [
        ("fixtures/cr-bio/valid/tsh.xml", "docs/tsh.xml"),
        (
            "fixtures/cr-bio/invalid/act-status-wrong.xml",
            "docs/act-status-wrong.xml",
        ),
    ] {
        std::fs::copy(root().join(from), ws.join(to)).unwrap();
    }
    let bin = t.0.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_banc"), bin.join("banc")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (ws, path)
}

/// `KEY=value` lines of a `GITHUB_OUTPUT`/`GITHUB_ENV` file (`KEY<<EOF` blocks too).
fn key_values(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if let Some((k, delim)) = l.split_once("<<") {
            let mut v = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                v.push(l);
            }
            out.push((k.to_string(), v.join("\n")));
        } else if let Some((k, v)) = l.split_once('=') {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

/// What a composite action's run produced.
struct ActionRun {
    /// step id (or index) → outputs.
    outputs: HashMap<String, BTreeMap<String, String>>,
    /// (step name, exit status, stdout + stderr) of every shell step run.
    shell: Vec<(String, i32, String)>,
    /// `uses:` of the steps not run.
    uses: Vec<String>,
    action_outputs: BTreeMap<String, String>,
}

struct Runner<'a> {
    action_dir: PathBuf,
    inputs: &'a BTreeMap<String, String>,
    runner_temp: PathBuf,
    outputs: HashMap<String, BTreeMap<String, String>>,
}

impl Runner<'_> {
    /// `${{ ... }}` expressions of the contexts the action uses; any other is a test failure
    /// (the action grew something this runner does not imitate).
    fn expand(&self, text: &str) -> String {
        let re = regex::Regex::new(r"\$\{\{\s*(.*?)\s*\}\}").unwrap();
        re.replace_all(text, |c: &regex::Captures<'_>| {
            let e = &c[1];
            if let Some(name) = e.strip_prefix("inputs.") {
                return self
                    .inputs
                    .get(name)
                    .unwrap_or_else(|| panic!("unknown input {name}"))
                    .clone();
            }
            if let Some(rest) = e.strip_prefix("steps.") {
                let (id, out) = rest.split_once(".outputs.").expect("steps.ID.outputs.NAME");
                return self
                    .outputs
                    .get(id)
                    .and_then(|o| o.get(out))
                    .cloned()
                    .unwrap_or_default();
            }
            match e {
                "github.action_path" => self.action_dir.display().to_string(),
                "runner.temp" => self.runner_temp.display().to_string(),
                "runner.os" => "Linux".into(),
                _ => panic!("expression not imitated by the test: {e}"),
            }
        })
        .into_owned()
    }
}

/// Run the action's shell steps in `ws` with `inputs` over the action's defaults.
fn run_action(ws: &Path, path_env: &str, temp: &Path, given: &[(&str, &str)]) -> ActionRun {
    let action_dir = root().join(".github/actions/banc");
    let action: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(action_dir.join("action.yml")).unwrap())
            .unwrap();
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    let mut inputs = BTreeMap::new();
    for (k, v) in action["inputs"].as_mapping().unwrap() {
        let default = v["default"].as_str().unwrap_or("").to_string();
        inputs.insert(k.as_str().unwrap().to_string(), default);
    }
    for (k, v) in given {
        assert!(inputs.contains_key(*k), "the action has an input {k}");
        inputs.insert(k.to_string(), v.to_string());
    }
    let runner_temp = temp.join("runner-temp");
    std::fs::create_dir_all(&runner_temp).unwrap();
    let mut runner = Runner {
        action_dir: action_dir.clone(),
        inputs: &inputs,
        runner_temp: runner_temp.clone(),
        outputs: HashMap::new(),
    };
    let mut job_env: BTreeMap<String, String> = BTreeMap::new();
    let mut extra_path: Vec<String> = Vec::new();
    let mut shell = Vec::new();
    let mut uses = Vec::new();
    for (i, step) in action["runs"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .enumerate()
    {
        let name = step["name"].as_str().unwrap_or("").to_string();
        if let Some(u) = step["uses"].as_str() {
            uses.push(u.to_string());
            // Its `with:` must still expand (no typo in an input name).
            if let Some(with) = step["with"].as_mapping() {
                for v in with.values() {
                    runner.expand(v.as_str().unwrap_or(""));
                }
            }
            continue;
        }
        let script = step["run"].as_str().expect("a step is uses: or run:");
        assert_eq!(step["shell"].as_str(), Some("bash"), "{name}: shell");
        let script_file = temp.join(format!("step{i}.sh"));
        std::fs::write(&script_file, runner.expand(script)).unwrap();
        let files = ["GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH"].map(|f| {
            let p = temp.join(format!("{f}-{i}"));
            std::fs::write(&p, "").unwrap();
            (f, p)
        });
        let mut cmd = Command::new("bash");
        // As GitHub runs a bash step.
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script_file)
            .current_dir(ws)
            .env_clear()
            .env("HOME", temp)
            .env(
                "PATH",
                extra_path
                    .iter()
                    .map(String::as_str)
                    .chain([path_env])
                    .collect::<Vec<_>>()
                    .join(":"),
            )
            .env("RUNNER_TEMP", &runner_temp)
            .env("GITHUB_ACTION_PATH", &action_dir)
            .env("GITHUB_WORKSPACE", ws)
            .envs(files.iter().map(|(k, p)| (*k, p)))
            .envs(&job_env);
        if let Some(env) = step["env"].as_mapping() {
            for (k, v) in env {
                cmd.env(k.as_str().unwrap(), runner.expand(v.as_str().unwrap_or("")));
            }
        }
        let out = common::Run::of(&mut cmd);
        let text = out.text();
        let id = step["id"].as_str().map_or(i.to_string(), str::to_string);
        runner
            .outputs
            .insert(id, key_values(&files[0].1).into_iter().collect());
        job_env.extend(key_values(&files[1].1));
        extra_path.extend(
            std::fs::read_to_string(&files[2].1)
                .unwrap()
                .lines()
                .map(str::to_string),
        );
        let code = out.code;
        shell.push((name, code, text));
        if code != 0 {
            // The runner stops at a failed step (the later ones run only `if: always()`, and
            // those are the uploads).
            break;
        }
    }
    let mut action_outputs = BTreeMap::new();
    for (k, v) in action["outputs"].as_mapping().unwrap() {
        action_outputs.insert(
            k.as_str().unwrap().to_string(),
            runner.expand(v["value"].as_str().unwrap()),
        );
    }
    ActionRun {
        outputs: runner.outputs,
        shell,
        uses,
        action_outputs,
    }
}

#[test]
fn the_github_action_fetches_the_pinned_kit_validates_and_fails_the_job_on_a_bad_document() {
    let Some(kit) = kit() else { return };
    let (tgz, _) = archives(&kit);
    let pin = hex::encode(Sha256::digest(tgz));
    let url = serve(HashMap::from([("r1.tar.gz".to_string(), tgz.clone())]));
    let t = Temp::new("action");
    let (ws, path) = workspace(&t);
    let mirror = format!("{url}/{{ref}}.tar.gz");
    let inputs = [
        ("paths", "docs"),
        ("kit-ref", "r1"),
        ("kit-sha256", pin.as_str()),
        ("kit-url", mirror.as_str()),
    ];
    let run = run_action(&ws, &path, &t.0, &inputs);

    assert_eq!(
        run.uses,
        [
            "actions/cache@v4",
            "github/codeql-action/upload-sarif@v3",
            "mikepenz/action-junit-report@v5",
            "actions/upload-artifact@v4",
        ]
    );
    let steps: Vec<(&str, i32)> = run.shell.iter().map(|(n, c, _)| (n.as_str(), *c)).collect();
    assert_eq!(
        steps,
        [
            ("Install banc", 0),
            ("Kit folder", 0),
            ("Fetch the kit", 0),
            ("Validate", 0),
            ("Verdict", 1),
        ],
        "{:#?}",
        run.shell
    );
    assert!(
        run.shell[0].2.contains("banc already installed"),
        "{}",
        run.shell[0].2
    );
    // The kit went into the runner's temp folder (what actions/cache keeps), pinned.
    let kits = t.0.join("runner-temp/banc-data/kits");
    assert!(
        kits.join("r1/infrastructure/cda/CDA_extended.xsd")
            .is_file()
    );
    assert_eq!(run.outputs["kit"]["sha256"], pin);
    assert_eq!(run.action_outputs["kit-sha256"], pin);
    // One document fails: status 1, and the last step fails the job with it.
    assert_eq!(run.outputs["validate"]["status"], "1");
    assert_eq!(run.action_outputs["status"], "1");
    let junit = std::fs::read(ws.join("banc-junit.xml")).expect("JUnit report written");
    common::assert_junit_valid(&junit);
    let junit = String::from_utf8(junit).unwrap();
    assert!(
        junit.contains("name=\"banc.kit.ref\" value=\"r1\""),
        "{junit}"
    );
    assert!(junit.contains("docs/act-status-wrong.xml"), "{junit}");
    // The SARIF file the upload step sends: one run, the failing document among its results.
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.join("banc.sarif")).expect("SARIF written"))
            .unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(
        sarif["runs"][0]["results"]
            .to_string()
            .contains("act-status-wrong.xml"),
        "{sarif}"
    );

    // Again over the valid document only (the kit "restored"): nothing downloaded, job passes.
    let inputs = [
        ("paths", "docs/tsh.xml"),
        ("kit-ref", "r1"),
        ("kit-sha256", pin.as_str()),
        ("kit-url", "http://127.0.0.1:9/{ref}.tar.gz"),
        ("sarif", ""),
    ];
    let run = run_action(&ws, &path, &t.0, &inputs);
    let fetched = std::fs::read_to_string(t.0.join("runner-temp/banc-kit.json")).unwrap();
    assert!(fetched.contains("\"already_installed\":true"), "{fetched}");
    assert_eq!(run.shell.last().map(|s| s.1), Some(0), "{:#?}", run.shell);
    assert_eq!(run.action_outputs["status"], "0");
}

#[test]
fn the_gitlab_template_writes_its_junit_and_code_quality_reports() {
    let Some(kit) = kit() else { return };
    let (tgz, _) = archives(&kit);
    let pin = hex::encode(Sha256::digest(tgz));
    let url = serve(HashMap::from([("r1.tar.gz".to_string(), tgz.clone())]));
    let t = Temp::new("gitlab");
    let (ws, path) = workspace(&t);
    let tpl: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root().join("ci/gitlab/banc.gitlab-ci.yml")).unwrap(),
    )
    .unwrap();
    let job = &tpl[".banc"];
    let reports = &job["artifacts"]["reports"];
    let (junit, quality) = (
        reports["junit"].as_str().unwrap(),
        reports["codequality"].as_str().unwrap(),
    );
    assert_eq!(job["artifacts"]["when"].as_str(), Some("always"));
    let mut vars: BTreeMap<String, String> = job["variables"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_string(),
                v.as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let mirror = format!("{url}/{{ref}}.tar.gz");
    for (k, v) in [
        ("BANC_PATHS", "docs"),
        ("BANC_KIT_REF", "r1"),
        ("BANC_KIT_SHA256", pin.as_str()),
        ("BANC_KIT_MIRROR", mirror.as_str()),
    ] {
        assert!(vars.contains_key(k), "the template has a variable {k}");
        vars.insert(k.into(), v.into());
    }
    // GitLab expands $CI_PROJECT_DIR in variables.
    let ws_s = ws.display().to_string();
    for v in vars.values_mut() {
        *v = v.replace("$CI_PROJECT_DIR", &ws_s);
    }
    let script: Vec<&str> = job["script"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let out = common::Run::of(
        Command::new("sh")
            .arg("-c")
            .arg(script.join("\n"))
            .current_dir(&ws)
            .env_clear()
            .env("HOME", &t.0)
            .env("PATH", &path)
            .env("CI_PROJECT_DIR", &ws)
            .envs(&vars),
    );
    assert_eq!(out.code, 1, "one document fails: {}", out.text());
    assert!(
        ws.join(".banc-data/kits/r1").is_dir(),
        "the cached folder holds the kit"
    );
    common::assert_junit_valid(&std::fs::read(ws.join(junit)).unwrap());
    // Code Quality: one issue per finding, GitLab's fields, unique fingerprints.
    let issues: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.join(quality)).unwrap()).unwrap();
    let issues = issues.as_array().unwrap();
    assert!(!issues.is_empty());
    let mut fingerprints = std::collections::BTreeSet::new();
    for i in issues {
        assert!(
            i["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{i}"
        );
        assert!(i["check_name"].as_str().is_some(), "{i}");
        assert!(
            ["info", "minor", "major", "critical", "blocker"]
                .contains(&i["severity"].as_str().unwrap()),
            "{i}"
        );
        assert!(
            i["location"]["path"].as_str().unwrap().starts_with("docs/"),
            "{i}"
        );
        assert!(
            i["location"]["lines"]["begin"].as_u64().unwrap() >= 1,
            "{i}"
        );
        assert!(fingerprints.insert(i["fingerprint"].as_str().unwrap().to_string()));
    }
    let major = issues
        .iter()
        .find(|i| i["check_name"] == "banc.cr-bio.act-status");
    assert_eq!(
        major.map(|i| (i["severity"].as_str(), i["location"]["path"].as_str())),
        Some((Some("major"), Some("docs/act-status-wrong.xml")))
    );
    // The same run twice: the same fingerprints (GitLab compares them between pipelines).
    let again = Command::new(env!("CARGO_BIN_EXE_banc"))
        .current_dir(&ws)
        .env("BANC_DATA", ws.join(".banc-data"))
        .args(["validate", "--codequality", "again.json", "docs"])
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.join("again.json")).unwrap()).unwrap();
    let again: std::collections::BTreeSet<String> = again
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["fingerprint"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(again, fingerprints);
}
