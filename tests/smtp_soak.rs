//! Soak of `banc mail serve` on loopback, at full size in every run (`cargo test --release` in CI):
//! - 20 clients × 1,000 messages while the server is SIGKILLed and restarted on the same spool
//!   every 200 acknowledged messages: every message acknowledged `250` is in the spool byte for
//!   byte (accepted-and-lost = 0), nothing half-written is committed, duplicates (stored, `250`
//!   lost in the kill, sent again: RFC 5321 §6.1 allows it) are counted and bounded;
//! - 1,000 idle connections against `--max-connections 100`, three times: exactly 100 greeted,
//!   900 refused `421 4.3.2` and closed, the greeted ones closed `421 4.4.2` at the command
//!   timeout, and the server's RSS does not grow;
//! - the listening socket queues such a burst without dropping SYNs.
//!
//! Run with `--nocapture` to see the figures.

mod common;

use common::{SmtpConn as Conn, tempdir};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

const CLIENTS: usize = 20;
const PER_CLIENT: usize = 1_000;
const TOTAL: usize = CLIENTS * PER_CLIENT;
const KILL_EVERY: usize = 200;
/// A run that takes longer than this fails instead of hanging CI.
const SOAK_BOUND: Duration = Duration::from_secs(15 * 60);

/// The tests measure time, memory and descriptors: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `banc mail serve` on 127.0.0.1:0: its stdout is drained (one line per analysed message), its
/// stderr lines (recovery reports) are kept for the figures.
struct Server {
    child: Child,
    port: u16,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    fn start(spool: &Path, args: &[&str]) -> Server {
        let mut child = common::banc()
            .args(["mail", "serve", "--listen", "127.0.0.1:0", "--spool"])
            .arg(spool)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("banc mail serve starts");
        let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let (first_tx, first_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(out).lines().map_while(Result::ok);
            if let Some(l) = lines.next() {
                let _ = first_tx.send(l);
            }
            lines.for_each(drop);
        });
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = err_tx.send(l);
            }
        });
        let first = first_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                let err: Vec<String> = err_rx.try_iter().collect();
                panic!("no start line; stderr: {err:?}")
            });
        let prefix = "banc mail serve: écoute sur 127.0.0.1:";
        let port = first
            .strip_prefix(prefix)
            .and_then(|r| r.split(' ').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("start line: {first}"));
        Server {
            child,
            port,
            stderr: err_rx,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sum of what the recovery lines of the server's stderr report, by kind.
#[derive(Debug, Default)]
struct Recoveries {
    restarts_repaired: usize,
    tmp_removed: usize,
    reconciled: usize,
    removed: usize,
    corrupt_lines: usize,
    missing: usize,
    other: Vec<String>,
}

impl Recoveries {
    fn add(&mut self, lines: impl Iterator<Item = String>) {
        for l in lines {
            let Some(rest) = l.strip_prefix("banc mail serve: reprise du spool : ") else {
                self.other.push(l);
                continue;
            };
            let n: Vec<usize> = rest
                .split(", ")
                .map(|part| {
                    let digits = part.trim_start().split(' ').next().unwrap_or("");
                    digits
                        .parse()
                        .unwrap_or_else(|_| panic!("recovery line: {l}"))
                })
                .collect();
            assert_eq!(n.len(), 6, "recovery line: {l}");
            self.restarts_repaired += 1;
            self.tmp_removed += n[0];
            self.reconciled += n[2];
            self.removed += n[3];
            self.corrupt_lines += n[4];
            self.missing += n[5];
        }
    }
}

/// Message `m` of client `c`: small, its own Message-ID and token, never a leading dot.
fn message(c: usize, m: usize) -> (String, Vec<u8>) {
    let token = format!("c{c:02}-m{m:04}");
    let mut text = format!(
        "From: <client{c}@labo.test>\r\nTo: <dpi@chu.test>\r\nSubject: endurance {token}\r\n\
         Message-ID: <soak-{token}@labo.test>\r\nX-Banc-Token: {token}\r\n\r\n"
    );
    for l in 0..8 {
        text.push_str(&format!(
            "ligne {l} du message {token} : {}\r\n",
            "abcdefghij".repeat(5)
        ));
    }
    (token, text.into_bytes())
}

fn token_of(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .find_map(|l| l.strip_prefix("X-Banc-Token: ").map(str::to_string))
}

/// A failure of one attempt: the server went away (expected: it is killed), or it answered
/// something else than the script expects (a defect unless it is about going away).
enum Failure {
    Refused,
    Io,
    Reply(String),
}

impl From<std::io::Error> for Failure {
    fn from(_: std::io::Error) -> Failure {
        Failure::Io
    }
}

fn expect(conn: &mut Conn, line: &str, want: u16) -> Result<(), Failure> {
    conn.tcp.write_all(format!("{line}\r\n").as_bytes())?;
    let (code, text) = conn.reply()?;
    if code != want {
        return Err(Failure::Reply(format!("{line} → {text}")));
    }
    Ok(())
}

#[derive(Default)]
struct Outcome {
    /// token → the id of its `250`.
    acked: BTreeMap<String, String>,
    /// Tokens whose DATA was sent to its final dot at least once.
    completed: BTreeSet<String>,
    /// Connections refused (the server restarting), sessions opened, sessions broken (killed).
    refused: usize,
    connections: usize,
    broken: usize,
    /// Replies other than the expected ones (text), e.g. a 4xx from a server in trouble.
    odd_replies: Vec<String>,
}

struct Shared {
    port: AtomicU16,
    acks: AtomicUsize,
    out: Mutex<Outcome>,
    deadline: Instant,
}

/// Client `c` sends its messages in order on one connection; when an attempt fails (the server
/// was killed) it reconnects to the current server and sends the same message again, until `250`.
fn client(c: usize, shared: &Shared) {
    let mut conn: Option<Conn> = None;
    for m in 0..PER_CLIENT {
        let (token, mut data) = message(c, m);
        data.extend_from_slice(b".\r\n");
        loop {
            assert!(
                Instant::now() < shared.deadline,
                "client {c} at message {m} after {SOAK_BOUND:?}"
            );
            let attempt = |conn: &mut Option<Conn>| -> Result<String, Failure> {
                if conn.is_none() {
                    let port = shared.port.load(Ordering::SeqCst);
                    let mut fresh =
                        Conn::open(port, Duration::from_secs(60)).map_err(|_| Failure::Refused)?;
                    shared.out.lock().unwrap().connections += 1;
                    let (code, text) = fresh.reply()?;
                    if code != 220 {
                        return Err(Failure::Reply(format!("greeting → {text}")));
                    }
                    expect(&mut fresh, &format!("EHLO client{c}"), 250)?;
                    *conn = Some(fresh);
                }
                let Some(conn) = conn.as_mut() else {
                    unreachable!()
                };
                expect(conn, &format!("MAIL FROM:<client{c}@labo.test>"), 250)?;
                expect(conn, "RCPT TO:<dpi@chu.test>", 250)?;
                expect(conn, "DATA", 354)?;
                // One write: the final dot held back by Nagle behind the message would wait for
                // the server's delayed ACK (40 ms per message).
                conn.tcp.write_all(&data)?;
                shared.out.lock().unwrap().completed.insert(token.clone());
                let (code, text) = conn.reply()?;
                text.strip_prefix("250 2.0.0 Ok: queued as ")
                    .filter(|_| code == 250)
                    .map(str::to_string)
                    .ok_or(Failure::Reply(format!("end of DATA → {text}")))
            };
            match attempt(&mut conn) {
                Ok(id) => {
                    let mut out = shared.out.lock().unwrap();
                    assert!(out.acked.insert(token.clone(), id).is_none());
                    drop(out);
                    shared.acks.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                Err(f) => {
                    conn = None;
                    let mut out = shared.out.lock().unwrap();
                    match f {
                        Failure::Refused => out.refused += 1,
                        Failure::Io => out.broken += 1,
                        Failure::Reply(r) => out.odd_replies.push(r),
                    }
                    drop(out);
                    // The server is being restarted: let it come back.
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    if let Some(mut conn) = conn {
        let _ = expect(&mut conn, "QUIT", 221);
    }
}

#[test]
fn soak_20_clients_1000_messages_sigkill_every_200_acks() {
    let _serial = serial();
    let root = tempdir("smtp-soak");
    let spool = root.join("spool");
    eprintln!("soak: spool {} (kept if the test fails)", spool.display());
    let started = Instant::now();
    let mut server = Server::start(&spool, &[]);
    let shared = Arc::new(Shared {
        port: AtomicU16::new(server.port),
        acks: AtomicUsize::new(0),
        out: Mutex::new(Outcome::default()),
        deadline: started + SOAK_BOUND,
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let shared = shared.clone();
            std::thread::spawn(move || client(c, &shared))
        })
        .collect();
    let mut recoveries = Recoveries::default();
    let (mut kills, mut next_kill) = (0usize, KILL_EVERY);
    let mut down = Duration::ZERO;
    let mut acks_at_kill = Vec::new();
    // Kill on counts of acknowledgements: at 200, 400, … 19,800 (99 kills), whatever the speed.
    loop {
        let acks = shared.acks.load(Ordering::SeqCst);
        if acks >= next_kill && next_kill < TOTAL {
            server.kill();
            let t = Instant::now();
            recoveries.add(server.stderr.try_iter());
            acks_at_kill.push(acks);
            server = Server::start(&spool, &[]);
            down += t.elapsed();
            shared.port.store(server.port, Ordering::SeqCst);
            kills += 1;
            next_kill += KILL_EVERY;
        } else if clients.iter().all(|c| c.is_finished()) {
            // Done, or a client failed: join below says which.
            break;
        }
        assert!(
            Instant::now() < shared.deadline,
            "{acks} acknowledged after {SOAK_BOUND:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    for c in clients {
        c.join().expect("client thread");
    }
    let elapsed = started.elapsed();
    // One more crash and recovery after the last message, then the spool is read while the
    // server runs (recovery is done before its start line; no client writes any more).
    server.kill();
    recoveries.add(server.stderr.try_iter());
    let last = Server::start(&spool, &[]);
    let out = std::mem::take(&mut *shared.out.lock().unwrap());
    assert_eq!(kills, TOTAL / KILL_EVERY - 1);
    assert_eq!(out.acked.len(), TOTAL, "every message acknowledged once");

    let msg = spool.join("msg");
    // token → ids of the stored copies.
    let mut stored: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for e in std::fs::read_dir(&msg).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".eml") else {
            assert!(
                name.ends_with(".envelope.json") || name.ends_with(".report.json"),
                "unexpected file in msg/: {name}"
            );
            continue;
        };
        let envelope = msg.join(format!("{id}.envelope.json"));
        assert!(envelope.is_file(), "{id}: no envelope");
        let bytes = std::fs::read(&path).unwrap();
        let token =
            token_of(&bytes).unwrap_or_else(|| panic!("{id}: no token ({} bytes)", bytes.len()));
        let (c, m) = token
            .strip_prefix('c')
            .and_then(|t| t.split_once("-m"))
            .and_then(|(c, m)| Some((c.parse().ok()?, m.parse().ok()?)))
            .unwrap_or_else(|| panic!("{id}: token {token}"));
        assert_eq!(
            bytes,
            message(c, m).1,
            "{id} ({token}) is not byte-identical to what was sent"
        );
        assert!(
            out.completed.contains(&token),
            "{token} stored though its DATA was never completed"
        );
        stored.entry(token).or_default().push(id.to_string());
        files.insert(id.to_string(), bytes);
    }
    let leftovers: Vec<String> = std::fs::read_dir(spool.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".report.json"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "left in tmp/ after recovery: {leftovers:?}"
    );

    // The index, the commit record: whole lines, each naming a whole message (size and hash).
    let index = std::fs::read_to_string(spool.join("index.jsonl")).unwrap();
    let mut indexed = BTreeSet::new();
    for line in index.lines() {
        let e: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("index line {line}: {e}"));
        let id = e["id"].as_str().unwrap().to_string();
        let bytes = files
            .get(&id)
            .unwrap_or_else(|| panic!("{id} indexed but not in msg/"));
        assert_eq!(e["size"].as_u64(), Some(bytes.len() as u64), "{id} size");
        use sha2::Digest;
        assert_eq!(
            e["sha256"].as_str(),
            Some(hex::encode(sha2::Sha256::digest(bytes)).as_str()),
            "{id} hash"
        );
        assert!(indexed.insert(id.clone()), "{id} indexed twice");
    }
    let in_msg: BTreeSet<String> = files.keys().cloned().collect();
    assert_eq!(
        indexed, in_msg,
        "the index lists exactly the messages in msg/"
    );

    let lost: Vec<(&String, &String)> = out
        .acked
        .iter()
        .filter(|(t, id)| !stored.get(*t).is_some_and(|ids| ids.contains(id)))
        .collect();
    let duplicates: usize = stored.values().map(|ids| ids.len() - 1).sum();
    let unacked_stored = stored
        .keys()
        .filter(|t| !out.acked.contains_key(*t))
        .count();
    drop(last);
    let mean_acks_between = acks_at_kill.windows(2).map(|w| w[1] - w[0]).sum::<usize>() as f64
        / (acks_at_kill.len().max(2) - 1) as f64;
    println!(
        "soak: {CLIENTS} clients × {PER_CLIENT} messages ({} bytes each): {} acknowledged, {} stored, \
         accepted-and-lost {}, duplicates {duplicates}, stored unacknowledged {unacked_stored}; \
         {kills} SIGKILL (+1 final), {:.0} acks between kills on average; \
         {:.1} s = {:.0} messages/s including {:.1} s of restarts ({:.0} ms each); \
         client sessions {} (broken by a kill {}), connections refused while restarting {}, odd replies {}; \
         recoveries: {} repaired, tmp removed {}, reconciled {}, removed {}, corrupt index lines {}, missing {}",
        message(0, 0).1.len(),
        out.acked.len(),
        files.len(),
        lost.len(),
        mean_acks_between,
        elapsed.as_secs_f64(),
        TOTAL as f64 / elapsed.as_secs_f64(),
        down.as_secs_f64(),
        down.as_secs_f64() * 1000.0 / kills.max(1) as f64,
        out.connections,
        out.broken,
        out.refused,
        out.odd_replies.len(),
        recoveries.restarts_repaired,
        recoveries.tmp_removed,
        recoveries.reconciled,
        recoveries.removed,
        recoveries.corrupt_lines,
        recoveries.missing,
    );
    assert!(
        lost.is_empty(),
        "accepted and lost: {:?}",
        &lost[..lost.len().min(10)]
    );
    // One message in flight per client at each kill, at most.
    assert!(
        duplicates <= (kills + 1) * CLIENTS,
        "{duplicates} duplicates for {kills} kills"
    );
    assert_eq!(unacked_stored, 0, "every message was retried to its 250");
    assert_eq!(
        (recoveries.corrupt_lines, recoveries.missing),
        (0, 0),
        "recovery found a broken commit record"
    );
    assert!(
        out.odd_replies.is_empty(),
        "replies other than expected: {:?}",
        &out.odd_replies[..out.odd_replies.len().min(10)]
    );
    assert!(
        recoveries.other.is_empty(),
        "server stderr: {:?}",
        &recoveries.other[..recoveries.other.len().min(10)]
    );
    remove(&root);
}

/// Remove a test folder of tens of thousands of files: unlinks in parallel, as on a loaded disk
/// one unlink can wait milliseconds for the journal (one at a time: minutes for the spool).
fn remove(root: &Path) {
    let files: Vec<std::path::PathBuf> = ["msg", "tmp"]
        .iter()
        .filter_map(|d| std::fs::read_dir(root.join("spool").join(d)).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    let files = Arc::new(Mutex::new(files));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let files = files.clone();
            std::thread::spawn(move || {
                loop {
                    let Some(f) = files.lock().unwrap().pop() else {
                        return;
                    };
                    let _ = std::fs::remove_file(f);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let _ = std::fs::remove_dir_all(root);
}

/// Resident memory of a process in kB (`VmRSS` of /proc/PID/status).
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// Enough descriptors for 1,000 sockets (soft limit raised to the hard one).
fn raise_nofile(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a stack struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want as libc::rlim_t {
            lim.rlim_cur = lim.rlim_max;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
    assert!(
        lim.rlim_cur >= want as libc::rlim_t,
        "descriptor limit {} < {want}: raise `ulimit -n`",
        lim.rlim_cur
    );
}

const IDLE: usize = 1_000;
const LIMIT: usize = 100;
const COMMAND_TIMEOUT: u64 = 3;
const ROUNDS: usize = 3;

#[test]
fn idle_connection_flood_is_refused_beyond_the_limit_without_memory_growth() {
    let _serial = serial();
    raise_nofile(IDLE as u64 + 200);
    let root = tempdir("smtp-idle");
    let timeout = COMMAND_TIMEOUT.to_string();
    let limit = LIMIT.to_string();
    let server = Server::start(
        &root.join("spool"),
        &["--max-connections", &limit, "--command-timeout", &timeout],
    );
    std::thread::sleep(Duration::from_millis(300));
    let baseline = rss_kb(server.pid());
    let mut figures = Vec::new();
    for round in 0..ROUNDS {
        let t0 = Instant::now();
        let conns: Vec<Conn> = (0..IDLE)
            .map(|i| {
                Conn::open(server.port, Duration::from_secs(COMMAND_TIMEOUT + 20))
                    .unwrap_or_else(|e| panic!("round {round}, connection {i}: {e}"))
            })
            .collect();
        let opened = t0.elapsed();
        let mut greeted = Vec::new();
        let mut refused = Vec::new();
        for (i, mut c) in conns.into_iter().enumerate() {
            let (code, text) = c
                .reply()
                .unwrap_or_else(|e| panic!("round {round}, connection {i}: {e}"));
            match code {
                220 => greeted.push(c),
                421 => {
                    assert!(text.starts_with("421 4.3.2"), "{text}");
                    refused.push(c);
                }
                _ => panic!("round {round}, connection {i}: {text}"),
            }
        }
        assert_eq!(
            (greeted.len(), refused.len()),
            (LIMIT, IDLE - LIMIT),
            "round {round}"
        );
        // Refused connections are closed by the server, not left idle.
        for c in &mut refused {
            assert!(c.closed(), "round {round}: a refused connection left open");
        }
        // All 1,000 still open on our side; the server holds the 100 greeted ones.
        let at_flood = rss_kb(server.pid());
        drop(refused);
        // The greeted ones say nothing: closed at the command timeout with 421 4.4.2.
        for (i, c) in greeted.iter_mut().enumerate() {
            let (code, text) = c
                .reply()
                .unwrap_or_else(|e| panic!("round {round}, idle {i}: no 421 ({e})"));
            assert_eq!(code, 421, "{text}");
            assert!(text.starts_with("421 4.4.2"), "{text}");
            assert!(c.closed(), "round {round}: idle {i} not closed after 421");
        }
        let idle_closed = t0.elapsed();
        assert!(
            idle_closed >= Duration::from_secs(COMMAND_TIMEOUT)
                && idle_closed < Duration::from_secs(COMMAND_TIMEOUT + 15),
            "idle sessions closed after {idle_closed:?}, timeout {COMMAND_TIMEOUT} s"
        );
        drop(greeted);
        // The server ends the sessions and frees their slots right after the 421.
        std::thread::sleep(Duration::from_millis(300));
        let after = rss_kb(server.pid());
        figures.push((opened, at_flood, idle_closed, after));
    }
    drop(server);
    remove(&root);
    let mut line = format!(
        "idle flood: {IDLE} connections × {ROUNDS} rounds, --max-connections {LIMIT}, \
         --command-timeout {COMMAND_TIMEOUT}: {LIMIT} greeted then closed 421 4.4.2, {} refused 421 4.3.2 each round; \
         RSS baseline {baseline} kB",
        IDLE - LIMIT
    );
    for (r, (opened, at, closed, after)) in figures.iter().enumerate() {
        line.push_str(&format!(
            "; round {r}: opened in {} ms, RSS at {IDLE} {at} kB (+{}), idle closed after {:.1} s, RSS after {after} kB (+{})",
            opened.as_millis(),
            at.saturating_sub(baseline),
            closed.as_secs_f64(),
            after.saturating_sub(baseline)
        ));
    }
    println!("{line}");
    let peak = figures.iter().map(|f| f.1.max(f.3)).max().unwrap();
    assert!(
        peak < baseline + 50 * 1024,
        "RSS grew from {baseline} kB to {peak} kB"
    );
    // No growth from round to round: what the first flood took is reused, not added to.
    let (first_after, last_after) = (figures[0].3, figures[ROUNDS - 1].3);
    assert!(
        last_after < first_after + 8 * 1024,
        "RSS after round 1 {first_after} kB, after round {ROUNDS} {last_after} kB"
    );
}

/// The listening socket queues a burst of connections while the accept loop waits for a CPU (here:
/// never accepts). With the 128 of std and tokio, connections past it lose their SYN and wait
/// for retransmissions (1 s, 3 s…), longer than a short command timeout.
#[test]
fn a_burst_of_connections_waits_in_the_listen_queue() {
    let _serial = serial();
    raise_nofile(IDLE as u64 + 200);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(banc::transport::server::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let conns: Vec<TcpStream> = (0..IDLE)
        .map(|i| {
            TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("connection {i} not queued: {e}"))
        })
        .collect();
    assert_eq!(conns.len(), IDLE);
    drop(listener);
}
