//! Billing systems receive every session event, once and in order, even across crashes:
//! webhooks (checked by a real HTTP receiver with an HMAC of its own), a receiver that fails
//! and goes away, a SIGKILLed server, late meter values, Server-Sent Events resumed with
//! `Last-Event-ID`, and a durable NATS JetStream consumer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use zaryad_e2e::crash::ServerProcess;
use zaryad_e2e::events::{Answer, Arrival, Receiver, SseClient, SseEvent, whsec_key};
use zaryad_e2e::{ADMIN_TOKEN, Charger, TestServer, booted_16, booted_201, num, time_ago};
use zaryad_store::testing::TestDatabase;

const SERVER: &str = env!("CARGO_BIN_EXE_zaryad_under_test");

fn secret() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(b"zaryad-e2e-webhook-key-0123456789")
    )
}

/// A server that emits `session.updated` on every frame and retries deliveries quickly.
async fn events_server() -> TestServer {
    TestServer::start_with(|config| {
        config.events.session_update_interval_secs = 0;
        config.events.poll_interval_ms = 100;
        config.events.webhooks.backoff_base_ms = 50;
        config.events.webhooks.backoff_max_secs = 1;
    })
    .await
}

async fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn subscribe(server: &TestServer, body: Value) -> Value {
    let (status, created) = server
        .request(
            reqwest::Method::POST,
            "/api/v1/webhooks",
            Some(&format!("Bearer {ADMIN_TOKEN}")),
            Some(&body),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created
}

async fn status_16(charger: &mut Charger, status: &str) {
    charger
        .call_ok(
            "StatusNotification",
            json!({"connectorId": 1, "errorCode": "NoError", "status": status, "timestamp": time_ago(0)}),
        )
        .await;
}

/// `minutes` before `base`, as chargers spell it (whole seconds, `Z`).
fn before(base: chrono::DateTime<chrono::Utc>, minutes: i64) -> String {
    (base - chrono::Duration::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A 1.6 session from 30 to 5 minutes ago: 1000 Wh, three readings, `meter_stop`.
async fn session_16(charger: &mut Charger, tag: &str, meter_stop: i64) -> i64 {
    let base = chrono::Utc::now();
    status_16(charger, "Preparing").await;
    let answer = charger
        .call_ok(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": tag, "meterStart": 1000, "timestamp": before(base, 30)}),
        )
        .await;
    let transaction_id = answer["transactionId"].as_i64().unwrap();
    status_16(charger, "Charging").await;
    for (n, wh) in [2000, 3000, 3000].into_iter().enumerate() {
        meter_values_16(charger, transaction_id, before(base, 25 - 5 * n as i64), wh).await;
    }
    charger
        .call_ok(
            "StopTransaction",
            json!({"transactionId": transaction_id, "meterStop": meter_stop, "timestamp": before(base, 5), "reason": "EVDisconnected"}),
        )
        .await;
    status_16(charger, "Finishing").await;
    status_16(charger, "Available").await;
    transaction_id
}

async fn meter_values_16(charger: &mut Charger, transaction_id: i64, at: String, wh: i64) {
    charger
        .call_ok(
            "MeterValues",
            json!({
                "connectorId": 1,
                "transactionId": transaction_id,
                "meterValue": [{"timestamp": at, "sampledValue": [
                    {"value": wh.to_string(), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
                ]}],
            }),
        )
        .await;
}

/// A 2.0.1 session with a charger-chosen transaction id.
async fn session_201(charger: &mut Charger, tag: &str, transaction_id: &str) {
    let reading = |at: &str, wh: i64, context: &str| {
        json!([{"timestamp": at, "sampledValue": [{"value": wh, "context": context,
            "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}}]}])
    };
    let event = |kind: &str, seq_no: u64, at: &str, trigger: &str, info: Value, meter: Value| {
        json!({"eventType": kind, "timestamp": at, "triggerReason": trigger, "seqNo": seq_no,
            "transactionInfo": info, "evse": {"id": 1, "connectorId": 1}, "meterValue": meter})
    };
    let t0 = time_ago(20);
    let mut started = event(
        "Started",
        0,
        &t0,
        "Authorized",
        json!({"transactionId": transaction_id, "chargingState": "Charging"}),
        reading(&t0, 500, "Transaction.Begin"),
    );
    started["idToken"] = json!({"idToken": tag, "type": "ISO14443"});
    charger.call_ok("TransactionEvent", started).await;
    let t1 = time_ago(15);
    charger
        .call_ok(
            "TransactionEvent",
            event(
                "Updated",
                1,
                &t1,
                "MeterValuePeriodic",
                json!({"transactionId": transaction_id}),
                reading(&t1, 2500, "Sample.Periodic"),
            ),
        )
        .await;
    let t2 = time_ago(10);
    charger
        .call_ok(
            "TransactionEvent",
            event(
                "Ended",
                2,
                &t2,
                "StopAuthorized",
                json!({"transactionId": transaction_id, "stoppedReason": "Local"}),
                reading(&t2, 4500, "Transaction.End"),
            ),
        )
        .await;
}

/// Every outbox event after `after` as the event stream lists it, in outbox order.
async fn outbox(server: &TestServer, after: i64) -> Vec<SseEvent> {
    let url = server.url(&format!("/api/v1/events?after={after}"));
    let mut client = SseClient::open(&url, ADMIN_TOKEN, None).await;
    client.drain(Duration::from_millis(700)).await
}

/// Checks what `accepted` (the receiver's 2xx answers, in arrival order) says against the
/// outbox: every event exactly once, identical, and each session's (and each station's other)
/// events in outbox order.
fn check_deliveries(accepted: &[Arrival], outbox: &[SseEvent]) {
    let seq_of: HashMap<&str, i64> = outbox
        .iter()
        .map(|event| (event.data["id"].as_str().unwrap(), event.id))
        .collect();
    let mut seen = HashSet::new();
    for arrival in accepted {
        assert!(arrival.signature_valid, "bad signature: {arrival:?}");
        assert!(
            seen.insert(arrival.id.clone()),
            "delivered twice: {arrival:?}"
        );
        assert_eq!(arrival.body["id"], arrival.id, "webhook-id is the event id");
        let original = outbox
            .iter()
            .find(|event| event.data["id"] == arrival.id)
            .unwrap_or_else(|| panic!("not in the outbox: {arrival:?}"));
        assert_eq!(arrival.body, original.data, "the body is the envelope");
    }
    let expected: HashSet<String> = seq_of.keys().map(|id| (*id).to_owned()).collect();
    assert_eq!(seen, expected, "delivered ≠ recorded");
    // Order per session, and per station for events without a session.
    let mut last: HashMap<String, i64> = HashMap::new();
    for arrival in accepted {
        let body = &arrival.body;
        let key = match body["type"].as_str().unwrap() {
            kind if kind.starts_with("session.") => body["data"]["id"].as_str().unwrap().to_owned(),
            _ => format!("station:{}", body["station_id"].as_str().unwrap()),
        };
        let seq = seq_of[arrival.id.as_str()];
        if let Some(before) = last.insert(key.clone(), seq) {
            assert!(before < seq, "{key}: event {seq} arrived after {before}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_get_every_event_signed_once_and_in_order() {
    let server = events_server().await;
    let secret = secret();
    let receiver = Receiver::start(whsec_key(&secret), Answer::Accept).await;
    let created = subscribe(&server, json!({"url": receiver.url(), "secret": secret})).await;
    assert_eq!(created["secret"], secret.as_str());
    assert!(created["event_types"].is_null(), "{created}");
    let listed = server.get_ok("/api/v1/webhooks").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert!(
        listed[0].get("secret").is_none(),
        "the secret is shown once: {listed}"
    );

    server.provision_token("TAG-WH").await;
    let mut charger_16 = booted_16(&server, "CP-WH-16").await;
    let mut charger_201 = booted_201(&server, "CP-WH-201").await;
    session_16(&mut charger_16, "TAG-WH", 4200).await;
    session_201(&mut charger_201, "TAG-WH", "TX-WH-1").await;
    server
        .put_ok(
            "/api/v1/stations/CP-WH-16",
            json!({"registration": "pending"}),
        )
        .await;

    let recorded = outbox(&server, 0).await;
    wait_for("every event delivered", Duration::from_secs(20), || {
        receiver.accepted().len() >= recorded.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let accepted = receiver.accepted();
    check_deliveries(&accepted, &recorded);
    // From the commit to the receiver, on this loaded test machine (informational).
    let mut latencies: Vec<i64> = accepted
        .iter()
        .map(|arrival| {
            let occurred = zaryad_e2e::timestamp(&arrival.body["occurred_at"]);
            (arrival.received_at - occurred)
                .num_microseconds()
                .unwrap_or(i64::MAX)
        })
        .collect();
    latencies.sort_unstable();
    eprintln!(
        "webhook latency over {} events: p50 {} µs, max {} µs",
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );

    let types: Vec<&str> = recorded
        .iter()
        .map(|event| event.data["type"].as_str().unwrap())
        .collect();
    for kind in [
        "station.connected",
        "station.booted",
        "connector.status_changed",
        "session.started",
        "session.updated",
        "session.ended",
        "station.registration_changed",
    ] {
        assert!(types.contains(&kind), "no {kind} in {types:?}");
    }
    let changed = recorded
        .iter()
        .find(|event| event.event == "station.registration_changed")
        .unwrap();
    assert_eq!(changed.data["station_id"], "CP-WH-16");
    assert_eq!(changed.data["data"]["registration"], "pending");
    assert_eq!(changed.data["data"]["previous_registration"], "accepted");

    // The final session of each: energy, duration, token, meters, reason, quirks, CDR.
    let ended: Vec<&Value> = accepted
        .iter()
        .map(|arrival| &arrival.body)
        .filter(|body| body["type"] == "session.ended")
        .collect();
    assert_eq!(ended.len(), 2, "{ended:#?}");
    let ended_16 = ended
        .iter()
        .find(|body| body["station_id"] == "CP-WH-16")
        .unwrap();
    let data = &ended_16["data"];
    assert_eq!(data["revision"].as_u64(), Some(1), "{data:#}");
    assert_eq!(num(&data["energy_wh"]), Some(3200.0));
    assert_eq!(num(&data["meter_start_wh"]), Some(1000.0));
    assert_eq!(num(&data["meter_stop_wh"]), Some(4200.0));
    assert_eq!(data["id_token"], "TAG-WH");
    assert_eq!(data["stop_reason"], "ev_disconnected");
    assert_eq!(data["state"], "completed");
    assert!(data["quirks"].is_array(), "{data:#}");
    assert_eq!(data["duration_secs"].as_i64(), Some(25 * 60));
    let cdr = &data["cdr"];
    assert_eq!(cdr["session_id"], data["id"]);
    assert_eq!(num(&cdr["total_energy"]), Some(3.2));
    // 25 minutes in hours, to OCPI's four decimals.
    assert_eq!(num(&cdr["total_time"]), Some(0.4167));
    assert_eq!(cdr["currency"], "KGS");
    assert_eq!(cdr["cdr_token"]["uid"], "TAG-WH");
    let periods = cdr["charging_periods"].as_array().unwrap();
    assert!(!periods.is_empty(), "{cdr:#}");
    let dimensions = periods[0]["dimensions"].as_array().unwrap();
    assert!(
        dimensions
            .iter()
            .any(|dimension| dimension["type"] == "ENERGY")
            && dimensions
                .iter()
                .any(|dimension| dimension["type"] == "TIME"),
        "{cdr:#}"
    );
    let ended_201 = ended
        .iter()
        .find(|body| body["station_id"] == "CP-WH-201")
        .unwrap();
    assert_eq!(num(&ended_201["data"]["energy_wh"]), Some(4000.0));
    assert_eq!(num(&ended_201["data"]["cdr"]["total_energy"]), Some(4.0));

    // The delivery log says the same.
    let id = created["id"].as_str().unwrap();
    let log = server
        .get_ok(&format!("/api/v1/webhooks/{id}/deliveries?limit=1000"))
        .await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), recorded.len());
    assert!(
        log.iter()
            .all(|row| row["status"] == "delivered" && row["attempts"].as_u64() == Some(1)),
        "{log:#?}"
    );
    charger_16.close().await;
    charger_201.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_then_goes_away_gets_everything_afterwards_in_order() {
    let server = events_server().await;
    let secret = secret();
    let mut receiver = Receiver::start(whsec_key(&secret), Answer::Fail(500)).await;
    let created = subscribe(
        &server,
        json!({"url": receiver.url(), "secret": secret, "event_types": null}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    server.provision_token("TAG-DOWN").await;

    // 500s while a session runs.
    let mut charger = booted_16(&server, "CP-DOWN").await;
    session_16(&mut charger, "TAG-DOWN", 5000).await;
    wait_for("failed attempts", Duration::from_secs(10), || {
        receiver.arrivals().len() >= 5
    })
    .await;
    assert!(receiver.accepted().is_empty());

    // Then nobody listens at all, while another session runs.
    receiver.stop().await;
    session_16(&mut charger, "TAG-DOWN", 9000).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = server
        .get_ok(&format!(
            "/api/v1/webhooks/{id}/deliveries?status=pending&limit=1000"
        ))
        .await;
    let log = log.as_array().unwrap();
    assert!(!log.is_empty());
    // The first of each session (and of the station's other events) is retried; the rest
    // wait behind it.
    assert!(
        log.iter().any(|row| row["response_status"].is_null()
            && row["last_error"]
                .as_str()
                .is_some_and(|error| error.contains("refused"))
            && row["attempts"].as_u64() > Some(1)),
        "{log:#?}"
    );
    assert!(
        log.iter().any(|row| row["attempts"].as_u64() == Some(0)),
        "{log:#?}"
    );

    // Back: everything arrives, in order, none missing, none twice.
    receiver.resume().await;
    receiver.answer(Answer::Accept);
    let recorded = outbox(&server, 0).await;
    wait_for("every event delivered", Duration::from_secs(30), || {
        receiver.accepted().len() >= recorded.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    check_deliveries(&receiver.accepted(), &recorded);
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_recorded_before_a_sigkill_are_delivered_after_the_restart() {
    let db = TestDatabase::sqlite();
    let log = db.dir().join("server.log");
    let env = [
        ("ZARYAD_EVENTS__POLL_INTERVAL_MS", "100"),
        ("ZARYAD_EVENTS__WEBHOOKS__BACKOFF_BASE_MS", "50"),
        ("ZARYAD_EVENTS__WEBHOOKS__BACKOFF_MAX_SECS", "1"),
    ];
    let server = ServerProcess::start_with_env(SERVER, db.url(), &log, &env).await;
    let secret = secret();
    let receiver = Receiver::start(whsec_key(&secret), Answer::Fail(503)).await;
    let (status, created) = server
        .send_json(
            reqwest::Method::POST,
            "/api/v1/webhooks",
            &json!({"url": receiver.url(), "secret": secret}),
        )
        .await;
    assert_eq!(status, 201, "{created}");

    let mut charger =
        Charger::connect_url(&format!("{}/CP-KILL", server.ws_base()), "ocpp1.6").await;
    charger
        .call_ok(
            "BootNotification",
            json!({"chargePointVendor": "E2E", "chargePointModel": "K"}),
        )
        .await;
    session_16(&mut charger, "TAG-KILL", 6000).await;
    // Committed (the charger got its answers) but refused: the first of each session and of
    // the station's other events was tried, the rest wait behind them.
    let recorded = {
        let url = format!("http://{}/api/v1/events?after=0", server.api_addr);
        let mut client = SseClient::open(&url, ADMIN_TOKEN, None).await;
        client.drain(Duration::from_millis(700)).await
    };
    wait_for("attempts", Duration::from_secs(10), || {
        receiver.arrivals().len() >= 2
    })
    .await;
    let tried: HashMap<String, String> = receiver
        .arrivals()
        .into_iter()
        .map(|arrival| (arrival.id, arrival.raw))
        .collect();

    server.kill().await;
    drop(charger);
    receiver.answer(Answer::Accept);
    let server = ServerProcess::start_with_env(SERVER, db.url(), &log, &env).await;
    wait_for(
        "every recorded event delivered",
        Duration::from_secs(20),
        || receiver.accepted().len() >= recorded.len(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    check_deliveries(&receiver.accepted(), &recorded);
    for arrival in receiver.accepted() {
        if let Some(before) = tried.get(&arrival.id) {
            assert_eq!(&arrival.raw, before, "the same event, byte for byte");
        }
    }
    server.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_meter_values_correct_the_ended_session_once_per_interval() {
    let server = TestServer::start_with(|config| {
        config.events.session_update_interval_secs = 2;
        config.events.poll_interval_ms = 100;
    })
    .await;
    server.provision_token("TAG-LATE").await;
    let mut stream = SseClient::open(
        &server.url("/api/v1/events?types=session.ended"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    let mut charger = booted_16(&server, "CP-LATE").await;
    let transaction_id = session_16(&mut charger, "TAG-LATE", 3500).await;
    let first = stream.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(first.data["data"]["revision"].as_u64(), Some(1));
    let session_id = first.data["data"]["id"].as_str().unwrap().to_owned();

    // Queued readings uploaded after the stop: one correction for the burst.
    for minute in [9, 8, 7] {
        meter_values_16(&mut charger, transaction_id, time_ago(minute), 3500).await;
    }
    let corrected = stream.next(Duration::from_secs(10)).await.unwrap();
    let data = &corrected.data["data"];
    assert_eq!(data["id"], session_id.as_str());
    assert_eq!(data["revision"].as_u64(), Some(2), "{data:#}");
    assert_eq!(data["cdr"]["id"], format!("{session_id}-2"));
    assert_eq!(num(&data["energy_wh"]), Some(2500.0));
    assert_ne!(corrected.data["id"], first.data["id"], "a new event");
    assert!(
        stream.next(Duration::from_millis(3000)).await.is_none(),
        "one correction for one burst"
    );
    let samples = server
        .get_ok(&format!(
            "/api/v1/sessions/{session_id}/meter-values?limit=100"
        ))
        .await;
    assert_eq!(samples.as_array().unwrap().len(), 12, "{samples:#}");
    charger.close().await;
    server.shutdown().await;
}

/// A connection's own record rides with the station's first commit; a charger that connects
/// and says nothing is still recorded as connected (and a new station registered) at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charger_that_says_nothing_is_recorded_as_connected() {
    let server = events_server().await;
    let mut live = SseClient::open(&server.url("/api/v1/events"), ADMIN_TOKEN, None).await;
    let charger = Charger::connect(&server, "CP-QUIET", "ocpp1.6").await;
    let connected = live
        .next(Duration::from_secs(5))
        .await
        .expect("station.connected without any CALL");
    assert_eq!(connected.event, "station.connected");
    assert_eq!(connected.data["station_id"], "CP-QUIET");
    assert_eq!(server.station("CP-QUIET").await["id"], "CP-QUIET");
    assert!(
        live.next(Duration::from_millis(500)).await.is_none(),
        "recorded once"
    );
    charger.close().await;
    let disconnected = live.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(disconnected.event, "station.disconnected");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_resumes_with_last_event_id() {
    let server = events_server().await;
    server.provision_token("TAG-SSE").await;
    let mut live = SseClient::open(&server.url("/api/v1/events"), ADMIN_TOKEN, None).await;
    let mut charger = booted_16(&server, "CP-SSE").await;
    let first = live.drain(Duration::from_millis(700)).await;
    assert!(first.len() >= 2, "{first:?}");
    assert_eq!(first[0].event, "station.connected");
    assert_eq!(first[0].data["type"], "station.connected");
    let last_seen = first.last().unwrap().id;
    drop(live);

    // Missed while disconnected.
    session_16(&mut charger, "TAG-SSE", 2500).await;
    let mut resumed =
        SseClient::open(&server.url("/api/v1/events"), ADMIN_TOKEN, Some(last_seen)).await;
    let missed = resumed.drain(Duration::from_millis(700)).await;
    let everything = outbox(&server, 0).await;
    let expected: Vec<&SseEvent> = everything.iter().filter(|e| e.id > last_seen).collect();
    assert!(!missed.is_empty());
    assert_eq!(missed.iter().collect::<Vec<_>>(), expected);
    assert_eq!(
        [&first[..], &missed[..]].concat(),
        everything,
        "nothing lost, nothing twice"
    );

    // Filtered by type and station.
    let mut filtered = SseClient::open(
        &server.url("/api/v1/events?after=0&types=session.started,session.ended&station_id=CP-SSE"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    let kinds: Vec<String> = filtered
        .drain(Duration::from_millis(700))
        .await
        .into_iter()
        .map(|event| event.event)
        .collect();
    assert_eq!(kinds, ["session.started", "session.ended"]);
    let (status, _) = server.get("/api/v1/events?types=session.bogus").await;
    assert_eq!(status, 400);
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_validated_listed_replayed_and_deleted() {
    let server = events_server().await;
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    for (body, why) in [
        (json!({}), "no url"),
        (json!({"url": "ftp://example.invalid/x"}), "not http"),
        (json!({"url": "not a url"}), "no URL"),
        (
            json!({"url": "http://127.0.0.1:1/x", "secret": "whsec_***"}),
            "bad base64",
        ),
        (
            json!({"url": "http://127.0.0.1:1/x", "secret": ""}),
            "empty secret",
        ),
        (
            json!({"url": "http://127.0.0.1:1/x", "event_types": ["session.bogus"]}),
            "unknown type",
        ),
    ] {
        let (status, answer) = server
            .request(
                reqwest::Method::POST,
                "/api/v1/webhooks",
                Some(&bearer),
                Some(&body),
            )
            .await;
        assert_eq!(status, 422, "{why}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid", "{answer}");
    }

    // A generated secret, shown once; only session.ended.
    let receiver_key_placeholder = Receiver::start(Vec::new(), Answer::Accept).await;
    let created = subscribe(
        &server,
        json!({"url": receiver_key_placeholder.url(), "event_types": ["session.ended"]}),
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(whsec_key(&secret).len(), 32);
    assert_eq!(created["event_types"], json!(["session.ended"]));
    drop(receiver_key_placeholder);
    let id = created["id"].as_str().unwrap().to_owned();
    let shown = server.get_ok(&format!("/api/v1/webhooks/{id}")).await;
    assert!(shown.get("secret").is_none(), "{shown}");

    // Events before the subscription are not sent; a replay sends them (its filter applies).
    let secret_plain = secret.clone();
    let receiver = Receiver::start(whsec_key(&secret_plain), Answer::Accept).await;
    let before = subscribe(
        &server,
        json!({"url": receiver.url(), "secret": secret_plain}),
    )
    .await;
    server.provision_token("TAG-API").await;
    let mut charger = booted_16(&server, "CP-API").await;
    session_16(&mut charger, "TAG-API", 2000).await;
    let recorded = outbox(&server, 0).await;
    wait_for("delivery", Duration::from_secs(10), || {
        receiver.accepted().len() >= recorded.len()
    })
    .await;
    let replay_id = before["id"].as_str().unwrap();
    let (status, answer) = server
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/webhooks/{replay_id}/replay"),
            Some(&bearer),
            Some(&json!({"since": "2000-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    wait_for("the replay", Duration::from_secs(10), || {
        receiver.accepted().len() >= 2 * recorded.len()
    })
    .await;
    let accepted = receiver.accepted();
    let (first, again) = accepted.split_at(recorded.len());
    let ids = |arrivals: &[Arrival]| -> HashSet<String> {
        arrivals.iter().map(|a| a.id.clone()).collect()
    };
    assert_eq!(ids(first), ids(again), "the same events, the same ids");
    check_deliveries(first, &recorded);
    check_deliveries(again, &recorded);
    let (status, _) = server
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/webhooks/{replay_id}/replay"),
            Some(&bearer),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, 422);

    // Deleted: gone, and its log with it.
    let (status, _) = server.delete(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, 204);
    let (status, _) = server.delete(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, 404);
    let (status, _) = server
        .get(&format!("/api/v1/webhooks/{id}/deliveries"))
        .await;
    assert_eq!(status, 404);
    let listed = server.get_ok("/api/v1/webhooks").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let document = server.get_ok("/api/v1/openapi.json").await;
    for path in [
        "/api/v1/webhooks",
        "/api/v1/webhooks/{id}",
        "/api/v1/webhooks/{id}/deliveries",
        "/api/v1/webhooks/{id}/replay",
        "/api/v1/events",
    ] {
        assert!(
            document["paths"][path].is_object(),
            "{path} is not documented"
        );
    }
    let (status, _) = server
        .request(reqwest::Method::GET, "/api/v1/webhooks", None, None)
        .await;
    assert_eq!(status, 401);
    charger.close().await;
    server.shutdown().await;
}

/// NATS at `ZARYAD_TEST_NATS_URL` (default loopback) and its URL; `None` (and a message) when
/// it is not there outside CI.
async fn nats() -> Option<(async_nats::Client, String)> {
    let url =
        std::env::var("ZARYAD_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    match async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .connect(&url)
        .await
    {
        Ok(client) => Some((client, url)),
        Err(error) if !zaryad_store::testing::in_ci() => {
            eprintln!(
                "skipped: NATS at {url} is not reachable ({error}); CI=true makes this a failure"
            );
            None
        }
        Err(error) => panic!("CI: NATS at {url} is not reachable: {error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_consumer_gets_each_event_once_after_a_publisher_restart() {
    use async_nats::jetstream::{self, consumer};
    use futures_util::StreamExt;

    let Some((client, nats_url)) = nats().await else {
        return;
    };
    // A stream and subjects of this test's own, so that runs cannot meet.
    let unique = format!(
        "{:x}",
        std::process::id() as u64 * 1_000_003 + chrono::Utc::now().timestamp_subsec_nanos() as u64
    );
    let stream_name = format!("ZARYAD_TEST_{unique}");
    let prefix = format!("test{unique}.zaryad.events");
    let db = TestDatabase::sqlite();
    let url = db.url().to_owned();
    let configure = |config: &mut zaryad_server::Config| {
        config.database.url = url.clone();
        config.events.poll_interval_ms = 100;
        config.events.nats.url = Some(nats_url.clone());
        config.events.nats.stream = stream_name.clone();
        config.events.nats.subject_prefix = prefix.clone();
    };
    let server = TestServer::start_with(configure).await;
    server.provision_token("TAG-NATS").await;
    let mut charger = booted_16(&server, "CP-NATS").await;
    session_16(&mut charger, "TAG-NATS", 3000).await;
    charger.close().await;

    let js = jetstream::new(client);
    let stream = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match js.get_stream(&stream_name).await {
                Ok(stream) => break stream,
                Err(error) => {
                    assert!(
                        Instant::now() < deadline,
                        "no stream {stream_name}: {error}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    };
    // A billing system's durable pull consumer.
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("billing".into()),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut received: Vec<Value> = Vec::new();
    let receive = async |received: &mut Vec<Value>, expected: usize, within: Duration| {
        let deadline = Instant::now() + within;
        while received.len() < expected && Instant::now() < deadline {
            let mut batch = consumer
                .fetch()
                .max_messages(100)
                .expires(Duration::from_millis(500))
                .messages()
                .await
                .unwrap();
            while let Some(message) = batch.next().await {
                let message = message.unwrap();
                let header = message
                    .headers
                    .as_ref()
                    .and_then(|headers| headers.get("Nats-Msg-Id"))
                    .map(|value| value.as_str().to_owned());
                let body: Value = serde_json::from_slice(&message.payload).unwrap();
                assert_eq!(
                    header.as_deref(),
                    body["id"].as_str(),
                    "Nats-Msg-Id is the event id"
                );
                assert_eq!(
                    message.subject.as_str(),
                    format!("{prefix}.{}", body["type"].as_str().unwrap())
                );
                message.ack().await.unwrap();
                received.push(body);
            }
        }
    };
    let before = outbox(&server, 0).await;
    receive(&mut received, before.len(), Duration::from_secs(15)).await;
    assert_eq!(received.len(), before.len());

    // The publisher restarts as after a crash that lost its position: it publishes the whole
    // outbox again, and the stream drops what it already has.
    server.shutdown().await;
    db.execute("UPDATE event_cursors SET seq = 0 WHERE name = 'nats'")
        .await
        .unwrap();
    let server = TestServer::start_with(configure).await;
    let mut charger = booted_16(&server, "CP-NATS").await;
    session_16(&mut charger, "TAG-NATS", 5000).await;
    charger.close().await;
    let after = outbox(&server, 0).await;
    assert!(after.len() > before.len());
    receive(&mut received, after.len(), Duration::from_secs(15)).await;
    // Anything more would be a duplicate.
    receive(&mut received, after.len() + 1, Duration::from_secs(2)).await;
    let ids: Vec<&str> = received
        .iter()
        .map(|body| body["id"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = after
        .iter()
        .map(|event| event.data["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, expected, "each event once, in outbox order");
    // The restarted publisher did send the old events again; the stream dropped them.
    let (_, _, metrics) = server.get_text_unauthenticated("/metrics").await;
    let duplicates = metrics
        .lines()
        .find(|line| line.starts_with("zaryad_nats_published_total{outcome=\"duplicate\"}"))
        .and_then(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(duplicates >= before.len() as f64, "{metrics}");
    server.shutdown().await;
    js.delete_stream(&stream_name).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cdr_reads_the_same_whether_the_stop_comes_on_the_starting_connection_or_a_later_one() {
    // The connection that saw a session begin keeps the samples its CDR needs; a stop that
    // arrives on a later connection reads them back. Both must bill alike.
    let server = events_server().await;
    server.provision_token("TAG-CDR").await;
    let base = chrono::Utc::now();
    for (station, reconnect) in [("CP-CDR-SAME", false), ("CP-CDR-LATER", true)] {
        let mut charger = booted_16(&server, station).await;
        let answer = charger
            .call_ok(
                "StartTransaction",
                json!({"connectorId": 1, "idTag": "TAG-CDR", "meterStart": 1000, "timestamp": before(base, 30)}),
            )
            .await;
        let transaction_id = answer["transactionId"].as_i64().unwrap();
        if reconnect {
            charger.close().await;
            charger = booted_16(&server, station).await;
        }
        // Charging until 15 minutes ago (the last rise of the register), then parked.
        for (minutes, wh, watts) in [(25, 1500, 7000), (15, 2500, 11000), (10, 2500, 0)] {
            charger
                .call_ok(
                    "MeterValues",
                    json!({
                        "connectorId": 1,
                        "transactionId": transaction_id,
                        "meterValue": [{"timestamp": before(base, minutes), "sampledValue": [
                            {"value": wh.to_string(), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                            {"value": watts.to_string(), "measurand": "Power.Active.Import", "unit": "W"},
                            {"value": "230", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
                        ]}],
                    }),
                )
                .await;
        }
        charger
            .call_ok(
                "StopTransaction",
                json!({"transactionId": transaction_id, "meterStop": 2500, "timestamp": before(base, 5), "reason": "Local"}),
            )
            .await;
        charger.close().await;
    }
    let events = outbox(&server, 0).await;
    let periods_of = |station: &str| -> Value {
        let ended = events
            .iter()
            .find(|event| {
                event.data["type"] == "session.ended" && event.data["station_id"] == station
            })
            .unwrap_or_else(|| panic!("no session.ended for {station}"));
        let cdr = &ended.data["data"]["cdr"];
        assert_eq!(num(&cdr["total_energy"]), Some(1.5), "{cdr:#}");
        assert_eq!(num(&cdr["total_parking_time"]), Some(0.1667), "{cdr:#}");
        cdr["charging_periods"].clone()
    };
    let expected = json!([
        {"start_date_time": before(base, 30), "dimensions": [
            {"type": "ENERGY", "volume": 1.5},
            {"type": "TIME", "volume": 0.25},
            {"type": "MAX_POWER", "volume": 11.0},
        ]},
        {"start_date_time": before(base, 15), "dimensions": [
            {"type": "PARKING_TIME", "volume": 0.1667},
        ]},
    ]);
    assert_eq!(periods_of("CP-CDR-SAME"), expected);
    assert_eq!(periods_of("CP-CDR-LATER"), expected);
    server.shutdown().await;
}
