//! The adapter layer: every charger dialect mapped to one model.
//!
//! An inbound CALL passes two stages: [`repair`] fixes known vendor deviations on the raw JSON
//! (each fix recorded as a [`Repair`]), then the version codec ([`v16`] or [`v201`]) parses it
//! strictly with rust-ocpp types and maps it to a [`ChargerMessage`]. Answers go the other way:
//! a [`Reply`] is encoded into the CALLRESULT payload of the connection's version.
//! Operator commands take the [`commands`] path: a model `Command` becomes the CALL of the
//! station's version, and the station's CALLRESULT passes the same repair stage before it is
//! read back; [`configuration`] holds the 1.6 ↔ 2.0.1 configuration key table.
//! Nothing here does I/O, and nothing panics on charger input.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod commands;
pub mod configuration;
mod data_transfer;
mod decode_error;
#[cfg(test)]
mod fixtures;
pub mod repair;
mod time;
mod typed;
pub mod v16;
pub mod v201;

use serde_json::Value;
use zaryad_model::{ChargerMessage, Reply, Timestamp};
use zaryad_wire::OcppVersion;

pub use commands::{
    CommandError, DecodedOutcome, OutboundCall, decode_command_result, encode_command,
};
pub use decode_error::DecodeError;
pub use repair::Repair;

/// An inbound CALL mapped to the model, with the repairs it needed.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The version-neutral message.
    pub message: ChargerMessage,
    /// Every repair applied on the way, in order.
    pub repairs: Vec<Repair>,
}

/// Decodes the payload of an inbound CALL for `version`.
///
/// `received_at` is the server's clock when the frame arrived; repairs use it in place of a
/// timestamp the charger did not send or sent as a sentinel.
pub fn decode_call(
    version: OcppVersion,
    action: &str,
    payload: Value,
    received_at: Timestamp,
) -> Result<Decoded, DecodeError> {
    let mut payload = payload;
    let repairs = repair::repair_inbound(version, action, &mut payload, received_at);
    let message = match version {
        OcppVersion::V16 => v16::decode(action, payload, received_at)?,
        OcppVersion::V201 => v201::decode(action, payload, received_at)?,
    };
    Ok(Decoded { message, repairs })
}

/// Encodes the answer to an inbound CALL of `action` as the CALLRESULT payload for `version`.
pub fn encode_reply(version: OcppVersion, action: &str, reply: &Reply) -> Value {
    match version {
        OcppVersion::V16 => v16::encode_reply(action, reply),
        OcppVersion::V201 => v201::encode_reply(action, reply),
    }
}
