//! SQLite: WAL, `synchronous=FULL`, one writer connection with group commit, a read-only pool.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, QueryBuilder, Sqlite, SqliteConnection};

use crate::engine::ops::SampleRow;
use crate::engine::rows::{names_json, timestamp_text};
use crate::engine::{SqlConn, SqlStore};
use crate::{FrameRecord, StoreError, StoreOptions, redact_url};

/// The SQLite schema, embedded at build time.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How long a connection waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page cache per connection, in KiB (SQLite reads negative `cache_size` as KiB).
const CACHE_KIB: &str = "-16384";

/// Rows per multi-row INSERT: well under SQLite's limit of bound parameters per statement.
const ROWS_PER_INSERT: usize = 100;

/// Opens (creating when missing) the database at `options.url`, applies migrations and
/// starts the writer task; must be called inside a Tokio runtime.
pub async fn open(options: &StoreOptions) -> Result<SqlStore, StoreError> {
    let base = base_options(&options.url)?;
    let connect = writer_options(base.clone());
    let mut conn = connect.connect().await?;
    MIGRATOR.run(&mut conn).await?;

    // Read-only connections cannot take the write lock, so a stray write through the pool
    // fails loudly instead of competing with the writer.
    let read_options = base
        .read_only(true)
        .busy_timeout(BUSY_TIMEOUT)
        .pragma("cache_size", CACHE_KIB)
        .pragma("temp_store", "memory");
    let read = SqlitePoolOptions::new()
        .max_connections(options.read_pool_size.max(1))
        .connect_with(read_options)
        .await?;
    tracing::info!(url = %redact_url(&options.url), "SQLite store open");
    Ok(SqlStore::start(SqlConn { conn, connect }, read, options))
}

/// Applies pending migrations to the SQLite database at `url` (created when missing).
pub async fn migrate(url: &str) -> Result<(), StoreError> {
    let mut conn = writer_options(base_options(url)?).connect().await?;
    MIGRATOR.run(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// Parses `url`, refusing in-memory databases (the writer and the read pool must share a file)
/// and creating the file's directory.
fn base_options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|error| StoreError::Config(format!("{}: {error}", redact_url(url))))?;
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(StoreError::Config(format!(
            "{url}: in-memory SQLite is not supported, name a file"
        )));
    }
    create_parent_dir(options.get_filename())?;
    Ok(options.create_if_missing(true))
}

fn create_parent_dir(file: &Path) -> Result<(), StoreError> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|error| {
            StoreError::Config(format!(
                "cannot create directory {}: {error}",
                dir.display()
            ))
        }),
        _ => Ok(()),
    }
}

fn writer_options(base: SqliteConnectOptions) -> SqliteConnectOptions {
    // FULL makes each commit survive power loss, which "acknowledged means durable" needs;
    // group commit spreads its fsync over every request in the group.
    base.journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        .pragma("cache_size", CACHE_KIB)
        .pragma("temp_store", "memory")
}

/// Runs a multi-row INSERT per chunk of `rows`.
async fn insert_chunks<T>(
    conn: &mut SqliteConnection,
    head: &'static str,
    rows: &[T],
    push: impl Fn(sqlx::query_builder::Separated<'_, '_, Sqlite, &'static str>, &T) + Copy,
) -> Result<(), StoreError> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(head);
        insert.push_values(chunk, push);
        // Only full chunks share one statement text; caching every shorter tail would push
        // the everyday statements out of the cache.
        insert
            .build()
            .persistent(chunk.len() == ROWS_PER_INSERT)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

crate::engine::glue::impl_write_conn!(SqlConn<SqliteConnection>, {
    // IMMEDIATE takes the write lock up front: a deferred transaction that reads first could
    // fail to upgrade its lock if another process is writing.
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
    const SAVEPOINTS: bool = true;

    async fn insert_samples(&mut self, rows: &[SampleRow]) -> Result<(), StoreError> {
        insert_chunks(
            &mut self.conn,
            "INSERT INTO meter_samples (session_id, station_id, evse_id, timestamp, measurand,
                 value, unit, phase, context, location) ",
            rows,
            |mut row, sample| {
                row.push_bind(sample.session_id.clone())
                    .push_bind(sample.station_id.clone())
                    .push_bind(sample.evse_id)
                    .push_bind(sample.timestamp.clone())
                    .push_bind(sample.measurand.clone())
                    .push_bind(sample.value)
                    .push_bind(sample.unit.clone())
                    .push_bind(sample.phase.clone())
                    .push_bind(sample.context.clone())
                    .push_bind(sample.location.clone());
            },
        )
        .await
    }

    async fn insert_frames(&mut self, frames: &[FrameRecord]) -> Result<(), StoreError> {
        let rows = frames
            .iter()
            .map(|frame| Ok((frame, names_json(&frame.repairs)?)))
            .collect::<Result<Vec<(&FrameRecord, String)>, StoreError>>()?;
        insert_chunks(
            &mut self.conn,
            "INSERT INTO frames (station_id, direction, at, ocpp_version, action, message_id,
                 text, repairs) ",
            &rows,
            |mut row, (frame, repairs)| {
                row.push_bind(frame.station_id.as_str().to_owned())
                    .push_bind(frame.direction.as_str())
                    .push_bind(timestamp_text(&frame.at))
                    .push_bind(frame.ocpp_version.clone())
                    .push_bind(frame.action.clone())
                    .push_bind(frame.message_id.clone())
                    .push_bind(frame.text.clone())
                    .push_bind(repairs.clone());
            },
        )
        .await
    }
});

#[cfg(test)]
pub(crate) use tests::writer_conn;

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer's connection settings, as the writer's unit tests open it.
    pub(crate) async fn writer_conn(dir: &tempfile::TempDir) -> SqlConn<SqliteConnection> {
        let url = format!("sqlite://{}/w.db", dir.path().display());
        let connect = writer_options(base_options(&url).unwrap());
        let mut conn = connect.connect().await.unwrap();
        MIGRATOR.run(&mut conn).await.unwrap();
        SqlConn { conn, connect }
    }

    #[tokio::test]
    async fn the_writer_connection_is_durable_wal() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = writer_conn(&dir).await;
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut writer.conn)
            .await
            .unwrap();
        assert_eq!(journal, "wal");
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut writer.conn)
            .await
            .unwrap();
        assert_eq!(synchronous, 2, "FULL");
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut writer.conn)
            .await
            .unwrap();
        assert_eq!(foreign_keys, 1);
    }
}
