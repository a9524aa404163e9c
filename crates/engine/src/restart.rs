//! Restart policies: whether an exit is followed by a restart, Docker's
//! backoff between restarts, and what a daemon start does with stopped containers.

use std::sync::Arc;

use tokio::time::Instant;

use crate::container::Container;
use crate::model::{RestartPolicy, State, Status};
use crate::{Engine, EngineError, Result};

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

impl Engine {
    /// Marks the container restarting and starts it again after the backoff,
    /// unless someone stops or removes it meanwhile.
    pub(crate) fn schedule_restart(self: &Arc<Self>, c: &Arc<Container>) {
        let delay = c.lock().backoff.next(Instant::now());
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
    use crate::backoff::{Backoff, MAX_DELAY};
    use crate::rt::fake::{Behaviour, FakeRuntime};
    use crate::testutil::created;
    use std::time::Duration;

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

    /// The engine's exit → policy → backoff → start cycle, on the fake:
    /// when each run started, relative to the first.
    async fn supervise(
        rt: &Arc<FakeRuntime>,
        policy: &RestartPolicy,
        runs: usize,
    ) -> Vec<Duration> {
        let begin = Instant::now();
        let mut backoff = Backoff::default();
        let mut state = State::default();
        let mut starts = Vec::new();
        for _ in 0..runs {
            let (task, dir) = created(rt, "r").await;
            task.start().await.unwrap();
            starts.push(begin.elapsed());
            backoff.started(Instant::now());
            crate::exit::apply(
                &mut state,
                &crate::exit::wait(rt.as_ref(), task.as_ref(), &dir).await,
            );
            if !after_exit(policy, &state) {
                break;
            }
            tokio::time::sleep(backoff.next(Instant::now())).await;
            state.restart_count += 1;
        }
        starts
    }

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|m| Duration::from_millis(*m)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn on_failure_backs_off_and_gives_up_after_its_retries() {
        let rt = FakeRuntime::new();
        for _ in 0..10 {
            rt.script(Behaviour::exits_with(1, Duration::from_secs(1)));
        }
        let starts = supervise(&rt, &policy("on-failure", 3), 10).await;
        // 1 s runs, then 100, 200, 400 ms of backoff; the fourth failure is the last.
        assert_eq!(starts, ms(&[0, 1100, 2300, 3700]));
    }

    #[tokio::test(start_paused = true)]
    async fn always_doubles_up_to_a_minute() {
        let rt = FakeRuntime::new();
        for _ in 0..12 {
            rt.script(Behaviour::exits_with(0, Duration::ZERO));
        }
        let starts = supervise(&rt, &policy("always", 0), 12).await;
        let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps[..4], ms(&[100, 200, 400, 800]));
        assert_eq!(gaps[10], MAX_DELAY);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stable_run_resets_the_backoff() {
        let rt = FakeRuntime::new();
        for after in [0, 0, 11_000, 0] {
            rt.script(Behaviour::exits_with(2, Duration::from_millis(after)));
        }
        let starts = supervise(&rt, &policy("unless-stopped", 0), 4).await;
        // 100, 200, then the 11 s run resets to 100.
        assert_eq!(starts, ms(&[0, 100, 300, 11_400]));
    }

    #[tokio::test(start_paused = true)]
    async fn no_policy_and_success_under_on_failure_do_not_restart() {
        let rt = FakeRuntime::new();
        rt.script(Behaviour::exits_with(1, Duration::ZERO));
        assert_eq!(supervise(&rt, &policy("no", 0), 5).await.len(), 1);
        rt.script(Behaviour::exits_with(0, Duration::ZERO));
        assert_eq!(supervise(&rt, &policy("on-failure", 0), 5).await.len(), 1);
    }
}
