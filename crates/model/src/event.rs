//! Domain events: what billing systems and live views are told, written to the outbox in the
//! same database transaction as the state change that caused them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Session, StationId, Timestamp};

/// The kind of a domain event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A charger's WebSocket connection was established.
    #[serde(rename = "station.connected")]
    StationConnected,
    /// A charger's WebSocket connection ended.
    #[serde(rename = "station.disconnected")]
    StationDisconnected,
    /// A BootNotification was answered.
    #[serde(rename = "station.booted")]
    StationBooted,
    /// A connector's status changed.
    #[serde(rename = "connector.status_changed")]
    ConnectorStatusChanged,
    /// A session began.
    #[serde(rename = "session.started")]
    SessionStarted,
    /// A running session changed (energy, power, state of charge, charging state).
    #[serde(rename = "session.updated")]
    SessionUpdated,
    /// A session ended.
    #[serde(rename = "session.ended")]
    SessionEnded,
    /// An operator's command was answered, failed or timed out.
    #[serde(rename = "command.completed")]
    CommandCompleted,
}

impl EventType {
    /// The type as the event envelope spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::StationConnected => "station.connected",
            EventType::StationDisconnected => "station.disconnected",
            EventType::StationBooted => "station.booted",
            EventType::ConnectorStatusChanged => "connector.status_changed",
            EventType::SessionStarted => "session.started",
            EventType::SessionUpdated => "session.updated",
            EventType::SessionEnded => "session.ended",
            EventType::CommandCompleted => "command.completed",
        }
    }
}

/// One event, as written to the outbox and delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    /// Unique and stable across redeliveries.
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When it happened (server time).
    pub occurred_at: Timestamp,
    /// The station concerned.
    pub station_id: StationId,
    /// The session concerned, for ordering deliveries per session.
    #[serde(skip)]
    pub session_id: Option<String>,
    /// The event's content, e.g. the session object for `session.*`.
    pub data: Value,
}

impl DomainEvent {
    /// A `session.*` event carrying `data`, the session as the API shows it.
    pub fn for_session(
        id: String,
        event_type: EventType,
        session: &Session,
        data: Value,
        now: Timestamp,
    ) -> DomainEvent {
        DomainEvent {
            id,
            event_type,
            occurred_at: now,
            station_id: session.station_id.clone(),
            session_id: Some(session.id.clone()),
            data,
        }
    }
}
