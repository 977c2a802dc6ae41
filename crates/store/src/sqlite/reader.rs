//! The SQLite read connections: rusqlite on threads of their own, not sqlx.
//!
//! sqlx hands each SQLite statement to a worker thread and each row back through a channel;
//! in a reconnect storm every connecting charger is read, and those hand-offs and sqlx's
//! worker threads took a quarter of the server's CPU. Here a read is one job to a reading
//! thread and one answer with every row, the same path the writer takes
//! ([`super::writer`]). Statements are cached per connection and bound like the writer's.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use super::writer::prepare_bound;
use crate::StoreError;
use crate::engine::query::{Query, Row};
use crate::engine::read::Reader;

/// Prepared statements kept per connection: every read of the schema, with room.
const STATEMENT_CACHE: usize = 128;

/// A read for a reading thread: the query, whether only its first row is wanted, and where
/// to answer.
struct Job {
    query: Query,
    first_only: bool,
    reply: oneshot::Sender<Result<Vec<Row>, StoreError>>,
}

/// A row as SQLite returned it: the statement's column names (shared by its rows) and the
/// values.
pub(crate) struct LocalRow {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl LocalRow {
    /// The value of `column`.
    pub(crate) fn value(&self, column: &str) -> Option<&Value> {
        let index = self.columns.iter().position(|name| name == column)?;
        self.values.get(index)
    }
}

/// Read-only connections, each on a thread of its own, taking reads from one queue.
pub(crate) struct SqliteReader {
    jobs: flume::Sender<Job>,
}

impl SqliteReader {
    /// Opens `size` read-only connections to the file at `path` (which must exist, in WAL
    /// mode: the writer opened it first), each on its own thread. Fails when one cannot be
    /// opened, so that a database that cannot be read fails at start.
    pub(crate) fn open(
        path: &Path,
        size: u32,
        busy_timeout: Duration,
    ) -> Result<SqliteReader, StoreError> {
        let (jobs, queue) = flume::unbounded::<Job>();
        for index in 0..size.max(1) {
            let conn = connect(path, busy_timeout)?;
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("zaryad-db-read-{index}"))
                .spawn(move || serve(&conn, &queue))
                .map_err(|error| {
                    StoreError::Config(format!("cannot start a database reading thread: {error}"))
                })?;
        }
        Ok(SqliteReader { jobs })
    }

    async fn run(&self, query: Query, first_only: bool) -> Result<Vec<Row>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            query,
            first_only,
            reply,
        };
        if self.jobs.send(job).is_err() {
            return Err(stopped());
        }
        answer.await.map_err(|_| stopped())?
    }
}

#[async_trait]
impl Reader for SqliteReader {
    // SQLite writes REALs into JSON with 15 significant digits: a nested meter reading would
    // come back rounded. Its reads are in-process, so a round trip saved is worth little.
    fn nests_rows(&self) -> bool {
        false
    }

    async fn fetch_all(&self, query: Query) -> Result<Vec<Row>, StoreError> {
        self.run(query, false).await
    }

    async fn fetch_optional(&self, query: Query) -> Result<Option<Row>, StoreError> {
        Ok(self.run(query, true).await?.into_iter().next())
    }
}

fn stopped() -> StoreError {
    StoreError::Database(sqlx::Error::PoolClosed)
}

fn connect(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    // Read-only: a stray write through a reader fails loudly instead of competing with the
    // writer for the lock.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(busy_timeout)?;
    conn.pragma_update(None, "cache_size", super::CACHE_KIB)?;
    conn.pragma_update(None, "temp_store", "memory")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// A reading thread: takes reads until the reader is dropped.
fn serve(conn: &Connection, queue: &flume::Receiver<Job>) {
    let mut positions = HashMap::new();
    // Ends when the reader, the only sender, is dropped.
    while let Ok(job) = queue.recv() {
        let rows = read(conn, &mut positions, &job.query, job.first_only);
        // A caller that stopped waiting has dropped its receiver.
        let _ = job.reply.send(rows);
    }
}

fn read(
    conn: &Connection,
    positions: &mut HashMap<(usize, usize), Box<[Option<usize>]>>,
    query: &Query,
    first_only: bool,
) -> Result<Vec<Row>, StoreError> {
    let mut statement = prepare_bound(conn, positions, query)?;
    let columns: Arc<[String]> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut found = Vec::new();
    let mut rows = statement.raw_query();
    while let Some(row) = rows.next()? {
        let values = (0..columns.len())
            .map(|index| row.get::<_, Value>(index))
            .collect::<Result<Vec<_>, _>>()?;
        found.push(Row::Local(LocalRow {
            columns: Arc::clone(&columns),
            values,
        }));
        if first_only {
            break;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAL database with one row of every storage class (and a second row), and a reader.
    fn reader_of_values() -> (tempfile::TempDir, SqliteReader) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("values.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(
            "CREATE TABLE t (n INTEGER, r REAL, s TEXT, b BLOB, z TEXT);
             INSERT INTO t VALUES (-7, 2.5, 'héllo', x'00ff10', NULL);
             INSERT INTO t VALUES (8, 0.125, 'second', x'', 'set');",
        )
        .unwrap();
        let reader = SqliteReader::open(&path, 2, Duration::from_secs(1)).unwrap();
        (dir, reader)
    }

    #[tokio::test]
    async fn values_decode_as_their_types_and_mismatches_are_errors() {
        let (_dir, reader) = reader_of_values();
        let row = reader
            .fetch_optional(Query::new("SELECT * FROM t WHERE n = $1").int(-7))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<i64>("n").unwrap(), -7);
        assert_eq!(row.get::<f64>("r").unwrap(), 2.5);
        assert_eq!(row.get::<String>("s").unwrap(), "héllo");
        assert_eq!(row.opt_bytes("b").unwrap(), Some(vec![0, 255, 16]));
        assert_eq!(row.get::<Option<String>>("z").unwrap(), None);
        assert_eq!(row.opt_bytes("z").unwrap(), None);
        assert!(row.get::<String>("n").is_err());
        assert!(row.get::<i64>("s").is_err());
        assert!(row.get::<i64>("r").is_err());
        assert!(row.opt_bytes("s").is_err());
        assert!(matches!(
            row.get::<i64>("missing"),
            Err(sqlx::Error::ColumnNotFound(_))
        ));
    }

    #[tokio::test]
    async fn reads_answer_every_row_or_the_first_and_report_bad_sql() {
        let (_dir, reader) = reader_of_values();
        let rows = reader
            .fetch_all(Query::new("SELECT n FROM t ORDER BY n"))
            .await
            .unwrap();
        let numbers: Vec<i64> = rows.iter().map(|row| row.get("n").unwrap()).collect();
        assert_eq!(numbers, [-7, 8]);
        let first = reader
            .fetch_optional(Query::new("SELECT n FROM t ORDER BY n DESC"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.get::<i64>("n").unwrap(), 8);
        assert!(
            reader
                .fetch_optional(Query::new("SELECT n FROM t WHERE n > 100"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            reader
                .fetch_all(Query::new("SELECT nope FROM t"))
                .await
                .is_err()
        );
        // Read-only: a write is refused, and the reader still serves afterwards.
        assert!(
            reader
                .fetch_all(Query::new("DELETE FROM t RETURNING n"))
                .await
                .is_err()
        );
        // Sixty-four reads at once over the two threads: every one answered.
        let reader = Arc::new(reader);
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let reader = Arc::clone(&reader);
                tokio::spawn(async move {
                    reader
                        .fetch_all(Query::new("SELECT n FROM t"))
                        .await
                        .unwrap()
                        .len()
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap();
        }
        assert_eq!(total, 2 * 64);
    }
}
