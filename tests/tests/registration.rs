//! Registration policies, Basic auth on the upgrade, identities from the URL, replacement.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use zaryad_e2e::{
    Charger, ConnectOptions, TestServer, boot_16, boot_201, booted_16, refused_status, wait_until,
};
use zaryad_server::config::UnknownStationPolicy;

fn listed<'a>(stations: &'a Value, id: &str) -> &'a Value {
    stations
        .as_array()
        .unwrap_or_else(|| panic!("GET /stations is not an array: {stations}"))
        .iter()
        .find(|station| station["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not listed: {stations:#}"))
}

async fn pending_server() -> TestServer {
    TestServer::start_with(|config| config.ocpp.unknown_stations = UnknownStationPolicy::Pending)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_stations_are_pending_under_the_pending_policy() {
    let server = pending_server().await;
    let mut charger = Charger::connect(&server, "CP-PENDING", "ocpp1.6").await;
    let boot = charger
        .call_ok("BootNotification", boot_16("Acme", "P1"))
        .await;
    assert_eq!(boot["status"], "Pending");
    assert_eq!(
        boot["interval"].as_u64(),
        Some(60),
        "the boot retry interval: {boot}"
    );

    let stations = server.get_ok("/api/v1/stations").await;
    let station = listed(&stations, "CP-PENDING");
    assert_eq!(station["registration"], "pending");
    assert_eq!(station["connected"], true);
    assert_eq!(station["vendor"], "Acme");

    // Still pending at the next boot until an operator decides.
    let boot = charger
        .call_ok("BootNotification", boot_16("Acme", "P1"))
        .await;
    assert_eq!(boot["status"], "Pending");
    charger.close().await;
    server.shutdown().await;
}

/// The operator accepts a pending station; it reconnects and boots: Accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_pending_station_is_accepted_after_reconnecting() {
    let server = pending_server().await;
    let mut charger = Charger::connect(&server, "CP-APPROVE-1", "ocpp2.0.1").await;
    let boot = charger
        .call_ok("BootNotification", boot_201("Acme", "P2"))
        .await;
    assert_eq!(boot["status"], "Pending");
    charger.close().await;
    wait_until("the station is disconnected", || async {
        server.station("CP-APPROVE-1").await["connected"] == false
    })
    .await;

    let answer = server
        .put_ok(
            "/api/v1/stations/CP-APPROVE-1",
            json!({"registration": "accepted"}),
        )
        .await;
    assert_eq!(answer["registration"], "accepted");

    let mut charger = Charger::connect(&server, "CP-APPROVE-1", "ocpp2.0.1").await;
    let boot = charger
        .call_ok("BootNotification", boot_201("Acme", "P2"))
        .await;
    assert_eq!(boot["status"], "Accepted");
    assert_eq!(boot["interval"].as_u64(), Some(300));
    assert_eq!(
        server.station("CP-APPROVE-1").await["registration"],
        "accepted"
    );
    charger.close().await;
    server.shutdown().await;
}

/// The operator accepts a pending station while it stays connected; its next boot, on the
/// same connection as chargers do, is Accepted, and the operator's decision is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_pending_station_is_accepted_at_its_next_boot_on_the_same_connection() {
    let server = pending_server().await;
    let mut charger = Charger::connect(&server, "CP-APPROVE-2", "ocpp1.6").await;
    let boot = charger
        .call_ok("BootNotification", boot_16("Acme", "P3"))
        .await;
    assert_eq!(boot["status"], "Pending");

    let answer = server
        .put_ok(
            "/api/v1/stations/CP-APPROVE-2",
            json!({"registration": "accepted"}),
        )
        .await;
    assert_eq!(answer["registration"], "accepted");

    let boot = charger
        .call_ok("BootNotification", boot_16("Acme", "P3"))
        .await;
    let registration = server.station("CP-APPROVE-2").await["registration"].clone();
    assert_eq!(
        registration, "accepted",
        "the station's boot overwrote the operator's decision"
    );
    assert_eq!(
        boot["status"], "Accepted",
        "boot after the operator accepted: {boot}"
    );
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_stations_are_rejected_under_the_reject_policy() {
    let server = TestServer::start_with(|config| {
        config.ocpp.unknown_stations = UnknownStationPolicy::Reject
    })
    .await;
    let mut charger = Charger::connect(&server, "CP-REJECT", "ocpp1.6").await;
    let boot = charger
        .call_ok("BootNotification", boot_16("Acme", "R1"))
        .await;
    assert_eq!(boot["status"], "Rejected");
    assert_eq!(boot["interval"].as_u64(), Some(60));
    // A rejected station gets nothing else done.
    let (code, _) = charger
        .call_err(
            "StatusNotification",
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
        )
        .await;
    assert_eq!(code, "SecurityError");
    let station = server.station("CP-REJECT").await;
    assert_eq!(station["registration"], "rejected");
    assert!(
        station["evses"].as_array().is_some_and(Vec::is_empty),
        "{station:#}"
    );

    let mut charger = Charger::connect(&server, "CP-REJECT-201", "ocpp2.0.1").await;
    let boot = charger
        .call_ok("BootNotification", boot_201("Acme", "R2"))
        .await;
    assert_eq!(boot["status"], "Rejected");
    charger.close().await;
    server.shutdown().await;
}

/// A provisioned station is accepted even under the pending policy, and must authenticate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_is_checked_before_the_upgrade() {
    let server = pending_server().await;
    let password = "correct-horse-battery-staple";
    let provisioned = server
        .put_ok("/api/v1/stations/CP-AUTH", json!({"password": password}))
        .await;
    assert_eq!(provisioned["id"], "CP-AUTH");
    assert_eq!(provisioned["registration"], "accepted");
    assert_eq!(provisioned["connected"], false);
    let text = provisioned.to_string();
    assert!(!text.contains(password), "the password leaks: {text}");
    assert!(provisioned.get("password_hash").is_none(), "{text}");

    let url = server.ws_url("CP-AUTH");
    let without = ConnectOptions {
        subprotocols: vec!["ocpp1.6".into()],
        basic_auth: None,
    };
    let error = Charger::try_connect(&url, &without)
        .await
        .err()
        .expect("connected without a password");
    assert_eq!(refused_status(&error), Some(401), "{error}");

    let wrong = ConnectOptions {
        subprotocols: vec!["ocpp1.6".into()],
        basic_auth: Some(("CP-AUTH".into(), "not-the-password".into())),
    };
    let error = Charger::try_connect(&url, &wrong)
        .await
        .err()
        .expect("connected with a wrong password");
    assert_eq!(refused_status(&error), Some(401), "{error}");

    let mut charger = Charger::connect_with_password(&server, "CP-AUTH", "ocpp1.6", password).await;
    let boot = charger
        .call_ok("BootNotification", boot_16("Acme", "A1"))
        .await;
    assert_eq!(boot["status"], "Accepted");
    assert_eq!(server.station("CP-AUTH").await["connected"], true);

    // Removing the password (null) lets the station in without credentials.
    charger.close().await;
    server
        .put_ok("/api/v1/stations/CP-AUTH", json!({"password": null}))
        .await;
    let mut charger = Charger::connect(&server, "CP-AUTH", "ocpp1.6").await;
    let heartbeat = charger.call_ok("Heartbeat", json!({})).await;
    assert!(heartbeat["currentTime"].is_string());
    charger.close().await;
    server.shutdown().await;
}

/// Security profile 1: the Basic auth user is the station id; another station's name with this
/// station's password is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_basic_auth_user_must_be_the_station_id() {
    let server = TestServer::start().await;
    let password = "the-password-of-cp-auth-user";
    server
        .put_ok(
            "/api/v1/stations/CP-AUTH-USER",
            json!({"password": password}),
        )
        .await;
    let url = server.ws_url("CP-AUTH-USER");
    let other_user = ConnectOptions {
        subprotocols: vec!["ocpp1.6".into()],
        basic_auth: Some(("SOMEONE-ELSE".into(), password.into())),
    };
    let refused = Charger::try_connect(&url, &other_user).await;
    assert_eq!(
        refused.as_ref().err().and_then(refused_status),
        Some(401),
        "a Basic auth user other than the station id was let in"
    );
    let mut charger =
        Charger::connect_with_password(&server, "CP-AUTH-USER", "ocpp1.6", password).await;
    charger.call_ok("Heartbeat", json!({})).await;
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_is_the_last_path_segment_percent_decoded() {
    let server = TestServer::start().await;
    let url = format!("ws://{}/any/prefix/CP%2B1", server.ocpp_addr);
    let mut charger = Charger::connect_url(&url, "ocpp1.6").await;
    let boot = charger
        .call_ok("BootNotification", boot_16("Acme", "ID1"))
        .await;
    assert_eq!(boot["status"], "Accepted");
    let station = server.station("CP%2B1").await;
    assert_eq!(station["id"], "CP+1");
    assert_eq!(station["connected"], true);
    let stations = server.get_ok("/api/v1/stations").await;
    assert_eq!(listed(&stations, "CP+1")["model"], "ID1");
    assert!(
        stations
            .as_array()
            .unwrap()
            .iter()
            .all(|station| station["id"] != "CP%2B1"),
        "{stations:#}"
    );
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_replaces_the_first() {
    let server = TestServer::start().await;
    let mut first = booted_16(&server, "CP-DUP").await;
    let mut second = Charger::connect(&server, "CP-DUP", "ocpp1.6").await;

    let close = first.expect_close().await;
    let close = close.expect("the replaced connection got no close frame");
    assert_eq!(close.code, CloseCode::Normal, "{close:?}");

    let boot = second
        .call_ok("BootNotification", boot_16("Acme", "DUP"))
        .await;
    assert_eq!(boot["status"], "Accepted");
    let station = server.station("CP-DUP").await;
    assert_eq!(station["connected"], true, "{station:#}");
    let heartbeat = second.call_ok("Heartbeat", json!({})).await;
    assert!(heartbeat["currentTime"].is_string());
    // Still connected once the first connection's task has finished.
    let ready = server.get_ok("/health/ready").await;
    assert_eq!(ready["connected_stations"].as_u64(), Some(1), "{ready}");
    assert_eq!(server.station("CP-DUP").await["connected"], true);

    second.close().await;
    wait_until("the station shows disconnected", || async {
        server.station("CP-DUP").await["connected"] == false
    })
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subprotocols_are_negotiated() {
    let server = TestServer::start().await;
    let url = server.ws_url("CP-NEGOTIATE");
    // Both offered: the highest wins.
    let both = ConnectOptions {
        subprotocols: vec!["ocpp1.6".into(), "ocpp2.0.1".into()],
        basic_auth: None,
    };
    let charger = Charger::try_connect(&url, &both)
        .await
        .expect("connecting with both versions");
    assert_eq!(charger.protocol.as_deref(), Some("ocpp2.0.1"));
    charger.close().await;
    // None offered: treated as 1.6 (a known charger quirk).
    let none = ConnectOptions::default();
    let mut charger = Charger::try_connect(&url, &none)
        .await
        .expect("connecting without a subprotocol");
    let boot = charger
        .call_ok("BootNotification", boot_16("Acme", "NOPROTO"))
        .await;
    assert_eq!(boot["status"], "Accepted");
    assert_eq!(server.station("CP-NEGOTIATE").await["ocpp_version"], "1.6");
    charger.close().await;
    // Only an unknown one: refused before the upgrade.
    let unknown = ConnectOptions {
        subprotocols: vec!["ocpp9.9".into()],
        basic_auth: None,
    };
    let error = Charger::try_connect(&url, &unknown)
        .await
        .err()
        .expect("an unknown subprotocol was accepted");
    assert_eq!(refused_status(&error), Some(400), "{error}");
    server.shutdown().await;
}
