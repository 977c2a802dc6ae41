//! `GET /api/v1/events`: the outbox as Server-Sent Events (see `events::sse`).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{KeepAlive, Sse};
use serde::Deserialize;

use super::auth::Caller;
use super::error::ApiError;
use crate::events::sse::{Filter, stream};
use crate::state::Shared;

/// A comment line this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Query of the event stream.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// Comma-separated event types.
    types: Option<String>,
    /// One station's events only.
    station_id: Option<String>,
    /// Resume after this outbox position (what `Last-Event-ID` says, for clients that cannot
    /// set headers).
    after: Option<i64>,
}

/// `GET /events`: from `Last-Event-ID` (or `?after=`) on, else from now on.
pub async fn stream_events(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(query) = query.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let filter = Filter::parse(query.types.as_deref(), query.station_id.as_deref())
        .map_err(ApiError::bad_request)?;
    let last_event_id = headers
        .get("last-event-id")
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<i64>().ok())
                .ok_or_else(|| ApiError::bad_request("Last-Event-ID is not an event position"))
        })
        .transpose()?;
    let after = match last_event_id.or(query.after) {
        Some(after) => after.max(0),
        None => shared.store.last_event_seq().await?,
    };
    let events = stream(shared, after, filter);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")))
}
