//! Persistence for Zaryad behind one trait, [`Store`].
//!
//! Writes go through a single writer task that commits them in groups ("group commit"): a
//! [`WriteBatch`] is one unit of work whose operations (state change plus outbox event) commit
//! together, and the caller learns of the commit before it answers the charger. Reads use a
//! separate pool. The frame log is buffered per station and stored as one row per batch of a
//! station's frames; `last_seen` updates are buffered and flushed in batches;
//! the meter samples of a whole group are inserted together (multi-row INSERTs on SQLite, one
//! `UNNEST` statement on PostgreSQL). Frame-log batches older than a configured age are pruned
//! in the background.
//!
//! Both databases share everything but connecting and batch inserts: the SQL lives once in
//! `engine`, the backends in [`sqlite`] and [`postgres`].
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod engine;
mod error;
pub mod postgres;
mod records;
pub mod sqlite;
#[cfg(feature = "test-support")]
pub mod testing;

use async_trait::async_trait;
use zaryad_model::{Connector, IdToken, MeterSample, Session, Station, StationId, Timestamp};

pub use engine::SqlStore;
pub use error::StoreError;
pub use records::{
    ACTIVE_SESSIONS_LOADED, ApiToken, ApiTokenRole, AttemptOutcome, ConfigurationRecord, Delivery,
    DeliveryAttempt, DeliveryStatus, Direction, DueDelivery, EventPosition, FrameRecord,
    NewWebhook, ProvisionStation, SessionCorrection, SessionCursor, SessionFilter, SessionPage,
    StationCredentials, StationState, StoredEvent, Webhook, WriteBatch, WriteOp,
};

/// The database behind Zaryad. One implementation per database engine.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Commits `batch` atomically; resolves only once it is durable.
    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError>;

    /// Hands out a new OCPP 1.6 transaction id, unique in this database, in `1..=i32::MAX`.
    async fn next_transaction_id(&self) -> Result<i64, StoreError>;

    /// Queues a frame for the frame log; written in batches, waits only when the queue is full.
    async fn log_frame(&self, frame: FrameRecord);

    /// Notes that `station_id` was heard from at `at`; coalesced in memory and flushed
    /// periodically instead of one UPDATE per heartbeat.
    fn touch(&self, station_id: &StationId, at: Timestamp);

    /// Writes everything buffered (frame log, last-seen times) and waits for it.
    async fn flush(&self) -> Result<(), StoreError>;

    /// One station.
    async fn station(&self, id: &StationId) -> Result<Option<Station>, StoreError>;

    /// All stations, ordered by id.
    async fn stations(&self) -> Result<Vec<Station>, StoreError>;

    /// A station's password hash, for HTTP Basic auth on the WebSocket upgrade, with the
    /// station's row.
    async fn station_credentials(
        &self,
        id: &StationId,
    ) -> Result<Option<StationCredentials>, StoreError>;

    /// A station's connectors, ordered by EVSE and connector id.
    async fn connectors(&self, station_id: &StationId) -> Result<Vec<Connector>, StoreError>;

    /// One session by Zaryad's id.
    async fn session(&self, id: &str) -> Result<Option<Session>, StoreError>;

    /// The session of a station with an OCPP transaction id.
    async fn session_by_transaction(
        &self,
        station_id: &StationId,
        transaction_id: &str,
    ) -> Result<Option<Session>, StoreError>;

    /// Sessions matching `filter`, newest start first.
    async fn sessions(&self, filter: &SessionFilter) -> Result<Vec<Session>, StoreError>;

    /// Sessions that started at or after `since` and before `until` (no bound when `None`),
    /// oldest start first, at most `limit`, continuing after `after`: pages through any
    /// number of sessions (exports, billing back-fills) at a steady cost per page.
    async fn sessions_between(
        &self,
        since: Timestamp,
        until: Option<Timestamp>,
        after: Option<SessionCursor>,
        limit: u32,
    ) -> Result<SessionPage, StoreError>;

    /// A session's meter samples in time order, at most `limit`.
    async fn meter_samples(
        &self,
        session_id: &str,
        limit: u32,
    ) -> Result<Vec<MeterSample>, StoreError>;

    /// One id token.
    async fn id_token(&self, token: &str) -> Result<Option<IdToken>, StoreError>;

    /// All id tokens, ordered by token.
    async fn id_tokens(&self) -> Result<Vec<IdToken>, StoreError>;

    /// A station's frame log, newest first, at most `limit` frames; frames still buffered
    /// are written first, so it ends with the latest one logged.
    async fn frames(
        &self,
        station_id: &StationId,
        limit: u32,
    ) -> Result<Vec<FrameRecord>, StoreError>;

    /// Outbox events after `after_seq` in order, at most `limit`.
    async fn events_after(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The positions of the outbox events after `after_seq`, in order, at most `limit`: for a
    /// follower that needs no payload (the webhook fan-out queues its deliveries in SQL).
    async fn event_positions_after(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<EventPosition>, StoreError>;

    /// The position of the newest outbox event (0 when there is none).
    async fn last_event_seq(&self) -> Result<i64, StoreError>;

    /// Watches commits that appended outbox events: the value changes after each one, so
    /// outbox followers wake at once instead of polling fast (they still poll slowly for
    /// events other processes wrote).
    fn outbox_changes(&self) -> tokio::sync::watch::Receiver<u64>;

    /// Moves on after every commit through this store that writes or deletes an id token: a
    /// copy of a token read under an older value may be stale. Changes other processes make
    /// are not seen here.
    fn id_tokens_generation(&self) -> u64;

    /// The newest `session.ended` event of a session (its latest revision).
    async fn latest_session_ended(
        &self,
        session_id: &str,
    ) -> Result<Option<StoredEvent>, StoreError>;

    /// Where the outbox follower `name` has got to, if it has started.
    async fn cursor(&self, name: &str) -> Result<Option<i64>, StoreError>;

    /// Every webhook subscription, oldest first.
    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError>;

    /// One webhook subscription.
    async fn webhook(&self, id: &str) -> Result<Option<Webhook>, StoreError>;

    /// A webhook's delivery log, newest event first, at most `limit`, optionally one status.
    async fn deliveries(
        &self,
        webhook_id: &str,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Pending deliveries due at `now` that are first in line for their webhook and order key,
    /// in outbox order, at most `limit`.
    async fn due_deliveries(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError>;

    /// When the earliest pending delivery due after `after` is due, if there is one.
    async fn next_delivery_after(&self, after: Timestamp) -> Result<Option<Timestamp>, StoreError>;

    /// Requests for corrected `session.ended` events due at `now`, at most `limit`.
    async fn due_session_corrections(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<SessionCorrection>, StoreError>;

    /// The API token whose SHA-256 hash (hex) is `token_hash`.
    async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError>;

    /// How many API tokens exist (zero on a fresh database).
    async fn count_api_tokens(&self) -> Result<u64, StoreError>;

    /// Every API token (hashes included), oldest first.
    async fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError>;

    /// A station's stored configuration, ordered by key.
    async fn station_configuration(
        &self,
        station_id: &StationId,
    ) -> Result<Vec<ConfigurationRecord>, StoreError>;

    /// True while the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// How the store connects and batches; the server fills it from its configuration.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://path` (created when missing) or `postgres://…`.
    pub url: String,
    /// Connections of the read pool.
    pub read_pool_size: u32,
    /// Most write requests the writer commits in one transaction.
    pub max_batch: usize,
    /// Capacity of the writer's queue; callers wait when it is full (back-pressure).
    pub queue_capacity: usize,
    /// Longest a frame waits in memory, in its station's batch, before it is written (a batch
    /// is written sooner when full or when its station's log is read). What a crash can lose
    /// of the frame log; transaction data never waits here.
    pub flush_interval: std::time::Duration,
    /// How often buffered `last_seen` times are written: every station heard from since, one
    /// row each. Reads of this store see the pending time anyway; the interval bounds what a
    /// crash or another node sharing the database can miss.
    pub last_seen_interval: std::time::Duration,
    /// Frame-log batches whose last frame is older than this are deleted in the background;
    /// `None` keeps them.
    /// Sessions and meter samples are never pruned.
    pub frame_retention: Option<std::time::Duration>,
    /// How often the frame log is pruned.
    pub prune_interval: std::time::Duration,
    /// Most frame-log batches (of up to 64 frames) one pruning step deletes (each step is one
    /// short write).
    pub prune_batch: usize,
}

/// The default age after which frame-log rows are pruned: 30 days.
pub const DEFAULT_FRAME_RETENTION: std::time::Duration =
    std::time::Duration::from_secs(30 * 24 * 60 * 60);

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            url: "sqlite://data/zaryad.db".to_owned(),
            read_pool_size: 4,
            max_batch: 256,
            queue_capacity: 4096,
            flush_interval: std::time::Duration::from_secs(2),
            last_seen_interval: std::time::Duration::from_secs(10),
            frame_retention: Some(DEFAULT_FRAME_RETENTION),
            prune_interval: std::time::Duration::from_secs(300),
            prune_batch: 5000,
        }
    }
}

/// Opens the database named by `options.url`, applies migrations and starts the writer.
pub async fn open(options: &StoreOptions) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    let store = match Backend::of(&options.url)? {
        Backend::Sqlite => sqlite::open(options).await?,
        Backend::Postgres => postgres::open(options).await?,
    };
    Ok(std::sync::Arc::new(store))
}

/// Applies pending migrations to the database named by `url` and returns.
pub async fn migrate(url: &str) -> Result<(), StoreError> {
    match Backend::of(url)? {
        Backend::Sqlite => sqlite::migrate(url).await,
        Backend::Postgres => postgres::migrate(url).await,
    }
}

/// The database engine a URL names.
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn of(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Config(format!(
                "unsupported database URL {}: use sqlite://… or postgres://…",
                redact_url(url)
            )))
        }
    }
}

/// The URL with any password replaced by `***`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}
