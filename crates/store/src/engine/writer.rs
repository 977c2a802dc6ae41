//! The single writer: one task that owns the only write connection and commits in groups.
//!
//! SQLite allows one writer at a time, and with `synchronous=FULL` every commit costs an
//! fsync; PostgreSQL pays a WAL flush per commit too. Funnelling all writes through one task
//! removes lock contention ("database is locked", pool time-outs) and lets one flush cover
//! every request that queued up meanwhile. A request that fails is undone alone and the rest
//! of its group still commits: a failure rolls the group back, and its requests, then its
//! frames and its `last_seen` times, are retried in a transaction each.
//!
//! Groups run without a savepoint per request: on PostgreSQL every savepoint that writes takes
//! a subtransaction id, and a transaction with more than 64 of them makes every other
//! session's snapshot checks slower; on SQLite a savepoint copies each page a request first
//! touches into the statement journal (at 10,000 CALL/s, ~5 % of the writer's time and a
//! slower median). Failures are rare — a row refused by a constraint, a station deleted
//! while its charger wrote — and cost their group one transaction per request.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use zaryad_model::{StationId, Timestamp};

use super::frame_log::{FrameBatch, FrameBatches, MAX_PENDING_FRAMES};
use super::ops::{self, EventRow, GroupRows};
use super::query::{Arg, Query};
use super::readings::ReadingRow;
use super::rows::timestamp_text;
use super::touches::Touches;
use super::upserts::Upsert;
use crate::{FrameRecord, StoreError, WriteBatch, WriteOp};

/// Frames written in one round, in whole batches (see [`super::frame_log`]): enough to keep up,
/// few enough that the requests committed in the same round do not wait long.
const FRAMES_PER_ROUND: usize = 512;

/// Most `last_seen` times written in one round, for the same reason.
const TOUCHES_PER_ROUND: usize = 1024;

/// The writer's connection, one implementation per database.
#[async_trait]
pub(crate) trait WriteConn: Send + 'static {
    /// The statement that opens a group transaction.
    const BEGIN: &'static str;

    /// Whether a group's events, station upserts, session upserts and connector upserts are
    /// written together at its end ([`WriteConn::write_rows`]) instead of one statement each
    /// where they occur: worth it where a statement is a round trip (PostgreSQL) or a trip
    /// through a statement cache (SQLite, through rusqlite's). Any other operation writes the
    /// pending upserts first. Both databases batch; the other path stays for a connection
    /// that would not.
    const BATCH_ROWS: bool = false;

    /// Whether the writer runs on a thread of its own (with a runtime of its own): because
    /// this connection blocks the thread while it works instead of awaiting, or because the
    /// one writer must not wait in the runtime's queue behind thousands of connection tasks
    /// between two statements.
    const OWN_THREAD: bool = false;

    /// Whether a group whose requests only add batched rows (session and connector upserts,
    /// events, meter readings; see [`adds_rows_only`]), with nothing else to write but frames,
    /// is written as the one statement of [`WriteConn::write_rows`] without BEGIN and COMMIT:
    /// a single statement is a transaction of its own, and where each statement is a round
    /// trip those two were two of the group's three.
    const ONE_STATEMENT: bool = false;

    /// Called first on the writer's own thread ([`WriteConn::OWN_THREAD`]): a connection whose
    /// socket belongs to the runtime that opened it opens anew on this one.
    async fn attach(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Runs a statement without arguments through the simple protocol (transaction control).
    async fn control(&mut self, sql: &'static str) -> Result<(), StoreError>;

    /// Runs a statement; answers the number of rows it changed.
    async fn execute(&mut self, query: Query) -> Result<u64, StoreError>;

    /// Runs a statement that returns at most one integer.
    async fn fetch_int(&mut self, query: Query) -> Result<Option<i64>, StoreError>;

    /// Upserts rows of one kind, in order (no two with the same key), in as few statements
    /// as the database allows.
    async fn upsert_rows(&mut self, kind: Upsert, rows: &[Vec<Arg>]) -> Result<(), StoreError> {
        for row in rows {
            self.execute(Query {
                sql: std::borrow::Cow::Borrowed(kind.one()),
                args: row.clone(),
            })
            .await?;
        }
        Ok(())
    }

    /// Writes the rows a group gathered, in this order: session and connector upserts (the
    /// last per row only), events, meter readings, frame-log batches (one row each). One
    /// statement each, or one for them all where the database can say it
    /// ([`WriteConn::ONE_STATEMENT`]).
    async fn write_rows(&mut self, rows: GroupParts<'_>) -> Result<(), StoreError>;

    /// Appends outbox events, in order (their `seq` follows it), skipping ids already there.
    async fn insert_events(&mut self, rows: &[EventRow]) -> Result<(), StoreError> {
        for row in rows {
            self.execute(ops::insert_event(row)).await?;
        }
        Ok(())
    }

    /// Moves each station's `last_seen_at` forward (never backward).
    async fn update_last_seen(
        &mut self,
        touches: &[(StationId, Timestamp)],
    ) -> Result<(), StoreError> {
        for (station_id, at) in touches {
            self.execute(ops::update_last_seen(station_id, at)).await?;
        }
        Ok(())
    }

    /// True while the connection answers.
    async fn ping(&mut self) -> bool;

    /// Replaces a broken connection with a new one.
    async fn reconnect(&mut self) -> Result<(), StoreError>;

    /// Closes the connection.
    async fn close(self);
}

/// A group's rows for [`WriteConn::write_rows`]; upserts hold no two rows with one key.
pub(crate) struct GroupParts<'a> {
    pub(crate) sessions: &'a [Vec<Arg>],
    pub(crate) connectors: &'a [Vec<Arg>],
    pub(crate) events: &'a [EventRow],
    pub(crate) readings: &'a [ReadingRow],
    pub(crate) frames: &'a [FrameBatch],
}

/// What a caller asks the writer to do.
#[derive(Debug)]
pub(crate) enum Job {
    /// Commit a batch.
    Commit(WriteBatch),
    /// Take the next block of transaction ids.
    ReserveIds,
    /// Write the frame log and `last_seen` buffers now.
    Flush,
    /// Write one station's frames now (before its frame log is read).
    FlushFrames(StationId),
    /// Delete at most `limit` frame-log rows older than `before`.
    PruneFrames {
        /// The cut-off.
        before: Timestamp,
        /// How many rows at most.
        limit: usize,
    },
}

/// What the writer answers once its transaction committed.
#[derive(Debug)]
pub(crate) enum Done {
    /// The job is durable.
    Written,
    /// The first id of a reserved block, durable.
    Ids(i64),
    /// How many frame-log rows were deleted.
    Pruned(u64),
}

/// One job and where to send its answer.
pub(crate) struct Request {
    /// The job.
    pub(crate) job: Job,
    /// Answered after the commit (or the failure).
    pub(crate) reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// The channels and buffers the writer serves.
pub(crate) struct Inbox {
    /// Requests, bounded: callers wait when it is full.
    pub(crate) requests: mpsc::Receiver<Request>,
    /// Frame-log rows, bounded.
    pub(crate) frames: mpsc::Receiver<FrameRecord>,
    /// Woken when the frame buffer fills up.
    pub(crate) frame_pressure: Arc<Notify>,
    /// Pending `last_seen` times.
    pub(crate) touches: Arc<Touches>,
}

/// The state of the writer task.
pub(crate) struct Writer<C: WriteConn> {
    conn: C,
    inbox: Inbox,
    max_batch: usize,
    flush_interval: Duration,
    last_seen_interval: Duration,
    last_touch_flush: Instant,
    /// Frames taken from the inbox and not written yet.
    frames: FrameBatches,
    /// `last_seen` times taken at their last interval and not written yet, in station
    /// order, a chunk per round.
    touches_due: Vec<(StationId, Timestamp)>,
}

/// What starts a round.
pub(crate) enum Trigger {
    /// A request arrived; others may be queued behind it.
    Request(Request),
    /// Buffered frames or `last_seen` times are waiting (or the flush interval came).
    Buffers,
    /// The writer stops: write everything buffered.
    Final,
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

impl<C: WriteConn> Writer<C> {
    /// A writer over `conn` serving `inbox`.
    pub(crate) fn new(
        conn: C,
        inbox: Inbox,
        max_batch: usize,
        flush_interval: Duration,
        last_seen_interval: Duration,
    ) -> Writer<C> {
        Writer {
            conn,
            inbox,
            max_batch: max_batch.max(1),
            flush_interval,
            last_seen_interval,
            last_touch_flush: Instant::now(),
            frames: FrameBatches::default(),
            touches_due: Vec::new(),
        }
    }

    /// Whether buffered rows are waiting for a round of their own.
    fn backlog(&self) -> bool {
        self.frames.has_closed()
            || !self.touches_due.is_empty()
            || self.inbox.frames.len() >= FRAMES_PER_ROUND
    }

    /// Serves requests until every sender is gone, then writes what is still buffered.
    pub(crate) async fn run(mut self) {
        if C::OWN_THREAD
            && let Err(error) = self.conn.attach().await
        {
            // The connection opened elsewhere still works, through the other runtime.
            tracing::warn!(%error, "cannot reopen the database writer connection on its thread");
        }
        // A quarter of the flush interval: a batch waits at most that much past its time.
        let mut tick = tokio::time::interval(
            (self.flush_interval / 4)
                .min(self.last_seen_interval)
                .max(Duration::from_millis(1)),
        );
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let trigger = if self.backlog() {
                // Buffered rows go in rounds of their own only while no request waits.
                match self.inbox.requests.try_recv() {
                    Ok(first) => Trigger::Request(first),
                    Err(mpsc::error::TryRecvError::Empty) => Trigger::Buffers,
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                }
            } else {
                tokio::select! {
                    request = self.inbox.requests.recv() => match request {
                        Some(first) => Trigger::Request(first),
                        None => break,
                    },
                    () = self.inbox.frame_pressure.notified() => Trigger::Buffers,
                    _ = tick.tick() => Trigger::Buffers,
                }
            };
            self.round(trigger).await;
        }
        self.round(Trigger::Final).await;
        self.conn.close().await;
        tracing::debug!("database writer stopped");
    }

    /// One group: the first request plus whatever else is queued, and a chunk of the
    /// buffered frames and `last_seen` times, all in one transaction. A `Flush` request (or
    /// the writer's end) writes every buffered row.
    pub(crate) async fn round(&mut self, trigger: Trigger) {
        let mut group = Vec::new();
        let mut flush_all = matches!(trigger, Trigger::Final);
        if let Trigger::Request(first) = trigger {
            group.push(first);
            while group.len() < self.max_batch {
                match self.inbox.requests.try_recv() {
                    Ok(request) => group.push(request),
                    Err(_) => break,
                }
            }
            flush_all = group
                .iter()
                .any(|request| matches!(request.job, Job::Flush));
        }
        self.take_frames_in();
        if flush_all {
            self.frames.close_all();
        } else if let Some(deadline) = Instant::now().checked_sub(self.flush_interval) {
            // Checked on every round: a steady stream of requests may keep the tick from ever
            // being the branch chosen.
            self.frames.close_opened_before(deadline);
        }
        let mut frames = Vec::new();
        for request in &group {
            if let Job::FlushFrames(station_id) = &request.job {
                frames.extend(self.frames.take_station(station_id));
            }
        }
        frames.extend(self.frames.take(if flush_all {
            usize::MAX
        } else {
            FRAMES_PER_ROUND
        }));
        if flush_all || self.last_touch_flush.elapsed() >= self.last_seen_interval {
            self.last_touch_flush = Instant::now();
            merge_touches(&mut self.touches_due, self.inbox.touches.take());
        }
        let touch_count = if flush_all {
            self.touches_due.len()
        } else {
            self.touches_due.len().min(TOUCHES_PER_ROUND)
        };
        let touches: Vec<_> = self.touches_due.drain(..touch_count).collect();
        if group.is_empty() && frames.is_empty() && touches.is_empty() {
            return;
        }
        let now = timestamp_text(&chrono::Utc::now());
        let jobs: Vec<&Job> = group.iter().map(|request| &request.job).collect();
        let outcome = match self.transaction(&jobs, &frames, &touches, &now).await {
            Ok(committed) => committed,
            Err(error) => {
                // How a failing request is isolated: expected, and its caller logs its own
                // error.
                tracing::debug!(
                    %error,
                    requests = group.len(),
                    frames = frames.len(),
                    "group failed; retrying its parts one by one"
                );
                self.retry_separately(&jobs, &frames, &touches, &now).await
            }
        };
        let frame_count = frames.iter().map(|batch| batch.frames.len()).sum();
        self.finish(group, outcome, frame_count, touches);
    }

    /// Moves queued frames into their stations' batches, while memory allows: past that they
    /// wait in the bounded queue, and `log_frame` callers wait for room.
    fn take_frames_in(&mut self) {
        let now = Instant::now();
        while self.frames.pending() < MAX_PENDING_FRAMES {
            match self.inbox.frames.try_recv() {
                Ok(frame) => self.frames.push(frame, now),
                Err(_) => break,
            }
        }
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
            self.inbox.touches.restore(touches);
            buffers_failed = Some(error.to_string());
        }
        for (request, result) in group.into_iter().zip(jobs) {
            let result = match (&request.job, &buffers_failed, result) {
                (Job::Flush | Job::FlushFrames(_), Some(message), Ok(_)) => {
                    Err(StoreError::Database(sqlx::Error::Io(
                        std::io::Error::other(format!("flush failed: {message}")),
                    )))
                }
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
        frames: &[FrameBatch],
        touches: &[(StationId, Timestamp)],
        now: &str,
    ) -> Result<Committed, StoreError> {
        if C::ONE_STATEMENT && touches.is_empty() && jobs.iter().all(|job| adds_rows_only(job)) {
            let result = self.write_parts(jobs, frames, touches, now).await;
            if result.is_err() {
                self.recover().await;
            }
            return result;
        }
        if let Err(error) = self.conn.control(C::BEGIN).await {
            self.recover().await;
            return Err(error);
        }
        let result = self.write_parts(jobs, frames, touches, now).await;
        let result = match result {
            Ok(committed) => self.conn.control("COMMIT").await.map(|()| committed),
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
        frames: &[FrameBatch],
        touches: &[(StationId, Timestamp)],
        now: &str,
    ) -> Result<Committed, StoreError> {
        let mut results = Vec::with_capacity(jobs.len());
        let mut rows = GroupRows::default();
        for job in jobs {
            let mut job_rows = GroupRows::default();
            let done = apply_job(&mut self.conn, job, now, &mut job_rows, &mut rows).await?;
            rows.append(&mut job_rows);
            results.push(Ok(done));
        }
        // One batch each for the whole group. Should one fail, the group is retried request by
        // request, and only the request whose rows are refused fails. Stations go first: the
        // connectors refer to them.
        rows.write_upserts(&mut self.conn, &[Upsert::Station])
            .await?;
        let sessions = rows.last_upserts(Upsert::Session);
        let connectors = rows.last_upserts(Upsert::Connector);
        self.conn
            .write_rows(GroupParts {
                sessions: &sessions,
                connectors: &connectors,
                events: &rows.events,
                readings: &rows.readings,
                frames,
            })
            .await?;
        if !touches.is_empty() {
            self.conn.update_last_seen(touches).await?;
        }
        Ok(Committed {
            jobs: results,
            frames: Ok(()),
            touches: Ok(()),
        })
    }

    /// After a failed group: each request, then the frames, then the touches, each in its own
    /// transaction, so one bad part cannot fail the others.
    async fn retry_separately(
        &mut self,
        jobs: &[&Job],
        frames: &[FrameBatch],
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
        // Fails harmlessly (SQLite: "no transaction is active"; PostgreSQL only warns) when
        // the database already rolled back.
        if self.conn.control("ROLLBACK").await.is_ok() {
            return;
        }
        if self.conn.ping().await {
            return;
        }
        match self.conn.reconnect().await {
            Ok(()) => tracing::warn!("reopened the database writer connection"),
            Err(error) => tracing::error!(%error, "cannot reopen the database writer connection"),
        }
    }
}

/// Whether `job` only adds rows the writer batches for the group (on a database that batches
/// them, see [`WriteConn::BATCH_ROWS`]): no statement of its own, no station upsert (written
/// apart, before the connectors that refer to it).
fn adds_rows_only(job: &Job) -> bool {
    match job {
        Job::Commit(batch) => batch.ops.iter().all(|op| {
            matches!(
                op,
                WriteOp::UpsertSession(_)
                    | WriteOp::UpsertConnector { .. }
                    | WriteOp::InsertSamples { .. }
                    | WriteOp::AppendEvent(_)
            )
        }),
        Job::Flush | Job::FlushFrames(_) => true,
        Job::ReserveIds | Job::PruneFrames { .. } => false,
    }
}

/// Adds freshly taken `last_seen` times to those still waiting, keeping station order and one
/// time per station, the newest.
fn merge_touches(due: &mut Vec<(StationId, Timestamp)>, fresh: Vec<(StationId, Timestamp)>) {
    if due.is_empty() {
        *due = fresh;
        return;
    }
    due.extend(fresh);
    due.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()).then(b.1.cmp(&a.1)));
    due.dedup_by(|later, earlier| later.0 == earlier.0);
}

async fn apply_job<C: WriteConn>(
    conn: &mut C,
    job: &Job,
    now: &str,
    rows: &mut GroupRows,
    pending: &mut GroupRows,
) -> Result<Done, StoreError> {
    match job {
        Job::Commit(batch) => {
            for op in &batch.ops {
                ops::apply(conn, op, now, rows, pending).await?;
            }
            Ok(Done::Written)
        }
        Job::ReserveIds => ops::reserve_transaction_ids(conn).await.map(Done::Ids),
        Job::Flush | Job::FlushFrames(_) => Ok(Done::Written),
        Job::PruneFrames { before, limit } => ops::prune_frames(conn, before, *limit)
            .await
            .map(Done::Pruned),
    }
}

#[cfg(test)]
mod tests {
    use zaryad_model::{Connector, IdToken, IdTokenStatus};

    use super::*;
    use crate::WriteOp;

    /// A writer over a SQLite file: the group logic is the same for every database, and
    /// SQLite's foreign keys (deferred or not) let a test fail one request within the group or
    /// the group's COMMIT at will.
    struct Harness {
        writer: Writer<crate::sqlite::SqliteWriteConn>,
        requests: mpsc::Sender<Request>,
        _frames: mpsc::Sender<FrameRecord>,
        _dir: tempfile::TempDir,
    }

    async fn harness() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::sqlite::writer_conn(&dir).await;
        let (requests, request_queue) = mpsc::channel(64);
        let (frames, frame_queue) = mpsc::channel(64);
        let inbox = Inbox {
            requests: request_queue,
            frames: frame_queue,
            frame_pressure: Arc::new(Notify::new()),
            touches: Arc::new(Touches::default()),
        };
        let writer = Writer::new(
            conn,
            inbox,
            64,
            Duration::from_secs(3600),
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
        let first = harness.writer.inbox.requests.recv().await.unwrap();
        harness.writer.round(Trigger::Request(first)).await;
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
        let conn = &harness.writer.conn.conn;
        let mut statement = conn
            .prepare("SELECT token FROM id_tokens ORDER BY token")
            .unwrap();
        let tokens: Vec<String> = statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(tokens, ["A", "C"]);
    }

    #[test]
    fn touches_taken_again_merge_in_station_order_keeping_the_newest() {
        let at = |seconds: i64| chrono::DateTime::from_timestamp(seconds, 0).unwrap();
        let id = |name: &str| StationId::parse(name).unwrap();
        let mut due = vec![(id("A"), at(10)), (id("C"), at(30))];
        merge_touches(
            &mut due,
            vec![(id("B"), at(20)), (id("C"), at(35)), (id("D"), at(5))],
        );
        assert_eq!(
            due,
            [
                (id("A"), at(10)),
                (id("B"), at(20)),
                (id("C"), at(35)),
                (id("D"), at(5)),
            ]
        );
        // An older time noted late does not win over the one waiting.
        merge_touches(&mut due, vec![(id("A"), at(1))]);
        assert_eq!(due[0], (id("A"), at(10)));
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
        // instead of its own statement.
        harness
            .writer
            .conn
            .conn
            .execute_batch("PRAGMA defer_foreign_keys = ON")
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
}
