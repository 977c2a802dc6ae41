//! The [`Store`] over a SQL database, whichever: one writer task with group commit, a read
//! pool, buffered frame log and `last_seen`, block-allocated 1.6 transaction ids, background
//! pruning of the frame log. The backends (`sqlite`, `postgres`) only connect and bind.

pub(crate) mod frame_log;
pub(crate) mod glue;
pub(crate) mod ops;
pub(crate) mod query;
pub(crate) mod read;
pub(crate) mod read_pool;
pub(crate) mod readings;
pub(crate) mod rows;
mod touches;
pub(crate) mod upserts;
pub(crate) mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Mutex, Notify, mpsc, oneshot, watch};
use zaryad_model::{Connector, IdToken, MeterSample, Session, Station, StationId, Timestamp};

pub(crate) use self::glue::SqlConn;
use self::read::Reader;
use self::touches::Touches;
use self::writer::{Done, Inbox, Job, Request, WriteConn, Writer};
use crate::{
    ApiToken, ConfigurationRecord, Delivery, DeliveryStatus, DueDelivery, EventPosition,
    FrameRecord, SessionCorrection, SessionCursor, SessionFilter, SessionPage, StationCredentials,
    Store, StoreError, StoreOptions, StoredEvent, Webhook, WriteBatch, WriteOp,
};

/// Frame-log rows that may wait for the writer before `log_frame` makes its caller wait.
const MIN_FRAME_BUFFER: usize = 1024;

/// The part of a reserved block of transaction ids not handed out yet: `next..end`.
#[derive(Debug, Default)]
struct IdBlock {
    next: i64,
    end: i64,
}

/// A [`Store`] over one SQL database (SQLite or PostgreSQL); open it with [`crate::open`].
pub struct SqlStore {
    requests: mpsc::Sender<Request>,
    frames: mpsc::Sender<FrameRecord>,
    frame_buffer: usize,
    frame_pressure: Arc<Notify>,
    touches: Arc<Touches>,
    ids: Mutex<IdBlock>,
    read: Box<dyn Reader>,
    outbox: watch::Sender<u64>,
    id_tokens: AtomicU64,
}

impl SqlStore {
    /// Starts the writer task over `conn` (and the frame-log pruner) and serves reads from
    /// `read`; must be called inside a Tokio runtime.
    pub(crate) fn start<C: WriteConn>(
        conn: C,
        read: impl Reader,
        options: &StoreOptions,
    ) -> SqlStore {
        let (requests, request_queue) = mpsc::channel(options.queue_capacity.max(1));
        let frame_buffer = options.queue_capacity.max(MIN_FRAME_BUFFER);
        let (frames, frame_queue) = mpsc::channel(frame_buffer);
        let frame_pressure = Arc::new(Notify::new());
        let touches = Arc::new(Touches::default());
        let inbox = Inbox {
            requests: request_queue,
            frames: frame_queue,
            frame_pressure: frame_pressure.clone(),
            touches: touches.clone(),
        };
        let writer = Writer::new(
            conn,
            inbox,
            options.max_batch,
            options.flush_interval,
            options.last_seen_interval,
        );
        if C::OWN_THREAD {
            spawn_thread(writer);
        } else {
            tokio::spawn(writer.run());
        }
        if let Some(retention) = options.frame_retention {
            tokio::spawn(prune_frames(
                requests.downgrade(),
                retention,
                options.prune_interval,
                options.prune_batch.max(1),
            ));
        }
        SqlStore {
            requests,
            frames,
            frame_buffer,
            frame_pressure,
            touches,
            ids: Mutex::new(IdBlock::default()),
            read: Box::new(read),
            outbox: watch::Sender::new(0),
            id_tokens: AtomicU64::new(0),
        }
    }

    async fn request(&self, job: Job) -> Result<Done, StoreError> {
        send(&self.requests, job).await
    }

    /// Shows `last_seen` times that are noted but not flushed yet.
    fn with_pending_touch(&self, mut station: Station) -> Station {
        if let Some(pending) = self.touches.pending(&station.id) {
            station.last_seen_at = Some(station.last_seen_at.map_or(pending, |at| at.max(pending)));
        }
        station
    }
}

/// Runs `writer` on a thread of its own with a single-threaded runtime: a connection that
/// blocks the thread for every statement and fsync must not stall the runtime's workers, and
/// one that awaits must not wait behind them. The thread ends when every sender of the
/// writer's channels is gone.
fn spawn_thread<C: WriteConn>(writer: Writer<C>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .enable_io()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            // Dropping the writer makes every write fail with `WriterStopped`.
            tracing::error!(%error, "cannot start the database writer's runtime");
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("zaryad-db-writer".to_owned())
        .spawn(move || runtime.block_on(writer.run()));
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the database writer's thread");
    }
}

async fn send(requests: &mpsc::Sender<Request>, job: Job) -> Result<Done, StoreError> {
    let (reply, answer) = oneshot::channel();
    requests
        .send(Request { job, reply })
        .await
        .map_err(|_| StoreError::WriterStopped)?;
    answer.await.map_err(|_| StoreError::WriterStopped)?
}

/// Every `interval`, deletes frame-log rows older than `retention`, `batch` rows per writer
/// request: small batches keep each group commit (and the chargers waiting on it) short.
/// Holds only a weak sender, so that dropping the store still stops the writer.
async fn prune_frames(
    requests: mpsc::WeakSender<Request>,
    retention: Duration,
    interval: Duration,
    batch: usize,
) {
    let retention = chrono::TimeDelta::from_std(retention).unwrap_or(chrono::TimeDelta::MAX);
    let interval = interval.max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(interval).await;
        let Some(sender) = requests.upgrade() else {
            return;
        };
        let before = chrono::Utc::now()
            .checked_sub_signed(retention)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        let mut deleted = 0;
        loop {
            match send(
                &sender,
                Job::PruneFrames {
                    before,
                    limit: batch,
                },
            )
            .await
            {
                Ok(Done::Pruned(count)) => {
                    deleted += count;
                    if count < u64::try_from(batch).unwrap_or(u64::MAX) {
                        break;
                    }
                }
                Ok(_) => break,
                Err(StoreError::WriterStopped) => return,
                Err(error) => {
                    tracing::warn!(%error, "pruning the frame log failed; will retry");
                    break;
                }
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, %before, "pruned old frame-log rows");
        }
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let appends = batch
            .ops
            .iter()
            .any(|op| matches!(op, WriteOp::AppendEvent(_)));
        let tokens = batch
            .ops
            .iter()
            .any(|op| matches!(op, WriteOp::UpsertIdToken(_) | WriteOp::DeleteIdToken(_)));
        let committed = self.request(Job::Commit(batch)).await;
        // Moved whatever the outcome, and only after it: a reader that took the old value
        // before the change was stored reads again next time.
        if tokens {
            self.id_tokens.fetch_add(1, Ordering::AcqRel);
        }
        committed?;
        if appends {
            self.outbox
                .send_modify(|commits| *commits = commits.wrapping_add(1));
        }
        Ok(())
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
                Done::Written | Done::Pruned(_) => {
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
        Ok(read::station(&*self.read, id)
            .await?
            .map(|station| self.with_pending_touch(station)))
    }

    async fn stations(&self) -> Result<Vec<Station>, StoreError> {
        Ok(read::stations(&*self.read)
            .await?
            .into_iter()
            .map(|station| self.with_pending_touch(station))
            .collect())
    }

    async fn station_credentials(
        &self,
        id: &StationId,
    ) -> Result<Option<StationCredentials>, StoreError> {
        Ok(read::station_credentials(&*self.read, id)
            .await?
            .map(|mut credentials| {
                credentials.station = self.with_pending_touch(credentials.station);
                credentials
            }))
    }

    async fn connectors(&self, station_id: &StationId) -> Result<Vec<Connector>, StoreError> {
        read::connectors(&*self.read, station_id).await
    }

    async fn session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        read::session(&*self.read, id).await
    }

    async fn session_by_transaction(
        &self,
        station_id: &StationId,
        transaction_id: &str,
    ) -> Result<Option<Session>, StoreError> {
        read::session_by_transaction(&*self.read, station_id, transaction_id).await
    }

    async fn sessions(&self, filter: &SessionFilter) -> Result<Vec<Session>, StoreError> {
        read::sessions(&*self.read, filter).await
    }

    async fn sessions_between(
        &self,
        since: Timestamp,
        until: Option<Timestamp>,
        after: Option<SessionCursor>,
        limit: u32,
    ) -> Result<SessionPage, StoreError> {
        read::sessions_between(&*self.read, &since, until.as_ref(), after.as_ref(), limit).await
    }

    async fn meter_samples(
        &self,
        session_id: &str,
        limit: u32,
    ) -> Result<Vec<MeterSample>, StoreError> {
        read::meter_samples(&*self.read, session_id, limit).await
    }

    async fn id_token(&self, token: &str) -> Result<Option<IdToken>, StoreError> {
        read::id_token(&*self.read, token).await
    }

    async fn id_tokens(&self) -> Result<Vec<IdToken>, StoreError> {
        read::id_tokens(&*self.read).await
    }

    async fn frames(
        &self,
        station_id: &StationId,
        limit: u32,
    ) -> Result<Vec<FrameRecord>, StoreError> {
        // The station's frames still in memory go down first, so the listing is complete.
        self.request(Job::FlushFrames(station_id.clone())).await?;
        read::frames(&*self.read, station_id, limit).await
    }

    async fn event_positions_after(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<EventPosition>, StoreError> {
        read::event_positions_after(&*self.read, after_seq, limit).await
    }

    async fn events_after(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read::events_after(&*self.read, after_seq, limit).await
    }

    async fn last_event_seq(&self) -> Result<i64, StoreError> {
        read::last_event_seq(&*self.read).await
    }

    fn outbox_changes(&self) -> watch::Receiver<u64> {
        self.outbox.subscribe()
    }

    fn id_tokens_generation(&self) -> u64 {
        self.id_tokens.load(Ordering::Acquire)
    }

    async fn latest_session_ended(
        &self,
        session_id: &str,
    ) -> Result<Option<StoredEvent>, StoreError> {
        read::latest_session_ended(&*self.read, session_id).await
    }

    async fn cursor(&self, name: &str) -> Result<Option<i64>, StoreError> {
        read::cursor(&*self.read, name).await
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        read::webhooks(&*self.read).await
    }

    async fn webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError> {
        read::webhook(&*self.read, id).await
    }

    async fn deliveries(
        &self,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        read::deliveries(&*self.read, webhook_id, status, limit).await
    }

    async fn due_deliveries(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        read::due_deliveries(&*self.read, &now, limit).await
    }

    async fn next_delivery_after(&self, after: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        read::next_delivery_after(&*self.read, &after).await
    }

    async fn due_session_corrections(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<SessionCorrection>, StoreError> {
        read::due_session_corrections(&*self.read, &now, limit).await
    }

    async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError> {
        read::api_token_by_hash(&*self.read, token_hash).await
    }

    async fn count_api_tokens(&self) -> Result<u64, StoreError> {
        read::count_api_tokens(&*self.read).await
    }

    async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        read::api_tokens(&*self.read).await
    }

    async fn station_configuration(
        &self,
        station_id: &StationId,
    ) -> Result<Vec<ConfigurationRecord>, StoreError> {
        read::station_configuration(&*self.read, station_id).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if self.requests.is_closed() {
            return Err(StoreError::WriterStopped);
        }
        read::ping(&*self.read).await
    }
}
