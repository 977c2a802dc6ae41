//! OCPP 2.0.1 inbound CALLs decoded into the model, from plain values and recorded frames.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::{frame, received, utc};
use zaryad_adapter::{DecodeError, v201};
use zaryad_model::{
    BootInfo, ChargerMessage, ChargingState, ConnectorStatus, Measurand, ReadingContext,
    StatusReport, StopReason, TransactionEventKind, TransactionReport, Unit,
};
use zaryad_wire::ErrorCode;

fn decode(action: &str, payload: Value) -> Result<ChargerMessage, DecodeError> {
    v201::decode(action, payload, received())
}

fn code(action: &str, payload: Value) -> ErrorCode {
    decode(action, payload).unwrap_err().code
}

fn transaction(message: ChargerMessage) -> TransactionReport {
    match message {
        ChargerMessage::Transaction(report) => report,
        other => panic!("not a transaction: {other:?}"),
    }
}

#[test]
fn boot_notification_maps_station_and_modem() {
    let payload = json!({"reason": "PowerUp", "chargingStation": {
        "model": "SmartCharger", "vendorName": "ChaoJi Co", "serialNumber": "SN-1",
        "firmwareVersion": "2.3.1", "modem": {"iccid": "8982000000000000001", "imsi": "450050000000001"}},
        "customData": {"vendorId": "x"}});
    assert_eq!(
        decode("BootNotification", payload).unwrap(),
        ChargerMessage::Boot(BootInfo {
            vendor: Some("ChaoJi Co".into()),
            model: Some("SmartCharger".into()),
            firmware_version: Some("2.3.1".into()),
            serial_number: Some("SN-1".into()),
            reason: Some("PowerUp".into()),
            iccid: Some("8982000000000000001".into()),
            imsi: Some("450050000000001".into()),
        })
    );
    let minimal =
        json!({"reason": "Watchdog", "chargingStation": {"model": "M", "vendorName": "V"}});
    let ChargerMessage::Boot(boot) = decode("BootNotification", minimal).unwrap() else {
        panic!("not a boot");
    };
    assert_eq!(boot.reason.as_deref(), Some("Watchdog"));
    assert_eq!((boot.serial_number, boot.iccid), (None, None));
}

#[test]
fn heartbeat() {
    assert_eq!(
        decode("Heartbeat", json!({})).unwrap(),
        ChargerMessage::Heartbeat
    );
}

#[test]
fn status_notification_maps_every_status() {
    let cases = [
        ("Available", ConnectorStatus::Available),
        ("Occupied", ConnectorStatus::Occupied),
        ("Reserved", ConnectorStatus::Reserved),
        ("Unavailable", ConnectorStatus::Unavailable),
        ("Faulted", ConnectorStatus::Faulted),
    ];
    for (wire, expected) in cases {
        let payload = json!({"timestamp": "2026-03-01T11:59:00Z", "connectorStatus": wire,
            "evseId": 2, "connectorId": 1});
        assert_eq!(
            decode("StatusNotification", payload).unwrap(),
            ChargerMessage::Status(StatusReport {
                evse_id: 2,
                connector_id: 1,
                status: expected,
                error_code: None,
                info: None,
                timestamp: Some(utc(2026, 3, 1, 11, 59, 0)),
                connector_type: None,
            }),
            "{wire}"
        );
    }
}

#[test]
fn a_16_shaped_status_on_a_201_connection_is_refused() {
    let (action, payload) = frame("V01-c");
    assert_eq!(
        code(&action, payload),
        ErrorCode::OccurrenceConstraintViolation
    );
}

#[test]
fn authorize() {
    let payload = json!({"idToken": {"idToken": "04656B82EB2CDD", "type": "ISO14443"}});
    assert_eq!(
        decode("Authorize", payload).unwrap(),
        ChargerMessage::Authorize {
            id_token: "04656B82EB2CDD".into()
        }
    );
}

#[test]
fn transaction_started_without_authorization_has_no_token() {
    let (action, payload) = frame("V02-a");
    let mut expected =
        TransactionReport::new(TransactionEventKind::Started, utc(2026, 8, 27, 10, 0, 0));
    expected.transaction_id = Some("tx-1".into());
    expected.evse_id = Some(1);
    expected.connector_id = Some(1);
    expected.id_token = None;
    expected.id_token_type = Some("NoAuthorization".into());
    expected.seq_no = Some(0);
    expected.trigger_reason = Some("Authorized".into());
    assert_eq!(transaction(decode(&action, payload).unwrap()), expected);
}

#[test]
fn transaction_started_with_a_token_and_everything_else() {
    let payload = json!({"eventType": "Started", "timestamp": "2026-03-01T10:00:00.500Z",
        "triggerReason": "RemoteStart", "seqNo": 7, "offline": true, "reservationId": 12,
        "numberOfPhasesUsed": 3,
        "transactionInfo": {"transactionId": "a1b2", "chargingState": "EVConnected", "remoteStartId": 99},
        "idToken": {"idToken": "C1010010012345678", "type": "ISO14443"},
        "evse": {"id": 2}});
    let report = transaction(decode("TransactionEvent", payload).unwrap());
    assert_eq!(report.kind, TransactionEventKind::Started);
    assert_eq!(report.id_token.as_deref(), Some("C1010010012345678"));
    assert_eq!(report.id_token_type.as_deref(), Some("ISO14443"));
    assert_eq!(report.charging_state, Some(ChargingState::EvConnected));
    assert_eq!(report.remote_start_id, Some(99));
    assert_eq!(report.reservation_id, Some(12));
    assert_eq!((report.evse_id, report.connector_id), (Some(2), None));
    assert_eq!(report.seq_no, Some(7));
    assert!(report.offline);
    assert_eq!(report.trigger_reason.as_deref(), Some("RemoteStart"));
    assert_eq!(report.stop_reason, None);
    assert_eq!(report.meter_wh, None);
    assert_eq!(
        report.timestamp,
        utc(2026, 3, 1, 10, 0, 0) + chrono::Duration::milliseconds(500)
    );
}

#[test]
fn transaction_updated_carries_scaled_samples() {
    let payload = json!({"eventType": "Updated", "timestamp": "2026-03-01T10:15:00Z",
        "triggerReason": "MeterValuePeriodic", "seqNo": 3,
        "transactionInfo": {"transactionId": "a1b2", "chargingState": "Charging"},
        "meterValue": [{"timestamp": "2026-03-01T10:15:00Z", "sampledValue": [
            {"value": 12.345, "measurand": "Energy.Active.Import.Register",
             "unitOfMeasure": {"unit": "kWh"}},
            {"value": 7.2, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W", "multiplier": 3},
             "phase": "L1-N", "location": "Outlet", "context": "Sample.Periodic"},
            {"value": 55, "measurand": "SoC", "location": "EV"},
            {"value": 16, "measurand": "Current.Import", "unitOfMeasure": {"multiplier": -1}}]}]});
    let report = transaction(decode("TransactionEvent", payload).unwrap());
    assert_eq!(report.kind, TransactionEventKind::Updated);
    assert_eq!(report.charging_state, Some(ChargingState::Charging));
    let samples = &report.samples;
    assert_eq!(samples.len(), 4);
    assert_eq!(samples[0].measurand, Measurand::EnergyActiveImportRegister);
    assert_eq!(samples[0].unit, Unit::Wh);
    assert_eq!(samples[0].value, 12345.0);
    assert_eq!(samples[1].unit, Unit::W);
    assert_eq!(samples[1].value, 7200.0);
    assert_eq!(samples[1].phase.as_deref(), Some("L1-N"));
    assert_eq!(samples[1].location.as_deref(), Some("Outlet"));
    assert_eq!(samples[2].measurand, Measurand::Soc);
    assert_eq!(samples[2].unit, Unit::Percent);
    assert_eq!(samples[2].value, 55.0);
    assert_eq!(samples[2].location.as_deref(), Some("EV"));
    assert_eq!(samples[3].unit, Unit::A);
    assert_eq!(samples[3].value, 1.6);
    assert!(
        samples
            .iter()
            .all(|s| s.context == ReadingContext::SamplePeriodic)
    );
    assert!(
        samples
            .iter()
            .all(|s| s.timestamp == utc(2026, 3, 1, 10, 15, 0))
    );
}

#[test]
fn transaction_ended_maps_the_reason_and_defaults_to_local() {
    let ended = |info: Value| {
        json!({"eventType": "Ended", "timestamp": "2026-03-01T11:00:00Z",
            "triggerReason": "EVDeparted", "seqNo": 9, "transactionInfo": info,
            "meterValue": [{"timestamp": "2026-03-01T11:00:00Z", "sampledValue": [
                {"value": 20000, "context": "Transaction.End"}]}]})
    };
    let report = transaction(
        decode(
            "TransactionEvent",
            ended(
                json!({"transactionId": "a1b2", "stoppedReason": "EVDisconnected",
                "chargingState": "Idle"}),
            ),
        )
        .unwrap(),
    );
    assert_eq!(report.kind, TransactionEventKind::Ended);
    assert_eq!(report.stop_reason, Some(StopReason::EvDisconnected));
    assert_eq!(report.charging_state, Some(ChargingState::Idle));
    assert_eq!(report.samples[0].context, ReadingContext::TransactionEnd);
    assert_eq!(report.samples[0].value, 20000.0);
    let local =
        transaction(decode("TransactionEvent", ended(json!({"transactionId": "a1b2"}))).unwrap());
    assert_eq!(local.stop_reason, Some(StopReason::Local));
    let soc = transaction(
        decode(
            "TransactionEvent",
            ended(json!({"transactionId": "a1b2", "stoppedReason": "SOCLimitReached"})),
        )
        .unwrap(),
    );
    assert_eq!(soc.stop_reason, Some(StopReason::SocLimitReached));
}

#[test]
fn meter_values() {
    let payload = json!({"evseId": 0, "meterValue": [{"timestamp": "2026-03-01T11:00:00+09:00",
        "sampledValue": [{"value": 1234567.5, "unitOfMeasure": {"unit": "Wh"}},
                          {"value": 230.1, "measurand": "Voltage", "phase": "L1-N"}]}]});
    let ChargerMessage::MeterValues {
        evse_id,
        transaction_id,
        samples,
    } = decode("MeterValues", payload).unwrap()
    else {
        panic!("not meter values");
    };
    assert_eq!(evse_id, 0);
    assert_eq!(transaction_id, None);
    assert_eq!(samples[0].value, 1_234_567.5);
    assert_eq!(samples[0].timestamp, utc(2026, 3, 1, 2, 0, 0));
    assert_eq!(samples[1].measurand, Measurand::Voltage);
    assert_eq!(samples[1].unit, Unit::V);
}

#[test]
fn data_transfer_takes_any_json_data() {
    let payload = json!({"vendorId": "com.example.gbt", "messageId": "BMS",
        "data": {"soc": 55, "vin": "LSVAU2180N2183294"}});
    assert_eq!(
        decode("DataTransfer", payload).unwrap(),
        ChargerMessage::DataTransfer {
            vendor_id: "com.example.gbt".into(),
            message_id: Some("BMS".into()),
            data: Some(json!({"soc": 55, "vin": "LSVAU2180N2183294"})),
        }
    );
    assert_eq!(
        code("DataTransfer", json!({"messageId": "x"})),
        ErrorCode::OccurrenceConstraintViolation
    );
}

fn notifications() -> Vec<(&'static str, Value)> {
    let component = json!({"name": "EVSE", "evse": {"id": 1}});
    let variable = json!({"name": "AvailabilityState"});
    vec![
        (
            "NotifyEvent",
            json!({"generatedAt": "2026-03-01T11:00:00Z", "seqNo": 0, "eventData": [{
            "eventId": 1, "timestamp": "2026-03-01T11:00:00Z", "trigger": "Delta",
            "actualValue": "Faulted", "eventNotificationType": "HardWiredNotification",
            "component": component, "variable": variable}]}),
        ),
        (
            "NotifyReport",
            json!({"requestId": 5, "generatedAt": "2026-03-01T11:00:00Z", "seqNo": 0,
            "tbc": false, "reportData": [{"component": component, "variable": variable,
                "variableAttribute": [{"type": "Actual", "value": "Available", "mutability": "ReadOnly"}],
                "variableCharacteristics": {"dataType": "OptionList", "supportsMonitoring": true,
                    "valuesList": "Available,Occupied"}}]}),
        ),
        (
            "SecurityEventNotification",
            json!({"type": "StartupOfTheDevice",
            "timestamp": "2026-03-01T11:00:00Z", "techInfo": "boot"}),
        ),
        (
            "FirmwareStatusNotification",
            json!({"status": "Installed", "requestId": 3}),
        ),
        (
            "LogStatusNotification",
            json!({"status": "Uploaded", "requestId": 4}),
        ),
        (
            "NotifyMonitoringReport",
            json!({"requestId": 6, "seqNo": 0,
            "generatedAt": "2026-03-01T11:00:00Z", "monitor": [{"component": component,
                "variable": variable, "variableMonitoring": [{"id": 1, "transaction": false,
                    "value": 10.5, "type": "UpperThreshold", "severity": 4}]}]}),
        ),
        (
            "NotifyCustomerInformation",
            json!({"data": "no data", "seqNo": 0,
            "generatedAt": "2026-03-01T11:00:00Z", "requestId": 7}),
        ),
        (
            "NotifyDisplayMessages",
            json!({"requestId": 8, "messageInfo": [{"id": 1,
            "priority": "NormalCycle", "message": {"format": "UTF8", "content": "안녕하세요"}}]}),
        ),
        (
            "ReservationStatusUpdate",
            json!({"reservationId": 3, "reservationUpdateStatus": "Expired"}),
        ),
        (
            "ClearedChargingLimit",
            json!({"chargingLimitSource": "EMS", "evseId": 1}),
        ),
        (
            "PublishFirmwareStatusNotification",
            json!({"status": "Published",
            "location": ["http://local/fw.bin"], "requestId": 2}),
        ),
        (
            "NotifyChargingLimit",
            json!({"evseId": 1, "chargingLimit": {"chargingLimitSource": "SO",
            "isGridCritical": true}}),
        ),
        (
            "ReportChargingProfiles",
            json!({"requestId": 9, "chargingLimitSource": "CSO", "evseId": 1,
            "chargingProfile": [{"id": 1, "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
                "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                    "startSchedule": "2026-03-01T00:00:00Z",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}]}]}),
        ),
    ]
}

#[test]
fn notifications_are_kept_as_sent() {
    for (action, payload) in notifications() {
        let message = decode(action, payload.clone()).unwrap_or_else(|e| panic!("{action}: {e}"));
        assert_eq!(
            message,
            ChargerMessage::Notification {
                action: action.into(),
                payload
            }
        );
    }
}

#[test]
fn notifications_are_validated() {
    for (action, mut payload) in notifications() {
        let first_required = match action {
            "NotifyEvent"
            | "NotifyReport"
            | "NotifyMonitoringReport"
            | "NotifyCustomerInformation" => "generatedAt",
            "SecurityEventNotification" => "type",
            "FirmwareStatusNotification"
            | "LogStatusNotification"
            | "PublishFirmwareStatusNotification" => "status",
            "NotifyDisplayMessages" | "ReservationStatusUpdate" | "ReportChargingProfiles" => {
                "requestId"
            }
            "ClearedChargingLimit" => "chargingLimitSource",
            "NotifyChargingLimit" => "chargingLimit",
            other => panic!("{other} not covered"),
        };
        let first_required = if action == "ReservationStatusUpdate" {
            "reservationId"
        } else {
            first_required
        };
        payload.as_object_mut().unwrap().remove(first_required);
        let error = decode(action, payload).unwrap_err();
        assert_eq!(
            error.code,
            ErrorCode::OccurrenceConstraintViolation,
            "{action}: {error}"
        );
    }
}

#[test]
fn missing_field_is_an_occurrence_violation_naming_the_field() {
    let error = decode(
        "StatusNotification",
        json!({"timestamp": "2026-03-01T11:59:00Z", "connectorStatus": "Available", "connectorId": 1}),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::OccurrenceConstraintViolation);
    assert!(error.description.contains("evseId"), "{error}");
    let error = decode(
        "TransactionEvent",
        json!({"eventType": "Started", "timestamp": "2026-03-01T10:00:00Z",
            "triggerReason": "Authorized", "seqNo": 0, "transactionInfo": {}}),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::OccurrenceConstraintViolation);
    assert!(error.description.contains("transactionInfo"), "{error}");
    assert!(error.description.contains("transactionId"), "{error}");
}

#[test]
fn wrong_type_is_a_type_violation() {
    let error = decode(
        "StatusNotification",
        json!({"timestamp": "2026-03-01T11:59:00Z", "connectorStatus": "Available",
            "evseId": "abc", "connectorId": 1}),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::TypeConstraintViolation);
    assert!(error.description.contains("evseId"), "{error}");
    assert_eq!(
        code("Authorize", json!({"idToken": "04656B82EB2CDD"})),
        ErrorCode::TypeConstraintViolation
    );
}

#[test]
fn bad_values_are_property_violations() {
    let status = |status: &str, evse: i64| {
        json!({"timestamp": "2026-03-01T11:59:00Z", "connectorStatus": status,
            "evseId": evse, "connectorId": 1})
    };
    assert_eq!(
        code("StatusNotification", status("Charging", 1)),
        ErrorCode::PropertyConstraintViolation
    );
    let negative = decode("StatusNotification", status("Available", -1)).unwrap_err();
    assert_eq!(negative.code, ErrorCode::PropertyConstraintViolation);
    assert!(negative.description.contains("evseId"), "{negative}");
    assert_eq!(
        code(
            "TransactionEvent",
            json!({"eventType": "Started", "timestamp": "2026-03-01T10:00:00Z",
            "triggerReason": "Authorized", "seqNo": -1, "transactionInfo": {"transactionId": "t"}})
        ),
        ErrorCode::PropertyConstraintViolation
    );
    let huge = json!({"evseId": 1, "meterValue": [{"timestamp": "2026-03-01T11:00:00Z",
        "sampledValue": [{"value": 1, "unitOfMeasure": {"multiplier": 400}}]}]});
    let error = decode("MeterValues", huge).unwrap_err();
    assert_eq!(error.code, ErrorCode::PropertyConstraintViolation);
    assert!(
        error.description.contains("sampledValue[0].value"),
        "{error}"
    );
}

#[test]
fn offsetless_timestamp_without_repair_is_a_format_violation() {
    let error = decode(
        "StatusNotification",
        json!({"timestamp": "2026-03-01T11:59:00", "connectorStatus": "Available",
            "evseId": 1, "connectorId": 1}),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::FormatViolation);
    assert!(error.description.contains("timestamp"), "{error}");
}

#[test]
fn unknown_and_unsupported_actions() {
    assert_eq!(code("FooBar", json!({})), ErrorCode::NotImplemented);
    for action in [
        "StartTransaction",
        "StopTransaction",
        "DiagnosticsStatusNotification",
    ] {
        assert_eq!(
            code(action, json!({})),
            ErrorCode::NotImplemented,
            "{action}"
        );
    }
    for action in [
        "RequestStartTransaction",
        "Reset",
        "GetVariables",
        "NotifyEVChargingNeeds",
        "SignCertificate",
        "Get15118EVCertificate",
    ] {
        assert_eq!(code(action, json!({})), ErrorCode::NotSupported, "{action}");
    }
}

#[test]
fn a_payload_that_is_not_an_object_is_a_format_violation() {
    for action in [
        "Heartbeat",
        "TransactionEvent",
        "DataTransfer",
        "NotifyEvent",
    ] {
        assert_eq!(
            code(action, json!("x")),
            ErrorCode::FormatViolation,
            "{action}"
        );
    }
}
