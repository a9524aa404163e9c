//! The Docker API called from the dashboard's own Rust code (an app's
//! rollout, a stack's deploy), in-process as the page's calls are: the
//! same router, validation and messages.

use axum::body::Body;
use axum::http::Request;
use router::rollout::DockerApi;
use serde_json::Value;

use crate::state::Ui;

/// The API answers the rollout reads: an app's record and container lists.
const ANSWER_LIMIT: usize = 64 << 20;

/// The Docker API as the rollout calls it: in-process, as the page does.
pub struct InProcess<'a>(pub &'a Ui);

impl DockerApi for InProcess<'_> {
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
        let resp = api::handle(self.0.docker.clone(), req).await;
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), ANSWER_LIMIT)
            .await
            .map_err(|e| e.to_string())?;
        let v = router::rollout::parse_answer(&bytes)
            .map_err(|e| format!("bad JSON from the API: {e}"))?;
        if !status.is_success() {
            return Err(v["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| status.to_string()));
        }
        Ok(v)
    }
}

pub use router::q;
