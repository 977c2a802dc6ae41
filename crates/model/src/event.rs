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
    /// A session ended; sent again, with a higher `revision`, when late meter values
    /// correct it.
    #[serde(rename = "session.ended")]
    SessionEnded,
    /// An operator changed a station's registration (accepted, pending, rejected).
    #[serde(rename = "station.registration_changed")]
    StationRegistrationChanged,
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
            EventType::StationRegistrationChanged => "station.registration_changed",
            EventType::CommandCompleted => "command.completed",
        }
    }

    /// Every event type, in the order the documentation lists them.
    pub const ALL: [EventType; 9] = [
        EventType::StationConnected,
        EventType::StationDisconnected,
        EventType::StationBooted,
        EventType::StationRegistrationChanged,
        EventType::ConnectorStatusChanged,
        EventType::SessionStarted,
        EventType::SessionUpdated,
        EventType::SessionEnded,
        EventType::CommandCompleted,
    ];

    /// Reads the envelope spelling back.
    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL
            .into_iter()
            .find(|event_type| event_type.as_str() == text)
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
    /// What deliveries are ordered by: the session for `session.*` events, else the station
    /// (`station:<id>`), so that one session's events (and one station's other events) arrive
    /// in the order they happened.
    pub fn order_key(&self) -> String {
        match &self.session_id {
            Some(session_id) => session_id.clone(),
            None => format!("station:{}", self.station_id),
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_reads_back_from_its_spelling() {
        for event_type in EventType::ALL {
            assert_eq!(EventType::parse(event_type.as_str()), Some(event_type));
            let json = serde_json::to_value(event_type).unwrap();
            assert_eq!(json, event_type.as_str());
        }
        assert_eq!(EventType::parse("session.bogus"), None);
    }
}
