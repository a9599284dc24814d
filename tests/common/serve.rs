//! A `banc serve` child process for the serve tests: started on a free port, its start lines
//! read, its log kept; killed on drop.

use std::io::BufRead;
use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Server {
    pub child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The start lines read (the address first).
    pub lines: Vec<String>,
    /// What the server prints on stdout after them.
    pub out: Receiver<String>,
    /// Its log (stderr).
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `banc serve --listen 127.0.0.1:0 ARGS`, once it printed `lines` start lines (at least its
/// address).
pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S], lines: usize) -> Server {
    let mut child = super::banc()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("banc serve starts");
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let rx = super::lines_of(out);
    let log = Arc::new(Mutex::new(Vec::new()));
    let keep = log.clone();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            keep.lock().unwrap().push(l);
        }
    });
    let mut read = Vec::new();
    while read.len() < lines.max(1) {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => read.push(l),
            Err(_) => panic!("start lines {read:?}; log: {:?}", log.lock().unwrap()),
        }
    }
    let addr = read[0]
        .strip_prefix("banc serve : écoute sur ")
        .and_then(|u| {
            u.strip_prefix("http://")
                .or_else(|| u.strip_prefix("https://"))
        })
        .unwrap_or_else(|| panic!("start line: {}", read[0]))
        .to_string();
    Server {
        child,
        addr,
        lines: read,
        out: rx,
        log,
    }
}
