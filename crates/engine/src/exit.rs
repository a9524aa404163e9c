//! How a run ends: the shim's answer to wait or, when the shim is gone, the
//! exit record it left; and what that exit writes into the container's state.

use std::path::Path;

use runtime::shim::ExitStatus;

use crate::model::{State, Status};
use crate::rt::{ContainerRuntime, Task};

/// The code recorded when a shim vanished without leaving an exit record.
const LOST_EXIT_CODE: i32 = 255;

/// Waits for the container's exit; a lost shim still yields an exit.
pub(crate) async fn wait(
    rt: &dyn ContainerRuntime,
    task: &dyn Task,
    state_dir: &Path,
) -> ExitStatus {
    match task.wait().await {
        Ok(status) => status,
        Err(err) => {
            tracing::warn!(state_dir = %state_dir.display(), "lost the shim: {err}");
            after_lost_shim(rt, state_dir)
        }
    }
}

/// The shim went away without answering wait: its exit file is the record.
pub(crate) fn after_lost_shim(rt: &dyn ContainerRuntime, state_dir: &Path) -> ExitStatus {
    rt.exit_record(state_dir).unwrap_or_else(|| ExitStatus {
        exit_code: LOST_EXIT_CODE,
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        oom_killed: false,
    })
}

/// Records the exit; the shim's finish time wins over ours, which is later.
pub(crate) fn apply(state: &mut State, status: &ExitStatus) {
    let finished = chrono::DateTime::parse_from_rfc3339(&status.finished_at)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| chrono::Utc::now());
    state.status = Status::Exited;
    state.pid = 0;
    state.exit_code = status.exit_code;
    state.oom_killed = status.oom_killed;
    state.finished_at = Some(finished);
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::rt::fake::{Behaviour, Call, FakeRuntime};
    use crate::testutil::created;

    #[tokio::test(start_paused = true)]
    async fn a_container_exiting_by_itself_reports_its_code() {
        let rt = FakeRuntime::new();
        rt.script(Behaviour::exits_with(3, Duration::from_secs(2)));
        let (task, dir) = created(&rt, "a").await;
        task.start().await.unwrap();
        let begin = tokio::time::Instant::now();
        let status = wait(rt.as_ref(), task.as_ref(), &dir).await;
        assert_eq!(status.exit_code, 3);
        assert_eq!(begin.elapsed(), Duration::from_secs(2));
        let mut state = State {
            status: Status::Running,
            pid: 42,
            ..State::default()
        };
        apply(&mut state, &status);
        assert_eq!(state.status, Status::Exited);
        assert_eq!(
            (state.pid, state.exit_code, state.oom_killed),
            (0, 3, false)
        );
        let finished = state.finished_at.unwrap();
        assert_eq!(
            finished.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            status.finished_at
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_oom_kill_is_recorded() {
        let rt = FakeRuntime::new();
        rt.script(Behaviour {
            oom: true,
            ..Behaviour::exits_with(137, Duration::from_millis(10))
        });
        let (task, dir) = created(&rt, "oom").await;
        task.start().await.unwrap();
        let mut state = State::default();
        apply(&mut state, &wait(rt.as_ref(), task.as_ref(), &dir).await);
        assert!(state.oom_killed);
        assert_eq!(state.exit_code, 137);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_shim_answers_with_its_exit_record_or_255() {
        let rt = FakeRuntime::new();
        let (task, dir) = created(&rt, "lost").await;
        task.start().await.unwrap();
        let record = ExitStatus {
            exit_code: 7,
            finished_at: "2024-01-02T03:04:05.000000006Z".into(),
            oom_killed: false,
        };
        let waiter = {
            let (rt, task, dir) = (rt.clone(), task.clone(), dir.clone());
            tokio::spawn(async move { wait(rt.as_ref(), task.as_ref(), &dir).await })
        };
        tokio::task::yield_now().await;
        rt.disappear(&dir, Some(record.clone()));
        assert_eq!(waiter.await.unwrap(), record);

        let nothing = PathBuf::from("/fake/none");
        assert_eq!(after_lost_shim(rt.as_ref(), &nothing).exit_code, 255);
        assert!(rt.connect(&dir).await.is_err());
        assert!(rt.calls().contains(&Call::Connect(dir)));
    }

    #[test]
    fn an_unreadable_finish_time_becomes_now() {
        let mut state = State::default();
        let before = chrono::Utc::now();
        apply(
            &mut state,
            &ExitStatus {
                exit_code: 1,
                finished_at: "garbage".into(),
                oom_killed: false,
            },
        );
        assert!(state.finished_at.unwrap() >= before);
    }
}
