//! Operations on a running container through its shim: pause, unpause,
//! live resource updates, stats and the process list.

use std::sync::Arc;

use crate::container::Container;
use crate::model::{HostConfig, RestartPolicy, Status};
use crate::rt::Task;
use crate::{Engine, EngineError, Result};

/// The body of `POST /containers/{id}/update` (the fields berth applies).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateRequest {
    #[serde(default)]
    pub memory: Option<i64>,
    #[serde(default)]
    pub memory_swap: Option<i64>,
    #[serde(default)]
    pub memory_reservation: Option<i64>,
    #[serde(default)]
    pub cpu_shares: Option<i64>,
    #[serde(default)]
    pub nano_cpus: Option<i64>,
    #[serde(default)]
    pub cpu_quota: Option<i64>,
    #[serde(default)]
    pub cpu_period: Option<i64>,
    #[serde(default)]
    pub cpuset_cpus: Option<String>,
    #[serde(default)]
    pub cpuset_mems: Option<String>,
    #[serde(default)]
    pub pids_limit: Option<i64>,
    #[serde(default)]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl UpdateRequest {
    /// Zero means "leave as is", as the docker CLI sends every field.
    fn apply(&self, hc: &mut HostConfig) {
        let set = |dst: &mut i64, v: Option<i64>| {
            if let Some(v) = v.filter(|v| *v != 0) {
                *dst = v;
            }
        };
        set(&mut hc.memory, self.memory);
        set(&mut hc.memory_swap, self.memory_swap);
        set(&mut hc.memory_reservation, self.memory_reservation);
        set(&mut hc.cpu_shares, self.cpu_shares);
        set(&mut hc.nano_cpus, self.nano_cpus);
        set(&mut hc.cpu_quota, self.cpu_quota);
        set(&mut hc.cpu_period, self.cpu_period);
        if let Some(c) = self.cpuset_cpus.clone().filter(|c| !c.is_empty()) {
            hc.cpuset_cpus = c;
        }
        if let Some(m) = self.cpuset_mems.clone().filter(|m| !m.is_empty()) {
            hc.cpuset_mems = m;
        }
        if let Some(p) = self.pids_limit.filter(|p| *p != 0) {
            hc.pids_limit = Some(p);
        }
        if let Some(rp) = self.restart_policy.clone().filter(|rp| !rp.name.is_empty()) {
            hc.restart_policy = rp;
        }
    }
}

impl Engine {
    fn running_shim(&self, c: &Container, verb: &str) -> Result<Arc<dyn Task>> {
        match (c.status(), c.shim()) {
            (Status::Running | Status::Paused, Some(shim)) => Ok(shim),
            _ => Err(EngineError::Conflict(format!(
                "Container {} is not running; cannot {verb}",
                c.id
            ))),
        }
    }

    pub async fn pause(&self, name_or_id: &str) -> Result<()> {
        let timer = self.metrics.container_action("pause");
        timer.observe(self.pause_untimed(name_or_id).await)
    }

    async fn pause_untimed(&self, name_or_id: &str) -> Result<()> {
        let c = self.container(name_or_id)?;
        let _op = c.op.lock().await;
        if c.status() == Status::Paused {
            return Err(EngineError::Conflict(format!(
                "Container {} is already paused",
                c.id
            )));
        }
        self.running_shim(&c, "pause")?.pause().await?;
        c.update_state(|s| s.status = Status::Paused)?;
        self.container_event(&c, "pause", &[]);
        Ok(())
    }

    pub async fn unpause(&self, name_or_id: &str) -> Result<()> {
        let timer = self.metrics.container_action("unpause");
        timer.observe(self.unpause_untimed(name_or_id).await)
    }

    async fn unpause_untimed(&self, name_or_id: &str) -> Result<()> {
        let c = self.container(name_or_id)?;
        let _op = c.op.lock().await;
        if c.status() != Status::Paused {
            return Err(EngineError::Conflict(format!(
                "Container {} is not paused",
                c.id
            )));
        }
        self.running_shim(&c, "unpause")?.resume().await?;
        c.update_state(|s| s.status = Status::Running)?;
        self.container_event(&c, "unpause", &[]);
        Ok(())
    }

    /// `docker update`: records the new settings and applies them live.
    pub async fn update(&self, name_or_id: &str, req: &UpdateRequest) -> Result<Vec<String>> {
        let c = self.container(name_or_id)?;
        let _op = c.op.lock().await;
        if let Some(key) = req
            .extra
            .iter()
            .find(|(_, v)| crate::model::is_set(v))
            .map(|(k, _)| k)
        {
            return Err(EngineError::NotImplemented(format!("updating {key}")));
        }
        let mut hc = c.lock().record.host_config.clone();
        req.apply(&mut hc);
        crate::restart::validate(&hc.restart_policy, hc.auto_remove)?;
        let limits = crate::settings::limits(&hc);
        runtime::spec::validate_limits(&limits)?;
        if let Ok(shim) = self.running_shim(&c, "update") {
            shim.update(&limits).await?;
        }
        c.update_record(|r| r.host_config = hc)
            .map_err(|e| EngineError::internal("saving the update", e))?;
        self.container_event(&c, "update", &[]);
        Ok(Vec::new())
    }

    pub async fn stats(&self, name_or_id: &str) -> Result<(Arc<Container>, runtime::Stats)> {
        let c = self.container(name_or_id)?;
        let stats = self.running_shim(&c, "get stats")?.stats().await?;
        Ok((c, stats))
    }

    /// Host pids of the container's processes.
    pub async fn pids(&self, name_or_id: &str) -> Result<Vec<u32>> {
        let c = self.container(name_or_id)?;
        Ok(self.running_shim(&c, "list processes")?.pids().await?)
    }
}
