//! Publishing every event to NATS JetStream on `<subject_prefix>.<type>`, with the event id as
//! `Nats-Msg-Id`.
//!
//! The same outbox guarantees as webhooks: the publisher follows the outbox from its stored
//! position, awaits the stream's acknowledgement of each event and only then moves the
//! position on. After a crash it republishes from the last stored position, and the server
//! drops what it already has (same message id within the stream's duplicate window).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};
use chrono::Utc;
use zaryad_store::{WriteBatch, WriteOp};

use super::NATS_CURSOR;
use super::outbox::Follower;
use crate::config::NatsConfig;
use crate::metrics;
use crate::state::Shared;

/// Events published before their acknowledgements are awaited.
const BATCH: u32 = 100;
/// Pause before reconnecting after a failure; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// Why publishing stopped (the publisher reconnects and resumes).
#[derive(Debug, thiserror::Error)]
enum PublishFailure {
    #[error("connecting to NATS: {0}")]
    Connect(#[from] async_nats::ConnectError),
    #[error("creating the stream: {0}")]
    Stream(#[from] jetstream::context::CreateStreamError),
    #[error("publishing: {0}")]
    Publish(#[from] jetstream::context::PublishError),
    #[error("the database: {0}")]
    Store(#[from] zaryad_store::StoreError),
}

/// Runs until shutdown, starting after outbox position `cursor`.
pub async fn run(shared: Arc<Shared>, url: String, cursor: i64) {
    let mut follower = Follower::new(shared.store.clone(), cursor);
    let mut retry = FIRST_RETRY;
    loop {
        let published = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            result = publish(&shared, &url, &mut follower, &mut retry) => result,
        };
        match published {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, url = %zaryad_store::redact_url(&url), retry_in = ?retry, "NATS publishing interrupted");
            }
        }
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            () = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(MAX_RETRY);
    }
}

/// Connects, makes sure the stream exists and publishes until an error (or forever).
async fn publish(
    shared: &Shared,
    url: &str,
    follower: &mut Follower,
    retry: &mut Duration,
) -> Result<(), PublishFailure> {
    let config = &shared.config.events.nats;
    let client = async_nats::ConnectOptions::new()
        .name("zaryad")
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await?;
    let context = jetstream::new(client);
    context.get_or_create_stream(stream_config(config)).await?;
    tracing::info!(stream = %config.stream, "publishing events to NATS JetStream");
    let store = &shared.store;
    let mut outbox = store.outbox_changes();
    let poll = shared.config.events.poll_interval();
    // Whatever an interrupted connection had handed out but not seen acknowledged is
    // published again.
    let stored_cursor = store.cursor(NATS_CURSOR).await?.unwrap_or(0);
    if stored_cursor < follower.cursor() {
        follower.rewind(stored_cursor);
    }
    loop {
        let events = follower.next(BATCH).await?;
        let Some(last) = events.last().map(|event| event.seq) else {
            let wait = if follower.waiting_on_gap() {
                poll.min(Duration::from_millis(200))
            } else {
                poll
            };
            tokio::select! {
                _ = outbox.changed() => {}
                () = tokio::time::sleep(wait) => {}
            }
            continue;
        };
        let mut acks = Vec::with_capacity(events.len());
        for stored in &events {
            let event = &stored.event;
            let payload =
                serde_json::to_vec(event).map_err(|error| zaryad_store::StoreError::Corrupt {
                    table: "events",
                    column: "data",
                    detail: error.to_string(),
                })?;
            let subject = format!("{}.{}", config.subject_prefix, event.event_type.as_str());
            let message = PublishMessage::build()
                .message_id(event.id.as_str())
                .payload(payload.into());
            acks.push(context.send_publish(subject, message).await?);
        }
        for ack in acks {
            let ack = ack.await?;
            metrics::event_published(ack.duplicate);
        }
        let mut batch = WriteBatch::new();
        batch.push(WriteOp::SetCursor {
            name: NATS_CURSOR.to_owned(),
            seq: last,
        });
        store.commit(batch).await?;
        *retry = FIRST_RETRY;
        tracing::debug!(through = last, at = %Utc::now(), "events published to NATS");
    }
}

/// The stream: every subject under the prefix, the configured duplicate window.
fn stream_config(config: &NatsConfig) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: config.stream.clone(),
        subjects: vec![format!("{}.>", config.subject_prefix)],
        duplicate_window: Duration::from_secs(config.duplicate_window_secs.max(1)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_covers_every_event_subject() {
        let config = NatsConfig::default();
        let stream = stream_config(&config);
        assert_eq!(stream.name, "ZARYAD_EVENTS");
        assert_eq!(stream.subjects, ["zaryad.events.>"]);
        assert_eq!(stream.duplicate_window, Duration::from_secs(120));
    }
}
