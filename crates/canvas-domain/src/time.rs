//! Timestamps in the shapes the seed API uses.

use chrono::{DateTime, SecondsFormat, Utc};
use std::sync::{Arc, Mutex};

pub type Timestamp = DateTime<Utc>;

/// The current instant, truncated to microseconds so that what is stored
/// and what is read back compare equal on every backend.
pub fn now() -> Timestamp {
    truncated(Utc::now())
}

fn truncated(t: Timestamp) -> Timestamp {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// Where "now" comes from. The scheduler and the API take one, so tests
/// can run them at fixed instants; the domain's functions take instants.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// A clock shared by every part of a node.
pub type SharedClock = Arc<dyn Clock>;

/// The system's clock (`now()`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        now()
    }
}

impl SystemClock {
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

/// A clock that stands still until it is set or advanced: tests run the
/// scheduler at chosen instants instead of sleeping.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    pub fn at(t: Timestamp) -> Self {
        Self(Arc::new(Mutex::new(truncated(t))))
    }

    pub fn set(&self, t: Timestamp) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = truncated(t);
    }

    pub fn advance(&self, by: chrono::Duration) -> Timestamp {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
        *t
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `2022-04-19T15:56:22.1133746`: UTC without an offset, trailing zeros of
/// the fraction trimmed, as .NET writes a `DateTime` of kind Unspecified.
pub fn format_plain(t: &Timestamp) -> String {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    // Written by hand: chrono's strftime parses its pattern on every call,
    // and lists format several dates per row.
    let mut s = String::with_capacity(28);
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let ticks = t.nanosecond() % 1_000_000_000 / 100; // .NET keeps 7 digits (100 ns ticks)
    if ticks > 0 {
        let digits = format!("{ticks:07}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    s
}

/// `2022-04-12T10:36:57.877+00:00`: UTC with an explicit offset.
pub fn format_offset(t: &Timestamp) -> String {
    let mut s = format_plain(t);
    s.push_str("+00:00");
    s
}

/// `2026-03-29T01:00:00Z`: RFC 3339 with `Z`, used by the operator tools.
pub fn format_rfc3339(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn plain_format_trims_trailing_zeros_of_the_fraction() {
        let t = Utc.with_ymd_and_hms(2020, 5, 7, 19, 10, 36).unwrap()
            + chrono::Duration::milliseconds(690);
        assert_eq!(format_plain(&t), "2020-05-07T19:10:36.69");
        let whole = Utc.with_ymd_and_hms(2020, 5, 7, 19, 10, 36).unwrap();
        assert_eq!(format_plain(&whole), "2020-05-07T19:10:36");
        assert_eq!(format_offset(&whole), "2020-05-07T19:10:36+00:00");
        let ticks = whole + chrono::Duration::nanoseconds(113_374_600);
        assert_eq!(format_plain(&ticks), "2020-05-07T19:10:36.1133746");
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap();
        let clock = ManualClock::at(start);
        assert_eq!(clock.now(), start);
        let later = clock.advance(chrono::Duration::milliseconds(1500));
        assert_eq!(
            (later, clock.now()),
            (start + chrono::Duration::milliseconds(1500), later)
        );
        clock.set(start);
        assert_eq!(clock.now(), start);
    }
}
