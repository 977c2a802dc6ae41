//! The quirk catalogue's recorded frames through the whole inbound path: repairs, then codec.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;

use serde_json::json;
use support::{frame, received, records, utc};
use zaryad_adapter::repair::{
    MISSING_TIMESTAMP, NUMBER_AS_STRING, SENTINEL_TIMESTAMP, STRING_AS_NUMBER,
    TIMESTAMP_WITHOUT_OFFSET,
};
use zaryad_adapter::{Decoded, Profile, decode_call};
use zaryad_model::{
    ChargerMessage, ConnectorStatus, Measurand, StatusReport, TransactionEventKind,
    TransactionReport, Unit,
};
use zaryad_wire::{ErrorCode, OcppVersion};

fn decode_16(id: &str) -> Decoded {
    let (action, payload) = frame(id);
    decode_call(
        Profile::generic(),
        OcppVersion::V16,
        &action,
        payload,
        received(),
    )
    .unwrap_or_else(|e| panic!("{id}: {e}"))
}

fn names(decoded: &Decoded) -> Vec<&str> {
    decoded.repairs.iter().map(|r| r.name.as_str()).collect()
}

#[test]
fn d01_a_offsetless_start_is_read_as_utc() {
    let decoded = decode_16("D01-a");
    assert_eq!(names(&decoded), [TIMESTAMP_WITHOUT_OFFSET]);
    let mut expected =
        TransactionReport::new(TransactionEventKind::Started, utc(2023, 10, 19, 15, 28, 7));
    expected.evse_id = Some(1);
    expected.connector_id = Some(1);
    expected.id_token = Some("evcc".into());
    expected.meter_wh = Some(0.0);
    expected.reservation_id = Some(0);
    assert_eq!(decoded.message, ChargerMessage::Transaction(expected));
}

#[test]
fn d04_a_epoch_status_gets_the_received_time() {
    let decoded = decode_16("D04-a");
    assert_eq!(names(&decoded), [SENTINEL_TIMESTAMP]);
    assert_eq!(
        decoded.message,
        ChargerMessage::Status(StatusReport {
            evse_id: 0,
            connector_id: 0,
            status: ConnectorStatus::Available,
            error_code: None,
            info: None,
            timestamp: Some(received()),
            connector_type: None,
        })
    );
}

#[test]
fn d04_c_zero_date_status_gets_the_received_time() {
    let decoded = decode_16("D04-c");
    assert_eq!(names(&decoded), [SENTINEL_TIMESTAMP]);
    let ChargerMessage::Status(report) = decoded.message else {
        panic!("not a status");
    };
    assert_eq!((report.evse_id, report.connector_id), (1, 1));
    assert_eq!(report.timestamp, Some(received()));
}

#[test]
fn d05_b_start_without_timestamp_gets_the_received_time() {
    let decoded = decode_16("D05-b");
    assert_eq!(names(&decoded), [MISSING_TIMESTAMP]);
    let mut expected = TransactionReport::new(TransactionEventKind::Started, received());
    expected.evse_id = Some(1);
    expected.connector_id = Some(1);
    expected.id_token = Some("CE5626C2".into());
    expected.meter_wh = Some(0.0);
    assert_eq!(decoded.message, ChargerMessage::Transaction(expected));
}

#[test]
fn n01_a_numeric_sampled_values_are_read() {
    let decoded = decode_16("N01-a");
    assert_eq!(names(&decoded), [STRING_AS_NUMBER, STRING_AS_NUMBER]);
    let ChargerMessage::MeterValues {
        evse_id,
        transaction_id,
        samples,
    } = decoded.message
    else {
        panic!("not meter values");
    };
    assert_eq!((evse_id, transaction_id), (1, None));
    assert_eq!(samples[0].measurand, Measurand::EnergyActiveImportRegister);
    assert_eq!(samples[0].value, 604.213);
    assert_eq!(samples[0].unit, Unit::Wh);
    assert_eq!(samples[1].measurand, Measurand::PowerActiveImport);
    assert_eq!(samples[1].value, 0.0);
    assert_eq!(samples[1].timestamp, utc(2021, 11, 22, 20, 38, 32));
}

#[test]
fn n02_a_decimal_register_strings_are_read_without_repair() {
    let decoded = decode_16("N02-a");
    assert!(decoded.repairs.is_empty());
    let ChargerMessage::MeterValues {
        transaction_id,
        samples,
        ..
    } = decoded.message
    else {
        panic!("not meter values");
    };
    assert_eq!(transaction_id, None);
    assert_eq!(samples[0].measurand, Measurand::CurrentImport);
    assert_eq!(samples[0].value, 0.0);
    assert_eq!(samples[0].phase.as_deref(), Some("L1"));
    assert_eq!(samples[1].value, 165_333.0);
    assert_eq!(samples[2].unit, Unit::W);
}

#[test]
fn r03_b_status_without_timestamp_stays_without() {
    let decoded = decode_16("R03-b");
    assert!(decoded.repairs.is_empty());
    let ChargerMessage::Status(report) = decoded.message else {
        panic!("not a status");
    };
    assert_eq!((report.evse_id, report.connector_id), (0, 0));
    assert_eq!(report.status, ConnectorStatus::Available);
    assert_eq!(report.timestamp, None);
}

#[test]
fn numeric_strings_are_repaired_before_the_strict_parse() {
    let payload = json!({"connectorId": "1", "idTag": "T", "meterStart": "100",
        "timestamp": "2026-03-01T11:00:00Z"});
    let decoded = decode_call(
        Profile::generic(),
        OcppVersion::V16,
        "StartTransaction",
        payload,
        received(),
    )
    .unwrap();
    assert_eq!(names(&decoded), [NUMBER_AS_STRING, NUMBER_AS_STRING]);
    let ChargerMessage::Transaction(report) = decoded.message else {
        panic!("not a transaction");
    };
    assert_eq!(report.meter_wh, Some(100.0));
    assert_eq!(report.evse_id, Some(1));
    let error = decode_call(
        Profile::generic(),
        OcppVersion::V16,
        "StatusNotification",
        json!({"connectorId": "abc", "errorCode": "NoError", "status": "Available"}),
        received(),
    )
    .unwrap_err();
    assert_eq!(error.code, ErrorCode::TypeConstraintViolation);
}

#[test]
fn v201_repairs_run_before_the_strict_parse() {
    let payload = json!({"eventType": "Updated", "timestamp": "2026-03-01T11:00:00",
        "triggerReason": "MeterValuePeriodic", "seqNo": "12",
        "transactionInfo": {"transactionId": 77}, "evse": {"id": "1", "connectorId": 1},
        "meterValue": [{"timestamp": "1970-01-01T00:00:10Z",
            "sampledValue": [{"value": "5.5", "unitOfMeasure": {"unit": "kWh"}}]}]});
    let decoded = decode_call(
        Profile::generic(),
        OcppVersion::V201,
        "TransactionEvent",
        payload,
        received(),
    )
    .unwrap();
    assert_eq!(
        names(&decoded),
        [
            TIMESTAMP_WITHOUT_OFFSET,
            SENTINEL_TIMESTAMP,
            NUMBER_AS_STRING,
            NUMBER_AS_STRING,
            NUMBER_AS_STRING,
            STRING_AS_NUMBER
        ]
    );
    let ChargerMessage::Transaction(report) = decoded.message else {
        panic!("not a transaction");
    };
    assert_eq!(report.timestamp, utc(2026, 3, 1, 11, 0, 0));
    assert_eq!(report.transaction_id.as_deref(), Some("77"));
    assert_eq!(report.seq_no, Some(12));
    assert_eq!(report.evse_id, Some(1));
    assert_eq!(report.samples[0].value, 5500.0);
    assert_eq!(report.samples[0].timestamp, received());
    let status = json!({"connectorStatus": "Occupied", "evseId": 1, "connectorId": 1});
    let decoded = decode_call(
        Profile::generic(),
        OcppVersion::V201,
        "StatusNotification",
        status,
        received(),
    )
    .unwrap();
    assert_eq!(names(&decoded), [MISSING_TIMESTAMP]);
}

/// Every charger CALL in the catalogue goes through the generic profile without panicking; the
/// one refused needs a vendor profile rule (a 1.6 payload on a 2.0.1 connection).
#[test]
fn every_recorded_call_decodes_or_is_refused_with_a_reason() {
    let mut refused = BTreeMap::new();
    let mut decoded = 0;
    for record in records() {
        let frame = &record["frame"];
        if record["direction"] != "cp->csms" || frame[0] != 2 {
            continue;
        }
        let version = if record["version"] == "2.0.1" {
            OcppVersion::V201
        } else {
            OcppVersion::V16
        };
        let action = frame[2].as_str().unwrap();
        match decode_call(
            Profile::generic(),
            version,
            action,
            frame[3].clone(),
            received(),
        ) {
            Ok(_) => decoded += 1,
            Err(error) => {
                refused.insert(record["id"].as_str().unwrap().to_owned(), error.code);
            }
        }
    }
    let expected: BTreeMap<String, ErrorCode> = [
        // a 1.6-shaped StatusNotification on a 2.0.1 connection.
        ("V01-c", ErrorCode::OccurrenceConstraintViolation),
    ]
    .into_iter()
    .map(|(id, code)| (id.to_owned(), code))
    .collect();
    assert_eq!(refused, expected);
    assert!(decoded >= 30, "only {decoded} frames decoded");
}
