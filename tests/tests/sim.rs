//! The simulator against the real server: a handful of chargers of both versions and every
//! dialect run sessions for a few seconds; nothing may fail, and every acknowledged stop must
//! be a completed session in the API with the same meter readings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use zaryad_e2e::{TestServer, num};
use zaryad_server::config::UnknownTokenPolicy;
use zaryad_sim::run::RunConfig;
use zaryad_sim::{ConnectOptions, CycleShape, DialectMix, FleetConfig, Load};

#[tokio::test]
async fn simulated_fleet_runs_sessions_without_errors() {
    let server = TestServer::start_with(|config| {
        config.authorization.unknown_tokens = UnknownTokenPolicy::Accept;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ledger_path = dir.path().join("ledger.jsonl");
    let mut connect = ConnectOptions::new(&format!("ws://{}/ocpp", server.ocpp_addr));
    connect.source_addresses = 2;
    connect.call_timeout = Duration::from_secs(10);
    let summary = zaryad_sim::run(RunConfig {
        connect,
        fleet: FleetConfig {
            count: 6,
            prefix: "E2E-SIM".to_owned(),
            v201_percent: 34,
            dialects: "clean=1,china=1,korea=1".parse::<DialectMix>().unwrap(),
        },
        // 6 chargers at 120 CALL/s: 20 CALL/s each, so a cycle of about a dozen CALLs ends
        // well within the run.
        load: Load::Rate {
            calls_per_second: 120.0,
            shape: CycleShape {
                meter_values: 2,
                heartbeats: 1,
            },
        },
        duration: Duration::from_secs(4),
        // CALLs scheduled in the first second are sent and answered but not counted.
        warmup: Duration::from_secs(1),
        drain_timeout: Duration::from_secs(5),
        ledger: Some(ledger_path.clone()),
        // The server runs in this process: its CPU is the simulator's too.
        server_pid: Some(std::process::id()),
    })
    .await
    .unwrap();
    let text = serde_json::to_string_pretty(&summary).unwrap();
    assert_eq!(summary.errors, 0, "{text}");
    assert_eq!(summary.chargers.connected, 6, "{text}");
    assert_eq!(
        summary.chargers.kinds.len(),
        4,
        "both versions, every dialect: {text}"
    );
    assert_eq!(summary.refused, 0, "{text}");
    assert!(summary.calls.answered > 100, "{text}");
    assert_eq!(summary.warmup_s, 1.0, "{text}");
    // 120 CALL/s over 5 s in all, of which the 4 s measured: ~480 counted, never the ~600 sent.
    assert!(summary.calls.answered < 560, "{text}");
    assert_eq!(summary.calls.sent, summary.calls.answered, "{text}");
    // Second by second, the same CALLs: four measured seconds (and a few scheduled at the end,
    // answered during the drain).
    assert!((4..=5).contains(&summary.timeline.len()), "{text}");
    assert_eq!(
        summary
            .timeline
            .iter()
            .map(|second| second.answered)
            .sum::<u64>(),
        summary.latency_ms.count,
        "{text}"
    );
    assert!(
        summary.timeline[..4]
            .iter()
            .all(|second| second.answered > 50),
        "{text}"
    );
    if cfg!(target_os = "linux") {
        let cpu = summary
            .cpu
            .as_ref()
            .expect("the CPU of the measured window");
        assert!((cpu.window_s - 4.0).abs() < 0.5, "{text}");
        assert!(cpu.machine_cores > 0.0, "{text}");
        // Read a moment apart: a tick (10 ms) may fall between the two reads.
        assert!(
            (cpu.server_cores - cpu.sim_cores).abs() <= 0.01,
            "one process: {text}"
        );
        assert!(cpu.server_us_per_call.is_some_and(|us| us > 0.0), "{text}");
    }
    assert!(summary.sessions_stopped >= 6, "{text}");
    assert!(summary.per_action.contains_key("DataTransfer"), "{text}");
    assert!(
        summary.per_action.contains_key("TransactionEvent"),
        "{text}"
    );

    let ledger = zaryad_sim::ledger::read(&ledger_path).unwrap();
    assert_eq!(ledger.len() as u64, summary.sessions_stopped);
    for entry in &ledger {
        let session = server
            .session_by_transaction(&entry.station, &entry.transaction_id)
            .await;
        assert_eq!(session["state"], "completed", "{session:#}");
        assert_eq!(
            num(&session["meter_start_wh"]),
            Some(entry.meter_start_wh as f64)
        );
        assert_eq!(
            num(&session["meter_stop_wh"]),
            Some(entry.meter_stop_wh as f64)
        );
    }
    for index in 1..=6 {
        let station = server.station(&format!("E2E-SIM-{index:05}")).await;
        assert_eq!(station["registration"], "accepted", "{station:#}");
    }
    server.shutdown().await;
}
