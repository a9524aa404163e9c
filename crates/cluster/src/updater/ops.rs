//! The service writes the API makes, as swarmkit's control API makes them:
//! create, update (the old spec becomes `PreviousSpec`, the update status
//! resets, a job's execution counter moves) and manual rollback. The mode
//! is stored with dockerd's defaults filled in; the rest as sent.

use crate::error::{ClusterError, ErrorKind, Result};
use crate::model::defaults::normalize_mode;
use crate::model::{JobStatus, Service, ServiceSpec, Timestamp, UpdateState, UpdateStatus};
use crate::validate::{validate_service_spec, validate_service_update};

/// A new service from a client's spec; the store sets `Version`.
pub fn create_service(id: String, mut spec: ServiceSpec, now: Timestamp) -> Result<Service> {
    validate_service_spec(&spec)?;
    normalize_mode(&mut spec);
    let mut s = Service {
        id,
        spec,
        ..Default::default()
    };
    s.meta.created_at = now;
    s.meta.updated_at = now;
    if s.spec.mode.kind().is_job() {
        s.job_status = Some(JobStatus {
            last_execution: now,
            ..Default::default()
        });
    }
    Ok(s)
}

fn next_execution(service: &mut Service, now: Timestamp) {
    if let Some(j) = service.job_status.as_mut() {
        j.job_iteration.index += 1;
        j.last_execution = now;
    }
}

/// `POST /services/{id}/update` with a new spec.
pub fn apply_service_update(
    current: &Service,
    spec: ServiceSpec,
    now: Timestamp,
) -> Result<Service> {
    validate_service_update(current, &spec)?;
    let mut s = current.clone();
    next_execution(&mut s, now);
    s.previous_spec = Some(std::mem::replace(&mut s.spec, spec));
    s.update_status = None;
    s.meta.updated_at = now;
    Ok(s)
}

/// `docker service rollback` (`?rollback=previous`): the previous spec
/// comes back and the current one becomes the previous.
pub fn rollback_service(current: &Service, now: Timestamp) -> Result<Service> {
    let Some(previous) = current.previous_spec.clone() else {
        return Err(ClusterError::swarmkit(
            ErrorKind::FailedPrecondition,
            format!("service {} does not have a previous spec", current.id),
        ));
    };
    let mut s = current.clone();
    next_execution(&mut s, now);
    s.previous_spec = Some(std::mem::replace(&mut s.spec, previous));
    s.update_status = Some(UpdateStatus {
        state: Some(UpdateState::RollbackStarted),
        started_at: Some(now),
        completed_at: None,
        message: "manually requested rollback".into(),
    });
    s.meta.updated_at = now;
    Ok(s)
}
