//! A whole OCPP 1.6 charging session, checked through the REST API at every step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use zaryad_e2e::{
    Charger, TestServer, assert_num, booted_16, connector_of, num, time_ago, timestamp,
};

const STATION: &str = "CP16-SESSION";

async fn status(charger: &mut Charger, connector_id: u32, status: &str) {
    let answer = charger
        .call_ok(
            "StatusNotification",
            json!({
                "connectorId": connector_id,
                "errorCode": "NoError",
                "status": status,
                "timestamp": time_ago(0),
            }),
        )
        .await;
    assert_eq!(answer, json!({}), "StatusNotification {status} answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_16_session_is_recorded_exactly() {
    let server = TestServer::start().await;
    server.provision_token("TAG-OK-16").await;

    let mut charger = Charger::connect(&server, STATION, "ocpp1.6").await;
    assert_eq!(charger.protocol.as_deref(), Some("ocpp1.6"));
    let boot = charger
        .call_ok(
            "BootNotification",
            json!({
                "chargePointVendor": "Acme",
                "chargePointModel": "AC22",
                "chargePointSerialNumber": "SN-16-0001",
                "firmwareVersion": "1.2.3",
            }),
        )
        .await;
    assert_eq!(boot["status"], "Accepted");
    assert_eq!(
        boot["interval"].as_u64(),
        Some(300),
        "default heartbeat interval: {boot}"
    );
    let server_time = timestamp(&boot["currentTime"]);
    assert!((chrono::Utc::now() - server_time).num_seconds().abs() < 60);

    let station = server.station(STATION).await;
    assert_eq!(station["id"], STATION);
    assert_eq!(station["connected"], true);
    assert_eq!(station["ocpp_version"], "1.6");
    assert_eq!(station["vendor"], "Acme");
    assert_eq!(station["model"], "AC22");
    assert_eq!(station["serial_number"], "SN-16-0001");
    assert_eq!(station["firmware_version"], "1.2.3");
    assert_eq!(station["registration"], "accepted");
    assert!(station["last_seen_at"].is_string(), "{station:#}");

    let heartbeat = charger.call_ok("Heartbeat", json!({})).await;
    timestamp(&heartbeat["currentTime"]);

    // A vehicle is plugged in.
    status(&mut charger, 1, "Preparing").await;
    let station = server.station(STATION).await;
    let connector =
        connector_of(&station, 1, 1).unwrap_or_else(|| panic!("no connector 1/1: {station:#}"));
    assert_eq!(connector["status"], "occupied");
    assert!(
        connector["error_code"].is_null(),
        "NoError is no error: {connector}"
    );

    // Authorization: a provisioned token and an unknown one (reject policy).
    let authorized = charger
        .call_ok("Authorize", json!({"idTag": "TAG-OK-16"}))
        .await;
    assert_eq!(authorized["idTagInfo"]["status"], "Accepted");
    let unknown = charger
        .call_ok("Authorize", json!({"idTag": "TAG-NOBODY"}))
        .await;
    assert_eq!(unknown["idTagInfo"]["status"], "Invalid");

    // The transaction starts.
    let started_at = time_ago(10);
    let start = json!({
        "connectorId": 1,
        "idTag": "TAG-OK-16",
        "meterStart": 1000,
        "timestamp": started_at,
    });
    let answer = charger.call_ok("StartTransaction", start.clone()).await;
    let transaction_id = answer["transactionId"]
        .as_i64()
        .unwrap_or_else(|| panic!("{answer}"));
    assert!(transaction_id > 0, "transactionId {transaction_id}");
    assert_eq!(answer["idTagInfo"]["status"], "Accepted");

    // The charger lost the answer and sends the same start again: same id, one session.
    let again = charger.call_ok("StartTransaction", start).await;
    assert_eq!(
        again["transactionId"].as_i64(),
        Some(transaction_id),
        "{again}"
    );
    assert_eq!(again["idTagInfo"]["status"], "Accepted");

    let session = server.only_session_of(STATION).await;
    let session_id = session["id"].as_str().unwrap().to_owned();
    assert_eq!(session["station_id"], STATION);
    assert_eq!(session["transaction_id"], transaction_id.to_string());
    assert_eq!(session["state"], "active");
    assert_eq!(session["id_token"], "TAG-OK-16");
    assert_eq!(session["evse_id"].as_u64(), Some(1));
    assert_eq!(session["connector_id"].as_u64(), Some(1));
    assert_num(&session, "meter_start_wh", 1000.0);
    assert!(session["ended_at"].is_null());
    assert!(session["stop_reason"].is_null());
    assert!(session["meter_stop_wh"].is_null());
    assert_eq!(
        timestamp(&session["started_at"]),
        timestamp(&json!(started_at))
    );
    let started_text = session["started_at"].as_str().unwrap();
    assert!(
        started_text.ends_with('Z') || started_text.ends_with("+00:00"),
        "timestamps are RFC 3339 UTC: {started_text}"
    );

    status(&mut charger, 1, "Charging").await;
    assert_eq!(
        server.connector_status(STATION, 1, 1).await.as_deref(),
        Some("charging")
    );

    // Meter values: energy in kWh, power in W, state of charge.
    let sampled_at = time_ago(5);
    let answer = charger
        .call_ok(
            "MeterValues",
            json!({
                "connectorId": 1,
                "transactionId": transaction_id,
                "meterValue": [{
                    "timestamp": sampled_at,
                    "sampledValue": [
                        {"value": "1.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh", "context": "Sample.Periodic"},
                        {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
                        {"value": "42", "measurand": "SoC", "unit": "Percent"},
                    ],
                }],
            }),
        )
        .await;
    assert_eq!(answer, json!({}));
    let session = server.session(&session_id).await;
    assert_eq!(session["state"], "active");
    assert_num(&session, "energy_wh", 500.0);
    assert_num(&session, "power_w", 7200.0);
    assert_num(&session, "soc_percent", 42.0);
    assert_num(&session, "meter_start_wh", 1000.0);

    // The transaction stops.
    let stopped_at = time_ago(1);
    let stop = json!({
        "transactionId": transaction_id,
        "idTag": "TAG-OK-16",
        "meterStop": 12345,
        "timestamp": stopped_at,
        "reason": "EVDisconnected",
        "transactionData": [{
            "timestamp": stopped_at,
            "sampledValue": [
                {"value": "12345", "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": "Transaction.End"},
                {"value": "80", "measurand": "SoC", "unit": "Percent", "context": "Transaction.End"},
            ],
        }],
    });
    let answer = charger.call_ok("StopTransaction", stop.clone()).await;
    assert_eq!(answer["idTagInfo"]["status"], "Accepted", "{answer}");

    let completed = server.session(&session_id).await;
    assert_eq!(completed["state"], "completed");
    assert_eq!(completed["transaction_id"], transaction_id.to_string());
    assert_eq!(completed["id_token"], "TAG-OK-16");
    assert_eq!(completed["stop_reason"], "ev_disconnected");
    assert_num(&completed, "meter_start_wh", 1000.0);
    assert_num(&completed, "meter_stop_wh", 12345.0);
    assert_num(&completed, "energy_wh", 11345.0);
    assert_num(&completed, "soc_percent", 80.0);
    assert_eq!(
        timestamp(&completed["ended_at"]),
        timestamp(&json!(stopped_at))
    );
    assert_eq!(
        timestamp(&completed["started_at"]),
        timestamp(&json!(started_at))
    );

    // A resent stop changes nothing.
    let answer = charger.call_ok("StopTransaction", stop).await;
    assert!(answer.is_object(), "{answer}");
    let sessions = server.sessions_of(STATION).await;
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    assert_eq!(server.session(&session_id).await, completed);

    // Filters.
    let active = server
        .get_ok(&format!(
            "/api/v1/sessions?station_id={STATION}&state=active"
        ))
        .await;
    assert_eq!(active, json!([]));
    let done = server
        .get_ok(&format!(
            "/api/v1/sessions?station_id={STATION}&state=completed"
        ))
        .await;
    assert_eq!(done.as_array().map(Vec::len), Some(1));
    assert_eq!(done[0]["id"], session_id);

    // The meter values, normalized to Wh, W and Percent.
    let samples = server
        .get_ok(&format!("/api/v1/sessions/{session_id}/meter-values"))
        .await;
    let samples = samples
        .as_array()
        .unwrap_or_else(|| panic!("{samples}"))
        .clone();
    let find = |measurand: &str, context: &str| -> Value {
        samples
            .iter()
            .find(|sample| sample["measurand"] == measurand && sample["context"] == context)
            .unwrap_or_else(|| panic!("no {measurand} sample in {context}: {samples:#?}"))
            .clone()
    };
    let energy = find("Energy.Active.Import.Register", "Sample.Periodic");
    assert_num(&energy, "value", 1500.0);
    assert_eq!(energy["unit"], "Wh");
    assert_eq!(
        timestamp(&energy["timestamp"]),
        timestamp(&json!(sampled_at))
    );
    let power = find("Power.Active.Import", "Sample.Periodic");
    assert_num(&power, "value", 7200.0);
    assert_eq!(power["unit"], "W");
    let soc = find("SoC", "Sample.Periodic");
    assert_num(&soc, "value", 42.0);
    assert_eq!(soc["unit"], "Percent");
    let end = find("Energy.Active.Import.Register", "Transaction.End");
    assert_num(&end, "value", 12345.0);
    assert_eq!(end["unit"], "Wh");
    let end_soc = find("SoC", "Transaction.End");
    assert_num(&end_soc, "value", 80.0);
    assert_eq!(samples.len(), 5, "{samples:#?}");
    let times: Vec<_> = samples
        .iter()
        .map(|sample| timestamp(&sample["timestamp"]))
        .collect();
    assert!(
        times.windows(2).all(|pair| pair[0] <= pair[1]),
        "not in time order: {samples:#?}"
    );

    // The connector goes back to available.
    status(&mut charger, 1, "Finishing").await;
    assert_eq!(
        server.connector_status(STATION, 1, 1).await.as_deref(),
        Some("finishing")
    );
    status(&mut charger, 1, "Available").await;
    assert_eq!(
        server.connector_status(STATION, 1, 1).await.as_deref(),
        Some("available")
    );

    charger.close().await;
    server.shutdown().await;
}

/// Two transactions one after the other get different ids and separate sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consecutive_16_transactions_get_distinct_ids() {
    let server = TestServer::start_with(|config| {
        config.authorization.unknown_tokens = zaryad_server::config::UnknownTokenPolicy::Accept;
    })
    .await;
    let mut charger = booted_16(&server, "CP16-TWICE").await;
    let mut ids = Vec::new();
    for (round, (meter_start, meter_stop)) in
        [(0_i64, 2500_i64), (2500, 4000)].into_iter().enumerate()
    {
        let answer = charger
            .call_ok(
                "StartTransaction",
                json!({"connectorId": 1, "idTag": "ANYONE", "meterStart": meter_start, "timestamp": time_ago(30 - 10 * round as i64)}),
            )
            .await;
        // Unknown tokens are accepted under the accept policy.
        assert_eq!(answer["idTagInfo"]["status"], "Accepted");
        let id = answer["transactionId"].as_i64().unwrap();
        charger
            .call_ok(
                "StopTransaction",
                json!({"transactionId": id, "meterStop": meter_stop, "timestamp": time_ago(25 - 10 * round as i64)}),
            )
            .await;
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1]);
    assert!(ids.iter().all(|id| *id > 0));
    let first = server
        .session_by_transaction("CP16-TWICE", &ids[0].to_string())
        .await;
    let second = server
        .session_by_transaction("CP16-TWICE", &ids[1].to_string())
        .await;
    assert_num(&first, "energy_wh", 2500.0);
    assert_num(&second, "energy_wh", 1500.0);
    // A StopTransaction without a reason means Local (1.6 §6.49).
    assert_eq!(first["stop_reason"], "local");
    assert_eq!(second["state"], "completed");
    assert_eq!(num(&second["meter_stop_wh"]), Some(4000.0));
    charger.close().await;
    server.shutdown().await;
}

/// kWh readings become Wh without binary floating-point error: 1.005 kWh is 1005 Wh, not
/// 1004.9999999999999 Wh (money is computed from these numbers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kwh_readings_become_exact_wh_in_16() {
    let server = TestServer::start().await;
    server.provision_token("TAG-PREC").await;
    let mut charger = booted_16(&server, "CP16-PRECISION").await;
    let answer = charger
        .call_ok(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "TAG-PREC", "meterStart": 0, "timestamp": time_ago(10)}),
        )
        .await;
    let transaction_id = answer["transactionId"].as_i64().unwrap();
    charger
        .call_ok(
            "MeterValues",
            json!({
                "connectorId": 1,
                "transactionId": transaction_id,
                "meterValue": [{
                    "timestamp": time_ago(5),
                    "sampledValue": [{"value": "1.005", "measurand": "Energy.Active.Import.Register", "unit": "kWh"}],
                }],
            }),
        )
        .await;
    let session = server.only_session_of("CP16-PRECISION").await;
    let samples = server
        .get_ok(&format!(
            "/api/v1/sessions/{}/meter-values",
            session["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(samples.as_array().map(Vec::len), Some(1), "{samples}");
    assert_eq!(samples[0]["unit"], "Wh");
    assert_num(&samples[0], "value", 1005.0);
    assert_num(&session, "energy_wh", 1005.0);
    charger.close().await;
    server.shutdown().await;
}
