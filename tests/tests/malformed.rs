//! Malformed input gets the CALLERROR OCPP-J names for it, and the connection stays usable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use zaryad_e2e::{Charger, TestServer, booted_16, booted_201};

/// Reads the next frame and checks it is a CALLERROR for `message_id` with `code`.
async fn expect_call_error(charger: &mut Charger, message_id: &str, code: &str) -> Value {
    let frame = charger.recv_frame().await;
    let items = frame
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {frame}"));
    assert_eq!(items.len(), 5, "a CALLERROR has 5 elements: {frame}");
    assert_eq!(items[0].as_u64(), Some(4), "{frame}");
    assert_eq!(items[1], message_id, "{frame}");
    assert_eq!(items[2], code, "{frame}");
    assert!(items[3].is_string(), "{frame}");
    assert!(items[4].is_object(), "{frame}");
    frame
}

struct Codes {
    format: &'static str,
    occurrence: &'static str,
    rpc: &'static str,
}

const CODES_16: Codes = Codes {
    format: "FormationViolation",
    occurrence: "OccurenceConstraintViolation",
    rpc: "ProtocolError",
};

const CODES_201: Codes = Codes {
    format: "FormatViolation",
    occurrence: "OccurrenceConstraintViolation",
    rpc: "RpcFrameworkError",
};

async fn malformed_frames_are_answered(
    server: &TestServer,
    charger: &mut Charger,
    codes: &Codes,
    v16: bool,
) {
    // Not JSON at all.
    charger.send_raw("this is not json").await;
    expect_call_error(charger, "-1", codes.format).await;
    charger
        .send_raw("[2, \"truncated\", \"Heartbeat\", {")
        .await;
    expect_call_error(charger, "-1", codes.format).await;

    // A CALL with the wrong number of elements.
    charger.send_raw("[2, \"short-1\", \"Heartbeat\"]").await;
    expect_call_error(charger, "short-1", codes.rpc).await;

    // A number where the schema wants an integer.
    let wrong_type = if v16 {
        json!({"connectorId": "abc", "errorCode": "NoError", "status": "Available"})
    } else {
        json!({"timestamp": zaryad_e2e::time_ago(0), "connectorStatus": "Available", "evseId": "abc", "connectorId": 1})
    };
    let (code, description) = charger.call_err("StatusNotification", wrong_type).await;
    assert_eq!(code, "TypeConstraintViolation", "{description}");

    // A required field is missing.
    let missing = if v16 {
        json!({"chargePointVendor": "Acme"})
    } else {
        json!({"reason": "PowerUp", "chargingStation": {"vendorName": "Acme"}})
    };
    let (code, description) = charger.call_err("BootNotification", missing).await;
    assert_eq!(code, codes.occurrence, "{description}");
    assert!(
        description.contains("odel"),
        "the description names the field: {description}"
    );

    // An action nobody defined.
    let (code, _) = charger.call_err("FlyToTheMoon", json!({})).await;
    assert_eq!(code, "NotImplemented");

    // A payload that is not an object.
    charger
        .send_raw("[2, \"array-payload\", \"Heartbeat\", [1, 2]]")
        .await;
    expect_call_error(charger, "array-payload", codes.format).await;

    // Message ids are echoed byte for byte, whatever they hold.
    let odd_id = "ид-\"quoted\"-\\-✓";
    let answer = charger.call_with_id(odd_id, "Heartbeat", json!({})).await;
    assert!(answer.is_ok(), "{answer:?}");

    // The connection still works, and a stray CALLRESULT is not answered.
    charger.send_raw("[3, \"nobody-asked\", {}]").await;
    let heartbeat = charger.call_ok("Heartbeat", json!({})).await;
    assert!(heartbeat["currentTime"].is_string(), "{heartbeat}");

    // Other chargers are not affected.
    let mut other = if v16 {
        booted_16(server, "CP-BYSTANDER-16").await
    } else {
        booted_201(server, "CP-BYSTANDER-201").await
    };
    other.call_ok("Heartbeat", json!({})).await;
    other.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_16_frames_get_the_16_callerrors() {
    let server = TestServer::start().await;
    let mut charger = booted_16(&server, "CP-MALFORMED-16").await;
    malformed_frames_are_answered(&server, &mut charger, &CODES_16, true).await;
    let answer = charger
        .call_ok(
            "StatusNotification",
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
        )
        .await;
    assert_eq!(answer, json!({}));
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_201_frames_get_the_201_callerrors() {
    let server = TestServer::start().await;
    let mut charger = booted_201(&server, "CP-MALFORMED-201").await;
    malformed_frames_are_answered(&server, &mut charger, &CODES_201, false).await;
    // 2.0.1 names an unknown message type.
    charger.send_raw("[7, \"type-7\", \"Heartbeat\", {}]").await;
    expect_call_error(&mut charger, "type-7", "MessageTypeNotSupported").await;
    charger.call_ok("Heartbeat", json!({})).await;
    charger.close().await;
    server.shutdown().await;
}

/// A frame larger than the limit closes the socket with 1009; other chargers carry on and the
/// station can reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_closes_the_socket_with_1009() {
    let server = TestServer::start().await;
    let mut bystander = booted_16(&server, "CP-BYSTANDER-BIG").await;
    let mut charger = booted_16(&server, "CP-BIG").await;
    let data = "x".repeat(70 * 1024);
    let frame = json!([2, "big-1", "DataTransfer", {"vendorId": "Acme", "data": data}]);
    assert!(frame.to_string().len() > 64 * 1024);
    charger.send_raw(&frame.to_string()).await;
    let close = charger
        .expect_close()
        .await
        .expect("no close frame after an oversized message");
    assert_eq!(close.code, CloseCode::Size, "{close:?}");
    assert_eq!(u16::from(close.code), 1009);

    let heartbeat = bystander.call_ok("Heartbeat", json!({})).await;
    assert!(heartbeat["currentTime"].is_string());
    let mut again = Charger::connect(&server, "CP-BIG", "ocpp1.6").await;
    let answer = again
        .call_ok("DataTransfer", json!({"vendorId": "Acme", "data": "small"}))
        .await;
    assert!(answer["status"].is_string(), "{answer}");
    again.close().await;
    bystander.close().await;
    server.shutdown().await;
}

/// A configured lower limit applies too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_size_limit_is_configurable() {
    let server = TestServer::start_with(|config| config.ocpp.max_message_bytes = 4 * 1024).await;
    let mut charger = booted_16(&server, "CP-SMALL-LIMIT").await;
    let fits = charger
        .call_ok(
            "DataTransfer",
            json!({"vendorId": "Acme", "data": "y".repeat(2 * 1024)}),
        )
        .await;
    assert!(fits["status"].is_string(), "{fits}");
    let frame =
        json!([2, "big-2", "DataTransfer", {"vendorId": "Acme", "data": "y".repeat(5 * 1024)}]);
    charger.send_raw(&frame.to_string()).await;
    let close = charger
        .expect_close()
        .await
        .expect("no close frame after an oversized message");
    assert_eq!(u16::from(close.code), 1009, "{close:?}");
    server.shutdown().await;
}
