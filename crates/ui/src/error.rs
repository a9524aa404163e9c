//! The dashboard's errors and their HTTP answers (JSON `{"message": ...}`,
//! the Docker API's shape, so the browser code reads one kind of error).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("{0}")]
    BadInput(String),
    #[error("not logged in")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Internal(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl UiError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> UiError {
        UiError::Io {
            context: context.into(),
            source,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            UiError::BadInput(_) => StatusCode::BAD_REQUEST,
            UiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            UiError::Forbidden(_) => StatusCode::FORBIDDEN,
            UiError::Conflict(_) => StatusCode::CONFLICT,
            UiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            UiError::NotFound(_) => StatusCode::NOT_FOUND,
            UiError::Internal(_) | UiError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!("dashboard: {self}");
        }
        (
            status,
            Json(serde_json::json!({ "message": self.to_string() })),
        )
            .into_response()
    }
}

/// Runs password hashing (tens of milliseconds of CPU with argon2) off the
/// async workers.
pub async fn blocking<T, F>(f: F) -> Result<T, UiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, UiError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| UiError::Internal(e.to_string()))?
}
