//! The command router: an operator's command goes to the task that owns the station's socket
//! and comes back with the station's answer.
//!
//! The API encodes the command for the connection's version (so that a command the version
//! cannot express is refused before it queues), then hands a [`CommandRequest`] to the
//! connection's bounded queue. The connection task sends one CALL at a time, correlates the
//! answer by message id, enforces the timeout and answers through the request's oneshot.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use serde_json::Value;
use tokio::sync::oneshot;
use zaryad_adapter::{CommandError, OutboundCall};
use zaryad_model::{Command, CommandOutcome, StationId};

use super::registry::QueueError;
use crate::metrics;
use crate::state::Shared;

/// A command on its way to a connection task.
#[derive(Debug)]
pub struct CommandRequest {
    /// The command, version-neutral.
    pub command: Command,
    /// The CALL that carries it, for the connection's version.
    pub call: OutboundCall,
    /// How long the station may take to answer once the CALL is sent.
    pub timeout: Duration,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<Result<CommandAnswer, CommandFailure>>,
}

/// A station's answer to a command.
#[derive(Debug, Clone)]
pub struct CommandAnswer {
    /// The message id of the CALL.
    pub message_id: String,
    /// The OCPP action of the CALL.
    pub action: &'static str,
    /// The station's answer.
    pub outcome: CommandOutcome,
    /// From sending the CALL to receiving its answer.
    pub latency: Duration,
}

/// Why a command got no usable answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandFailure {
    /// No connection holds the station (or it closed before the CALL was sent).
    #[error("the station is not connected")]
    NotConnected,
    /// The station's queue is full.
    #[error("{0} commands are already waiting for this station")]
    QueueFull(usize),
    /// The command cannot be expressed in the station's version.
    #[error("{0}")]
    Invalid(String),
    /// The station did not answer in time.
    #[error("the station did not answer {action} within {} s", after.as_secs_f64())]
    Timeout {
        /// The action of the CALL.
        action: &'static str,
        /// How long it waited.
        after: Duration,
    },
    /// The connection ended while the CALL was outstanding: it may or may not have been done.
    #[error("the station disconnected before answering {action}")]
    Disconnected {
        /// The action of the CALL.
        action: &'static str,
    },
    /// The station answered with a CALLERROR.
    #[error("the station refused {action} with {code}: {description}")]
    CallError {
        /// The action of the CALL.
        action: &'static str,
        /// The error code as the station spelled it.
        code: String,
        /// The station's description.
        description: String,
        /// The station's error details.
        details: Value,
    },
    /// The station's CALLRESULT did not fit the schema, even after repairs.
    #[error("the station's answer to {action} is invalid: {description}")]
    InvalidResponse {
        /// The action of the CALL.
        action: &'static str,
        /// What was wrong.
        description: String,
        /// The answer as sent.
        response: Value,
    },
}

impl CommandFailure {
    /// The outcome label of metrics and events.
    pub fn outcome(&self) -> &'static str {
        match self {
            CommandFailure::NotConnected => "not_connected",
            CommandFailure::QueueFull(_) => "queue_full",
            CommandFailure::Invalid(_) => "invalid",
            CommandFailure::Timeout { .. } => "timeout",
            CommandFailure::Disconnected { .. } => "disconnected",
            CommandFailure::CallError { .. } => "call_error",
            CommandFailure::InvalidResponse { .. } => "invalid_response",
        }
    }
}

impl From<CommandError> for CommandFailure {
    fn from(error: CommandError) -> CommandFailure {
        CommandFailure::Invalid(error.to_string())
    }
}

/// Who asked for a CSMS-initiated CALL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An operator, through the API.
    Api,
    /// The boot-time configuration.
    Boot,
}

impl Origin {
    /// The label of metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Api => "api",
            Origin::Boot => "boot",
        }
    }
}

/// A CSMS-initiated CALL that has ended, as the station context records it.
#[derive(Debug)]
pub struct Completion<'a> {
    /// The command.
    pub command: &'a Command,
    /// Who asked for it.
    pub origin: Origin,
    /// The message id of the CALL.
    pub message_id: &'a str,
    /// The OCPP action of the CALL.
    pub action: &'static str,
    /// The CALL's payload.
    pub request: &'a Value,
    /// The station's answer, or why there is none.
    pub result: &'a Result<CommandOutcome, CommandFailure>,
    /// From sending the CALL to its end.
    pub latency: Duration,
}

/// Sends `command` to the connection holding `station_id` and waits for the station's answer.
pub async fn dispatch(
    shared: &Shared,
    station_id: &StationId,
    command: Command,
) -> Result<CommandAnswer, CommandFailure> {
    let name = command.name();
    let (answer, bound) = enqueue(shared, station_id, command).inspect_err(|failure| {
        metrics::command_refused(name, failure.outcome());
    })?;
    match tokio::time::timeout(bound, answer).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(CommandFailure::NotConnected),
        Err(_) => Err(CommandFailure::Timeout {
            action: "(queued)",
            after: bound,
        }),
    }
}

/// Where the answer to a queued command arrives.
type Answer = oneshot::Receiver<Result<CommandAnswer, CommandFailure>>;

/// Encodes `command` for the station's connection and queues it; returns where its answer
/// arrives and how long to wait for it at most.
fn enqueue(
    shared: &Shared,
    station_id: &StationId,
    command: Command,
) -> Result<(Answer, Duration), CommandFailure> {
    let handle = shared
        .registry
        .get(station_id)
        .ok_or(CommandFailure::NotConnected)?;
    let call = zaryad_adapter::encode_command(handle.version, &command)?;
    let config = &shared.config.commands;
    let timeout = config.timeout(command.name());
    let (reply, answer) = oneshot::channel();
    let request = Box::new(CommandRequest {
        command,
        call,
        timeout,
        reply,
    });
    handle.queue_command(request).map_err(|error| match error {
        QueueError::Full(capacity) => CommandFailure::QueueFull(capacity),
        QueueError::Closed => CommandFailure::NotConnected,
    })?;
    // The connection task answers every request it takes, and its end drops the ones it did
    // not take (`ConnectionHandle::mark_finished`). The bound only guards against a task that hangs: every
    // queued command ahead may use its whole timeout.
    let queued = u32::try_from(config.queue_capacity.saturating_add(2)).unwrap_or(u32::MAX);
    let bound = timeout.saturating_mul(queued) + Duration::from_secs(5);
    Ok((answer, bound))
}

/// A new message id for a CSMS-initiated CALL: decimal digits, unique across connections and
/// restarts.
///
/// Numeric because some chargers parse ids as numbers (tscontech); never reused, so that a
/// stale answer from a previous connection (Delta AC MAX) cannot match a new CALL. Starting
/// from the clock in microseconds keeps ids increasing over restarts and below 2^53.
pub fn next_message_id() -> String {
    static NEXT: OnceLock<AtomicU64> = OnceLock::new();
    let counter = NEXT.get_or_init(|| {
        let micros = chrono::Utc::now().timestamp_micros();
        AtomicU64::new(u64::try_from(micros).unwrap_or(1))
    });
    counter.fetch_add(1, Ordering::Relaxed).to_string()
}

/// A new positive id for 2.0.1 `remoteStartId` and report `requestId` (both `integer`).
pub fn new_request_id() -> i32 {
    rand::rng().random_range(1..i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_numeric_and_increase() {
        let first: u64 = next_message_id().parse().unwrap();
        let second: u64 = next_message_id().parse().unwrap();
        assert!(second > first);
        assert!(second < 1 << 53);
    }

    #[test]
    fn request_ids_are_positive() {
        for _ in 0..100 {
            assert!(new_request_id() > 0);
        }
    }
}
