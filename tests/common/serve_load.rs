//! Driving `banc serve` under load on loopback, shared by `tests/serve_load.rs` (the invariants,
//! small and in debug) and `examples/serve_load.rs` (the figures, in release): the server as a
//! child process that can be SIGKILLed and restarted on its data folder, a keep-alive HTTP/1.1
//! client (blocking, one thread per client, so every byte is ours), upload clients that keep what
//! each `201` promised (its `Location` and a SHA-256 of its JSON), idle connections, and the
//! read-back of every promise. Included with `#[path]` (not part of `common`).
#![allow(dead_code)]

use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

/// A client waits this long for an answer before calling it an error (a hang guard).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// A running `banc serve` (SIGKILLed on drop).
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub pid: u32,
    /// Its stderr (one line per request, warnings), for a failure's message.
    log: Arc<Mutex<Vec<String>>>,
    pub started_in: Duration,
}

impl Server {
    /// Start `cmd` (the `banc` binary) as `serve --listen 127.0.0.1:0 --data DATA ARGS` and wait
    /// for its address line.
    pub fn start(mut cmd: Command, data: &Path, args: &[String]) -> Result<Server, String> {
        let t0 = Instant::now();
        let mut child = cmd
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("banc serve : {e}"))?;
        let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let log = Arc::new(Mutex::new(Vec::new()));
        let keep = log.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let mut log = keep.lock().unwrap();
                // The last lines tell what went wrong; a long run's request log is not kept.
                if log.len() >= 200 {
                    log.remove(0);
                }
                log.push(l);
            }
        });
        let pid = child.id();
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pid,
            log,
            started_in: Duration::ZERO,
        };
        let first = rx
            .recv_timeout(Duration::from_secs(120))
            .map_err(|_| format!("no start line; log: {:?}", server.log_tail()))?;
        server.addr = first
            .strip_prefix("banc serve : écoute sur http://")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("start line: {first}"))?;
        server.started_in = t0.elapsed();
        Ok(server)
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A `/proc/PID/status` field in kB (`VmRSS`, `VmHWM`).
    pub fn status_kb(&self, field: &str) -> Option<u64> {
        proc_kb(self.pid, field)
    }

    pub fn log_tail(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `/proc/PID/status` field in kB.
pub fn proc_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Enough descriptors for `want` sockets (soft limit raised up to the hard one).
pub fn raise_nofile(want: u64) -> Result<(), String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a stack struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err("getrlimit".into());
        }
        if lim.rlim_cur < want as libc::rlim_t {
            lim.rlim_cur = lim.rlim_max.min(want as libc::rlim_t * 2);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err("setrlimit".into());
            }
        }
    }
    if lim.rlim_cur < want as libc::rlim_t {
        return Err(format!(
            "descriptor limit {} < {want}: raise `ulimit -n`",
            lim.rlim_cur
        ));
    }
    Ok(())
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
    host: String,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let w = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        w.set_read_timeout(Some(ANSWER_TIMEOUT))?;
        w.set_nodelay(true)?;
        Ok(Conn {
            r: BufReader::new(w.try_clone()?),
            w,
            host: addr.to_string(),
        })
    }

    pub fn send(&mut self, method: &str, path: &str, body: &[u8]) -> std::io::Result<Resp> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host).into_bytes();
        if method == "POST" {
            req.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        req.extend_from_slice(body);
        self.w.write_all(&req)?;
        read_response(&mut self.r)
    }
}

fn bad(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

fn read_response(r: &mut impl BufRead) -> std::io::Result<Resp> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad(format!("status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let n = usize::from_str_radix(line.trim(), 16)
                .map_err(|_| bad(format!("chunk size {line:?}")))?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            resp.body.extend_from_slice(&chunk[..n]);
        }
    } else {
        let n: usize = resp
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        resp.body = vec![0; n];
        r.read_exact(&mut resp.body)?;
    }
    Ok(resp)
}

/// What every upload client and the driver share: where the server is (none while it is
/// down), which incarnation it is, when to stop.
pub struct Shared {
    at: Mutex<(Option<SocketAddr>, usize)>,
    changed: Condvar,
    pub stop: AtomicBool,
    /// `201`s so far, all clients together.
    pub created: AtomicUsize,
    /// Connections the clients opened.
    pub connects: AtomicUsize,
}

impl Shared {
    pub fn new(addr: SocketAddr) -> Arc<Shared> {
        Arc::new(Shared {
            at: Mutex::new((Some(addr), 0)),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            created: AtomicUsize::new(0),
            connects: AtomicUsize::new(0),
        })
    }

    /// The server is about to be killed: a failure from now on is the kill's, not an error.
    pub fn down(&self) {
        let mut at = self.at.lock().unwrap();
        *at = (None, at.1 + 1);
    }

    /// The server listens again at `addr`.
    pub fn up(&self, addr: SocketAddr) {
        let mut at = self.at.lock().unwrap();
        *at = (Some(addr), at.1 + 1);
        self.changed.notify_all();
    }

    pub fn finish(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.changed.notify_all();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn generation(&self) -> usize {
        self.at.lock().unwrap().1
    }

    /// The server's address and incarnation, once it is up; None once stopped.
    fn wait_up(&self) -> Option<(SocketAddr, usize)> {
        let mut at = self.at.lock().unwrap();
        loop {
            if self.stopped() {
                return None;
            }
            if let (Some(addr), g) = *at {
                return Some((addr, g));
            }
            at = self
                .changed
                .wait_timeout(at, Duration::from_millis(200))
                .unwrap()
                .0;
        }
    }
}

/// A `201` and what it promised.
#[derive(Clone)]
pub struct Created {
    pub location: String,
    pub sha256: [u8; 32],
    pub latency: Duration,
}

#[derive(Default)]
pub struct ClientReport {
    pub created: Vec<Created>,
    /// Any other answer, or a failure while the server was up: what it was.
    pub errors: Vec<String>,
    /// Requests cut by the kill (no answer, or no complete one).
    pub cut: usize,
}

/// An upload client: one connection (opened again after a kill), `doc` as a raw body, until
/// `count` uploads were answered `201` or the driver stops it.
pub fn client(
    shared: Arc<Shared>,
    doc: Arc<Vec<u8>>,
    name: &str,
    count: Option<usize>,
) -> ClientReport {
    let path = format!("/api/validations?name={name}");
    let mut report = ClientReport::default();
    let mut conn: Option<(Conn, usize)> = None;
    while count.is_none_or(|n| report.created.len() < n) && !shared.stopped() {
        // Enough to show the trouble; a broken server does not fill the memory with errors.
        if report.errors.len() >= 20 {
            break;
        }
        let Some((addr, generation)) = shared.wait_up() else {
            break;
        };
        let ours = conn.take().filter(|(_, g)| *g == generation);
        let (mut c, g) = match ours {
            Some(c) => c,
            None => match Conn::open(addr) {
                Ok(c) => {
                    shared.connects.fetch_add(1, Ordering::SeqCst);
                    (c, generation)
                }
                Err(e) => {
                    if shared.generation() == generation {
                        report.errors.push(format!("connexion : {e}"));
                    } else {
                        report.cut += 1;
                    }
                    continue;
                }
            },
        };
        let t = Instant::now();
        match c.send("POST", &path, &doc) {
            Ok(r) if r.status == 201 => {
                let location = r.header("location").unwrap_or("").to_string();
                if !location.starts_with("/v/") {
                    report
                        .errors
                        .push(format!("201 sans Location : {location:?}"));
                }
                report.created.push(Created {
                    location,
                    sha256: Sha256::digest(&r.body).into(),
                    latency: t.elapsed(),
                });
                shared.created.fetch_add(1, Ordering::SeqCst);
                conn = Some((c, g));
            }
            Ok(r) => {
                report.errors.push(format!(
                    "{} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body[..r.body.len().min(200)])
                ));
                if !r
                    .header("connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("close"))
                {
                    conn = Some((c, g));
                }
            }
            Err(e) => {
                if shared.generation() == g {
                    report.errors.push(format!("requête : {e}"));
                } else {
                    report.cut += 1;
                }
            }
        }
    }
    report
}

/// Read back every promise: its page answers `200` and its `report.json` is the JSON the `201`
/// carried, byte for byte. The promises that failed, with why.
pub fn read_back(addr: SocketAddr, created: &[Created], threads: usize) -> Vec<String> {
    let chunk = created.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let workers: Vec<_> = created
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut lost = Vec::new();
                    let mut conn = None;
                    for c in part {
                        if let Err(e) = check_one(addr, &mut conn, c) {
                            lost.push(format!("{} : {e}", c.location));
                            conn = None;
                        }
                    }
                    lost
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|_| vec!["thread paniqué".into()]))
            .collect()
    })
}

fn check_one(addr: SocketAddr, conn: &mut Option<Conn>, c: &Created) -> Result<(), String> {
    if conn.is_none() {
        *conn = Some(Conn::open(addr).map_err(|e| e.to_string())?);
    }
    let conn = conn.as_mut().unwrap();
    let page = conn
        .send("GET", &c.location, b"")
        .map_err(|e| e.to_string())?;
    if page.status != 200 {
        return Err(format!("page {}", page.status));
    }
    let json = conn
        .send("GET", &format!("{}/report.json", c.location), b"")
        .map_err(|e| e.to_string())?;
    if json.status != 200 {
        return Err(format!("report.json {}", json.status));
    }
    if <[u8; 32]>::from(Sha256::digest(&json.body)) != c.sha256 {
        return Err("report.json différent de la réponse 201".into());
    }
    Ok(())
}

/// Open `n` connections that send nothing.
pub fn open_idle(addr: SocketAddr, n: usize) -> Result<Vec<TcpStream>, String> {
    (0..n)
        .map(|i| {
            let c = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
                .map_err(|e| format!("connexion inactive {i} : {e}"))?;
            c.set_nonblocking(true).map_err(|e| e.to_string())?;
            Ok(c)
        })
        .collect()
}

/// Whether the server closed (or reset) an idle connection: it never sends anything on one.
pub fn closed(c: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    match c.peek(&mut b) {
        Ok(_) => true,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// How many of `conns` the server still holds.
pub fn held(conns: &[TcpStream]) -> usize {
    conns.iter().filter(|c| !closed(c)).count()
}

/// The `q`-quantile (0 to 1) of sorted durations, in ms.
pub fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// A fresh folder under the system's temporary one.
pub fn scratch(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("banc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temporary folder");
    Scratch(d)
}

/// A temporary folder removed when dropped, a failing test's too (a load run stores
/// gigabytes).
pub struct Scratch(pub PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
