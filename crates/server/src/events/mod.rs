//! Domain events on their way out: the outbox (written by the gateway and the API in the same
//! commit as the change) is followed by `seq` and delivered to webhooks ([`dispatcher`]), to
//! NATS JetStream ([`nats`]) and to Server-Sent Events streams ([`sse`]). What a follower has
//! handled is in the database, so a restart resumes where it stopped, with the same event ids.
//!
//! `session.ended` carries the final session, its duration, a `revision` (1, then higher for
//! each correction by meter values that arrive after the end, see [`corrections`]) and an OCPI
//! CDR ([`cdr`]).

pub mod cdr;
mod corrections;
mod dispatcher;
mod nats;
pub mod outbox;
pub mod sse;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use tokio_util::task::TaskTracker;
use zaryad_model::{EventType, MeterSample, Session, SessionState, Timestamp};
use zaryad_store::{Store, StoreError, WriteBatch, WriteOp};

use crate::config::{CdrConfig, EventsConfig};
use crate::state::Shared;
use crate::views::SessionView;

/// The outbox follower that queues webhook deliveries.
const WEBHOOKS_CURSOR: &str = "webhooks";
/// The outbox follower that publishes to NATS.
const NATS_CURSOR: &str = "nats";

/// Most meter samples read to build a CDR (a day of a sample every few seconds).
const MAX_CDR_SAMPLES: u32 = 500_000;

/// Starts webhook delivery, session corrections and (when configured) NATS publishing. Call
/// it before chargers can connect: a follower that starts for the first time begins at the
/// end of the outbox as it is then.
pub async fn start(shared: &Arc<Shared>, tasks: &TaskTracker) -> anyhow::Result<()> {
    let store = &shared.store;
    let cursor = initial_cursor(store, WEBHOOKS_CURSOR)
        .await
        .context("reading the webhook dispatcher's position")?;
    let http = reqwest::Client::builder()
        // A redirect would resend the signed body elsewhere; the receiver's URL is exact.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(
            shared.config.events.webhooks.timeout_secs.max(1),
        ))
        .user_agent(concat!("zaryad/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the webhook HTTP client")?;
    tasks.spawn(dispatcher::run(shared.clone(), http, cursor));
    tasks.spawn(corrections::run(shared.clone()));
    if let Some(url) = shared.config.events.nats.url.clone() {
        let cursor = initial_cursor(store, NATS_CURSOR)
            .await
            .context("reading the NATS publisher's position")?;
        tasks.spawn(nats::run(shared.clone(), url, cursor));
    }
    Ok(())
}

/// Where the follower `name` resumes; on its first start, the end of the outbox (for the
/// webhook follower: no later than the start of any webhook, so none misses an event).
async fn initial_cursor(store: &Arc<dyn Store>, name: &str) -> Result<i64, StoreError> {
    if let Some(seq) = store.cursor(name).await? {
        return Ok(seq);
    }
    let mut seq = store.last_event_seq().await?;
    if name == WEBHOOKS_CURSOR
        && let Some(first) = store.webhooks().await?.iter().map(|w| w.start_seq).min()
    {
        seq = seq.min(first);
    }
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::SetCursor {
        name: name.to_owned(),
        seq,
    });
    store.commit(batch).await?;
    Ok(seq)
}

/// The data of a `session.ended` event: the session as the API shows it, its duration, the
/// revision and the OCPI CDR built from `samples` (all of the session's meter samples).
pub fn session_ended_data(
    session: &Session,
    samples: &[MeterSample],
    revision: u32,
    config: &CdrConfig,
    now: Timestamp,
) -> Value {
    let mut data = SessionView::json(session);
    let duration_secs = session
        .ended_at
        .map(|ended| (ended - session.started_at).num_seconds().max(0));
    if let Value::Object(fields) = &mut data {
        fields.insert("duration_secs".to_owned(), json!(duration_secs));
        fields.insert("revision".to_owned(), json!(revision));
        fields.insert(
            "cdr".to_owned(),
            cdr::build(session, samples, revision, config, now),
        );
    }
    data
}

/// Completes every first `session.ended` of `batch` with its duration, revision and CDR,
/// from the session's samples (the batch's own are added): called by the gateway just before it
/// commits, so that the event and the session's end commit together. `kept` holds the CDR's
/// samples of sessions the caller watched from their start (see [`cdr::uses`]); any other
/// session's samples are read from the store.
pub async fn complete_session_ends(
    store: &dyn Store,
    config: &CdrConfig,
    kept: &HashMap<String, Vec<MeterSample>>,
    batch: &mut WriteBatch,
) -> Result<(), StoreError> {
    let mut completed = Vec::new();
    for (index, op) in batch.ops.iter().enumerate() {
        let WriteOp::AppendEvent(event) = op else {
            continue;
        };
        if event.event_type != EventType::SessionEnded || event.data.get("revision").is_some() {
            continue;
        }
        let Some(session) = batch.ops.iter().find_map(|op| match op {
            WriteOp::UpsertSession(session) if Some(&session.id) == event.session_id.as_ref() => {
                Some(session)
            }
            _ => None,
        }) else {
            continue;
        };
        let mut samples = match kept.get(&session.id) {
            Some(kept) => kept.clone(),
            None => store.meter_samples(&session.id, MAX_CDR_SAMPLES).await?,
        };
        for op in &batch.ops {
            if let WriteOp::InsertSamples {
                session_id: Some(id),
                samples: new,
                ..
            } = op
                && *id == session.id
            {
                samples.extend(new.iter().cloned());
            }
        }
        let data = session_ended_data(session, &samples, 1, config, event.occurred_at);
        completed.push((index, data));
    }
    for (index, data) in completed {
        if let Some(WriteOp::AppendEvent(event)) = batch.ops.get_mut(index) {
            event.data = data;
        }
    }
    Ok(())
}

/// Asks for a corrected `session.ended` when `samples` arrived for a session that already
/// ended; the request waits the session update interval, so a burst of late values makes one
/// correction.
pub fn request_correction(
    batch: &mut WriteBatch,
    session: &Session,
    samples: &[MeterSample],
    config: &EventsConfig,
    now: Timestamp,
) {
    if session.state != SessionState::Completed || samples.is_empty() {
        return;
    }
    let wait = chrono::TimeDelta::from_std(config.session_update_interval())
        .unwrap_or(chrono::TimeDelta::MAX);
    batch.push(WriteOp::RequestSessionCorrection {
        session_id: session.id.clone(),
        due_at: now.checked_add_signed(wait).unwrap_or(now),
    });
}

/// A new time-ordered event id.
fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
