//! Restart policies: whether an exit is followed by a restart, Docker's
//! backoff between restarts, and what a daemon start does with stopped containers.

use std::sync::Arc;
use std::time::Duration;

use crate::container::Container;
use crate::model::{RestartPolicy, State, Status};
use crate::{Engine, EngineError, Result};

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run this long resets the backoff, as dockerd's restart manager does.
const STABLE_RUN: Duration = Duration::from_secs(10);

pub fn validate(policy: &RestartPolicy, auto_remove: bool) -> Result<()> {
    match policy.name.as_str() {
        "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
        other => {
            return Err(EngineError::InvalidParameter(format!(
                "invalid restart policy '{other}'"
            )));
        }
    }
    if policy.maximum_retry_count < 0 {
        return Err(EngineError::InvalidParameter(
            "invalid restart policy: maximum retry count cannot be negative".into(),
        ));
    }
    if policy.maximum_retry_count > 0 && policy.name != "on-failure" {
        return Err(EngineError::InvalidParameter(format!(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'; got '{}'",
            policy.name
        )));
    }
    if auto_remove && !matches!(policy.name.as_str(), "" | "no") {
        return Err(EngineError::InvalidParameter(
            "conflicting options: cannot specify both --restart and --rm".into(),
        ));
    }
    Ok(())
}

/// Whether the container should come back after this exit.
pub fn after_exit(policy: &RestartPolicy, state: &State) -> bool {
    if state.stopped_by_user {
        return false;
    }
    match policy.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            state.exit_code != 0
                && (policy.maximum_retry_count == 0
                    || (state.restart_count as i64) < policy.maximum_retry_count)
        }
        _ => false,
    }
}

/// Whether a starting daemon starts this stopped container: "always" even after a
/// manual stop, "unless-stopped" only if nobody stopped it.
pub fn on_daemon_start(policy: &RestartPolicy, state: &State) -> bool {
    match policy.name.as_str() {
        "always" => true,
        "unless-stopped" => !state.stopped_by_user,
        _ => false,
    }
}

/// The next delay: doubling from 100 ms up to a minute, reset by a stable run.
pub fn next_delay(previous: Duration, ran_for: Option<Duration>) -> Duration {
    if previous.is_zero() || ran_for.is_some_and(|r| r >= STABLE_RUN) {
        FIRST_DELAY
    } else {
        (previous * 2).min(MAX_DELAY)
    }
}

impl Engine {
    /// Marks the container restarting and starts it again after the backoff,
    /// unless someone stops or removes it meanwhile.
    pub(crate) fn schedule_restart(self: &Arc<Self>, c: &Arc<Container>) {
        let delay = {
            let mut inner = c.lock();
            let ran_for = inner.started_instant.map(|t| t.elapsed());
            inner.restart_delay = next_delay(inner.restart_delay, ran_for);
            inner.restart_delay
        };
        if let Err(err) = c.update_state(|s| s.status = Status::Restarting) {
            tracing::error!(container = %c.id, "persisting restart: {err}");
            return;
        }
        tracing::debug!(container = %c.id, "restarting in {delay:?}");
        let engine = self.clone();
        let c = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if c.status() != Status::Restarting {
                return;
            }
            if let Err(err) = c.update_state(|s| s.restart_count += 1) {
                tracing::error!(container = %c.id, "persisting restart count: {err}");
            }
            if let Err(err) = engine.start(&c.id).await {
                tracing::warn!(container = %c.id, "restart failed: {err}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, max: i64) -> RestartPolicy {
        RestartPolicy {
            name: name.into(),
            maximum_retry_count: max,
        }
    }

    #[test]
    fn validation_follows_docker() {
        assert!(validate(&policy("always", 0), false).is_ok());
        assert!(validate(&policy("on-failure", 3), false).is_ok());
        assert!(validate(&policy("always", 3), false).is_err());
        assert!(validate(&policy("sometimes", 0), false).is_err());
        assert!(validate(&policy("always", 0), true).is_err());
        assert!(validate(&policy("no", 0), true).is_ok());
    }

    #[test]
    fn exits_that_restart() {
        let mut st = State {
            exit_code: 1,
            ..State::default()
        };
        assert!(after_exit(&policy("always", 0), &st));
        assert!(after_exit(&policy("on-failure", 0), &st));
        st.restart_count = 2;
        assert!(!after_exit(&policy("on-failure", 2), &st));
        assert!(after_exit(&policy("on-failure", 3), &st));
        st.exit_code = 0;
        assert!(!after_exit(&policy("on-failure", 0), &st));
        assert!(after_exit(&policy("unless-stopped", 0), &st));
        st.stopped_by_user = true;
        assert!(!after_exit(&policy("always", 0), &st));
        assert!(on_daemon_start(&policy("always", 0), &st));
        assert!(!on_daemon_start(&policy("unless-stopped", 0), &st));
        assert!(!after_exit(&policy("no", 0), &st));
    }

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
