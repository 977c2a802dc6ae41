//! Liveness, readiness and metrics: no token needed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::state::Shared;

/// 200 while the process runs.
pub async fn live() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// 200 once the listeners are bound and the database answers; 503 otherwise.
pub async fn ready(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let listeners = shared.listeners_ready.load(Ordering::Acquire);
    let database = shared.store.ping().await.is_ok();
    let shutting_down = shared.shutdown.is_cancelled();
    let ready = listeners && database && !shutting_down;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "listeners": listeners,
        "database": database,
        "shutting_down": shutting_down,
        "connected_stations": shared.registry.len(),
    });
    (status, Json(body))
}

/// Prometheus text format.
pub async fn metrics() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    )
}
