//! `/api/v1/sessions`: list, show, meter values.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use zaryad_model::{SessionState, StationId};
use zaryad_store::SessionFilter;

use super::auth::Caller;
use super::error::ApiError;
use crate::state::Shared;
use crate::views::{SampleView, SessionView};

/// Filters of `GET /sessions`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    station_id: Option<String>,
    state: Option<String>,
    limit: Option<u32>,
}

/// `GET /sessions`: newest first.
pub async fn list(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(query) = query.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let station_id = match query.station_id.as_deref().filter(|id| !id.is_empty()) {
        Some(id) => {
            Some(StationId::parse(id).map_err(|error| ApiError::bad_request(error.to_string()))?)
        }
        None => None,
    };
    let state = match query.state.as_deref().filter(|state| !state.is_empty()) {
        Some(text) => Some(SessionState::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!("state {text:?} is not one of active, completed"))
        })?),
        None => None,
    };
    let limit = query
        .limit
        .unwrap_or(100)
        .clamp(1, shared.config.api.max_page_size);
    let sessions = shared
        .store
        .sessions(&SessionFilter {
            station_id,
            state,
            limit,
        })
        .await?;
    let views: Vec<SessionView<'_>> = sessions.iter().map(SessionView::of).collect();
    Ok(Json(serde_json::to_value(views).unwrap_or_default()))
}

/// `GET /sessions/{id}`.
pub async fn show(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let session = shared
        .store
        .session(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no session {id}")))?;
    Ok(Json(SessionView::json(&session)))
}

/// Query of the meter values.
#[derive(Debug, Deserialize)]
pub struct SamplesQuery {
    limit: Option<u32>,
}

/// `GET /sessions/{id}/meter-values`: in time order.
pub async fn meter_values(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<SamplesQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(query) = query.map_err(|error| ApiError::bad_request(error.body_text()))?;
    if shared.store.session(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no session {id}")));
    }
    let limit = query.limit.unwrap_or(10_000).clamp(1, 100_000);
    let samples = shared.store.meter_samples(&id, limit).await?;
    let views: Vec<SampleView<'_>> = samples.iter().map(SampleView::of).collect();
    Ok(Json(serde_json::to_value(views).unwrap_or_default()))
}
