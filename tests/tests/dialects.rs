//! Charger dialects against the real server with the shipped vendor profiles: a Chinese 1.6
//! charger (XQ), a Korean 1.6 charger (tscontech), and a 2.0.1 charger with GB/T guns run full
//! sessions, and the sessions read in the API as a clean charger's do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{Value, json};
use zaryad_e2e::{
    Charger, ConnectOptions, TestServer, assert_num, connector_of, timestamp, wait_until,
};

/// The server with the vendor profiles of `config/vendors`.
async fn server() -> TestServer {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/vendors");
    let server = TestServer::start_with(|config| {
        config.vendors.dir = dir.display().to_string();
    })
    .await;
    for token in ["TAG-CLEAN", "a123456789", "1010010012345678", "GBT-TAG"] {
        server.provision_token(token).await;
    }
    server
}

/// A time `minutes` ago, in UTC with `Z`.
fn utc_ago(minutes: i64) -> String {
    (Utc::now() - Duration::minutes(minutes)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The same instant as Korean wall time wrongly labelled `Z` (tscontech's `localtime()`).
fn kst_as_z_ago(minutes: i64) -> String {
    (Utc::now() - Duration::minutes(minutes) + Duration::hours(9))
        .format("%Y-%m-%dT%H:%M:%S.000Z")
        .to_string()
}

/// The fields a billing system reads, which must not depend on the dialect.
fn billing_view(session: &Value) -> Value {
    json!({
        "state": session["state"],
        "evse_id": session["evse_id"],
        "connector_id": session["connector_id"],
        "meter_start_wh": session["meter_start_wh"],
        "meter_stop_wh": session["meter_stop_wh"],
        "energy_wh": session["energy_wh"],
        "stop_reason": session["stop_reason"],
    })
}

/// A clean 1.6 charger's session: start at 10 minutes ago with 0 Wh, 3 Wh at the stop.
async fn clean_session(server: &TestServer, reason: &str) -> Value {
    let mut charger = Charger::connect(server, "CLEAN-16", "ocpp1.6").await;
    charger
        .call_ok(
            "BootNotification",
            json!({"chargePointVendor": "Clean", "chargePointModel": "C1"}),
        )
        .await;
    let started = charger
        .call_ok(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "TAG-CLEAN", "meterStart": 0, "timestamp": utc_ago(10)}),
        )
        .await;
    let id = started["transactionId"].as_i64().unwrap();
    charger
        .call_ok(
            "StopTransaction",
            json!({"transactionId": id, "meterStop": 3, "timestamp": utc_ago(1), "reason": reason}),
        )
        .await;
    charger.close().await;
    // A charger no profile claims that speaks clean OCPP gets no repair at all.
    let station = server.station("CLEAN-16").await;
    assert_eq!(
        station["profile"],
        json!({"name": "generic", "reason": "default"})
    );
    let frames = server.get_ok("/api/v1/stations/CLEAN-16/messages").await;
    for frame in frames.as_array().unwrap() {
        assert_eq!(frame["repairs"], json!([]), "{frame:#}");
    }
    let session = server.only_session_of("CLEAN-16").await;
    assert_eq!(session["quirks"], json!([]));
    session
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chinese_xq_charger_reads_like_a_clean_one() {
    let server = server().await;
    let clean = clean_session(&server, "Remote").await;

    let mut charger = Charger::connect(&server, "XQ-E2E", "ocpp1.6").await;
    // B04-a: customData inside a 1.6 boot.
    let boot = charger
        .call_ok(
            "BootNotification",
            json!({"chargePointVendor": "XQ", "chargePointModel": "ocpp_ac_7kw",
                "chargePointSerialNumber": "ks0117100000008", "firmwareVersion": "250722",
                "iccid": "", "imsi": "", "customData": {"moduleVersion": "FC4X.250723", "networkType": "1"}}),
        )
        .await;
    assert_eq!(boot["status"], "Accepted");
    // R02-a/b: StatusNotification and StartTransaction back to back, neither answered yet.
    let started_at = utc_ago(10);
    charger
        .send_raw(
            &json!([2, "pipe-1", "StatusNotification", {"connectorId": 1, "status": "Preparing",
                "errorCode": "NoError", "info": "", "timestamp": started_at}])
            .to_string(),
        )
        .await;
    charger
        .send_raw(
            &json!([2, "pipe-2", "StartTransaction", {"connectorId": 1, "idTag": "a123456789",
                "meterStart": 0, "timestamp": started_at}])
            .to_string(),
        )
        .await;
    assert_eq!(
        charger.answer_to("pipe-1", "StatusNotification").await,
        Ok(json!({}))
    );
    let started = charger
        .answer_to("pipe-2", "StartTransaction")
        .await
        .unwrap();
    assert_eq!(started["idTagInfo"]["status"], "Accepted");
    let id = started["transactionId"].as_i64().unwrap();
    // M03-a: Current.Offered is the measured current.
    charger
        .call_ok(
            "MeterValues",
            json!({"connectorId": 1, "transactionId": id, "meterValue": [{"timestamp": utc_ago(5),
                "sampledValue": [
                    {"value": "0", "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "40", "context": "Sample.Periodic", "measurand": "Power.Active.Import", "unit": "W"},
                    {"value": "0.1", "context": "Sample.Periodic", "measurand": "Current.Offered", "unit": "A"}]}]}),
        )
        .await;
    // X01-b: an extra connectorId and a 2.0.1 reason after a remote stop.
    let stopped = charger
        .call_ok(
            "StopTransaction",
            json!({"connectorId": 1, "idTag": "a123456789", "transactionId": id, "meterStop": 3,
                "reason": "EnergyLimitReached", "timestamp": utc_ago(1)}),
        )
        .await;
    assert_eq!(stopped["idTagInfo"]["status"], "Accepted");

    let session = server.only_session_of("XQ-E2E").await;
    assert_eq!(billing_view(&session), billing_view(&clean));
    assert_eq!(session["id_token"], "a123456789");
    assert_num(&session, "power_w", 40.0);
    assert_eq!(session["quirks"], json!(["enum-alias"]));
    let measurands = server.measurands_of(&session).await;
    assert!(
        measurands.iter().any(|m| m == "Current.Import"),
        "{measurands:?}"
    );
    let station = server.station("XQ-E2E").await;
    assert_eq!(station["profile"]["name"], "china-xq");
    assert_eq!(
        station["profile"]["reason"],
        "matched vendor=XQ model=ocpp_ac_*"
    );
    assert_eq!(
        connector_of(&station, 1, 1).unwrap()["connector_type"],
        "gbt_ac"
    );

    // The frame log shows each repair with its frame, and exports a replayable trace.
    let frames = server
        .get_ok("/api/v1/stations/XQ-E2E/messages?limit=50")
        .await;
    let repaired: Vec<&Value> = frames
        .as_array()
        .unwrap()
        .iter()
        .filter(|frame| frame["repairs"].as_array().is_some_and(|r| !r.is_empty()))
        .collect();
    assert!(
        repaired
            .iter()
            .any(|f| f["repairs"] == json!(["customdata-in-ocpp16"])),
        "{frames:#}"
    );
    let response = server
        .http
        .get(server.url("/api/v1/stations/XQ-E2E/messages?format=jsonl&limit=50"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let trace = response.text().await.unwrap();
    let first: Value = serde_json::from_str(trace.lines().next().unwrap()).unwrap();
    assert_eq!(first["direction"], "cp->csms");
    assert_eq!(first["frame"][2], "BootNotification");
    let report = zaryad_server::replay::replay(
        &trace,
        &zaryad_server::replay::ReplayOptions {
            profiles_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/vendors"),
            station_id: "unused".to_owned(),
        },
    )
    .await
    .unwrap();
    let replayed = report["sessions"].as_array().unwrap();
    assert_eq!(replayed.len(), 1, "{report:#}");
    assert_eq!(billing_view(&replayed[0]), billing_view(&session));

    // Metrics count the repair by profile and vendor.
    let (_, _, metrics) = server.get_text_unauthenticated("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("zaryad_repairs_total")
                && line.contains("profile=\"china-xq\"")
                && line.contains("repair=\"enum-alias\"")
                && line.contains("vendor=\"XQ\"")),
        "{metrics}"
    );
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_korean_tscontech_charger_reads_like_a_clean_one() {
    let server = server().await;
    let clean = clean_session(&server, "Local").await;

    // §1.1: the curl-based client sends no Sec-WebSocket-Protocol header.
    let options = ConnectOptions::default();
    let mut charger = Charger::try_connect(&server.ws_url("TSCT-E2E"), &options)
        .await
        .unwrap();
    charger
        .call_ok(
            "BootNotification",
            json!({"chargePointVendor": "tscontech", "chargePointModel": "TSCT-2007CP"}),
        )
        .await;
    // D03-b: KST wall time labelled Z everywhere.
    let started = charger
        .call_ok(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "1010010012345678", "meterStart": 0, "timestamp": kst_as_z_ago(10)}),
        )
        .await;
    let id = started["transactionId"].as_i64().unwrap();
    charger
        .call_ok(
            "MeterValues",
            json!({"connectorId": 1, "transactionId": id, "meterValue": [{"timestamp": kst_as_z_ago(5),
                "sampledValue": [
                    {"value": "2", "measurand": "Energy.Active.Import.Register", "context": "Sample.Periodic", "unit": "Wh"},
                    {"value": "31", "measurand": "Current.Export", "context": "Sample.Periodic", "unit": "A"}]}]}),
        )
        .await;
    // DT01-d: temperature in a JSON array packed in a string; DT01-a: pricing is not known here.
    let status = charger
        .call_ok(
            "DataTransfer",
            json!({"vendorId": "tscontech", "messageId": "cpSts",
                "data": format!("[{{\"timestamp\":\"{}\",\"sampledValue\":[{{\"position\":\"\",\"temperature\":\"31\",\"humidity\":\"40\"}}]}}]", kst_as_z_ago(4))}),
        )
        .await;
    assert_eq!(status, json!({"status": "Accepted"}));
    let price = charger
        .call_ok(
            "DataTransfer",
            json!({"vendorId": "tscontech", "messageId": "j1", "data": ""}),
        )
        .await;
    assert_eq!(price, json!({"status": "UnknownMessageId"}));
    let other = charger
        .call_ok(
            "DataTransfer",
            json!({"vendorId": "someone", "messageId": "x"}),
        )
        .await;
    assert_eq!(other, json!({"status": "UnknownVendorId"}));
    charger
        .call_ok(
            "StopTransaction",
            json!({"transactionId": id, "meterStop": 3, "timestamp": kst_as_z_ago(1), "reason": "Local"}),
        )
        .await;

    let session = server.only_session_of("TSCT-E2E").await;
    assert_eq!(billing_view(&session), billing_view(&clean));
    // The times are the real instants: within a minute of the clean charger's.
    for key in ["started_at", "ended_at"] {
        let skew = timestamp(&session[key]) - timestamp(&clean[key]);
        assert!(
            skew.num_seconds().abs() < 60,
            "{key}: {session:#} vs {clean:#}"
        );
    }
    let quirks = session["quirks"].as_array().unwrap();
    assert!(
        quirks.contains(&json!("timestamp-local-zone")),
        "{session:#}"
    );
    let measurands = server.measurands_of(&session).await;
    for measurand in ["Current.Import", "Temperature"] {
        assert!(measurands.iter().any(|m| m == measurand), "{measurands:?}");
    }
    let station = server.station("TSCT-E2E").await;
    assert_eq!(station["ocpp_version"], "1.6");
    assert_eq!(station["profile"]["name"], "korea-tscontech");
    assert_eq!(
        connector_of(&station, 1, 1).unwrap()["connector_type"],
        "type1"
    );

    // The operator pins the generic profile: the next message is read without the zone.
    server
        .put_ok(
            "/api/v1/stations/TSCT-E2E",
            json!({"vendor_profile": "generic"}),
        )
        .await;
    charger.call_ok("Heartbeat", json!({})).await;
    let station = server.station("TSCT-E2E").await;
    assert_eq!(station["vendor_profile"], "generic");
    assert_eq!(
        station["profile"],
        json!({"name": "generic", "reason": "pinned"})
    );
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_201_charger_with_gbt_guns_runs_a_session() {
    let server = server().await;
    let mut charger = Charger::connect(&server, "GBT-E2E", "ocpp2.0.1").await;
    charger
        .call_ok(
            "BootNotification",
            json!({"reason": "PowerUp", "chargingStation": {"vendorName": "Example DC", "model": "DC120-GBT"}}),
        )
        .await;
    // The device model names the guns, with the errata's values.
    charger
        .call_ok(
            "NotifyReport",
            json!({"requestId": 1, "generatedAt": utc_ago(0), "seqNo": 0, "reportData": [
                {"component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                 "variable": {"name": "ConnectorType"}, "variableAttribute": [{"type": "Actual", "value": "cGBT"}]},
                {"component": {"name": "Connector", "evse": {"id": 2, "connectorId": 1}},
                 "variable": {"name": "ConnectorType"}, "variableAttribute": [{"type": "Actual", "value": "cChaoJi"}]}]}),
        )
        .await;
    let started = charger
        .call_ok(
            "TransactionEvent",
            json!({"eventType": "Started", "timestamp": utc_ago(10), "triggerReason": "Authorized",
                "seqNo": 0, "transactionInfo": {"transactionId": "gbt-tx-1", "chargingState": "Charging"},
                "idToken": {"idToken": "GBT-TAG", "type": "ISO14443"}, "evse": {"id": 1, "connectorId": 1},
                "meterValue": [{"timestamp": utc_ago(10), "sampledValue": [
                    {"value": 1000.0, "context": "Transaction.Begin", "unitOfMeasure": {"unit": "Wh"}}]}]}),
        )
        .await;
    assert_eq!(started["idTokenInfo"]["status"], "Accepted");
    charger
        .call_ok(
            "TransactionEvent",
            json!({"eventType": "Updated", "timestamp": utc_ago(5), "triggerReason": "MeterValuePeriodic",
                "seqNo": 1, "transactionInfo": {"transactionId": "gbt-tx-1"},
                "meterValue": [{"timestamp": utc_ago(5), "sampledValue": [
                    {"value": 11.5, "unitOfMeasure": {"unit": "kWh"}},
                    {"value": 63, "measurand": "SoC"}]}]}),
        )
        .await;
    charger
        .call_ok(
            "TransactionEvent",
            json!({"eventType": "Ended", "timestamp": utc_ago(1), "triggerReason": "EVDeparted",
                "seqNo": 2, "transactionInfo": {"transactionId": "gbt-tx-1", "stoppedReason": "EVDisconnected"},
                "meterValue": [{"timestamp": utc_ago(1), "sampledValue": [
                    {"value": 21000, "context": "Transaction.End", "unitOfMeasure": {"unit": "Wh"}}]}]}),
        )
        .await;
    let session = server.only_session_of("GBT-E2E").await;
    assert_eq!(session["state"], "completed");
    assert_eq!(session["id_token"], "GBT-TAG");
    assert_num(&session, "meter_start_wh", 1000.0);
    assert_num(&session, "meter_stop_wh", 21000.0);
    assert_num(&session, "energy_wh", 20000.0);
    assert_num(&session, "soc_percent", 63.0);
    assert_eq!(session["stop_reason"], "ev_disconnected");
    assert_eq!(session["quirks"], json!([]));
    let station = server.station("GBT-E2E").await;
    assert_eq!(
        connector_of(&station, 1, 1).unwrap()["connector_type"],
        "gbt_dc"
    );
    assert_eq!(
        connector_of(&station, 2, 1).unwrap()["connector_type"],
        "chaoji"
    );
    assert_eq!(
        station["profile"],
        json!({"name": "generic", "reason": "default"})
    );
    charger.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_json_is_repaired_only_for_the_profile_that_knows_it() {
    let server = server().await;
    let frame = r#"[2,"beny-1","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"2026-03-01T10:00:00Z","sampledValue":[,{"value":"1500"}]}]}]"#;
    // R01-b: ZJ Beny's leading comma, from a station the byte-level profile claims.
    let mut beny = Charger::connect(&server, "GRS-E2E", "ocpp1.6").await;
    beny.call_ok(
        "BootNotification",
        json!({"chargePointVendor": "ZJ Beny", "chargePointModel": "BCP"}),
    )
    .await;
    beny.send_raw(frame).await;
    assert_eq!(beny.answer_to("beny-1", "MeterValues").await, Ok(json!({})));
    let frames = server.get_ok("/api/v1/stations/GRS-E2E/messages").await;
    let logged = frames
        .as_array()
        .unwrap()
        .iter()
        .find(|logged| logged["text"] == frame)
        .unwrap_or_else(|| panic!("{frames:#}"));
    assert_eq!(logged["repairs"], json!(["json-stray-comma"]));
    // Any other charger gets the spec's answer to invalid JSON.
    let mut other = Charger::connect(&server, "PLAIN-E2E", "ocpp1.6").await;
    other.send_raw(frame).await;
    let answer = other.recv_frame().await;
    assert_eq!(answer[0], 4, "{answer}");
    beny.close().await;
    other.close().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_profiles_are_listed_and_reloaded() {
    let server = server().await;
    let profiles = server.get_ok("/api/v1/vendor-profiles").await;
    let profiles = profiles.as_array().unwrap();
    assert_eq!(profiles[0]["name"], "generic");
    let xq = profiles.iter().find(|p| p["name"] == "china-xq").unwrap();
    assert_eq!(xq["match"], json!(["vendor=XQ model=ocpp_ac_*"]));
    assert!(
        xq["repairs"]
            .as_array()
            .unwrap()
            .contains(&json!("enum-alias"))
    );
    let lselink = profiles
        .iter()
        .find(|p| p["name"] == "korea-lselink")
        .unwrap();
    assert_eq!(lselink["data_transfer"][0]["message_id"], "MeterValues");
    let (status, body) = server
        .request(
            reqwest::Method::POST,
            "/api/v1/vendor-profiles/reload",
            Some(&format!("Bearer {}", server.token)),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["loaded"].as_u64(), Some(profiles.len() as u64));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_profile_file_stops_the_start_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.toml"),
        "description = \"x\"\n[repairs]\ntimestamp-local-zone = { zone = \"Asia/Atlantis\" }\n",
    )
    .unwrap();
    let mut config = zaryad_server::Config::default();
    config.ocpp.listen = "127.0.0.1:0".to_owned();
    config.api.listen = "127.0.0.1:0".to_owned();
    config.database.url = format!("sqlite://{}", dir.path().join("z.db").display());
    config.vendors.dir = dir.path().display().to_string();
    let error = match zaryad_server::start(config).await {
        Ok(_) => panic!("the server started with an invalid profile"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("broken.toml:3:"), "{error}");
    assert!(error.contains("Asia/Atlantis"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plug_types_come_from_the_configuration_keys_a_profile_names() {
    // 1.6 has no key for plug types; a vendor that reports them in its own keys gets a profile
    // naming those keys, and the boot-time GetConfiguration answer sets the connectors' types.
    let vendors = tempfile::tempdir().unwrap();
    std::fs::write(
        vendors.path().join("acme.toml"),
        "description = \"Acme DC, plug types in GunType\"\n\
         connector-type-keys = [\"GunType\", \"Connector{n}Type\"]\n\
         [[match]]\nvendor = \"Acme EV\"\n",
    )
    .unwrap();
    let dir = vendors.path().display().to_string();
    let server = TestServer::start_with(|config| {
        config.vendors.dir = dir;
        config.ocpp.configure_on_boot = true;
    })
    .await;
    for (station, vendor) in [("ACME-1", "Acme EV"), ("OTHER-1", "Other")] {
        let mut charger = Charger::connect(&server, station, "ocpp1.6").await;
        let booted = charger
            .call_ok(
                "BootNotification",
                json!({"chargePointVendor": vendor, "chargePointModel": "DC120"}),
            )
            .await;
        assert_eq!(booted["status"], "Accepted");
        let responder = charger.respond_with(|call| {
            Ok(match call.action.as_str() {
                "GetConfiguration" => json!({"configurationKey": [
                    {"key": "GunType", "readonly": true, "value": "GBT_DC, CCS2"},
                    {"key": "Connector3Type", "readonly": true, "value": "Type2"},
                    {"key": "HeartbeatInterval", "readonly": false, "value": "300"}
                ]}),
                _ => json!({"status": "Accepted"}),
            })
        });
        let path = format!("/api/v1/stations/{station}/configuration");
        wait_until("the boot-time configuration is stored", || async {
            let (status, body) = server.get(&path).await;
            status == 200
                && body["configuration"]
                    .as_array()
                    .is_some_and(|keys| keys.len() == 3)
        })
        .await;
        let (charger, calls) = responder.stop().await;
        assert_eq!(calls[0].action, "GetConfiguration");
        charger.close().await;
    }
    let types = |station: &serde_json::Value| -> Vec<serde_json::Value> {
        (1..=3)
            .map(|evse| {
                connector_of(station, evse, 1).map_or(json!(null), |c| c["connector_type"].clone())
            })
            .collect()
    };
    let acme = server.station("ACME-1").await;
    assert_eq!(acme["profile"]["name"], "acme");
    assert_eq!(
        types(&acme),
        [json!("gbt_dc"), json!("ccs2"), json!("type2")]
    );
    // The same keys mean nothing for a station whose profile does not name them.
    let other = server.station("OTHER-1").await;
    assert_eq!(types(&other), [json!(null), json!(null), json!(null)]);
    let profiles = server.get_ok("/api/v1/vendor-profiles").await;
    let listed = profiles
        .as_array()
        .unwrap()
        .iter()
        .find(|profile| profile["name"] == "acme")
        .unwrap();
    assert_eq!(
        listed["connector_type_keys"],
        json!(["GunType", "Connector{n}Type"])
    );
    server.shutdown().await;
}
