//! Health checks: the configured probe runs as an exec at each interval; its
//! results drive `.State.Health` and `health_status` events, as in dockerd.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::container::Container;
use crate::model::{ExecCreateRequest, Status};
pub use crate::model::{Health, HealthLog};
use crate::{Engine, Result};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;
/// dockerd keeps the last five results and 4 KiB of output each.
const MAX_LOG: usize = 5;
const MAX_OUTPUT: usize = 4096;

/// The probe's argv: `["CMD", ...]` as is, `["CMD-SHELL", s]` through /bin/sh;
/// `["NONE"]` or nothing disables the check.
pub fn probe_command(test: &[String]) -> Option<Vec<String>> {
    match test.first().map(String::as_str) {
        Some("CMD") if test.len() > 1 => Some(test[1..].to_vec()),
        Some("CMD-SHELL") if test.len() > 1 => {
            Some(vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")])
        }
        _ => None,
    }
}

fn duration(ns: Option<i64>, default: Duration) -> Duration {
    match ns {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

/// Applies one probe's result; the new status if it changed. Failures in
/// the start period are logged but do not count towards `retries`.
pub(crate) fn record(
    health: &mut Health,
    entry: HealthLog,
    retries: u32,
    in_start_period: bool,
) -> Option<String> {
    let before = health.status.clone();
    if entry.exit_code == 0 {
        health.failing_streak = 0;
        health.status = "healthy".into();
    } else if !in_start_period {
        health.failing_streak += 1;
        if health.failing_streak >= retries {
            health.status = "unhealthy".into();
        }
    }
    health.log.push(entry);
    if health.log.len() > MAX_LOG {
        let extra = health.log.len() - MAX_LOG;
        health.log.drain(..extra);
    }
    (health.status != before).then(|| health.status.clone())
}

/// A probe's output, capped, once its stream ends; `None` past `timeout`.
pub(crate) async fn collect(
    output: &mut tokio::sync::mpsc::Receiver<crate::container::OutputChunk>,
    timeout: Duration,
) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let read = async {
        while let Some(chunk) = output.recv().await {
            if buf.len() < MAX_OUTPUT {
                buf.extend_from_slice(&chunk.data);
            }
        }
    };
    tokio::time::timeout(timeout, read).await.ok()?;
    buf.truncate(MAX_OUTPUT);
    Some(buf)
}

impl Engine {
    /// Starts the probe loop for a container that just started.
    pub(crate) fn start_health_monitor(self: &Arc<Self>, c: &Arc<Container>) {
        let (check, run) = {
            let inner = c.lock();
            (
                inner.record.config.healthcheck.clone(),
                c.lifecycle.borrow().exits,
            )
        };
        let Some(check) = check else { return };
        let Some(cmd) = probe_command(check.test.as_deref().unwrap_or(&[])) else {
            return;
        };
        let interval = duration(check.interval, DEFAULT_INTERVAL);
        let timeout = duration(check.timeout, DEFAULT_TIMEOUT);
        let start_period = duration(check.start_period, Duration::ZERO);
        let retries = check
            .retries
            .filter(|r| *r > 0)
            .map(|r| r as u32)
            .unwrap_or(DEFAULT_RETRIES);
        let _ = c.update_state(|s| {
            s.health = Some(Health {
                status: "starting".into(),
                ..Health::default()
            })
        });
        let engine = self.clone();
        let c = c.clone();
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(interval).await;
                let current = c.lifecycle.borrow().clone();
                if current.exits != run || !current.running || current.removed {
                    return;
                }
                if c.status() == Status::Paused {
                    continue;
                }
                let begin = Utc::now();
                let (exit_code, output) = engine.probe(&c, &cmd, timeout).await;
                let entry = HealthLog {
                    start: begin,
                    end: Utc::now(),
                    exit_code,
                    output,
                };
                let in_start_period = started.elapsed() < start_period;
                engine.record_probe(&c, entry, retries, in_start_period);
            }
        });
    }

    fn record_probe(&self, c: &Container, entry: HealthLog, retries: u32, in_start_period: bool) {
        let mut changed_to = None;
        let _ = c.update_state(|s| {
            let health = s.health.get_or_insert_with(Health::default);
            changed_to = record(health, entry, retries, in_start_period);
        });
        if let Some(status) = changed_to {
            self.container_event(c, &format!("health_status: {status}"), &[]);
        }
    }

    /// Runs one probe; a probe over its timeout is killed and counts as failed.
    async fn probe(
        self: &Arc<Self>,
        c: &Container,
        cmd: &[String],
        timeout: Duration,
    ) -> (i32, String) {
        let req = ExecCreateRequest {
            attach_stdout: true,
            attach_stderr: true,
            cmd: Some(cmd.to_vec()),
            ..Default::default()
        };
        let run = async {
            let id = self.exec_create(&c.id, req)?;
            let result = self.collect_exec(&id, timeout).await;
            self.exec_forget(&id);
            result
        };
        // As dockerd: a check that could not run is a failed check; one
        // that ran and said "unhealthy" is not.
        let result = run.await;
        self.metrics.health_check(result.is_err());
        match result {
            Ok(r) => r,
            Err(err) => (-1, err.to_string()),
        }
    }

    async fn collect_exec(self: &Arc<Self>, id: &str, timeout: Duration) -> Result<(i32, String)> {
        let mut streams = self.exec_start(id, None).await?;
        let Some(output) = collect(&mut streams.output, timeout).await else {
            if let Ok(v) = self.exec_inspect(id)
                && v.pid > 0
            {
                self.runtime.signal_exec(v.pid, libc::SIGKILL);
            }
            return Ok((-1, format!("Health check exceeded timeout ({timeout:?})")));
        };
        let code = self.exec_inspect(id)?.exit_code.unwrap_or(-1);
        Ok((code, String::from_utf8_lossy(&output).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rt::ContainerRuntime;
    use crate::rt::fake::{Call, ExecScript, FakeRuntime};
    use crate::testutil::{exec_config, exec_launch};

    fn entry(exit_code: i32) -> HealthLog {
        HealthLog {
            start: Utc::now(),
            end: Utc::now(),
            exit_code,
            output: String::new(),
        }
    }

    #[test]
    fn failures_count_after_the_start_period_up_to_retries() {
        let mut h = Health {
            status: "starting".into(),
            ..Health::default()
        };
        assert_eq!(record(&mut h, entry(1), 2, true), None);
        assert_eq!(h.failing_streak, 0, "start-period failures do not count");
        assert_eq!(record(&mut h, entry(1), 2, false), None);
        assert_eq!(record(&mut h, entry(1), 2, false), Some("unhealthy".into()));
        assert_eq!(record(&mut h, entry(1), 2, false), None);
        assert_eq!(record(&mut h, entry(0), 2, false), Some("healthy".into()));
        assert_eq!(h.failing_streak, 0);
        assert_eq!(record(&mut h, entry(0), 2, true), None);
    }

    #[test]
    fn a_success_in_the_start_period_is_healthy_and_the_log_keeps_five() {
        let mut h = Health::default();
        assert_eq!(record(&mut h, entry(0), 3, true), Some("healthy".into()));
        for code in 1..=7 {
            record(&mut h, entry(code), 3, false);
        }
        let codes: Vec<i32> = h.log.iter().map(|e| e.exit_code).collect();
        assert_eq!(codes, [3, 4, 5, 6, 7]);
        assert_eq!(h.status, "unhealthy");
    }

    /// Engine::probe's path on the fake: exec, pump, collect, kill on timeout.
    async fn probe(rt: &FakeRuntime, timeout: Duration) -> (Option<(i32, String)>, u32) {
        let process = rt
            .exec(&exec_launch(), &exec_config(&["probe"]), None)
            .await
            .unwrap();
        let pid = process.pid;
        let (tx, mut rx) = tokio::sync::mpsc::channel(256);
        let ended = crate::exec::pump(process, &tx);
        let code = tokio::spawn(async move {
            let code = ended.await;
            drop(tx);
            code
        });
        let Some(out) = collect(&mut rx, timeout).await else {
            rt.signal_exec(pid, libc::SIGKILL);
            return (None, pid);
        };
        let code = code.await.unwrap();
        (
            Some((code, String::from_utf8_lossy(&out).into_owned())),
            pid,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn probe_output_is_capped_at_4_kib_with_its_exit_code() {
        let rt = FakeRuntime::new();
        rt.script_exec(ExecScript {
            exits: Some((Duration::from_millis(10), 3)),
            stdout: vec![b'x'; 10_000],
            stderr: Vec::new(),
        });
        let (result, _) = probe(&rt, Duration::from_secs(30)).await;
        let (code, out) = result.unwrap();
        assert_eq!(code, 3);
        assert_eq!(out.len(), MAX_OUTPUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_past_its_timeout_is_killed() {
        let rt = FakeRuntime::new();
        rt.script_exec(ExecScript::default());
        let begin = tokio::time::Instant::now();
        let (result, pid) = probe(&rt, Duration::from_secs(2)).await;
        assert!(result.is_none());
        assert_eq!(begin.elapsed(), Duration::from_secs(2));
        assert!(rt.calls().contains(&Call::SignalExec(pid, libc::SIGKILL)));
    }

    #[test]
    fn probe_forms() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(probe_command(&s(&["CMD", "true"])), Some(s(&["true"])));
        assert_eq!(
            probe_command(&s(&["CMD-SHELL", "exit 1"])),
            Some(s(&["/bin/sh", "-c", "exit 1"]))
        );
        assert_eq!(probe_command(&s(&["NONE"])), None);
        assert_eq!(probe_command(&[]), None);
    }
}
