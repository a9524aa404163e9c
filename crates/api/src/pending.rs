//! Docker API endpoints whose features later work brings (networks, volumes,
//! build, …): they answer honestly instead of 404ing like an unknown path.

use axum::Router;
use axum::extract::Path;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{any, get};

use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        // Nothing of these kinds exists yet, so a lookup by name is a plain 404
        // (`docker inspect X` probes every kind and expects "No such ...").
        .route("/networks/{id}", get(no_such_network));
    for path in [
        "/networks",
        "/networks/create",
        "/networks/prune",
        "/networks/{id}/connect",
        "/networks/{id}/disconnect",
        "/volumes",
        "/volumes/create",
        "/volumes/prune",
        "/build",
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

async fn no_such_network(Path(id): Path<String>) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("network {id} not found"))
}
