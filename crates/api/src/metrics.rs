//! The Prometheus endpoint (`--metrics-addr`): its own TCP listener, apart
//! from the Docker API sockets, answering `GET /metrics` only.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use engine::Engine;

/// Serves `/metrics` on `listener` until the daemon stops.
pub async fn serve(listener: tokio::net::TcpListener, engine: Arc<Engine>) -> std::io::Result<()> {
    axum::serve(listener, router(engine)).await
}

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { (StatusCode::NOT_FOUND, "404 page not found\n") })
        .with_state(engine)
}

async fn scrape(State(engine): State<Arc<Engine>>) -> Response {
    // A dozen small cgroup files per container: off the async workers.
    let text = tokio::task::spawn_blocking(move || {
        let begun = std::time::Instant::now();
        let scrape = engine.scrape();
        let collected = begun.elapsed();
        let text = ::metrics::render(engine.metrics(), scrape);
        tracing::debug!(
            "metrics: collected in {collected:?}, encoded in {:?}",
            begun.elapsed() - collected
        );
        text
    })
    .await;
    match text {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, ::metrics::CONTENT_TYPE)], text).into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics: {e}\n"),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("collecting metrics: {e}\n"),
        )
            .into_response(),
    }
}
