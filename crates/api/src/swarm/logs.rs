//! `GET /services/{id}/logs` and `/tasks/{id}/logs`: the tasks' container
//! logs as the container endpoint serves them, each line carrying the
//! node, service and task ids as details (the docker CLI reads them to
//! print `web.1.xyz@node    | line`, so it always asks for details unless
//! `--raw`).

use axum::Extension;
use axum::extract::Path;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use swarm::logs::{Selector, TaskContext};

use super::{SwarmState, manager};
use crate::logs::{NO_STREAM, line_chunk, options, respond};
use crate::query::Params;
use crate::{ApiError, ApiResult};

pub async fn service_logs(
    Extension(s): Extension<SwarmState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let service = manager(&s).await?.service(&id).await?;
    let tty = service
        .spec
        .task_template
        .container_spec
        .as_ref()
        .is_some_and(|c| c.tty);
    serve(&s, Selector::Service(service.id), tty, &uri).await
}

pub async fn task_logs(
    Extension(s): Extension<SwarmState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let task = manager(&s).await?.task(&id).await?;
    let tty = task.spec.container_spec.as_ref().is_some_and(|c| c.tty);
    serve(&s, Selector::Task(task.id), tty, &uri).await
}

/// dockerd's details of a task's line: its log attributes sorted, as
/// `k=v` pairs joined by commas.
fn details(c: &TaskContext) -> String {
    format!(
        "com.docker.swarm.node.id={},com.docker.swarm.service.id={},com.docker.swarm.task.id={}",
        c.node_id, c.service_id, c.task_id
    )
}

async fn serve(s: &SwarmState, selector: Selector, tty: bool, uri: &Uri) -> ApiResult<Response> {
    let params = Params::parse(uri.query());
    let opts = options(&params)?;
    if !opts.stdout && !opts.stderr {
        // A 500 here, unlike container logs: dockerd's swarm router
        // returns the error untyped.
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, NO_STREAM));
    }
    let timestamps = params.bool("timestamps", false);
    let with_details = params.bool("details", false);
    let lines = s.task_logs(selector, opts).await?;
    Ok(respond(tty, lines, move |l| {
        let d = with_details.then(|| details(&l.context));
        line_chunk(tty, &l.line, timestamps, d.as_deref())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_what_the_cli_parses() {
        let c = TaskContext {
            node_id: "n1".into(),
            service_id: "s1".into(),
            task_id: "t1".into(),
        };
        assert_eq!(
            details(&c),
            "com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,com.docker.swarm.task.id=t1"
        );
    }
}
