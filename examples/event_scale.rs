//! How an event's store holds up at the size of a large projectathon: 300 participants × 40
//! instances × 5 attempts (three recorded steps each, the audit entry of every status change),
//! then the time of `score` and `worklist` (best and median of 7) and the database size.
//! Prints figures; no assertion. `cargo run --release --example event_scale -- [DIR]`

use banc::event::store::{self, Store};
use banc::scenario::model::Kind;
use banc::scenario::results::{Status, StepResult};
use rusqlite::params;
use std::time::{Duration, Instant};

const PARTICIPANTS: usize = 300;
const INSTANCES: usize = 40;
const ATTEMPTS: usize = 5;

fn step(n: usize, status: Status, manual: bool) -> StepResult {
    StepResult {
        id: format!("étape-{n}"),
        kind: if manual {
            Kind::Monitor
        } else {
            Kind::AwaitMail
        },
        title: Some("Le logiciel intègre les résultats".into()),
        status,
        message: "message reçu : attentes satisfaites".into(),
        duration_ms: 120,
        log: vec!["12:03:04.120 reçu 1733 de <sgl@labo.test> (48211 octets, TLSv1.3)".into()],
        checks: Vec::new(),
        reports: Vec::new(),
        instructions: manual.then(|| "Vérifier dans le DPI les résultats de GAUTIER Sophie".into()),
        checklist: if manual {
            vec![
                "Les résultats LOINC sont intégrés".into(),
                "Le PDF est lisible".into(),
            ]
        } else {
            Vec::new()
        },
        evidence: Vec::new(),
        decision: None,
    }
}

fn timed(mut f: impl FnMut() -> usize) -> (Duration, Duration, usize) {
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..7 {
        let t = Instant::now();
        n = f();
        times.push(t.elapsed());
    }
    times.sort();
    (times[0], times[3], n)
}

fn main() -> Result<(), String> {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("banc-event-scale-{}", std::process::id()))
        });
    let _ = std::fs::remove_dir_all(&dir);
    let e = |e: banc::event::Error| e.to_string();
    let mut st = Store::create(&dir).map_err(e)?;
    // The audit log's head is signed with the event's key (a fixed one will do here).
    std::fs::write(dir.join(banc::event::KEY_FILE), "42".repeat(32)).map_err(|x| x.to_string())?;
    let t0 = Instant::now();
    let ok = json(&step(1, Status::Passed, false));
    let pending = json(&step(3, Status::Pending, true));
    st.write(|tx| {
        tx.execute(
            "INSERT INTO suites (id, dir, title, version, hash, files, grading) VALUES ('cr-bio', 'suites/cr-bio', 'CR-BIO', '2026.1', 'sha256:0', '{}', '{}')",
            [],
        )?;
        let now = "2026-12-07T09:00:00.000Z";
        tx.execute(
            "INSERT INTO runs (started, finished, pid, command, submissions) VALUES (?1, ?1, 1, 'run', 'submissions')",
            [now],
        )?;
        for p in 0..PARTICIPANTS {
            let pid = format!("labo-{p:03}");
            let role = if p % 2 == 0 { "producer" } else { "consumer" };
            tx.execute(
                "INSERT INTO participants (id, organisation, system, roles, mailbox) VALUES (?1, ?2, 'SGL', ?3, ?4)",
                params![pid, format!("Laboratoire {p}"), role, format!("sgl@{pid}.test")],
            )?;
            for s in 0..INSTANCES {
                let scenario = format!("CRBIO-X{s:02}");
                let id = format!("{pid}/{scenario}/{role}");
                // The latest attempt decides: most pass, some fail, one in ten waits for a
                // monitor, some were verified.
                let last = match (p + s) % 10 {
                    0..=5 => "passed",
                    6 => "failed",
                    7 => "to-verify",
                    8 => "verified",
                    _ => "skipped",
                };
                tx.execute(
                    "INSERT INTO instances (id, participant, suite, scenario, role, level, required, title, status, since)
                     VALUES (?1, ?2, 'cr-bio', ?3, ?4, ?5, ?6, 'Scénario', 'not-started', ?7)",
                    params![id, pid, scenario, role, ["N1", "N2", "N3"][s % 3], s % 4 != 0, now],
                )?;
                for a in 1..=ATTEMPTS {
                    let status = if a == ATTEMPTS { last } else { "failed" };
                    let runner = match status {
                        "to-verify" | "verified" => "pending",
                        x => x,
                    };
                    tx.execute(
                        "INSERT INTO attempts (instance, number, run, status, partner, started, finished, banc, report)
                         VALUES (?1, ?2, 1, ?3, 'banc', ?4, ?4, '0.1.0', ?5)",
                        params![id, a as i64, runner, now, "0".repeat(64)],
                    )?;
                    let attempt = tx.last_insert_rowid();
                    for n in 1..=3 {
                        let manual = n == 3 && runner == "pending";
                        tx.execute(
                            "INSERT INTO steps (attempt, n, id, kind, status, message, result, at) VALUES (?1, ?2, ?3, 'await-mail', ?4, 'ok', ?5, ?6)",
                            params![
                                attempt,
                                n,
                                format!("étape-{n}"),
                                if manual { "pending" } else { "passed" },
                                if manual { &pending } else { &ok },
                                now
                            ],
                        )?;
                    }
                    store::audit(tx, "banc", &id, "statut", Some("running"), Some(status), Some("tentative"))?;
                }
                let status = if last == "verified" { "verified" } else { last };
                tx.execute(
                    "UPDATE instances SET status = ?2 WHERE id = ?1",
                    params![id, status],
                )?;
            }
        }
        Ok(())
    })
    .map_err(e)?;
    let built = t0.elapsed();
    drop(st);
    let st = Store::open(&dir).map_err(e)?;
    st.conn()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .map_err(|x| x.to_string())?;
    let size = std::fs::metadata(dir.join(store::DB))
        .map(|m| m.len())
        .unwrap_or(0);
    let (best, median, rows) = timed(|| {
        banc::event::score::scores(&st)
            .map(|r| r.len())
            .unwrap_or(0)
    });
    println!(
        "event: {PARTICIPANTS} participants × {INSTANCES} instances × {ATTEMPTS} attempts = {} attempts, {} step rows; built in {:.1} s",
        PARTICIPANTS * INSTANCES * ATTEMPTS,
        PARTICIPANTS * INSTANCES * ATTEMPTS * 3,
        built.as_secs_f64()
    );
    println!(
        "database: {:.1} MiB ({})",
        size as f64 / 1048576.0,
        dir.join(store::DB).display()
    );
    println!(
        "score:    {rows} rows, best {:.1} ms, median {:.1} ms",
        best.as_secs_f64() * 1000.0,
        median.as_secs_f64() * 1000.0
    );
    let (best, median, n) = timed(|| {
        banc::event::monitor::worklist(&st, None)
            .map(|w| w.len())
            .unwrap_or(0)
    });
    println!(
        "worklist: {n} items, best {:.1} ms, median {:.1} ms",
        best.as_secs_f64() * 1000.0,
        median.as_secs_f64() * 1000.0
    );
    let (best, median, n) = timed(|| {
        banc::event::monitor::worklist(&st, Some("Claire Martin"))
            .map(|w| w.len())
            .unwrap_or(0)
    });
    println!(
        "worklist --monitor: {n} items, best {:.1} ms, median {:.1} ms",
        best.as_secs_f64() * 1000.0,
        median.as_secs_f64() * 1000.0
    );
    let (best, median, n) = timed(|| {
        banc::event::instances(st.conn(), Some("labo-150"))
            .map(|w| w.len())
            .unwrap_or(0)
    });
    println!(
        "status --participant: {n} instances, best {:.1} ms, median {:.1} ms",
        best.as_secs_f64() * 1000.0,
        median.as_secs_f64() * 1000.0
    );
    Ok(())
}

fn json(s: &StepResult) -> String {
    serde_json::to_string(s).unwrap_or_default()
}
