//! Reads, served by the read-only pool; they never wait for the writer.

use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use zaryad_model::{Connector, IdToken, MeterSample, Session, Station, StationId};

use super::rows;
use crate::{ApiToken, FrameRecord, SessionFilter, StationCredentials, StoreError, StoredEvent};

/// The number of rows a listing returns when the caller asks for 0.
const DEFAULT_LIMIT: u32 = 100;

fn limit(requested: u32) -> i64 {
    i64::from(if requested == 0 {
        DEFAULT_LIMIT
    } else {
        requested
    })
}

fn decode_all<T>(
    rows: Vec<SqliteRow>,
    decode: impl Fn(&SqliteRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(decode).collect()
}

pub(crate) async fn station(
    pool: &SqlitePool,
    id: &StationId,
) -> Result<Option<Station>, StoreError> {
    sqlx::query("SELECT * FROM stations WHERE id = ?1")
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(rows::station)
        .transpose()
}

pub(crate) async fn stations(pool: &SqlitePool) -> Result<Vec<Station>, StoreError> {
    let found = sqlx::query("SELECT * FROM stations ORDER BY id")
        .fetch_all(pool)
        .await?;
    decode_all(found, rows::station)
}

pub(crate) async fn station_credentials(
    pool: &SqlitePool,
    id: &StationId,
) -> Result<Option<StationCredentials>, StoreError> {
    let Some(row) = sqlx::query("SELECT password_hash FROM stations WHERE id = ?1")
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(StationCredentials {
        station_id: id.clone(),
        password_hash: rows::password_hash(&row)?,
    }))
}

pub(crate) async fn connectors(
    pool: &SqlitePool,
    station_id: &StationId,
) -> Result<Vec<Connector>, StoreError> {
    let found = sqlx::query(
        "SELECT * FROM connectors WHERE station_id = ?1 ORDER BY evse_id, connector_id",
    )
    .bind(station_id.as_str())
    .fetch_all(pool)
    .await?;
    decode_all(found, rows::connector)
}

pub(crate) async fn session(pool: &SqlitePool, id: &str) -> Result<Option<Session>, StoreError> {
    sqlx::query("SELECT * FROM sessions WHERE id = ?1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(rows::session)
        .transpose()
}

pub(crate) async fn session_by_transaction(
    pool: &SqlitePool,
    station_id: &StationId,
    transaction_id: &str,
) -> Result<Option<Session>, StoreError> {
    // Chargers reuse transaction ids (after a reboot, or 1.6 ids after the counter wrapped):
    // the most recently created session is the one a message about that id concerns.
    sqlx::query(
        "SELECT * FROM sessions WHERE station_id = ?1 AND transaction_id = ?2
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(station_id.as_str())
    .bind(transaction_id)
    .fetch_optional(pool)
    .await?
    .as_ref()
    .map(rows::session)
    .transpose()
}

pub(crate) async fn sessions(
    pool: &SqlitePool,
    filter: &SessionFilter,
) -> Result<Vec<Session>, StoreError> {
    // Built per filter rather than `(? IS NULL OR …)`, which would keep SQLite from using
    // the indexes.
    let mut query: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM sessions");
    let mut joiner = " WHERE ";
    if let Some(station_id) = &filter.station_id {
        query
            .push(joiner)
            .push("station_id = ")
            .push_bind(station_id.as_str().to_owned());
        joiner = " AND ";
    }
    if let Some(state) = filter.state {
        query
            .push(joiner)
            .push("state = ")
            .push_bind(state.as_str());
    }
    query
        .push(" ORDER BY started_at DESC, seq DESC LIMIT ")
        .push_bind(limit(filter.limit));
    let found = query.build().fetch_all(pool).await?;
    decode_all(found, rows::session)
}

pub(crate) async fn meter_samples(
    pool: &SqlitePool,
    session_id: &str,
    max: u32,
) -> Result<Vec<MeterSample>, StoreError> {
    let found = sqlx::query(
        "SELECT * FROM meter_samples WHERE session_id = ?1 ORDER BY timestamp, id LIMIT ?2",
    )
    .bind(session_id)
    .bind(limit(max))
    .fetch_all(pool)
    .await?;
    decode_all(found, rows::meter_sample)
}

pub(crate) async fn id_token(
    pool: &SqlitePool,
    token: &str,
) -> Result<Option<IdToken>, StoreError> {
    sqlx::query("SELECT * FROM id_tokens WHERE token = ?1")
        .bind(token)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(rows::id_token)
        .transpose()
}

pub(crate) async fn id_tokens(pool: &SqlitePool) -> Result<Vec<IdToken>, StoreError> {
    let found = sqlx::query("SELECT * FROM id_tokens ORDER BY token")
        .fetch_all(pool)
        .await?;
    decode_all(found, rows::id_token)
}

pub(crate) async fn frames(
    pool: &SqlitePool,
    station_id: &StationId,
    max: u32,
) -> Result<Vec<FrameRecord>, StoreError> {
    let found = sqlx::query("SELECT * FROM frames WHERE station_id = ?1 ORDER BY id DESC LIMIT ?2")
        .bind(station_id.as_str())
        .bind(limit(max))
        .fetch_all(pool)
        .await?;
    decode_all(found, rows::frame)
}

pub(crate) async fn events_after(
    pool: &SqlitePool,
    after_seq: i64,
    max: u32,
) -> Result<Vec<StoredEvent>, StoreError> {
    let found = sqlx::query("SELECT * FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")
        .bind(after_seq)
        .bind(limit(max))
        .fetch_all(pool)
        .await?;
    decode_all(found, rows::event)
}

pub(crate) async fn api_token_by_hash(
    pool: &SqlitePool,
    token_hash: &str,
) -> Result<Option<ApiToken>, StoreError> {
    sqlx::query("SELECT * FROM api_tokens WHERE token_hash = ?1")
        .bind(token_hash)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(rows::api_token)
        .transpose()
}

pub(crate) async fn count_api_tokens(pool: &SqlitePool) -> Result<u64, StoreError> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens")
        .fetch_one(pool)
        .await?;
    u64::try_from(count).map_err(|_| StoreError::Corrupt {
        table: "api_tokens",
        column: "count",
        detail: format!("negative row count {count}"),
    })
}

pub(crate) async fn ping(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}
