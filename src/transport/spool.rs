//! The durable spool: every message is on disk, complete and fsync'd, before the server answers
//! `250`, and a crash at any instant (SIGKILL, power loss) never exposes a half-written one.
//!
//! Layout of a spool folder:
//!
//! ```text
//! spool/
//!   lock                      held (flock) by the running server: one server per spool
//!   index.jsonl               one JSON line per committed message (id, time, size, sha256,
//!                             from, to); append-only, fsync'd: THE commit record
//!   tmp/<ID>.eml              message being received (never a message; emptied at start)
//!   tmp/<ID>.envelope.json    envelope being written;  tmp/<ID>.report.json  report being written
//!   msg/<ID>.eml              the message bytes exactly as received (after dot-unstuffing)
//!   msg/<ID>.envelope.json    the envelope record: MAIL FROM, RCPT TO, HELO, peer, TLS facts,
//!                             time, size, sha256 (transport facts live here, not in headers)
//!   msg/<ID>.report.json      the analysis (banc JSON report), written after the reply
//! ```
//!
//! Commit of a message, in this order: the DATA bytes go to `tmp/<ID>.eml`, which is fsync'd; the
//! envelope is written to `tmp/<ID>.envelope.json` and fsync'd; both are renamed into `msg/`; then
//! (group commit, one thread for the whole server) `msg/` is fsync'd, the index line appended and
//! the index fsync'd — and only then is `250 … queued as <ID>` sent. Concurrent sessions share
//! the directory and index fsyncs of one batch.
//!
//! Recovery at start ([`Spool::open`]): `tmp/` is emptied; a torn last index line (no newline,
//! or not JSON) is cut off; a message in `msg/` without its index line (crash between rename and
//! index) is kept and indexed when its envelope is readable and its bytes match the envelope's
//! size and sha256 — it was complete but never acknowledged, which RFC 5321 §6.1 allows (the
//! client will send it again: a duplicate) — and removed otherwise; indexed messages without a
//! report are analysed again.

use super::tls::TlsFacts;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

pub const INDEX: &str = "index.jsonl";

/// The envelope record of a message (`msg/<ID>.envelope.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: String,
    /// RFC 3339 UTC, when the end of DATA was received.
    pub received: String,
    /// Reverse-path; empty for the null sender.
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// EHLO/HELO name, and which of the two.
    pub helo: String,
    pub esmtp: bool,
    pub peer: String,
    pub local: String,
    /// Bytes stored (after dot-unstuffing).
    pub size: u64,
    /// SHA-256 of the stored bytes (hex).
    pub sha256: String,
    /// `SIZE=` announced in MAIL FROM.
    pub declared_size: Option<u64>,
    /// `BODY=` of MAIL FROM (`7BIT`, `8BITMIME`).
    pub body: Option<String>,
    /// Lines of DATA ended by a bare LF instead of CRLF, and the first of them (1-based).
    pub bare_lf_lines: u64,
    pub first_bare_lf_line: Option<u64>,
    /// The message holds bytes ≥ 0x80.
    pub eight_bit: bool,
    /// None: received in clear text.
    pub tls: Option<TlsFacts>,
}

/// A line of the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub id: String,
    pub received: String,
    pub size: u64,
    pub sha256: String,
    pub from: String,
    pub to: Vec<String>,
}

impl From<&Envelope> for IndexEntry {
    fn from(e: &Envelope) -> IndexEntry {
        IndexEntry {
            id: e.id.clone(),
            received: e.received.clone(),
            size: e.size,
            sha256: e.sha256.clone(),
            from: e.mail_from.clone(),
            to: e.rcpt_to.clone(),
        }
    }
}

/// What recovery found and did, for the start-up log and the tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Leftovers of `tmp/` removed (receptions or reports interrupted).
    pub tmp_removed: usize,
    /// Bytes of a torn last index line cut off.
    pub torn_index_bytes: usize,
    /// Complete index lines that do not parse (left in place, skipped).
    pub corrupt_lines: usize,
    /// Complete messages found without their index line, now indexed.
    pub reconciled: Vec<String>,
    /// Incomplete messages (no envelope, bytes not matching it...) removed.
    pub removed: Vec<String>,
    /// Indexed messages whose file is missing (removed by hand?).
    pub missing: Vec<String>,
    /// Messages in the spool after recovery.
    pub messages: usize,
    /// Indexed messages with no report yet: to analyse.
    pub unanalysed: Vec<String>,
}

impl Recovery {
    /// Did recovery have anything to do?
    pub fn repaired(&self) -> bool {
        self.tmp_removed > 0
            || self.torn_index_bytes > 0
            || self.corrupt_lines > 0
            || !self.reconciled.is_empty()
            || !self.removed.is_empty()
            || !self.missing.is_empty()
    }
}

type CommitRequest = (String, mpsc::SyncSender<Result<(), String>>);

pub struct Spool {
    root: PathBuf,
    tmp: PathBuf,
    msg: PathBuf,
    committer: mpsc::Sender<CommitRequest>,
    counter: AtomicU64,
    salt: u64,
    /// Ids the index names whose files are gone: never issued again.
    missing: BTreeSet<String>,
    /// Held for the life of the server (an advisory lock: one server per spool).
    _lock: File,
}

impl Spool {
    /// Open (create) a spool, lock it and recover it.
    pub fn open(root: &Path) -> Result<(Spool, Recovery), String> {
        let err = |what: &str, p: &Path, e: io::Error| format!("{what} {} : {e}", p.display());
        let tmp = root.join("tmp");
        let msg = root.join("msg");
        for d in [root, &tmp, &msg] {
            fs::create_dir_all(d).map_err(|e| err("création du dossier", d, e))?;
        }
        let lock_path = root.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| err("ouverture de", &lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(format!(
                    "{} : spool déjà utilisé par un autre serveur banc",
                    root.display()
                ));
            }
            Err(fs::TryLockError::Error(e)) => return Err(err("verrou", &lock_path, e)),
        }
        let recovery = recover(root, &tmp, &msg).map_err(|e| err("reprise du spool", root, e))?;
        let index_path = root.join(INDEX);
        let index = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&index_path)
            .map_err(|e| err("ouverture de", &index_path, e))?;
        let (tx, rx) = mpsc::channel::<CommitRequest>();
        let dir = msg.clone();
        std::thread::Builder::new()
            .name("spool-commit".into())
            .spawn(move || committer(rx, index, dir))
            .map_err(|e| format!("thread du spool : {e}"))?;
        let salt = {
            use std::hash::{BuildHasher, RandomState};
            RandomState::new().hash_one(std::process::id())
        };
        Ok((
            Spool {
                root: root.to_path_buf(),
                tmp,
                msg,
                committer: tx,
                counter: AtomicU64::new(0),
                salt,
                missing: recovery.missing.iter().cloned().collect(),
                _lock: lock,
            },
            recovery,
        ))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A new message id: `20260115T103000Z-000001-3fa2`, sortable by time and unique in the
    /// spool. The counter separates this server's messages; a server restarted within the same
    /// second starts its counter again and its 16-bit suffix may repeat an earlier run's, so an id
    /// already in `msg/` (or in the index) is skipped: renaming onto it would replace an
    /// acknowledged message. One server holds the spool (the lock), so checking is enough.
    pub fn new_id(&self) -> String {
        self.id_in(&crate::clock::Utc::now().compact())
    }

    fn id_in(&self, second: &str) -> String {
        loop {
            let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
            let rand = (self.salt ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) & 0xffff;
            let id = format!("{second}-{n:06}-{rand:04x}");
            if !self.taken(&id) {
                return id;
            }
        }
    }

    fn taken(&self, id: &str) -> bool {
        self.missing.contains(id)
            || self.message(id).exists()
            || self.envelope(id).exists()
            || self.report(id).exists()
    }

    /// Where the DATA of a message being received is written.
    pub fn tmp_message(&self, id: &str) -> PathBuf {
        self.tmp.join(format!("{id}.eml"))
    }

    pub fn message(&self, id: &str) -> PathBuf {
        self.msg.join(format!("{id}.eml"))
    }

    pub fn envelope(&self, id: &str) -> PathBuf {
        self.msg.join(format!("{id}.envelope.json"))
    }

    pub fn report(&self, id: &str) -> PathBuf {
        self.msg.join(format!("{id}.report.json"))
    }

    /// Commit a received message whose bytes are complete and fsync'd in [`Self::tmp_message`]:
    /// when this returns Ok, the message survives a crash and may be acknowledged. Blocking.
    pub fn commit(&self, env: &Envelope) -> Result<(), String> {
        let id = &env.id;
        let json = serde_json::to_vec_pretty(env).map_err(|e| e.to_string())?;
        let tmp_env = self.tmp.join(format!("{id}.envelope.json"));
        write_synced(&tmp_env, &json).map_err(|e| format!("{} : {e}", tmp_env.display()))?;
        // Never over an acknowledged message (ids come from new_id, which skips taken ones).
        if self.taken(id) {
            return Err(format!("{id} : identifiant déjà dans le spool"));
        }
        // The message first: an envelope in msg/ always has its message beside it.
        fs::rename(self.tmp_message(id), self.message(id))
            .map_err(|e| format!("rename {id}.eml : {e}"))?;
        fs::rename(&tmp_env, self.envelope(id))
            .map_err(|e| format!("rename {id}.envelope.json : {e}"))?;
        let mut line = serde_json::to_string(&IndexEntry::from(env)).map_err(|e| e.to_string())?;
        line.push('\n');
        let (tx, rx) = mpsc::sync_channel(1);
        self.committer
            .send((line, tx))
            .map_err(|_| "spool arrêté".to_string())?;
        rx.recv().map_err(|_| "spool arrêté".to_string())?
    }

    /// Forget a reception that will not be acknowledged (refused, aborted).
    pub fn discard(&self, id: &str) {
        let _ = fs::remove_file(self.tmp_message(id));
    }

    /// Write a message's report atomically (temp file, fsync, rename).
    pub fn write_report(&self, id: &str, text: &str) -> Result<(), String> {
        let tmp = self.tmp.join(format!("{id}.report.json"));
        write_synced(&tmp, text.as_bytes()).map_err(|e| format!("{} : {e}", tmp.display()))?;
        fs::rename(&tmp, self.report(id)).map_err(|e| format!("rename {id}.report.json : {e}"))
    }

    /// The committed messages, in commit order.
    pub fn entries(&self) -> Vec<IndexEntry> {
        read_entries(&self.root).unwrap_or_default()
    }
}

/// The committed messages of a spool folder (no lock needed: lines are appended whole, a torn
/// last line is skipped), in commit order.
pub fn read_entries(root: &Path) -> io::Result<Vec<IndexEntry>> {
    let bytes = match fs::read(root.join(INDEX)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let (entries, _, _) = parse_index(&bytes);
    Ok(entries)
}

/// Parsed entries, the length of the sound prefix (complete lines) and the corrupt line count.
fn parse_index(bytes: &[u8]) -> (Vec<IndexEntry>, usize, usize) {
    let mut entries = Vec::new();
    let mut corrupt = 0;
    let mut sound = 0;
    let mut start = 0;
    while let Some(nl) = bytes[start..].iter().position(|b| *b == b'\n') {
        let line = &bytes[start..start + nl];
        match serde_json::from_slice::<IndexEntry>(line) {
            Ok(e) => entries.push(e),
            Err(_) if line.iter().all(u8::is_ascii_whitespace) => {}
            Err(_) => corrupt += 1,
        }
        start += nl + 1;
        sound = start;
    }
    (entries, sound, corrupt)
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The group-commit thread: one directory fsync and one index fsync per batch of messages.
fn committer(rx: mpsc::Receiver<CommitRequest>, mut index: File, dir: PathBuf) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        let mut lines = String::new();
        for (l, _) in &batch {
            lines.push_str(l);
        }
        let done = sync_dir(&dir)
            .and_then(|()| index.write_all(lines.as_bytes()))
            .and_then(|()| index.sync_data())
            .map_err(|e| format!("écriture durable du spool : {e}"));
        for (_, reply) in batch {
            let _ = reply.send(done.clone());
        }
    }
}

/// The message ids present in `msg/`, with the kinds of file each has.
fn scan(msg: &Path) -> io::Result<BTreeMap<String, BTreeSet<String>>> {
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in fs::read_dir(msg)? {
        let name = e?.file_name().to_string_lossy().into_owned();
        for kind in ["eml", "envelope.json", "report.json"] {
            if let Some(id) = name.strip_suffix(&format!(".{kind}")) {
                found
                    .entry(id.to_string())
                    .or_default()
                    .insert(kind.to_string());
            }
        }
    }
    Ok(found)
}

fn sha256_file(path: &Path) -> io::Result<(u64, String)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, hex::encode(h.finalize())))
}

fn recover(root: &Path, tmp: &Path, msg: &Path) -> io::Result<Recovery> {
    let mut r = Recovery::default();
    for e in fs::read_dir(tmp)? {
        let p = e?.path();
        if p.is_dir() {
            fs::remove_dir_all(&p)?;
        } else {
            fs::remove_file(&p)?;
        }
        r.tmp_removed += 1;
    }
    let index_path = root.join(INDEX);
    let bytes = match fs::read(&index_path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let (entries, sound, corrupt) = parse_index(&bytes);
    r.corrupt_lines = corrupt;
    let mut index = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&index_path)?;
    if sound < bytes.len() {
        r.torn_index_bytes = bytes.len() - sound;
        index.set_len(sound as u64)?;
    }
    let indexed: BTreeSet<String> = entries.iter().map(|e| e.id.clone()).collect();
    let files = scan(msg)?;
    let mut appended = String::new();
    for (id, kinds) in &files {
        if indexed.contains(id) {
            continue;
        }
        let eml = msg.join(format!("{id}.eml"));
        let env = msg.join(format!("{id}.envelope.json"));
        let complete = fs::read(&env)
            .ok()
            .filter(|_| kinds.contains("eml"))
            .and_then(|b| serde_json::from_slice::<Envelope>(&b).ok())
            .filter(|e| &e.id == id)
            .filter(|e| sha256_file(&eml).ok() == Some((e.size, e.sha256.clone())));
        match complete {
            Some(e) => {
                let line =
                    serde_json::to_string(&IndexEntry::from(&e)).map_err(io::Error::other)?;
                appended.push_str(&line);
                appended.push('\n');
                r.reconciled.push(id.clone());
            }
            None => {
                for k in kinds {
                    fs::remove_file(msg.join(format!("{id}.{k}")))?;
                }
                r.removed.push(id.clone());
            }
        }
    }
    if !appended.is_empty() {
        index.write_all(appended.as_bytes())?;
    }
    if r.repaired() {
        index.sync_all()?;
        sync_dir(msg)?;
        sync_dir(root)?;
    }
    let all: Vec<String> = entries
        .iter()
        .map(|e| e.id.clone())
        .chain(r.reconciled.iter().cloned())
        .collect();
    for id in &all {
        match files.get(id) {
            Some(k) if k.contains("eml") && k.contains("envelope.json") => {
                r.messages += 1;
                if !k.contains("report.json") {
                    r.unanalysed.push(id.clone());
                }
            }
            _ => r.missing.push(id.clone()),
        }
    }
    Ok(r)
}

/// An envelope for tests (plain session, one recipient).
#[cfg(test)]
pub(crate) fn sample_envelope(id: &str, bytes: &[u8]) -> Envelope {
    Envelope {
        id: id.to_string(),
        received: "2026-01-15T10:30:00.000Z".into(),
        mail_from: "sgl@labo.mssante.fr".into(),
        rcpt_to: vec!["dpi@chu.mssante.fr".into()],
        helo: "sgl.labo".into(),
        esmtp: true,
        peer: "127.0.0.1:40000".into(),
        local: "127.0.0.1:2525".into(),
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
        declared_size: None,
        body: None,
        bare_lf_lines: 0,
        first_bare_lf_line: None,
        eight_bit: false,
        tls: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("banc-spool-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    /// Receive and commit one message the way a session does.
    fn store(s: &Spool, bytes: &[u8]) -> String {
        let id = s.new_id();
        write_synced(&s.tmp_message(&id), bytes).unwrap();
        s.commit(&sample_envelope(&id, bytes)).unwrap();
        id
    }

    #[test]
    fn commit_then_reopen() {
        let d = dir("commit");
        let (s, r) = Spool::open(&d).unwrap();
        assert_eq!(r, Recovery::default());
        let a = store(&s, b"Subject: a\r\n\r\nun\r\n");
        let b = store(&s, b"Subject: b\r\n\r\ndeux\r\n");
        assert_ne!(a, b);
        assert_eq!(
            fs::read(s.message(&a)).unwrap(),
            b"Subject: a\r\n\r\nun\r\n"
        );
        let ids: Vec<String> = s.entries().into_iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![a.clone(), b.clone()]);
        // A second server cannot take the same spool.
        assert!(Spool::open(&d).is_err());
        s.write_report(&a, "{}").unwrap();
        drop(s);
        let (_s, r) = Spool::open(&d).unwrap();
        assert!(!r.repaired(), "{r:?}");
        assert_eq!(r.messages, 2);
        assert_eq!(r.unanalysed, vec![b]);
    }

    #[test]
    fn a_restart_in_the_same_second_never_reuses_an_id() {
        let d = dir("same-second");
        let second = "20261207T230233Z";
        let (s, _) = Spool::open(&d).unwrap();
        let salt = s.salt;
        let mut ids = Vec::new();
        for body in [&b"Subject: un\r\n"[..], b"Subject: deux\r\n"] {
            let id = s.id_in(second);
            write_synced(&s.tmp_message(&id), body).unwrap();
            s.commit(&sample_envelope(&id, body)).unwrap();
            ids.push(id);
        }
        drop(s);
        // The second message's files are lost; the index still names it.
        fs::remove_file(d.join("msg").join(format!("{}.eml", ids[1]))).unwrap();
        fs::remove_file(d.join("msg").join(format!("{}.envelope.json", ids[1]))).unwrap();
        // The restarted server draws the same suffixes (the soak test met this by chance).
        let (mut s, r) = Spool::open(&d).unwrap();
        assert_eq!(r.missing, vec![ids[1].clone()]);
        s.salt = salt;
        let next = s.id_in(second);
        assert!(!ids.contains(&next), "{next} reissued");
        assert!(next.starts_with(&format!("{second}-000003-")), "{next}");
        // And a commit never replaces a stored message.
        let other = b"Subject: autre\r\n";
        write_synced(&s.tmp_message(&ids[0]), other).unwrap();
        assert!(s.commit(&sample_envelope(&ids[0], other)).is_err());
        assert_eq!(fs::read(s.message(&ids[0])).unwrap(), b"Subject: un\r\n");
    }

    #[test]
    fn recovery_after_crash_leftovers() {
        let d = dir("crash");
        let (s, _) = Spool::open(&d).unwrap();
        let kept = store(&s, b"Subject: kept\r\n\r\nok\r\n");
        // Crash during DATA: a partial message in tmp/.
        fs::write(
            s.tmp_message("20260115T000000Z-000009-aaaa"),
            b"Subject: half",
        )
        .unwrap();
        // Crash between the renames and the index line: complete, unacknowledged.
        let late = s.new_id();
        let late_bytes = b"Subject: late\r\n\r\ncomplete\r\n";
        fs::write(s.message(&late), late_bytes).unwrap();
        fs::write(
            s.envelope(&late),
            serde_json::to_vec(&sample_envelope(&late, late_bytes)).unwrap(),
        )
        .unwrap();
        // A message without its envelope record, and one whose bytes do not match it.
        fs::write(
            s.message("20260115T000000Z-000010-bbbb"),
            b"Subject: orphan",
        )
        .unwrap();
        let bad = "20260115T000000Z-000011-cccc";
        fs::write(s.message(bad), b"Subject: trunc").unwrap();
        fs::write(
            s.envelope(bad),
            serde_json::to_vec(&sample_envelope(bad, b"Subject: truncated for good\r\n")).unwrap(),
        )
        .unwrap();
        // A torn index line (crash mid-append).
        let mut idx = OpenOptions::new().append(true).open(d.join(INDEX)).unwrap();
        idx.write_all(b"{\"id\":\"2026").unwrap();
        drop(idx);
        drop(s);

        let (s, r) = Spool::open(&d).unwrap();
        assert_eq!(r.tmp_removed, 1);
        assert_eq!(r.torn_index_bytes, 11);
        assert_eq!(r.reconciled, vec![late.clone()]);
        assert_eq!(
            r.removed,
            vec![
                "20260115T000000Z-000010-bbbb".to_string(),
                "20260115T000000Z-000011-cccc".to_string()
            ]
        );
        assert_eq!(r.messages, 2);
        assert!(r.missing.is_empty());
        assert_eq!(fs::read_dir(d.join("tmp")).unwrap().count(), 0);
        let ids: Vec<String> = s.entries().into_iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![kept.clone(), late.clone()]);
        assert!(!s.message("20260115T000000Z-000010-bbbb").exists());
        assert!(!s.envelope(bad).exists());
        // The index is whole again: new commits append clean lines after it.
        let next = store(&s, b"Subject: next\r\n\r\n");
        drop(s);
        let (s, r) = Spool::open(&d).unwrap();
        assert!(!r.repaired(), "{r:?}");
        let ids: Vec<String> = s.entries().into_iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![kept, late, next]);
    }

    #[test]
    fn corrupt_middle_line_and_missing_file_are_reported() {
        let d = dir("corrupt");
        let (s, _) = Spool::open(&d).unwrap();
        let a = store(&s, b"a");
        drop(s);
        let mut idx = OpenOptions::new().append(true).open(d.join(INDEX)).unwrap();
        idx.write_all(b"not json\n").unwrap();
        drop(idx);
        fs::remove_file(d.join("msg").join(format!("{a}.eml"))).unwrap();
        let (_s, r) = Spool::open(&d).unwrap();
        assert_eq!(r.corrupt_lines, 1);
        assert_eq!(r.torn_index_bytes, 0);
        assert_eq!(r.missing, vec![a]);
        assert_eq!(r.messages, 0);
    }

    #[test]
    fn concurrent_commits_share_fsyncs() {
        let d = dir("group");
        let (s, _) = Spool::open(&d).unwrap();
        let s = std::sync::Arc::new(s);
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    (0..25)
                        .map(|i| store(&s, format!("Subject: {t}-{i}\r\n").as_bytes()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut ids: Vec<String> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        ids.sort();
        let mut indexed: Vec<String> = s.entries().into_iter().map(|e| e.id).collect();
        indexed.sort();
        assert_eq!(ids.len(), 200);
        assert_eq!(ids, indexed);
    }
}
