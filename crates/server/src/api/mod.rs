//! The operator REST API under `/api/v1`, health checks and metrics.

mod auth;
mod commands;
mod error;
mod events;
mod health;
mod id_tokens;
mod openapi;
mod sessions;
mod stations;
mod tokens;
mod vendor_profiles;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::state::Shared;

pub use error::ApiError;

/// The whole HTTP application of the API listener.
pub fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/stations", get(stations::list))
        .route(
            "/stations/{id}",
            get(stations::show)
                .put(stations::provision)
                .delete(stations::delete),
        )
        .route("/stations/{id}/messages", get(stations::messages))
        .route("/stations/{id}/configuration", get(stations::configuration))
        .route("/stations/{id}/commands/{name}", post(commands::send))
        .route("/vendor-profiles", get(vendor_profiles::list))
        .route("/vendor-profiles/reload", post(vendor_profiles::reload))
        .route("/sessions", get(sessions::list))
        .route("/sessions/{id}", get(sessions::show))
        .route("/sessions/{id}/meter-values", get(sessions::meter_values))
        .route("/id-tokens", get(id_tokens::list))
        .route(
            "/id-tokens/{token}",
            get(id_tokens::show)
                .put(id_tokens::upsert)
                .delete(id_tokens::delete),
        )
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", delete(tokens::delete))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/webhooks/{id}",
            get(webhooks::show).delete(webhooks::delete),
        )
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/webhooks/{id}/replay", post(webhooks::replay))
        .route("/events", get(events::stream_events))
        .fallback(not_found);
    Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .nest("/api/v1", api)
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}
