//! Nothing a charger sends makes the adapter panic: every recorded and sample payload, with
//! each of its values replaced by something odd, is decoded or refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::{received, records};
use zaryad_adapter::{Profile, decode_call, encode_reply};
use zaryad_model::{
    AuthorizationInfo, AuthorizationStatus, DataTransferStatus, Registration, Reply,
};
use zaryad_wire::OcppVersion;

fn odd_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(-1),
        json!(0),
        json!(1.5),
        serde_json::from_str("1e308").unwrap(),
        serde_json::from_str("123456789012345678901234567890").unwrap(),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(""),
        json!("abc"),
        json!("-1"),
        json!("1e999"),
        json!("NaN"),
        json!("1970-01-01T00:00:00Z"),
        json!("0000-00-00T00:00:00.000Z"),
        json!("9999-12-31T23:59:59+14:00"),
        json!("+10000-01-01T00:00:00Z"),
        json!("2026-03-01T12:00:00+99"),
        json!("\u{0}\u{10ffff}"),
        json!([]),
        json!({}),
        json!([{}]),
    ]
}

fn samples() -> Vec<(String, Value)> {
    let mut calls: Vec<(String, Value)> = records()
        .into_iter()
        .filter(|record| record["frame"][0] == 2)
        .map(|record| {
            let frame = &record["frame"];
            (frame[2].as_str().unwrap().to_owned(), frame[3].clone())
        })
        .collect();
    calls.push((
        "TransactionEvent".into(),
        json!({"eventType": "Ended", "timestamp": "2026-03-01T11:00:00Z",
            "triggerReason": "EVDeparted", "seqNo": 9, "offline": false, "reservationId": 1,
            "transactionInfo": {"transactionId": "t", "stoppedReason": "Local", "chargingState": "Idle",
                "remoteStartId": 3},
            "idToken": {"idToken": "A", "type": "ISO14443"}, "evse": {"id": 1, "connectorId": 1},
            "meterValue": [{"timestamp": "2026-03-01T11:00:00Z", "sampledValue": [
                {"value": 1.5, "unitOfMeasure": {"unit": "kWh", "multiplier": 1}, "measurand": "SoC"}]}]}),
    ));
    calls.push((
        "BootNotification".into(),
        json!({"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V",
            "modem": {"iccid": "1", "imsi": "2"}}}),
    ));
    calls.push((
        "NotifyReport".into(),
        json!({"requestId": 5, "generatedAt": "2026-03-01T11:00:00Z", "seqNo": 0,
            "reportData": [{"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "X"},
                "variableAttribute": [{"value": "1"}],
                "variableCharacteristics": {"dataType": "decimal", "supportsMonitoring": false,
                    "maxLimit": 10.5}}]}),
    ));
    calls
}

/// Every path to a value inside `value`, as JSON pointers.
fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (key, child) in fields {
                let pointer = format!("{prefix}/{}", key.replace('~', "~0").replace('/', "~1"));
                out.push(pointer.clone());
                pointers(child, pointer, out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                let pointer = format!("{prefix}/{index}");
                out.push(pointer.clone());
                pointers(child, pointer, out);
            }
        }
        _ => {}
    }
}

#[test]
fn odd_values_anywhere_never_panic() {
    let mut calls = 0;
    for (action, payload) in samples() {
        let mut paths = Vec::new();
        pointers(&payload, String::new(), &mut paths);
        for version in [OcppVersion::V16, OcppVersion::V201] {
            let _ = decode_call(
                Profile::generic(),
                version,
                &action,
                payload.clone(),
                received(),
            );
            for odd in odd_values() {
                let _ = decode_call(
                    Profile::generic(),
                    version,
                    &action,
                    odd.clone(),
                    received(),
                );
                for path in &paths {
                    let mut changed = payload.clone();
                    *changed.pointer_mut(path).unwrap() = odd.clone();
                    let _ = decode_call(Profile::generic(), version, &action, changed, received());
                    calls += 1;
                }
            }
        }
    }
    assert!(calls > 10_000, "{calls}");
}

#[test]
fn extreme_replies_never_panic() {
    let far = chrono::DateTime::<chrono::Utc>::MAX_UTC;
    let info = AuthorizationInfo {
        status: AuthorizationStatus::Unknown,
        expires_at: Some(far),
        parent: Some("\u{0}ü".repeat(50)),
    };
    let replies = [
        Reply::Boot {
            registration: Registration::Rejected,
            interval_seconds: u32::MAX,
            current_time: chrono::DateTime::<chrono::Utc>::MIN_UTC,
        },
        Reply::Heartbeat { current_time: far },
        Reply::Empty,
        Reply::Authorize(info.clone()),
        Reply::Transaction {
            assigned_transaction_id: Some(i64::MIN),
            authorization: Some(info),
        },
        Reply::DataTransfer {
            status: DataTransferStatus::UnknownVendorId,
            data: Some(json!({"deep": [[[{"x": 1e300}]]]})),
        },
    ];
    for version in [OcppVersion::V16, OcppVersion::V201] {
        for action in ["StartTransaction", "StopTransaction", "Foo", ""] {
            for reply in &replies {
                assert!(encode_reply(version, action, reply).is_object());
            }
        }
    }
}
