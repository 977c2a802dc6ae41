//! `POST /api/v1/stations/{id}/commands/{name}`: version-neutral commands, answered with the
//! station's reply.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};
use zaryad_adapter::configuration::alias;
use zaryad_model::{Command, ResetKind, SessionState, StationId, TriggeredMessage};
use zaryad_store::ApiTokenRole;
use zaryad_wire::OcppVersion;

use super::auth::Caller;
use super::error::{ApiError, parse_body};
use super::stations::station_id;
use crate::gateway::commands::{CommandAnswer, CommandFailure, dispatch, new_request_id};
use crate::state::Shared;
use crate::views::failure_json;

/// `start-session`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartSessionBody {
    id_token: String,
    /// 2.0.1 `IdTokenEnumType`; `Central` when absent.
    id_token_type: Option<String>,
    evse_id: Option<u32>,
    connector_id: Option<u32>,
}

/// `stop-session`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopSessionBody {
    session_id: String,
}

/// `reset`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    kind: String,
}

/// `unlock`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnlockBody {
    evse_id: u32,
    /// 1 when absent: most EVSEs have one connector.
    connector_id: Option<u32>,
}

/// `change-availability`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeAvailabilityBody {
    operative: bool,
    evse_id: Option<u32>,
    connector_id: Option<u32>,
}

/// `trigger`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerBody {
    message: String,
    evse_id: Option<u32>,
    connector_id: Option<u32>,
}

/// `get-configuration`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GetConfigurationBody {
    keys: Option<Vec<String>>,
}

/// `set-configuration`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetConfigurationBody {
    key: String,
    /// A string; numbers and booleans are taken as their text.
    value: Value,
}

/// `clear-cache`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmptyBody {}

/// `data-transfer`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataTransferBody {
    vendor_id: String,
    message_id: Option<String>,
    data: Option<Value>,
}

/// `POST /stations/{id}/commands/{name}`.
pub async fn send(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((id, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(ApiTokenRole::Operator)?;
    let id = station_id(&id)?;
    let (command, session_id) = command(&shared, &id, &name, &body).await?;
    let answer = dispatch(&shared, &id, command.clone())
        .await
        .map_err(|failure| failure_error(&id, failure))?;
    let version = shared.registry.get(&id).map(|handle| handle.version);
    Ok(Json(answer_json(
        &command,
        &answer,
        version,
        session_id.as_deref(),
    )))
}

/// Reads the body of command `name` into a [`Command`]; also returns the session a
/// `stop-session` is about.
async fn command(
    shared: &Shared,
    station_id: &StationId,
    name: &str,
    body: &[u8],
) -> Result<(Command, Option<String>), ApiError> {
    let command = match name {
        "start-session" => {
            let body: StartSessionBody = parse_body(body)?;
            if body.id_token.trim().is_empty() {
                return Err(ApiError::unprocessable("id_token must not be empty"));
            }
            Command::StartSession {
                id_token: body.id_token,
                id_token_type: body.id_token_type,
                evse_id: body.evse_id,
                connector_id: body.connector_id,
                remote_start_id: new_request_id(),
            }
        }
        "stop-session" => {
            let body: StopSessionBody = parse_body(body)?;
            return stop_session(shared, station_id, body.session_id).await;
        }
        "reset" => {
            let body: ResetBody = parse_body(body)?;
            let kind = ResetKind::parse(&body.kind.to_ascii_lowercase()).ok_or_else(|| {
                ApiError::unprocessable(format!("kind {:?} is not soft or hard", body.kind))
            })?;
            Command::Reset { kind }
        }
        "unlock" => {
            let body: UnlockBody = parse_body(body)?;
            Command::Unlock {
                evse_id: body.evse_id,
                connector_id: body.connector_id.unwrap_or(1),
            }
        }
        "change-availability" => {
            let body: ChangeAvailabilityBody = parse_body(body)?;
            Command::ChangeAvailability {
                operative: body.operative,
                evse_id: body.evse_id,
                connector_id: body.connector_id,
            }
        }
        "trigger" => {
            let body: TriggerBody = parse_body(body)?;
            let message = TriggeredMessage::parse(&body.message).ok_or_else(|| {
                let known: Vec<&str> = TriggeredMessage::ALL
                    .iter()
                    .map(|message| message.as_str())
                    .collect();
                ApiError::unprocessable(format!(
                    "message {:?} is not one of {}",
                    body.message,
                    known.join(", ")
                ))
            })?;
            Command::Trigger {
                message,
                evse_id: body.evse_id,
                connector_id: body.connector_id,
            }
        }
        "get-configuration" => {
            let body: GetConfigurationBody = parse_body(body)?;
            Command::GetConfiguration {
                keys: body.keys.unwrap_or_default(),
                request_id: new_request_id(),
            }
        }
        "set-configuration" => {
            let body: SetConfigurationBody = parse_body(body)?;
            let value = match body.value {
                Value::String(text) => text,
                value @ (Value::Number(_) | Value::Bool(_)) => value.to_string(),
                _ => {
                    return Err(ApiError::unprocessable(
                        "value must be a string, a number or a boolean",
                    ));
                }
            };
            Command::SetConfiguration {
                key: body.key,
                value,
            }
        }
        "clear-cache" => {
            parse_body::<EmptyBody>(body)?;
            Command::ClearCache
        }
        "data-transfer" => {
            let body: DataTransferBody = parse_body(body)?;
            Command::DataTransfer {
                vendor_id: body.vendor_id,
                message_id: body.message_id,
                data: body.data,
            }
        }
        _ => {
            return Err(ApiError::not_found(format!(
                "no command {name:?}; the commands are {}",
                Command::NAMES.join(", ")
            )));
        }
    };
    Ok((command, None))
}

/// `stop-session`: the session must be this station's and still running.
async fn stop_session(
    shared: &Shared,
    station_id: &StationId,
    session_id: String,
) -> Result<(Command, Option<String>), ApiError> {
    let session = shared
        .store
        .session(&session_id)
        .await?
        .filter(|session| &session.station_id == station_id)
        .ok_or_else(|| {
            ApiError::not_found(format!("station {station_id} has no session {session_id}"))
        })?;
    if session.state != SessionState::Active {
        return Err(ApiError::conflict(
            "session_not_active",
            format!("session {session_id} has already ended"),
        ));
    }
    let command = Command::StopSession {
        transaction_id: session.transaction_id,
    };
    Ok((command, Some(session_id)))
}

/// The API error for a command without a usable answer.
fn failure_error(station_id: &StationId, failure: CommandFailure) -> ApiError {
    let status = match &failure {
        CommandFailure::NotConnected => {
            return ApiError::conflict(
                "not_connected",
                format!("station {station_id} is not connected"),
            );
        }
        CommandFailure::QueueFull(_) => StatusCode::TOO_MANY_REQUESTS,
        CommandFailure::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        CommandFailure::Timeout { .. } | CommandFailure::Disconnected { .. } => {
            StatusCode::GATEWAY_TIMEOUT
        }
        CommandFailure::CallError { .. } | CommandFailure::InvalidResponse { .. } => {
            StatusCode::BAD_GATEWAY
        }
    };
    let shape = failure_json(&failure);
    let code = shape["code"].as_str().unwrap_or("error").to_owned();
    let mut message = shape["message"].as_str().unwrap_or_default().to_owned();
    if message.is_empty() {
        message = failure.to_string();
    }
    let error = ApiError::new(status, code, message);
    match failure {
        CommandFailure::CallError { details, .. } => error.with_details(details),
        CommandFailure::InvalidResponse { response, .. } => {
            error.with_details(json!({ "response": response }))
        }
        _ => error,
    }
}

/// `{"status", "response"}` and what else the answer tells.
fn answer_json(
    command: &Command,
    answer: &CommandAnswer,
    version: Option<OcppVersion>,
    session_id: Option<&str>,
) -> Value {
    let outcome = &answer.outcome;
    let mut body = json!({
        "status": outcome.status,
        "response": outcome.response,
        "command": command.name(),
        "action": answer.action,
        "message_id": answer.message_id,
        "latency_ms": answer.latency.as_secs_f64() * 1000.0,
    });
    match command {
        Command::StartSession {
            remote_start_id, ..
        } => body["remote_start_id"] = (*remote_start_id).into(),
        Command::StopSession { .. } => body["session_id"] = session_id.into(),
        Command::GetConfiguration { .. } => {
            let entries: Vec<Value> = outcome
                .configuration
                .iter()
                .map(|entry| {
                    json!({
                        "key": entry.key,
                        "value": entry.value,
                        "readonly": entry.readonly,
                        "alias": version.and_then(|version| alias(version, &entry.key)),
                    })
                })
                .collect();
            body["configuration"] = entries.into();
            body["unknown_keys"] = outcome.unknown_keys.clone().into();
        }
        _ => {}
    }
    body
}
