//! The adapter layer: every charger dialect mapped to one model.
//!
//! An inbound CALL passes two stages: [`repair`] fixes known vendor deviations on the raw JSON
//! (each fix recorded as a [`Repair`]) with the repairs the station's vendor [`Profile`] turns
//! on, then the version codec ([`v16`] or [`v201`]) parses it strictly with rust-ocpp types and
//! maps it to a [`ChargerMessage`]. Answers go the other way: a [`Reply`] is encoded into the
//! CALLRESULT payload of the connection's version, then the profile's outbound repairs run.
//! Profiles are plain data read from TOML text ([`profile`]); DataTransfer decoders they declare
//! turn vendor data into session facts ([`vendor_data`]). Operator commands take the
//! [`commands`] path: a model `Command` becomes the CALL of the station's version, and the
//! station's CALLRESULT passes the same repair stage before it is read back; [`configuration`]
//! holds the 1.6 ↔ 2.0.1 configuration key table. Nothing here does I/O, and nothing panics on
//! charger input.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod commands;
pub mod configuration;
mod data_transfer;
mod decode_error;
#[cfg(test)]
mod fixtures;
mod notify_report;
pub mod profile;
pub mod repair;
mod time;
mod typed;
pub mod v16;
pub mod v201;
pub mod vendor_data;

use serde_json::Value;
use zaryad_model::{ChargerMessage, ConnectorTypeReport, Reply, Timestamp};
use zaryad_wire::OcppVersion;

pub use commands::{
    CommandError, DecodedOutcome, OutboundCall, decode_command_result, encode_command,
};
pub use decode_error::DecodeError;
pub use profile::{Profile, ProfileError, ProfileSet, ProfileSetError, Selection, StationFacts};
pub use repair::{Repair, SessionFact, repair_outbound, repair_text};
pub use vendor_data::DataTransferAnswer;

/// An inbound CALL mapped to the model, with the repairs it needed.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The version-neutral message.
    pub message: ChargerMessage,
    /// Every repair applied on the way, in order.
    pub repairs: Vec<Repair>,
    /// The version whose codec read the payload, and in which the answer must be encoded: the
    /// connection's, except for a 1.6 payload on a 2.0.1 connection that the profile allows.
    pub codec: OcppVersion,
    /// For a DataTransfer: the answer and the facts the profile's decoder read.
    pub data_transfer: Option<DataTransferAnswer>,
    /// Plug types the message tells (a 2.0.1 NotifyReport's device model).
    pub connector_types: Vec<ConnectorTypeReport>,
}

/// Decodes the payload of an inbound CALL for `version` with the repairs and decoders of
/// `profile`.
///
/// `received_at` is the server's clock when the frame arrived; repairs use it in place of a
/// timestamp the charger did not send or sent as a sentinel.
pub fn decode_call(
    profile: &Profile,
    version: OcppVersion,
    action: &str,
    payload: Value,
    received_at: Timestamp,
) -> Result<Decoded, DecodeError> {
    let original = (version == OcppVersion::V201
        && profile.setting(repair::OCPP16_ON_OCPP201).is_some())
    .then(|| payload.clone());
    let mut payload = payload;
    let repairs = repair::repair_inbound(profile, version, action, &mut payload, received_at);
    let attempt = decode_with(version, action, payload, received_at);
    let (message, repairs, codec) = match (attempt, original) {
        (Ok(message), _) => (message, repairs, version),
        (Err(error), Some(mut original)) => {
            // FoxESS on protocol "auto" sends 1.6 payloads over its 2.0.1 connection.
            let mut repairs_16 = repair::repair_inbound(
                profile,
                OcppVersion::V16,
                action,
                &mut original,
                received_at,
            );
            match decode_with(OcppVersion::V16, action, original, received_at) {
                Ok(message) => {
                    repairs_16.insert(
                        0,
                        Repair {
                            name: repair::OCPP16_ON_OCPP201.to_owned(),
                            detail: format!(
                                "{action}: not a 2.0.1 payload ({}), read and answered as 1.6",
                                error.description
                            ),
                            touches: None,
                        },
                    );
                    (message, repairs_16, OcppVersion::V16)
                }
                Err(_) => return Err(error),
            }
        }
        (Err(error), None) => return Err(error),
    };
    let data_transfer = match &message {
        ChargerMessage::DataTransfer {
            vendor_id,
            message_id,
            data,
        } => Some(vendor_data::answer(
            profile,
            vendor_id,
            message_id.as_deref(),
            data.as_ref(),
            received_at,
        )),
        _ => None,
    };
    let connector_types = match &message {
        ChargerMessage::Notification { action, payload } if action == "NotifyReport" => {
            notify_report::connector_types(payload)
        }
        _ => Vec::new(),
    };
    Ok(Decoded {
        message,
        repairs,
        codec,
        data_transfer,
        connector_types,
    })
}

fn decode_with(
    version: OcppVersion,
    action: &str,
    payload: Value,
    received_at: Timestamp,
) -> Result<ChargerMessage, DecodeError> {
    match version {
        OcppVersion::V16 => v16::decode(action, payload, received_at),
        OcppVersion::V201 => v201::decode(action, payload, received_at),
    }
}

/// Encodes the answer to an inbound CALL of `action` as the CALLRESULT payload for `version`
/// (spec-exact; the station's profile adds its outbound repairs with [`repair_outbound`]).
pub fn encode_reply(version: OcppVersion, action: &str, reply: &Reply) -> Value {
    match version {
        OcppVersion::V16 => v16::encode_reply(action, reply),
        OcppVersion::V201 => v201::encode_reply(action, reply),
    }
}
