//! The webhook dispatcher: one task that follows the outbox, queues a delivery per event and
//! subscribed webhook (in the same commit as its position), and sends the due ones.
//!
//! Everything it knows is in the database: a delivery is pending until an attempt records it
//! delivered or failed, so a crash at any point means at most a repeat of an attempt, never a
//! lost event. Deliveries with the same webhook and order key (a session, or a station's
//! events without a session) go out one at a time in outbox order; the database query hands
//! out only the first pending one of each, and this task keeps a second attempt of the same
//! key from starting while one is in flight.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::task::{Id, JoinSet};
use zaryad_store::{AttemptOutcome, DueDelivery, Store, StoreError, WriteBatch, WriteOp};

use super::WEBHOOKS_CURSOR;
use super::outbox::Follower;
use super::webhook;
use crate::config::EventsConfig;
use crate::metrics;
use crate::state::Shared;

/// Events queued per round.
const FAN_OUT_BATCH: u32 = 500;
/// Due deliveries read per round (more than may be in flight, so that keys already in flight
/// cannot hide the others).
const DUE_BATCH: u32 = 500;
/// Most attempts in flight to one webhook, so that a slow receiver cannot take every slot.
const PER_WEBHOOK_IN_FLIGHT: usize = 8;
/// After a commit woke the dispatcher, it waits this long so that a burst of commits makes
/// one round rather than one each.
const COALESCE: Duration = Duration::from_millis(10);
/// How long to wait after the database failed before trying again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// A webhook and an order key: at most one attempt of each is in flight.
type Key = (String, String);

struct Dispatcher {
    store: Arc<dyn Store>,
    http: reqwest::Client,
    config: EventsConfig,
    follower: Follower,
    attempts: JoinSet<()>,
    in_flight: HashMap<Id, Key>,
    busy: HashSet<Key>,
    per_webhook: HashMap<String, usize>,
}

/// Runs until shutdown, starting after outbox position `cursor`.
pub async fn run(shared: Arc<Shared>, http: reqwest::Client, cursor: i64) {
    let store = shared.store.clone();
    let mut outbox = store.outbox_changes();
    let mut dispatcher = Dispatcher {
        follower: Follower::new(store.clone(), cursor),
        store,
        http,
        config: shared.config.events.clone(),
        attempts: JoinSet::new(),
        in_flight: HashMap::new(),
        busy: HashSet::new(),
        per_webhook: HashMap::new(),
    };
    loop {
        let wait = dispatcher.round().await;
        tokio::select! {
            () = shared.shutdown.cancelled() => break,
            changed = outbox.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(wait).await;
                } else {
                    tokio::time::sleep(COALESCE).await;
                }
            }
            Some(done) = dispatcher.attempts.join_next_with_id() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(error) => error.id(),
                };
                dispatcher.finished(id);
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
    // An attempt cut short stays pending and is made again after the restart.
    dispatcher.attempts.shutdown().await;
}

impl Dispatcher {
    /// Queues new events, starts due attempts; answers how long to wait at most.
    async fn round(&mut self) -> Duration {
        let poll = self.config.poll_interval();
        let backlog = match self.fan_out().await {
            Ok(backlog) => backlog,
            Err(error) => {
                tracing::warn!(%error, "queueing webhook deliveries failed; will retry");
                return STORE_RETRY;
            }
        };
        if let Err(error) = self.start_due().await {
            tracing::warn!(%error, "reading due webhook deliveries failed; will retry");
            return STORE_RETRY;
        }
        if backlog {
            return Duration::ZERO;
        }
        if self.follower.waiting_on_gap() {
            return poll.min(Duration::from_millis(200));
        }
        // Deliveries due now were just started or wait for one in flight (whose end wakes
        // this task); the next one due later sets the alarm.
        let now = Utc::now();
        match self.store.next_delivery_after(now).await {
            Ok(Some(at)) => (at - now).to_std().unwrap_or(Duration::ZERO).min(poll),
            Ok(None) => poll,
            Err(error) => {
                tracing::warn!(%error, "reading the next webhook delivery time failed");
                STORE_RETRY
            }
        }
    }

    /// Queues the deliveries of the next outbox events; true when more are waiting.
    async fn fan_out(&mut self) -> Result<bool, StoreError> {
        let from = self.follower.cursor();
        // Positions only: the deliveries are queued in SQL from the events table.
        let events = self.follower.next_positions(FAN_OUT_BATCH).await?;
        let Some(last) = events.last() else {
            return Ok(false);
        };
        let mut batch = WriteBatch::new();
        batch.push(WriteOp::QueueDeliveries {
            after_seq: from,
            through_seq: last.seq,
            at: Utc::now(),
        });
        batch.push(WriteOp::SetCursor {
            name: WEBHOOKS_CURSOR.to_owned(),
            seq: last.seq,
        });
        if let Err(error) = self.store.commit(batch).await {
            self.follower.rewind(from);
            return Err(error);
        }
        Ok(events.len() >= FAN_OUT_BATCH as usize)
    }

    async fn start_due(&mut self) -> Result<(), StoreError> {
        let max = self.config.webhooks.max_in_flight.max(1);
        if self.in_flight.len() >= max {
            return Ok(());
        }
        for due in self.store.due_deliveries(Utc::now(), DUE_BATCH).await? {
            if self.in_flight.len() >= max {
                break;
            }
            let key = (due.webhook_id.clone(), due.order_key.clone());
            let per_webhook = self.per_webhook.get(&due.webhook_id).copied().unwrap_or(0);
            if self.busy.contains(&key) || per_webhook >= PER_WEBHOOK_IN_FLIGHT {
                continue;
            }
            let handle = self.attempts.spawn(deliver(
                self.store.clone(),
                self.http.clone(),
                self.config.clone(),
                due,
            ));
            self.per_webhook.insert(key.0.clone(), per_webhook + 1);
            self.busy.insert(key.clone());
            self.in_flight.insert(handle.id(), key);
        }
        Ok(())
    }

    fn finished(&mut self, id: Id) {
        let Some(key) = self.in_flight.remove(&id) else {
            return;
        };
        if let Some(count) = self.per_webhook.get_mut(&key.0) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_webhook.remove(&key.0);
            }
        }
        self.busy.remove(&key);
    }
}

/// One attempt, recorded.
async fn deliver(
    store: Arc<dyn Store>,
    http: reqwest::Client,
    config: EventsConfig,
    due: DueDelivery,
) {
    let attempt = webhook::attempt(&http, &config.webhooks, &due).await;
    metrics::webhook_attempt(match attempt.outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::Retry(_) => "retry",
        AttemptOutcome::Failed => "failed",
    });
    if attempt.outcome == AttemptOutcome::Failed {
        tracing::warn!(
            webhook = %due.webhook_id,
            event = %due.event.event.id,
            error = attempt.error.as_deref().unwrap_or_default(),
            "webhook delivery failed for good: older than events.webhooks.max_age_secs"
        );
    }
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::RecordAttempt(attempt));
    if let Err(error) = store.commit(batch).await {
        // The delivery stays pending and due: it is attempted again (at least once).
        tracing::warn!(%error, webhook = %due.webhook_id, "recording a webhook attempt failed");
        tokio::time::sleep(STORE_RETRY).await;
    }
}
