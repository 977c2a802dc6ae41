//! OCPP 2.0.1: inbound CALLs to the model, model replies to CALLRESULT payloads.
//!
//! Payloads are parsed strictly with rust-ocpp's 2.0.1 types after the repair stage, except
//! DataTransfer, which rust-ocpp cannot represent (its `data` accepts only strings).

use rust_ocpp::v2_0_1::datatypes::meter_value_type::MeterValueType;
use rust_ocpp::v2_0_1::datatypes::sampled_value_type::SampledValueType;
use rust_ocpp::v2_0_1::enumerations::charging_state_enum_type::ChargingStateEnumType;
use rust_ocpp::v2_0_1::enumerations::connector_status_enum_type::ConnectorStatusEnumType;
use rust_ocpp::v2_0_1::enumerations::id_token_enum_type::IdTokenEnumType;
use rust_ocpp::v2_0_1::enumerations::transaction_event_enum_type::TransactionEventEnumType;
use rust_ocpp::v2_0_1::messages::authorize::AuthorizeRequest;
use rust_ocpp::v2_0_1::messages::boot_notification::BootNotificationRequest;
use rust_ocpp::v2_0_1::messages::cleared_charging_limit::ClearedChargingLimitRequest;
use rust_ocpp::v2_0_1::messages::firmware_status_notification::FirmwareStatusNotificationRequest;
use rust_ocpp::v2_0_1::messages::heartbeat::HeartbeatRequest;
use rust_ocpp::v2_0_1::messages::log_status_notification::LogStatusNotificationRequest;
use rust_ocpp::v2_0_1::messages::meter_values::MeterValuesRequest;
use rust_ocpp::v2_0_1::messages::notify_charging_limit::NotifyChargingLimitRequest;
use rust_ocpp::v2_0_1::messages::notify_customer_information::NotifyCustomerInformationRequest;
use rust_ocpp::v2_0_1::messages::notify_display_messages::NotifyDisplayMessagesRequest;
use rust_ocpp::v2_0_1::messages::notify_event::NotifyEventRequest;
use rust_ocpp::v2_0_1::messages::notify_monitoring_report::NotifyMonitoringReportRequest;
use rust_ocpp::v2_0_1::messages::notify_report::NotifyReportRequest;
use rust_ocpp::v2_0_1::messages::publish_firmware_status_notification::PublishFirmwareStatusNotificationRequest;
use rust_ocpp::v2_0_1::messages::report_charging_profiles::ReportChargingProfilesRequest;
use rust_ocpp::v2_0_1::messages::reservation_status_update::ReservationStatusUpdateRequest;
use rust_ocpp::v2_0_1::messages::security_event_notification::SecurityEventNotificationRequest;
use rust_ocpp::v2_0_1::messages::status_notification::StatusNotificationRequest;
use rust_ocpp::v2_0_1::messages::transaction_event::TransactionEventRequest;
use serde_json::{Map, Value, json};
use zaryad_model::{
    AuthorizationInfo, AuthorizationStatus, BootInfo, ChargerMessage, ChargingState,
    ConnectorStatus, MeterSample, Reply, StatusReport, StopReason, Timestamp, TransactionEventKind,
    TransactionReport,
};

use crate::DecodeError;
use crate::data_transfer;
use crate::time::format_utc;
use crate::typed::{
    finite_number, non_empty, notification, parse, unsigned, wire_name, wire_registration,
};

/// Actions of 2.0.1 that only the CSMS sends, plus the charger's requests whose answer needs a
/// service the CSMS does not offer (certificates, ISO 15118 charging schedules).
const NOT_SUPPORTED: &[&str] = &[
    "CancelReservation",
    "CertificateSigned",
    "ChangeAvailability",
    "ClearCache",
    "ClearChargingProfile",
    "ClearDisplayMessage",
    "ClearVariableMonitoring",
    "CostUpdated",
    "CustomerInformation",
    "DeleteCertificate",
    "Get15118EVCertificate",
    "GetBaseReport",
    "GetCertificateStatus",
    "GetChargingProfiles",
    "GetCompositeSchedule",
    "GetDisplayMessages",
    "GetInstalledCertificateIds",
    "GetLocalListVersion",
    "GetLog",
    "GetMonitoringReport",
    "GetReport",
    "GetTransactionStatus",
    "GetVariables",
    "InstallCertificate",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "PublishFirmware",
    "RequestStartTransaction",
    "RequestStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "SetDisplayMessage",
    "SetMonitoringBase",
    "SetMonitoringLevel",
    "SetNetworkProfile",
    "SetVariableMonitoring",
    "SetVariables",
    "SignCertificate",
    "TriggerMessage",
    "UnlockConnector",
    "UnpublishFirmware",
    "UpdateFirmware",
];

/// Decodes the payload of a 2.0.1 CALL (already repaired) into the model.
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
        "StatusNotification" => status(action, parse(action, &payload)?),
        "Authorize" => {
            let request: AuthorizeRequest = parse(action, &payload)?;
            Ok(ChargerMessage::Authorize {
                id_token: request.id_token.id_token,
            })
        }
        "TransactionEvent" => transaction_event(action, parse(action, &payload)?),
        "MeterValues" => {
            let request: MeterValuesRequest = parse(action, &payload)?;
            Ok(ChargerMessage::MeterValues {
                evse_id: unsigned(action, "evseId", request.evse_id)?,
                transaction_id: None,
                samples: samples(action, "meterValue", &request.meter_value)?,
            })
        }
        "DataTransfer" => data_transfer::decode(action, payload),
        "NotifyEvent" => notification::<NotifyEventRequest>(action, payload),
        "NotifyReport" => notification::<NotifyReportRequest>(action, payload),
        "SecurityEventNotification" => {
            notification::<SecurityEventNotificationRequest>(action, payload)
        }
        "FirmwareStatusNotification" => {
            notification::<FirmwareStatusNotificationRequest>(action, payload)
        }
        "LogStatusNotification" => notification::<LogStatusNotificationRequest>(action, payload),
        "NotifyMonitoringReport" => notification::<NotifyMonitoringReportRequest>(action, payload),
        "NotifyCustomerInformation" => {
            notification::<NotifyCustomerInformationRequest>(action, payload)
        }
        "NotifyDisplayMessages" => notification::<NotifyDisplayMessagesRequest>(action, payload),
        "ReservationStatusUpdate" => {
            notification::<ReservationStatusUpdateRequest>(action, payload)
        }
        "ClearedChargingLimit" => notification::<ClearedChargingLimitRequest>(action, payload),
        "PublishFirmwareStatusNotification" => {
            notification::<PublishFirmwareStatusNotificationRequest>(action, payload)
        }
        "NotifyChargingLimit" => notification::<NotifyChargingLimitRequest>(action, payload),
        "ReportChargingProfiles" => notification::<ReportChargingProfilesRequest>(action, payload),
        _ if NOT_SUPPORTED.contains(&action) => Err(DecodeError::not_supported(action)),
        _ => Err(DecodeError::not_implemented(action)),
    }
}

fn boot(request: BootNotificationRequest) -> ChargerMessage {
    let station = request.charging_station;
    let modem = station.modem.unwrap_or_default();
    ChargerMessage::Boot(BootInfo {
        vendor: non_empty(Some(station.vendor_name)),
        model: non_empty(Some(station.model)),
        firmware_version: non_empty(station.firmware_version),
        serial_number: non_empty(station.serial_number),
        reason: wire_name(&request.reason),
        iccid: non_empty(modem.iccid),
        imsi: non_empty(modem.imsi),
    })
}

fn status(action: &str, request: StatusNotificationRequest) -> Result<ChargerMessage, DecodeError> {
    let status = match request.connector_status {
        ConnectorStatusEnumType::Available => ConnectorStatus::Available,
        ConnectorStatusEnumType::Occupied => ConnectorStatus::Occupied,
        ConnectorStatusEnumType::Reserved => ConnectorStatus::Reserved,
        ConnectorStatusEnumType::Unavailable => ConnectorStatus::Unavailable,
        ConnectorStatusEnumType::Faulted => ConnectorStatus::Faulted,
    };
    Ok(ChargerMessage::Status(StatusReport {
        evse_id: unsigned(action, "evseId", request.evse_id)?,
        connector_id: unsigned(action, "connectorId", request.connector_id)?,
        status,
        error_code: None,
        info: None,
        timestamp: Some(request.timestamp),
        connector_type: None,
    }))
}

fn transaction_event(
    action: &str,
    request: TransactionEventRequest,
) -> Result<ChargerMessage, DecodeError> {
    let kind = match request.event_type {
        TransactionEventEnumType::Started => TransactionEventKind::Started,
        TransactionEventEnumType::Updated => TransactionEventKind::Updated,
        TransactionEventEnumType::Ended => TransactionEventKind::Ended,
    };
    let info = request.transaction_info;
    let mut report = TransactionReport::new(kind, request.timestamp);
    report.transaction_id = Some(info.transaction_id);
    report.charging_state = info.charging_state.as_ref().map(charging_state);
    let stop_reason = info
        .stopped_reason
        .as_ref()
        .and_then(wire_name)
        .map(|reason| StopReason::parse_ocpp(&reason));
    report.stop_reason = match kind {
        // TransactionType: `stoppedReason` MAY only be omitted when the reason is Local.
        TransactionEventKind::Ended => Some(stop_reason.unwrap_or(StopReason::Local)),
        _ => stop_reason,
    };
    report.remote_start_id = info.remote_start_id.map(i64::from);
    if let Some(evse) = &request.evse {
        report.evse_id = Some(unsigned(action, "evse.id", evse.id)?);
        report.connector_id = evse
            .connector_id
            .map(|id| unsigned(action, "evse.connectorId", id))
            .transpose()?;
    }
    if let Some(token) = request.id_token {
        report.id_token_type = wire_name(&token.kind);
        // C02: a `NoAuthorization` start carries an empty token that names nobody.
        let anonymous =
            token.kind == IdTokenEnumType::NoAuthorization || token.id_token.trim().is_empty();
        report.id_token = (!anonymous).then_some(token.id_token);
    }
    report.samples = samples(
        action,
        "meterValue",
        request.meter_value.as_deref().unwrap_or_default(),
    )?;
    let seq_no = unsigned(action, "seqNo", request.seq_no)?;
    report.seq_no = Some(u64::from(seq_no));
    report.offline = request.offline.unwrap_or(false);
    report.trigger_reason = wire_name(&request.trigger_reason);
    report.reservation_id = request.reservation_id.map(i64::from);
    Ok(ChargerMessage::Transaction(report))
}

fn charging_state(state: &ChargingStateEnumType) -> ChargingState {
    match state {
        ChargingStateEnumType::Charging => ChargingState::Charging,
        ChargingStateEnumType::EVConnected => ChargingState::EvConnected,
        ChargingStateEnumType::SuspendedEV => ChargingState::SuspendedEv,
        ChargingStateEnumType::SuspendedEVSE => ChargingState::SuspendedEvse,
        ChargingStateEnumType::Idle => ChargingState::Idle,
    }
}

/// Normalizes 2.0.1 sampled values; `field` names the array for error descriptions.
fn samples(
    action: &str,
    field: &str,
    meter_values: &[MeterValueType],
) -> Result<Vec<MeterSample>, DecodeError> {
    let mut samples = Vec::new();
    for (i, meter_value) in meter_values.iter().enumerate() {
        for (j, sampled) in meter_value.sampled_value.iter().enumerate() {
            let value = scaled_value(sampled).ok_or_else(|| {
                DecodeError::bad_value(
                    action,
                    &format!("{field}[{i}].sampledValue[{j}].value"),
                    &format!("{} is out of range", sampled.value),
                )
            })?;
            let unit = sampled
                .unit_of_measure
                .as_ref()
                .and_then(|unit| unit.unit.as_deref());
            samples.push(MeterSample::from_ocpp(
                meter_value.timestamp,
                value,
                sampled.measurand.as_ref().and_then(wire_name).as_deref(),
                unit,
                sampled.phase.as_ref().and_then(wire_name).as_deref(),
                sampled.context.as_ref().and_then(wire_name).as_deref(),
                sampled.location.as_ref().and_then(wire_name).as_deref(),
            ));
        }
    }
    Ok(samples)
}

/// `value × 10^multiplier`, computed on the decimal text so that `12.345` with multiplier 3 is
/// exactly `12345` rather than a product of two rounded floats.
fn scaled_value(sampled: &SampledValueType) -> Option<f64> {
    let multiplier = sampled
        .unit_of_measure
        .as_ref()
        .and_then(|unit| unit.multiplier)
        .unwrap_or(0);
    finite_number(&format!("{}e{multiplier}", sampled.value))
}

/// Encodes the CALLRESULT payload answering a 2.0.1 `action` with `reply`.
///
/// Built as JSON by hand so that no status ever comes from a rust-ocpp `Default` (which is
/// `Accepted`). `action` is used only to keep an answer schema-valid when the reply does not fit
/// it: an empty reply to an answer with required fields becomes a schema-valid refusal.
pub fn encode_reply(action: &str, reply: &Reply) -> Value {
    match reply {
        Reply::Boot {
            registration,
            interval_seconds,
            current_time,
        } => json!({
            "currentTime": format_utc(*current_time),
            "interval": interval_seconds,
            "status": wire_registration(*registration),
        }),
        Reply::Heartbeat { current_time } => json!({ "currentTime": format_utc(*current_time) }),
        Reply::Empty => fail_closed(action).unwrap_or_else(|| json!({})),
        Reply::Authorize(info) => json!({ "idTokenInfo": id_token_info(info) }),
        Reply::Transaction { authorization, .. } => match authorization {
            Some(info) => json!({ "idTokenInfo": id_token_info(info) }),
            None => json!({}),
        },
        Reply::DataTransfer { status, data } => {
            let mut answer = Map::new();
            answer.insert("status".into(), data_transfer::status_name(*status).into());
            if let Some(data) = data.as_ref().filter(|data| !data.is_null()) {
                answer.insert("data".into(), data.clone());
            }
            Value::Object(answer)
        }
    }
}

/// The refusal for an action whose answer has required fields, should it be answered with
/// [`Reply::Empty`]: an empty object would break the charger's schema validation.
fn fail_closed(action: &str) -> Option<Value> {
    Some(match action {
        "Authorize" => json!({ "idTokenInfo": { "status": "Invalid" } }),
        "DataTransfer" => json!({ "status": "Rejected" }),
        "NotifyEVChargingNeeds" | "NotifyEVChargingSchedule" | "SignCertificate" => {
            json!({ "status": "Rejected" })
        }
        "GetCertificateStatus" => json!({ "status": "Failed" }),
        "Get15118EVCertificate" => json!({ "status": "Failed", "exiResponse": "" }),
        _ => return None,
    })
}

/// `IdTokenInfoType` with the group as a `Central` token.
fn id_token_info(info: &AuthorizationInfo) -> Map<String, Value> {
    let status = match info.status {
        AuthorizationStatus::Accepted => "Accepted",
        AuthorizationStatus::Blocked => "Blocked",
        AuthorizationStatus::Expired => "Expired",
        AuthorizationStatus::Invalid => "Invalid",
        AuthorizationStatus::Unknown => "Unknown",
        AuthorizationStatus::ConcurrentTx => "ConcurrentTx",
    };
    let mut fields = Map::new();
    fields.insert("status".into(), status.into());
    if let Some(expires_at) = info.expires_at {
        fields.insert("cacheExpiryDateTime".into(), format_utc(expires_at).into());
    }
    // The schema caps `idToken` at 36 characters; a longer group is left out rather than
    // making the whole answer invalid.
    if let Some(parent) = info.parent.as_ref().filter(|p| p.chars().count() <= 36) {
        fields.insert(
            "groupIdToken".into(),
            json!({ "idToken": parent, "type": "Central" }),
        );
    }
    fields
}
