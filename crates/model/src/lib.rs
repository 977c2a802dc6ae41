//! Zaryad's internal model: one version-neutral picture of stations and sessions.
//!
//! Every OCPP dialect is mapped onto these types by the adapter crate; the store persists them
//! and the API shows them. The state machines here are pure functions over plain values: no I/O,
//! no clocks (time is passed in), no failure on anything a charger can send.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod command;
pub mod event;
pub mod id_token;
pub mod message;
pub mod metering;
pub mod session;
pub mod station;
pub mod status;

pub use command::{Command, CommandOutcome, ConfigurationEntry, ResetKind, TriggeredMessage};
pub use event::{DomainEvent, EventType};
pub use id_token::{AuthorizationInfo, AuthorizationStatus, IdToken, IdTokenStatus};
pub use message::{
    BootInfo, ChargerMessage, ConnectorTypeReport, DataTransferStatus, Reply, StatusReport,
    TransactionEventKind, TransactionReport, VendorFacts,
};
pub use metering::{Measurand, MeterSample, ReadingContext, Unit};
pub use session::{RegisterHistory, Session, SessionState, StopReason};
pub use station::{Connector, ConnectorType, Registration, Station, StationId, StationIdError};
pub use status::{ChargingState, ConnectorStatus};

/// A point in time, always UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
