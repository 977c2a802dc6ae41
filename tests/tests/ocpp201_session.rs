//! A whole OCPP 2.0.1 charging session, checked through the REST API at every step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use zaryad_e2e::{Charger, TestServer, assert_num, booted_201, connector_of, time_ago, timestamp};

const STATION: &str = "CP201-SESSION";
const TX: &str = "TX-201-0001";

fn event(
    event_type: &str,
    seq_no: u64,
    at: &str,
    trigger: &str,
    info: Value,
    meter: Option<Value>,
) -> Value {
    let mut payload = json!({
        "eventType": event_type,
        "timestamp": at,
        "triggerReason": trigger,
        "seqNo": seq_no,
        "transactionInfo": info,
        "evse": {"id": 1, "connectorId": 1},
    });
    if let Some(meter) = meter {
        payload["meterValue"] = meter;
    }
    payload
}

fn energy(at: &str, value: Value, unit: Value, context: &str) -> Value {
    json!([{
        "timestamp": at,
        "sampledValue": [{
            "value": value,
            "context": context,
            "measurand": "Energy.Active.Import.Register",
            "unitOfMeasure": unit,
        }],
    }])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_201_session_is_recorded_exactly() {
    let server = TestServer::start().await;
    server.provision_token("RFID-201").await;

    let mut charger = Charger::connect(&server, STATION, "ocpp2.0.1").await;
    assert_eq!(charger.protocol.as_deref(), Some("ocpp2.0.1"));
    let boot = charger
        .call_ok(
            "BootNotification",
            json!({
                "reason": "PowerUp",
                "chargingStation": {
                    "vendorName": "Acme",
                    "model": "DC60",
                    "serialNumber": "SN-201-0001",
                    "firmwareVersion": "2.0.1-fw",
                },
            }),
        )
        .await;
    assert_eq!(boot["status"], "Accepted");
    assert_eq!(boot["interval"].as_u64(), Some(300));
    timestamp(&boot["currentTime"]);
    let station = server.station(STATION).await;
    assert_eq!(station["ocpp_version"], "2.0.1");
    assert_eq!(station["vendor"], "Acme");
    assert_eq!(station["model"], "DC60");
    assert_eq!(station["serial_number"], "SN-201-0001");
    assert_eq!(station["firmware_version"], "2.0.1-fw");
    assert_eq!(station["connected"], true);

    let answer = charger
        .call_ok(
            "StatusNotification",
            json!({"timestamp": time_ago(0), "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}),
        )
        .await;
    assert_eq!(answer, json!({}));
    let station = server.station(STATION).await;
    let connector =
        connector_of(&station, 1, 1).unwrap_or_else(|| panic!("no connector 1/1: {station:#}"));
    assert_eq!(connector["status"], "occupied");

    let authorized = charger
        .call_ok(
            "Authorize",
            json!({"idToken": {"idToken": "RFID-201", "type": "ISO14443"}}),
        )
        .await;
    assert_eq!(authorized["idTokenInfo"]["status"], "Accepted");
    let unknown = charger
        .call_ok(
            "Authorize",
            json!({"idToken": {"idToken": "RFID-NOBODY", "type": "ISO14443"}}),
        )
        .await;
    assert_eq!(
        unknown["idTokenInfo"]["status"], "Unknown",
        "an unknown token under the reject policy: {unknown}"
    );

    // Started, charging, with the meter start in a Transaction.Begin sample.
    let t0 = time_ago(20);
    let mut started = event(
        "Started",
        0,
        &t0,
        "Authorized",
        json!({"transactionId": TX, "chargingState": "Charging"}),
        Some(energy(
            &t0,
            json!(250),
            json!({"unit": "Wh"}),
            "Transaction.Begin",
        )),
    );
    started["idToken"] = json!({"idToken": "RFID-201", "type": "ISO14443"});
    let answer = charger.call_ok("TransactionEvent", started).await;
    assert_eq!(answer["idTokenInfo"]["status"], "Accepted", "{answer}");

    let session = server.only_session_of(STATION).await;
    let session_id = session["id"].as_str().unwrap().to_owned();
    assert_eq!(session["transaction_id"], TX);
    assert_eq!(session["state"], "active");
    assert_eq!(session["id_token"], "RFID-201");
    assert_eq!(session["evse_id"].as_u64(), Some(1));
    assert_eq!(session["connector_id"].as_u64(), Some(1));
    assert_num(&session, "meter_start_wh", 250.0);
    assert_eq!(session["charging_state"], "charging");
    assert_eq!(timestamp(&session["started_at"]), timestamp(&json!(t0)));
    assert_eq!(
        server.connector_status(STATION, 1, 1).await.as_deref(),
        Some("charging")
    );

    // A repeated Occupied does not hide that the vehicle is charging.
    charger
        .call_ok(
            "StatusNotification",
            json!({"timestamp": time_ago(0), "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}),
        )
        .await;
    assert_eq!(
        server.connector_status(STATION, 1, 1).await.as_deref(),
        Some("charging")
    );

    // Updated: energy in kWh, power in W, state of charge.
    let t1 = time_ago(15);
    let updated = event(
        "Updated",
        1,
        &t1,
        "MeterValuePeriodic",
        json!({"transactionId": TX, "chargingState": "Charging"}),
        Some(json!([{
            "timestamp": t1,
            "sampledValue": [
                {"value": 2.25, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "kWh"}},
                {"value": 11000, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
                {"value": 55, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}},
            ],
        }])),
    );
    let answer = charger.call_ok("TransactionEvent", updated).await;
    assert!(answer.is_object(), "{answer}");
    assert!(
        answer.get("idTokenInfo").is_none(),
        "no token, no idTokenInfo: {answer}"
    );
    let session = server.session(&session_id).await;
    assert_num(&session, "energy_wh", 2000.0);
    assert_num(&session, "power_w", 11000.0);
    assert_num(&session, "soc_percent", 55.0);
    assert_eq!(session["state"], "active");

    // Updated with a multiplier (3.5 × 10³ Wh), the vehicle pauses: EVConnected.
    let t2 = time_ago(10);
    let paused = event(
        "Updated",
        2,
        &t2,
        "ChargingStateChanged",
        json!({"transactionId": TX, "chargingState": "EVConnected"}),
        Some(energy(
            &t2,
            json!(3.5),
            json!({"unit": "Wh", "multiplier": 3}),
            "Sample.Periodic",
        )),
    );
    charger.call_ok("TransactionEvent", paused).await;
    let session = server.session(&session_id).await;
    assert_num(&session, "energy_wh", 3250.0);
    assert_eq!(session["charging_state"], "ev_connected");
    assert_eq!(
        server.connector_status(STATION, 1, 1).await.as_deref(),
        Some("occupied")
    );

    // Charging again.
    let t3 = time_ago(8);
    let resumed = event(
        "Updated",
        3,
        &t3,
        "ChargingStateChanged",
        json!({"transactionId": TX, "chargingState": "Charging"}),
        None,
    );
    charger.call_ok("TransactionEvent", resumed).await;
    assert_eq!(
        server.connector_status(STATION, 1, 1).await.as_deref(),
        Some("charging")
    );

    // Ended locally, with the meter stop in a Transaction.End sample.
    let t4 = time_ago(5);
    let ended = event(
        "Ended",
        4,
        &t4,
        "StopAuthorized",
        json!({"transactionId": TX, "stoppedReason": "Local", "chargingState": "EVConnected"}),
        Some(energy(
            &t4,
            json!(4000.5),
            json!({"unit": "Wh"}),
            "Transaction.End",
        )),
    );
    charger.call_ok("TransactionEvent", ended.clone()).await;
    let completed = server.session(&session_id).await;
    assert_eq!(completed["state"], "completed");
    assert_eq!(completed["stop_reason"], "local");
    assert_num(&completed, "meter_start_wh", 250.0);
    assert_num(&completed, "meter_stop_wh", 4000.5);
    assert_num(&completed, "energy_wh", 3750.5);
    assert_num(&completed, "soc_percent", 55.0);
    assert_num(&completed, "power_w", 11000.0);
    assert_eq!(completed["id_token"], "RFID-201");
    assert_eq!(timestamp(&completed["ended_at"]), timestamp(&json!(t4)));
    assert!(completed["charging_state"].is_null(), "{completed:#}");
    // The cable is still plugged in: occupied, no longer charging.
    assert_eq!(
        server.connector_status(STATION, 1, 1).await.as_deref(),
        Some("occupied")
    );

    // A resent Ended changes nothing.
    charger.call_ok("TransactionEvent", ended).await;
    assert_eq!(server.sessions_of(STATION).await.len(), 1);
    assert_eq!(server.session(&session_id).await, completed);

    let samples = server
        .get_ok(&format!("/api/v1/sessions/{session_id}/meter-values"))
        .await;
    let samples = samples.as_array().unwrap().clone();
    let energy_values: Vec<f64> = samples
        .iter()
        .filter(|sample| sample["measurand"] == "Energy.Active.Import.Register")
        .map(|sample| {
            assert_eq!(sample["unit"], "Wh", "{sample}");
            sample["value"].as_f64().unwrap()
        })
        .collect();
    assert_eq!(
        energy_values,
        vec![250.0, 2250.0, 3500.0, 4000.5],
        "{samples:#?}"
    );
    let soc = samples
        .iter()
        .find(|sample| sample["measurand"] == "SoC")
        .unwrap_or_else(|| panic!("no SoC sample: {samples:#?}"));
    assert_eq!(soc["unit"], "Percent");
    assert_num(soc, "value", 55.0);

    let answer = charger
        .call_ok(
            "StatusNotification",
            json!({"timestamp": time_ago(0), "connectorStatus": "Available", "evseId": 1, "connectorId": 1}),
        )
        .await;
    assert_eq!(answer, json!({}));
    assert_eq!(
        server.connector_status(STATION, 1, 1).await.as_deref(),
        Some("available")
    );
    charger.close().await;
    server.shutdown().await;
}

/// An Ended whose Started never arrived still yields a billable, completed session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_without_started_yields_a_completed_session() {
    let server = TestServer::start().await;
    server.provision_token("RFID-ORPHAN").await;
    let mut charger = booted_201(&server, "CP201-ORPHAN").await;
    let begin = time_ago(30);
    let end = time_ago(2);
    let mut ended = json!({
        "eventType": "Ended",
        "timestamp": end,
        "triggerReason": "EVCommunicationLost",
        "seqNo": 7,
        "offline": true,
        "transactionInfo": {"transactionId": "TX-ORPHAN", "stoppedReason": "EVDisconnected"},
        "evse": {"id": 2, "connectorId": 1},
        "meterValue": [
            {"timestamp": begin, "sampledValue": [{"value": 100, "context": "Transaction.Begin", "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}}]},
            {"timestamp": end, "sampledValue": [{"value": 1.5, "context": "Transaction.End", "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "kWh"}}]},
        ],
    });
    ended["idToken"] = json!({"idToken": "RFID-ORPHAN", "type": "ISO14443"});
    let answer = charger.call_ok("TransactionEvent", ended).await;
    assert_eq!(answer["idTokenInfo"]["status"], "Accepted", "{answer}");

    let session = server.only_session_of("CP201-ORPHAN").await;
    assert_eq!(session["transaction_id"], "TX-ORPHAN");
    assert_eq!(session["state"], "completed");
    assert_eq!(session["evse_id"].as_u64(), Some(2));
    assert_eq!(session["id_token"], "RFID-ORPHAN");
    assert_eq!(session["stop_reason"], "ev_disconnected");
    assert_num(&session, "meter_start_wh", 100.0);
    assert_num(&session, "meter_stop_wh", 1500.0);
    assert_num(&session, "energy_wh", 1400.0);
    assert_eq!(timestamp(&session["started_at"]), timestamp(&json!(begin)));
    assert_eq!(timestamp(&session["ended_at"]), timestamp(&json!(end)));
    let quirks: Vec<&str> = session["quirks"]
        .as_array()
        .map(|quirks| quirks.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(quirks.contains(&"transaction-start-missing"), "{session:#}");
    charger.close().await;
    server.shutdown().await;
}

/// kWh readings become Wh without binary floating-point error in 2.0.1 too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kwh_readings_become_exact_wh_in_201() {
    let server = TestServer::start().await;
    let mut charger = booted_201(&server, "CP201-PRECISION").await;
    let t0 = time_ago(10);
    let started = event(
        "Started",
        0,
        &t0,
        "CablePluggedIn",
        json!({"transactionId": "TX-PREC", "chargingState": "EVConnected"}),
        Some(energy(
            &t0,
            json!(0),
            json!({"unit": "Wh"}),
            "Transaction.Begin",
        )),
    );
    charger.call_ok("TransactionEvent", started).await;
    let t1 = time_ago(5);
    let updated = event(
        "Updated",
        1,
        &t1,
        "MeterValuePeriodic",
        json!({"transactionId": "TX-PREC"}),
        Some(energy(
            &t1,
            json!(1.005),
            json!({"unit": "kWh"}),
            "Sample.Periodic",
        )),
    );
    charger.call_ok("TransactionEvent", updated).await;
    let session = server.only_session_of("CP201-PRECISION").await;
    assert_num(&session, "energy_wh", 1005.0);
    charger.close().await;
    server.shutdown().await;
}
