//! Durability of `banc mail serve`'s spool: a burst of 500 unique messages from 20 concurrent
//! clients, the server SIGKILLed once half of them are acknowledged, then restarted on the same spool.
//! Every acknowledged message must be there byte for byte under the id of its `250`; nothing
//! whose DATA was not completed may be there; a message stored whose `250` was lost is allowed
//! (RFC 5321 §6.1, at-least-once) but must be whole, one per connection at most.
//! Run with `--nocapture` to see the counts.

mod common;

use common::{SmtpConn as Conn, tempdir};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLIENTS: usize = 20;
const PER_CLIENT: usize = 25;
/// Half of the burst: the server dies in the middle of it.
const KILL_AFTER: usize = CLIENTS * PER_CLIENT / 2;

fn start(spool: &Path) -> (common::Serve, u16) {
    let s = common::serve(spool, &[]);
    let port = s.port;
    (s, port)
}

/// The message of client `c`, number `m`: unique token, and some of them ~100 KB.
fn message(c: usize, m: usize) -> (String, Vec<u8>) {
    let token = format!("c{c:02}-m{m:02}");
    let lines = if m.is_multiple_of(4) { 1300 } else { 20 };
    let mut text = format!(
        "From: <client{c}@labo.test>\r\nTo: <dpi@chu.test>\r\nSubject: rafale {token}\r\n\
         Message-ID: <{token}@labo.test>\r\nX-Banc-Token: {token}\r\n\r\n"
    );
    for l in 0..lines {
        // 76 characters, never a leading dot: no stuffing needed, bytes on the wire = stored.
        let seed = (c * 1_000_003 + m * 10_007 + l * 31) as u64;
        let mut line = String::with_capacity(78);
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        while line.len() < 76 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            line.push(char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                    [(x % 64) as usize],
            ));
        }
        text.push_str(&line);
        text.push_str("\r\n");
    }
    (token, text.into_bytes())
}

#[derive(Default)]
struct Outcome {
    /// token → the id of its 250.
    acked: BTreeMap<String, String>,
    /// Tokens whose DATA was sent to the end (final dot written).
    completed: BTreeSet<String>,
    /// Messages attempted (MAIL FROM sent).
    sent: usize,
}

/// Client `c` sends its messages one after the other on one connection; after an error it
/// reconnects for the next one, so every message of the burst is attempted (after the kill, the
/// attempts fail at connect).
fn client(c: usize, port: u16, acks: Arc<AtomicUsize>, out: Arc<Mutex<Outcome>>) {
    let connect = || -> std::io::Result<Conn> {
        let mut conn = Conn::open(port, Duration::from_secs(20))?;
        conn.reply()?;
        conn.cmd(&format!("EHLO client{c}"), 250)?;
        Ok(conn)
    };
    let mut conn: Option<Conn> = None;
    for m in 0..PER_CLIENT {
        let (token, bytes) = message(c, m);
        out.lock().unwrap().sent += 1;
        let send = |conn: &mut Option<Conn>| -> std::io::Result<()> {
            if conn.is_none() {
                *conn = Some(connect()?);
            }
            let Some(conn) = conn.as_mut() else {
                unreachable!()
            };
            conn.cmd(&format!("MAIL FROM:<client{c}@labo.test>"), 250)?;
            conn.cmd("RCPT TO:<dpi@chu.test>", 250)?;
            conn.cmd("DATA", 354)?;
            conn.tcp.write_all(&bytes)?;
            conn.tcp.write_all(b".\r\n")?;
            out.lock().unwrap().completed.insert(token.clone());
            let (code, text) = conn.reply()?;
            let id = text
                .strip_prefix("250 2.0.0 Ok: queued as ")
                .filter(|_| code == 250)
                .ok_or_else(|| std::io::Error::other(text.clone()))?;
            out.lock()
                .unwrap()
                .acked
                .insert(token.clone(), id.to_string());
            acks.fetch_add(1, Ordering::SeqCst);
            Ok(())
        };
        // The kill makes every client fail sooner or later: that is the point.
        if send(&mut conn).is_err() {
            conn = None;
        }
    }
    if let Some(mut conn) = conn {
        let _ = conn.cmd("QUIT", 221);
    }
}

#[test]
fn acknowledged_messages_survive_sigkill() {
    let started = Instant::now();
    let spool = tempdir("durability").join("spool");
    let (mut server, port) = start(&spool);
    let acks = Arc::new(AtomicUsize::new(0));
    let out = Arc::new(Mutex::new(Outcome::default()));
    let t0 = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (acks, out) = (acks.clone(), out.clone());
            std::thread::spawn(move || client(c, port, acks, out))
        })
        .collect();
    // Kill on a count of acknowledgements, not on a timer.
    let deadline = Instant::now() + Duration::from_secs(40);
    while acks.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(
            Instant::now() < deadline,
            "{} acks after 40 s",
            acks.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    server.child.kill().unwrap(); // SIGKILL on Unix
    let elapsed = t0.elapsed();
    let at_kill = acks.load(Ordering::SeqCst);
    server.child.wait().unwrap();
    for c in clients {
        c.join().unwrap();
    }
    let out = std::mem::take(&mut *out.lock().unwrap());
    assert!(
        at_kill < CLIENTS * PER_CLIENT,
        "killed before the burst ended"
    );
    assert!(out.acked.len() < CLIENTS * PER_CLIENT);

    // Restart on the same spool: recovery runs before the start line.
    let (again, _) = start(&spool);
    let expected: BTreeMap<String, Vec<u8>> = (0..CLIENTS)
        .flat_map(|c| (0..PER_CLIENT).map(move |m| message(c, m)))
        .collect();
    let msg_dir = spool.join("msg");
    let mut in_spool: BTreeMap<String, String> = BTreeMap::new(); // token → id
    for e in std::fs::read_dir(&msg_dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".eml") else {
            assert!(
                name.ends_with(".envelope.json") || name.ends_with(".report.json"),
                "unexpected file in msg/: {name}"
            );
            continue;
        };
        assert!(
            msg_dir.join(format!("{id}.envelope.json")).is_file(),
            "{id}: no envelope"
        );
        let bytes = std::fs::read(&path).unwrap();
        let token = String::from_utf8_lossy(&bytes)
            .lines()
            .find_map(|l| l.strip_prefix("X-Banc-Token: ").map(str::to_string))
            .unwrap_or_else(|| panic!("{id}: no token, truncated? {} bytes", bytes.len()));
        assert_eq!(
            Some(&bytes),
            expected.get(&token),
            "{id} ({token}) is not byte-identical to what was sent"
        );
        assert!(
            out.completed.contains(&token),
            "{token} stored though its DATA was never completed"
        );
        assert!(
            in_spool.insert(token.clone(), id.to_string()).is_none(),
            "{token} twice"
        );
    }
    // Reports being written by the restarted server's analysis may be in tmp/ meanwhile;
    // no part of a message or envelope may be.
    assert_eq!(
        std::fs::read_dir(spool.join("tmp"))
            .unwrap()
            .filter(|e| !e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".report.json"))
            .count(),
        0,
        "temp files left after recovery"
    );
    for (token, id) in &out.acked {
        assert_eq!(
            in_spool.get(token),
            Some(id),
            "{token} got 250 as {id} but is not in the spool under that id"
        );
    }
    let unacked: Vec<&String> = in_spool
        .keys()
        .filter(|t| !out.acked.contains_key(*t))
        .collect();
    assert!(
        unacked.len() <= CLIENTS,
        "{} stored unacknowledged",
        unacked.len()
    );
    // The index lists exactly what is in the spool.
    let index = std::fs::read_to_string(spool.join("index.jsonl")).unwrap();
    let indexed: BTreeSet<String> = index
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let ids: BTreeSet<String> = in_spool.values().cloned().collect();
    assert_eq!(indexed, ids);

    drop(again);
    println!(
        "durability: sent {}, acknowledged 250 {}, failed {}, in spool {}, stored but unacknowledged {}; \
         {} acks in {:.2} s before SIGKILL = {:.0} messages/s with fsync (20 clients, 1 in 4 of ~100 KB); test {:.1} s",
        out.sent,
        out.acked.len(),
        out.sent - out.acked.len(),
        in_spool.len(),
        unacked.len(),
        at_kill,
        elapsed.as_secs_f64(),
        at_kill as f64 / elapsed.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}
