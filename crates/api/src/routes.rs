//! berth's HTTP router, seen from the API (issue 18), outside Docker's API:
//! `GET /berth/v1/routes` lists the routes, their backends and the
//! containers whose labels were refused (`berth router ls`).

use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Json, Router};
use hyper::StatusCode;

use crate::{ApiError, ApiResult, AppState};

/// The daemon's router, when `--router-addr` or `--router-tls-addr` is set.
#[derive(Clone, Default)]
pub struct RouterHandle(pub Option<Arc<router::Router>>);

pub fn routes() -> Router<AppState> {
    Router::new().route("/berth/v1/routes", get(list))
}

async fn list(Extension(handle): Extension<RouterHandle>) -> ApiResult<Json<router::Report>> {
    let r = handle.0.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "the HTTP router is off: start the daemon with --router-addr (or --router-tls-addr)",
        )
    })?;
    Ok(Json(r.report()))
}
