//! The IMAP connection as async-imap reads it, bounded: a hostile server cannot make banc hold more
//! than one answer's worth of its bytes.
//!
//! async-imap sizes its buffer from what the server announces: a literal `{N}` makes it allocate
//! (and zero) N bytes at once, up to 512 MiB, before reading any of them, and a line that never
//! ends grows the buffer until then too. So the bytes are checked here, before async-imap sees
//! them: a literal longer than banc asked for is refused as soon as its `{N}<CRLF>` arrives, and
//! the bytes of the answer to one command (counted from banc's last write) stop at a budget.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the server sent beyond the bounds (carried inside the `io::Error` async-imap returns).
#[derive(Debug, thiserror::Error)]
pub enum Overflow {
    #[error("littéral IMAP annoncé de {announced} octets, au-delà des {max} octets demandés")]
    Literal { announced: u64, max: u64 },
    #[error("plus de {max} octets reçus en réponse à une seule commande")]
    Answer { max: u64 },
}

/// Where the scanner is in a possible literal announcement `{digits}<CR><LF>`.
#[derive(Debug, Clone, Copy)]
enum Scan {
    Text,
    Digits { value: u64, any: bool },
    Close(u64),
    Cr(u64),
}

/// A stream whose reads are bounded (see the module documentation).
#[derive(Debug)]
pub struct Bounded<S> {
    inner: S,
    /// Largest literal accepted (the largest `BODY.PEEK[]<0.N>` banc asks for).
    max_literal: u64,
    /// Largest answer to one command.
    max_answer: u64,
    /// Bytes of the current answer still allowed.
    left: u64,
    scan: Scan,
}

impl<S> Bounded<S> {
    pub fn new(inner: S, max_literal: u64, max_answer: u64) -> Self {
        Bounded {
            inner,
            max_literal,
            max_answer,
            left: max_answer,
            scan: Scan::Text,
        }
    }

    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Feed the bytes just read to the literal scanner. Every byte is scanned, literal contents
    /// included: whatever the parser would take as an announcement is seen here first (a message
    /// line ending in `{huge number}` is refused too, which no real message does).
    fn check(&mut self, bytes: &[u8]) -> Result<(), Overflow> {
        for &b in bytes {
            self.scan = match (self.scan, b) {
                (Scan::Digits { value, .. }, b'0'..=b'9') => Scan::Digits {
                    value: value.saturating_mul(10).saturating_add(u64::from(b - b'0')),
                    any: true,
                },
                (Scan::Digits { value, any: true }, b'}') => Scan::Close(value),
                (Scan::Close(v), b'\r') => Scan::Cr(v),
                (Scan::Cr(v), b'\n') => {
                    if v > self.max_literal {
                        return Err(Overflow::Literal {
                            announced: v,
                            max: self.max_literal,
                        });
                    }
                    Scan::Text
                }
                (_, b'{') => Scan::Digits {
                    value: 0,
                    any: false,
                },
                _ => Scan::Text,
            };
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let new = &buf.filled()[before..];
        // async-imap's free space is at most one checked literal plus a block: a read overshoots
        // the budget by no more than that before it is refused.
        if new.len() as u64 > this.left {
            let max = this.max_answer;
            return Poll::Ready(Err(io::Error::other(Overflow::Answer { max })));
        }
        this.left -= new.len() as u64;
        this.check(new).map_err(io::Error::other)?;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    /// A command written opens a new answer: the budget starts again.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, data))?;
        if n > 0 {
            this.left = this.max_answer;
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The overflow an I/O error carries, if it is one of this module's.
pub fn overflow(e: &io::Error) -> Option<&Overflow> {
    e.get_ref().and_then(|x| x.downcast_ref::<Overflow>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn scan(max: u64, chunks: &[&[u8]]) -> Result<(), Overflow> {
        let mut b = Bounded::new((), max, u64::MAX);
        chunks.iter().try_for_each(|c| b.check(c))
    }

    #[test]
    fn a_literal_longer_than_asked_is_refused_when_announced() {
        assert!(scan(1001, &[b"* 1 FETCH (UID 3 BODY[]<0> {1001}\r\n"]).is_ok());
        assert!(matches!(
            scan(1001, &[b"* 1 FETCH (UID 3 BODY[]<0> {1002}\r\n"]),
            Err(Overflow::Literal {
                announced: 1002,
                max: 1001
            })
        ));
        // Split anywhere across reads; literal8 (`~{N}`) too; an overflowing count saturates.
        assert!(scan(10, &[b"x ~{", b"99999999999999999999999", b"}\r", b"\n"]).is_err());
        // Not an announcement: no CRLF right after, no digits, text in braces.
        assert!(scan(10, &[b"{12345} \r\n{} \r\n{12a45}\r\n{{12345}x"]).is_ok());
    }

    #[tokio::test]
    async fn the_answer_to_one_command_is_bounded_and_a_command_renews_it() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut b = Bounded::new(client, 100, 1000);
        server.write_all(&[b'a'; 999]).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut got = 0;
        while got < 999 {
            got += b.read(&mut buf).await.unwrap();
        }
        b.write_all(b"a1 NOOP\r\n").await.unwrap();
        server.write_all(&[b'a'; 999]).await.unwrap();
        let mut got = 0;
        while got < 999 {
            got += b.read(&mut buf).await.unwrap();
        }
        server.write_all(b"aa").await.unwrap();
        let e = b.read(&mut buf).await.unwrap_err();
        assert!(matches!(overflow(&e), Some(Overflow::Answer { max: 1000 })));
    }
}
