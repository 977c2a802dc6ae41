//! The boot-time configuration: after an accepted BootNotification has been answered, the
//! station's configuration is read once and the settings the CSMS decides (heartbeat interval,
//! meter-value sampling) are set where the station differs.
//!
//! The steps run one CALL at a time through the connection's command path, behind any operator
//! command. A station is never written to blindly: a setting is changed only when the station
//! reported it, as writable, with another value (some chargers reboot on every change, and
//! rewriting the same value at every boot would loop them). A station that does not answer a
//! step is left alone for the rest of its connection.

use zaryad_adapter::configuration::{native_key, same_value};
use zaryad_model::{Command, CommandOutcome, ConfigurationEntry};
use zaryad_wire::OcppVersion;

use super::commands::{CommandFailure, new_request_id};

/// One boot-time CALL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootStep {
    /// Read everything: 1.6 GetConfiguration, 2.0.1 GetBaseReport (values in NotifyReport).
    ReadAll,
    /// Read the managed settings: 1.6 GetConfiguration with keys, 2.0.1 GetVariables.
    ReadManaged,
    /// Set one managed setting.
    Apply {
        /// The 1.6 key (mapped for 2.0.1 by the adapter).
        key: &'static str,
        /// The value the CSMS wants.
        value: String,
    },
}

/// The settings the CSMS manages, as (1.6 key, value).
pub type Settings = Vec<(&'static str, String)>;

impl BootStep {
    /// The command this step sends.
    pub fn command(&self, settings: &Settings) -> Command {
        match self {
            BootStep::ReadAll => Command::GetConfiguration {
                keys: Vec::new(),
                request_id: new_request_id(),
            },
            BootStep::ReadManaged => Command::GetConfiguration {
                keys: settings.iter().map(|(key, _)| (*key).to_owned()).collect(),
                request_id: new_request_id(),
            },
            BootStep::Apply { key, value } => Command::SetConfiguration {
                key: (*key).to_owned(),
                value: value.clone(),
            },
        }
    }

    /// The steps that follow this one, given how it ended.
    pub fn next(
        &self,
        version: OcppVersion,
        settings: &Settings,
        result: &Result<CommandOutcome, CommandFailure>,
    ) -> Vec<BootStep> {
        match (self, result) {
            // No answer at all: the station gets no more unsolicited CALLs on this connection.
            (_, Err(CommandFailure::Timeout { .. } | CommandFailure::Disconnected { .. })) => {
                Vec::new()
            }
            (BootStep::ReadAll, Ok(outcome)) if version == OcppVersion::V16 => {
                changes(version, settings, &outcome.configuration)
            }
            // 2.0.1's report arrives later in NotifyReport; a 1.6 station that could not list
            // everything may still answer for the managed keys.
            (BootStep::ReadAll, _) => vec![BootStep::ReadManaged],
            (BootStep::ReadManaged, Ok(outcome)) => {
                changes(version, settings, &outcome.configuration)
            }
            (BootStep::ReadManaged | BootStep::Apply { .. }, _) => Vec::new(),
        }
    }
}

/// The settings whose reported value differs from the wanted one, among those the station
/// reported as writable.
fn changes(
    version: OcppVersion,
    settings: &Settings,
    known: &[ConfigurationEntry],
) -> Vec<BootStep> {
    settings
        .iter()
        .filter(|(key, value)| {
            let Ok(native) = native_key(version, key) else {
                return false;
            };
            known.iter().any(|entry| {
                entry.key.eq_ignore_ascii_case(&native)
                    && entry.readonly != Some(true)
                    && !entry
                        .value
                        .as_deref()
                        .is_some_and(|current| same_value(current, value))
            })
        })
        .map(|(key, value)| BootStep::Apply {
            key,
            value: value.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn settings() -> Settings {
        vec![
            ("HeartbeatInterval", "300".to_owned()),
            ("MeterValueSampleInterval", "60".to_owned()),
            (
                "MeterValuesSampledData",
                "Energy.Active.Import.Register".to_owned(),
            ),
        ]
    }

    fn answered(entries: &[(&str, &str, Option<bool>)]) -> Result<CommandOutcome, CommandFailure> {
        Ok(CommandOutcome {
            status: "Accepted".into(),
            response: json!({}),
            configuration: entries
                .iter()
                .map(|(key, value, readonly)| ConfigurationEntry {
                    key: (*key).into(),
                    value: Some((*value).into()),
                    readonly: *readonly,
                })
                .collect(),
            unknown_keys: Vec::new(),
        })
    }

    #[test]
    fn a_16_station_gets_only_what_differs_and_is_writable() {
        let read = answered(&[
            ("HeartbeatInterval", "300", Some(false)),
            ("meterValueSampleInterval", "900", Some(false)),
            ("MeterValuesSampledData", "Current.Import", Some(true)),
        ]);
        let next = BootStep::ReadAll.next(OcppVersion::V16, &settings(), &read);
        assert_eq!(
            next,
            vec![BootStep::Apply {
                key: "MeterValueSampleInterval",
                value: "60".into()
            }]
        );
    }

    #[test]
    fn a_201_station_is_read_by_report_then_by_variables() {
        let accepted = answered(&[]);
        assert_eq!(
            BootStep::ReadAll.next(OcppVersion::V201, &settings(), &accepted),
            vec![BootStep::ReadManaged]
        );
        let read = answered(&[
            ("OCPPCommCtrlr.HeartbeatInterval", "60", None),
            ("SampledDataCtrlr.TxUpdatedInterval", "60", None),
        ]);
        assert_eq!(
            BootStep::ReadManaged.next(OcppVersion::V201, &settings(), &read),
            vec![BootStep::Apply {
                key: "HeartbeatInterval",
                value: "300".into()
            }]
        );
        match BootStep::ReadManaged.command(&settings()) {
            Command::GetConfiguration { keys, .. } => assert_eq!(keys.len(), 3),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_station_that_does_not_answer_is_left_alone() {
        let timeout = Err(CommandFailure::Timeout {
            action: "GetConfiguration",
            after: Duration::from_secs(10),
        });
        assert!(
            BootStep::ReadAll
                .next(OcppVersion::V16, &settings(), &timeout)
                .is_empty()
        );
        let refused = Err(CommandFailure::CallError {
            action: "GetConfiguration",
            code: "NotSupported".into(),
            description: String::new(),
            details: json!({}),
        });
        assert_eq!(
            BootStep::ReadAll.next(OcppVersion::V16, &settings(), &refused),
            vec![BootStep::ReadManaged]
        );
        assert!(
            BootStep::ReadManaged
                .next(OcppVersion::V16, &settings(), &refused)
                .is_empty()
        );
    }
}
