//! The SQLite implementation of [`Store`]: one writer task with group commit, a read-only pool.

mod ops;
mod read;
mod rows;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{Mutex, Notify, mpsc, oneshot};
use zaryad_model::{Connector, IdToken, MeterSample, Session, Station, StationId, Timestamp};

use self::writer::{Done, Job, Request, Touches, Writer};
use crate::{
    ApiToken, FrameRecord, SessionFilter, StationCredentials, Store, StoreError, StoreOptions,
    StoredEvent, WriteBatch, redact_url,
};

/// The SQLite schema, embedded at build time.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How long a connection waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page cache per connection, in KiB (SQLite reads negative `cache_size` as KiB).
const CACHE_KIB: &str = "-16384";

/// Frame-log rows that may wait for the writer before `log_frame` makes its caller wait.
const MIN_FRAME_BUFFER: usize = 1024;

/// The part of a reserved block of transaction ids not handed out yet: `next..end`.
#[derive(Debug, Default)]
struct IdBlock {
    next: i64,
    end: i64,
}

/// A [`Store`] over one SQLite database file.
pub struct SqliteStore {
    requests: mpsc::Sender<Request>,
    frames: mpsc::Sender<FrameRecord>,
    frame_buffer: usize,
    frame_pressure: Arc<Notify>,
    touches: Arc<Touches>,
    ids: Mutex<IdBlock>,
    read: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `options.url`, applies migrations and
    /// starts the writer task; must be called inside a Tokio runtime.
    pub async fn open(options: &StoreOptions) -> Result<SqliteStore, StoreError> {
        let base = base_options(&options.url)?;
        let write_options = writer_options(base.clone());
        let mut conn = write_options.connect().await?;
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

        let (requests, request_queue) = mpsc::channel(options.queue_capacity.max(1));
        let frame_buffer = options.queue_capacity.max(MIN_FRAME_BUFFER);
        let (frames, frame_queue) = mpsc::channel(frame_buffer);
        let frame_pressure = Arc::new(Notify::new());
        let touches = Arc::new(Touches::default());
        let writer = Writer::new(
            conn,
            write_options,
            request_queue,
            frame_queue,
            frame_pressure.clone(),
            touches.clone(),
            options.max_batch,
            options.flush_interval,
        );
        tokio::spawn(writer.run());
        tracing::info!(url = %redact_url(&options.url), "SQLite store open");
        Ok(SqliteStore {
            requests,
            frames,
            frame_buffer,
            frame_pressure,
            touches,
            ids: Mutex::new(IdBlock::default()),
            read,
        })
    }

    async fn request(&self, job: Job) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { job, reply })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Shows `last_seen` times that are noted but not flushed yet.
    fn with_pending_touch(&self, mut station: Station) -> Station {
        if let Some(pending) = self.touches.pending(&station.id) {
            station.last_seen_at = Some(station.last_seen_at.map_or(pending, |at| at.max(pending)));
        }
        station
    }
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

#[async_trait]
impl Store for SqliteStore {
    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.request(Job::Commit(batch)).await.map(|_| ())
    }

    async fn next_transaction_id(&self) -> Result<i64, StoreError> {
        // Held across the reservation on purpose: concurrent callers wait for the one block
        // instead of each reserving their own.
        let mut block = self.ids.lock().await;
        if block.next >= block.end {
            match self.request(Job::ReserveIds).await? {
                Done::Ids(first) => {
                    *block = IdBlock {
                        next: first,
                        end: first + ops::ID_BLOCK,
                    }
                }
                Done::Written => {
                    return Err(StoreError::Config(
                        "the writer answered an id reservation without ids".to_owned(),
                    ));
                }
            }
        }
        let id = block.next;
        block.next += 1;
        Ok(id)
    }

    async fn log_frame(&self, frame: FrameRecord) {
        let frame = match self.frames.try_send(frame) {
            Ok(()) => {
                // Wake the writer well before the buffer is full, so callers rarely wait.
                if self.frames.capacity() < self.frame_buffer / 2 {
                    self.frame_pressure.notify_one();
                }
                return;
            }
            Err(mpsc::error::TrySendError::Full(frame)) => frame,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::debug!("frame not logged: the database writer has stopped");
                return;
            }
        };
        self.frame_pressure.notify_one();
        if self.frames.send(frame).await.is_err() {
            tracing::debug!("frame not logged: the database writer has stopped");
        }
    }

    fn touch(&self, station_id: &StationId, at: Timestamp) {
        self.touches.note(station_id, at);
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.request(Job::Flush).await.map(|_| ())
    }

    async fn station(&self, id: &StationId) -> Result<Option<Station>, StoreError> {
        Ok(read::station(&self.read, id)
            .await?
            .map(|station| self.with_pending_touch(station)))
    }

    async fn stations(&self) -> Result<Vec<Station>, StoreError> {
        Ok(read::stations(&self.read)
            .await?
            .into_iter()
            .map(|station| self.with_pending_touch(station))
            .collect())
    }

    async fn station_credentials(
        &self,
        id: &StationId,
    ) -> Result<Option<StationCredentials>, StoreError> {
        read::station_credentials(&self.read, id).await
    }

    async fn connectors(&self, station_id: &StationId) -> Result<Vec<Connector>, StoreError> {
        read::connectors(&self.read, station_id).await
    }

    async fn session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        read::session(&self.read, id).await
    }

    async fn session_by_transaction(
        &self,
        station_id: &StationId,
        transaction_id: &str,
    ) -> Result<Option<Session>, StoreError> {
        read::session_by_transaction(&self.read, station_id, transaction_id).await
    }

    async fn sessions(&self, filter: &SessionFilter) -> Result<Vec<Session>, StoreError> {
        read::sessions(&self.read, filter).await
    }

    async fn meter_samples(
        &self,
        session_id: &str,
        limit: u32,
    ) -> Result<Vec<MeterSample>, StoreError> {
        read::meter_samples(&self.read, session_id, limit).await
    }

    async fn id_token(&self, token: &str) -> Result<Option<IdToken>, StoreError> {
        read::id_token(&self.read, token).await
    }

    async fn id_tokens(&self) -> Result<Vec<IdToken>, StoreError> {
        read::id_tokens(&self.read).await
    }

    async fn frames(
        &self,
        station_id: &StationId,
        limit: u32,
    ) -> Result<Vec<FrameRecord>, StoreError> {
        read::frames(&self.read, station_id, limit).await
    }

    async fn events_after(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read::events_after(&self.read, after_seq, limit).await
    }

    async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError> {
        read::api_token_by_hash(&self.read, token_hash).await
    }

    async fn count_api_tokens(&self) -> Result<u64, StoreError> {
        read::count_api_tokens(&self.read).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if self.requests.is_closed() {
            return Err(StoreError::WriterStopped);
        }
        read::ping(&self.read).await
    }
}
