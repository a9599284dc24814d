//! What reaches banc during a run: messages (through its SMTP server) and webhook calls (through
//! its HTTP listener), each claimed by the one step it answers.
//!
//! Routing of a message: an `await-mail` step takes a message from its participant's mailbox
//! (envelope sender or `From`) addressed to `<mailbox>+<scenario id>@…` (or to the bare
//! `<mailbox>@…`, or to a patient mailbox `<INS>@patient.mssante.fr` when the step's mailbox is
//! `patient`); an `await-ack` step takes the MDN or DSN whose original Message-ID is the one banc
//! sent. Each message is claimed once, in arrival order.

use crate::finding::report::RunReport;
use crate::transport::server::Analysed;
use crate::transport::spool::Envelope;
use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::Notify;

/// Domain of patient mailboxes (Mon espace santé).
pub const PATIENT_DOMAIN: &str = "patient.mssante.fr";

/// A message banc received.
#[derive(Debug)]
pub struct Received {
    pub envelope: Envelope,
    pub raw: Vec<u8>,
    pub report: RunReport,
    /// `From` address (lower case, no angle brackets).
    pub from: Option<String>,
    /// For an MDN or DSN: the Message-ID (with angle brackets) of the message it acknowledges.
    pub acknowledges: Option<String>,
}

impl Received {
    pub fn from_analysed(a: Analysed) -> Received {
        let raw = a.raw;
        let from = crate::mail::header_text(&raw, "From")
            .map(|f| crate::mail::checks::angle_address(&f).to_ascii_lowercase());
        let acknowledges = match crate::mail::mdn::ack_kind(&raw) {
            Ok(crate::mail::mdn::AckKind::Mdn) => crate::mail::mdn::parse_mdn(&raw)
                .ok()
                .and_then(|m| m.original_message_id),
            Ok(crate::mail::mdn::AckKind::Dsn) => crate::mail::mdn::parse_dsn(&raw)
                .ok()
                .and_then(|d| d.returned_message_id),
            Err(_) => None,
        }
        .or_else(|| crate::mail::header_text(&raw, "In-Reply-To"))
        .map(|id| normalise_id(&id));
        Received {
            envelope: a.envelope,
            raw,
            report: a.report,
            from,
            acknowledges,
        }
    }

    /// Sent by `address` (envelope sender or From).
    pub fn sent_by(&self, address: &str) -> bool {
        let a = address.to_ascii_lowercase();
        self.envelope.mail_from.to_ascii_lowercase() == a || self.from.as_deref() == Some(&a)
    }

    /// Addressed to `local@…` (any domain), local part compared without case.
    pub fn to_local(&self, local: &str) -> bool {
        self.envelope.rcpt_to.iter().any(|r| {
            r.rsplit_once('@')
                .is_some_and(|(l, _)| l.eq_ignore_ascii_case(local))
        })
    }

    /// Addressed to a mailbox of `domain`.
    pub fn to_domain(&self, domain: &str) -> bool {
        self.envelope.rcpt_to.iter().any(|r| {
            r.rsplit_once('@')
                .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain))
        })
    }
}

/// `<id>` whatever the spacing.
pub fn normalise_id(id: &str) -> String {
    let t = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    format!("<{t}>")
}

/// A call the SUT made to banc's HTTP listener.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub path: String,
    pub body: String,
    pub peer: String,
}

/// Arrived items of one kind, each claimed at most once.
pub struct Board<T> {
    items: Mutex<Vec<(std::sync::Arc<T>, bool)>>,
    arrived: Notify,
}

impl<T> Default for Board<T> {
    fn default() -> Self {
        Board {
            items: Mutex::new(Vec::new()),
            arrived: Notify::new(),
        }
    }
}

impl<T> Board<T> {
    pub fn push(&self, item: T) {
        if let Ok(mut v) = self.items.lock() {
            v.push((std::sync::Arc::new(item), false));
        }
        self.arrived.notify_waiters();
    }

    fn claim(&self, wanted: &dyn Fn(&T) -> bool) -> Option<std::sync::Arc<T>> {
        let mut v = self.items.lock().ok()?;
        let slot = v.iter_mut().find(|(it, taken)| !*taken && wanted(it))?;
        slot.1 = true;
        Some(slot.0.clone())
    }

    /// The first unclaimed item `wanted` accepts, waiting for one until `deadline`.
    pub async fn wait_for(
        &self,
        wanted: &(dyn Fn(&T) -> bool + Sync),
        deadline: Instant,
    ) -> Option<std::sync::Arc<T>> {
        loop {
            // Registered before looking, so an arrival between the look and the wait is seen.
            let notified = self.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(it) = self.claim(wanted) {
                return Some(it);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if tokio::time::timeout(left, notified).await.is_err() {
                return self.claim(wanted);
            }
        }
    }

    /// Drop the items already claimed (a board that outlives runs keeps only what may still be
    /// awaited).
    pub fn forget_claimed(&self) {
        if let Ok(mut v) = self.items.lock() {
            v.retain(|(_, taken)| !*taken);
        }
    }

    /// Keep at most `n` items, dropping the oldest (a board fed for days stays bounded).
    pub fn keep_at_most(&self, n: usize) {
        if let Ok(mut v) = self.items.lock()
            && v.len() > n
        {
            let extra = v.len() - n;
            v.drain(..extra);
        }
    }

    /// Items nobody claimed (reported at the end of a run).
    pub fn unclaimed(&self) -> Vec<std::sync::Arc<T>> {
        self.items.lock().map_or_else(
            |_| Vec::new(),
            |v| {
                v.iter()
                    .filter(|(_, t)| !*t)
                    .map(|(i, _)| i.clone())
                    .collect()
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn an_item_is_claimed_once_and_a_late_arrival_wakes_the_waiter() {
        let b = std::sync::Arc::new(Board::<u32>::default());
        b.push(1);
        let soon = Instant::now() + Duration::from_millis(50);
        assert_eq!(b.wait_for(&|x| *x == 1, soon).await.as_deref(), Some(&1));
        assert!(b.wait_for(&|x| *x == 1, soon).await.is_none(), "claimed");
        let b2 = b.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            b2.push(7);
        });
        let later = Instant::now() + Duration::from_secs(5);
        let start = Instant::now();
        assert_eq!(b.wait_for(&|x| *x == 7, later).await.as_deref(), Some(&7));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "woken, not timed out"
        );
        b.push(8);
        assert_eq!(b.unclaimed().len(), 1);
        b.forget_claimed();
        assert_eq!(b.unclaimed().len(), 1, "what nobody took stays");
        b.push(9);
        b.keep_at_most(1);
        assert_eq!(b.unclaimed().iter().map(|x| **x).collect::<Vec<_>>(), [9]);
    }

    #[test]
    fn message_ids_compare_with_or_without_brackets() {
        assert_eq!(normalise_id(" <a@b> "), "<a@b>");
        assert_eq!(normalise_id("a@b"), "<a@b>");
    }
}
