//! The single writer: one task that owns the only write connection and commits in groups.
//!
//! SQLite allows one writer at a time, and with `synchronous=FULL` every commit costs an
//! fsync. Funnelling all writes through one task removes lock contention ("database is
//! locked") and lets one fsync cover every request that queued up meanwhile. Each request runs
//! inside its own savepoint, so a request that fails is undone alone and the rest of its group
//! still commits; if the group transaction itself fails, its requests are retried one by one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use zaryad_model::{StationId, Timestamp};

use super::ops;
use super::rows::timestamp_text;
use crate::{FrameRecord, StoreError, WriteBatch};

/// Most frame-log rows written alongside one group, so a backlog of frames cannot make a
/// group commit (and the chargers waiting on it) slow; the rest follow in the next rounds.
const FRAMES_PER_ROUND: usize = 2048;

/// What a caller asks the writer to do.
pub(crate) enum Job {
    /// Commit a batch.
    Commit(WriteBatch),
    /// Take the next block of transaction ids.
    ReserveIds,
    /// Write the frame log and `last_seen` buffers now.
    Flush,
}

/// What the writer answers once its transaction committed.
#[derive(Debug)]
pub(crate) enum Done {
    /// The job is durable.
    Written,
    /// The first id of a reserved block, durable.
    Ids(i64),
}

/// One job and where to send its answer.
pub(crate) struct Request {
    /// The job.
    pub(crate) job: Job,
    /// Answered after the commit (or the failure).
    pub(crate) reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// `last_seen` times waiting to be written, newest per station.
#[derive(Default)]
pub(crate) struct Touches(Mutex<HashMap<StationId, Timestamp>>);

impl Touches {
    fn lock(&self) -> MutexGuard<'_, HashMap<StationId, Timestamp>> {
        // A panic elsewhere while holding this lock cannot leave the map half-updated (every
        // critical section is a single insert or take), so a poisoned lock is still usable.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes that `station_id` was heard from at `at`.
    pub(crate) fn note(&self, station_id: &StationId, at: Timestamp) {
        let mut pending = self.lock();
        match pending.get_mut(station_id) {
            Some(known) => *known = (*known).max(at),
            None => {
                pending.insert(station_id.clone(), at);
            }
        }
    }

    /// The time noted for `station_id` and not written yet.
    pub(crate) fn pending(&self, station_id: &StationId) -> Option<Timestamp> {
        self.lock().get(station_id).copied()
    }

    fn take(&self) -> Vec<(StationId, Timestamp)> {
        std::mem::take(&mut *self.lock()).into_iter().collect()
    }

    fn restore(&self, touches: Vec<(StationId, Timestamp)>) {
        for (station_id, at) in touches {
            self.note(&station_id, at);
        }
    }
}

/// The state of the writer task.
pub(crate) struct Writer {
    conn: SqliteConnection,
    connect: SqliteConnectOptions,
    requests: mpsc::Receiver<Request>,
    frames: mpsc::Receiver<FrameRecord>,
    frame_pressure: Arc<Notify>,
    touches: Arc<Touches>,
    max_batch: usize,
    flush_interval: Duration,
    last_touch_flush: Instant,
}

/// The result of one group transaction that committed.
struct Committed {
    /// One result per request, in order.
    jobs: Vec<Result<Done, StoreError>>,
    /// Whether the frame-log rows were written.
    frames: Result<(), StoreError>,
    /// Whether the `last_seen` updates were written.
    touches: Result<(), StoreError>,
}

impl Writer {
    /// A writer over `conn`; `connect` reopens the connection if it breaks.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        conn: SqliteConnection,
        connect: SqliteConnectOptions,
        requests: mpsc::Receiver<Request>,
        frames: mpsc::Receiver<FrameRecord>,
        frame_pressure: Arc<Notify>,
        touches: Arc<Touches>,
        max_batch: usize,
        flush_interval: Duration,
    ) -> Writer {
        Writer {
            conn,
            connect,
            requests,
            frames,
            frame_pressure,
            touches,
            max_batch: max_batch.max(1),
            flush_interval,
            last_touch_flush: Instant::now(),
        }
    }

    /// Serves requests until every sender is gone, then writes what is still buffered.
    pub(crate) async fn run(mut self) {
        let mut tick = tokio::time::interval(self.flush_interval.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                request = self.requests.recv() => match request {
                    Some(first) => self.round(Some(first), false).await,
                    None => break,
                },
                () = self.frame_pressure.notified() => self.round(None, false).await,
                _ = tick.tick() => self.round(None, true).await,
            }
        }
        self.round(None, true).await;
        if let Err(error) = self.conn.close().await {
            tracing::warn!(%error, "closing the database writer connection failed");
        }
        tracing::debug!("database writer stopped");
    }

    /// One group: the first request plus whatever else is queued, the buffered frames and,
    /// when due, the `last_seen` times, all in one transaction.
    async fn round(&mut self, first: Option<Request>, flush_due: bool) {
        let mut group = Vec::new();
        if let Some(first) = first {
            group.push(first);
            while group.len() < self.max_batch {
                match self.requests.try_recv() {
                    Ok(request) => group.push(request),
                    Err(_) => break,
                }
            }
        }
        let flush_all = flush_due
            || group
                .iter()
                .any(|request| matches!(request.job, Job::Flush));
        let frames = self.drain_frames(if flush_all {
            usize::MAX
        } else {
            FRAMES_PER_ROUND
        });
        // Touches are flushed on their interval even when a steady stream of requests keeps
        // the tick branch from ever being chosen.
        let touches = if flush_all || self.last_touch_flush.elapsed() >= self.flush_interval {
            self.last_touch_flush = Instant::now();
            self.touches.take()
        } else {
            Vec::new()
        };
        if group.is_empty() && frames.is_empty() && touches.is_empty() {
            return;
        }
        let now = timestamp_text(&chrono::Utc::now());
        let jobs: Vec<&Job> = group.iter().map(|request| &request.job).collect();
        let outcome = match self.transaction(&jobs, &frames, &touches, &now).await {
            Ok(committed) => committed,
            Err(error) => {
                tracing::warn!(
                    %error,
                    requests = group.len(),
                    frames = frames.len(),
                    "group commit failed; retrying its parts one by one"
                );
                self.retry_separately(&jobs, &frames, &touches, &now).await
            }
        };
        self.finish(group, outcome, frames.len(), touches);
    }

    fn drain_frames(&mut self, limit: usize) -> Vec<FrameRecord> {
        let mut frames = Vec::new();
        while frames.len() < limit {
            match self.frames.try_recv() {
                Ok(frame) => frames.push(frame),
                Err(_) => break,
            }
        }
        frames
    }

    /// Answers every caller and puts back what was not written.
    fn finish(
        &self,
        group: Vec<Request>,
        outcome: Committed,
        frame_count: usize,
        touches: Vec<(StationId, Timestamp)>,
    ) {
        let Committed {
            jobs,
            frames,
            touches: touched,
        } = outcome;
        let mut buffers_failed = None;
        if let Err(error) = frames {
            // The frame log is diagnostic: losing rows is logged, never worth failing a charger.
            tracing::error!(%error, frames = frame_count, "frame-log rows were lost");
            buffers_failed = Some(error.to_string());
        }
        if let Err(error) = touched {
            tracing::warn!(%error, "last-seen times not written; will retry");
            self.touches.restore(touches);
            buffers_failed = Some(error.to_string());
        }
        for (request, result) in group.into_iter().zip(jobs) {
            let result = match (&request.job, &buffers_failed, result) {
                (Job::Flush, Some(message), Ok(_)) => Err(StoreError::Database(sqlx::Error::Io(
                    std::io::Error::other(format!("flush failed: {message}")),
                ))),
                (_, _, result) => result,
            };
            // A caller that gave up waiting has dropped its receiver; the write stands anyway.
            let _ = request.reply.send(result);
        }
    }

    /// Runs everything in one transaction; `Err` when the transaction as a whole failed.
    async fn transaction(
        &mut self,
        jobs: &[&Job],
        frames: &[FrameRecord],
        touches: &[(StationId, Timestamp)],
        now: &str,
    ) -> Result<Committed, StoreError> {
        // IMMEDIATE takes the write lock up front: a deferred transaction that reads first could
        // fail to upgrade its lock if another process is writing.
        if let Err(error) = self.execute("BEGIN IMMEDIATE").await {
            self.recover().await;
            return Err(error);
        }
        let result = self.write_parts(jobs, frames, touches, now).await;
        let result = match result {
            Ok(committed) => self.execute("COMMIT").await.map(|()| committed),
            Err(error) => Err(error),
        };
        if result.is_err() {
            self.recover().await;
        }
        result
    }

    async fn write_parts(
        &mut self,
        jobs: &[&Job],
        frames: &[FrameRecord],
        touches: &[(StationId, Timestamp)],
        now: &str,
    ) -> Result<Committed, StoreError> {
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            self.execute("SAVEPOINT part").await?;
            let result = apply_job(&mut self.conn, job, now).await;
            self.end_savepoint(result.is_ok()).await?;
            results.push(result);
        }
        let frames = if frames.is_empty() {
            Ok(())
        } else {
            self.execute("SAVEPOINT part").await?;
            let result = ops::insert_frames(&mut self.conn, frames).await;
            self.end_savepoint(result.is_ok()).await?;
            result
        };
        let touches = if touches.is_empty() {
            Ok(())
        } else {
            self.execute("SAVEPOINT part").await?;
            let result = ops::update_last_seen(&mut self.conn, touches).await;
            self.end_savepoint(result.is_ok()).await?;
            result
        };
        Ok(Committed {
            jobs: results,
            frames,
            touches,
        })
    }

    async fn end_savepoint(&mut self, keep: bool) -> Result<(), StoreError> {
        if !keep {
            self.execute("ROLLBACK TO part").await?;
        }
        self.execute("RELEASE part").await
    }

    /// After a failed group: each request, then the frames, then the touches, each in its own
    /// transaction, so one bad part cannot fail the others.
    async fn retry_separately(
        &mut self,
        jobs: &[&Job],
        frames: &[FrameRecord],
        touches: &[(StationId, Timestamp)],
        now: &str,
    ) -> Committed {
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            let result = match self.transaction(&[job], &[], &[], now).await {
                Ok(mut committed) => committed.jobs.pop().unwrap_or(Ok(Done::Written)),
                Err(error) => Err(error),
            };
            results.push(result);
        }
        let frames = match self.transaction(&[], frames, &[], now).await {
            Ok(committed) => committed.frames,
            Err(error) => Err(error),
        };
        let touches = match self.transaction(&[], &[], touches, now).await {
            Ok(committed) => committed.touches,
            Err(error) => Err(error),
        };
        Committed {
            jobs: results,
            frames,
            touches,
        }
    }

    /// Leaves the connection outside any transaction, reopening it if it stopped answering.
    async fn recover(&mut self) {
        // Fails harmlessly with "no transaction is active" when SQLite already rolled back.
        if self.execute("ROLLBACK").await.is_ok() {
            return;
        }
        if self.conn.ping().await.is_ok() {
            return;
        }
        match self.connect.connect().await {
            Ok(conn) => {
                tracing::warn!("reopened the database writer connection");
                let broken = std::mem::replace(&mut self.conn, conn);
                let _ = broken.close_hard().await;
            }
            Err(error) => tracing::error!(%error, "cannot reopen the database writer connection"),
        }
    }

    async fn execute(&mut self, sql: &'static str) -> Result<(), StoreError> {
        sqlx::query(sql).execute(&mut self.conn).await?;
        Ok(())
    }
}

async fn apply_job(conn: &mut SqliteConnection, job: &Job, now: &str) -> Result<Done, StoreError> {
    match job {
        Job::Commit(batch) => {
            for op in &batch.ops {
                ops::apply(conn, op, now).await?;
            }
            Ok(Done::Written)
        }
        Job::ReserveIds => ops::reserve_transaction_ids(conn).await.map(Done::Ids),
        Job::Flush => Ok(Done::Written),
    }
}

#[cfg(test)]
mod tests {
    use sqlx::ConnectOptions;
    use zaryad_model::{Connector, IdToken, IdTokenStatus};

    use super::*;
    use crate::WriteOp;
    use crate::sqlite::{MIGRATOR, base_options, writer_options};

    struct Harness {
        writer: Writer,
        requests: mpsc::Sender<Request>,
        _frames: mpsc::Sender<FrameRecord>,
        _dir: tempfile::TempDir,
    }

    async fn harness() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/w.db", dir.path().display());
        let options = writer_options(base_options(&url).unwrap());
        let mut conn = options.connect().await.unwrap();
        MIGRATOR.run(&mut conn).await.unwrap();
        let (requests, request_queue) = mpsc::channel(64);
        let (frames, frame_queue) = mpsc::channel(64);
        let writer = Writer::new(
            conn,
            options,
            request_queue,
            frame_queue,
            Arc::new(Notify::new()),
            Arc::new(Touches::default()),
            64,
            Duration::from_secs(3600),
        );
        Harness {
            writer,
            requests,
            _frames: frames,
            _dir: dir,
        }
    }

    fn token(name: &str) -> WriteOp {
        WriteOp::UpsertIdToken(IdToken {
            token: name.into(),
            status: IdTokenStatus::Accepted,
            expires_at: None,
            parent: None,
        })
    }

    /// Queues the jobs, then runs exactly one round, so they are certain to share a group.
    async fn one_group(harness: &mut Harness, jobs: Vec<Job>) -> Vec<Result<Done, StoreError>> {
        let mut answers = Vec::new();
        for job in jobs {
            let (reply, answer) = oneshot::channel();
            harness.requests.send(Request { job, reply }).await.unwrap();
            answers.push(answer);
        }
        let first = harness.writer.requests.recv().await.unwrap();
        harness.writer.round(Some(first), false).await;
        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.unwrap());
        }
        results
    }

    fn jobs() -> Vec<Job> {
        let orphan = WriteOp::UpsertConnector {
            station_id: StationId::parse("missing").unwrap(),
            connector: Connector::new(1, 1),
        };
        vec![
            Job::Commit(WriteBatch {
                ops: vec![token("A")],
            }),
            // The token is undone with the batch's failing second operation.
            Job::Commit(WriteBatch {
                ops: vec![token("B"), orphan],
            }),
            Job::ReserveIds,
            Job::Commit(WriteBatch {
                ops: vec![token("C")],
            }),
            Job::Flush,
        ]
    }

    async fn check(harness: &mut Harness, results: Vec<Result<Done, StoreError>>) {
        assert!(matches!(results[0], Ok(Done::Written)));
        assert!(matches!(results[1], Err(StoreError::Database(_))));
        assert!(matches!(results[2], Ok(Done::Ids(1))));
        assert!(matches!(results[3], Ok(Done::Written)));
        assert!(matches!(results[4], Ok(Done::Written)));
        let tokens: Vec<String> = sqlx::query_scalar("SELECT token FROM id_tokens ORDER BY token")
            .fetch_all(&mut harness.writer.conn)
            .await
            .unwrap();
        assert_eq!(tokens, ["A", "C"]);
    }

    #[tokio::test]
    async fn a_failing_request_is_undone_alone_within_its_group() {
        let mut harness = harness().await;
        let results = one_group(&mut harness, jobs()).await;
        check(&mut harness, results).await;
    }

    #[tokio::test]
    async fn a_failed_group_is_retried_one_by_one() {
        let mut harness = harness().await;
        // Deferred foreign keys make the orphan connector fail the COMMIT of the whole group
        // instead of its own savepoint.
        sqlx::query("PRAGMA defer_foreign_keys = ON")
            .execute(&mut harness.writer.conn)
            .await
            .unwrap();
        let results = one_group(&mut harness, jobs()).await;
        check(&mut harness, results).await;
        // The connection is usable (and outside any transaction) afterwards.
        let results = one_group(
            &mut harness,
            vec![Job::Commit(WriteBatch {
                ops: vec![token("D")],
            })],
        )
        .await;
        assert!(matches!(results[0], Ok(Done::Written)));
    }

    #[tokio::test]
    async fn the_writer_connection_is_durable_wal() {
        let mut harness = harness().await;
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut harness.writer.conn)
            .await
            .unwrap();
        assert_eq!(journal, "wal");
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut harness.writer.conn)
            .await
            .unwrap();
        assert_eq!(synchronous, 2, "FULL");
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut harness.writer.conn)
            .await
            .unwrap();
        assert_eq!(foreign_keys, 1);
    }
}
