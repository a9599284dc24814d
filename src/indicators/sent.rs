//! The sent side: what left through MSSanté — banc's spool (`banc mail serve`: `index.jsonl`
//! and `msg/<ID>.eml`), a Maildir (`cur/`, `new/`), an mbox (RFC 4155: messages after `From `
//! lines, `>From ` unquoted as mboxrd writes it), or `.eml` files; folders are searched for all
//! of them. Each message is reduced to a [`SentItem`]: its Message-ID and the ids of the documents
//! of its IHE_XDM packages, or, for an acknowledgement, the message it answers and its outcome.

use super::{Ack, Progress, SentDoc, SentItem};
use crate::mail::mdn::{self, AckKind};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

/// One sent-side input, read or not.
pub enum Input {
    Bytes { name: String, bytes: Vec<u8> },
    Unreadable { name: String, reason: String },
}

fn unreadable(name: &str, reason: impl ToString) -> Input {
    Input::Unreadable {
        name: name.to_string(),
        reason: reason.to_string(),
    }
}

/// Every message under `paths`, in order, to `sink`.
pub fn walk(paths: &[PathBuf], sink: &mut dyn FnMut(Input)) {
    for p in paths {
        let d = p.display().to_string();
        if p.is_dir() {
            folder(p, sink);
        } else if p.exists() {
            file(p, &d, sink);
        } else {
            sink(unreadable(&d, "fichier ou dossier introuvable"));
        }
    }
}

fn is_spool(dir: &Path) -> bool {
    dir.join(crate::transport::spool::INDEX).is_file() && dir.join("msg").is_dir()
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() && dir.join("new").is_dir()
}

fn folder(dir: &Path, sink: &mut dyn FnMut(Input)) {
    if is_spool(dir) {
        return spool(dir, sink);
    }
    if is_maildir(dir) {
        return maildir(dir, sink);
    }
    let mut it = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter();
    while let Some(e) = it.next() {
        let Ok(e) = e else { continue };
        let p = e.path();
        if e.file_type().is_dir() {
            if is_spool(p) {
                spool(p, sink);
                it.skip_current_dir();
            } else if is_maildir(p) {
                maildir(p, sink);
                it.skip_current_dir();
            }
            continue;
        }
        let ext = p
            .extension()
            .map(|x| x.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if matches!(ext.as_str(), "eml" | "mbox" | "msg") {
            file(p, &p.display().to_string(), sink);
        }
    }
}

/// banc's spool: the committed messages of the index, in order, then any message file the
/// index does not list (complete but never acknowledged: see `transport::spool`).
fn spool(dir: &Path, sink: &mut dyn FnMut(Input)) {
    let mut listed = std::collections::HashSet::new();
    match crate::transport::spool::read_entries(dir) {
        Ok(entries) => {
            for e in entries {
                // Ids are banc's own, but the index is a file: never a path outside msg/.
                if e.id.is_empty() || e.id.contains(['/', '\\']) || e.id.starts_with('.') {
                    continue;
                }
                let p = dir.join("msg").join(format!("{}.eml", e.id));
                if listed.insert(p.clone()) {
                    let d = p.display().to_string();
                    message_file(&p, &d, sink);
                }
            }
        }
        Err(e) => sink(unreadable(
            &dir.join(crate::transport::spool::INDEX)
                .display()
                .to_string(),
            format!("index du spool illisible : {e}"),
        )),
    }
    for p in crate::files::under(&dir.join("msg"), &["eml"]) {
        if !listed.contains(&p) {
            let d = p.display().to_string();
            message_file(&p, &d, sink);
        }
    }
}

/// A Maildir: `new/` and `cur/` hold one message per file (`tmp/` is being delivered).
fn maildir(dir: &Path, sink: &mut dyn FnMut(Input)) {
    for sub in ["new", "cur"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(sub))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| {
                        p.is_file()
                            && !p
                                .file_name()
                                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        for p in files {
            let d = p.display().to_string();
            message_file(&p, &d, sink);
        }
    }
}

fn message_file(p: &Path, display: &str, sink: &mut dyn FnMut(Input)) {
    sink(
        match crate::files::read_bounded(p, crate::files::MAX_DOCUMENT) {
            Ok(bytes) => Input::Bytes {
                name: display.to_string(),
                bytes,
            },
            Err(e) => unreadable(display, e.reason),
        },
    );
}

/// A file: an mbox when it starts with a `From ` line, else one message.
fn file(p: &Path, display: &str, sink: &mut dyn FnMut(Input)) {
    let mut head = [0u8; 5];
    let is_mbox = crate::files::open(p)
        .ok()
        .and_then(|mut f| f.read_exact(&mut head).ok())
        .is_some()
        && &head == b"From ";
    if is_mbox {
        mbox(p, display, sink);
    } else {
        message_file(p, display, sink);
    }
}

/// Split an mbox (RFC 4155) as it is read: a line starting with `From ` opens a message; the
/// quoted `>From ` lines (mboxrd: any number of `>`) lose one `>`. A message over the size
/// bound is reported unreadable and skipped to the next `From ` line.
fn mbox(p: &Path, display: &str, sink: &mut dyn FnMut(Input)) {
    let f = match crate::files::open(p) {
        Ok(f) => f,
        Err(e) => return sink(unreadable(display, e.reason)),
    };
    let max = crate::files::MAX_DOCUMENT as usize;
    let mut r = std::io::BufReader::new(f);
    let mut n = 0usize;
    let mut cur: Option<Vec<u8>> = None;
    let mut too_large = false;
    let mut line = Vec::new();
    let mut emit = |n: usize, msg: Option<Vec<u8>>, too_large: bool| {
        let name = format!("{display}#{n}");
        match msg {
            _ if too_large => sink(unreadable(
                &name,
                format!("message de plus de {max} octets, non lu"),
            )),
            Some(mut m) => {
                // The blank line before the next `From ` belongs to the mbox, not the message.
                if m.ends_with(b"\n\n") {
                    m.pop();
                } else if m.ends_with(b"\r\n\r\n") {
                    m.truncate(m.len() - 2);
                }
                sink(Input::Bytes { name, bytes: m })
            }
            None => {}
        }
    };
    loop {
        line.clear();
        match (&mut r).take(max as u64 + 2).read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                sink(unreadable(display, format!("lecture impossible : {e}")));
                return;
            }
        }
        if line.starts_with(b"From ") {
            if n > 0 {
                emit(n, cur.take(), too_large);
            }
            n += 1;
            cur = Some(Vec::new());
            too_large = false;
            continue;
        }
        let Some(m) = cur.as_mut() else {
            continue;
        };
        if too_large {
            continue;
        }
        let unquoted = match line.iter().position(|b| *b != b'>') {
            Some(k) if k > 0 && line[k..].starts_with(b"From ") => &line[1..],
            _ => &line[..],
        };
        if m.len() + unquoted.len() > max {
            too_large = true;
            m.clear();
            m.shrink_to_fit();
            continue;
        }
        m.extend_from_slice(unquoted);
    }
    if n > 0 {
        emit(n, cur.take(), too_large);
    }
}

/// `<id@host>` and `id@host` are the same Message-ID.
pub fn norm_id(s: &str) -> String {
    let s = s.trim();
    s.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(s)
        .trim()
        .to_string()
}

/// What a message is: an acknowledgement, or a message and the documents of its packages.
pub fn item(input: Input) -> SentItem {
    let (name, raw) = match input {
        Input::Unreadable { name, reason } => {
            return SentItem::Unreadable {
                source: name,
                reason,
            };
        }
        Input::Bytes { name, bytes } => (name, bytes),
    };
    match mdn::ack_kind(&raw) {
        Ok(AckKind::Mdn) => match mdn::parse_mdn(&raw) {
            Ok(m) => SentItem::Ack {
                source: name,
                original: m.original_message_id.as_deref().map(norm_id),
                ack: Ack::Mdn {
                    disposition: m.disposition.kind.clone(),
                    error: m.is_error(),
                    code: m.error.as_ref().and_then(|e| e.code),
                    text: m.error.as_ref().map(|e| e.text.clone()),
                },
            },
            Err(f) => SentItem::Unreadable {
                source: name,
                reason: format!("MDN illisible : {} ({})", f.message, f.rule),
            },
        },
        Ok(AckKind::Dsn) => match mdn::parse_dsn(&raw) {
            Ok(d) => SentItem::Ack {
                source: name,
                original: d.returned_message_id.as_deref().map(norm_id),
                ack: Ack::Dsn {
                    delivered: d.delivered(),
                    status: d.recipients.iter().find_map(|r| r.status.clone()),
                },
            },
            Err(f) => SentItem::Unreadable {
                source: name,
                reason: format!("DSN illisible : {} ({})", f.message, f.rule),
            },
        },
        Err(_) => message(name, &raw),
    }
}

fn message(name: String, raw: &[u8]) -> SentItem {
    let docs = std::cell::RefCell::new(Vec::new());
    let limits = crate::xdm::Limits::default();
    let headers_of = |zip: &[u8]| {
        let p = crate::xdm::inspect(zip, &limits);
        let mut d = docs.borrow_mut();
        p.documents
            .into_iter()
            .map(|doc| {
                d.push(SentDoc {
                    path: doc.path,
                    id: doc
                        .header
                        .as_ref()
                        .and_then(|h| h.id.as_ref())
                        .map(|i| i.xds()),
                    set_id: doc
                        .header
                        .as_ref()
                        .and_then(|h| h.set_id.as_ref())
                        .map(|i| i.xds()),
                });
                doc.header.unwrap_or_default()
            })
            .collect()
    };
    let settings = crate::mail::checks::Settings {
        max_size: crate::files::MAX_DOCUMENT,
        ..default_settings()
    };
    let judged = crate::mail::checks::judge(raw, &settings, &headers_of);
    if judged
        .findings
        .iter()
        .any(|f| f.rule == crate::mail::rules::UNREADABLE.id)
    {
        return SentItem::Unreadable {
            source: name,
            reason: "pas un message (aucun en-tête RFC 5322 lisible)".into(),
        };
    }
    SentItem::Message {
        source: name,
        message_id: crate::mail::message_id(raw).map(|m| norm_id(&m)),
        packages: judged.packages.len(),
        documents: docs.into_inner(),
    }
}

fn default_settings() -> crate::mail::checks::Settings {
    let p = crate::mail::Policy::default();
    crate::mail::checks::Settings {
        max_size: p.max_size,
        max_depth: p.max_depth,
        max_parts: p.max_parts,
        pdf_severity: p.pdf_severity,
    }
}

/// Read every message under `paths`, in batches on `pool`'s threads.
pub fn read_all(
    paths: &[PathBuf],
    pool: &rayon::ThreadPool,
    progress: &(dyn Fn(Progress) + Sync),
) -> Vec<SentItem> {
    super::in_batches(|sink| walk(paths, sink), pool, item, "envoyés", progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mbox_splits_on_from_lines_and_unquotes() {
        let dir = std::env::temp_dir().join(format!("banc-mbox-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("sent.mbox");
        std::fs::write(
            &p,
            "From a@b Mon Jan  1 00:00:00 2026\nSubject: one\n\n>From here\nbody\n\nFrom a@b Mon Jan  1 00:00:01 2026\nSubject: two\n\nx\n",
        )
        .unwrap();
        let mut got = Vec::new();
        walk(&[p], &mut |i| {
            if let Input::Bytes { name, bytes } = i {
                got.push((name, String::from_utf8(bytes).unwrap()));
            }
        });
        assert_eq!(got.len(), 2);
        assert!(got[0].0.ends_with("#1"));
        assert_eq!(got[0].1, "Subject: one\n\nFrom here\nbody\n");
        assert_eq!(got[1].1, "Subject: two\n\nx\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn message_ids_compare_without_brackets() {
        assert_eq!(norm_id(" <a@b> "), norm_id("a@b"));
    }
}
