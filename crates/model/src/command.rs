//! Operator commands to a station and the station's answers, independent of the OCPP version.
//!
//! The API builds a [`Command`]; the adapter turns it into the CALL of the station's version
//! and reads the CALLRESULT back into a [`CommandOutcome`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How hard a reset is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetKind {
    /// Reboot gracefully (1.6 `Soft`, 2.0.1 `OnIdle`: after running transactions end).
    Soft,
    /// Reboot now (1.6 `Hard`, 2.0.1 `Immediate`).
    Hard,
}

impl ResetKind {
    /// Reads the API spelling.
    pub fn parse(text: &str) -> Option<ResetKind> {
        match text {
            "soft" => Some(ResetKind::Soft),
            "hard" => Some(ResetKind::Hard),
            _ => None,
        }
    }
}

/// A message a station can be asked to send now (TriggerMessage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TriggeredMessage {
    /// BootNotification.
    BootNotification,
    /// Heartbeat.
    Heartbeat,
    /// StatusNotification (2.0.1 needs an EVSE and connector).
    StatusNotification,
    /// MeterValues.
    MeterValues,
    /// FirmwareStatusNotification.
    FirmwareStatusNotification,
    /// 2.0.1 LogStatusNotification, 1.6 DiagnosticsStatusNotification.
    LogStatusNotification,
    /// TransactionEvent (2.0.1 only).
    TransactionEvent,
}

impl TriggeredMessage {
    /// Every message, for error texts and documentation.
    pub const ALL: [TriggeredMessage; 7] = [
        TriggeredMessage::BootNotification,
        TriggeredMessage::Heartbeat,
        TriggeredMessage::StatusNotification,
        TriggeredMessage::MeterValues,
        TriggeredMessage::FirmwareStatusNotification,
        TriggeredMessage::LogStatusNotification,
        TriggeredMessage::TransactionEvent,
    ];

    /// The OCPP action name (2.0.1 spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            TriggeredMessage::BootNotification => "BootNotification",
            TriggeredMessage::Heartbeat => "Heartbeat",
            TriggeredMessage::StatusNotification => "StatusNotification",
            TriggeredMessage::MeterValues => "MeterValues",
            TriggeredMessage::FirmwareStatusNotification => "FirmwareStatusNotification",
            TriggeredMessage::LogStatusNotification => "LogStatusNotification",
            TriggeredMessage::TransactionEvent => "TransactionEvent",
        }
    }

    /// Reads an action name of either version, ignoring case, `_` and `-`
    /// (`StatusNotification`, `status_notification`, `DiagnosticsStatusNotification`).
    pub fn parse(text: &str) -> Option<TriggeredMessage> {
        let folded: String = text
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect();
        if folded == "diagnosticsstatusnotification" {
            return Some(TriggeredMessage::LogStatusNotification);
        }
        TriggeredMessage::ALL
            .into_iter()
            .find(|message| message.as_str().to_ascii_lowercase() == folded)
    }
}

/// An operator's command to one station, version-neutral.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Start a session (1.6 RemoteStartTransaction, 2.0.1 RequestStartTransaction).
    StartSession {
        /// The token to charge with.
        id_token: String,
        /// The 2.0.1 token type (`Central` unless told).
        id_token_type: Option<String>,
        /// The EVSE (1.6: the connector) to start on; the station picks when absent.
        evse_id: Option<u32>,
        /// The connector, for 1.6 callers who think in connectors.
        connector_id: Option<u32>,
        /// The id that links the session that follows to this command (sent in 2.0.1).
        remote_start_id: i32,
    },
    /// Stop a session by its OCPP transaction id (1.6 integer, 2.0.1 string).
    StopSession {
        /// The transaction id as the session records it.
        transaction_id: String,
    },
    /// Reboot the station.
    Reset {
        /// Soft or hard.
        kind: ResetKind,
    },
    /// Unlock a connector.
    Unlock {
        /// The EVSE (1.6: the connector).
        evse_id: u32,
        /// The connector within the EVSE.
        connector_id: u32,
    },
    /// Make the station or one EVSE operative or inoperative.
    ChangeAvailability {
        /// True for operative.
        operative: bool,
        /// The EVSE; the whole station when absent or 0.
        evse_id: Option<u32>,
        /// The connector within the EVSE (2.0.1 only).
        connector_id: Option<u32>,
    },
    /// Ask the station to send a message now.
    Trigger {
        /// The message.
        message: TriggeredMessage,
        /// The EVSE (1.6: the connector) the message is about.
        evse_id: Option<u32>,
        /// The connector within the EVSE (2.0.1).
        connector_id: Option<u32>,
    },
    /// Read configuration; all of it when `keys` is empty.
    GetConfiguration {
        /// 1.6 keys or 2.0.1 `Component[/instance].Variable` names.
        keys: Vec<String>,
        /// The 2.0.1 report request id, used when the whole configuration is read.
        request_id: i32,
    },
    /// Change one configuration value.
    SetConfiguration {
        /// A 1.6 key or a 2.0.1 `Component[/instance].Variable` name.
        key: String,
        /// The new value.
        value: String,
    },
    /// Clear the station's authorization cache.
    ClearCache,
    /// Send vendor data.
    DataTransfer {
        /// The vendor.
        vendor_id: String,
        /// The vendor's message name.
        message_id: Option<String>,
        /// Any JSON (1.6 sends non-strings as JSON text).
        data: Option<Value>,
    },
}

impl Command {
    /// Every command name the API accepts.
    pub const NAMES: [&'static str; 10] = [
        "start-session",
        "stop-session",
        "reset",
        "unlock",
        "change-availability",
        "trigger",
        "get-configuration",
        "set-configuration",
        "clear-cache",
        "data-transfer",
    ];

    /// The command's name in the API (`start-session`, `reset`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Command::StartSession { .. } => "start-session",
            Command::StopSession { .. } => "stop-session",
            Command::Reset { .. } => "reset",
            Command::Unlock { .. } => "unlock",
            Command::ChangeAvailability { .. } => "change-availability",
            Command::Trigger { .. } => "trigger",
            Command::GetConfiguration { .. } => "get-configuration",
            Command::SetConfiguration { .. } => "set-configuration",
            Command::ClearCache => "clear-cache",
            Command::DataTransfer { .. } => "data-transfer",
        }
    }
}

/// One configuration value of a station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigurationEntry {
    /// The key in the station's own version: a 1.6 key, or `Component[/instance].Variable`.
    pub key: String,
    /// The value, when the station tells it (write-only values have none).
    pub value: Option<String>,
    /// True when the station says the value cannot be changed.
    pub readonly: Option<bool>,
}

/// What a station answered to a command.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome {
    /// The station's status exactly as it spelled it (`Accepted` for answers without one).
    pub status: String,
    /// The whole answer payload (after repairs).
    pub response: Value,
    /// Configuration values the answer carried (GetConfiguration, GetVariables).
    pub configuration: Vec<ConfigurationEntry>,
    /// Keys the station does not know.
    pub unknown_keys: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggered_messages_read_both_spellings() {
        assert_eq!(
            TriggeredMessage::parse("StatusNotification"),
            Some(TriggeredMessage::StatusNotification)
        );
        assert_eq!(
            TriggeredMessage::parse("meter_values"),
            Some(TriggeredMessage::MeterValues)
        );
        assert_eq!(
            TriggeredMessage::parse("DiagnosticsStatusNotification"),
            Some(TriggeredMessage::LogStatusNotification)
        );
        assert_eq!(TriggeredMessage::parse("Bogus"), None);
        for message in TriggeredMessage::ALL {
            assert_eq!(TriggeredMessage::parse(message.as_str()), Some(message));
        }
    }

    #[test]
    fn names_are_the_api_names() {
        assert_eq!(Command::ClearCache.name(), "clear-cache");
        assert!(
            Command::NAMES.contains(
                &Command::Reset {
                    kind: ResetKind::Hard
                }
                .name()
            )
        );
        assert_eq!(ResetKind::parse("hard"), Some(ResetKind::Hard));
        assert_eq!(ResetKind::parse("HARD"), None);
    }
}
