//! Kill-then-wait: how stop and kill end a container. The exit itself is
//! seen through the container's lifecycle watch, which the exit monitor
//! updates once the exit is recorded.

use std::time::Duration;

use tokio::sync::watch;

use crate::container::Lifecycle;
use crate::rt::Task;

/// How long a SIGKILLed container gets to exit, as dockerd allows.
pub(crate) const AFTER_KILL: Duration = Duration::from_secs(10);
/// After the stop timeout's SIGKILL.
pub(crate) const AFTER_STOP_KILL: Duration = Duration::from_secs(30);

/// Waits until the exit is recorded, at most `limit`; whether it was.
pub(crate) async fn exited_within(watch: &mut watch::Receiver<Lifecycle>, limit: Duration) -> bool {
    tokio::time::timeout(limit, watch.wait_for(|l| !l.running))
        .await
        .is_ok_and(|r| r.is_ok())
}

/// Sends `signal`, gives the container `timeout_secs` (forever when
/// negative) to exit, then SIGKILLs it. `on_signal` hears each signal sent;
/// false: still running [`AFTER_STOP_KILL`] after the SIGKILL.
pub(crate) async fn signal_then_kill(
    task: &dyn Task,
    watch: &mut watch::Receiver<Lifecycle>,
    signal: i32,
    timeout_secs: i64,
    mut on_signal: impl FnMut(i32),
) -> bool {
    if task.kill(signal).await.is_ok() {
        on_signal(signal);
    }
    let graceful = if timeout_secs < 0 {
        watch.wait_for(|l| !l.running).await.is_ok()
    } else {
        exited_within(watch, Duration::from_secs(timeout_secs as u64)).await
    };
    if graceful {
        return true;
    }
    let _ = task.kill(libc::SIGKILL).await;
    on_signal(libc::SIGKILL);
    tokio::time::timeout(AFTER_STOP_KILL, watch.wait_for(|l| !l.running))
        .await
        .is_ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::time::Instant;

    use super::*;
    use crate::rt::fake::{Behaviour, Call, FakeRuntime};
    use crate::testutil::created;

    /// A started container whose lifecycle watch follows its exit, as the engine's monitor does.
    async fn running(
        rt: &Arc<FakeRuntime>,
        b: Behaviour,
    ) -> (Arc<dyn Task>, watch::Receiver<Lifecycle>) {
        rt.script(b);
        let (task, _) = created(rt, "c").await;
        task.start().await.unwrap();
        let (tx, rx) = watch::channel(Lifecycle {
            running: true,
            ..Lifecycle::default()
        });
        let monitored = task.clone();
        tokio::spawn(async move {
            let code = monitored.wait().await.map(|s| s.exit_code).unwrap_or(255);
            tx.send_modify(|l| {
                l.running = false;
                l.exits += 1;
                l.exit_code = code;
            });
            // Keeps the sender as the container object does.
            std::future::pending::<()>().await;
        });
        (task, rx)
    }

    #[tokio::test(start_paused = true)]
    async fn a_container_that_obeys_stops_on_the_first_signal() {
        let rt = FakeRuntime::new();
        let (task, mut watch) = running(&rt, Behaviour::runs_until_killed()).await;
        let mut sent = Vec::new();
        let begin = Instant::now();
        assert!(
            signal_then_kill(task.as_ref(), &mut watch, libc::SIGTERM, 10, |s| sent
                .push(s))
            .await
        );
        assert_eq!(sent, [libc::SIGTERM]);
        assert!(begin.elapsed() < Duration::from_secs(1));
        assert_eq!(watch.borrow().exit_code, 128 + libc::SIGTERM);
    }

    #[tokio::test(start_paused = true)]
    async fn one_that_ignores_it_is_killed_after_the_timeout() {
        let rt = FakeRuntime::new();
        let b = Behaviour::runs_until_killed().ignoring(libc::SIGTERM);
        let (task, mut watch) = running(&rt, b).await;
        let mut sent = Vec::new();
        let begin = Instant::now();
        assert!(
            signal_then_kill(task.as_ref(), &mut watch, libc::SIGTERM, 5, |s| sent
                .push(s))
            .await
        );
        assert_eq!(begin.elapsed(), Duration::from_secs(5));
        assert_eq!(sent, [libc::SIGTERM, libc::SIGKILL]);
        assert_eq!(watch.borrow().exit_code, 137);
        let kills: Vec<_> = rt
            .calls()
            .into_iter()
            .filter(|c| matches!(c, Call::Kill(_)))
            .collect();
        assert_eq!(
            kills,
            [Call::Kill(libc::SIGTERM), Call::Kill(libc::SIGKILL)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_negative_timeout_waits_for_as_long_as_it_takes() {
        let rt = FakeRuntime::new();
        let b = Behaviour::exits_with(0, Duration::from_secs(3600)).ignoring(libc::SIGTERM);
        let (task, mut watch) = running(&rt, b).await;
        let mut sent = Vec::new();
        assert!(
            signal_then_kill(task.as_ref(), &mut watch, libc::SIGTERM, -1, |s| sent
                .push(s))
            .await
        );
        assert_eq!(sent, [libc::SIGTERM]);
        assert_eq!(watch.borrow().exit_code, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_container_that_survives_sigkill_is_reported() {
        let rt = FakeRuntime::new();
        let b = Behaviour::runs_until_killed()
            .ignoring(libc::SIGTERM)
            .ignoring(libc::SIGKILL);
        let (task, mut watch) = running(&rt, b).await;
        let begin = Instant::now();
        assert!(!signal_then_kill(task.as_ref(), &mut watch, libc::SIGTERM, 1, |_| {}).await);
        assert_eq!(begin.elapsed(), Duration::from_secs(1) + AFTER_STOP_KILL);
        task.kill(libc::SIGKILL).await.unwrap();
        assert!(!exited_within(&mut watch, AFTER_KILL).await);
    }

    #[tokio::test(start_paused = true)]
    async fn sigkill_answers_once_the_exit_is_recorded() {
        let rt = FakeRuntime::new();
        let (task, mut watch) = running(&rt, Behaviour::runs_until_killed()).await;
        task.kill(libc::SIGKILL).await.unwrap();
        assert!(exited_within(&mut watch, AFTER_KILL).await);
        assert_eq!(watch.borrow().exits, 1);
        assert!(
            task.kill(libc::SIGKILL).await.is_err(),
            "a dead container takes no signal"
        );
    }
}
