//! UTC timestamps for spool ids, records and reports, in the forms banc writes them; the
//! calendar is the `time` crate's. And the deadline of a document's checks ([`Deadline`]).

use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// A UTC calendar date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl Utc {
    pub fn now() -> Utc {
        let t = OffsetDateTime::now_utc();
        Utc::from_time(t, u32::from(t.millisecond()))
    }

    /// A Unix time; out of the `time` crate's range (years ±9999), the epoch.
    pub fn from_unix(secs: i64, millis: u32) -> Utc {
        let t = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Utc::from_time(t, millis)
    }

    fn from_time(t: OffsetDateTime, millis: u32) -> Utc {
        Utc {
            year: i64::from(t.year()),
            month: u32::from(u8::from(t.month())),
            day: u32::from(t.day()),
            hour: u32::from(t.hour()),
            minute: u32::from(t.minute()),
            second: u32::from(t.second()),
            millis,
        }
    }

    /// `2026-01-15T10:30:00.123Z` (RFC 3339).
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }

    /// `20260115T103000Z`: sorts like the time, safe in a file name.
    pub fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Time per stage of a document's checks (parse, XSD, each schematron...), measured only on a
/// thread that asked for it with [`stages`]: `banc bench` prints them; elsewhere [`stage`] is a
/// plain call (one thread-local read).
pub mod stages {
    use std::cell::RefCell;
    use std::time::{Duration, Instant};

    thread_local! {
        static TAKEN: RefCell<Option<Vec<(String, Duration)>>> = const { RefCell::new(None) };
    }

    /// Run `f`, adding its time to the stage `name` when this thread records.
    pub fn stage<T>(name: impl FnOnce() -> String, f: impl FnOnce() -> T) -> T {
        if !TAKEN.with(|t| t.borrow().is_some()) {
            return f();
        }
        let start = Instant::now();
        let out = f();
        let spent = start.elapsed();
        let name = name();
        TAKEN.with(|t| {
            if let Some(v) = t.borrow_mut().as_mut() {
                match v.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, d)) => *d += spent,
                    None => v.push((name, spent)),
                }
            }
        });
        out
    }

    /// `f` run with this thread recording, and its stages in the order first met.
    pub fn stages<T>(f: impl FnOnce() -> T) -> (T, Vec<(String, Duration)>) {
        let before = TAKEN.with(|t| t.borrow_mut().replace(Vec::new()));
        let out = f();
        let taken = TAKEN.with(|t| std::mem::replace(&mut *t.borrow_mut(), before));
        (out, taken.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(Utc::from_unix(0, 0).rfc3339(), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (leap day of a century leap year), 12:34:56.
        assert_eq!(
            Utc::from_unix(951_827_696, 7).rfc3339(),
            "2000-02-29T12:34:56.007Z"
        );
        assert_eq!(
            Utc::from_unix(1_767_225_600, 0).compact(),
            "20260101T000000Z"
        );
        assert_eq!(Utc::from_unix(-1, 0).rfc3339(), "1969-12-31T23:59:59.000Z");
    }
}

/// When the checks of one document must stop: the work budget of the document from its start
/// (see `pipeline::Budget`), or never. The engines look at it at safe points (between rules,
/// between the nodes a rule runs on, every 16 nodes for the schematrons) and stop there, so a
/// document costs at most its budget plus a few steps.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    start: Instant,
    budget: Option<Duration>,
    at: Option<Instant>,
    /// Time postponed: not the document's work.
    excluded: Duration,
}

impl Deadline {
    /// No limit.
    pub fn never() -> Deadline {
        Deadline {
            start: Instant::now(),
            budget: None,
            at: None,
            excluded: Duration::ZERO,
        }
    }

    /// `budget` from `start` (a budget beyond the clock's range never ends).
    pub fn new(start: Instant, budget: Duration) -> Deadline {
        Deadline {
            start,
            budget: Some(budget),
            at: start.checked_add(budget),
            excluded: Duration::ZERO,
        }
    }

    /// Whether the budget is spent.
    pub fn passed(&self) -> bool {
        self.at.is_some_and(|at| Instant::now() >= at)
    }

    /// Move the end later by `by`: time spent on work that is not this document's (compiling
    /// the kit's rules on first use).
    pub fn postpone(&mut self, by: Duration) {
        self.at = self.at.and_then(|at| at.checked_add(by));
        self.excluded = self.excluded.saturating_add(by);
    }

    /// The document's time so far: since the start, less the time postponed.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed().saturating_sub(self.excluded)
    }

    /// The budget, None when there is none.
    pub fn budget(&self) -> Option<Duration> {
        self.budget
    }
}
