//! PostgreSQL: one writer connection with group commit, batch inserts through `UNNEST`
//! arrays (one part per table per group, the parts sent as one statement), a read pool.

mod combined;

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use zaryad_model::{StationId, Timestamp};

use crate::engine::frame_log::{FrameBatch, pack};
use crate::engine::ops::EventRow;
use crate::engine::query::Arg;
use crate::engine::read_pool::ReadPool;
use crate::engine::readings::ReadingRow;
use crate::engine::rows::timestamp_text;
use crate::engine::upserts::Upsert;
use crate::engine::writer::GroupParts;
use crate::engine::{SqlConn, SqlStore};
use crate::{StoreError, StoreOptions, redact_url};
use combined::Combined;

/// The PostgreSQL schema, embedded at build time.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// A read connection idle longer than this is pinged before use: one that has been idle may
/// have been dropped by the server or the network, while a busy one was just shown to work.
const PING_WHEN_IDLE: Duration = Duration::from_secs(10);

/// Opens the database at `options.url`, applies migrations and starts the writer task; must
/// be called inside a Tokio runtime.
pub async fn open(options: &StoreOptions) -> Result<SqlStore, StoreError> {
    let base = base_options(&options.url)?;
    let mut conn = base.connect().await?;
    MIGRATOR.run(&mut conn).await?;
    let connect = writer_options(&mut conn, base.clone()).await?;
    conn.close().await?;
    let conn = connect.connect().await?;
    let read =
        ReadPool::<PgConnection>::open(base, options.read_pool_size, Some(PING_WHEN_IDLE)).await?;
    tracing::info!(url = %redact_url(&options.url), "PostgreSQL store open");
    Ok(SqlStore::start(SqlConn { conn, connect }, read, options))
}

/// Applies pending migrations to the PostgreSQL database at `url`. Several nodes may run it
/// at once: sqlx serializes them with an advisory lock.
pub async fn migrate(url: &str) -> Result<(), StoreError> {
    let mut conn = base_options(url)?.connect().await?;
    MIGRATOR.run(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

fn base_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|error| StoreError::Config(format!("{}: {error}", redact_url(url))))?;
    Ok(options.application_name("zaryad"))
}

/// The writer's options: the base, with commits made durable if the server is set not to.
async fn writer_options(
    conn: &mut PgConnection,
    base: PgConnectOptions,
) -> Result<PgConnectOptions, StoreError> {
    let synchronous: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&mut *conn)
        .await?;
    if synchronous == "off" {
        // A CALLRESULT promises that the data is stored; with `off`, a crash of the database
        // may lose commits that were already acknowledged.
        tracing::warn!(
            "synchronous_commit is off on the database; the writer turns it on for its own session"
        );
        return Ok(base.options([("synchronous_commit", "on")]));
    }
    Ok(base)
}

/// PostgreSQL text cannot hold NUL; the frame log keeps everything else of such a frame.
fn without_nul(text: &str) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text.to_owned()
    }
}

crate::engine::glue::impl_write_conn!(SqlConn<PgConnection>, {
    const BEGIN: &'static str = "BEGIN";
    // A group's events and station, session and connector upserts batched at its end: each
    // would otherwise be a round trip of the one writer (and `write_rows` below sends them,
    // with the readings and frame batches, as one statement).
    const BATCH_ROWS: bool = true;
    // Most groups only add rows: one statement, no BEGIN and COMMIT round trips.
    const ONE_STATEMENT: bool = true;
    // On the shared runtime, each of the writer's round trips waited behind the connection
    // tasks: at 10,000 chargers its connection sat idle most of the time while groups queued.
    const OWN_THREAD: bool = true;

    async fn attach(&mut self) -> Result<(), StoreError> {
        self.reconnect().await
    }

    async fn insert_events(&mut self, rows: &[EventRow]) -> Result<(), StoreError> {
        let mut statement = Combined::default();
        events_part(&mut statement, rows)?;
        statement.execute(&mut self.conn).await
    }

    async fn upsert_rows(&mut self, kind: Upsert, rows: &[Vec<Arg>]) -> Result<(), StoreError> {
        let mut statement = Combined::default();
        upserts_part(&mut statement, kind, rows)?;
        statement.execute(&mut self.conn).await
    }

    async fn write_rows(&mut self, rows: GroupParts<'_>) -> Result<(), StoreError> {
        // The whole group in one statement: each part a round trip saved.
        let mut statement = Combined::default();
        upserts_part(&mut statement, Upsert::Session, rows.sessions)?;
        upserts_part(&mut statement, Upsert::Connector, rows.connectors)?;
        events_part(&mut statement, rows.events)?;
        readings_part(&mut statement, rows.readings)?;
        frames_part(&mut statement, rows.frames)?;
        statement.execute(&mut self.conn).await
    }

    async fn update_last_seen(
        &mut self,
        touches: &[(StationId, Timestamp)],
    ) -> Result<(), StoreError> {
        // One statement for every station heard from since the last flush.
        sqlx::query(
            "UPDATE stations SET last_seen_at = seen.at
             FROM UNNEST($1::text[], $2::text[]) AS seen (id, at)
             WHERE stations.id = seen.id
                 AND (stations.last_seen_at IS NULL OR stations.last_seen_at < seen.at)",
        )
        .bind(column(touches, |(station_id, _)| {
            station_id.as_str().to_owned()
        }))
        .bind(column(touches, |(_, at)| timestamp_text(at)))
        .execute(&mut self.conn)
        .await?;
        Ok(())
    }
});

/// Appends outbox events; none, no part.
fn events_part(statement: &mut Combined, rows: &[EventRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    // WITH ORDINALITY … ORDER BY hands out `seq` in the given order, which the outbox's
    // readers follow.
    statement.part(
        "INSERT INTO events (id, type, occurred_at, station_id, session_id, data)
         SELECT id, type, occurred_at, station_id, session_id, data
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
             WITH ORDINALITY AS row (id, type, occurred_at, station_id, session_id, data, n)
         ORDER BY n
         ON CONFLICT (id) DO NOTHING",
    );
    statement.bind(column(rows, |row| row.id.clone()))?;
    statement.bind(column(rows, |row| row.event_type.clone()))?;
    statement.bind(column(rows, |row| row.occurred_at.clone()))?;
    statement.bind(column(rows, |row| row.station_id.clone()))?;
    statement.bind(column(rows, |row| row.session_id.clone()))?;
    statement.bind(column(rows, |row| row.data.clone()))
}

/// Upserts rows of one kind (no two with the same key); none, no part.
fn upserts_part(
    statement: &mut Combined,
    kind: Upsert,
    rows: &[Vec<Arg>],
) -> Result<(), StoreError> {
    // Each argument position becomes one array parameter of its type (every row of a kind
    // has the same types in each).
    let Some(first) = rows.first() else {
        return Ok(());
    };
    statement.part(kind.many());
    for (position, kind) in first.iter().enumerate() {
        let cell = |row: &Vec<Arg>| row.get(position).cloned();
        match kind {
            Arg::Text(_) => statement.bind(column(rows, |row| match cell(row) {
                Some(Arg::Text(value)) => value,
                _ => None,
            }))?,
            Arg::Int(_) => statement.bind(column(rows, |row| match cell(row) {
                Some(Arg::Int(value)) => value,
                _ => None,
            }))?,
            Arg::Real(_) => statement.bind(column(rows, |row| match cell(row) {
                Some(Arg::Real(value)) => value,
                _ => None,
            }))?,
            Arg::Bool(_) => statement.bind(column(rows, |row| {
                matches!(cell(row), Some(Arg::Bool(true)))
            }))?,
        }
    }
    Ok(())
}

/// Appends meter readings; none, no part.
fn readings_part(statement: &mut Combined, rows: &[ReadingRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    // Each column is one array parameter. WITH ORDINALITY … ORDER BY keeps the ids (and so
    // the read order) in the given order.
    statement.part(
        "INSERT INTO meter_readings (session_id, station_id, evse_id, timestamp, samples)
         SELECT session_id, station_id, evse_id, timestamp, samples
         FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[])
             WITH ORDINALITY AS row (session_id, station_id, evse_id, timestamp, samples, n)
         ORDER BY n",
    );
    statement.bind(column(rows, |row| row.session_id.clone()))?;
    statement.bind(column(rows, |row| row.station_id.clone()))?;
    statement.bind(column(rows, |row| row.evse_id))?;
    statement.bind(column(rows, |row| row.timestamp.clone()))?;
    statement.bind(column(rows, |row| row.samples.clone()))
}

/// Appends frame-log batches, one row each, in order; none, no part.
fn frames_part(statement: &mut Combined, batches: &[FrameBatch]) -> Result<(), StoreError> {
    let mut station_ids = Vec::with_capacity(batches.len());
    let mut first_ats = Vec::with_capacity(batches.len());
    let mut last_ats = Vec::with_capacity(batches.len());
    let mut counts = Vec::with_capacity(batches.len());
    let mut packed = Vec::with_capacity(batches.len());
    for batch in batches {
        let Some((first_at, last_at)) = batch.span_text() else {
            continue;
        };
        // PostgreSQL text cannot hold NUL; the station id cannot either.
        station_ids.push(without_nul(batch.station_id.as_str()));
        first_ats.push(first_at);
        last_ats.push(last_at);
        counts.push(i32::try_from(batch.frames.len()).unwrap_or(i32::MAX));
        packed.push(pack(&batch.frames)?);
    }
    if station_ids.is_empty() {
        return Ok(());
    }
    statement.part(
        "INSERT INTO frame_batches (station_id, first_at, last_at, frame_count, frames, packed)
         SELECT station_id, first_at, last_at, frame_count, '', packed
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int4[], $5::bytea[])
             WITH ORDINALITY AS row (station_id, first_at, last_at, frame_count, packed, n)
         ORDER BY n",
    );
    statement.bind(station_ids)?;
    statement.bind(first_ats)?;
    statement.bind(last_ats)?;
    statement.bind(counts)?;
    statement.bind(packed)
}

/// One column of `rows`, as an array parameter.
fn column<R, T>(rows: &[R], value: impl Fn(&R) -> T) -> Vec<T> {
    rows.iter().map(value).collect()
}
