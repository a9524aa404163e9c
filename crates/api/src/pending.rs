//! Docker API endpoints whose features later work brings (networks, volumes,
//! build, …): they answer honestly instead of 404ing like an unknown path.

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::any;

use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for path in [
        "/build/prune",
        "/images/search",
        "/swarm",
        "/services",
        "/nodes",
        "/tasks",
        "/secrets",
        "/configs",
        "/plugins",
        "/session",
        "/distribution/{name}/json",
    ] {
        router = router.route(path, any(not_implemented));
    }
    router
}

async fn not_implemented(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        format!("not implemented: {method} {}", uri.path()),
    )
}
