//! OCPP 1.6J: inbound CALLs to the model, model replies to CALLRESULT payloads.
//!
//! Payloads are parsed strictly with rust-ocpp's 1.6 types after the repair stage; where
//! rust-ocpp cannot hold what the 1.6 schema allows, a local envelope reuses rust-ocpp's types
//! for the parts (`StartTransactionWire` and its siblings).

use chrono::{DateTime, Utc};
use rust_ocpp::v1_6::messages::authorize::AuthorizeRequest;
use rust_ocpp::v1_6::messages::boot_notification::BootNotificationRequest;
use rust_ocpp::v1_6::messages::diagnostics_status_notification::DiagnosticsStatusNotificationRequest;
use rust_ocpp::v1_6::messages::firmware_status_notification::FirmwareStatusNotificationRequest;
use rust_ocpp::v1_6::messages::heart_beat::HeartbeatRequest;
use rust_ocpp::v1_6::messages::status_notification::StatusNotificationRequest;
use rust_ocpp::v1_6::types::{
    ChargePointErrorCode, ChargePointStatus, MeterValue, Reason, ValueFormat,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use zaryad_model::{
    AuthorizationInfo, AuthorizationStatus, BootInfo, ChargerMessage, ConnectorStatus, MeterSample,
    Reply, StatusReport, StopReason, Timestamp, TransactionEventKind, TransactionReport,
};

use crate::DecodeError;
use crate::data_transfer;
use crate::time::format_utc;
use crate::typed::{finite_number, non_empty, notification, parse, wire_name, wire_registration};

/// Actions of 1.6 (with the security extension) that only the CSMS sends, plus the charger's
/// `SignCertificate`, whose answer needs a certificate authority the CSMS does not run.
const NOT_SUPPORTED: &[&str] = &[
    "CancelReservation",
    "CertificateSigned",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "ClearChargingProfile",
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetCompositeSchedule",
    "GetConfiguration",
    "GetDiagnostics",
    "GetInstalledCertificateIds",
    "GetLocalListVersion",
    "GetLog",
    "InstallCertificate",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "SignCertificate",
    "SignedUpdateFirmware",
    "TriggerMessage",
    "UnlockConnector",
    "UpdateFirmware",
];

/// Security-extension messages rust-ocpp 1.6 has no types for, with their required fields.
const SECURITY_NOTIFICATIONS: &[(&str, &[&str])] = &[
    ("SecurityEventNotification", &["type", "timestamp"]),
    ("LogStatusNotification", &["status"]),
    ("SignedFirmwareStatusNotification", &["status"]),
];

/// Decodes the payload of a 1.6 CALL (already repaired) into the model.
///
/// `_received_at` is not needed by the strict stage: every repair that substitutes the server's
/// clock runs before it.
pub fn decode(
    action: &str,
    payload: Value,
    _received_at: Timestamp,
) -> Result<ChargerMessage, DecodeError> {
    match action {
        "BootNotification" => Ok(boot(parse(action, &payload)?)),
        "Heartbeat" => {
            parse::<HeartbeatRequest>(action, &payload)?;
            Ok(ChargerMessage::Heartbeat)
        }
        "StatusNotification" => Ok(status(parse(action, &payload)?)),
        "Authorize" => {
            let request: AuthorizeRequest = parse(action, &payload)?;
            Ok(ChargerMessage::Authorize {
                id_token: request.id_tag,
            })
        }
        "StartTransaction" => Ok(start_transaction(parse(action, &payload)?)),
        "StopTransaction" => stop_transaction(action, parse(action, &payload)?),
        "MeterValues" => meter_values(action, parse(action, &payload)?),
        "DataTransfer" => data_transfer::decode(action, payload),
        "FirmwareStatusNotification" => {
            notification::<FirmwareStatusNotificationRequest>(action, payload)
        }
        "DiagnosticsStatusNotification" => {
            notification::<DiagnosticsStatusNotificationRequest>(action, payload)
        }
        _ => {
            if let Some((_, required)) = SECURITY_NOTIFICATIONS
                .iter()
                .find(|(name, _)| *name == action)
            {
                security_notification(action, payload, required)
            } else if NOT_SUPPORTED.contains(&action) {
                Err(DecodeError::not_supported(action))
            } else {
                Err(DecodeError::not_implemented(action))
            }
        }
    }
}

fn boot(request: BootNotificationRequest) -> ChargerMessage {
    let serial_number = non_empty(request.charge_point_serial_number)
        .or_else(|| non_empty(request.charge_box_serial_number));
    ChargerMessage::Boot(BootInfo {
        vendor: non_empty(Some(request.charge_point_vendor)),
        model: non_empty(Some(request.charge_point_model)),
        firmware_version: non_empty(request.firmware_version),
        serial_number,
        reason: None,
        iccid: non_empty(request.iccid),
        imsi: non_empty(request.imsi),
    })
}

/// 1.6 connector N is EVSE N with its one connector; connector 0 is the station itself.
fn evse_and_connector(connector_id: u32) -> (u32, u32) {
    if connector_id == 0 {
        (0, 0)
    } else {
        (connector_id, 1)
    }
}

fn status(request: StatusNotificationRequest) -> ChargerMessage {
    let (evse_id, connector_id) = evse_and_connector(request.connector_id);
    let error_code = match request.error_code {
        ChargePointErrorCode::NoError => None,
        other => wire_name(&other),
    };
    let info = match (
        non_empty(request.info),
        non_empty(request.vendor_error_code),
    ) {
        (Some(info), Some(code)) => Some(format!("{info} ({code})")),
        (info, code) => info.or(code),
    };
    ChargerMessage::Status(StatusReport {
        evse_id,
        connector_id,
        status: connector_status(&request.status),
        error_code,
        info,
        timestamp: request.timestamp,
        connector_type: None,
    })
}

fn connector_status(status: &ChargePointStatus) -> ConnectorStatus {
    match status {
        ChargePointStatus::Available => ConnectorStatus::Available,
        ChargePointStatus::Preparing => ConnectorStatus::Occupied,
        ChargePointStatus::Charging => ConnectorStatus::Charging,
        ChargePointStatus::SuspendedEV => ConnectorStatus::SuspendedEv,
        ChargePointStatus::SuspendedEVSE => ConnectorStatus::SuspendedEvse,
        ChargePointStatus::Finishing => ConnectorStatus::Finishing,
        ChargePointStatus::Reserved => ConnectorStatus::Reserved,
        ChargePointStatus::Unavailable => ConnectorStatus::Unavailable,
        ChargePointStatus::Faulted => ConnectorStatus::Faulted,
    }
}

/// StartTransaction.req. rust-ocpp holds `meterStart` and `reservationId` as `i32`, while the
/// 1.6 schema says only "integer": the lifetime register of a DC charger passes 2^31 Wh.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartTransactionWire {
    connector_id: u32,
    id_tag: String,
    meter_start: i64,
    reservation_id: Option<i64>,
    timestamp: DateTime<Utc>,
}

fn start_transaction(request: StartTransactionWire) -> ChargerMessage {
    let (evse_id, connector_id) = evse_and_connector(request.connector_id);
    let mut report = TransactionReport::new(TransactionEventKind::Started, request.timestamp);
    report.evse_id = Some(evse_id);
    report.connector_id = Some(connector_id);
    report.id_token = Some(request.id_tag);
    // Registers stay far below 2^53 Wh, where f64 would start rounding.
    report.meter_wh = Some(request.meter_start as f64);
    report.reservation_id = request.reservation_id;
    ChargerMessage::Transaction(report)
}

/// StopTransaction.req. rust-ocpp holds `meterStop` and `transactionId` as `i32`; the schema
/// says "integer", and chargers replay queued stops with ids beyond `i32` (Alfen: `i64::MAX`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StopTransactionWire {
    id_tag: Option<String>,
    meter_stop: i64,
    timestamp: DateTime<Utc>,
    transaction_id: i64,
    reason: Option<Reason>,
    transaction_data: Option<Vec<MeterValue>>,
}

fn stop_transaction(
    action: &str,
    request: StopTransactionWire,
) -> Result<ChargerMessage, DecodeError> {
    let mut report = TransactionReport::new(TransactionEventKind::Ended, request.timestamp);
    report.transaction_id = Some(request.transaction_id.to_string());
    report.id_token = non_empty(request.id_tag);
    report.meter_wh = Some(request.meter_stop as f64);
    // StopTransaction.req: `reason` MAY only be omitted when the reason is Local.
    report.stop_reason = Some(
        request
            .reason
            .as_ref()
            .and_then(wire_name)
            .map_or(StopReason::Local, |reason| StopReason::parse_ocpp(&reason)),
    );
    report.samples = samples(
        action,
        "transactionData",
        request.transaction_data.as_deref().unwrap_or_default(),
    )?;
    Ok(ChargerMessage::Transaction(report))
}

/// MeterValues.req, with `transactionId` as wide as the schema allows (see [`StopTransactionWire`]).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MeterValuesWire {
    connector_id: u32,
    transaction_id: Option<i64>,
    meter_value: Vec<MeterValue>,
}

fn meter_values(action: &str, request: MeterValuesWire) -> Result<ChargerMessage, DecodeError> {
    Ok(ChargerMessage::MeterValues {
        evse_id: request.connector_id,
        transaction_id: request.transaction_id.map(|id| id.to_string()),
        samples: samples(action, "meterValue", &request.meter_value)?,
    })
}

/// Normalizes 1.6 sampled values; `field` names the array for error descriptions.
fn samples(
    action: &str,
    field: &str,
    meter_values: &[MeterValue],
) -> Result<Vec<MeterSample>, DecodeError> {
    let mut samples = Vec::new();
    for (i, meter_value) in meter_values.iter().enumerate() {
        for (j, sampled) in meter_value.sampled_value.iter().enumerate() {
            // Signed values carry a signature blob in `value`, not a number.
            if sampled.format == Some(ValueFormat::SignedData) {
                continue;
            }
            let value = finite_number(&sampled.value).ok_or_else(|| {
                DecodeError::bad_value(
                    action,
                    &format!("{field}[{i}].sampledValue[{j}].value"),
                    &format!("{:?} is not a number", sampled.value),
                )
            })?;
            samples.push(MeterSample::from_ocpp(
                meter_value.timestamp,
                value,
                sampled.measurand.as_ref().and_then(wire_name).as_deref(),
                sampled.unit.as_ref().and_then(wire_name).as_deref(),
                sampled.phase.as_ref().and_then(wire_name).as_deref(),
                sampled.context.as_ref().and_then(wire_name).as_deref(),
                sampled.location.as_ref().and_then(wire_name).as_deref(),
            ));
        }
    }
    Ok(samples)
}

/// Messages of the 1.6 security extension are kept as sent once their required fields are there.
fn security_notification(
    action: &str,
    payload: Value,
    required: &[&str],
) -> Result<ChargerMessage, DecodeError> {
    let Value::Object(fields) = &payload else {
        return Err(DecodeError::not_an_object(action));
    };
    for field in required {
        match fields.get(*field) {
            Some(Value::String(_)) => {}
            Some(Value::Null) | None => return Err(DecodeError::missing(action, field)),
            Some(_) => return Err(DecodeError::wrong_type(action, field, "a string")),
        }
    }
    Ok(ChargerMessage::Notification {
        action: action.to_owned(),
        payload,
    })
}

/// Encodes the CALLRESULT payload answering a 1.6 `action` with `reply`.
///
/// `action` tells StartTransaction (which needs the assigned id) from StopTransaction, and turns
/// an empty reply to an answer with required fields into a schema-valid refusal; every other
/// shape follows the reply. Built as JSON by hand so that no status ever comes from a rust-ocpp
/// `Default` (which is `Accepted`).
pub fn encode_reply(action: &str, reply: &Reply) -> Value {
    match reply {
        Reply::Boot {
            registration,
            interval_seconds,
            current_time,
        } => json!({
            "status": wire_registration(*registration),
            "currentTime": format_utc(*current_time),
            "interval": interval_seconds,
        }),
        Reply::Heartbeat { current_time } => json!({ "currentTime": format_utc(*current_time) }),
        Reply::Empty => fail_closed(action).unwrap_or_else(|| json!({})),
        Reply::Authorize(info) => json!({ "idTagInfo": id_tag_info(info) }),
        Reply::Transaction {
            assigned_transaction_id,
            authorization,
        } => {
            if action == "StartTransaction" {
                // Both fields are required; a start without a decision fails closed.
                let info = authorization.as_ref().map_or_else(
                    || json!({ "status": "Invalid" }),
                    |info| Value::Object(id_tag_info(info)),
                );
                json!({
                    "transactionId": assigned_transaction_id.unwrap_or(0),
                    "idTagInfo": info,
                })
            } else {
                match authorization {
                    Some(info) => json!({ "idTagInfo": id_tag_info(info) }),
                    None => json!({}),
                }
            }
        }
        Reply::DataTransfer { status, data } => {
            let mut answer = Map::new();
            answer.insert("status".into(), data_transfer::status_name(*status).into());
            // 1.6 `data` is a string: anything else travels as its JSON text.
            match data {
                None | Some(Value::Null) => {}
                Some(Value::String(text)) => {
                    answer.insert("data".into(), Value::String(text.clone()));
                }
                Some(other) => {
                    answer.insert("data".into(), Value::String(other.to_string()));
                }
            }
            Value::Object(answer)
        }
    }
}

/// The refusal for an action whose answer has required fields, should it be answered with
/// [`Reply::Empty`]: an empty object would break the charger's schema validation.
fn fail_closed(action: &str) -> Option<Value> {
    Some(match action {
        "Authorize" => json!({ "idTagInfo": { "status": "Invalid" } }),
        "StartTransaction" => json!({ "transactionId": 0, "idTagInfo": { "status": "Invalid" } }),
        "DataTransfer" | "SignCertificate" => json!({ "status": "Rejected" }),
        _ => return None,
    })
}

/// `IdTagInfo`; 1.6 has no `Unknown` and says `Invalid` for a token it does not know.
fn id_tag_info(info: &AuthorizationInfo) -> Map<String, Value> {
    let status = match info.status {
        AuthorizationStatus::Accepted => "Accepted",
        AuthorizationStatus::Blocked => "Blocked",
        AuthorizationStatus::Expired => "Expired",
        AuthorizationStatus::Invalid | AuthorizationStatus::Unknown => "Invalid",
        AuthorizationStatus::ConcurrentTx => "ConcurrentTx",
    };
    let mut fields = Map::new();
    fields.insert("status".into(), status.into());
    if let Some(expires_at) = info.expires_at {
        fields.insert("expiryDate".into(), format_utc(expires_at).into());
    }
    // The schema caps `parentIdTag` at 20 characters; a longer group is left out rather than
    // making the whole answer invalid.
    if let Some(parent) = info.parent.as_ref().filter(|p| p.chars().count() <= 20) {
        fields.insert("parentIdTag".into(), parent.clone().into());
    }
    fields
}
