//! `/api/v1/vendor-profiles`: the profiles in force, and reloading them from disk.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use zaryad_store::ApiTokenRole;

use super::auth::Caller;
use super::error::ApiError;
use crate::state::Shared;
use crate::views::vendor_profile_json;

/// `GET /vendor-profiles`: every profile with its match rules, repairs and decoders.
pub async fn list(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let profiles: Vec<Value> = shared
        .profiles
        .current()
        .all()
        .iter()
        .map(|profile| vendor_profile_json(profile))
        .collect();
    Ok(Json(profiles))
}

/// `POST /vendor-profiles/reload`: reads the profile directory again (as SIGHUP does). An
/// invalid file is answered with 422 naming the file, line and reason; the profiles in force
/// then stay.
pub async fn reload(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(ApiTokenRole::Admin)?;
    let count = shared
        .profiles
        .reload()
        .map_err(|error| ApiError::unprocessable(error.to_string()))?;
    Ok(Json(json!({"loaded": count})))
}
