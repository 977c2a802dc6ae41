//! `/api/v1/stations`: list, show, provision, delete, frame log.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use zaryad_adapter::configuration::alias;
use zaryad_model::{DomainEvent, EventType, Registration, StationId};
use zaryad_store::{ApiTokenRole, ProvisionStation, WriteBatch, WriteOp};
use zaryad_wire::OcppVersion;

use super::auth::Caller;
use super::error::{ApiError, parse_body};
use crate::gateway::registry::CloseReason;
use crate::gateway::station::select_profile;
use crate::secrets::hash_station_password;
use crate::state::Shared;
use crate::views::StationView;

/// Reads a station id from the path.
pub(super) fn station_id(text: &str) -> Result<StationId, ApiError> {
    StationId::parse(text).map_err(|error| ApiError::bad_request(error.to_string()))
}

async fn view(shared: &Shared, id: &StationId) -> Result<Option<StationView>, ApiError> {
    let Some(station) = shared.store.station(id).await? else {
        return Ok(None);
    };
    let connectors = shared.store.connectors(id).await?;
    let live = shared.registry.get(id);
    let selection = select_profile(shared, &station);
    Ok(Some(
        StationView::of(
            station,
            &connectors,
            live.is_some(),
            live.and_then(|handle| handle.last_seen()),
        )
        .with_profile(&selection),
    ))
}

/// `GET /stations`.
pub async fn list(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let mut views = Vec::new();
    for station in shared.store.stations().await? {
        if let Some(view) = view(&shared, &station.id).await? {
            views.push(view);
        }
    }
    Ok(Json(views))
}

/// `GET /stations/{id}`.
pub async fn show(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = station_id(&id)?;
    view(&shared, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no station {id}")))
}

/// The body of `PUT /stations/{id}`; every field optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionBody {
    /// A new password (HTTP Basic auth); `null` removes it.
    #[serde(default, deserialize_with = "present")]
    password: Option<Option<String>>,
    /// `accepted`, `pending` or `rejected`.
    registration: Option<String>,
    /// A vendor profile name; `null` unpins it.
    #[serde(default, deserialize_with = "present")]
    vendor_profile: Option<Option<String>>,
}

/// Distinguishes a field given as `null` (Some(None)) from a missing one (None).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `PUT /stations/{id}`: provisions a station or changes it.
pub async fn provision(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(ApiTokenRole::Admin)?;
    let id = station_id(&id)?;
    let body: ProvisionBody = parse_body(&body)?;
    let registration = match body.registration.as_deref() {
        None => None,
        Some(text) => Some(Registration::parse(text).ok_or_else(|| {
            ApiError::unprocessable(format!(
                "registration {text:?} is not one of accepted, pending, rejected"
            ))
        })?),
    };
    let password_hash = match body.password {
        None => None,
        Some(None) => Some(None),
        Some(Some(password)) if password.is_empty() => {
            return Err(ApiError::unprocessable(
                "password must not be empty; use null to remove it",
            ));
        }
        Some(Some(password)) if password.len() > 64 => {
            return Err(ApiError::unprocessable(
                "password must be at most 64 characters",
            ));
        }
        Some(Some(password)) => Some(Some(hash_station_password(&password))),
    };
    let pin_changed = body.vendor_profile.is_some();
    let now = Utc::now();
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::ProvisionStation(ProvisionStation {
        id: id.clone(),
        password_hash,
        registration,
        vendor_profile: body.vendor_profile,
        at: now,
    }));
    // A new station is registered too: accepted unless the body says otherwise.
    let previous = shared.store.station(&id).await?.map(|s| s.registration);
    let current = registration.or(previous).unwrap_or(Registration::Accepted);
    if previous != Some(current) {
        batch.push(WriteOp::AppendEvent(DomainEvent {
            id: uuid::Uuid::now_v7().to_string(),
            event_type: EventType::StationRegistrationChanged,
            occurred_at: now,
            station_id: id.clone(),
            session_id: None,
            data: json!({
                "registration": current.as_str(),
                "previous_registration": previous.map(Registration::as_str),
            }),
        }));
    }
    shared.store.commit(batch).await?;
    if pin_changed {
        // A connected station chooses its profile again before its next message.
        shared.profiles.touch();
    }
    let view = view(&shared, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("station {id} vanished")))?;
    Ok(Json(view))
}

/// `DELETE /stations/{id}`: removes the station and disconnects it; sessions stay.
pub async fn delete(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(ApiTokenRole::Admin)?;
    let id = station_id(&id)?;
    if shared.store.station(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no station {id}")));
    }
    if let Some(live) = shared.registry.get(&id) {
        live.close(CloseReason::Deleted);
        live.wait_finished(std::time::Duration::from_secs(5)).await;
    }
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::DeleteStation(id));
    shared.store.commit(batch).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of the frame log.
#[derive(Debug, Deserialize)]
pub struct MessagesQuery {
    limit: Option<u32>,
    /// `json` (the default) or `jsonl`: a replayable trace (`zaryad replay`).
    format: Option<String>,
}

/// `GET /stations/{id}/messages`: the raw frames in both directions, newest first.
pub async fn messages(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<MessagesQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(query) = query.map_err(|error| ApiError::bad_request(error.body_text()))?;
    let id = station_id(&id)?;
    let limit = query
        .limit
        .unwrap_or(100)
        .clamp(1, shared.config.api.max_page_size);
    if shared.store.station(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no station {id}")));
    }
    let jsonl = match query.format.as_deref() {
        None | Some("json") => false,
        Some("jsonl") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format {other:?} is not json or jsonl"
            )));
        }
    };
    let frames = shared.store.frames(&id, limit).await?;
    if jsonl {
        return Ok(trace_response(frames));
    }
    let rows: Vec<Value> = frames
        .into_iter()
        .map(|frame| {
            json!({
                "at": frame.at,
                "direction": frame.direction.as_str(),
                "ocpp_version": frame.ocpp_version,
                "action": frame.action,
                "message_id": frame.message_id,
                "frame": serde_json::from_str::<Value>(&frame.text).ok(),
                "text": frame.text,
                "repairs": frame.repairs,
            })
        })
        .collect();
    Ok(Json(rows).into_response())
}

/// The frame log as a trace in the quirk catalogue's format, oldest first, one JSON object a
/// line: what `zaryad replay` reads.
fn trace_response(frames: Vec<zaryad_store::FrameRecord>) -> axum::response::Response {
    let mut text = String::new();
    for frame in frames.into_iter().rev() {
        let parsed = serde_json::from_str::<Value>(&frame.text).ok();
        let direction = match frame.direction {
            zaryad_store::Direction::Inbound => "cp->csms",
            zaryad_store::Direction::Outbound => "csms->cp",
        };
        let line = json!({
            "id": frame.message_id,
            "station_id": frame.station_id.as_str(),
            "at": frame.at,
            "direction": direction,
            "version": frame.ocpp_version,
            "kind": "ocpp-frame",
            "action": frame.action,
            "raw_text": if parsed.is_none() { Some(frame.text.as_str()) } else { None },
            "frame": parsed,
            "repairs": frame.repairs,
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    (
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        text,
    )
        .into_response()
}

/// `GET /stations/{id}/configuration`: the configuration the station last reported (read after
/// each accepted boot and by the configuration commands), in its own version's keys.
pub async fn configuration(
    State(shared): State<Arc<Shared>>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = station_id(&id)?;
    let station = shared
        .store
        .station(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no station {id}")))?;
    let version = station
        .ocpp_version
        .as_deref()
        .and_then(|text| text.parse::<OcppVersion>().ok());
    let entries: Vec<Value> = shared
        .store
        .station_configuration(&id)
        .await?
        .into_iter()
        .map(|record| {
            let entry = record.entry;
            json!({
                "alias": version.and_then(|version| alias(version, &entry.key)),
                "key": entry.key,
                "value": entry.value,
                "readonly": entry.readonly,
                "updated_at": record.updated_at,
            })
        })
        .collect();
    Ok(Json(json!({
        "station_id": id,
        "ocpp_version": station.ocpp_version,
        "configuration": entries,
    })))
}
