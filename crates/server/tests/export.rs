//! `zaryad export`: the real binary writes sessions as JSON lines, on both databases.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

use chrono::TimeZone;
use serde_json::Value;
use zaryad_model::{Session, SessionState, StationId, StopReason, Timestamp};
use zaryad_server::views::SessionView;
use zaryad_store::testing::{Engine, TestDatabase};
use zaryad_store::{StoreOptions, WriteBatch, WriteOp};

fn at(day: u32, hour: u32) -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 3, day, hour, 0, 0)
        .unwrap()
        + chrono::Duration::nanoseconds(123_456_789)
}

fn session(n: u32, day: u32, hour: u32) -> Session {
    let completed = n.is_multiple_of(2);
    Session {
        id: format!("s-{n}"),
        station_id: StationId::parse(&format!("CP-{}", n % 3)).unwrap(),
        evse_id: 1,
        connector_id: 1,
        transaction_id: n.to_string(),
        id_token: Some("TAG".into()),
        state: if completed {
            SessionState::Completed
        } else {
            SessionState::Active
        },
        started_at: at(day, hour),
        ended_at: completed.then(|| at(day, hour + 1)),
        meter_start_wh: Some(1000.0),
        meter_stop_wh: completed.then_some(1000.0 + f64::from(n) * 1234.5),
        meter_last_wh: None,
        energy_wh: Some(f64::from(n) * 1234.5),
        stop_reason: completed.then_some(StopReason::Local),
        soc_percent: None,
        power_w: None,
        charging_state: None,
        last_seq_no: None,
        remote_start_id: None,
        quirks: vec![],
        register: Default::default(),
        updated_at: at(day, hour + 2),
    }
}

/// Runs `zaryad export ARGS` against `db` from an empty directory; returns (success, stdout,
/// stderr).
fn export(db: &TestDatabase, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_zaryad"))
        .arg("export")
        .args(args)
        .current_dir(db.dir())
        .env("ZARYAD_DATABASE__URL", db.url())
        .env("ZARYAD_LOG__LEVEL", "warn")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

async fn exports_sessions_as_json_lines(engine: Engine) {
    let Some(db) = TestDatabase::new(engine).await else {
        return;
    };
    // Out of order on purpose, with two sessions sharing a start time; more sessions than
    // one page so that paging is exercised.
    let mut sessions = vec![session(1, 5, 10), session(2, 3, 10), session(3, 3, 10)];
    sessions.extend((10..1210).map(|n| session(n, 20, 0)));
    sessions.push(session(4, 28, 10));
    {
        let store = zaryad_store::open(&StoreOptions {
            url: db.url().to_owned(),
            frame_retention: None,
            ..StoreOptions::default()
        })
        .await
        .unwrap();
        let ops = sessions
            .iter()
            .cloned()
            .map(WriteOp::UpsertSession)
            .collect();
        store.commit(WriteBatch { ops }).await.unwrap();
    }
    let view = |session: &Session| SessionView::json(session);

    // A window: start inclusive, end exclusive, oldest first, insertion order within a tie.
    let (ok, stdout, stderr) = export(
        &db,
        &[
            "--since",
            "2026-03-03T10:00:00.123456789Z",
            "--until",
            "2026-03-20",
        ],
    );
    assert!(ok, "{stderr}");
    assert_eq!(
        lines(&stdout),
        [view(&sessions[1]), view(&sessions[2]), view(&sessions[0])]
    );

    // Into a file, without an upper bound, across pages.
    let file = db.dir().join("sessions.jsonl");
    let (ok, stdout, stderr) = export(
        &db,
        &["--since", "2026-03-04", "--output", file.to_str().unwrap()],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.is_empty());
    let written = lines(&std::fs::read_to_string(&file).unwrap());
    let mut expected = vec![view(&sessions[0])];
    expected.extend(sessions[3..].iter().map(view));
    assert_eq!(written.len(), expected.len());
    assert_eq!(written, expected);
    assert_eq!(written[0]["energy_wh"].to_string(), "1234.5");

    let (ok, _, stderr) = export(&db, &["--since", "yesterday"]);
    assert!(!ok);
    assert!(stderr.contains("RFC 3339"), "{stderr}");
}

#[tokio::test]
async fn export_writes_sessions_as_json_lines_sqlite() {
    exports_sessions_as_json_lines(Engine::Sqlite).await;
}

#[tokio::test]
async fn export_writes_sessions_as_json_lines_postgres() {
    exports_sessions_as_json_lines(Engine::Postgres).await;
}
