//! What was acknowledged survives a restart; stops of unknown transactions are never dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use zaryad_e2e::{TestServer, assert_num, booted_16, booted_201, time_ago, timestamp};

/// A session started before a restart is stopped after it, on a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_session_survives_a_restart() {
    let server = TestServer::start().await;
    server.provision_token("TAG-RESTART").await;
    let mut charger = booted_16(&server, "CP-RESTART").await;
    let started_at = time_ago(20);
    let answer = charger
        .call_ok(
            "StartTransaction",
            json!({"connectorId": 2, "idTag": "TAG-RESTART", "meterStart": 5000, "timestamp": started_at}),
        )
        .await;
    let transaction_id = answer["transactionId"].as_i64().unwrap();
    charger
        .call_ok(
            "MeterValues",
            json!({
                "connectorId": 2,
                "transactionId": transaction_id,
                "meterValue": [{"timestamp": time_ago(15), "sampledValue": [{"value": "6000", "unit": "Wh"}]}],
            }),
        )
        .await;
    charger.close().await;

    let server = server.restart().await;
    let session = server.only_session_of("CP-RESTART").await;
    assert_eq!(session["state"], "active");
    assert_eq!(session["transaction_id"], transaction_id.to_string());
    assert_eq!(session["evse_id"].as_u64(), Some(2));
    assert_num(&session, "meter_start_wh", 5000.0);
    assert_num(&session, "energy_wh", 1000.0);
    let station = server.station("CP-RESTART").await;
    assert_eq!(station["connected"], false);
    assert_eq!(station["vendor"], "E2E");

    let mut charger = zaryad_e2e::Charger::connect(&server, "CP-RESTART", "ocpp1.6").await;
    let stopped_at = time_ago(1);
    let answer = charger
        .call_ok(
            "StopTransaction",
            json!({"transactionId": transaction_id, "meterStop": 7250, "timestamp": stopped_at, "reason": "Remote"}),
        )
        .await;
    assert!(answer.is_object(), "{answer}");
    let session = server.only_session_of("CP-RESTART").await;
    assert_eq!(session["state"], "completed");
    assert_eq!(session["stop_reason"], "remote");
    assert_num(&session, "energy_wh", 2250.0);
    assert_eq!(
        timestamp(&session["started_at"]),
        timestamp(&json!(started_at))
    );
    assert_eq!(
        timestamp(&session["ended_at"]),
        timestamp(&json!(stopped_at))
    );

    // Transaction ids stay unique across restarts.
    let answer = charger
        .call_ok(
            "StartTransaction",
            json!({"connectorId": 2, "idTag": "TAG-RESTART", "meterStart": 7250, "timestamp": time_ago(0)}),
        )
        .await;
    let next = answer["transactionId"].as_i64().unwrap();
    assert!(next > 0);
    assert_ne!(next, transaction_id);
    assert_eq!(server.sessions_of("CP-RESTART").await.len(), 2);
    charger.close().await;
    server.shutdown().await;
}

/// A 1.6 stop for a transaction the CSMS never saw still yields a completed session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_16_stop_for_an_unknown_transaction_yields_a_completed_session() {
    let server = TestServer::start().await;
    let mut charger = booted_16(&server, "CP16-ORPHAN").await;
    let begin = time_ago(40);
    let end = time_ago(3);
    let answer = charger
        .call_ok(
            "StopTransaction",
            json!({
                "transactionId": 987654,
                "idTag": "TAG-ORPHAN-16",
                "meterStop": 3500,
                "timestamp": end,
                "reason": "Local",
                "transactionData": [
                    {"timestamp": begin, "sampledValue": [{"value": "500", "context": "Transaction.Begin", "unit": "Wh"}]},
                    {"timestamp": end, "sampledValue": [{"value": "3500", "context": "Transaction.End", "unit": "Wh"}]},
                ],
            }),
        )
        .await;
    // The token is unknown under the reject policy; the charger is told so, the energy is kept.
    assert_eq!(answer["idTagInfo"]["status"], "Invalid", "{answer}");
    let session = server.only_session_of("CP16-ORPHAN").await;
    assert_eq!(session["transaction_id"], "987654");
    assert_eq!(session["state"], "completed");
    assert_eq!(session["id_token"], "TAG-ORPHAN-16");
    assert_eq!(session["stop_reason"], "local");
    assert_num(&session, "meter_start_wh", 500.0);
    assert_num(&session, "meter_stop_wh", 3500.0);
    assert_num(&session, "energy_wh", 3000.0);
    assert_eq!(timestamp(&session["started_at"]), timestamp(&json!(begin)));
    let quirks: Vec<&str> = session["quirks"]
        .as_array()
        .map(|quirks| quirks.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(quirks.contains(&"transaction-start-missing"), "{session:#}");
    // Resent: still one session.
    charger
        .call_ok(
            "StopTransaction",
            json!({"transactionId": 987654, "meterStop": 3500, "timestamp": end, "reason": "Local"}),
        )
        .await;
    assert_eq!(server.sessions_of("CP16-ORPHAN").await.len(), 1);
    charger.close().await;
    server.shutdown().await;
}

/// 2.0.1 stations keep their transactions across reconnects: Updated and Ended arrive on a
/// new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_201_transaction_continues_on_a_new_connection() {
    let server = TestServer::start().await;
    let mut charger = booted_201(&server, "CP201-RECONNECT").await;
    let t0 = time_ago(30);
    charger
        .call_ok(
            "TransactionEvent",
            json!({
                "eventType": "Started", "timestamp": t0, "triggerReason": "CablePluggedIn", "seqNo": 0,
                "transactionInfo": {"transactionId": "TX-RECONNECT", "chargingState": "EVConnected"},
                "evse": {"id": 1, "connectorId": 1},
                "meterValue": [{"timestamp": t0, "sampledValue": [{"value": 10000, "context": "Transaction.Begin", "unitOfMeasure": {"unit": "Wh"}}]}],
            }),
        )
        .await;
    charger.close().await;
    let mut charger = zaryad_e2e::Charger::connect(&server, "CP201-RECONNECT", "ocpp2.0.1").await;
    let t1 = time_ago(2);
    charger
        .call_ok(
            "TransactionEvent",
            json!({
                "eventType": "Ended", "timestamp": t1, "triggerReason": "EVDeparted", "seqNo": 1,
                "transactionInfo": {"transactionId": "TX-RECONNECT", "stoppedReason": "EVDisconnected"},
                "meterValue": [{"timestamp": t1, "sampledValue": [{"value": 12.5, "context": "Transaction.End", "unitOfMeasure": {"unit": "kWh"}}]}],
            }),
        )
        .await;
    let session = server.only_session_of("CP201-RECONNECT").await;
    assert_eq!(session["state"], "completed");
    assert_eq!(session["transaction_id"], "TX-RECONNECT");
    assert_num(&session, "meter_start_wh", 10000.0);
    assert_num(&session, "meter_stop_wh", 12500.0);
    assert_num(&session, "energy_wh", 2500.0);
    assert_eq!(session["stop_reason"], "ev_disconnected");
    assert!(
        session["quirks"]
            .as_array()
            .is_some_and(|quirks| quirks.is_empty()),
        "a complete transaction has no quirks: {session:#}"
    );
    charger.close().await;
    server.shutdown().await;
}
