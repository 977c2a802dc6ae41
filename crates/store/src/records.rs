//! The rows the store reads and writes that are not model types.

use serde::{Deserialize, Serialize};
use zaryad_model::{
    ConfigurationEntry, Connector, DomainEvent, EventType, IdToken, MeterSample, Registration,
    Session, Station, StationId, Timestamp,
};

/// One operation of a [`WriteBatch`].
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Inserts a station, or updates an existing one's descriptive fields (boot data, version,
    /// last boot). The registration is taken only when the row is created: afterwards only an
    /// operator changes it (`ProvisionStation`), so a charger's boot can never undo that.
    /// Leaves the password, `provisioned` and the pinned profile of an existing row alone.
    UpsertStation(Station),
    /// An operator's provisioning (`PUT /stations/{id}`): creates the station if missing
    /// (marked provisioned) and sets only the fields given.
    ProvisionStation(ProvisionStation),
    /// Removes a station and its connectors; its sessions stay for billing.
    DeleteStation(StationId),
    /// Inserts or updates one connector of a station.
    UpsertConnector {
        /// The station.
        station_id: StationId,
        /// The connector's full state.
        connector: Connector,
    },
    /// Inserts a new session or fully updates an existing one (matched by `Session::id`).
    UpsertSession(Session),
    /// Appends meter samples, to a session when `session_id` is given.
    InsertSamples {
        /// The station that measured them.
        station_id: StationId,
        /// The EVSE they belong to.
        evse_id: u32,
        /// The session they belong to, if any.
        session_id: Option<String>,
        /// The samples.
        samples: Vec<MeterSample>,
    },
    /// Appends a domain event to the outbox.
    AppendEvent(DomainEvent),
    /// Inserts or replaces an id token.
    UpsertIdToken(IdToken),
    /// Removes an id token.
    DeleteIdToken(String),
    /// Stores an API token (its hash only).
    InsertApiToken(ApiToken),
    /// Removes an API token by its id.
    DeleteApiToken(String),
    /// Records configuration values a station reported.
    StoreConfiguration {
        /// The station.
        station_id: StationId,
        /// The values.
        entries: Vec<ConfigurationEntry>,
        /// True when `entries` is the whole configuration: keys not among them are removed.
        replace: bool,
        /// When the station reported them.
        at: Timestamp,
    },
    /// Adds a webhook subscription; it receives the events appended after this commit.
    InsertWebhook(NewWebhook),
    /// Removes a webhook subscription and its delivery log.
    DeleteWebhook(String),
    /// Queues a delivery of every outbox event with `after_seq < seq <= through_seq` to every
    /// webhook that subscribes to its type and existed before it; known deliveries stay as
    /// they are.
    QueueDeliveries {
        /// The last event already queued.
        after_seq: i64,
        /// The last event to queue.
        through_seq: i64,
        /// When (the first attempt is due then).
        at: Timestamp,
    },
    /// Records one delivery attempt and what comes next. A delivered one also makes the
    /// webhook's deliveries that failed for want of an answer (no connection, 502, 503, 504)
    /// due at once: the receiver is reachable again.
    RecordAttempt(DeliveryAttempt),
    /// Queues every event since `since` for the webhook again (its type filter applies), the
    /// ones already delivered or failed included.
    ReplayDeliveries {
        /// The webhook.
        webhook_id: String,
        /// Events that occurred at or after this time.
        since: Timestamp,
        /// When (the first attempt is due then).
        at: Timestamp,
    },
    /// Moves an outbox follower's position forward (never back).
    SetCursor {
        /// The follower (`webhooks`, `nats`).
        name: String,
        /// The last event it has handled.
        seq: i64,
    },
    /// Asks for a corrected `session.ended` of a completed session whose meter values arrived
    /// after its end; a request already waiting keeps its due time (that is the rate limit).
    RequestSessionCorrection {
        /// The session.
        session_id: String,
        /// When the correction is due, unless one is already waiting.
        due_at: Timestamp,
    },
    /// Removes a correction request once its corrected event is written, in the same batch;
    /// fails the batch with [`crate::StoreError::Conflict`] if the request changed meanwhile
    /// (more late values arrived, or another node handled it).
    FinishSessionCorrection(SessionCorrection),
}

/// Operations that commit together, in order, or not at all.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    /// The operations.
    pub ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Adds an operation.
    pub fn push(&mut self, op: WriteOp) -> &mut WriteBatch {
        self.ops.push(op);
        self
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// What an operator sets on a station; `None` leaves a field as it is.
#[derive(Debug, Clone)]
pub struct ProvisionStation {
    /// The station.
    pub id: StationId,
    /// The new password hash; `Some(None)` removes the password.
    pub password_hash: Option<Option<String>>,
    /// The new registration.
    pub registration: Option<Registration>,
    /// The pinned vendor profile; `Some(None)` unpins it.
    pub vendor_profile: Option<Option<String>>,
    /// When the operator made the change.
    pub at: Timestamp,
}

/// The secret a station authenticates with, and the station's row it was read from: the
/// WebSocket upgrade reads it, and a connection that replaces no other starts from that row
/// instead of reading it again.
#[derive(Debug, Clone, PartialEq)]
pub struct StationCredentials {
    /// The station.
    pub station_id: StationId,
    /// Salted password hash in the server's format, `None` when no password is set.
    pub password_hash: Option<String>,
    /// The station as stored.
    pub station: Station,
    /// Its connectors and active sessions, when the database returned them with its row in
    /// one round trip (PostgreSQL); `None`: whoever needs them reads them.
    pub state: Option<StationState>,
}

/// The most active sessions a connecting station's state holds.
pub const ACTIVE_SESSIONS_LOADED: u32 = 1000;

/// A station's connectors and active sessions, as a connection starts from them.
#[derive(Debug, Clone, PartialEq)]
pub struct StationState {
    /// Its connectors, by EVSE and connector id.
    pub connectors: Vec<Connector>,
    /// Its active sessions, the latest first (at most [`ACTIVE_SESSIONS_LOADED`]).
    pub active_sessions: Vec<Session>,
}

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the charger to the CSMS.
    Inbound,
    /// From the CSMS to the charger.
    Outbound,
}

impl Direction {
    /// The direction as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// One frame of the frame log, as it crossed the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameRecord {
    /// The station.
    pub station_id: StationId,
    /// Which way it went.
    pub direction: Direction,
    /// When it was received or sent (server time).
    pub at: Timestamp,
    /// `1.6` or `2.0.1`.
    pub ocpp_version: String,
    /// The OCPP action, when known (answers carry their CALL's action).
    pub action: Option<String>,
    /// The OCPP-J message id, when readable.
    pub message_id: Option<String>,
    /// The raw text exactly as it crossed the wire.
    pub text: String,
    /// The names of the repairs the adapter applied to it.
    pub repairs: Vec<String>,
}

/// An event as stored in the outbox, with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Position in the outbox, increasing.
    pub seq: i64,
    /// The event.
    pub event: DomainEvent,
}

/// Where an outbox event stands and when it happened, without its payload: what a follower
/// that only moves positions reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPosition {
    /// Position in the outbox, increasing.
    pub seq: i64,
    /// When the event happened.
    pub occurred_at: Timestamp,
}

/// Filters for listing sessions.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// Only this station's sessions.
    pub station_id: Option<StationId>,
    /// Only active or only completed sessions.
    pub state: Option<zaryad_model::SessionState>,
    /// At most this many (the API caps it).
    pub limit: u32,
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiTokenRole {
    /// Reads only.
    Viewer,
    /// Reads and sends commands.
    Operator,
    /// Everything, including tokens and provisioning.
    Admin,
}

impl ApiTokenRole {
    /// The role as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiTokenRole::Viewer => "viewer",
            ApiTokenRole::Operator => "operator",
            ApiTokenRole::Admin => "admin",
        }
    }

    /// Reads the stored spelling.
    pub fn parse(text: &str) -> Option<ApiTokenRole> {
        match text {
            "viewer" => Some(ApiTokenRole::Viewer),
            "operator" => Some(ApiTokenRole::Operator),
            "admin" => Some(ApiTokenRole::Admin),
            _ => None,
        }
    }
}

/// An API bearer token; only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Stable id of the token.
    pub id: String,
    /// A name for humans.
    pub name: String,
    /// What it may do.
    pub role: ApiTokenRole,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// When it was created.
    pub created_at: Timestamp,
}

/// Where a page of [`crate::Store::sessions_between`] ended: the next page starts after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCursor {
    /// The start time of the last session of the page.
    pub started_at: Timestamp,
    /// Its position among sessions with the same start time (insertion order).
    pub seq: i64,
}

/// One page of sessions in start-time order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionPage {
    /// The sessions, oldest start first.
    pub sessions: Vec<Session>,
    /// Where the next page starts; `None` when this page was the last.
    pub next: Option<SessionCursor>,
}

/// One stored configuration value of a station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationRecord {
    /// The value as the station reported it.
    pub entry: ConfigurationEntry,
    /// When it was last reported or changed.
    pub updated_at: Timestamp,
}

/// A webhook subscription to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    /// Stable id.
    pub id: String,
    /// Where events are POSTed.
    pub url: String,
    /// The signing secret as given (`whsec_<base64>` or plain text).
    pub secret: String,
    /// The event types it receives; `None` for all.
    pub event_types: Option<Vec<EventType>>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A webhook subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Stable id.
    pub id: String,
    /// Where events are POSTed.
    pub url: String,
    /// The signing secret as given.
    pub secret: String,
    /// The event types it receives; `None` for all.
    pub event_types: Option<Vec<EventType>>,
    /// The outbox position when it was created: it receives the events after it.
    pub start_seq: i64,
    /// When it was created.
    pub created_at: Timestamp,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet; attempts go on.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up after the maximum age.
    Failed,
}

impl DeliveryStatus {
    /// The status as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Reads the stored spelling.
    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        match text {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One event's delivery to one webhook: a row of the delivery log.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The webhook.
    pub webhook_id: String,
    /// The event's outbox position.
    pub event_seq: i64,
    /// The event's id (the `webhook-id` header).
    pub event_id: String,
    /// The event's type.
    pub event_type: EventType,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (while pending).
    pub next_attempt_at: Timestamp,
    /// When it was queued (or replayed).
    pub queued_at: Timestamp,
    /// When the last attempt was made.
    pub last_attempt_at: Option<Timestamp>,
    /// When the receiver accepted it.
    pub delivered_at: Option<Timestamp>,
    /// The HTTP status of the last answer, if there was one.
    pub response_status: Option<u16>,
    /// What went wrong last (a connection error, or the start of a non-2xx answer).
    pub last_error: Option<String>,
}

/// A delivery that is due, with everything needed to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    /// The webhook.
    pub webhook_id: String,
    /// Where to POST.
    pub url: String,
    /// The webhook's signing secret.
    pub secret: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it was queued (its age decides when to give up).
    pub queued_at: Timestamp,
    /// Deliveries are ordered by it (see [`DomainEvent::order_key`]).
    pub order_key: String,
    /// The event.
    pub event: StoredEvent,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// Try again at this time.
    Retry(Timestamp),
    /// Give up: the delivery is older than the maximum age.
    Failed,
}

/// One delivery attempt, for the delivery log.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryAttempt {
    /// The webhook.
    pub webhook_id: String,
    /// The event's outbox position.
    pub event_seq: i64,
    /// When it was made.
    pub at: Timestamp,
    /// What came of it.
    pub outcome: AttemptOutcome,
    /// The HTTP status, if the receiver answered.
    pub response_status: Option<u16>,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// A waiting request for a corrected `session.ended`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCorrection {
    /// The session.
    pub session_id: String,
    /// When it is due.
    pub due_at: Timestamp,
    /// Bumped by every further request while it waits.
    pub generation: i64,
}
