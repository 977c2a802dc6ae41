//! Server-Sent Events: the outbox as a live stream. Each event's `id:` is its outbox position,
//! so a client that reconnects with `Last-Event-ID` resumes exactly after the last event it
//! saw; `event:` is the type and `data:` the envelope, as webhooks receive it.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::Event;
use futures_util::Stream;
use zaryad_model::{DomainEvent, EventType, StationId};
use zaryad_store::StoredEvent;

use super::outbox::Follower;
use crate::state::Shared;

/// Events read from the outbox per query.
const PAGE: u32 = 200;

/// Which events a stream carries.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only these types (`None`: all).
    pub types: Option<Vec<EventType>>,
    /// Only this station's events.
    pub station_id: Option<StationId>,
}

impl Filter {
    /// Reads `types` (comma-separated event types) and `station_id`; the error names what is
    /// wrong.
    pub fn parse(types: Option<&str>, station_id: Option<&str>) -> Result<Filter, String> {
        let types = types
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(|name| {
                        EventType::parse(name).ok_or_else(|| format!("unknown event type {name:?}"))
                    })
                    .collect::<Result<Vec<EventType>, String>>()
            })
            .transpose()?
            .filter(|types| !types.is_empty());
        let station_id = station_id
            .filter(|id| !id.is_empty())
            .map(|id| StationId::parse(id).map_err(|error| error.to_string()))
            .transpose()?;
        Ok(Filter { types, station_id })
    }

    fn accepts(&self, event: &DomainEvent) -> bool {
        self.types
            .as_ref()
            .is_none_or(|types| types.contains(&event.event_type))
            && self
                .station_id
                .as_ref()
                .is_none_or(|station_id| *station_id == event.station_id)
    }
}

struct State {
    shared: Arc<Shared>,
    follower: Follower,
    buffer: VecDeque<StoredEvent>,
    filter: Filter,
    outbox: tokio::sync::watch::Receiver<u64>,
}

/// The events after outbox position `after` that pass `filter`, then every new one as it is
/// committed, until the server shuts down.
pub fn stream(
    shared: Arc<Shared>,
    after: i64,
    filter: Filter,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let state = State {
        follower: Follower::new(shared.store.clone(), after),
        outbox: shared.store.outbox_changes(),
        shared,
        buffer: VecDeque::new(),
        filter,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        let event = state.next().await?;
        Some((Ok(event), state))
    })
}

impl State {
    /// The next event to send, or `None` at shutdown.
    async fn next(&mut self) -> Option<Event> {
        loop {
            while let Some(stored) = self.buffer.pop_front() {
                if !self.filter.accepts(&stored.event) {
                    continue;
                }
                match Event::default()
                    .id(stored.seq.to_string())
                    .event(stored.event.event_type.as_str())
                    .json_data(&stored.event)
                {
                    Ok(event) => return Some(event),
                    Err(error) => tracing::warn!(%error, seq = stored.seq, "event not streamed"),
                }
            }
            let poll = self.shared.config.events.poll_interval();
            match self.follower.next(PAGE).await {
                Ok(events) if !events.is_empty() => {
                    self.buffer.extend(events);
                    continue;
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "reading the outbox for a stream failed"),
            }
            let wait = if self.follower.waiting_on_gap() {
                poll.min(Duration::from_millis(200))
            } else {
                poll
            };
            // Ends the stream at shutdown: graceful shutdown waits for open responses.
            tokio::select! {
                () = self.shared.shutdown.cancelled() => return None,
                changed = self.outbox.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(wait).await;
                    }
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}
