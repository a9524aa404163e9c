//! The API called from the daemon's own Rust code, in-process, with the
//! same router, validation and messages as a client gets: an app's rollout
//! (the `berth app` commands' and git pushes', and the dashboard's) and a
//! stack's deploy from the dashboard.

use axum::Router;
use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Request, Response};
use futures_util::StreamExt;
use router::rollout::{self, DockerApi, Plan};
use serde_json::{Value, json};
use tokio_stream::wrappers::UnboundedReceiverStream;

/// The API answers the rollout reads: an app's record and container lists.
const ANSWER_LIMIT: usize = 64 << 20;

/// The Docker API as the rollout calls it: in-process, over the whole
/// router ([`crate::router`]).
#[derive(Clone)]
pub struct InProcess(pub Router);

impl DockerApi for InProcess {
    async fn call_as(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        registry_auth: Option<&str>,
    ) -> Result<Value, String> {
        let (payload, json) = match body {
            Some(b) => (Body::from(b.to_string()), true),
            None => (Body::empty(), false),
        };
        let mut req = Request::builder().method(method).uri(path);
        if json {
            req = req.header("content-type", "application/json");
        }
        if let Some(auth) = registry_auth {
            req = req.header("X-Registry-Auth", auth);
        }
        let req = req.body(payload).map_err(|e| e.to_string())?;
        let resp = crate::handle(self.0.clone(), req).await;
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), ANSWER_LIMIT)
            .await
            .map_err(|e| e.to_string())?;
        let v = rollout::parse_answer(&bytes).map_err(|e| format!("bad JSON from the API: {e}"))?;
        if !status.is_success() {
            return Err(v["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| status.to_string()));
        }
        Ok(v)
    }
}

/// Rolls `plan` out for the app `name` (its record `app`) in a task of the
/// daemon's own, and answers its progress as JSON lines: `{"line": …}` as
/// it goes, then `{"done": true}` or `{"error": …}`. The task does not
/// depend on whoever asked: a push cut off, a CLI interrupted or a page
/// closed midway does not leave a rollout half-made (new containers
/// started and never routed); it goes on to its end.
pub fn roll_out(api: InProcess, name: String, app: Value, plan: Plan) -> Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        let lines = tx.clone();
        let say = move |line: &str| {
            let _ = lines.send(json!({ "line": line }));
        };
        let last = match rollout::roll_out(&api, &say, &name, &app, &plan).await {
            Ok(()) => json!({ "done": true }),
            // A failed check leaves the running release serving.
            Err(e) => {
                tracing::warn!("app {name}: rollout of {}: {e}", plan.image);
                json!({ "error": e })
            }
        };
        let _ = tx.send(last);
    });
    let lines = UnboundedReceiverStream::new(rx)
        .map(|v| Ok::<_, std::convert::Infallible>(format!("{v}\n")));
    let mut resp = Response::new(Body::from_stream(lines));
    resp.headers_mut().insert(
        CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/x-ndjson"),
    );
    resp
}
