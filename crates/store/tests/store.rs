//! The store against both databases: every case runs once on a SQLite file in a temporary
//! directory and once on a fresh PostgreSQL database (see `zaryad_store::testing`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use serde_json::json;
use zaryad_model::{
    ChargingState, ConfigurationEntry, Connector, ConnectorStatus, ConnectorType, DomainEvent,
    EventType, IdToken, IdTokenStatus, MeterSample, RegisterHistory, Registration, Session,
    SessionState, Station, StationId, StopReason, Timestamp,
};
use zaryad_store::testing::{Engine, TestDatabase};
use zaryad_store::{
    ApiToken, ApiTokenRole, AttemptOutcome, DeliveryAttempt, DeliveryStatus, Direction,
    EventPosition, FrameRecord, NewWebhook, ProvisionStation, SessionCorrection, SessionFilter,
    Store, StoreError, StoreOptions, WriteBatch, WriteOp,
};

/// Generates one test per engine for each listed case: `sqlite::name` and `postgres::name`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run(super::Engine::Sqlite, super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run(super::Engine::Postgres, super::$name).await;
                }
            )*
        }
    };
}

backend_tests!(
    stations_and_connectors_round_trip,
    upsert_station_keeps_password_provisioning_and_pinned_profile,
    deleting_a_station_keeps_its_sessions,
    a_connecting_station_is_read_with_its_connectors_and_active_sessions,
    repeated_upserts_in_one_batch_keep_the_last_and_later_operations_see_them,
    sessions_round_trip_and_list,
    reused_transaction_ids_find_the_newest_session,
    meter_samples_come_back_in_time_order,
    outbox_events_come_back_in_order_once,
    events_of_a_group_keep_their_order_and_a_webhook_starts_where_it_stands,
    id_tokens_and_api_tokens_round_trip,
    frames_are_buffered_and_listed_newest_first,
    frames_are_written_without_flush_when_the_buffer_fills,
    a_station_s_frames_still_buffered_are_listed,
    touches_coalesce_and_flush,
    last_seen_updates_stay_on_their_page,
    touches_flush_on_their_interval,
    last_seen_waits_for_its_own_interval,
    many_concurrent_commits_share_group_commits,
    a_failing_batch_fails_only_its_caller,
    a_refused_row_fails_only_its_caller_among_batched_rows,
    transaction_ids_are_unique_and_survive_restarts,
    the_writer_finishes_buffered_work_when_the_store_is_dropped,
    migrate_alone_then_open_and_ping,
    corrupt_values_are_reported_not_panicked,
    sessions_between_pages_in_start_order,
    old_frames_are_pruned_in_batches,
    a_database_of_the_previous_release_is_migrated,
    five_hundred_writers_and_readers_at_once,
    station_configuration_is_replaced_updated_and_deleted_with_the_station,
    webhook_deliveries_are_queued_ordered_recorded_and_replayed,
    session_corrections_wait_and_refuse_stale_answers,
    a_session_s_newest_ended_event_is_found_among_others,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reads_recover_when_the_server_drops_their_connections() {
    run(Engine::Postgres, |db: Db| async move {
        let store = db.open().await;
        let station = full_station("CP-DROP");
        store
            .commit(batch(vec![WriteOp::UpsertStation(station.clone())]))
            .await
            .unwrap();
        // Every read connection has just worked, so none is pinged before its next use.
        let mut reads = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let store = store.clone();
            let id = station.id.clone();
            reads.spawn(async move { store.station(&id).await });
        }
        while let Some(read) = reads.join_next().await {
            assert!(read.unwrap().unwrap().is_some());
        }
        db.test
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name = 'zaryad'
                     AND pid <> pg_backend_pid()",
            )
            .await
            .unwrap();
        // A dropped connection fails the read that finds it and leaves the pool; the pool
        // holds four, so by the fifth read at the latest the store reads again.
        let mut failures = 0;
        loop {
            match store.station(&station.id).await {
                Ok(found) => {
                    assert_eq!(found.map(|found| found.id), Some(station.id.clone()));
                    break;
                }
                Err(error) => {
                    assert!(error.is_transient(), "{error}");
                    failures += 1;
                    assert!(failures <= 4, "reads keep failing: {error}");
                }
            }
        }
    })
    .await;
}

/// Runs `case` against a fresh database of `engine`; skips (see `TestDatabase`) when it is
/// PostgreSQL and there is none outside CI.
async fn run<F, Fut>(engine: Engine, case: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if let Some(test) = TestDatabase::new(engine).await {
        case(Db { test }).await;
    }
}

/// A test's database.
struct Db {
    test: TestDatabase,
}

impl Db {
    fn url(&self) -> String {
        self.test.url().to_owned()
    }

    fn options(&self) -> StoreOptions {
        StoreOptions {
            url: self.url(),
            flush_interval: Duration::from_secs(3600),
            last_seen_interval: Duration::from_secs(3600),
            // The fixed test times lie months in the past: retention would prune them.
            frame_retention: None,
            ..StoreOptions::default()
        }
    }

    async fn open(&self) -> Arc<dyn Store> {
        zaryad_store::open(&self.options()).await.unwrap()
    }
}

fn at(minute: u32, nanos: i64) -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 3, 1, 10, minute, 0)
        .unwrap()
        + chrono::Duration::nanoseconds(nanos)
}

fn id(text: &str) -> StationId {
    StationId::parse(text).unwrap()
}

/// A sample at minute 1 with only a value: OCPP's default measurand and unit.
fn bare_sample(value: f64) -> MeterSample {
    MeterSample::from_ocpp(at(1, 0), value, None, None, None, None, None)
}

fn batch(ops: Vec<WriteOp>) -> WriteBatch {
    WriteBatch { ops }
}

fn full_station(name: &str) -> Station {
    Station {
        id: id(name),
        ocpp_version: Some("1.6".into()),
        vendor: Some("Vendor".into()),
        model: Some("Model X".into()),
        firmware_version: Some("1.2.3".into()),
        serial_number: Some("SN-1".into()),
        registration: Registration::Pending,
        last_seen_at: Some(at(5, 123_456_789)),
        last_boot_at: Some(at(4, 1)),
        vendor_profile: Some("generic".into()),
        provisioned: false,
        created_at: at(0, 999_999_999),
    }
}

fn full_session(session_id: &str, station: &str, transaction_id: &str, minute: u32) -> Session {
    Session {
        id: session_id.into(),
        station_id: id(station),
        evse_id: 2,
        connector_id: 1,
        transaction_id: transaction_id.into(),
        id_token: Some("TAG-1".into()),
        state: SessionState::Completed,
        started_at: at(minute, 500_000_001),
        ended_at: Some(at(minute + 1, 250)),
        meter_start_wh: Some(1234.5),
        meter_stop_wh: Some(98765.4321),
        meter_last_wh: Some(0.1 + 0.2),
        energy_wh: Some(97530.9321),
        stop_reason: Some(StopReason::EvDisconnected),
        soc_percent: Some(80.5),
        power_w: Some(7200.0),
        charging_state: Some(ChargingState::SuspendedEv),
        last_seq_no: Some(u64::MAX - 3),
        remote_start_id: Some(-42),
        quirks: vec!["energy_in_kwh".into(), "naive_timestamp".into()],
        register: RegisterHistory {
            carried_wh: 12.5,
            previous: Some((100.0, 2100.25)),
            base_wh: Some(0.5),
        },
        updated_at: at(minute + 2, 7),
    }
}

/// Connector 0 as new and an occupied, charging GB/T connector 1 with the given error and info.
fn two_connectors(error_code: Option<&str>, info: Option<&str>) -> Vec<Connector> {
    vec![
        Connector::new(0, 0),
        Connector {
            evse_id: 1,
            connector_id: 1,
            reported_status: ConnectorStatus::Occupied,
            charging_state: Some(ChargingState::Charging),
            connector_type: Some(ConnectorType::GbtDc),
            error_code: error_code.map(str::to_owned),
            info: info.map(str::to_owned),
            status_at: Some(at(3, 42)),
        },
    ]
}

fn frame(station: &str, n: u32) -> FrameRecord {
    FrameRecord {
        station_id: id(station),
        direction: if n.is_multiple_of(2) {
            Direction::Inbound
        } else {
            Direction::Outbound
        },
        at: at(1, i64::from(n)),
        ocpp_version: "2.0.1".into(),
        action: Some("Heartbeat".into()),
        message_id: (!n.is_multiple_of(3)).then(|| format!("m{n}")),
        text: format!("[2,\"m{n}\",\"Heartbeat\",{{}}]"),
        repairs: if n.is_multiple_of(2) {
            vec![]
        } else {
            vec!["missing_offset".into()]
        },
    }
}

async fn stations_and_connectors_round_trip(db: Db) {
    let store = db.open().await;
    let station = full_station("CP-1");
    let mut bare = Station::new(id("CP-2"), Registration::Accepted, at(0, 0));
    bare.provisioned = true;
    let connectors = two_connectors(Some("GroundFailure"), Some("vendor 17"));
    let mut ops = vec![
        WriteOp::UpsertStation(station.clone()),
        WriteOp::UpsertStation(bare.clone()),
    ];
    for connector in connectors.iter().rev() {
        ops.push(WriteOp::UpsertConnector {
            station_id: station.id.clone(),
            connector: connector.clone(),
        });
    }
    store.commit(batch(ops)).await.unwrap();

    assert_eq!(
        store.station(&station.id).await.unwrap(),
        Some(station.clone())
    );
    assert_eq!(store.stations().await.unwrap(), vec![station.clone(), bare]);
    assert_eq!(store.connectors(&station.id).await.unwrap(), connectors);
    assert_eq!(store.station(&id("nope")).await.unwrap(), None);
    let credentials = store
        .station_credentials(&station.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credentials.password_hash, None);

    // A connector update replaces its row.
    let mut changed = connectors[1].clone();
    changed.reported_status = ConnectorStatus::Faulted;
    changed.charging_state = None;
    store
        .commit(batch(vec![WriteOp::UpsertConnector {
            station_id: station.id.clone(),
            connector: changed.clone(),
        }]))
        .await
        .unwrap();
    assert_eq!(store.connectors(&station.id).await.unwrap()[1], changed);
}

async fn upsert_station_keeps_password_provisioning_and_pinned_profile(db: Db) {
    let store = db.open().await;
    let station_id = id("CP-9");
    store
        .commit(batch(vec![WriteOp::ProvisionStation(ProvisionStation {
            id: station_id.clone(),
            password_hash: Some(Some("hash-1".into())),
            registration: None,
            vendor_profile: Some(Some("korean-ks".into())),
            at: at(0, 0),
        })]))
        .await
        .unwrap();
    let provisioned = store.station(&station_id).await.unwrap().unwrap();
    assert!(provisioned.provisioned);
    assert_eq!(provisioned.registration, Registration::Accepted);
    assert_eq!(provisioned.vendor_profile.as_deref(), Some("korean-ks"));

    // The charger boots: its self-description must not clear what the operator set.
    let mut booted = full_station("CP-9");
    booted.vendor_profile = None;
    booted.registration = Registration::Accepted;
    booted.created_at = at(30, 0);
    store
        .commit(batch(vec![WriteOp::UpsertStation(booted.clone())]))
        .await
        .unwrap();
    let stored = store.station(&station_id).await.unwrap().unwrap();
    assert!(stored.provisioned);
    assert_eq!(stored.vendor_profile.as_deref(), Some("korean-ks"));
    assert_eq!(stored.created_at, at(0, 0));
    assert_eq!(stored.vendor.as_deref(), Some("Vendor"));
    assert_eq!(stored.last_boot_at, booted.last_boot_at);
    let credentials = store
        .station_credentials(&station_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credentials.password_hash.as_deref(), Some("hash-1"));

    // Provisioning changes only the fields given; `Some(None)` clears.
    store
        .commit(batch(vec![WriteOp::ProvisionStation(ProvisionStation {
            id: station_id.clone(),
            password_hash: None,
            registration: Some(Registration::Rejected),
            vendor_profile: Some(None),
            at: at(40, 0),
        })]))
        .await
        .unwrap();
    let stored = store.station(&station_id).await.unwrap().unwrap();
    assert_eq!(stored.registration, Registration::Rejected);
    assert_eq!(stored.vendor_profile, None);
    // A charger's boot carries a stale registration: it must not undo the operator's.
    store
        .commit(batch(vec![WriteOp::UpsertStation(booted.clone())]))
        .await
        .unwrap();
    let stored = store.station(&station_id).await.unwrap().unwrap();
    assert_eq!(stored.registration, Registration::Rejected);
    let credentials = store
        .station_credentials(&station_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credentials.password_hash.as_deref(), Some("hash-1"));
    store
        .commit(batch(vec![WriteOp::ProvisionStation(ProvisionStation {
            id: station_id.clone(),
            password_hash: Some(None),
            registration: None,
            vendor_profile: None,
            at: at(41, 0),
        })]))
        .await
        .unwrap();
    let credentials = store
        .station_credentials(&station_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credentials.password_hash, None);
    assert_eq!(
        store
            .station(&station_id)
            .await
            .unwrap()
            .unwrap()
            .registration,
        Registration::Rejected
    );
}

async fn deleting_a_station_keeps_its_sessions(db: Db) {
    let store = db.open().await;
    let station = full_station("CP-D");
    let session = full_session("s-d", "CP-D", "7", 0);
    store
        .commit(batch(vec![
            WriteOp::UpsertStation(station.clone()),
            WriteOp::UpsertConnector {
                station_id: station.id.clone(),
                connector: Connector::new(1, 1),
            },
            WriteOp::UpsertSession(session.clone()),
        ]))
        .await
        .unwrap();
    store
        .commit(batch(vec![WriteOp::DeleteStation(station.id.clone())]))
        .await
        .unwrap();
    assert_eq!(store.station(&station.id).await.unwrap(), None);
    assert_eq!(store.station_credentials(&station.id).await.unwrap(), None);
    assert!(store.connectors(&station.id).await.unwrap().is_empty());
    assert_eq!(store.session("s-d").await.unwrap(), Some(session));
}

/// The WebSocket upgrade reads the station's row with its password; PostgreSQL returns its
/// connectors and active sessions in the same round trip, nested as JSON, and they must come
/// back exactly as the plain reads give them (floats bit for bit, the u64 sequence number).
async fn a_connecting_station_is_read_with_its_connectors_and_active_sessions(db: Db) {
    let engine = db.test.engine();
    let store = db.open().await;
    let station = full_station("CP-N");
    let connectors = two_connectors(Some("Other \"quoted\" é"), None);
    let mut older = full_session("s-n1", "CP-N", "7", 10);
    older.state = SessionState::Active;
    older.ended_at = None;
    older.meter_last_wh = Some(1.0 / 3.0);
    older.power_w = Some(-0.0);
    let mut newer = full_session("s-n2", "CP-N", "8", 20);
    newer.state = SessionState::Active;
    newer.meter_start_wh = Some(1_011_661.123_456_789);
    newer.last_seq_no = Some(u64::MAX);
    newer.quirks = Vec::new();
    let completed = full_session("s-n3", "CP-N", "9", 30);
    let mut elsewhere = full_session("s-o1", "CP-O", "1", 40);
    elsewhere.state = SessionState::Active;
    let mut ops = vec![
        WriteOp::UpsertStation(station.clone()),
        WriteOp::UpsertStation(full_station("CP-O")),
    ];
    for connector in &connectors {
        ops.push(WriteOp::UpsertConnector {
            station_id: station.id.clone(),
            connector: connector.clone(),
        });
    }
    for session in [&older, &newer, &completed, &elsewhere] {
        ops.push(WriteOp::UpsertSession(session.clone()));
    }
    store.commit(batch(ops)).await.unwrap();

    let read = store
        .station_credentials(&station.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        Some(read.station),
        store.station(&station.id).await.unwrap()
    );
    let active = store
        .sessions(&SessionFilter {
            station_id: Some(station.id.clone()),
            state: Some(SessionState::Active),
            limit: 1000,
        })
        .await
        .unwrap();
    assert_eq!(active, [newer.clone(), older.clone()]);
    match engine {
        Engine::Postgres => {
            let state = read.state.expect("PostgreSQL nests the station's state");
            assert_eq!(state.connectors, connectors);
            assert_eq!(state.active_sessions, active);
            let bits = |session: &Session| session.meter_last_wh.map(f64::to_bits);
            assert_eq!(bits(&state.active_sessions[1]), bits(&older));
            assert_eq!(
                state.active_sessions[1].power_w.map(f64::to_bits),
                Some((-0.0f64).to_bits())
            );
        }
        Engine::Sqlite => assert_eq!(read.state, None),
    }

    // The newer session stops: it leaves the active ones (and the connect's read) and joins
    // the station's completed ones, its place in the lists kept.
    let mut stopped = newer.clone();
    stopped.state = SessionState::Completed;
    stopped.ended_at = Some(at(25, 0));
    stopped.meter_stop_wh = Some(1_011_700.5);
    stopped.stop_reason = Some(StopReason::Local);
    store
        .commit(batch(vec![WriteOp::UpsertSession(stopped.clone())]))
        .await
        .unwrap();
    let listed = |state| {
        let store = store.clone();
        let station_id = station.id.clone();
        async move {
            store
                .sessions(&SessionFilter {
                    station_id: Some(station_id),
                    state,
                    limit: 1000,
                })
                .await
                .unwrap()
        }
    };
    assert_eq!(listed(Some(SessionState::Active)).await, [older.clone()]);
    assert_eq!(
        listed(Some(SessionState::Completed)).await,
        [completed.clone(), stopped.clone()]
    );
    assert_eq!(
        listed(None).await,
        [completed.clone(), stopped.clone(), older.clone()]
    );
    assert_eq!(store.session("s-n2").await.unwrap(), Some(stopped));
    if engine == Engine::Postgres {
        let read = store
            .station_credentials(&station.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.state.unwrap().active_sessions, [older.clone()]);
    }

    // A station without connectors or sessions has an empty state, not a missing one.
    let bare = store
        .station_credentials(&id("CP-O"))
        .await
        .unwrap()
        .unwrap();
    if engine == Engine::Postgres {
        let state = bare.state.unwrap();
        assert!(state.connectors.is_empty());
        assert_eq!(state.active_sessions, [elsewhere]);
    }
}

/// PostgreSQL writes a group's session and connector upserts together at its end; the last of
/// several for one row must win, and an operation after them must find them written.
async fn repeated_upserts_in_one_batch_keep_the_last_and_later_operations_see_them(db: Db) {
    let store = db.open().await;
    let station = full_station("CP-R");
    let mut first = full_session("s-r", "CP-R", "7", 0);
    first.state = SessionState::Active;
    let mut last = first.clone();
    last.meter_last_wh = Some(2222.0);
    last.state = SessionState::Completed;
    let mut occupied = Connector::new(1, 1);
    occupied.reported_status = ConnectorStatus::Occupied;
    let mut available = occupied.clone();
    available.reported_status = ConnectorStatus::Available;
    let mut rebooted = station.clone();
    rebooted.firmware_version = Some("2.0.0".into());
    rebooted.last_boot_at = Some(at(5, 0));
    store
        .commit(batch(vec![
            WriteOp::UpsertStation(station.clone()),
            WriteOp::UpsertConnector {
                station_id: station.id.clone(),
                connector: occupied,
            },
            WriteOp::UpsertSession(first),
            WriteOp::UpsertSession(last.clone()),
            WriteOp::UpsertStation(rebooted.clone()),
            WriteOp::UpsertConnector {
                station_id: station.id.clone(),
                connector: available.clone(),
            },
        ]))
        .await
        .unwrap();
    let stored = store.station(&station.id).await.unwrap().unwrap();
    assert_eq!(stored.firmware_version.as_deref(), Some("2.0.0"));
    assert_eq!(stored.last_boot_at, Some(at(5, 0)));
    assert_eq!(stored.vendor, station.vendor);
    assert_eq!(store.session("s-r").await.unwrap(), Some(last));
    assert_eq!(
        store.connectors(&station.id).await.unwrap(),
        vec![available.clone()]
    );

    // The delete runs after the connector written before it in the same batch.
    let gone = full_station("CP-G");
    store
        .commit(batch(vec![
            WriteOp::UpsertStation(gone.clone()),
            WriteOp::UpsertConnector {
                station_id: gone.id.clone(),
                connector: available,
            },
            WriteOp::DeleteStation(gone.id.clone()),
        ]))
        .await
        .unwrap();
    assert_eq!(store.station(&gone.id).await.unwrap(), None);
    assert!(store.connectors(&gone.id).await.unwrap().is_empty());
}

async fn sessions_round_trip_and_list(db: Db) {
    let store = db.open().await;
    let completed = full_session("s-1", "CP-1", "7", 0);
    let mut active = full_session("s-2", "CP-1", "8", 10);
    active.state = SessionState::Active;
    active.ended_at = None;
    active.meter_stop_wh = None;
    active.stop_reason = None;
    active.last_seq_no = Some(3);
    active.remote_start_id = None;
    active.quirks = vec![];
    let mut other_station = full_session("s-3", "CP-2", "7", 20);
    other_station.state = SessionState::Active;
    store
        .commit(batch(vec![
            WriteOp::UpsertSession(completed.clone()),
            WriteOp::UpsertSession(active.clone()),
            WriteOp::UpsertSession(other_station.clone()),
        ]))
        .await
        .unwrap();

    assert_eq!(store.session("s-1").await.unwrap(), Some(completed.clone()));
    assert_eq!(store.session("s-2").await.unwrap(), Some(active.clone()));
    assert_eq!(store.session("missing").await.unwrap(), None);
    assert_eq!(
        store
            .session_by_transaction(&id("CP-1"), "7")
            .await
            .unwrap(),
        Some(completed.clone())
    );
    assert_eq!(
        store
            .session_by_transaction(&id("CP-2"), "7")
            .await
            .unwrap(),
        Some(other_station.clone())
    );
    assert_eq!(
        store
            .session_by_transaction(&id("CP-3"), "7")
            .await
            .unwrap(),
        None
    );

    let all = store.sessions(&SessionFilter::default()).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s-3", "s-2", "s-1"]);
    let filter = SessionFilter {
        station_id: Some(id("CP-1")),
        state: Some(SessionState::Active),
        limit: 0,
    };
    assert_eq!(store.sessions(&filter).await.unwrap(), vec![active.clone()]);
    let filter = SessionFilter {
        state: Some(SessionState::Active),
        limit: 1,
        ..SessionFilter::default()
    };
    assert_eq!(store.sessions(&filter).await.unwrap(), vec![other_station]);

    // A meter update (no indexed column changes) keeps the row in every listing.
    let mut metered = active.clone();
    metered.meter_last_wh = Some(4000.5);
    metered.power_w = Some(11000.0);
    metered.soc_percent = Some(55.0);
    metered.last_seq_no = Some(4);
    metered.register.carried_wh = 20.0;
    store
        .commit(batch(vec![WriteOp::UpsertSession(metered.clone())]))
        .await
        .unwrap();
    assert_eq!(store.session("s-2").await.unwrap(), Some(metered.clone()));
    let filter = SessionFilter {
        station_id: Some(id("CP-1")),
        state: Some(SessionState::Active),
        limit: 0,
    };
    assert_eq!(
        store.sessions(&filter).await.unwrap(),
        vec![metered.clone()]
    );

    // Updating keeps the row (and its place) and replaces every field.
    let mut ended = metered.clone();
    ended.state = SessionState::Completed;
    ended.ended_at = Some(at(15, 1));
    ended.meter_stop_wh = Some(5000.25);
    ended.energy_wh = Some(3765.75);
    ended.quirks = vec!["late_stop".into()];
    ended.charging_state = None;
    store
        .commit(batch(vec![WriteOp::UpsertSession(ended.clone())]))
        .await
        .unwrap();
    assert_eq!(store.session("s-2").await.unwrap(), Some(ended.clone()));
    let filter = SessionFilter {
        station_id: Some(id("CP-1")),
        state: Some(SessionState::Completed),
        limit: 10,
    };
    let ids: Vec<String> = store
        .sessions(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, ["s-2", "s-1"]);

    // A corrected start time moves the session in listings ordered by it.
    let mut moved = ended.clone();
    moved.started_at = at(25, 0);
    store
        .commit(batch(vec![WriteOp::UpsertSession(moved.clone())]))
        .await
        .unwrap();
    let all = store.sessions(&SessionFilter::default()).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s-2", "s-3", "s-1"]);
    assert_eq!(store.session("s-2").await.unwrap(), Some(moved));
}

async fn reused_transaction_ids_find_the_newest_session(db: Db) {
    let store = db.open().await;
    let old = full_session("old", "CP-1", "1", 30);
    let mut new = full_session("new", "CP-1", "1", 0);
    new.state = SessionState::Active;
    store
        .commit(batch(vec![WriteOp::UpsertSession(old)]))
        .await
        .unwrap();
    store
        .commit(batch(vec![WriteOp::UpsertSession(new.clone())]))
        .await
        .unwrap();
    assert_eq!(
        store
            .session_by_transaction(&id("CP-1"), "1")
            .await
            .unwrap(),
        Some(new)
    );
}

async fn meter_samples_come_back_in_time_order(db: Db) {
    let store = db.open().await;
    let late = MeterSample::from_ocpp(
        at(9, 0),
        7.2,
        Some("Power.Active.Import"),
        Some("kW"),
        Some("L1"),
        None,
        Some("Outlet"),
    );
    let early = MeterSample::from_ocpp(
        at(1, 5),
        1234.5,
        None,
        Some("Wh"),
        None,
        Some("Transaction.Begin"),
        None,
    );
    let vendor = MeterSample::from_ocpp(
        at(5, 0),
        0.1,
        Some("Vendor.BMS.Temp"),
        Some("degF"),
        None,
        Some("Weird.Context"),
        None,
    );
    let unrelated = MeterSample::from_ocpp(at(2, 0), 1.0, None, None, None, None, None);
    store
        .commit(batch(vec![
            WriteOp::InsertSamples {
                station_id: id("CP-1"),
                evse_id: 1,
                session_id: Some("s-1".into()),
                samples: vec![late.clone(), early.clone()],
            },
            WriteOp::InsertSamples {
                station_id: id("CP-1"),
                evse_id: 1,
                session_id: Some("s-1".into()),
                samples: vec![vendor.clone()],
            },
            WriteOp::InsertSamples {
                station_id: id("CP-1"),
                evse_id: 0,
                session_id: None,
                samples: vec![unrelated],
            },
        ]))
        .await
        .unwrap();
    assert_eq!(
        store.meter_samples("s-1", 100).await.unwrap(),
        vec![early.clone(), vendor, late]
    );
    assert_eq!(store.meter_samples("s-1", 1).await.unwrap(), vec![early]);
    assert!(store.meter_samples("s-2", 100).await.unwrap().is_empty());

    // Many samples in one operation take several multi-row statements.
    let many: Vec<MeterSample> = (0..250)
        .map(|n| MeterSample::from_ocpp(at(20, n), n as f64 + 0.5, None, None, None, None, None))
        .collect();
    store
        .commit(batch(vec![WriteOp::InsertSamples {
            station_id: id("CP-1"),
            evse_id: 1,
            session_id: Some("s-many".into()),
            samples: many.clone(),
        }]))
        .await
        .unwrap();
    assert_eq!(store.meter_samples("s-many", 1000).await.unwrap(), many);

    // A reading that is not a number is dropped instead of failing the caller's batch.
    let nan = MeterSample::from_ocpp(at(30, 0), f64::NAN, None, None, None, None, None);
    let fine = MeterSample::from_ocpp(at(31, 0), 2.5, None, None, None, None, None);
    store
        .commit(batch(vec![WriteOp::InsertSamples {
            station_id: id("CP-1"),
            evse_id: 1,
            session_id: Some("s-nan".into()),
            samples: vec![nan, fine.clone()],
        }]))
        .await
        .unwrap();
    assert_eq!(store.meter_samples("s-nan", 10).await.unwrap(), vec![fine]);
}

async fn outbox_events_come_back_in_order_once(db: Db) {
    let store = db.open().await;
    let session = full_session("s-1", "CP-1", "7", 0);
    let started = DomainEvent::for_session(
        "e-1".into(),
        EventType::SessionStarted,
        &session,
        json!({"id": "s-1", "energy_wh": 1234.5, "nested": {"list": [1, 2.25, null, "x"]}}),
        at(0, 1),
    );
    let booted = DomainEvent {
        id: "e-2".into(),
        event_type: EventType::StationBooted,
        occurred_at: at(0, 2),
        station_id: id("CP-1"),
        session_id: None,
        data: json!({}),
    };
    let ended = DomainEvent::for_session(
        "e-3".into(),
        EventType::SessionEnded,
        &session,
        json!({"energy_wh": 97530.9321}),
        at(1, 0),
    );
    store
        .commit(batch(vec![
            WriteOp::AppendEvent(started.clone()),
            WriteOp::AppendEvent(booted.clone()),
        ]))
        .await
        .unwrap();
    store
        .commit(batch(vec![
            WriteOp::AppendEvent(ended.clone()),
            // A retried append of a known event is ignored.
            WriteOp::AppendEvent(started.clone()),
        ]))
        .await
        .unwrap();
    let events = store.events_after(0, 100).await.unwrap();
    let got: Vec<&DomainEvent> = events.iter().map(|e| &e.event).collect();
    assert_eq!(got, [&started, &booted, &ended]);
    assert!(events.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    let positions = store
        .event_positions_after(events[0].seq, 10)
        .await
        .unwrap();
    let expected: Vec<EventPosition> = events[1..]
        .iter()
        .map(|e| EventPosition {
            seq: e.seq,
            occurred_at: e.event.occurred_at,
        })
        .collect();
    assert_eq!(positions, expected);
    let after_first = store.events_after(events[0].seq, 1).await.unwrap();
    assert_eq!(after_first.len(), 1);
    assert_eq!(after_first[0].event, booted);
    assert!(
        store
            .events_after(events[2].seq, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// PostgreSQL inserts a group's events in one statement at its end; the order they were
/// committed in and a webhook's start among them must not show it.
async fn events_of_a_group_keep_their_order_and_a_webhook_starts_where_it_stands(db: Db) {
    let store = std::sync::Arc::new(db.open().await);
    store
        .commit(batch(vec![
            WriteOp::AppendEvent(event("before", EventType::StationConnected, "CP-1", None)),
            webhook("hook", None),
            WriteOp::AppendEvent(event("after", EventType::StationBooted, "CP-1", None)),
        ]))
        .await
        .unwrap();
    let events = store.events_after(0, 10).await.unwrap();
    let ids: Vec<&str> = events.iter().map(|e| e.event.id.as_str()).collect();
    assert_eq!(ids, ["before", "after"]);
    let hook = store.webhook("hook").await.unwrap().unwrap();
    assert_eq!(
        hook.start_seq, events[0].seq,
        "after `before`, before `after`"
    );

    // Concurrent callers share groups: each caller's events stay in its order, none is lost.
    let callers = (0..20).map(|caller| {
        let store = store.clone();
        tokio::spawn(async move {
            for step in 0..5 {
                let ops = (0..3)
                    .map(|n| {
                        let id = format!("c{caller}-s{step}-n{n}");
                        WriteOp::AppendEvent(event(&id, EventType::SessionUpdated, "CP-1", None))
                    })
                    .collect();
                store.commit(batch(ops)).await.unwrap();
            }
        })
    });
    for caller in callers.collect::<Vec<_>>() {
        caller.await.unwrap();
    }
    let events = store.events_after(events[1].seq, 1000).await.unwrap();
    assert_eq!(events.len(), 20 * 5 * 3);
    assert!(events.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    for caller in 0..20 {
        let prefix = format!("c{caller}-");
        let mine: Vec<&str> = events
            .iter()
            .map(|e| e.event.id.as_str())
            .filter(|id| id.starts_with(&prefix))
            .collect();
        let expected: Vec<String> = (0..5)
            .flat_map(|step| (0..3).map(move |n| format!("c{caller}-s{step}-n{n}")))
            .collect();
        assert_eq!(mine, expected, "caller {caller}");
    }
}

async fn id_tokens_and_api_tokens_round_trip(db: Db) {
    let store = db.open().await;
    let accepted = IdToken {
        token: "04656B82EB2CDD".into(),
        status: IdTokenStatus::Accepted,
        expires_at: Some(at(59, 123)),
        parent: Some("GROUP".into()),
    };
    let blocked = IdToken {
        token: "AAA".into(),
        status: IdTokenStatus::Blocked,
        expires_at: None,
        parent: None,
    };
    store
        .commit(batch(vec![
            WriteOp::UpsertIdToken(accepted.clone()),
            WriteOp::UpsertIdToken(blocked.clone()),
        ]))
        .await
        .unwrap();
    assert_eq!(store.id_token("AAA").await.unwrap(), Some(blocked.clone()));
    assert_eq!(
        store.id_tokens().await.unwrap(),
        vec![accepted.clone(), blocked.clone()]
    );
    let mut expired = accepted.clone();
    expired.status = IdTokenStatus::Expired;
    expired.parent = None;
    store
        .commit(batch(vec![
            WriteOp::UpsertIdToken(expired.clone()),
            WriteOp::DeleteIdToken("AAA".into()),
        ]))
        .await
        .unwrap();
    assert_eq!(store.id_tokens().await.unwrap(), vec![expired]);
    assert_eq!(store.id_token("AAA").await.unwrap(), None);

    assert_eq!(store.count_api_tokens().await.unwrap(), 0);
    let token = ApiToken {
        id: "t-1".into(),
        name: "admin".into(),
        role: ApiTokenRole::Admin,
        token_hash: "ab".repeat(32),
        created_at: at(0, 77),
    };
    store
        .commit(batch(vec![WriteOp::InsertApiToken(token.clone())]))
        .await
        .unwrap();
    assert_eq!(store.count_api_tokens().await.unwrap(), 1);
    assert_eq!(
        store.api_token_by_hash(&"ab".repeat(32)).await.unwrap(),
        Some(token.clone())
    );
    assert_eq!(store.api_token_by_hash("cd").await.unwrap(), None);

    let viewer = ApiToken {
        id: "t-2".into(),
        name: "dashboard".into(),
        role: ApiTokenRole::Viewer,
        token_hash: "cd".repeat(32),
        created_at: at(1, 0),
    };
    store
        .commit(batch(vec![WriteOp::InsertApiToken(viewer.clone())]))
        .await
        .unwrap();
    assert_eq!(
        store.api_tokens().await.unwrap(),
        vec![token.clone(), viewer.clone()]
    );
    store
        .commit(batch(vec![WriteOp::DeleteApiToken("t-1".into())]))
        .await
        .unwrap();
    assert_eq!(store.api_tokens().await.unwrap(), vec![viewer]);
    assert_eq!(
        store.api_token_by_hash(&token.token_hash).await.unwrap(),
        None
    );
}

fn entry(key: &str, value: Option<&str>, readonly: Option<bool>) -> ConfigurationEntry {
    ConfigurationEntry {
        key: key.into(),
        value: value.map(str::to_owned),
        readonly,
    }
}

async fn station_configuration_is_replaced_updated_and_deleted_with_the_station(db: Db) {
    let store = db.open().await;
    let station = full_station("CP-CONF");
    let store_config = |entries: Vec<ConfigurationEntry>, replace: bool, minute: u32| {
        WriteOp::StoreConfiguration {
            station_id: station.id.clone(),
            entries,
            replace,
            at: at(minute, 0),
        }
    };
    store
        .commit(batch(vec![
            WriteOp::UpsertStation(station.clone()),
            store_config(
                vec![
                    entry("HeartbeatInterval", Some("300"), Some(false)),
                    entry("NumberOfConnectors", Some("2"), Some(true)),
                    entry("Stale", Some("x"), None),
                ],
                false,
                1,
            ),
        ]))
        .await
        .unwrap();
    store
        .commit(batch(vec![store_config(
            vec![
                entry("HeartbeatInterval", Some("60"), Some(false)),
                entry("NumberOfConnectors", Some("2"), Some(true)),
                entry("AuthorizationKey", None, Some(false)),
            ],
            true,
            2,
        )]))
        .await
        .unwrap();
    // A partial update without the readonly flag keeps the known one.
    store
        .commit(batch(vec![store_config(
            vec![entry("NumberOfConnectors", Some("3"), None)],
            false,
            3,
        )]))
        .await
        .unwrap();
    let stored = store.station_configuration(&station.id).await.unwrap();
    let entries: Vec<ConfigurationEntry> = stored.iter().map(|row| row.entry.clone()).collect();
    assert_eq!(
        entries,
        vec![
            entry("AuthorizationKey", None, Some(false)),
            entry("HeartbeatInterval", Some("60"), Some(false)),
            entry("NumberOfConnectors", Some("3"), Some(true)),
        ]
    );
    assert_eq!(stored[1].updated_at, at(2, 0));
    assert_eq!(stored[2].updated_at, at(3, 0));
    store
        .commit(batch(vec![WriteOp::DeleteStation(station.id.clone())]))
        .await
        .unwrap();
    assert!(
        store
            .station_configuration(&station.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn frames_are_buffered_and_listed_newest_first(db: Db) {
    let store = db.open().await;
    for n in 0..300 {
        store
            .log_frame(frame(if n % 3 == 0 { "B" } else { "A" }, n))
            .await;
    }
    store.flush().await.unwrap();
    let a = store.frames(&id("A"), 1000).await.unwrap();
    let expected: Vec<FrameRecord> = (0..300)
        .rev()
        .filter(|n| n % 3 != 0)
        .map(|n| frame("A", n))
        .collect();
    assert_eq!(a, expected);
    let b = store.frames(&id("B"), 2).await.unwrap();
    assert_eq!(b, vec![frame("B", 297), frame("B", 294)]);
    assert_eq!(store.frames(&id("B"), 0).await.unwrap().len(), 100);
}

async fn frames_are_written_without_flush_when_the_buffer_fills(db: Db) {
    let store = db.open().await;
    // Far more than the queue and a batch hold: full batches are written without waiting for
    // the (hour-long) flush interval, and log_frame wakes the writer rather than wait.
    for n in 0..10_000 {
        store.log_frame(frame("A", n)).await;
    }
    // Another store on the same database holds none of these frames in memory: it lists only
    // what was written.
    let other = db.open().await;
    for _ in 0..200 {
        let written = other.frames(&id("A"), 10_000).await.unwrap();
        if written.len() >= 9_000 {
            assert!(
                written.len() < 10_000,
                "the last batch waits for more frames"
            );
            assert_eq!(written.last(), Some(&frame("A", 0)));
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("full batches of frames were not written");
}

async fn a_station_s_frames_still_buffered_are_listed(db: Db) {
    let store = db.open().await;
    let other = db.open().await;
    for n in 0..3 {
        store.log_frame(frame("A", n)).await;
        store.log_frame(frame("B", n)).await;
    }
    // Nothing is written yet (the flush interval is an hour, the batches are not full) ...
    assert!(other.frames(&id("A"), 10).await.unwrap().is_empty());
    // ... but listing a station writes its frames first.
    let expected = vec![frame("A", 2), frame("A", 1), frame("A", 0)];
    assert_eq!(store.frames(&id("A"), 10).await.unwrap(), expected);
    assert_eq!(other.frames(&id("A"), 10).await.unwrap(), expected);
    // Only that station's: B's frames still wait.
    assert!(other.frames(&id("B"), 10).await.unwrap().is_empty());
    store.log_frame(frame("A", 3)).await;
    assert_eq!(
        store.frames(&id("A"), 2).await.unwrap(),
        [frame("A", 3), frame("A", 2)]
    );
}

async fn touches_coalesce_and_flush(db: Db) {
    let store = db.open().await;
    let mut station = full_station("CP-T");
    station.last_seen_at = None;
    store
        .commit(batch(vec![WriteOp::UpsertStation(station.clone())]))
        .await
        .unwrap();
    for minute in [3, 9, 1, 7] {
        store.touch(&station.id, at(minute, 5));
    }
    store.touch(&id("unknown"), at(1, 0));
    // Reads already show the pending time.
    assert_eq!(
        store
            .station(&station.id)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        Some(at(9, 5))
    );
    store.flush().await.unwrap();
    let reopened_view = db.open().await;
    assert_eq!(
        reopened_view
            .station(&station.id)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        Some(at(9, 5))
    );
    // An older touch never moves it back, neither does an upsert with an older copy.
    store.touch(&station.id, at(2, 0));
    store.flush().await.unwrap();
    station.last_seen_at = Some(at(4, 0));
    store
        .commit(batch(vec![WriteOp::UpsertStation(station.clone())]))
        .await
        .unwrap();
    assert_eq!(
        reopened_view
            .station(&station.id)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        Some(at(9, 5))
    );
    assert_eq!(reopened_view.station(&id("unknown")).await.unwrap(), None);
}

async fn last_seen_updates_stay_on_their_page(db: Db) {
    let store = db.open().await;
    let stations: Vec<Station> = (0..300)
        .map(|n| full_station(&format!("CP-PAGE-{n:03}")))
        .collect();
    store
        .commit(batch(
            stations
                .iter()
                .cloned()
                .map(WriteOp::UpsertStation)
                .collect(),
        ))
        .await
        .unwrap();
    // PostgreSQL writes an updated row as a new version: where its page has no room, on
    // another page, with a new index entry. The row's block number shows where it is.
    let blocks = || async {
        match db.test.engine() {
            Engine::Sqlite => Vec::new(),
            Engine::Postgres => {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&db.url()).await.unwrap();
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT id, split_part(trim(both '()' from ctid::text), ',', 1)
                     FROM stations WHERE id LIKE 'CP-PAGE-%' ORDER BY id",
                )
                .fetch_all(&mut conn)
                .await
                .unwrap();
                conn.close().await.unwrap();
                rows
            }
        }
    };
    let before = blocks().await;
    // Later than the stations' own `last_seen_at`: a touch never moves it back. The pause
    // stands for the interval between flushes: a page's dead versions are reclaimed only once
    // no transaction in flight (other tests' too, whose snapshots share the xid horizon) began
    // before they were replaced.
    for minute in 6..=9 {
        for station in &stations {
            store.touch(&station.id, at(minute, 0));
        }
        store.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let after = blocks().await;
    assert_eq!(after.len(), before.len());
    let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    // Without room on the page, nearly all of them move (288 to 300 of 300 seen).
    assert!(
        moved * 10 <= before.len(),
        "{moved} of {} updated rows left their pages",
        before.len()
    );
    let view = db.open().await;
    for station in [&stations[0], &stations[299]] {
        let seen = view.station(&station.id).await.unwrap().unwrap();
        assert_eq!(seen.last_seen_at, Some(at(9, 0)));
    }
}

async fn touches_flush_on_their_interval(db: Db) {
    let options = StoreOptions {
        flush_interval: Duration::from_millis(50),
        last_seen_interval: Duration::from_millis(80),
        ..db.options()
    };
    let store = zaryad_store::open(&options).await.unwrap();
    let station = full_station("CP-I");
    store
        .commit(batch(vec![WriteOp::UpsertStation(station.clone())]))
        .await
        .unwrap();
    store.touch(&station.id, at(30, 0));
    store.log_frame(frame("CP-I", 1)).await;
    let other_view = db.open().await;
    for _ in 0..100 {
        let seen = other_view
            .station(&station.id)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at;
        let frames = other_view.frames(&station.id, 10).await.unwrap();
        if seen == Some(at(30, 0)) && frames.len() == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the periodic flush did not write the touch and the frame");
}

async fn last_seen_waits_for_its_own_interval(db: Db) {
    let options = StoreOptions {
        flush_interval: Duration::from_millis(20),
        last_seen_interval: Duration::from_secs(3600),
        ..db.options()
    };
    let store = zaryad_store::open(&options).await.unwrap();
    let mut station = full_station("CP-W");
    station.last_seen_at = None;
    store
        .commit(batch(vec![WriteOp::UpsertStation(station.clone())]))
        .await
        .unwrap();
    store.touch(&station.id, at(40, 0));
    store.log_frame(frame("CP-W", 1)).await;
    let other_view = db.open().await;
    for _ in 0..100 {
        if other_view.frames(&station.id, 10).await.unwrap().len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(other_view.frames(&station.id, 10).await.unwrap().len(), 1);
    // The frame log went on its interval; the last-seen time waits for its own, while the
    // store that noted it shows it already.
    let stored = other_view.station(&station.id).await.unwrap().unwrap();
    assert_eq!(stored.last_seen_at, None);
    let shown = store.station(&station.id).await.unwrap().unwrap();
    assert_eq!(shown.last_seen_at, Some(at(40, 0)));
    store.flush().await.unwrap();
    let stored = other_view.station(&station.id).await.unwrap().unwrap();
    assert_eq!(stored.last_seen_at, Some(at(40, 0)));
}

async fn many_concurrent_commits_share_group_commits(db: Db) {
    let store = db.open().await;
    let mut tasks = Vec::new();
    for n in 0..500 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let session = full_session(&format!("s-{n}"), "CP-1", &n.to_string(), 0);
            let event = DomainEvent::for_session(
                format!("e-{n}"),
                EventType::SessionStarted,
                &session,
                json!({"n": n}),
                at(0, 0),
            );
            store
                .commit(batch(vec![
                    WriteOp::UpsertSession(session),
                    WriteOp::AppendEvent(event),
                ]))
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let filter = SessionFilter {
        limit: 1000,
        ..SessionFilter::default()
    };
    assert_eq!(store.sessions(&filter).await.unwrap().len(), 500);
    assert_eq!(store.events_after(0, 1000).await.unwrap().len(), 500);
}

/// Awaits commits numbered 0, 1, …: every tenth must have failed with a database error, the
/// others succeeded.
async fn every_tenth_was_refused(
    tasks: Vec<tokio::task::JoinHandle<(i32, Result<(), StoreError>)>>,
) {
    for task in tasks {
        let (n, result) = task.await.unwrap();
        if n % 10 == 0 {
            assert!(
                matches!(result, Err(StoreError::Database(_))),
                "{n}: {result:?}"
            );
        } else {
            result.unwrap();
        }
    }
}

async fn a_refused_row_fails_only_its_caller_among_batched_rows(db: Db) {
    // Requests that only add batched rows (a session, its event, its readings, a connector):
    // on PostgreSQL a group of them is one statement without BEGIN and COMMIT. A connector
    // of a station that does not exist is refused by its foreign key; its caller fails, and
    // nothing of its request stays, while every other request of the group is stored.
    let store = db.open().await;
    store
        .commit(batch(vec![WriteOp::UpsertStation(full_station("CP-OK"))]))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for n in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let station = if n % 10 == 0 { "CP-MISSING" } else { "CP-OK" };
            let session_id = format!("s-{n}");
            let session = full_session(&session_id, "CP-OK", &n.to_string(), 0);
            let ops = vec![
                WriteOp::UpsertSession(session),
                WriteOp::AppendEvent(event(
                    &format!("e-{n}"),
                    EventType::SessionStarted,
                    "CP-OK",
                    Some(&session_id),
                )),
                WriteOp::InsertSamples {
                    station_id: id("CP-OK"),
                    evse_id: 2,
                    session_id: Some(session_id.clone()),
                    samples: vec![bare_sample(f64::from(n))],
                },
                WriteOp::UpsertConnector {
                    station_id: id(station),
                    connector: Connector::new(1, 1),
                },
            ];
            (n, store.commit(batch(ops)).await)
        }));
    }
    every_tenth_was_refused(tasks).await;
    for n in [0, 1, 10, 199] {
        let session = store.session(&format!("s-{n}")).await.unwrap();
        let samples = store.meter_samples(&format!("s-{n}"), 10).await.unwrap();
        if n % 10 == 0 {
            assert_eq!(session, None, "s-{n}");
            assert!(samples.is_empty(), "s-{n}");
        } else {
            assert_eq!(session.unwrap().id, format!("s-{n}"));
            assert_eq!(samples.len(), 1, "s-{n}");
        }
    }
    let events = store.events_after(0, 1000).await.unwrap();
    assert_eq!(events.len(), 180);
    assert!(events.iter().all(|stored| {
        let n: u32 = stored.event.id[2..].parse().unwrap();
        !n.is_multiple_of(10)
    }));
    assert_eq!(store.connectors(&id("CP-OK")).await.unwrap().len(), 1);
}

async fn a_failing_batch_fails_only_its_caller(db: Db) {
    let store = db.open().await;
    let token = ApiToken {
        id: "dup".into(),
        name: "first".into(),
        role: ApiTokenRole::Viewer,
        token_hash: "h".into(),
        created_at: at(0, 0),
    };
    store
        .commit(batch(vec![WriteOp::InsertApiToken(token.clone())]))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for n in 0..200 {
        let store = store.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let good = IdToken {
                token: format!("T{n}"),
                status: IdTokenStatus::Accepted,
                expires_at: None,
                parent: None,
            };
            let mut ops = vec![WriteOp::UpsertIdToken(good)];
            if n % 10 == 0 {
                // Violates the primary key: the whole batch, including the token above, must
                // be undone.
                ops.push(WriteOp::InsertApiToken(token));
            }
            (n, store.commit(batch(ops)).await)
        }));
    }
    every_tenth_was_refused(tasks).await;
    let tokens = store.id_tokens().await.unwrap();
    assert_eq!(tokens.len(), 180);
    assert!(
        tokens
            .iter()
            .all(|t| t.token[1..].parse::<u32>().unwrap() % 10 != 0)
    );
    assert_eq!(store.count_api_tokens().await.unwrap(), 1);
}

async fn transaction_ids_are_unique_and_survive_restarts(db: Db) {
    let mut seen = Vec::new();
    {
        let store = db.open().await;
        let mut tasks = Vec::new();
        for _ in 0..250 {
            let store = store.clone();
            tasks.push(tokio::spawn(
                async move { store.next_transaction_id().await },
            ));
        }
        for task in tasks {
            seen.push(task.await.unwrap().unwrap());
        }
        let unique: HashSet<i64> = seen.iter().copied().collect();
        assert_eq!(unique.len(), 250);
        assert!(seen.iter().all(|id| (1..=i64::from(i32::MAX)).contains(id)));
    }
    let first_run_max = *seen.iter().max().unwrap();
    let store = db.open().await;
    let mut previous = 0;
    for _ in 0..150 {
        let id = store.next_transaction_id().await.unwrap();
        assert!(id > first_run_max, "{id} was handed out before the restart");
        assert!(id > previous);
        previous = id;
    }
}

async fn the_writer_finishes_buffered_work_when_the_store_is_dropped(db: Db) {
    let store = db.open().await;
    let station = full_station("CP-X");
    store
        .commit(batch(vec![WriteOp::UpsertStation(station.clone())]))
        .await
        .unwrap();
    store.log_frame(frame("CP-X", 1)).await;
    store.touch(&station.id, at(50, 0));
    drop(store);
    let reopened = db.open().await;
    for _ in 0..100 {
        let seen = reopened
            .station(&station.id)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at;
        if seen == Some(at(50, 0)) && reopened.frames(&station.id, 10).await.unwrap().len() == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("buffered frame and touch were lost on drop");
}

async fn migrate_alone_then_open_and_ping(db: Db) {
    zaryad_store::migrate(&db.url()).await.unwrap();
    zaryad_store::migrate(&db.url()).await.unwrap();
    let store = zaryad_store::open(&db.options()).await.unwrap();
    store.ping().await.unwrap();
    store.flush().await.unwrap();
    store.commit(WriteBatch::new()).await.unwrap();
}

#[tokio::test]
async fn in_memory_and_unknown_urls_are_refused() {
    let options = StoreOptions {
        url: "sqlite::memory:".into(),
        ..StoreOptions::default()
    };
    assert!(matches!(
        zaryad_store::open(&options).await,
        Err(StoreError::Config(_))
    ));
    let options = StoreOptions {
        url: "mysql://localhost/zaryad".into(),
        ..StoreOptions::default()
    };
    assert!(matches!(
        zaryad_store::open(&options).await,
        Err(StoreError::Config(_))
    ));
}

async fn corrupt_values_are_reported_not_panicked(db: Db) {
    let store = db.open().await;
    store
        .commit(batch(vec![
            WriteOp::UpsertSession(full_session("s-1", "CP-1", "7", 0)),
            WriteOp::UpsertIdToken(IdToken {
                token: "T".into(),
                status: IdTokenStatus::Accepted,
                expires_at: None,
                parent: None,
            }),
        ]))
        .await
        .unwrap();
    db.test
        .execute("UPDATE sessions SET started_at = 'yesterday', quirks = 'nope'")
        .await
        .unwrap();
    db.test
        .execute("UPDATE id_tokens SET status = 'maybe'")
        .await
        .unwrap();
    db.test
        .execute(
            "INSERT INTO meter_readings (session_id, station_id, evse_id, timestamp, samples)
             VALUES ('s-1', 'CP-1', 1, '2026-03-01T10:00:00.000000000Z', '[[\"Voltage\"]]')",
        )
        .await
        .unwrap();
    assert!(matches!(
        store.meter_samples("s-1", 10).await,
        Err(StoreError::Corrupt {
            table: "meter_readings",
            column: "samples",
            ..
        })
    ));
    assert!(matches!(
        store.session("s-1").await,
        Err(StoreError::Corrupt {
            table: "sessions",
            column: "started_at",
            ..
        })
    ));
    assert!(matches!(
        store.id_token("T").await,
        Err(StoreError::Corrupt {
            table: "id_tokens",
            column: "status",
            ..
        })
    ));
}

async fn sessions_between_pages_in_start_order(db: Db) {
    let store = db.open().await;
    // Three sessions share a start time: the cursor must not skip or repeat any of them.
    let mut ops = Vec::new();
    let mut expected = Vec::new();
    for n in 0..7u32 {
        let minute = [5, 1, 3, 3, 3, 9, 0][n as usize];
        let session = full_session(&format!("s-{n}"), "CP-1", &n.to_string(), minute);
        expected.push((minute, n, session.clone()));
        ops.push(WriteOp::UpsertSession(session));
    }
    store.commit(batch(ops)).await.unwrap();
    expected.sort_by_key(|(minute, n, _)| (*minute, *n));

    let since = at(1, 0);
    let until = Some(at(9, 0));
    let wanted: Vec<Session> = expected
        .iter()
        .filter(|(minute, _, _)| (1..9).contains(minute))
        .map(|(_, _, session)| session.clone())
        .collect();
    let mut got = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store
            .sessions_between(since, until, after, 2)
            .await
            .unwrap();
        pages += 1;
        assert!(page.sessions.len() <= 2);
        got.extend(page.sessions);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(got, wanted);
    assert_eq!(pages, 3);

    // Without an upper bound, everything from `since` on.
    let page = store
        .sessions_between(at(3, 0), None, None, 100)
        .await
        .unwrap();
    let ids: Vec<&str> = page.sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s-2", "s-3", "s-4", "s-0", "s-5"]);
    assert_eq!(page.next, None);
}

async fn old_frames_are_pruned_in_batches(db: Db) {
    let options = StoreOptions {
        frame_retention: Some(Duration::from_secs(3600)),
        prune_interval: Duration::from_millis(50),
        prune_batch: 7,
        ..db.options()
    };
    let store = zaryad_store::open(&options).await.unwrap();
    let now = chrono::Utc::now();
    // Twenty stations with a batch of old frames each: several pruning steps of 7 batches.
    for n in 0..40 {
        let mut old = frame(&format!("CP-O{}", n % 20), n);
        old.at = now - chrono::Duration::hours(2) + chrono::Duration::seconds(i64::from(n));
        store.log_frame(old).await;
    }
    store.flush().await.unwrap();
    // A batch is pruned by its last frame: this station's old frames go with the fresh one.
    let mut aging = frame("CP-R", 98);
    aging.at = now - chrono::Duration::hours(2);
    store.log_frame(aging.clone()).await;
    let mut fresh = frame("CP-R", 99);
    fresh.at = now;
    store.log_frame(fresh.clone()).await;
    store.flush().await.unwrap();
    for _ in 0..200 {
        let mut left = 0;
        for n in 0..20 {
            left += store
                .frames(&id(&format!("CP-O{n}")), 100)
                .await
                .unwrap()
                .len();
        }
        if left == 0 {
            assert_eq!(
                store.frames(&id("CP-R"), 100).await.unwrap(),
                vec![fresh.clone(), aging.clone()]
            );
            // Sessions and samples are never pruned, whatever their age.
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("old frames were not pruned");
}

/// The migrations of an earlier release: before the frame log's batches (0006) and meter
/// readings (0007), so that the test upgrades data of both kinds.
const RELEASED_MIGRATIONS: &[&str] = &[
    "0001_init.sql",
    "0002_write_path.sql",
    "0003_station_configuration.sql",
    "0004_session_register_history.sql",
    "0005_event_delivery.sql",
];

async fn a_database_of_the_previous_release_is_migrated(db: Db) {
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;

    // A database as the previous release left it: its migrations applied, with data.
    let released = tempfile::tempdir().unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../migrations/{}", db.test.engine().name()));
    for file in RELEASED_MIGRATIONS {
        std::fs::copy(source.join(file), released.path().join(file)).unwrap();
    }
    let migrator = sqlx::migrate::Migrator::new(released.path()).await.unwrap();
    match db.test.engine() {
        Engine::Sqlite => {
            std::fs::create_dir_all(db.test.dir().join("nested/dir")).ok();
            let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url())
                .unwrap()
                .create_if_missing(true)
                .connect()
                .await
                .unwrap();
            migrator.run(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url()).await.unwrap();
            migrator.run(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
    }
    db.test
        .execute(
            "INSERT INTO sessions (id, station_id, evse_id, connector_id, transaction_id, state,
                 started_at, energy_wh, updated_at)
             VALUES ('old', 'CP-OLD', 1, 1, '17', 'completed', '2025-01-01T00:00:00.000000000Z',
                 1234.5, '2025-01-01T01:00:00.000000000Z')",
        )
        .await
        .unwrap();
    // Two frames the way a row per frame stored them; they come back as batches of one.
    db.test
        .execute(
            "INSERT INTO frames (station_id, direction, at, ocpp_version, action, message_id,
                 text, repairs)
             VALUES ('CP-OLD', 'inbound', '2025-01-01T00:00:00.000000000Z', '1.6', 'Heartbeat',
                 'h1', '[2,\"h1\",\"Heartbeat\",{}]', '[\"missing_offset\"]'),
             ('CP-OLD', 'outbound', '2025-01-01T00:00:01.000000000Z', '1.6', 'Heartbeat',
                 NULL, '[3,\"h1\",{\"currentTime\":\"2025-01-01T00:00:01Z\"}]', '[]')",
        )
        .await
        .unwrap();

    // Meter samples the way a row per sample stored them: read with the readings stored after.
    db.test
        .execute(
            "INSERT INTO meter_samples (session_id, station_id, evse_id, timestamp, measurand,
                 value, unit, phase, context, location)
             VALUES ('old', 'CP-OLD', 1, '2026-03-01T10:00:00.000000000Z',
                 'Energy.Active.Import.Register', 1234.5, 'Wh', NULL, 'Sample.Periodic', NULL),
             ('old', 'CP-OLD', 1, '2026-03-01T10:00:00.000000000Z', 'Voltage', 230.25, 'V',
                 'L1-N', 'Sample.Periodic', 'Outlet'),
             ('old', 'CP-OLD', 1, '2026-03-01T10:02:00.000000000Z',
                 'Energy.Active.Import.Register', 1300, 'Wh', NULL, 'Sample.Periodic', NULL)",
        )
        .await
        .unwrap();

    zaryad_store::migrate(&db.url()).await.unwrap();
    let store = db.open().await;
    let energy = |minute, value| {
        MeterSample::from_ocpp(
            at(minute, 0),
            value,
            Some("Energy.Active.Import.Register"),
            Some("Wh"),
            None,
            Some("Sample.Periodic"),
            None,
        )
    };
    let voltage = MeterSample::from_ocpp(
        at(0, 0),
        230.25,
        Some("Voltage"),
        Some("V"),
        Some("L1-N"),
        Some("Sample.Periodic"),
        Some("Outlet"),
    );
    store
        .commit(batch(vec![WriteOp::InsertSamples {
            station_id: id("CP-OLD"),
            evse_id: 1,
            session_id: Some("old".into()),
            samples: vec![energy(1, 1250.0), energy(2, 1301.0), energy(3, 1400.0)],
        }]))
        .await
        .unwrap();
    let expected = vec![
        energy(0, 1234.5),
        voltage,
        energy(1, 1250.0),
        energy(2, 1300.0),
        energy(2, 1301.0),
        energy(3, 1400.0),
    ];
    assert_eq!(store.meter_samples("old", 100).await.unwrap(), expected);
    assert_eq!(
        store.meter_samples("old", 4).await.unwrap(),
        expected[..4].to_vec()
    );
    let frames = store.frames(&id("CP-OLD"), 10).await.unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].direction, Direction::Outbound);
    assert_eq!(frames[0].message_id, None);
    assert_eq!(
        frames[0].text,
        r#"[3,"h1",{"currentTime":"2025-01-01T00:00:01Z"}]"#
    );
    assert_eq!(
        frames[1].at,
        chrono::Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
    );
    assert_eq!(frames[1].action.as_deref(), Some("Heartbeat"));
    assert_eq!(frames[1].message_id.as_deref(), Some("h1"));
    assert_eq!(frames[1].repairs, ["missing_offset"]);
    // Frames logged now are stored compressed, and list together with the old ones.
    for n in 0..3 {
        store.log_frame(frame("CP-OLD", n)).await;
    }
    let listed = store.frames(&id("CP-OLD"), 10).await.unwrap();
    assert_eq!(
        listed[..3],
        [frame("CP-OLD", 2), frame("CP-OLD", 1), frame("CP-OLD", 0)]
    );
    assert_eq!(listed[3..], frames[..]);
    let packed = "SELECT count(*) FROM frame_batches WHERE packed IS NOT NULL AND frames = ''";
    assert_eq!(scalar(&db, packed).await, 1);
    let text = "SELECT count(*) FROM frame_batches WHERE packed IS NULL AND frames <> ''";
    assert_eq!(scalar(&db, text).await, 2);
    let session = store.session("old").await.unwrap().unwrap();
    assert_eq!(session.energy_wh, Some(1234.5));
    assert_eq!(session.transaction_id, "17");
    store
        .commit(batch(vec![WriteOp::UpsertSession(full_session(
            "new", "CP-OLD", "18", 0,
        ))]))
        .await
        .unwrap();
    let filter = SessionFilter {
        station_id: Some(id("CP-OLD")),
        ..SessionFilter::default()
    };
    assert_eq!(store.sessions(&filter).await.unwrap().len(), 2);
}

/// The one integer `sql` selects, read on a connection of the test's own.
async fn scalar(db: &Db, sql: &str) -> i64 {
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;

    match db.test.engine() {
        Engine::Sqlite => {
            let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url())
                .unwrap()
                .connect()
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url()).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
    }
}

#[tokio::test]
async fn released_migrations_are_never_edited() {
    // sqlx refuses to start on a database whose applied migration changed: editing a released
    // file would lock every upgraded installation out. New schema goes into a new file.
    // Each released file with its SHA-384 in migrations/sqlite and in migrations/postgres.
    let released: &[(&str, &str, &str)] = &[
        ("0001_init.sql", SQLITE_0001_SHA384, POSTGRES_0001_SHA384),
        (
            "0002_write_path.sql",
            SQLITE_0002_SHA384,
            POSTGRES_0002_SHA384,
        ),
        (
            "0003_station_configuration.sql",
            SQLITE_0003_SHA384,
            POSTGRES_0003_SHA384,
        ),
        (
            "0004_session_register_history.sql",
            SQLITE_0004_SHA384,
            POSTGRES_0004_SHA384,
        ),
        (
            "0005_event_delivery.sql",
            SQLITE_0005_SHA384,
            POSTGRES_0005_SHA384,
        ),
        (
            "0006_frame_batches.sql",
            SQLITE_0006_SHA384,
            POSTGRES_0006_SHA384,
        ),
        (
            "0007_meter_readings.sql",
            SQLITE_0007_SHA384,
            POSTGRES_0007_SHA384,
        ),
        (
            "0008_packed_frame_batches.sql",
            SQLITE_0008_SHA384,
            POSTGRES_0008_SHA384,
        ),
        (
            "0009_stations_fillfactor.sql",
            SQLITE_0009_SHA384,
            POSTGRES_0009_SHA384,
        ),
        (
            "0010_active_sessions_index.sql",
            SQLITE_0010_SHA384,
            POSTGRES_0010_SHA384,
        ),
        (
            "0011_session_ended_index.sql",
            SQLITE_0011_SHA384,
            POSTGRES_0011_SHA384,
        ),
    ];
    let expected = released.iter().flat_map(|(file, sqlite, postgres)| {
        [("sqlite", *file, *sqlite), ("postgres", *file, *postgres)]
    });
    for (engine, file, checksum) in expected {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../../migrations/{engine}"));
        let migrator = sqlx::migrate::Migrator::new(dir).await.unwrap();
        let migration = migrator
            .iter()
            .find(|migration| file.starts_with(&format!("{:04}_", migration.version)))
            .unwrap();
        let hex: String = migration
            .checksum
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(&hex, checksum, "migrations/{engine}/{file} was edited");
    }
}

const SQLITE_0011_SHA384: &str = "e8b901ac2bd9d43726b48e85f6194464a6c4d569eb334a5c8d9d0995fbaad94dcd341e278e7db16d5b4c78e53f04ef73";
const POSTGRES_0011_SHA384: &str = "5158f076db28e47f6f4b5c37b0c1523259d4bcccf36c8f0efe7dfcb1ff0a6b34191e6e60aeac6de86484a60fd61e5fc8";
const SQLITE_0010_SHA384: &str = "313ad47760fbea34f062dc7ac0319fdbfb29c2d38fd262a16d80f7d0f701b60af93fed51beac3ae79cec6ca7c7472d91";
const POSTGRES_0010_SHA384: &str = "c81a176806f758256fb9db78283abbf83c517c5e62cac9575b43510ec7d2135231ef65d480a9e12a90a5408c436a104f";
const SQLITE_0009_SHA384: &str = "76fca1fb7df4a8c156e3425dedfc1ecb6bcde9d43b0e9a4a55b5b6c7a950f07bebfa1ee6587f8d1ff029701dd500c212";
const POSTGRES_0009_SHA384: &str = "3dc2ec3f1be526e2708a8e8864f0f90e80b70cf422bfca51ae57101a23440ab288a57addba5144142181c97afc2903ea";
const SQLITE_0008_SHA384: &str = "4a703dd7c9c2527fa91a8b79fe5399c37e7fdd5e860ea46048cb984b8e274274f0c3773c2139a56656b981d7c34b4501";
const POSTGRES_0008_SHA384: &str = "c092a725589709e7005bf3bb78461c26249f1382043fbffdf05ca1c9f63c23b95f6ce6d19e81e6c80866f0ceb828f400";
const SQLITE_0007_SHA384: &str = "ea3ae10ae3dfc30f0f2d53a42b886ef6eeeaa1826771ded5a51bce2b5274bb2c55b9b4b418d41392a2db2af104b2f049";
const POSTGRES_0007_SHA384: &str = "b22a05cfc17bf0bc69183ed78c3ec0888698f95c041c6ab723ec6c59dc20c930902322a084c1a620b7f3fabbdd581a20";
const SQLITE_0006_SHA384: &str = "4772fed47e06de5e4694aa7ce3422700481ac7d1873d7737cce31b2f0b7322013183e6c783d8db047d3aa8b7c1aaccee";
const POSTGRES_0006_SHA384: &str = "6c0396680320c6c871085e99fc817b0bcbcd800330286d967658de8d96d433b6ca93c45ef3d4e3e4bf296f7adcc669a2";
const SQLITE_0005_SHA384: &str = "a196452a6abf0c9ac1f4c052c985854a072a378994dbf56bcdaf82ba09a52aca30dc848a664832bc51bcb0cc45c68ec8";
const POSTGRES_0005_SHA384: &str = "dcb3155a925fa605ee175dc6c77f1056385b2f890a5291b486d954d4b7c0937083c5d0903e6108f701096bec901c1d14";
const SQLITE_0004_SHA384: &str = "1df048459df18febcb8cc7202fd8c63f382462dbfcf831a5eb3176b965eb26b187fe9a90e9ca940147628c04daee67c0";
const POSTGRES_0004_SHA384: &str = "1df048459df18febcb8cc7202fd8c63f382462dbfcf831a5eb3176b965eb26b187fe9a90e9ca940147628c04daee67c0";
const SQLITE_0003_SHA384: &str = "83f5db13f3af5c280fe87ef274e22958b00d867ebb3cc646703783179c8e58ccefbda094856e3bee9ec689fd68731cf6";
const POSTGRES_0003_SHA384: &str = "84fe0ba63eead49741bb6e517ba56315cb533b8a3ff16f144f826b22983c567fdbc6a02c8c013d1940bfd1b71fe07853";
const SQLITE_0002_SHA384: &str = "4b7c56425f3a2ac9c513e42505b74d6cc51865c1977aca8efbdd9b655290e9051a679140e0c79f880ab0f1688ca872ce";
const POSTGRES_0002_SHA384: &str = "5e027bda32312b3afd8b5c911602214a29f67019bfaabf761e20e6a4df662f786eb605324c0ce75a3772b3e1fd829f6a";
const SQLITE_0001_SHA384: &str = "8ac989d9946ac4db33e3490be0524cbcda83d0511076cc286c2512222c9e5288dd02c8f4dd1f91a40ac3a808263af544";
const POSTGRES_0001_SHA384: &str = "da3c4d5867c7379dc0ae19de1b51d2a90eeb630d354136e1bdc9b598205975058a283d0b445d3c5e8533d713566e204c";

async fn five_hundred_writers_and_readers_at_once(db: Db) {
    // What 500 chargers do at once after a restart: look themselves up, then commit.
    let store = db.open().await;
    let mut tasks = Vec::new();
    for n in 0..500 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let station = full_station(&format!("CP-{n}"));
            store.station(&station.id).await?;
            store.connectors(&station.id).await?;
            store
                .commit(batch(vec![
                    WriteOp::UpsertStation(station.clone()),
                    WriteOp::InsertSamples {
                        station_id: station.id.clone(),
                        evse_id: 1,
                        session_id: Some(format!("s-{n}")),
                        samples: vec![bare_sample(f64::from(n))],
                    },
                ]))
                .await?;
            store.touch(&station.id, at(2, 0));
            store.meter_samples(&format!("s-{n}"), 10).await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().len(), 1);
    }
    store.flush().await.unwrap();
    assert_eq!(store.stations().await.unwrap().len(), 500);
}

fn event(id: &str, event_type: EventType, station: &str, session: Option<&str>) -> DomainEvent {
    DomainEvent {
        id: id.into(),
        event_type,
        occurred_at: at(0, 0),
        station_id: StationId::parse(station).unwrap(),
        session_id: session.map(str::to_owned),
        data: json!({}),
    }
}

fn webhook(id: &str, event_types: Option<Vec<EventType>>) -> WriteOp {
    WriteOp::InsertWebhook(NewWebhook {
        id: id.into(),
        url: format!("http://127.0.0.1:1/{id}"),
        secret: "whsec_c2VjcmV0".into(),
        event_types,
        created_at: at(0, 0),
    })
}

async fn webhook_deliveries_are_queued_ordered_recorded_and_replayed(db: Db) {
    let store = db.open().await;
    let mut changes = store.outbox_changes();
    // One event before any webhook: nobody gets it.
    store
        .commit(batch(vec![WriteOp::AppendEvent(event(
            "e0",
            EventType::StationConnected,
            "CP-1",
            None,
        ))]))
        .await
        .unwrap();
    assert!(changes.has_changed().unwrap(), "an append wakes followers");
    changes.borrow_and_update();
    store
        .commit(batch(vec![
            webhook("all", None),
            webhook("ended", Some(vec![EventType::SessionEnded])),
        ]))
        .await
        .unwrap();
    assert!(!changes.has_changed().unwrap(), "no event, no wake-up");
    let hooks = store.webhooks().await.unwrap();
    assert_eq!(hooks.len(), 2);
    assert_eq!(hooks[1].event_types, Some(vec![EventType::SessionEnded]));
    assert_eq!(hooks[0].start_seq, store.last_event_seq().await.unwrap());
    store
        .commit(batch(vec![
            WriteOp::AppendEvent(event("e1", EventType::SessionStarted, "CP-1", Some("s1"))),
            WriteOp::AppendEvent(event("e2", EventType::SessionStarted, "CP-1", Some("s2"))),
            WriteOp::AppendEvent(event("e3", EventType::SessionEnded, "CP-1", Some("s1"))),
            WriteOp::AppendEvent(event("e4", EventType::StationBooted, "CP-1", None)),
        ]))
        .await
        .unwrap();
    let last = store.last_event_seq().await.unwrap();
    let queue = |after_seq| {
        batch(vec![
            WriteOp::QueueDeliveries {
                after_seq,
                through_seq: last,
                at: at(1, 0),
            },
            WriteOp::SetCursor {
                name: "webhooks".into(),
                seq: last,
            },
        ])
    };
    store.commit(queue(0)).await.unwrap();
    // Queueing again changes nothing; the cursor never moves back.
    store.commit(queue(0)).await.unwrap();
    store
        .commit(batch(vec![WriteOp::SetCursor {
            name: "webhooks".into(),
            seq: 1,
        }]))
        .await
        .unwrap();
    assert_eq!(store.cursor("webhooks").await.unwrap(), Some(last));
    assert_eq!(store.cursor("nats").await.unwrap(), None);

    let ids = |due: &[zaryad_store::DueDelivery]| -> Vec<(String, String)> {
        due.iter()
            .map(|d| (d.webhook_id.clone(), d.event.event.id.clone()))
            .collect()
    };
    // First in line per webhook and order key: e3 waits behind e1 (same session).
    let due = store.due_deliveries(at(1, 0), 100).await.unwrap();
    assert_eq!(
        ids(&due),
        [
            ("all".to_owned(), "e1".to_owned()),
            ("all".to_owned(), "e2".to_owned()),
            ("ended".to_owned(), "e3".to_owned()),
            ("all".to_owned(), "e4".to_owned()),
        ]
    );
    assert_eq!(due[0].url, "http://127.0.0.1:1/all");
    assert_eq!(due[0].order_key, "s1");
    assert_eq!(due[3].order_key, "station:CP-1");
    assert!(
        store
            .due_deliveries(at(0, 0), 100)
            .await
            .unwrap()
            .is_empty()
    );

    let attempt = |webhook_id: &str, event_seq: i64, outcome| {
        batch(vec![WriteOp::RecordAttempt(DeliveryAttempt {
            webhook_id: webhook_id.into(),
            event_seq,
            at: at(2, 0),
            outcome,
            response_status: Some(500),
            error: Some("boom".into()),
        })])
    };
    let e1 = due[0].event.seq;
    store
        .commit(attempt("all", e1, AttemptOutcome::Retry(at(5, 0))))
        .await
        .unwrap();
    let due = store.due_deliveries(at(3, 0), 100).await.unwrap();
    assert!(!ids(&due).contains(&("all".into(), "e1".into())));
    assert!(
        !ids(&due).contains(&("all".into(), "e3".into())),
        "waits behind e1"
    );
    assert_eq!(
        store.next_delivery_after(at(3, 0)).await.unwrap(),
        Some(at(5, 0))
    );
    // e2 found nobody answering, e4 was refused by the receiver's own code (500).
    let seq_of = |id: &str| {
        due.iter()
            .find(|d| d.event.event.id == id)
            .unwrap()
            .event
            .seq
    };
    let unreachable = DeliveryAttempt {
        webhook_id: "all".into(),
        event_seq: seq_of("e2"),
        at: at(2, 0),
        outcome: AttemptOutcome::Retry(at(30, 0)),
        response_status: None,
        error: Some("connection refused".into()),
    };
    store
        .commit(batch(vec![WriteOp::RecordAttempt(unreachable)]))
        .await
        .unwrap();
    store
        .commit(attempt(
            "all",
            seq_of("e4"),
            AttemptOutcome::Retry(at(30, 0)),
        ))
        .await
        .unwrap();
    store
        .commit(attempt("all", e1, AttemptOutcome::Delivered))
        .await
        .unwrap();
    let due = store.due_deliveries(at(3, 0), 100).await.unwrap();
    assert!(
        ids(&due).contains(&("all".into(), "e3".into())),
        "next in line"
    );
    // A delivery means the receiver is back: the unreachable one is due now, the refused one
    // keeps its backoff.
    assert!(ids(&due).contains(&("all".into(), "e2".into())), "{due:?}");
    assert!(!ids(&due).contains(&("all".into(), "e4".into())), "{due:?}");
    let log = store.deliveries("all", None, 100).await.unwrap();
    assert_eq!(log.len(), 4);
    let first = log.iter().find(|d| d.event_id == "e1").unwrap();
    assert_eq!(
        log.iter()
            .find(|d| d.event_id == "e2")
            .unwrap()
            .next_attempt_at,
        at(2, 0)
    );
    assert_eq!(first.status, DeliveryStatus::Delivered);
    assert_eq!(first.attempts, 2);
    assert_eq!(first.delivered_at, Some(at(2, 0)));
    assert_eq!(first.response_status, Some(500));
    assert_eq!(first.event_type, EventType::SessionStarted);
    assert!(
        log.windows(2)
            .all(|pair| pair[0].event_seq > pair[1].event_seq)
    );
    let delivered = store
        .deliveries("all", Some(DeliveryStatus::Delivered), 100)
        .await
        .unwrap();
    assert_eq!(delivered.len(), 1);

    // A replay queues everything since a time again, the type filter applied.
    store
        .commit(batch(vec![WriteOp::ReplayDeliveries {
            webhook_id: "ended".into(),
            since: at(0, 0),
            at: at(6, 0),
        }]))
        .await
        .unwrap();
    let log = store.deliveries("ended", None, 100).await.unwrap();
    assert_eq!(log.len(), 1, "only session.ended: {log:?}");
    store
        .commit(batch(vec![WriteOp::ReplayDeliveries {
            webhook_id: "all".into(),
            since: at(0, 0),
            at: at(6, 0),
        }]))
        .await
        .unwrap();
    let log = store.deliveries("all", None, 100).await.unwrap();
    assert_eq!(log.len(), 5, "e0, from before the webhook, too");
    assert!(
        log.iter()
            .all(|d| d.status == DeliveryStatus::Pending && d.attempts == 0)
    );

    // Deleting a webhook drops its log; queueing for it afterwards is a no-op.
    store
        .commit(batch(vec![WriteOp::DeleteWebhook("all".into())]))
        .await
        .unwrap();
    assert!(store.webhook("all").await.unwrap().is_none());
    assert!(store.deliveries("all", None, 100).await.unwrap().is_empty());
    store.commit(queue(0)).await.unwrap();
    assert!(store.deliveries("all", None, 100).await.unwrap().is_empty());
}

async fn a_session_s_newest_ended_event_is_found_among_others(db: Db) {
    let store = db.open().await;
    let ended = |id: &str, session: &str, revision: u32| {
        let mut event = event(id, EventType::SessionEnded, "CP-1", Some(session));
        event.data = json!({ "revision": revision });
        WriteOp::AppendEvent(event)
    };
    store
        .commit(batch(vec![
            WriteOp::AppendEvent(event(
                "s1-start",
                EventType::SessionStarted,
                "CP-1",
                Some("s1"),
            )),
            WriteOp::AppendEvent(event(
                "s2-start",
                EventType::SessionStarted,
                "CP-1",
                Some("s2"),
            )),
            ended("s1-end", "s1", 0),
            WriteOp::AppendEvent(event(
                "status",
                EventType::ConnectorStatusChanged,
                "CP-1",
                None,
            )),
        ]))
        .await
        .unwrap();
    // A later event of another type about the same session, then its correction, then
    // another session's end.
    store
        .commit(batch(vec![
            WriteOp::AppendEvent(event(
                "s1-late",
                EventType::SessionUpdated,
                "CP-1",
                Some("s1"),
            )),
            ended("s1-corrected", "s1", 1),
            ended("s3-end", "s3", 0),
        ]))
        .await
        .unwrap();
    let latest = store.latest_session_ended("s1").await.unwrap().unwrap();
    assert_eq!(latest.event.id, "s1-corrected");
    assert_eq!(latest.event.event_type, EventType::SessionEnded);
    assert_eq!(latest.event.data["revision"], 1);
    assert_eq!(
        store
            .latest_session_ended("s3")
            .await
            .unwrap()
            .unwrap()
            .event
            .id,
        "s3-end"
    );
    // Started but not ended: nothing, though the session has events.
    assert!(store.latest_session_ended("s2").await.unwrap().is_none());
    assert!(
        store
            .latest_session_ended("nobody")
            .await
            .unwrap()
            .is_none()
    );
}

async fn session_corrections_wait_and_refuse_stale_answers(db: Db) {
    let store = db.open().await;
    let request = || {
        batch(vec![WriteOp::RequestSessionCorrection {
            session_id: "s1".into(),
            due_at: at(10, 0),
        }])
    };
    store.commit(request()).await.unwrap();
    assert!(
        store
            .due_session_corrections(at(9, 0), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = store.due_session_corrections(at(10, 0), 10).await.unwrap();
    assert_eq!(
        due,
        [SessionCorrection {
            session_id: "s1".into(),
            due_at: at(10, 0),
            generation: 0,
        }]
    );
    // More late values while it waits: same due time, and the answer built before is stale.
    store
        .commit(batch(vec![WriteOp::RequestSessionCorrection {
            session_id: "s1".into(),
            due_at: at(20, 0),
        }]))
        .await
        .unwrap();
    let stale = batch(vec![
        WriteOp::AppendEvent(event(
            "corrected",
            EventType::SessionEnded,
            "CP-1",
            Some("s1"),
        )),
        WriteOp::FinishSessionCorrection(due[0].clone()),
    ]);
    assert!(matches!(
        store.commit(stale).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store.latest_session_ended("s1").await.unwrap().is_none(),
        "the stale event was undone with it"
    );
    let due = store.due_session_corrections(at(10, 0), 10).await.unwrap();
    assert_eq!(due[0].generation, 1);
    store
        .commit(batch(vec![
            WriteOp::AppendEvent(event(
                "corrected",
                EventType::SessionEnded,
                "CP-1",
                Some("s1"),
            )),
            WriteOp::FinishSessionCorrection(due[0].clone()),
        ]))
        .await
        .unwrap();
    assert!(
        store
            .due_session_corrections(at(59, 0), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let latest = store.latest_session_ended("s1").await.unwrap().unwrap();
    assert_eq!(latest.event.id, "corrected");
}
