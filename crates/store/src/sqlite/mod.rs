//! SQLite: WAL, `synchronous=FULL`, one writer connection with group commit (rusqlite on a
//! thread of its own, see [`writer`]), read-only connections on threads of their own
//! ([`reader`]). sqlx runs the migrations.

mod reader;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

pub(crate) use self::reader::LocalRow;
use self::reader::SqliteReader;
pub(crate) use self::writer::SqliteWriteConn;
use crate::engine::SqlStore;
use crate::{StoreError, StoreOptions, redact_url};

/// The SQLite schema, embedded at build time.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How long a connection waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page cache per connection, in KiB (SQLite reads negative `cache_size` as KiB).
const CACHE_KIB: &str = "-16384";

/// Opens (creating when missing) the database at `options.url`, applies migrations and
/// starts the writer task; must be called inside a Tokio runtime.
pub async fn open(options: &StoreOptions) -> Result<SqlStore, StoreError> {
    let base = base_options(&options.url)?;
    let mut conn = writer_options(base.clone()).connect().await?;
    MIGRATOR.run(&mut conn).await?;
    conn.close().await?;
    let writer = SqliteWriteConn::open(base.get_filename(), BUSY_TIMEOUT)?;

    let read = SqliteReader::open(base.get_filename(), options.read_pool_size, BUSY_TIMEOUT)?;
    tracing::info!(url = %redact_url(&options.url), "SQLite store open");
    Ok(SqlStore::start(writer, read, options))
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

#[cfg(test)]
pub(crate) use tests::writer_conn;

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer's connection, migrated, as the writer's unit tests open it.
    pub(crate) async fn writer_conn(dir: &tempfile::TempDir) -> SqliteWriteConn {
        let url = format!("sqlite://{}/w.db", dir.path().display());
        migrate(&url).await.unwrap();
        SqliteWriteConn::open(&dir.path().join("w.db"), BUSY_TIMEOUT).unwrap()
    }

    #[tokio::test]
    async fn the_writer_connection_is_durable_wal() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer_conn(&dir).await;
        let pragma = |name: &str| -> String {
            writer
                .conn
                .query_row(&format!("PRAGMA {name}"), [], |row| {
                    row.get::<_, rusqlite::types::Value>(0)
                })
                .map(|value| match value {
                    rusqlite::types::Value::Text(text) => text,
                    rusqlite::types::Value::Integer(number) => number.to_string(),
                    other => format!("{other:?}"),
                })
                .unwrap()
        };
        assert_eq!(pragma("journal_mode"), "wal");
        // The writer's VFS holds a commit's writes until its sync, which needs FULL.
        assert_eq!(pragma("synchronous"), "2", "FULL");
        assert!(zaryad_wal_vfs::opened_through(&writer.conn));
        assert_eq!(pragma("foreign_keys"), "1");
    }

    #[tokio::test]
    async fn sqlite_is_built_without_memory_statistics() {
        // Set in .cargo/config.toml (LIBSQLITE3_FLAGS); a build without it still works, only
        // slower, so nothing else would notice it gone.
        let dir = tempfile::tempdir().unwrap();
        let writer = writer_conn(&dir).await;
        let mut statement = writer.conn.prepare("PRAGMA compile_options").unwrap();
        let options: Vec<String> = statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            options.iter().any(|option| option == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
    }
}
