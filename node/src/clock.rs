//! The node's wall clock: where log times, checkpoint staleness, validity windows and evidence
//! times come from.
//!
//! A running node reads the time only through the [`Clock`] it was started with
//! ([`crate::RunningNode::start_with_clock`]): the system clock in production, a test clock in
//! tests, which move it with [`Clock::advance`] or [`Clock::set`] instead of sleeping. Timers
//! (heartbeat ticks, mirror polls, timeouts) stay on tokio's real time: only the wall-clock
//! *value* a timer's work reads comes from the clock, so after an advance the next tick sees the
//! new time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A wall clock, cheap to clone; clones share one time.
///
/// [`Clock::system`] is the system clock. [`Clock::test`] follows the system clock shifted by
/// however far [`Clock::advance`] and [`Clock::set`] moved it: time keeps passing as it does
/// for the system clock (so a node on a test clock behaves as one on the system clock until a
/// test moves it), and a test makes time pass at once by advancing it.
#[derive(Clone, Default)]
pub struct Clock {
    /// `None`: the system clock. `Some`: a test clock's shift from it, in milliseconds.
    shift_ms: Option<Arc<AtomicI64>>,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.shift_ms {
            None => f.write_str("Clock::system"),
            Some(shift) => write!(f, "Clock::test(shifted {} ms)", shift.load(Ordering::Relaxed)),
        }
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { shift_ms: None }
    }

    /// A test clock, starting at the system clock's time.
    pub fn test() -> Self {
        Self { shift_ms: Some(Arc::new(AtomicI64::new(0))) }
    }

    /// Whether this is a test clock (one that can be moved).
    pub fn is_test(&self) -> bool {
        self.shift_ms.is_some()
    }

    /// Current Unix time in seconds.
    pub fn now(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }

    /// Current Unix time in milliseconds.
    pub fn now_millis(&self) -> i64 {
        system_millis() + self.shift()
    }

    /// A monotonic instant, moved as far as the clock was (for the system clock,
    /// `Instant::now()`): for deadlines kept in memory that a test should be able to pass by
    /// advancing the clock.
    pub fn instant(&self) -> Instant {
        let now = Instant::now();
        let shift = self.shift();
        let by = Duration::from_millis(shift.unsigned_abs());
        if shift >= 0 {
            now + by
        } else {
            now.checked_sub(by).unwrap_or(now)
        }
    }

    /// Moves a test clock `secs` seconds forward (backward if negative).
    ///
    /// # Panics
    /// On the system clock, which cannot be moved.
    pub fn advance(&self, secs: i64) {
        self.advance_millis(secs.saturating_mul(1000));
    }

    /// Moves a test clock `millis` milliseconds forward (backward if negative).
    ///
    /// # Panics
    /// On the system clock.
    pub fn advance_millis(&self, millis: i64) {
        self.test_shift().fetch_add(millis, Ordering::SeqCst);
    }

    /// Sets a test clock to Unix time `secs` (from where it keeps running).
    ///
    /// # Panics
    /// On the system clock.
    pub fn set(&self, secs: i64) {
        self.test_shift().store(secs.saturating_mul(1000) - system_millis(), Ordering::SeqCst);
    }

    fn shift(&self) -> i64 {
        self.shift_ms.as_ref().map_or(0, |s| s.load(Ordering::SeqCst))
    }

    fn test_shift(&self) -> &AtomicI64 {
        self.shift_ms.as_deref().expect("the system clock cannot be moved: start the node with Clock::test()")
    }
}

fn system_millis() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_millis() as i64,
        Err(before) => -(before.duration().as_millis() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_reads_the_system_time() {
        let clock = Clock::system();
        let system = chrono::Utc::now().timestamp();
        assert!((clock.now() - system).abs() <= 1);
        assert!(!clock.is_test());
    }

    #[test]
    fn a_test_clock_starts_at_the_system_time_and_moves_when_told() {
        let clock = Clock::test();
        let start = chrono::Utc::now().timestamp();
        assert!((clock.now() - start).abs() <= 1);
        let shared = clock.clone();
        shared.advance(3600);
        assert!((clock.now() - start - 3600).abs() <= 1);
        let before = Instant::now();
        assert!(clock.instant() >= before + Duration::from_secs(3599));
        clock.set(1_000_000);
        assert!((clock.now() - 1_000_000).abs() <= 1);
        clock.advance(-10);
        assert!((clock.now() - 999_990).abs() <= 1);
    }

    #[test]
    #[should_panic(expected = "cannot be moved")]
    fn the_system_clock_cannot_be_moved() {
        Clock::system().advance(1);
    }
}
