//! `banc serve` under a small load, in every run (the figures at full size are
//! `examples/serve_load.rs`'s): the invariants only, no timing threshold.
//! - 8 clients × 20 uploads on keep-alive connections while 200 idle connections are opened
//!   against `--max-connections 48`: exactly the 40 free slots are held, the rest closed at once,
//!   the server's memory does not grow with them, uploads keep being answered meanwhile, and
//!   the slots come back once the idle connections go;
//! - the server SIGKILLed in the middle and restarted on its data folder: no error (an answer
//!   other than `201`, a failure while it was up), and every `201` still readable at its
//!   `Location`, its `report.json` the very JSON of the `201`;
//! - with every validation slot busy and `--max-queue` uploads waiting, `503` with
//!   `Retry-After`, the refused body drained (the connection serves the next request);
//! - the limits are checked when the command line is read.

mod common;
#[path = "common/serve_load.rs"]
mod load;

use load::{Conn, Server, Shared};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const CLIENTS: usize = 8;
/// Enough uploads that the kill comes while some remain, after the idle-connection phase: a
/// release build validates several times faster than a debug one.
const PER_CLIENT: usize = if cfg!(debug_assertions) { 20 } else { 120 };
const IDLE: usize = 200;
const MAX_CONNECTIONS: usize = 48;
/// The kill comes once this many uploads were answered.
const KILL_AFTER: usize = CLIENTS * PER_CLIENT / 2;
/// What holding the idle connections may add to the server's resident memory: 40 hyper
/// connections (a few KiB each) and 160 refused ones (nothing kept), with room for the noise
/// of the validations running meanwhile.
const IDLE_GROWTH_KB: u64 = 16 * 1024;
/// A wait that takes longer than this fails the test instead of hanging it.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// The two server tests run one at a time: each measures a server that the other would starve
/// of the machine's cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < HANG_GUARD, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn doc() -> Vec<u8> {
    std::fs::read(common::root().join("fixtures/cr-bio/valid/tsh.xml")).unwrap()
}

#[test]
fn uploads_survive_a_kill_and_idle_connections_beyond_the_limit_are_refused() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    load::raise_nofile(IDLE as u64 + 200).unwrap();
    let data = load::scratch("serve-load");
    let args: Vec<String> = [
        "--uploads-per-minute",
        "0",
        "--max-connections",
        &MAX_CONNECTIONS.to_string(),
        "-j",
        "2",
    ]
    .map(String::from)
    .to_vec();
    let mut server = Server::start(common::banc(), &data, &args).unwrap();
    let shared = Shared::new(server.addr);
    let doc = Arc::new(doc());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (shared, doc) = (shared.clone(), doc.clone());
            std::thread::spawn(move || load::client(shared, doc, "tsh.xml", Some(PER_CLIENT)))
        })
        .collect();

    // Idle connections while the uploads go on: every client holds its connection (accepted
    // first: the listen queue is FIFO), the validations have run a few times.
    wait_for("the clients connected and 16 uploads answered", || {
        shared.connects.load(Ordering::SeqCst) == CLIENTS
            && shared.created.load(Ordering::SeqCst) >= 16
    });
    let before = server.status_kb("VmRSS").unwrap();
    let idle = load::open_idle(server.addr, IDLE).unwrap();
    let free = MAX_CONNECTIONS - CLIENTS;
    wait_for("the idle connections beyond the limit closed", || {
        load::held(&idle) <= free
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        load::held(&idle),
        free,
        "idle connections held: the free slots exactly"
    );
    let with_idle = server.status_kb("VmRSS").unwrap();
    assert!(
        with_idle < before + IDLE_GROWTH_KB,
        "RSS {before} kB before {IDLE} idle connections, {with_idle} kB with them"
    );
    // (Responsiveness under the idle connections is measured by examples/serve_load's probe: a
    // client whose connection the server closed in between could not come back here while
    // every slot is held, which made this a race on a loaded machine.)
    assert_eq!(load::held(&idle), free, "the held ones are still held");
    drop(idle);
    // Their slots come back: a new connection is served.
    wait_for("a new connection served once the idle ones closed", || {
        Conn::open(server.addr)
            .and_then(|mut c| c.send("GET", "/api/openapi.json", b""))
            .is_ok_and(|r| r.status == 200)
    });

    // SIGKILL in the middle of the uploads, restart on the same folder; the clients go on.
    wait_for("half the uploads answered", || {
        shared.created.load(Ordering::SeqCst) >= KILL_AFTER
    });
    shared.down();
    let at_kill = shared.created.load(Ordering::SeqCst);
    server.kill();
    assert!(
        at_kill < CLIENTS * PER_CLIENT,
        "the kill came after the last upload"
    );
    let server = Server::start(common::banc(), &data, &args).unwrap();
    shared.up(server.addr);
    let reports: Vec<load::ClientReport> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    shared.finish();

    let errors: Vec<&String> = reports.iter().flat_map(|r| &r.errors).collect();
    assert!(
        errors.is_empty(),
        "errors: {errors:?}\nlog: {:?}",
        server.log_tail()
    );
    let created: Vec<load::Created> = reports.iter().flat_map(|r| r.created.clone()).collect();
    assert_eq!(created.len(), CLIENTS * PER_CLIENT);
    let cut: usize = reports.iter().map(|r| r.cut).sum();
    assert!(
        cut <= CLIENTS,
        "{cut} requests cut by one kill, {CLIENTS} clients"
    );
    let lost = load::read_back(server.addr, &created, 4);
    assert!(
        lost.is_empty(),
        "{} of {} results answered 201 unreadable after the restart: {lost:?}",
        lost.len(),
        created.len()
    );
    println!(
        "{} × 201 ({at_kill} before the SIGKILL), {cut} cut by it, all readable after the restart; \
         {IDLE} idle against --max-connections {MAX_CONNECTIONS}: {free} held, RSS {before} → {with_idle} kB",
        created.len()
    );
    drop(server);
}

/// The start of an upload whose body is still to come: it holds its place in the queue.
fn begin_upload(addr: std::net::SocketAddr, body: &[u8]) -> TcpStream {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(HANG_GUARD)).unwrap();
    write!(
        c,
        "POST /api/validations?name=lent.xml HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    c.write_all(&body[..100]).unwrap();
    c
}

/// The rest of the body, then the answer's status.
fn end_upload(mut c: TcpStream, body: &[u8]) -> u16 {
    c.write_all(&body[100..]).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(c.read(&mut b).unwrap(), 1, "answer cut");
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_full_queue_answers_503_with_retry_after() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let data = load::scratch("serve-queue");
    let args: Vec<String> = ["--uploads-per-minute", "0", "-j", "1", "--max-queue", "1"]
        .map(String::from)
        .to_vec();
    let server = Server::start(common::banc(), &data, &args).unwrap();
    let doc = doc();
    // Two uploads whose bodies are late take the one validation slot and the one queue place;
    // a third, sent whole and bigger than a socket buffer, is then refused. If the third is
    // admitted first (the server saw it before the late ones), the round is played again.
    let mut big = doc.clone();
    big.extend_from_slice(b"<!--");
    big.resize(big.len() + 300_000, b'x');
    big.extend_from_slice(b"-->\n");
    let mut c = Conn::open(server.addr).unwrap();
    let t = Instant::now();
    let (slow, refused) = loop {
        let slow: Vec<TcpStream> = (0..2).map(|_| begin_upload(server.addr, &doc)).collect();
        std::thread::sleep(Duration::from_millis(300));
        let r = c
            .send("POST", "/api/validations?name=gros.xml", &big)
            .unwrap();
        if r.status == 503 {
            break (slow, r);
        }
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert!(t.elapsed() < HANG_GUARD, "never refused");
        // Let the late uploads end (or be refused) before the next round.
        for s in slow {
            let d = doc.clone();
            let _ = std::panic::catch_unwind(move || end_upload(s, &d));
        }
    };
    assert_eq!(refused.header("retry-after"), Some("5"));
    let error: serde_json::Value = serde_json::from_slice(&refused.body).unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("Serveur occupé"),
        "{error}"
    );
    // The refused body was read and dropped: the same connection serves the next request.
    let next = c.send("GET", "/api/openapi.json", b"").unwrap();
    assert_eq!(next.status, 200);
    // The late uploads end normally, and their places are free again.
    for s in slow {
        assert_eq!(end_upload(s, &doc), 201);
    }
    let again = c
        .send("POST", "/api/validations?name=gros.xml", &big)
        .unwrap();
    assert_eq!(again.status, 201);
    drop(server);
}

#[test]
fn connection_and_queue_limits_are_checked_on_the_command_line() {
    for (args, flag) in [
        (["--max-connections", "0"], "--max-connections"),
        (["--max-connections", "10001"], "--max-connections"),
        (["--max-queue", "10001"], "--max-queue"),
        (["--max-queue", "plein"], "--max-queue"),
    ] {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0", "--data", "/nonexistent"];
        all.extend_from_slice(&args);
        let r = common::run(&all);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(flag), "{args:?}: {}", r.stderr);
    }
}
