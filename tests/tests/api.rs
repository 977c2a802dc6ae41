//! The operator API: authentication, error shapes, health, metrics, OpenAPI, stations, tokens,
//! the frame log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use zaryad_e2e::{ADMIN_TOKEN, TestServer, booted_16, booted_201};

#[track_caller]
fn assert_error(status: u16, body: &Value, expected_status: u16, expected_code: &str) {
    assert_eq!(status, expected_status, "{body}");
    let error = &body["error"];
    assert!(error.is_object(), "not the error shape: {body}");
    assert_eq!(error["code"], expected_code, "{body}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty()),
        "the error has no message: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_token_are_refused() {
    let server = TestServer::start().await;
    for path in ["/api/v1/stations", "/api/v1/sessions", "/api/v1/id-tokens"] {
        let (status, body) = server.request(Method::GET, path, None, None).await;
        assert_error(status, &body, 401, "unauthorized");
        let (status, body) = server
            .request(Method::GET, path, Some("Bearer not-the-token"), None)
            .await;
        assert_error(status, &body, 401, "unauthorized");
        let (status, body) = server
            .request(
                Method::GET,
                path,
                Some(&format!("Basic {ADMIN_TOKEN}")),
                None,
            )
            .await;
        assert_error(status, &body, 401, "unauthorized");
        let (status, body) = server.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.is_array(), "{path}: {body}");
    }
    // Writes too.
    let (status, body) = server
        .request(
            Method::PUT,
            "/api/v1/stations/CP-NOAUTH",
            None,
            Some(&json!({"registration": "accepted"})),
        )
        .await;
    assert_error(status, &body, 401, "unauthorized");
    let (status, _) = server.get("/api/v1/stations/CP-NOAUTH").await;
    assert_eq!(status, 404, "an unauthenticated PUT created the station");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_admin_token_works() {
    let server = TestServer::start_with(|config| config.api.admin_token = None).await;
    let token = server
        .generated_admin_token
        .clone()
        .expect("no token was generated on a fresh database without a configured one");
    let (status, body) = server
        .request(
            Method::GET,
            "/api/v1/stations",
            Some(&format!("Bearer {token}")),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .request(
            Method::GET,
            "/api/v1/stations",
            Some(&format!("Bearer {ADMIN_TOKEN}")),
            None,
        )
        .await;
    assert_error(status, &body, 401, "unauthorized");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_resources_are_404_and_invalid_values_422() {
    let server = TestServer::start().await;
    let (status, body) = server.get("/api/v1/stations/NO-SUCH-STATION").await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = server.get("/api/v1/sessions/no-such-session").await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = server
        .get("/api/v1/sessions/no-such-session/meter-values")
        .await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = server.get("/api/v1/id-tokens/NO-SUCH-TOKEN").await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = server.delete("/api/v1/stations/NO-SUCH-STATION").await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = server.get("/api/v1/no-such-endpoint").await;
    assert_error(status, &body, 404, "not_found");

    let (status, body) = server
        .put(
            "/api/v1/stations/CP-INVALID",
            json!({"registration": "maybe"}),
        )
        .await;
    assert_error(status, &body, 422, "invalid");
    let (status, _) = server.get("/api/v1/stations/CP-INVALID").await;
    assert_eq!(status, 404, "an invalid PUT created the station");
    let (status, body) = server
        .put(
            "/api/v1/id-tokens/TOKEN-INVALID",
            json!({"status": "sometimes"}),
        )
        .await;
    assert_error(status, &body, 422, "invalid");
    let (status, body) = server
        .request_raw_body(
            Method::PUT,
            "/api/v1/stations/CP-BROKEN-JSON",
            "{\"registration\":",
        )
        .await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = server.get("/api/v1/sessions?state=sometimes").await;
    assert_error(status, &body, 400, "bad_request");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_openapi_need_no_token() {
    let server = TestServer::start().await;
    // Make sure at least one frame was counted.
    let mut charger = booted_16(&server, "CP-METRICS").await;
    // An action OCPP does not define is answered NotImplemented and counted under one label.
    let (code, description) = charger
        .call_err("MadeUpActionXyz", serde_json::json!({}))
        .await;
    assert_eq!(code, "NotImplemented", "{description}");

    let (status, _, body) = server.get_text_unauthenticated("/health/live").await;
    assert_eq!(status, 200, "{body}");
    let live: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(live["status"], "ok");

    let (status, _, body) = server.get_text_unauthenticated("/health/ready").await;
    assert_eq!(status, 200, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], true);
    assert_eq!(ready["connected_stations"].as_u64(), Some(1));

    let (status, content_type, body) = server.get_text_unauthenticated("/metrics").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(body.contains("zaryad_frames_in_total"), "{body}");
    assert!(
        body.lines()
            .any(|line| line.starts_with("zaryad_frames_in_total{")
                && line.contains("action=\"BootNotification\"")),
        "{body}"
    );
    assert!(
        body.lines()
            .any(|line| line.starts_with("zaryad_frames_in_total{")
                && line.contains("action=\"(unknown)\"")),
        "{body}"
    );
    assert!(!body.contains("MadeUpActionXyz"), "{body}");

    let (status, content_type, body) = server
        .get_text_unauthenticated("/api/v1/openapi.json")
        .await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let document: Value = serde_json::from_str(&body).expect("the OpenAPI document is not JSON");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|version| version.starts_with("3.")),
        "{}",
        document["openapi"]
    );
    let paths = document["paths"]
        .as_object()
        .expect("the document has no paths");
    for path in ["/stations", "/stations/{id}", "/sessions", "/sessions/{id}"] {
        assert!(
            paths.keys().any(|key| key.ends_with(path)),
            "the document does not describe {path}: {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stations_are_provisioned_listed_and_deleted() {
    let server = TestServer::start().await;
    let created = server
        .put_ok(
            "/api/v1/stations/CP-PROV",
            json!({"registration": "pending", "password": "a-long-enough-password"}),
        )
        .await;
    assert_eq!(created["id"], "CP-PROV");
    assert_eq!(created["registration"], "pending");
    assert_eq!(created["connected"], false);
    assert!(
        created["evses"].as_array().is_some_and(Vec::is_empty),
        "{created:#}"
    );
    for key in [
        "ocpp_version",
        "vendor",
        "model",
        "firmware_version",
        "serial_number",
        "last_seen_at",
        "vendor_profile",
    ] {
        assert!(
            created.get(key).is_some(),
            "a station reads {key}: {created:#}"
        );
    }
    let changed = server
        .put_ok(
            "/api/v1/stations/CP-PROV",
            json!({"registration": "rejected"}),
        )
        .await;
    assert_eq!(changed["registration"], "rejected");

    let listed = server.get_ok("/api/v1/stations").await;
    assert_eq!(
        listed
            .as_array()
            .map(|stations| stations.iter().filter(|s| s["id"] == "CP-PROV").count()),
        Some(1),
        "{listed:#}"
    );

    let (status, body) = server.delete("/api/v1/stations/CP-PROV").await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = server.get("/api/v1/stations/CP-PROV").await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = server.delete("/api/v1/stations/CP-PROV").await;
    assert_error(status, &body, 404, "not_found");
    server.shutdown().await;
}

/// Deleting a connected station disconnects it; its sessions stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_connected_station_disconnects_it() {
    let server = TestServer::start_with(|config| {
        config.authorization.unknown_tokens = zaryad_server::config::UnknownTokenPolicy::Accept;
    })
    .await;
    let mut charger = booted_16(&server, "CP-DELETE").await;
    let answer = charger
        .call_ok(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "ANY", "meterStart": 0, "timestamp": zaryad_e2e::time_ago(3)}),
        )
        .await;
    let transaction_id = answer["transactionId"].as_i64().unwrap();
    charger
        .call_ok(
            "StopTransaction",
            json!({"transactionId": transaction_id, "meterStop": 700, "timestamp": zaryad_e2e::time_ago(1)}),
        )
        .await;
    let session = server.only_session_of("CP-DELETE").await;

    let (status, body) = server.delete("/api/v1/stations/CP-DELETE").await;
    assert_eq!(status, 204, "{body}");
    let close = charger
        .expect_close()
        .await
        .expect("no close frame for a deleted station");
    assert_eq!(close.code, CloseCode::Policy, "{close:?}");
    let (status, _) = server.get("/api/v1/stations/CP-DELETE").await;
    assert_eq!(status, 404);
    let kept = server.session(session["id"].as_str().unwrap()).await;
    assert_eq!(kept["state"], "completed");
    assert_eq!(kept["energy_wh"].as_f64(), Some(700.0));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_tokens_are_provisioned_and_decide_authorization() {
    let server = TestServer::start().await;
    let created = server
        .put_ok(
            "/api/v1/id-tokens/CARD-1",
            json!({"status": "blocked", "parent": "FLEET-7"}),
        )
        .await;
    assert_eq!(created["token"], "CARD-1");
    assert_eq!(created["status"], "blocked");
    assert_eq!(created["parent"], "FLEET-7");
    assert_eq!(server.get_ok("/api/v1/id-tokens/CARD-1").await, created);
    let listed = server.get_ok("/api/v1/id-tokens").await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|token| token["token"] == "CARD-1"),
        "{listed}"
    );

    let mut charger = booted_201(&server, "CP-TOKENS").await;
    let answer = charger
        .call_ok(
            "Authorize",
            json!({"idToken": {"idToken": "CARD-1", "type": "ISO14443"}}),
        )
        .await;
    assert_eq!(answer["idTokenInfo"]["status"], "Blocked", "{answer}");

    let expired = server
        .put_ok(
            "/api/v1/id-tokens/CARD-1",
            json!({"status": "accepted", "expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(expired["status"], "accepted");
    let answer = charger
        .call_ok(
            "Authorize",
            json!({"idToken": {"idToken": "CARD-1", "type": "ISO14443"}}),
        )
        .await;
    assert_eq!(answer["idTokenInfo"]["status"], "Expired", "{answer}");

    server
        .put_ok("/api/v1/id-tokens/CARD-1", json!({"status": "accepted"}))
        .await;
    let answer = charger
        .call_ok(
            "Authorize",
            json!({"idToken": {"idToken": "CARD-1", "type": "ISO14443"}}),
        )
        .await;
    assert_eq!(answer["idTokenInfo"]["status"], "Accepted", "{answer}");

    let (status, body) = server.delete("/api/v1/id-tokens/CARD-1").await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = server.get("/api/v1/id-tokens/CARD-1").await;
    assert_error(status, &body, 404, "not_found");
    let answer = charger
        .call_ok(
            "Authorize",
            json!({"idToken": {"idToken": "CARD-1", "type": "ISO14443"}}),
        )
        .await;
    assert_ne!(
        answer["idTokenInfo"]["status"], "Accepted",
        "a deleted token: {answer}"
    );
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frame_log_shows_both_directions() {
    let server = TestServer::start().await;
    let mut charger = booted_16(&server, "CP-FRAMES").await;
    charger
        .call_with_id("hb-frame-log", "Heartbeat", json!({}))
        .await
        .unwrap();
    charger.send_raw("garbage for the log").await;
    let error = charger.recv_frame().await;
    assert_eq!(error[0].as_u64(), Some(4));

    // The endpoint flushes the buffered log first: no waiting needed.
    let frames = server
        .get_ok("/api/v1/stations/CP-FRAMES/messages?limit=50")
        .await
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        frames
            .iter()
            .filter(|frame| frame["message_id"] == "hb-frame-log")
            .count(),
        2,
        "{frames:#?}"
    );
    let inbound = frames
        .iter()
        .find(|frame| frame["message_id"] == "hb-frame-log" && frame["direction"] == "inbound")
        .unwrap_or_else(|| panic!("no inbound heartbeat: {frames:#?}"));
    assert_eq!(inbound["action"], "Heartbeat");
    assert_eq!(inbound["ocpp_version"], "1.6");
    assert_eq!(
        inbound["frame"],
        json!([2, "hb-frame-log", "Heartbeat", {}])
    );
    let outbound = frames
        .iter()
        .find(|frame| frame["message_id"] == "hb-frame-log" && frame["direction"] == "outbound")
        .unwrap_or_else(|| panic!("no outbound heartbeat answer: {frames:#?}"));
    assert_eq!(outbound["frame"][0].as_u64(), Some(3), "{outbound}");
    assert!(
        outbound["frame"][2]["currentTime"].is_string(),
        "{outbound}"
    );
    assert!(
        frames
            .iter()
            .any(|frame| frame["text"] == "garbage for the log" && frame["direction"] == "inbound"),
        "the malformed frame is not logged: {frames:#?}"
    );
    assert!(
        frames
            .iter()
            .any(|frame| frame["action"] == "BootNotification" && frame["direction"] == "outbound"),
        "{frames:#?}"
    );
    // Newest first.
    let times: Vec<_> = frames
        .iter()
        .map(|frame| zaryad_e2e::timestamp(&frame["at"]))
        .collect();
    assert!(
        times.windows(2).all(|pair| pair[0] >= pair[1]),
        "not newest first: {frames:#?}"
    );
    let (status, body) = server
        .get("/api/v1/stations/CP-FRAMES/messages?limit=2")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().map(Vec::len), Some(2), "{body}");
    charger.close().await;
    server.shutdown().await;
}
