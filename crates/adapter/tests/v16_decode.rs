//! OCPP 1.6 inbound CALLs decoded into the model, from plain values and recorded frames.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::{frame, received, utc};
use zaryad_adapter::{DecodeError, v16};
use zaryad_model::{
    BootInfo, ChargerMessage, ConnectorStatus, Measurand, ReadingContext, StatusReport, StopReason,
    TransactionEventKind, TransactionReport, Unit,
};
use zaryad_wire::ErrorCode;

fn decode(action: &str, payload: Value) -> Result<ChargerMessage, DecodeError> {
    v16::decode(action, payload, received())
}

fn decode_frame(id: &str) -> ChargerMessage {
    let (action, payload) = frame(id);
    decode(&action, payload).unwrap_or_else(|e| panic!("{id}: {e}"))
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

fn status(message: ChargerMessage) -> StatusReport {
    match message {
        ChargerMessage::Status(report) => report,
        other => panic!("not a status: {other:?}"),
    }
}

#[test]
fn boot_notification_maps_station_facts() {
    assert_eq!(
        decode_frame("R06-a"),
        ChargerMessage::Boot(BootInfo {
            vendor: Some("AcTEC".into()),
            model: Some("EV-AC22K".into()),
            firmware_version: Some("V1.17.9".into()),
            serial_number: Some("Actec".into()),
            reason: None,
            iccid: None,
            imsi: None,
        })
    );
}

#[test]
fn boot_serial_falls_back_to_the_charge_box_serial() {
    let ChargerMessage::Boot(abb) = decode_frame("B05-c") else {
        panic!("not a boot");
    };
    assert_eq!(abb.serial_number.as_deref(), Some("TACW543627P8231"));
    assert_eq!(abb.vendor.as_deref(), Some("ABB"));
    // Overlong serials (Schneider) are kept: length limits are not worth a refused boot.
    let ChargerMessage::Boot(schneider) = decode_frame("B02-a") else {
        panic!("not a boot");
    };
    assert_eq!(
        schneider.serial_number.as_deref(),
        Some("3N123456789F2S1B1234567890")
    );
}

#[test]
fn boot_empty_modem_fields_are_absent_and_custom_data_is_ignored() {
    let ChargerMessage::Boot(xq) = decode_frame("B04-a") else {
        panic!("not a boot");
    };
    assert_eq!(xq.iccid, None);
    assert_eq!(xq.imsi, None);
    assert_eq!(xq.serial_number.as_deref(), Some("ks0117100000008"));
    let ChargerMessage::Boot(grizzl) = decode_frame("B03-a") else {
        panic!("not a boot");
    };
    assert_eq!(grizzl.iccid.as_deref(), Some("-67"));
}

#[test]
fn heartbeat() {
    assert_eq!(
        decode("Heartbeat", json!({})).unwrap(),
        ChargerMessage::Heartbeat
    );
}

#[test]
fn status_notification_maps_connector_to_evse() {
    assert_eq!(
        status(decode_frame("R02-a")),
        StatusReport {
            evse_id: 1,
            connector_id: 1,
            status: ConnectorStatus::Occupied,
            error_code: None,
            info: None,
            timestamp: Some(utc(2025, 8, 14, 1, 23, 49)),
            connector_type: None,
        }
    );
}

#[test]
fn status_notification_of_the_station_keeps_error_and_vendor_code() {
    assert_eq!(
        status(decode_frame("D05-a")),
        StatusReport {
            evse_id: 0,
            connector_id: 0,
            status: ConnectorStatus::Faulted,
            error_code: Some("OtherError".into()),
            info: Some("Modbus TCP/IP lost, in safe mode max 14.0A (210)".into()),
            timestamp: Some(utc(2022, 1, 31, 14, 44, 28)),
            connector_type: None,
        }
    );
    let en_plus = status(decode_frame("S02-b"));
    assert_eq!(en_plus.error_code.as_deref(), Some("OtherError"));
    assert!(
        en_plus
            .info
            .unwrap()
            .ends_with("(00001000000000000000000000000000)")
    );
}

#[test]
fn status_notification_maps_every_status() {
    let cases = [
        ("Available", ConnectorStatus::Available),
        ("Preparing", ConnectorStatus::Occupied),
        ("Charging", ConnectorStatus::Charging),
        ("SuspendedEV", ConnectorStatus::SuspendedEv),
        ("SuspendedEVSE", ConnectorStatus::SuspendedEvse),
        ("Finishing", ConnectorStatus::Finishing),
        ("Reserved", ConnectorStatus::Reserved),
        ("Unavailable", ConnectorStatus::Unavailable),
        ("Faulted", ConnectorStatus::Faulted),
    ];
    for (wire, expected) in cases {
        let payload = json!({"connectorId": 2, "errorCode": "NoError", "status": wire});
        let report = status(decode("StatusNotification", payload).unwrap());
        assert_eq!(report.status, expected, "{wire}");
        assert_eq!((report.evse_id, report.connector_id), (2, 1));
        assert_eq!(report.timestamp, None);
    }
}

#[test]
fn status_notification_with_only_a_vendor_error_code() {
    let payload = json!({"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted",
        "vendorErrorCode": "E42", "info": ""});
    let report = status(decode("StatusNotification", payload).unwrap());
    assert_eq!(report.error_code.as_deref(), Some("GroundFailure"));
    assert_eq!(report.info.as_deref(), Some("E42"));
}

#[test]
fn authorize() {
    assert_eq!(
        decode_frame("I01-a"),
        ChargerMessage::Authorize {
            id_token: "04656B82EB2CDD".into()
        }
    );
}

#[test]
fn start_transaction_is_a_started_report_without_id() {
    let mut expected =
        TransactionReport::new(TransactionEventKind::Started, utc(2025, 8, 14, 1, 23, 49));
    expected.evse_id = Some(1);
    expected.connector_id = Some(1);
    expected.id_token = Some("a123456789".into());
    expected.meter_wh = Some(0.0);
    assert_eq!(transaction(decode_frame("R02-b")), expected);
}

#[test]
fn start_transaction_takes_registers_beyond_i32_and_reservations() {
    let payload = json!({"connectorId": 3, "idTag": "T", "meterStart": 3_000_000_000_i64,
        "reservationId": 17, "timestamp": "2026-02-01T10:00:00.123+01:00"});
    let report = transaction(decode("StartTransaction", payload).unwrap());
    assert_eq!(report.meter_wh, Some(3_000_000_000.0));
    assert_eq!(report.reservation_id, Some(17));
    assert_eq!(report.evse_id, Some(3));
    assert_eq!(
        report.timestamp,
        utc(2026, 2, 1, 9, 0, 0) + chrono::Duration::milliseconds(123)
    );
}

#[test]
fn stop_transaction_is_an_ended_report() {
    let mut expected =
        TransactionReport::new(TransactionEventKind::Ended, utc(2024, 1, 30, 14, 29, 16));
    expected.transaction_id = Some("1706601047".into());
    expected.id_token = Some("XXXXXX".into());
    expected.meter_wh = Some(2_259_988.0);
    expected.stop_reason = Some(StopReason::Local);
    assert_eq!(transaction(decode_frame("M05-a")), expected);
}

#[test]
fn stop_transaction_without_reason_is_local_and_placeholder_ids_pass() {
    let report = transaction(decode_frame("N04-c"));
    assert_eq!(report.transaction_id.as_deref(), Some("0"));
    assert_eq!(report.stop_reason, Some(StopReason::Local));
    assert_eq!(report.id_token, None);
    assert_eq!(report.meter_wh, Some(0.0));
}

#[test]
fn stop_transaction_keeps_a_corrupted_id_tag_rather_than_losing_the_stop() {
    let report = transaction(decode_frame("X03-a"));
    assert_eq!(
        report.id_token.as_deref(),
        Some("BA86I250X5G6MOD5DLKD\u{10}\u{e}")
    );
    assert_eq!(report.stop_reason, Some(StopReason::EvDisconnected));
    assert_eq!(report.transaction_id.as_deref(), Some("1786705612"));
}

#[test]
fn stop_transaction_carries_transaction_data() {
    let payload = json!({"transactionId": 5, "meterStop": 1500, "timestamp": "2026-03-01T11:00:00Z",
        "reason": "Remote", "transactionData": [
            {"timestamp": "2026-03-01T10:00:00Z", "sampledValue": [
                {"value": "1000", "context": "Transaction.Begin", "unit": "Wh"}]},
            {"timestamp": "2026-03-01T11:00:00Z", "sampledValue": [
                {"value": "1.5", "context": "Transaction.End", "unit": "kWh",
                 "measurand": "Energy.Active.Import.Register", "location": "Outlet"},
                {"value": "c2lnbmVk", "format": "SignedData", "context": "Transaction.End"}]}]});
    let report = transaction(decode("StopTransaction", payload).unwrap());
    assert_eq!(report.stop_reason, Some(StopReason::Remote));
    assert_eq!(report.samples.len(), 2, "signed data is skipped");
    assert_eq!(report.samples[0].context, ReadingContext::TransactionBegin);
    assert_eq!(report.samples[0].value, 1000.0);
    assert_eq!(report.samples[1].unit, Unit::Wh);
    assert_eq!(report.samples[1].value, 1500.0);
    assert_eq!(report.samples[1].location.as_deref(), Some("Outlet"));
    assert_eq!(report.samples[1].timestamp, utc(2026, 3, 1, 11, 0, 0));
}

#[test]
fn meter_values_normalize_samples() {
    let ChargerMessage::MeterValues {
        evse_id,
        transaction_id,
        samples,
    } = decode_frame("D02-b")
    else {
        panic!("not meter values");
    };
    assert_eq!(evse_id, 1);
    assert_eq!(transaction_id.as_deref(), Some("1735917607"));
    assert_eq!(samples.len(), 4);
    let at = utc(2025, 1, 3, 15, 21, 47);
    assert!(samples.iter().all(|s| s.timestamp == at));
    assert_eq!(samples[0].measurand, Measurand::EnergyActiveImportRegister);
    assert_eq!(samples[0].value, 56.0);
    assert_eq!(samples[0].context, ReadingContext::SamplePeriodic);
    assert_eq!(samples[1].context, ReadingContext::TransactionBegin);
    assert_eq!(samples[2].measurand, Measurand::CurrentImport);
    assert_eq!(samples[2].value, 9.45);
    assert_eq!(samples[2].unit, Unit::A);
    assert_eq!(samples[2].phase.as_deref(), Some("L1"));
    assert_eq!(samples[3].measurand, Measurand::Voltage);
    assert_eq!(samples[3].value, 233.2);
}

#[test]
fn meter_values_convert_kilo_units() {
    let ChargerMessage::MeterValues { samples, .. } = decode_frame("M01-a") else {
        panic!("not meter values");
    };
    assert_eq!(samples[0].value, 254_780.0);
    assert_eq!(samples[1].measurand, Measurand::PowerActiveImport);
    assert_eq!(samples[1].unit, Unit::W);
    assert_eq!(samples[1].value, 3500.0);
    assert_eq!(samples[2].unit, Unit::Celsius);
    assert_eq!(samples[4].phase.as_deref(), Some("N"));
}

#[test]
fn meter_values_of_the_station_and_wide_transaction_ids() {
    let ChargerMessage::MeterValues {
        evse_id,
        transaction_id,
        samples,
    } = decode_frame("M04-b")
    else {
        panic!("not meter values");
    };
    assert_eq!(evse_id, 0);
    assert_eq!(transaction_id, None);
    assert_eq!(samples.len(), 6);
    let payload = json!({"connectorId": 1, "transactionId": i64::MAX, "meterValue": [
        {"timestamp": "2020-09-19T15:14:23Z", "sampledValue": [{"value": "15.630", "unit": "A"}]}]});
    let ChargerMessage::MeterValues { transaction_id, .. } =
        decode("MeterValues", payload).unwrap()
    else {
        panic!("not meter values");
    };
    assert_eq!(transaction_id.as_deref(), Some("9223372036854775807"));
}

#[test]
fn data_transfer_keeps_vendor_data_as_sent() {
    assert_eq!(
        decode_frame("DT01-c"),
        ChargerMessage::DataTransfer {
            vendor_id: "tscontech".into(),
            message_id: Some("mbrUntpc".into()),
            data: Some(json!("{\"idTag\":\"1010010012345678\"}")),
        }
    );
    let payload = json!({"vendorId": "btc", "messageId": "stationMode",
        "data": {"StationMode": "paymentMode"}});
    let ChargerMessage::DataTransfer { data, .. } = decode("DataTransfer", payload).unwrap() else {
        panic!("not a data transfer");
    };
    assert_eq!(data, Some(json!({"StationMode": "paymentMode"})));
}

#[test]
fn firmware_and_diagnostics_status_are_notifications() {
    let (action, payload) = frame("R05-a");
    assert_eq!(
        decode(&action, payload.clone()).unwrap(),
        ChargerMessage::Notification {
            action: "FirmwareStatusNotification".into(),
            payload
        }
    );
    let payload = json!({"status": "Uploaded"});
    assert_eq!(
        decode("DiagnosticsStatusNotification", payload.clone()).unwrap(),
        ChargerMessage::Notification {
            action: "DiagnosticsStatusNotification".into(),
            payload
        }
    );
    assert_eq!(
        code("FirmwareStatusNotification", json!({"status": "Done"})),
        ErrorCode::PropertyConstraintViolation
    );
}

#[test]
fn security_extension_notifications_are_acknowledged() {
    for id in ["R07-a", "R07-c"] {
        let (action, payload) = frame(id);
        assert_eq!(
            decode(&action, payload.clone()).unwrap(),
            ChargerMessage::Notification { action, payload }
        );
    }
    for (action, payload) in [
        (
            "LogStatusNotification",
            json!({"status": "Uploaded", "requestId": 3}),
        ),
        (
            "SignedFirmwareStatusNotification",
            json!({"status": "Downloaded"}),
        ),
    ] {
        assert!(matches!(
            decode(action, payload).unwrap(),
            ChargerMessage::Notification { .. }
        ));
    }
    let missing = decode(
        "SecurityEventNotification",
        json!({"timestamp": "2024-02-23T10:13:41.360Z"}),
    )
    .unwrap_err();
    assert_eq!(missing.code, ErrorCode::OccurrenceConstraintViolation);
    assert!(missing.description.contains("type"));
    assert_eq!(
        code("LogStatusNotification", json!({"status": 1})),
        ErrorCode::TypeConstraintViolation
    );
    assert_eq!(
        code("LogStatusNotification", json!("Uploaded")),
        ErrorCode::FormatViolation
    );
}

#[test]
fn missing_field_is_an_occurrence_violation_naming_the_field() {
    let error = decode(
        "StatusNotification",
        json!({"errorCode": "NoError", "status": "Available"}),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::OccurrenceConstraintViolation);
    assert!(
        error.description.starts_with("StatusNotification"),
        "{error}"
    );
    assert!(error.description.contains("connectorId"), "{error}");
    assert_eq!(
        code(
            "StartTransaction",
            json!({"connectorId": 1, "meterStart": 0,
            "timestamp": "2026-03-01T11:00:00Z"})
        ),
        ErrorCode::OccurrenceConstraintViolation
    );
}

#[test]
fn wrong_type_is_a_type_violation_naming_the_field() {
    let error = decode(
        "StatusNotification",
        json!({"connectorId": "abc", "errorCode": "NoError", "status": "Available"}),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::TypeConstraintViolation);
    assert!(error.description.contains("connectorId"), "{error}");
    assert_eq!(
        code("Authorize", json!({"idTag": 12})),
        ErrorCode::TypeConstraintViolation
    );
    assert_eq!(
        code("MeterValues", json!({"connectorId": 1, "meterValue": {}})),
        ErrorCode::TypeConstraintViolation
    );
    // Without the repair stage a numeric string stays a type error.
    assert_eq!(
        code(
            "StatusNotification",
            json!({"connectorId": "1", "errorCode": "NoError", "status": "Available"})
        ),
        ErrorCode::TypeConstraintViolation
    );
}

#[test]
fn bad_enum_value_is_a_property_violation() {
    let error = decode(
        "StatusNotification",
        json!({"connectorId": 1, "errorCode": "NoError", "status": "Occupied"}),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::PropertyConstraintViolation);
    assert!(error.description.contains("status"), "{error}");
    let (action, payload) = frame("S01-a");
    assert_eq!(
        code(&action, payload),
        ErrorCode::PropertyConstraintViolation
    );
    assert_eq!(
        code(
            "StatusNotification",
            json!({"connectorId": -1, "errorCode": "NoError", "status": "Available"})
        ),
        ErrorCode::PropertyConstraintViolation
    );
}

#[test]
fn non_numeric_sampled_value_is_a_property_violation() {
    let payload = json!({"connectorId": 1, "meterValue": [{"timestamp": "2026-03-01T11:00:00Z",
        "sampledValue": [{"value": "1"}, {"value": "n/a"}]}]});
    let error = decode("MeterValues", payload).unwrap_err();
    assert_eq!(error.code, ErrorCode::PropertyConstraintViolation);
    assert!(
        error
            .description
            .contains("meterValue[0].sampledValue[1].value"),
        "{error}"
    );
}

#[test]
fn unparseable_timestamp_without_repair_is_a_format_violation() {
    let error = decode(
        "StartTransaction",
        json!({"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "yesterday"}),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::FormatViolation);
    assert!(error.description.contains("timestamp"), "{error}");
}

#[test]
fn unknown_and_csms_only_actions() {
    assert_eq!(code("FooBar", json!({})), ErrorCode::NotImplemented);
    assert_eq!(
        code("TransactionEvent", json!({})),
        ErrorCode::NotImplemented
    );
    for action in [
        "Reset",
        "RemoteStartTransaction",
        "GetConfiguration",
        "SignCertificate",
    ] {
        let error = decode(action, json!({})).unwrap_err();
        assert_eq!(error.code, ErrorCode::NotSupported, "{action}");
        assert!(error.description.contains(action));
    }
}

#[test]
fn a_payload_that_is_not_an_object_is_a_format_violation() {
    for action in [
        "Heartbeat",
        "BootNotification",
        "DataTransfer",
        "MeterValues",
    ] {
        assert_eq!(
            code(action, json!([1])),
            ErrorCode::FormatViolation,
            "{action}"
        );
        assert_eq!(
            code(action, Value::Null),
            ErrorCode::FormatViolation,
            "{action}"
        );
    }
}
