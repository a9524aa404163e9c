//! Docker API endpoints whose features later work brings (networks, volumes,
//! build, …): they answer honestly instead of 404ing like an unknown path.

use axum::Json;
use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{any, get};

use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for path in ["/images/search", "/session"] {
        router = router.route(path, any(not_implemented));
    }
    // No managed plugins are installed, and none can be yet.
    router
        .route("/plugins", get(|| async { Json(serde_json::json!([])) }))
        .route("/plugins/{name}", any(not_implemented))
        .route("/plugins/{name}/json", get(no_such_plugin))
        .route("/plugins/{name}/{action}", any(not_implemented))
}

/// `docker inspect NAME` asks every kind of object in turn, plugins too.
async fn no_such_plugin(axum::extract::Path(name): axum::extract::Path<String>) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("plugin \"{name}\" not found"),
    )
}

async fn not_implemented(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        format!("not implemented: {method} {}", uri.path()),
    )
}
