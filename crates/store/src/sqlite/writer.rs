//! The SQLite writer's connection: rusqlite on the writer's own thread, not sqlx.
//!
//! sqlx runs every SQLite statement on a worker thread of its own and hands each one over and
//! back through channels: a group of a hundred requests cost several hundred thread hand-offs
//! in a row, and on a busy machine each hand-off waits for the scheduler. The writer runs on a
//! thread of its own instead ([`WriteConn::OWN_THREAD`]) and calls SQLite directly, so a whole
//! group is one hand-off in and one answer out per request. Statements are the same text as
//! on PostgreSQL (`$1` placeholders, which SQLite reads as named parameters) and are prepared
//! once and cached.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{CachedStatement, Connection, OpenFlags};
use zaryad_model::{StationId, Timestamp};

use crate::StoreError;
use crate::engine::frame_log::{FrameBatch, pack};
use crate::engine::ops::{EventRow, INSERT_EVENT};
use crate::engine::query::{Arg, Query};
use crate::engine::readings::ReadingRow;
use crate::engine::rows::touches_json;
use crate::engine::upserts::{SESSION_UPDATES, Upsert};
use crate::engine::writer::{GroupParts, WriteConn};

/// Prepared statements kept per connection: every write statement of the schema, with room.
const STATEMENT_CACHE: usize = 128;

/// The writer's connection to a SQLite file.
pub(crate) struct SqliteWriteConn {
    /// The connection, used only from the writer's thread.
    pub(crate) conn: Connection,
    /// The file, to reopen a broken connection.
    path: PathBuf,
    /// How long to wait for a lock held by another process.
    busy_timeout: Duration,
    /// Which argument each parameter of a statement takes ([`argument_positions`]), for the
    /// statements whose text is a `&'static str`, by its address and length (the same
    /// address and length is the same text): asking SQLite for every parameter's name on
    /// every execution walks its list of names each time, ~3 % of the writer's instructions.
    positions: HashMap<(usize, usize), Box<[Option<usize>]>>,
}

impl SqliteWriteConn {
    /// Opens the writer's connection: WAL, `synchronous=FULL`, foreign keys on.
    pub(crate) fn open(path: &Path, busy_timeout: Duration) -> Result<SqliteWriteConn, StoreError> {
        Ok(SqliteWriteConn {
            conn: connect(path, busy_timeout)?,
            path: path.to_owned(),
            busy_timeout,
            positions: HashMap::new(),
        })
    }

    fn statement(&self, sql: &str) -> Result<CachedStatement<'_>, StoreError> {
        Ok(self.conn.prepare_cached(sql)?)
    }

    /// Runs `sql` once for each argument list of `rows`, taking the statement from the cache
    /// once for them all: each trip through rusqlite's cache hashes the whole text twice and
    /// clears the bindings, ~2,600 instructions.
    fn execute_each(&mut self, sql: &'static str, rows: &[Vec<Arg>]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut statement = self.conn.prepare_cached(sql)?;
        let positions = known_positions(&mut self.positions, sql, &statement);
        for args in rows {
            bind(&mut statement, positions, args)?;
            run(&mut statement)?;
        }
        Ok(())
    }

    /// Writes sessions, in order: each with the first of [`SESSION_UPDATES`] that finds its
    /// row (a meter update leaves every indexed column alone, a stop all but the state), and
    /// with the full upsert only where none did (a new session, or one whose keys or times
    /// moved).
    fn write_sessions(&mut self, rows: &[Vec<Arg>]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let upsert_sql = Upsert::Session.one();
        let mut updates = Vec::with_capacity(SESSION_UPDATES.len());
        for sql in SESSION_UPDATES {
            let statement = self.conn.prepare_cached(sql)?;
            let positions = known_positions(&mut self.positions, sql, &statement).to_vec();
            updates.push((statement, positions));
        }
        let mut upsert = self.conn.prepare_cached(upsert_sql)?;
        let upsert_positions = known_positions(&mut self.positions, upsert_sql, &upsert);
        'rows: for args in rows {
            for (update, positions) in &mut updates {
                bind(update, positions, args)?;
                run(update)?;
                if self.conn.changes() > 0 {
                    continue 'rows;
                }
            }
            bind(&mut upsert, upsert_positions, args)?;
            run(&mut upsert)?;
        }
        Ok(())
    }

    /// Appends meter readings, in order.
    fn insert_readings(&mut self, rows: &[ReadingRow]) -> Result<(), StoreError> {
        let mut statement = self.statement(
            "INSERT INTO meter_readings (session_id, station_id, evse_id, timestamp, samples)
             VALUES ($1, $2, $3, $4, $5)",
        )?;
        for reading in rows {
            statement.execute(rusqlite::params![
                reading.session_id,
                reading.station_id,
                reading.evse_id,
                reading.timestamp,
                reading.samples,
            ])?;
        }
        Ok(())
    }

    /// Appends frame-log batches, one row each, in order.
    fn insert_frames(&mut self, batches: &[FrameBatch]) -> Result<(), StoreError> {
        let mut statement = self.statement(
            "INSERT INTO frame_batches (station_id, first_at, last_at, frame_count, frames, packed)
             VALUES ($1, $2, $3, $4, '', $5)",
        )?;
        for batch in batches {
            let Some((first_at, last_at)) = batch.span_text() else {
                continue;
            };
            statement.execute(rusqlite::params![
                batch.station_id.as_str(),
                first_at,
                last_at,
                i64::try_from(batch.frames.len()).unwrap_or(i64::MAX),
                pack(&batch.frames)?,
            ])?;
        }
        Ok(())
    }
}

fn connect(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    // Through zaryad-wal: a commit's WAL frames go to the file in one write, not two a page.
    zaryad_wal_vfs::register().map_err(|code| {
        StoreError::Config(format!(
            "SQLite refused the writer's VFS: {}",
            rusqlite::ffi::code_to_str(code)
        ))
    })?;
    let conn = Connection::open_with_flags_and_vfs(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
        zaryad_wal_vfs::NAME,
    )?;
    conn.busy_timeout(busy_timeout)?;
    let journal: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !journal.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Config(format!(
            "{}: SQLite refused WAL (journal mode {journal})",
            path.display()
        )));
    }
    // FULL makes each commit survive power loss, which "acknowledged means durable" needs;
    // group commit spreads its fsync over every request in the group.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", super::CACHE_KIB)?;
    conn.pragma_update(None, "temp_store", "memory")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// For each parameter of `statement`, in SQLite's order, the index in `args` of its
/// argument: SQLite numbers named parameters by first appearance, so each `$N` is looked up
/// by its name (a parameter not named `$N` takes the argument at its own position).
fn argument_positions(statement: &CachedStatement<'_>) -> Box<[Option<usize>]> {
    (1..=statement.parameter_count())
        .map(|index| {
            statement
                .parameter_name(index)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|number| number.parse::<usize>().ok())
                .unwrap_or(index)
                .checked_sub(1)
        })
        .collect()
}

/// Binds `args` to `statement`'s parameters, each to the argument `positions` names for it;
/// a parameter without an argument is NULL, as sqlx does.
fn bind(
    statement: &mut CachedStatement<'_>,
    positions: &[Option<usize>],
    args: &[Arg],
) -> Result<(), StoreError> {
    for (offset, position) in positions.iter().enumerate() {
        let index = offset + 1;
        match position.and_then(|position| args.get(position)) {
            Some(Arg::Text(value)) => statement.raw_bind_parameter(index, value.as_deref())?,
            Some(Arg::Int(value)) => statement.raw_bind_parameter(index, value)?,
            Some(Arg::Real(value)) => statement.raw_bind_parameter(index, value)?,
            Some(Arg::Bool(value)) => statement.raw_bind_parameter(index, i64::from(*value))?,
            None => statement.raw_bind_parameter(index, rusqlite::types::Null)?,
        }
    }
    Ok(())
}

/// The argument positions of `statement`, whose text is `sql`, worked out on first use.
fn known_positions<'a>(
    positions: &'a mut HashMap<(usize, usize), Box<[Option<usize>]>>,
    sql: &'static str,
    statement: &CachedStatement<'_>,
) -> &'a [Option<usize>] {
    positions
        .entry((sql.as_ptr() as usize, sql.len()))
        .or_insert_with(|| argument_positions(statement))
}

/// Prepares (or takes from the cache) `query`'s statement and binds its arguments.
pub(super) fn prepare_bound<'conn>(
    conn: &'conn Connection,
    positions: &mut HashMap<(usize, usize), Box<[Option<usize>]>>,
    query: &Query,
) -> Result<CachedStatement<'conn>, StoreError> {
    let mut statement = conn.prepare_cached(&query.sql)?;
    let args = &query.args;
    match &query.sql {
        Cow::Borrowed(text) => {
            let known = known_positions(positions, text, &statement);
            bind(&mut statement, known, args)?;
        }
        Cow::Owned(_) => {
            let once = argument_positions(&statement);
            bind(&mut statement, &once, args)?;
        }
    }
    Ok(statement)
}

/// Runs a bound statement to its end (stepping over any rows it returns).
fn run(statement: &mut CachedStatement<'_>) -> Result<(), StoreError> {
    let mut rows = statement.raw_query();
    while rows.next()?.is_some() {}
    Ok(())
}

#[async_trait]
impl WriteConn for SqliteWriteConn {
    // IMMEDIATE takes the write lock up front: a deferred transaction that reads first could
    // fail to upgrade its lock if another process is writing.
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
    // A group's events and station, session and connector upserts written at its end, one
    // cached statement per kind: each statement taken from rusqlite's cache and returned
    // costs about as much as a meter update's own work in SQLite.
    const BATCH_ROWS: bool = true;
    const OWN_THREAD: bool = true;

    async fn control(&mut self, sql: &'static str) -> Result<(), StoreError> {
        let mut statement = self.statement(sql)?;
        run(&mut statement)
    }

    async fn execute(&mut self, query: Query) -> Result<u64, StoreError> {
        let mut statement = prepare_bound(&self.conn, &mut self.positions, &query)?;
        run(&mut statement)?;
        drop(statement);
        Ok(self.conn.changes())
    }

    async fn fetch_int(&mut self, query: Query) -> Result<Option<i64>, StoreError> {
        let mut statement = prepare_bound(&self.conn, &mut self.positions, &query)?;
        let mut rows = statement.raw_query();
        let value = match rows.next()? {
            Some(row) => Some(row.get::<_, i64>(0)?),
            None => None,
        };
        // Step to the end, so that a statement with side effects completes them.
        while rows.next()?.is_some() {}
        Ok(value)
    }

    async fn upsert_rows(&mut self, kind: Upsert, rows: &[Vec<Arg>]) -> Result<(), StoreError> {
        match kind {
            Upsert::Session => self.write_sessions(rows),
            Upsert::Station | Upsert::Connector => self.execute_each(kind.one(), rows),
        }
    }

    async fn insert_events(&mut self, rows: &[EventRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut statement = self.statement(INSERT_EVENT)?;
        for row in rows {
            statement.execute(rusqlite::params![
                row.id,
                row.event_type,
                row.occurred_at,
                row.station_id,
                row.session_id,
                row.data,
            ])?;
        }
        Ok(())
    }

    async fn write_rows(&mut self, rows: GroupParts<'_>) -> Result<(), StoreError> {
        self.upsert_rows(Upsert::Session, rows.sessions).await?;
        self.upsert_rows(Upsert::Connector, rows.connectors).await?;
        self.insert_events(rows.events).await?;
        self.insert_readings(rows.readings)?;
        self.insert_frames(rows.frames)
    }

    async fn update_last_seen(
        &mut self,
        touches: &[(StationId, Timestamp)],
    ) -> Result<(), StoreError> {
        // One statement for every station heard from since the last flush: SQLite scans the
        // JSON array and finds each station by its primary key.
        let mut statement = self.statement(
            "UPDATE stations SET last_seen_at = seen.at
             FROM (SELECT value ->> 0 AS id, value ->> 1 AS at FROM json_each($1)) AS seen
             WHERE stations.id = seen.id
                 AND (stations.last_seen_at IS NULL OR stations.last_seen_at < seen.at)",
        )?;
        statement.execute([touches_json(touches)?])?;
        Ok(())
    }

    async fn ping(&mut self) -> bool {
        self.conn
            .query_row("SELECT 1", [], |row| row.get::<_, i64>(0))
            .is_ok()
    }

    async fn reconnect(&mut self) -> Result<(), StoreError> {
        self.conn = connect(&self.path, self.busy_timeout)?;
        Ok(())
    }

    async fn close(self) {
        if let Err((_, error)) = self.conn.close() {
            tracing::warn!(%error, "closing the database writer connection failed");
        }
    }
}

/// A rusqlite error as a database error of the store (whose errors speak sqlx).
#[derive(Debug)]
struct SqliteWriteError {
    message: String,
    source: rusqlite::Error,
}

impl std::fmt::Display for SqliteWriteError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for SqliteWriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl sqlx::error::DatabaseError for SqliteWriteError {
    fn message(&self) -> &str {
        &self.message
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        use sqlx::error::ErrorKind;
        match self
            .source
            .sqlite_error()
            .map(|failure| failure.extended_code)
        {
            Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
                ErrorKind::UniqueViolation
            }
            Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => ErrorKind::ForeignKeyViolation,
            Some(ffi::SQLITE_CONSTRAINT_NOTNULL) => ErrorKind::NotNullViolation,
            Some(ffi::SQLITE_CONSTRAINT_CHECK) => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        StoreError::Database(sqlx::Error::Database(Box::new(SqliteWriteError {
            message: error.to_string(),
            source: error,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `SELECT` returned: its one row's columns as text.
    async fn select(conn: &mut SqliteWriteConn, query: Query) -> Vec<String> {
        let mut statement = prepare_bound(&conn.conn, &mut conn.positions, &query).unwrap();
        let count = statement.column_count();
        let mut rows = statement.raw_query();
        let row = rows.next().unwrap().unwrap();
        (0..count)
            .map(
                |column| match row.get::<_, rusqlite::types::Value>(column).unwrap() {
                    rusqlite::types::Value::Text(text) => text,
                    rusqlite::types::Value::Integer(number) => number.to_string(),
                    rusqlite::types::Value::Null => "NULL".to_owned(),
                    other => format!("{other:?}"),
                },
            )
            .collect()
    }

    #[tokio::test]
    async fn parameters_take_their_numbered_argument_whatever_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::sqlite::writer_conn(&dir).await;
        // SQLite numbers $3 first here; $1 appears twice, $4 has no argument.
        let sql = "SELECT $3, $1, $2, $1 || $3, $4";
        let first = Query::new(sql).text("a").int(2).text("c");
        assert_eq!(
            select(&mut conn, first).await,
            ["c", "a", "2", "ac", "NULL"]
        );
        // The second time the positions come from the cache; they must still fit.
        let again = Query::new(sql).text("x").int(7).text("z");
        assert_eq!(
            select(&mut conn, again).await,
            ["z", "x", "7", "xz", "NULL"]
        );
        assert_eq!(conn.positions.len(), 1);
        // Text built at run time is not remembered, and binds the same way.
        let built = Query {
            sql: Cow::Owned(sql.to_owned()),
            args: Query::new(sql).text("p").int(5).text("r").args,
        };
        assert_eq!(
            select(&mut conn, built).await,
            ["r", "p", "5", "pr", "NULL"]
        );
        assert_eq!(conn.positions.len(), 1);
    }

    #[tokio::test]
    async fn execute_binds_through_the_remembered_positions() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::sqlite::writer_conn(&dir).await;
        conn.control("CREATE TABLE t (a TEXT, b INTEGER)")
            .await
            .unwrap();
        let insert = "INSERT INTO t (b, a) VALUES ($2, $1)";
        for (a, b) in [("one", 1), ("two", 2)] {
            let changed = conn
                .execute(Query::new(insert).text(a).int(b))
                .await
                .unwrap();
            assert_eq!(changed, 1);
        }
        let rows = conn
            .fetch_int(Query::new("SELECT b FROM t WHERE a = $1").text("two"))
            .await
            .unwrap();
        assert_eq!(rows, Some(2));
    }
}
