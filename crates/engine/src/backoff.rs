//! Docker's backoff between restarts of a container: pure timing on
//! tokio's clock, held by each container (so `container` needs nothing of
//! the restart logic that acts on containers).

use std::time::Duration;

use tokio::time::Instant;

const FIRST_DELAY: Duration = Duration::from_millis(100);
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run this long resets the backoff, as dockerd's restart manager does.
const STABLE_RUN: Duration = Duration::from_secs(10);

/// The next delay: doubling from 100 ms up to a minute, reset by a stable run.
pub(crate) fn next_delay(previous: Duration, ran_for: Option<Duration>) -> Duration {
    if previous.is_zero() || ran_for.is_some_and(|r| r >= STABLE_RUN) {
        FIRST_DELAY
    } else {
        (previous * 2).min(MAX_DELAY)
    }
}

/// One container's backoff, on tokio's clock so tests can pause it.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    delay: Duration,
    /// When the current run began.
    started: Option<Instant>,
}

impl Backoff {
    pub fn started(&mut self, now: Instant) {
        self.started = Some(now);
    }

    /// The delay before the next start, after a run that ended `now`.
    pub fn next(&mut self, now: Instant) -> Duration {
        let ran_for = self.started.map(|t| now.saturating_duration_since(t));
        self.delay = next_delay(self.delay, ran_for);
        self.delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_resets() {
        let d1 = next_delay(Duration::ZERO, None);
        assert_eq!(d1, Duration::from_millis(100));
        let d2 = next_delay(d1, Some(Duration::from_secs(1)));
        assert_eq!(d2, Duration::from_millis(200));
        assert_eq!(
            next_delay(Duration::from_secs(50), Some(Duration::from_secs(1))),
            MAX_DELAY
        );
        assert_eq!(next_delay(d2, Some(Duration::from_secs(11))), FIRST_DELAY);
    }
}
