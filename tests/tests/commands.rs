//! Operator commands end to end: the REST API, the command router, real WebSocket chargers of
//! both versions answering (or not answering) each CALL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use zaryad_e2e::{
    Charger, TestServer, boot_16, boot_201, booted_16, booted_201, time_ago, wait_until,
};

/// Sends command `name` to `station`, answers its CALL (which must be `action`) with `answer`,
/// and returns the CALL's payload and the API's 200 answer.
async fn round_trip(
    server: &TestServer,
    charger: &mut Charger,
    station: &str,
    name: &str,
    body: Value,
    action: &str,
    answer: Value,
) -> (Value, Value) {
    let request = server.spawn_command(station, name, body);
    let call = charger.expect_call(action).await;
    charger.reply(&call, answer).await;
    let (status, body) = request.await.unwrap();
    assert_eq!(status, 200, "{name}: {body}");
    (call.payload, body)
}

/// One command case: name, API body, expected action and payload, the charger's answer.
type Case = (&'static str, Value, &'static str, Value, Value);

/// Runs every case through [`round_trip`]: the CALL must carry the expected payload and the
/// API must answer the charger's status and whole response.
async fn check_cases(server: &TestServer, charger: &mut Charger, station: &str, cases: Vec<Case>) {
    for (name, body, action, expected, reply) in cases {
        let (sent, answer) =
            round_trip(server, charger, station, name, body, action, reply.clone()).await;
        assert_eq!(sent, expected, "{name}");
        assert_eq!(answer["status"], reply["status"], "{name}: {answer}");
        assert_eq!(answer["response"], reply, "{name}: {answer}");
    }
}

#[track_caller]
fn assert_error(status: u16, body: &Value, expected_status: u16, expected_code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"]["code"], expected_code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty()),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_reaches_a_16_charger_and_its_answer_comes_back() {
    let server = TestServer::start().await;
    server.provision_token("RFID-16").await;
    let station = "CP-CMD-16";
    let mut charger = booted_16(&server, station).await;

    // start-session, and the session that follows is linked to it.
    let (sent, answer) = round_trip(
        &server,
        &mut charger,
        station,
        "start-session",
        json!({"id_token": "RFID-16", "evse_id": 1}),
        "RemoteStartTransaction",
        json!({"status": "Accepted"}),
    )
    .await;
    assert_eq!(sent, json!({"connectorId": 1, "idTag": "RFID-16"}));
    assert_eq!(answer["status"], "Accepted");
    assert_eq!(answer["response"], json!({"status": "Accepted"}));
    assert_eq!(answer["command"], "start-session");
    assert_eq!(answer["action"], "RemoteStartTransaction");
    let remote_start_id = answer["remote_start_id"]
        .as_i64()
        .expect("no remote_start_id");
    let started = charger
        .call_ok(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "RFID-16", "meterStart": 1000, "timestamp": time_ago(2)}),
        )
        .await;
    let transaction_id = started["transactionId"].as_i64().unwrap();
    let session = server.only_session_of(station).await;
    assert_eq!(
        session["remote_start_id"].as_i64(),
        Some(remote_start_id),
        "{session:#}"
    );
    let session_id = session["id"].as_str().unwrap().to_owned();

    // stop-session by session id, as the 1.6 integer transaction id.
    let (sent, answer) = round_trip(
        &server,
        &mut charger,
        station,
        "stop-session",
        json!({"session_id": session_id}),
        "RemoteStopTransaction",
        json!({"status": "Accepted"}),
    )
    .await;
    assert_eq!(sent, json!({"transactionId": transaction_id}));
    assert_eq!(answer["status"], "Accepted");
    assert_eq!(answer["session_id"], session_id.as_str());

    let cases = vec![
        (
            "reset",
            json!({"kind": "soft"}),
            "Reset",
            json!({"type": "Soft"}),
            json!({"status": "Accepted"}),
        ),
        (
            "reset",
            json!({"kind": "hard"}),
            "Reset",
            json!({"type": "Hard"}),
            json!({"status": "Rejected"}),
        ),
        (
            "unlock",
            json!({"evse_id": 1, "connector_id": 1}),
            "UnlockConnector",
            json!({"connectorId": 1}),
            json!({"status": "Unlocked"}),
        ),
        (
            "change-availability",
            json!({"operative": false}),
            "ChangeAvailability",
            json!({"connectorId": 0, "type": "Inoperative"}),
            json!({"status": "Scheduled"}),
        ),
        (
            "change-availability",
            json!({"operative": true, "evse_id": 1}),
            "ChangeAvailability",
            json!({"connectorId": 1, "type": "Operative"}),
            json!({"status": "Accepted"}),
        ),
        (
            "trigger",
            json!({"message": "MeterValues", "evse_id": 1}),
            "TriggerMessage",
            json!({"requestedMessage": "MeterValues", "connectorId": 1}),
            json!({"status": "Accepted"}),
        ),
        (
            "trigger",
            json!({"message": "BootNotification"}),
            "TriggerMessage",
            json!({"requestedMessage": "BootNotification"}),
            json!({"status": "Accepted"}),
        ),
        (
            "clear-cache",
            json!({}),
            "ClearCache",
            json!({}),
            json!({"status": "Accepted"}),
        ),
        (
            "data-transfer",
            json!({"vendor_id": "com.example", "message_id": "Display", "data": {"line": "hi"}}),
            "DataTransfer",
            json!({"vendorId": "com.example", "messageId": "Display", "data": "{\"line\":\"hi\"}"}),
            json!({"status": "Accepted", "data": "shown"}),
        ),
    ];
    check_cases(&server, &mut charger, station, cases).await;

    // Configuration through the mapping table: the 2.0.1 name reaches a 1.6 station as its key.
    let (sent, answer) = round_trip(
        &server,
        &mut charger,
        station,
        "get-configuration",
        json!({"keys": ["HeartbeatInterval", "SampledDataCtrlr.TxUpdatedInterval", "Nope"]}),
        "GetConfiguration",
        json!({"configurationKey": [
            {"key": "HeartbeatInterval", "readonly": false, "value": "300"},
            {"key": "MeterValueSampleInterval", "readonly": false, "value": "60"}
        ], "unknownKey": ["Nope"]}),
    )
    .await;
    assert_eq!(
        sent,
        json!({"key": ["HeartbeatInterval", "MeterValueSampleInterval", "Nope"]})
    );
    assert_eq!(answer["status"], "Accepted");
    assert_eq!(
        answer["configuration"][0],
        json!({"key": "HeartbeatInterval", "value": "300", "readonly": false,
               "alias": "OCPPCommCtrlr.HeartbeatInterval"})
    );
    assert_eq!(answer["unknown_keys"], json!(["Nope"]));
    let (sent, answer) = round_trip(
        &server,
        &mut charger,
        station,
        "set-configuration",
        json!({"key": "OCPPCommCtrlr.HeartbeatInterval", "value": 120}),
        "ChangeConfiguration",
        json!({"status": "Accepted"}),
    )
    .await;
    assert_eq!(sent, json!({"key": "HeartbeatInterval", "value": "120"}));
    assert_eq!(answer["status"], "Accepted");
    let configuration = server
        .get_ok(&format!("/api/v1/stations/{station}/configuration"))
        .await;
    let heartbeat = configuration["configuration"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["key"] == "HeartbeatInterval")
        .unwrap_or_else(|| panic!("{configuration:#}"));
    assert_eq!(heartbeat["value"], "120");
    assert_eq!(heartbeat["alias"], "OCPPCommCtrlr.HeartbeatInterval");

    // Every command is in the frame log (both frames, with the action), in /metrics and in the
    // outbox as command.completed.
    let frames = server
        .get_ok(&format!("/api/v1/stations/{station}/messages?limit=200"))
        .await;
    let frames = frames.as_array().unwrap();
    let reset_call = frames
        .iter()
        .find(|frame| frame["direction"] == "outbound" && frame["action"] == "Reset")
        .unwrap_or_else(|| panic!("no outbound Reset: {frames:#?}"));
    assert_eq!(reset_call["frame"][0].as_u64(), Some(2));
    assert!(
        frames.iter().any(|frame| frame["direction"] == "inbound"
            && frame["action"] == "Reset"
            && frame["frame"][0].as_u64() == Some(3)),
        "no inbound Reset answer: {frames:#?}"
    );
    let (_, _, metrics) = server.get_text_unauthenticated("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("zaryad_commands_total{")
                && line.contains("command=\"reset\"")
                && line.contains("outcome=\"answered\"")),
        "{metrics}"
    );
    assert!(
        metrics.contains("zaryad_command_latency_seconds_bucket"),
        "{metrics}"
    );
    let events = server.events().await;
    let completed: Vec<&Value> = events
        .iter()
        .filter(|(kind, id, _)| kind == "command.completed" && id == station)
        .map(|(_, _, data)| data)
        .collect();
    assert_eq!(completed.len(), 13, "{completed:#?}");
    let reset = completed
        .iter()
        .find(|data| data["command"] == "reset")
        .unwrap();
    assert_eq!(reset["action"], "Reset");
    assert_eq!(reset["outcome"], "answered");
    assert_eq!(reset["status"], "Accepted");
    assert_eq!(reset["request"], json!({"type": "Soft"}));
    assert!(reset["latency_ms"].as_f64().is_some(), "{reset}");
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_reaches_a_201_charger_and_its_answer_comes_back() {
    let server = TestServer::start().await;
    server.provision_token("RFID-201").await;
    let station = "CP-CMD-201";
    let mut charger = booted_201(&server, station).await;

    let (sent, answer) = round_trip(
        &server,
        &mut charger,
        station,
        "start-session",
        json!({"id_token": "RFID-201", "evse_id": 1}),
        "RequestStartTransaction",
        json!({"status": "Accepted", "transactionId": "TX-R-1"}),
    )
    .await;
    let remote_start_id = answer["remote_start_id"]
        .as_i64()
        .expect("no remote_start_id");
    assert_eq!(
        sent,
        json!({"evseId": 1, "remoteStartId": remote_start_id,
               "idToken": {"idToken": "RFID-201", "type": "Central"}})
    );
    assert_eq!(answer["status"], "Accepted");
    assert_eq!(answer["response"]["transactionId"], "TX-R-1");
    charger
        .call_ok(
            "TransactionEvent",
            json!({
                "eventType": "Started", "timestamp": time_ago(1), "triggerReason": "RemoteStart",
                "seqNo": 0, "evse": {"id": 1, "connectorId": 1},
                "idToken": {"idToken": "RFID-201", "type": "Central"},
                "transactionInfo": {"transactionId": "TX-R-1", "remoteStartId": remote_start_id,
                                    "chargingState": "Charging"},
            }),
        )
        .await;
    let session = server.only_session_of(station).await;
    assert_eq!(session["remote_start_id"].as_i64(), Some(remote_start_id));
    let session_id = session["id"].as_str().unwrap().to_owned();

    let (sent, answer) = round_trip(
        &server,
        &mut charger,
        station,
        "stop-session",
        json!({"session_id": session_id}),
        "RequestStopTransaction",
        json!({"status": "Accepted"}),
    )
    .await;
    assert_eq!(sent, json!({"transactionId": "TX-R-1"}));
    assert_eq!(answer["status"], "Accepted");

    let cases = vec![
        (
            "reset",
            json!({"kind": "soft"}),
            "Reset",
            json!({"type": "OnIdle"}),
            json!({"status": "Scheduled"}),
        ),
        (
            "reset",
            json!({"kind": "hard"}),
            "Reset",
            json!({"type": "Immediate"}),
            json!({"status": "Accepted"}),
        ),
        (
            "unlock",
            json!({"evse_id": 1, "connector_id": 1}),
            "UnlockConnector",
            json!({"evseId": 1, "connectorId": 1}),
            json!({"status": "Unlocked"}),
        ),
        (
            "change-availability",
            json!({"operative": false}),
            "ChangeAvailability",
            json!({"operationalStatus": "Inoperative"}),
            json!({"status": "Accepted"}),
        ),
        (
            "change-availability",
            json!({"operative": true, "evse_id": 2}),
            "ChangeAvailability",
            json!({"operationalStatus": "Operative", "evse": {"id": 2}}),
            json!({"status": "Scheduled", "statusInfo": {"reasonCode": "TxInProgress"}}),
        ),
        (
            "trigger",
            json!({"message": "StatusNotification", "evse_id": 1}),
            "TriggerMessage",
            json!({"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}}),
            json!({"status": "Accepted"}),
        ),
        (
            "trigger",
            json!({"message": "TransactionEvent", "evse_id": 1}),
            "TriggerMessage",
            json!({"requestedMessage": "TransactionEvent", "evse": {"id": 1}}),
            json!({"status": "Rejected"}),
        ),
        (
            "clear-cache",
            json!({}),
            "ClearCache",
            json!({}),
            json!({"status": "Rejected"}),
        ),
        (
            "data-transfer",
            json!({"vendor_id": "com.example", "data": {"line": "hi"}}),
            "DataTransfer",
            json!({"vendorId": "com.example", "data": {"line": "hi"}}),
            json!({"status": "UnknownVendorId"}),
        ),
    ];
    check_cases(&server, &mut charger, station, cases).await;

    // Configuration: a 1.6 key reaches a 2.0.1 station as its component and variable; an
    // unmapped variable is addressed by name.
    let (sent, answer) = round_trip(
        &server,
        &mut charger,
        station,
        "get-configuration",
        json!({"keys": ["HeartbeatInterval", "ClockCtrlr.TimeZone"]}),
        "GetVariables",
        json!({"getVariableResult": [
            {"attributeStatus": "Accepted", "attributeValue": "300",
             "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
            {"attributeStatus": "UnknownVariable",
             "component": {"name": "ClockCtrlr"}, "variable": {"name": "TimeZone"}}
        ]}),
    )
    .await;
    assert_eq!(
        sent,
        json!({"getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
            {"component": {"name": "ClockCtrlr"}, "variable": {"name": "TimeZone"}}
        ]})
    );
    assert_eq!(
        answer["configuration"],
        json!([{"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "300", "readonly": null,
                "alias": "HeartbeatInterval"}])
    );
    assert_eq!(answer["unknown_keys"], json!(["ClockCtrlr.TimeZone"]));
    let (sent, answer) = round_trip(
        &server,
        &mut charger,
        station,
        "set-configuration",
        json!({"key": "MeterValueSampleInterval", "value": "30"}),
        "SetVariables",
        json!({"setVariableResult": [{"attributeStatus": "RebootRequired",
            "component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}}]}),
    )
    .await;
    assert_eq!(
        sent,
        json!({"setVariableData": [{"attributeValue": "30",
            "component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}}]})
    );
    assert_eq!(answer["status"], "RebootRequired");
    // Without keys, a 2.0.1 station reports everything in NotifyReport.
    let (sent, answer) = round_trip(
        &server,
        &mut charger,
        station,
        "get-configuration",
        json!({}),
        "GetBaseReport",
        json!({"status": "Accepted"}),
    )
    .await;
    assert_eq!(sent["reportBase"], "ConfigurationInventory");
    assert_eq!(answer["status"], "Accepted");
    charger
        .call_ok(
            "NotifyReport",
            json!({"requestId": sent["requestId"], "seqNo": 0, "generatedAt": time_ago(0),
                   "reportData": [{"component": {"name": "OCPPCommCtrlr"},
                                   "variable": {"name": "WebSocketPingInterval"},
                                   "variableAttribute": [{"value": "45", "mutability": "ReadWrite"}]}]}),
        )
        .await;
    let configuration = server
        .get_ok(&format!("/api/v1/stations/{station}/configuration"))
        .await;
    assert_eq!(
        configuration["configuration"],
        json!([{"key": "OCPPCommCtrlr.WebSocketPingInterval", "value": "45", "readonly": false,
                "alias": "WebSocketPingInterval",
                "updated_at": configuration["configuration"][0]["updated_at"]}]),
        "a full report replaces what was known"
    );
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charger_that_never_answers_gets_504_and_the_next_command_still_works() {
    let server = TestServer::start_with(|config| config.commands.timeout_secs = 1).await;
    let station = "CP-SILENT";
    let mut charger = booted_16(&server, station).await;
    let request = server.spawn_command(station, "reset", json!({"kind": "hard"}));
    let ignored = charger.expect_call("Reset").await;
    let (status, body) = request.await.unwrap();
    assert_error(status, &body, 504, "timeout");
    // A late answer is logged and dropped; it does not answer the next command.
    charger.reply(&ignored, json!({"status": "Accepted"})).await;
    let (_, answer) = round_trip(
        &server,
        &mut charger,
        station,
        "clear-cache",
        json!({}),
        "ClearCache",
        json!({"status": "Accepted"}),
    )
    .await;
    assert_eq!(answer["status"], "Accepted");
    let frames = server
        .get_ok(&format!("/api/v1/stations/{station}/messages"))
        .await;
    assert!(
        frames
            .as_array()
            .unwrap()
            .iter()
            .any(|frame| frame["direction"] == "inbound"
                && frame["message_id"] == ignored.message_id.as_str()
                && frame["action"] == "Reset"),
        "the late answer is not in the frame log: {frames:#}"
    );
    let events = server.events().await;
    assert!(
        events
            .iter()
            .any(|(kind, _, data)| kind == "command.completed"
                && data["command"] == "reset"
                && data["outcome"] == "timeout"),
        "{events:#?}"
    );
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_error_is_a_502_with_the_chargers_code_and_description() {
    let server = TestServer::start().await;
    let mut charger = booted_201(&server, "CP-CALLERROR").await;
    let request = server.spawn_command("CP-CALLERROR", "unlock", json!({"evse_id": 1}));
    let call = charger.expect_call("UnlockConnector").await;
    charger
        .reply_error(&call, "NotSupported", "no locking motor")
        .await;
    let (status, body) = request.await.unwrap();
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "NotSupported");
    assert_eq!(body["error"]["message"], "no locking motor");
    assert_eq!(body["error"]["details"], json!({"reason": "e2e"}));

    // An answer that breaks the schema even after repairs (R04-a) is a 502 too.
    let request = server.spawn_command("CP-CALLERROR", "reset", json!({"kind": "soft"}));
    let call = charger.expect_call("Reset").await;
    charger.reply(&call, json!({"status": ""})).await;
    let (status, body) = request.await.unwrap();
    assert_error(status, &body, 502, "invalid_response");
    assert_eq!(body["error"]["details"]["response"], json!({"status": ""}));
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_that_is_not_connected_is_409() {
    let server = TestServer::start().await;
    let (status, body) = server
        .command("CP-NEVER-SEEN", "reset", json!({"kind": "soft"}))
        .await;
    assert_error(status, &body, 409, "not_connected");

    let charger = booted_16(&server, "CP-GONE").await;
    charger.close().await;
    wait_until("CP-GONE is disconnected", || async {
        server.station("CP-GONE").await["connected"] == false
    })
    .await;
    let (status, body) = server.command("CP-GONE", "clear-cache", json!({})).await;
    assert_error(status, &body, 409, "not_connected");

    // A station that disconnects with the CALL in flight: nobody knows whether it was done.
    let mut charger = booted_201(&server, "CP-DROPS").await;
    let request = server.spawn_command("CP-DROPS", "reset", json!({"kind": "hard"}));
    charger.expect_call("Reset").await;
    charger.close().await;
    let (status, body) = request.await.unwrap();
    assert_error(status, &body, 504, "disconnected");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_commands_at_once_are_serialized_and_the_queue_is_bounded() {
    let server = TestServer::start_with(|config| config.commands.queue_capacity = 1).await;
    let station = "CP-SERIAL";
    let mut charger = booted_16(&server, station).await;
    let first = server.spawn_command(station, "reset", json!({"kind": "soft"}));
    let first_call = charger.expect_call("Reset").await;
    let second = server.spawn_command(station, "clear-cache", json!({}));
    // The second CALL is not sent while the first is unanswered.
    assert!(
        charger.is_quiet_for(Duration::from_millis(500)).await,
        "a second CALL arrived before the first was answered"
    );
    // One in flight, one waiting: a third is refused.
    let (status, body) = server
        .command(station, "trigger", json!({"message": "Heartbeat"}))
        .await;
    assert_error(status, &body, 429, "queue_full");
    charger
        .reply(&first_call, json!({"status": "Accepted"}))
        .await;
    let second_call = charger.expect_call("ClearCache").await;
    charger
        .reply(&second_call, json!({"status": "Accepted"}))
        .await;
    let (status, body) = first.await.unwrap();
    assert_eq!((status, &body["action"]), (200, &json!("Reset")), "{body}");
    let (status, body) = second.await.unwrap();
    assert_eq!(
        (status, &body["action"]),
        (200, &json!("ClearCache")),
        "{body}"
    );
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_who_may_send_commands_and_manage_tokens() {
    let server = TestServer::start().await;
    let viewer = server.create_token("dashboard", "viewer").await;
    let operator = server.create_token("control room", "operator").await;
    assert!(viewer.starts_with("zry_"), "{viewer}");
    let as_viewer = format!("Bearer {viewer}");
    let as_operator = format!("Bearer {operator}");
    let charger = booted_16(&server, "CP-ROLES").await;

    let path = "/api/v1/stations/CP-ROLES/commands/clear-cache";
    let (status, body) = server
        .request(Method::POST, path, Some(&as_viewer), Some(&json!({})))
        .await;
    assert_error(status, &body, 403, "forbidden");
    let (status, _) = server
        .request(
            Method::GET,
            "/api/v1/stations/CP-ROLES",
            Some(&as_viewer),
            None,
        )
        .await;
    assert_eq!(status, 200);

    let mut responder = charger.respond_with(|call| match call.action.as_str() {
        "ClearCache" => Ok(json!({"status": "Accepted"})),
        _ => Err(("NotImplemented".into(), String::new())),
    });
    let (status, body) = server
        .request(Method::POST, path, Some(&as_operator), Some(&json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "Accepted");
    // Operators command; only admins manage tokens and stations.
    for (method, path, body) in [
        (
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "x", "role": "admin"})),
        ),
        (Method::GET, "/api/v1/tokens", None),
        (
            Method::PUT,
            "/api/v1/stations/CP-ROLES",
            Some(json!({"registration": "accepted"})),
        ),
    ] {
        let (status, answer) = server
            .request(method.clone(), path, Some(&as_operator), body.as_ref())
            .await;
        assert_error(status, &answer, 403, "forbidden");
    }
    responder = {
        let (charger, calls) = responder.stop().await;
        assert_eq!(calls.len(), 1, "{calls:?}");
        charger.respond_with(|_| Ok(json!({"status": "Accepted"})))
    };

    let listed = server.get_ok("/api/v1/tokens").await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:#?}");
    assert!(
        listed.iter().all(|token| token.get("token").is_none()
            && token.get("token_hash").is_none()
            && token["id"].is_string()),
        "{listed:#?}"
    );
    let operator_id = listed
        .iter()
        .find(|token| token["role"] == "operator")
        .and_then(|token| token["id"].as_str())
        .unwrap()
        .to_owned();
    let (status, _) = server
        .delete(&format!("/api/v1/tokens/{operator_id}"))
        .await;
    assert_eq!(status, 204);
    let (status, body) = server
        .request(Method::POST, path, Some(&as_operator), Some(&json!({})))
        .await;
    assert_error(status, &body, 401, "unauthorized");
    let (status, body) = server
        .delete(&format!("/api/v1/tokens/{operator_id}"))
        .await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = server
        .post("/api/v1/tokens", json!({"name": "x", "role": "root"}))
        .await;
    assert_error(status, &body, 422, "invalid");
    drop(responder.stop().await);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_commands_are_refused_before_they_reach_the_station() {
    let server = TestServer::start_with(|config| {
        config.authorization.unknown_tokens = zaryad_server::config::UnknownTokenPolicy::Accept;
    })
    .await;
    let station = "CP-BAD-CMD";
    let mut charger = booted_16(&server, station).await;
    let (status, body) = server.command(station, "self-destruct", json!({})).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = server
        .command(station, "reset", json!({"kind": "gentle"}))
        .await;
    assert_error(status, &body, 422, "invalid");
    let (status, body) = server.command(station, "unlock", json!({})).await;
    assert_error(status, &body, 422, "invalid");
    let (status, body) = server
        .command(station, "trigger", json!({"message": "TransactionEvent"}))
        .await;
    assert_error(status, &body, 422, "invalid");
    let (status, body) = server
        .command(
            station,
            "start-session",
            json!({"id_token": "X".repeat(21)}),
        )
        .await;
    assert_error(status, &body, 422, "invalid");
    let (status, body) = server
        .request_raw_body(
            Method::POST,
            &format!("/api/v1/stations/{station}/commands/reset"),
            "{\"kind\":",
        )
        .await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = server
        .command(
            station,
            "stop-session",
            json!({"session_id": "no-such-session"}),
        )
        .await;
    assert_error(status, &body, 404, "not_found");
    let started = charger
        .call_ok(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "ANY", "meterStart": 0, "timestamp": time_ago(3)}),
        )
        .await;
    charger
        .call_ok(
            "StopTransaction",
            json!({"transactionId": started["transactionId"], "meterStop": 10, "timestamp": time_ago(1)}),
        )
        .await;
    let session = server.only_session_of(station).await;
    let (status, body) = server
        .command(
            station,
            "stop-session",
            json!({"session_id": session["id"]}),
        )
        .await;
    assert_error(status, &body, 409, "session_not_active");
    // Nothing of this reached the charger.
    assert!(charger.is_quiet_for(Duration::from_millis(300)).await);
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_waits_for_the_boot_answer() {
    let server = TestServer::start_with(|config| config.commands.boot_wait_secs = 5).await;
    let mut charger = Charger::connect(&server, "CP-NOT-BOOTED", "ocpp1.6").await;
    wait_until("CP-NOT-BOOTED is connected", || async {
        server.get("/api/v1/stations/CP-NOT-BOOTED").await.1["connected"] == true
    })
    .await;
    let request = server.spawn_command("CP-NOT-BOOTED", "clear-cache", json!({}));
    assert!(
        charger.is_quiet_for(Duration::from_millis(700)).await,
        "a CALL was sent before the station booted"
    );
    charger
        .send_raw(&json!([2, "boot-1", "BootNotification", boot_16("E2E", "Late")]).to_string())
        .await;
    let answer = charger.recv_frame().await;
    assert_eq!(
        answer[0].as_u64(),
        Some(3),
        "the boot answer comes first: {answer}"
    );
    assert_eq!(answer[1], "boot-1");
    let call = charger.expect_call("ClearCache").await;
    charger.reply(&call, json!({"status": "Accepted"})).await;
    let (status, body) = request.await.unwrap();
    assert_eq!(status, 200, "{body}");
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_16_station_is_read_and_configured_after_boot() {
    let server = TestServer::start_with(|config| {
        config.ocpp.configure_on_boot = true;
        config.ocpp.heartbeat_interval_secs = 300;
        config.ocpp.meter_value_sample_interval_secs = 60;
        config.ocpp.meter_values_sampled_data =
            "Energy.Active.Import.Register,Power.Active.Import".into();
    })
    .await;
    let station = "CP-BOOTCONF-16";
    let mut charger = Charger::connect(&server, station, "ocpp1.6").await;
    charger
        .send_raw(&json!([2, "boot-1", "BootNotification", boot_16("E2E", "Conf")]).to_string())
        .await;
    // Never a CALL before the boot answer.
    let answer = charger.recv_frame().await;
    assert_eq!(
        (answer[0].as_u64(), &answer[1]),
        (Some(3), &json!("boot-1")),
        "{answer}"
    );
    assert_eq!(answer[2]["interval"].as_u64(), Some(300));
    let read = charger.expect_call("GetConfiguration").await;
    assert_eq!(read.payload, json!({}));
    charger
        .reply(
            &read,
            json!({"configurationKey": [
                {"key": "HeartbeatInterval", "readonly": false, "value": "3600"},
                {"key": "MeterValueSampleInterval", "readonly": false, "value": "60"},
                {"key": "MeterValuesSampledData", "readonly": false,
                 "value": "'Power.Active.Import', 'Energy.Active.Import.Register'"},
                {"key": "NumberOfConnectors", "readonly": true, "value": "2"}
            ]}),
        )
        .await;
    // Only what differs is set: the sample interval and the (Mennekes-quoted) measurand list
    // already are what the CSMS wants.
    let set = charger.expect_call("ChangeConfiguration").await;
    assert_eq!(
        set.payload,
        json!({"key": "HeartbeatInterval", "value": "300"})
    );
    charger.reply(&set, json!({"status": "Accepted"})).await;
    assert!(charger.is_quiet_for(Duration::from_millis(500)).await);
    let configuration = server
        .get_ok(&format!("/api/v1/stations/{station}/configuration"))
        .await;
    let values: Vec<(String, String)> = configuration["configuration"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["key"].as_str().unwrap().to_owned(),
                entry["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        values,
        vec![
            ("HeartbeatInterval".to_owned(), "300".to_owned()),
            ("MeterValueSampleInterval".to_owned(), "60".to_owned()),
            (
                "MeterValuesSampledData".to_owned(),
                "'Power.Active.Import', 'Energy.Active.Import.Register'".to_owned()
            ),
            ("NumberOfConnectors".to_owned(), "2".to_owned()),
        ]
    );
    assert_eq!(configuration["ocpp_version"], "1.6");
    // A second boot on the same connection (AcTEC sends two) does not start it again.
    charger
        .call_ok("BootNotification", boot_16("E2E", "Conf"))
        .await;
    assert!(charger.is_quiet_for(Duration::from_millis(300)).await);
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_storm_defers_the_boot_time_configuration_until_it_is_over() {
    let server = TestServer::start_with(|config| config.ocpp.configure_on_boot = true).await;
    // Half as many again as a storm's worth connect at once, as after a restart (a margin for
    // a slow machine whose connects straddle more than the two seconds counted).
    let storm = zaryad_server::gateway::admissions::STORM_ADMISSIONS * 3 / 2;
    let ids: Vec<String> = (0..storm).map(|n| format!("CP-STORM-{n:03}")).collect();
    let crowd = futures_util::future::join_all(
        ids.iter()
            .map(|id| Charger::connect(&server, id, "ocpp1.6")),
    )
    .await;
    let mut charger = Charger::connect(&server, "CP-STORM-BOOT", "ocpp1.6").await;
    charger
        .call_ok("BootNotification", boot_16("E2E", "Storm"))
        .await;
    // Booted and answered at once; the configuration read waits for the storm to pass.
    assert!(
        charger.is_quiet_for(Duration::from_millis(700)).await,
        "configuration read during the storm"
    );
    let read = charger.expect_call("GetConfiguration").await;
    charger.reply(&read, json!({"configurationKey": []})).await;
    for other in crowd {
        other.close().await;
    }
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_201_station_is_read_by_report_and_configured_after_boot() {
    let server = TestServer::start_with(|config| {
        config.ocpp.configure_on_boot = true;
        config.ocpp.heartbeat_interval_secs = 120;
        config.ocpp.meter_value_sample_interval_secs = 30;
        config.ocpp.meter_values_sampled_data = String::new();
    })
    .await;
    let station = "CP-BOOTCONF-201";
    let mut charger = Charger::connect(&server, station, "ocpp2.0.1").await;
    charger
        .send_raw(&json!([2, "boot-1", "BootNotification", boot_201("E2E", "Conf")]).to_string())
        .await;
    let answer = charger.recv_frame().await;
    assert_eq!(
        (answer[0].as_u64(), &answer[1]),
        (Some(3), &json!("boot-1")),
        "{answer}"
    );
    let report = charger.expect_call("GetBaseReport").await;
    assert_eq!(report.payload["reportBase"], "ConfigurationInventory");
    let request_id = report.payload["requestId"].clone();
    charger.reply(&report, json!({"status": "Accepted"})).await;
    charger
        .call_ok(
            "NotifyReport",
            json!({"requestId": request_id, "seqNo": 0, "tbc": true, "generatedAt": time_ago(0),
                "reportData": [
                    {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
                     "variableAttribute": [{"value": "600", "mutability": "ReadWrite"}]},
                    {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"},
                     "variableAttribute": [{"type": "Actual", "value": "22000", "mutability": "ReadOnly"}]}
                ]}),
        )
        .await;
    charger
        .call_ok(
            "NotifyReport",
            json!({"requestId": request_id, "seqNo": 1, "generatedAt": time_ago(0),
                "reportData": [
                    {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"},
                     "variableAttribute": [{"value": "30", "mutability": "ReadWrite"}]}
                ]}),
        )
        .await;
    let read = charger.expect_call("GetVariables").await;
    assert_eq!(
        read.payload,
        json!({"getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
            {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}}
        ]})
    );
    charger
        .reply(
            &read,
            json!({"getVariableResult": [
                {"attributeStatus": "Accepted", "attributeValue": "600",
                 "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                {"attributeStatus": "Accepted", "attributeValue": "30",
                 "component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}}
            ]}),
        )
        .await;
    let set = charger.expect_call("SetVariables").await;
    assert_eq!(
        set.payload,
        json!({"setVariableData": [{"attributeValue": "120",
            "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]})
    );
    charger
        .reply(
            &set,
            json!({"setVariableResult": [{"attributeStatus": "Accepted",
                "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}),
        )
        .await;
    assert!(charger.is_quiet_for(Duration::from_millis(500)).await);
    let configuration = server
        .get_ok(&format!("/api/v1/stations/{station}/configuration"))
        .await;
    let entries = configuration["configuration"].as_array().unwrap();
    let summary: Vec<(&str, &str, Option<bool>, &str)> = entries
        .iter()
        .map(|entry| {
            (
                entry["key"].as_str().unwrap(),
                entry["value"].as_str().unwrap(),
                entry["readonly"].as_bool(),
                entry["alias"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("EVSE@1.Power", "22000", Some(true), ""),
            (
                "OCPPCommCtrlr.HeartbeatInterval",
                "120",
                Some(false),
                "HeartbeatInterval"
            ),
            (
                "SampledDataCtrlr.TxUpdatedInterval",
                "30",
                Some(false),
                "MeterValueSampleInterval"
            ),
        ]
    );
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_that_ignores_the_boot_configuration_keeps_working() {
    let server = TestServer::start_with(|config| {
        config.ocpp.configure_on_boot = true;
        config.ocpp.configure_timeout_secs = 1;
    })
    .await;
    server.provision_token("RFID-IGNORE").await;
    let station = "CP-IGNORES";
    let mut charger = booted_16(&server, station).await;
    // The GetConfiguration is never answered; the charger goes on charging meanwhile.
    let ignored = charger.next_call().await;
    assert_eq!(ignored.action, "GetConfiguration");
    let started = charger
        .call_ok(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "RFID-IGNORE", "meterStart": 0, "timestamp": time_ago(1)}),
        )
        .await;
    assert_eq!(started["idTagInfo"]["status"], "Accepted");
    // After the time-out nothing more is tried, and commands still work.
    assert!(charger.is_quiet_for(Duration::from_millis(1500)).await);
    let (_, answer) = round_trip(
        &server,
        &mut charger,
        station,
        "trigger",
        json!({"message": "Heartbeat"}),
        "TriggerMessage",
        json!({"status": "Accepted"}),
    )
    .await;
    assert_eq!(answer["status"], "Accepted");
    charger.close().await;
    server.shutdown().await;
}

/// The committed OpenAPI document and the router agree: every documented operation exists
/// (answers something other than the router's 404 or a 405).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_routed() {
    let server = TestServer::start().await;
    let (_, _, text) = server
        .get_text_unauthenticated("/api/v1/openapi.json")
        .await;
    let document: Value = serde_json::from_str(&text).unwrap();
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/api/v1/stations/{id}/configuration",
        "/api/v1/tokens",
        "/api/v1/tokens/{id}",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    for name in zaryad_model::Command::NAMES {
        let path = format!("/api/v1/stations/{{id}}/commands/{name}");
        let operation = &paths[&path]["post"];
        assert!(operation.is_object(), "{path} is not documented");
        for status in ["200", "409", "502", "504"] {
            assert!(
                operation["responses"][status].is_object(),
                "{path}: no {status}"
            );
        }
        assert!(
            operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].is_string(),
            "{path}: no body schema"
        );
    }
    for (path, item) in paths {
        let concrete = path
            .replace("{id}", "OPENAPI-PROBE")
            .replace("{token}", "OPENAPI-PROBE");
        for method in ["get", "put", "post", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let streams = item[method]["responses"]["200"]["content"]
                .get("text/event-stream")
                .is_some();
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            if streams {
                // A stream (`GET /events`) never ends: its status line is the answer.
                let response = server
                    .http
                    .request(method.clone(), server.url(&concrete))
                    .bearer_auth(&server.token)
                    .send()
                    .await
                    .unwrap_or_else(|error| panic!("{method} {path} failed: {error}"));
                assert_eq!(response.status().as_u16(), 200, "{method} {path}");
                continue;
            }
            let (status, body) = server
                .request(
                    method.clone(),
                    &concrete,
                    Some(&format!("Bearer {}", server.token)),
                    None,
                )
                .await;
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert!(
                !(status == 404 && body["error"]["message"] == "no such endpoint"),
                "{method} {path} is documented but not routed"
            );
        }
    }
    server.shutdown().await;
}

/// Not a check but a measurement: sequential command round trips through the API, the router,
/// a loopback WebSocket and a charger in responder mode. `cargo test -p zaryad-e2e --release
/// --test commands -- --ignored --nocapture command_round_trip_latency`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand"]
async fn command_round_trip_latency() {
    let server = TestServer::start().await;
    let charger = booted_201(&server, "CP-LATENCY").await;
    let responder = charger.respond_with(|_| Ok(json!({"status": "Accepted"})));
    let rounds = 1000;
    let mut api_ms = Vec::with_capacity(rounds);
    let mut station_ms = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = std::time::Instant::now();
        let (status, body) = server.command("CP-LATENCY", "clear-cache", json!({})).await;
        api_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, 200, "{body}");
        station_ms.push(body["latency_ms"].as_f64().unwrap());
    }
    let (_, calls) = responder.stop().await;
    assert_eq!(calls.len(), rounds);
    let percentile = |values: &mut Vec<f64>, p: f64| {
        values.sort_by(f64::total_cmp);
        values[((values.len() - 1) as f64 * p).round() as usize]
    };
    println!(
        "{rounds} commands: API round trip p50 {:.2} ms, p99 {:.2} ms; CALL to answer p50 {:.2} ms, p99 {:.2} ms",
        percentile(&mut api_ms, 0.5),
        percentile(&mut api_ms, 0.99),
        percentile(&mut station_ms, 0.5),
        percentile(&mut station_ms, 0.99),
    );
    server.shutdown().await;
}
