//! Every operator command, encoded for both versions, is a schema-valid CALL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::json;
use support::assert_request_valid;
use zaryad_adapter::encode_command;
use zaryad_model::{Command, ResetKind, TriggeredMessage};
use zaryad_wire::OcppVersion;

fn commands() -> Vec<Command> {
    let mut commands = vec![
        Command::StartSession {
            id_token: "RFID-0001".into(),
            id_token_type: None,
            evse_id: Some(1),
            connector_id: None,
            remote_start_id: 12345,
        },
        Command::StartSession {
            id_token: "RFID-0001".into(),
            id_token_type: Some("ISO14443".into()),
            evse_id: None,
            connector_id: None,
            remote_start_id: 1,
        },
        Command::StopSession {
            transaction_id: "42".into(),
        },
        Command::Reset {
            kind: ResetKind::Soft,
        },
        Command::Reset {
            kind: ResetKind::Hard,
        },
        Command::Unlock {
            evse_id: 1,
            connector_id: 1,
        },
        Command::ChangeAvailability {
            operative: false,
            evse_id: None,
            connector_id: None,
        },
        Command::ChangeAvailability {
            operative: true,
            evse_id: Some(2),
            connector_id: None,
        },
        Command::GetConfiguration {
            keys: vec![],
            request_id: 7,
        },
        Command::GetConfiguration {
            keys: vec!["HeartbeatInterval".into(), "MeterValuesSampledData".into()],
            request_id: 7,
        },
        Command::SetConfiguration {
            key: "MeterValueSampleInterval".into(),
            value: "60".into(),
        },
        Command::ClearCache,
        Command::DataTransfer {
            vendor_id: "com.example".into(),
            message_id: Some("SetDisplay".into()),
            data: Some(json!({"line": "Hello"})),
        },
        Command::DataTransfer {
            vendor_id: "com.example".into(),
            message_id: None,
            data: None,
        },
    ];
    for message in TriggeredMessage::ALL {
        for evse_id in [None, Some(1)] {
            commands.push(Command::Trigger {
                message,
                evse_id,
                connector_id: None,
            });
        }
    }
    commands
}

#[test]
fn every_command_is_a_schema_valid_call_in_both_versions() {
    let mut checked = 0;
    for command in commands() {
        for (version, dir) in [(OcppVersion::V16, "v16"), (OcppVersion::V201, "v201")] {
            match encode_command(version, &command) {
                Ok(call) => {
                    assert_request_valid(dir, call.action, &call.payload);
                    // Compact: some chargers parse frames positionally.
                    assert!(
                        !call.payload.to_string().contains(' ')
                            || command.name() == "data-transfer"
                    );
                    checked += 1;
                }
                Err(error) => {
                    // Only what the version cannot express may fail.
                    assert_eq!(
                        (version, command.name()),
                        (OcppVersion::V16, "trigger"),
                        "{command:?}: {error}"
                    );
                }
            }
        }
    }
    assert!(checked > 40, "{checked}");
}
