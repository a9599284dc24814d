//! One SMTP session of `banc mail serve` over an in-memory stream: the client's bytes are the
//! input, delivered in chunks of varying size (so pipelining and split lines are exercised);
//! messages that reach DATA's end are committed to a RAM spool.
#![no_main]

use banc::transport::config::{self, Overrides};
use banc::transport::session::{Shared, serve_stream};
use banc::transport::spool::Spool;
use libfuzzer_sys::fuzz_target;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc::UnboundedReceiver;

/// The client's side: reads give the input in chunks, writes (the server's replies) are counted.
struct Mem<'a> {
    input: &'a [u8],
    chunk: usize,
    written: usize,
}

impl AsyncRead for Mem<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.chunk.min(self.input.len()).min(buf.remaining());
        let (head, tail) = self.input.split_at(n);
        buf.put_slice(head);
        self.input = tail;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Mem<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written += buf.len();
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

struct Server {
    rt: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    stored: UnboundedReceiver<String>,
    runs: u32,
}

fn server() -> Server {
    let root = banc_fuzz::scratch().join("spool");
    let _ = std::fs::remove_dir_all(&root);
    let settings = config::settings(
        config::File::default(),
        Overrides {
            spool: Some(root.clone()),
            max_size: Some(64 * 1024),
            mailboxes: vec![
                "secretariat@hopital-nord.mssante.fr".into(),
                "dr.martin@medecin.mssante.fr".into(),
            ],
            ..Overrides::default()
        },
    )
    .expect("settings");
    let (spool, _) = Spool::open(&root).expect("spool");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    Server {
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime"),
        shared: Arc::new(Shared {
            settings,
            spool,
            tls: None,
            stored: tx,
        }),
        stored: rx,
        runs: 0,
    }
}

static SERVER: Mutex<Option<Server>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let mut guard = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    // A fresh spool now and then, so the index does not grow for ever.
    if guard.as_ref().is_none_or(|s| s.runs >= 5000) {
        *guard = None;
        *guard = Some(server());
    }
    let s = guard.as_mut().expect("server");
    s.runs += 1;
    let (chunk, input) = match data.split_first() {
        Some((&c, rest)) => (1 + usize::from(c) * 37, rest),
        None => (1, data),
    };
    let stream = Mem {
        input,
        chunk,
        written: 0,
    };
    let shared = s.shared.clone();
    s.rt.block_on(serve_stream(
        stream,
        "192.0.2.1:50000".into(),
        "127.0.0.1:2525".into(),
        shared,
    ));
    while let Ok(id) = s.stored.try_recv() {
        let _ = std::fs::remove_file(s.shared.spool.message(&id));
        let _ = std::fs::remove_file(s.shared.spool.envelope(&id));
    }
});
