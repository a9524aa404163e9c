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
            if health.status != before {
                changed_to = Some(health.status.clone());
            }
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
        match run.await {
            Ok(r) => r,
            Err(err) => (-1, err.to_string()),
        }
    }

    async fn collect_exec(self: &Arc<Self>, id: &str, timeout: Duration) -> Result<(i32, String)> {
        let mut streams = self.exec_start(id, None).await?;
        let mut output = Vec::new();
        let read = async {
            while let Some(chunk) = streams.output.recv().await {
                if output.len() < MAX_OUTPUT {
                    output.extend_from_slice(&chunk.data);
                }
            }
        };
        if tokio::time::timeout(timeout, read).await.is_err() {
            if let Ok(v) = self.exec_inspect(id)
                && v.pid > 0
            {
                self.runtime.signal_exec(v.pid, libc::SIGKILL);
            }
            return Ok((-1, format!("Health check exceeded timeout ({timeout:?})")));
        }
        output.truncate(MAX_OUTPUT);
        let code = self.exec_inspect(id)?.exit_code.unwrap_or(-1);
        Ok((code, String::from_utf8_lossy(&output).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
