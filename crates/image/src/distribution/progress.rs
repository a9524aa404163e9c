//! Progress events of pull and push, in the shape of Docker's JSON messages
//! (what `POST /images/create` and `/images/{name}/push` stream).

use std::sync::Arc;

use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgressDetail {
    pub current: Option<u64>,
    pub total: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub status: String,
    /// `Some` for per-layer events (Docker sends `"progressDetail":{}` then).
    pub detail: Option<ProgressDetail>,
    /// Short layer id, or the tag for the "Pulling from" line.
    pub id: Option<String>,
}

/// Receives progress events; called from several download threads at once.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

impl Progress {
    /// A line without id or detail ("Digest: ...", "Status: ...").
    pub fn status(status: impl Into<String>) -> Self {
        Progress {
            status: status.into(),
            detail: None,
            id: None,
        }
    }

    pub fn with_id(status: impl Into<String>, id: impl Into<String>) -> Self {
        Progress {
            status: status.into(),
            detail: None,
            id: Some(id.into()),
        }
    }

    pub fn layer(status: impl Into<String>, id: &str) -> Self {
        Progress {
            status: status.into(),
            detail: Some(ProgressDetail::default()),
            id: Some(id.to_string()),
        }
    }

    pub fn layer_bytes(status: impl Into<String>, id: &str, current: u64, total: u64) -> Self {
        Progress {
            status: status.into(),
            detail: Some(ProgressDetail {
                current: Some(current),
                total: Some(total),
            }),
            id: Some(id.to_string()),
        }
    }

    /// Docker's JSON message: `{"status", "progressDetail"?, "id"?}`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("status".into(), json!(self.status));
        if let Some(d) = &self.detail {
            let mut pd = Map::new();
            if let Some(c) = d.current {
                pd.insert("current".into(), json!(c));
            }
            if let Some(t) = d.total {
                pd.insert("total".into(), json!(t));
            }
            m.insert("progressDetail".into(), Value::Object(pd));
        }
        if let Some(id) = &self.id {
            m.insert("id".into(), json!(id));
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_shapes() {
        assert_eq!(
            Progress::with_id("Pulling from library/x", "latest").to_json(),
            json!({"status": "Pulling from library/x", "id": "latest"})
        );
        assert_eq!(
            Progress::layer("Pulling fs layer", "0123456789ab")
                .to_json()
                .to_string(),
            r#"{"status":"Pulling fs layer","progressDetail":{},"id":"0123456789ab"}"#
        );
        assert_eq!(
            Progress::layer_bytes("Downloading", "0123456789ab", 5, 10)
                .to_json()
                .to_string(),
            r#"{"status":"Downloading","progressDetail":{"current":5,"total":10},"id":"0123456789ab"}"#
        );
        assert_eq!(
            Progress::status("Digest: sha256:aa").to_json(),
            json!({"status": "Digest: sha256:aa"})
        );
    }
}
