//! No acknowledged session is ever lost: the server is SIGKILLed under load from chargers of
//! both OCPP versions, restarted on the same database, and the chargers resend whatever was
//! never answered. Then every session whose stop got a CALLRESULT must be stored with the
//! energy the charger reported, none twice, with every acknowledged meter sample. Once per
//! database; PostgreSQL tests skip outside CI when there is no server (see
//! `zaryad_store::testing`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use zaryad_e2e::crash::{Load, LoadPlan, ServerProcess, check_ledgers};
use zaryad_store::testing::{Engine, TestDatabase};

const SERVER: &str = env!("CARGO_BIN_EXE_zaryad_under_test");

/// Log lines that mean the database could not keep up.
const OVERLOAD_SIGNS: &[&str] = &["database is locked", "PoolTimedOut", "pool timed out"];

/// Waits until `done` holds, for at most `limit`.
async fn wait_for(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_not_overloaded(log: &str) {
    for sign in OVERLOAD_SIGNS {
        assert!(!log.contains(sign), "the server log shows {sign:?}:\n{log}");
    }
}

async fn killed_mid_load_loses_nothing(engine: Engine) {
    let Some(db) = TestDatabase::new(engine).await else {
        return;
    };
    let log = db.dir().join("server.log");
    let server = ServerProcess::start(SERVER, db.url(), &log).await;
    let plan = LoadPlan {
        chargers: 50,
        prefix: format!("CRASH-{}", engine.name()),
        meter_values_per_session: 5,
        max_sessions: usize::MAX,
    };
    let load = Load::start(&plan, server.ws_base());
    let stats = load.stats.clone();

    // Mid-load: sessions are being stopped and every charger has a CALL in flight.
    wait_for("200 acknowledged stops", Duration::from_secs(20), || {
        stats.stops.load(Ordering::Relaxed) >= 200
    })
    .await;
    server.kill().await;
    load.point_to(None);
    let stops_at_kill = stats.stops.load(Ordering::Relaxed);
    // A moment of downtime, as in a real crash: chargers find nobody and keep retrying.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let server = ServerProcess::start(SERVER, db.url(), &log).await;
    load.point_to(Some(server.ws_base()));
    wait_for(
        "200 more acknowledged stops after the restart",
        Duration::from_secs(30),
        || stats.stops.load(Ordering::Relaxed) >= stops_at_kill + 200,
    )
    .await;
    let ledgers = load.finish().await;
    let checked = check_ledgers(&server, &ledgers).await;

    let resent = stats.resent.load(Ordering::Relaxed);
    assert!(resent > 0, "the kill hit no CALL in flight");
    assert_eq!(stats.internal_errors.load(Ordering::Relaxed), 0);
    assert!(checked.acknowledged_stops >= 400, "{checked:?}");
    assert_not_overloaded(&server.log_text());
    eprintln!(
        "{}: {checked:?}; {resent} CALLs in flight at the kill were resent",
        engine.name()
    );
    server.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_load_loses_nothing_sqlite() {
    killed_mid_load_loses_nothing(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_load_loses_nothing_postgres() {
    killed_mid_load_loses_nothing(Engine::Postgres).await;
}

async fn five_hundred_chargers_at_once(engine: Engine) {
    let Some(db) = TestDatabase::new(engine).await else {
        return;
    };
    let log = db.dir().join("server.log");
    let server = ServerProcess::start(SERVER, db.url(), &log).await;
    let plan = LoadPlan {
        chargers: 500,
        prefix: format!("MANY-{}", engine.name()),
        meter_values_per_session: 2,
        max_sessions: 1,
    };
    // All connect, boot and run a session at the same time.
    let load = Load::start(&plan, server.ws_base());
    let stats = load.stats.clone();
    let ledgers = load.join().await;
    let checked = check_ledgers(&server, &ledgers).await;
    assert_eq!(checked.acknowledged_stops, 500);
    assert_eq!(stats.internal_errors.load(Ordering::Relaxed), 0);
    assert_eq!(stats.resent.load(Ordering::Relaxed), 0);
    assert_not_overloaded(&server.log_text());
    server.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_chargers_at_once_sqlite() {
    five_hundred_chargers_at_once(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_chargers_at_once_postgres() {
    five_hundred_chargers_at_once(Engine::Postgres).await;
}
