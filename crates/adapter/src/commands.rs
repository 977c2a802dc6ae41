//! Operator commands out, station answers back: [`Command`] to the CALL of the station's
//! version, its CALLRESULT to a [`CommandOutcome`].
//!
//! Requests are built with rust-ocpp's types and serialized compactly, so that every CALL is
//! schema-valid; answers pass the same repair stage as inbound CALLs and are then parsed
//! strictly, except where rust-ocpp is stricter than chargers are (1.6 GetConfiguration, whose
//! `readonly` and `value` arrive in many shapes, and DataTransfer, whose `data` is any JSON).

use rust_ocpp::v1_6::messages as v16;
use rust_ocpp::v1_6::types::{AvailabilityType, MessageTrigger, ResetRequestStatus};
use rust_ocpp::v2_0_1::datatypes::evse_type::EVSEType;
use rust_ocpp::v2_0_1::datatypes::get_variable_data_type::GetVariableDataType;
use rust_ocpp::v2_0_1::datatypes::id_token_type::IdTokenType;
use rust_ocpp::v2_0_1::datatypes::set_variable_data_type::SetVariableDataType;
use rust_ocpp::v2_0_1::enumerations::get_variable_status_enum_type::GetVariableStatusEnumType;
use rust_ocpp::v2_0_1::enumerations::id_token_enum_type::IdTokenEnumType;
use rust_ocpp::v2_0_1::enumerations::message_trigger_enum_type::MessageTriggerEnumType;
use rust_ocpp::v2_0_1::enumerations::operational_status_enum_type::OperationalStatusEnumType;
use rust_ocpp::v2_0_1::enumerations::report_base_enum_type::ReportBaseEnumType;
use rust_ocpp::v2_0_1::enumerations::reset_enum_type::ResetEnumType;
use rust_ocpp::v2_0_1::messages as v201;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use zaryad_model::{
    Command, CommandOutcome, ConfigurationEntry, ResetKind, Timestamp, TriggeredMessage,
};
use zaryad_wire::OcppVersion;

use crate::Profile;
use crate::configuration::{VariableRef, v16_key, v201_variable};
use crate::typed::parse;
use crate::{DecodeError, Repair, repair};

/// OCPP 1.6 `IdToken` is a CiString20.
const MAX_ID_TAG_16: usize = 20;
/// OCPP 2.0.1 `IdTokenType.idToken` is a string of at most 36 characters.
const MAX_ID_TOKEN_201: usize = 36;
/// 1.6 configuration keys are CiString50, values CiString500.
const MAX_KEY_16: usize = 50;
const MAX_VALUE_16: usize = 500;
/// 2.0.1 `attributeValue` of SetVariables is a string of at most 1000 characters.
const MAX_VALUE_201: usize = 1000;

/// A CALL to send: the action and its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundCall {
    /// The OCPP action, e.g. `RemoteStartTransaction`.
    pub action: &'static str,
    /// The request payload, schema-valid for the version.
    pub payload: Value,
}

/// A command the station's version cannot express, or a value its schema does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The version has no such message or option.
    #[error("{0}")]
    NotInVersion(String),
    /// A value does not fit the version's schema.
    #[error("{0}")]
    Invalid(String),
}

/// An answer mapped to the model, with the repairs it needed.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedOutcome {
    /// The version-neutral outcome.
    pub outcome: CommandOutcome,
    /// Every repair applied on the way, in order.
    pub repairs: Vec<Repair>,
}

/// Encodes `command` as the CALL of `version`.
pub fn encode_command(
    version: OcppVersion,
    command: &Command,
) -> Result<OutboundCall, CommandError> {
    match version {
        OcppVersion::V16 => encode_16(command),
        OcppVersion::V201 => encode_201(command),
    }
}

/// Decodes the CALLRESULT payload answering a CALL of `action` sent to a `version` station.
///
/// The payload passes the repair stage first, like any inbound CALL; `received_at` is the
/// server's clock when it arrived.
pub fn decode_command_result(
    profile: &Profile,
    version: OcppVersion,
    action: &str,
    payload: Value,
    received_at: Timestamp,
) -> Result<DecodedOutcome, DecodeError> {
    let mut payload = payload;
    let repairs = repair::repair_inbound(profile, version, action, &mut payload, received_at);
    let outcome = match version {
        OcppVersion::V16 => decode_16(action, payload)?,
        OcppVersion::V201 => decode_201(action, payload)?,
    };
    Ok(DecodedOutcome { outcome, repairs })
}

fn to_payload<T: Serialize>(request: &T) -> Result<Value, CommandError> {
    serde_json::to_value(request).map_err(|error| CommandError::Invalid(error.to_string()))
}

fn call<T: Serialize>(action: &'static str, request: &T) -> Result<OutboundCall, CommandError> {
    Ok(OutboundCall {
        action,
        payload: to_payload(request)?,
    })
}

fn check_length(field: &str, text: &str, max: usize) -> Result<(), CommandError> {
    let length = text.chars().count();
    if length == 0 || length > max {
        return Err(CommandError::Invalid(format!(
            "{field} must have 1 to {max} characters, not {length}"
        )));
    }
    Ok(())
}

fn i32_id(field: &str, id: u32) -> Result<i32, CommandError> {
    i32::try_from(id).map_err(|_| CommandError::Invalid(format!("{field} {id} is too large")))
}

/// 1.6 addresses EVSE N as connector N; the one connector of an EVSE is 1.
fn connector_16(evse_id: u32, connector_id: u32) -> Result<u32, CommandError> {
    if connector_id > 1 {
        return Err(CommandError::NotInVersion(format!(
            "OCPP 1.6 has one connector per EVSE; connector {connector_id} of EVSE {evse_id} \
             cannot be addressed"
        )));
    }
    Ok(evse_id)
}

fn encode_16(command: &Command) -> Result<OutboundCall, CommandError> {
    match command {
        Command::StartSession {
            id_token,
            evse_id,
            connector_id,
            ..
        } => {
            check_length("id_token", id_token, MAX_ID_TAG_16)?;
            // RemoteStartTransaction's connectorId must be above 0 when given.
            let connector = evse_id.or(*connector_id).filter(|id| *id > 0);
            call(
                "RemoteStartTransaction",
                &v16::remote_start_transaction::RemoteStartTransactionRequest {
                    connector_id: connector,
                    id_tag: id_token.clone(),
                    charging_profile: None,
                },
            )
        }
        Command::StopSession { transaction_id } => {
            let id = transaction_id
                .parse::<i32>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| {
                    CommandError::Invalid(format!(
                        "transaction id {transaction_id:?} is not an OCPP 1.6 transaction id"
                    ))
                })?;
            call(
                "RemoteStopTransaction",
                &v16::remote_stop_transaction::RemoteStopTransactionRequest { transaction_id: id },
            )
        }
        Command::Reset { kind } => call(
            "Reset",
            &v16::reset::ResetRequest {
                kind: match kind {
                    ResetKind::Soft => ResetRequestStatus::Soft,
                    ResetKind::Hard => ResetRequestStatus::Hard,
                },
            },
        ),
        Command::Unlock {
            evse_id,
            connector_id,
        } => {
            if *evse_id == 0 {
                return Err(CommandError::Invalid(
                    "unlock needs an EVSE above 0".to_owned(),
                ));
            }
            call(
                "UnlockConnector",
                &v16::unlock_connector::UnlockConnectorRequest {
                    connector_id: connector_16(*evse_id, *connector_id)?,
                },
            )
        }
        Command::ChangeAvailability {
            operative,
            evse_id,
            connector_id,
        } => {
            let evse_id = evse_id.unwrap_or(0);
            call(
                "ChangeAvailability",
                &v16::change_availability::ChangeAvailabilityRequest {
                    connector_id: connector_16(evse_id, connector_id.unwrap_or(0))?,
                    kind: if *operative {
                        AvailabilityType::Operative
                    } else {
                        AvailabilityType::Inoperative
                    },
                },
            )
        }
        Command::Trigger {
            message,
            evse_id,
            connector_id,
        } => {
            let requested_message = match message {
                TriggeredMessage::BootNotification => MessageTrigger::BootNotification,
                TriggeredMessage::Heartbeat => MessageTrigger::Heartbeat,
                TriggeredMessage::StatusNotification => MessageTrigger::StatusNotification,
                TriggeredMessage::MeterValues => MessageTrigger::MeterValues,
                TriggeredMessage::FirmwareStatusNotification => {
                    MessageTrigger::FirmwareStatusNotification
                }
                TriggeredMessage::LogStatusNotification => {
                    MessageTrigger::DiagnosticsStatusNotification
                }
                TriggeredMessage::TransactionEvent => {
                    return Err(CommandError::NotInVersion(
                        "OCPP 1.6 has no TransactionEvent to trigger".to_owned(),
                    ));
                }
            };
            // K01: some chargers refuse MeterValues without a connectorId, so one given is
            // always passed on.
            let connector = evse_id
                .map(|evse_id| connector_16(evse_id, connector_id.unwrap_or(0)))
                .transpose()?;
            call(
                "TriggerMessage",
                &v16::trigger_message::TriggerMessageRequest {
                    requested_message,
                    connector_id: connector,
                },
            )
        }
        Command::GetConfiguration { keys, .. } => {
            let keys: Vec<String> = keys.iter().map(|key| v16_key(key)).collect();
            for key in &keys {
                check_length("key", key, MAX_KEY_16)?;
            }
            call(
                "GetConfiguration",
                &v16::get_configuration::GetConfigurationRequest {
                    key: (!keys.is_empty()).then_some(keys),
                },
            )
        }
        Command::SetConfiguration { key, value } => {
            let key = v16_key(key);
            check_length("key", &key, MAX_KEY_16)?;
            check_length("value", value, MAX_VALUE_16)?;
            call(
                "ChangeConfiguration",
                &v16::change_configuration::ChangeConfigurationRequest {
                    key,
                    value: value.clone(),
                },
            )
        }
        Command::ClearCache => call("ClearCache", &v16::clear_cache::ClearCacheRequest {}),
        Command::DataTransfer {
            vendor_id,
            message_id,
            data,
        } => {
            // 1.6 `data` is a string: anything else travels as its JSON text.
            let data = data.as_ref().map(|data| match data {
                Value::String(text) => Value::String(text.clone()),
                other => Value::String(other.to_string()),
            });
            data_transfer(vendor_id, message_id.as_deref(), data)
        }
    }
}

fn encode_201(command: &Command) -> Result<OutboundCall, CommandError> {
    match command {
        Command::StartSession {
            id_token,
            id_token_type,
            evse_id,
            connector_id: _,
            remote_start_id,
        } => {
            check_length("id_token", id_token, MAX_ID_TOKEN_201)?;
            let kind = match id_token_type {
                None => IdTokenEnumType::Central,
                Some(kind) => {
                    serde_json::from_value(Value::String(kind.clone())).map_err(|_| {
                        CommandError::Invalid(format!(
                            "{kind:?} is not an OCPP 2.0.1 id token type"
                        ))
                    })?
                }
            };
            let evse_id = evse_id
                .filter(|id| *id > 0)
                .map(|id| i32_id("evse_id", id))
                .transpose()?;
            call(
                "RequestStartTransaction",
                &v201::request_start_transaction::RequestStartTransactionRequest {
                    evse_id,
                    remote_start_id: *remote_start_id,
                    id_token: IdTokenType {
                        id_token: id_token.clone(),
                        kind,
                        additional_info: None,
                    },
                    charging_profile: None,
                    group_id_token: None,
                },
            )
        }
        Command::StopSession { transaction_id } => call(
            "RequestStopTransaction",
            &v201::request_stop_transaction::RequestStopTransactionRequest {
                transaction_id: transaction_id.clone(),
            },
        ),
        Command::Reset { kind } => call(
            "Reset",
            &v201::reset::ResetRequest {
                request_type: match kind {
                    ResetKind::Soft => ResetEnumType::OnIdle,
                    ResetKind::Hard => ResetEnumType::Immediate,
                },
                evse_id: None,
            },
        ),
        Command::Unlock {
            evse_id,
            connector_id,
        } => call(
            "UnlockConnector",
            &v201::unlock_connector::UnlockConnectorRequest {
                evse_id: i32_id("evse_id", *evse_id)?,
                connector_id: i32_id("connector_id", *connector_id)?,
            },
        ),
        Command::ChangeAvailability {
            operative,
            evse_id,
            connector_id,
        } => call(
            "ChangeAvailability",
            &v201::change_availability::ChangeAvailabilityRequest {
                operational_status: if *operative {
                    OperationalStatusEnumType::Operative
                } else {
                    OperationalStatusEnumType::Inoperative
                },
                evse: evse_type(evse_id.filter(|id| *id > 0), *connector_id)?,
            },
        ),
        Command::Trigger {
            message,
            evse_id,
            connector_id,
        } => {
            let requested_message = match message {
                TriggeredMessage::BootNotification => MessageTriggerEnumType::BootNotification,
                TriggeredMessage::Heartbeat => MessageTriggerEnumType::Heartbeat,
                TriggeredMessage::StatusNotification => MessageTriggerEnumType::StatusNotification,
                TriggeredMessage::MeterValues => MessageTriggerEnumType::MeterValues,
                TriggeredMessage::FirmwareStatusNotification => {
                    MessageTriggerEnumType::FirmwareStatusNotification
                }
                TriggeredMessage::LogStatusNotification => {
                    MessageTriggerEnumType::LogStatusNotification
                }
                TriggeredMessage::TransactionEvent => MessageTriggerEnumType::TransactionEvent,
            };
            // A 2.0.1 StatusNotification is about one connector: name one when only the EVSE
            // is given.
            let connector_id = match message {
                TriggeredMessage::StatusNotification => connector_id.or(Some(1)),
                _ => *connector_id,
            };
            call(
                "TriggerMessage",
                &v201::trigger_message::TriggerMessageRequest {
                    requested_message,
                    evse: evse_type(*evse_id, connector_id)?,
                },
            )
        }
        Command::GetConfiguration { keys, request_id } => {
            if keys.is_empty() {
                // 2.0.1 has no "get everything" answer: the values arrive in NotifyReport.
                return call(
                    "GetBaseReport",
                    &v201::get_base_report::GetBaseReportRequest {
                        request_id: *request_id,
                        report_base: ReportBaseEnumType::ConfigurationInventory,
                    },
                );
            }
            let get_variable_data = keys
                .iter()
                .map(|key| {
                    let variable = variable_of(key)?;
                    Ok(GetVariableDataType {
                        attribute_type: None,
                        component: variable.component_type(),
                        variable: variable.variable_type(),
                    })
                })
                .collect::<Result<Vec<_>, CommandError>>()?;
            call(
                "GetVariables",
                &v201::get_variables::GetVariablesRequest { get_variable_data },
            )
        }
        Command::SetConfiguration { key, value } => {
            let variable = variable_of(key)?;
            if value.chars().count() > MAX_VALUE_201 {
                return Err(CommandError::Invalid(format!(
                    "value must have at most {MAX_VALUE_201} characters"
                )));
            }
            call(
                "SetVariables",
                &v201::set_variables::SetVariablesRequest {
                    set_variable_data: vec![SetVariableDataType {
                        attribute_type: None,
                        attribute_value: value.clone(),
                        component: variable.component_type(),
                        variable: variable.variable_type(),
                    }],
                },
            )
        }
        Command::ClearCache => call("ClearCache", &v201::clear_cache::ClearCacheRequest {}),
        Command::DataTransfer {
            vendor_id,
            message_id,
            data,
        } => data_transfer(vendor_id, message_id.as_deref(), data.clone()),
    }
}

fn variable_of(key: &str) -> Result<VariableRef, CommandError> {
    v201_variable(key).map_err(|error| CommandError::Invalid(error.to_string()))
}

fn evse_type(
    evse_id: Option<u32>,
    connector_id: Option<u32>,
) -> Result<Option<EVSEType>, CommandError> {
    evse_id
        .map(|id| {
            Ok(EVSEType {
                id: i32_id("evse_id", id)?,
                connector_id: connector_id
                    .map(|id| i32_id("connector_id", id))
                    .transpose()?,
            })
        })
        .transpose()
}

/// DataTransfer in either version, built on the JSON level: rust-ocpp 2.0.1 cannot hold
/// non-string `data`.
fn data_transfer(
    vendor_id: &str,
    message_id: Option<&str>,
    data: Option<Value>,
) -> Result<OutboundCall, CommandError> {
    check_length("vendor_id", vendor_id, 255)?;
    let mut payload = Map::new();
    payload.insert("vendorId".into(), vendor_id.into());
    if let Some(message_id) = message_id {
        check_length("message_id", message_id, 50)?;
        payload.insert("messageId".into(), message_id.into());
    }
    if let Some(data) = data.filter(|data| !data.is_null()) {
        payload.insert("data".into(), data);
    }
    Ok(OutboundCall {
        action: "DataTransfer",
        payload: Value::Object(payload),
    })
}

fn decode_16(action: &str, payload: Value) -> Result<CommandOutcome, DecodeError> {
    match action {
        "RemoteStartTransaction" => with_status::<
            v16::remote_start_transaction::RemoteStartTransactionResponse,
        >(action, payload),
        "RemoteStopTransaction" => with_status::<
            v16::remote_stop_transaction::RemoteStopTransactionResponse,
        >(action, payload),
        "Reset" => with_status::<v16::reset::ResetResponse>(action, payload),
        "UnlockConnector" => {
            with_status::<v16::unlock_connector::UnlockConnectorResponse>(action, payload)
        }
        "ChangeAvailability" => {
            with_status::<v16::change_availability::ChangeAvailabilityResponse>(action, payload)
        }
        "TriggerMessage" => {
            with_status::<v16::trigger_message::TriggerMessageResponse>(action, payload)
        }
        "ChangeConfiguration" => {
            with_status::<v16::change_configuration::ChangeConfigurationResponse>(action, payload)
        }
        "ClearCache" => with_status::<v16::clear_cache::ClearCacheResponse>(action, payload),
        "GetConfiguration" => configuration_16(action, payload),
        "DataTransfer" => data_transfer_result(action, payload),
        _ => Err(DecodeError::not_implemented(action)),
    }
}

fn decode_201(action: &str, payload: Value) -> Result<CommandOutcome, DecodeError> {
    match action {
        "RequestStartTransaction" => with_status::<
            v201::request_start_transaction::RequestStartTransactionResponse,
        >(action, payload),
        "RequestStopTransaction" => with_status::<
            v201::request_stop_transaction::RequestStopTransactionResponse,
        >(action, payload),
        "Reset" => with_status::<v201::reset::ResetResponse>(action, payload),
        "UnlockConnector" => {
            with_status::<v201::unlock_connector::UnlockConnectorResponse>(action, payload)
        }
        "ChangeAvailability" => {
            with_status::<v201::change_availability::ChangeAvailabilityResponse>(action, payload)
        }
        "TriggerMessage" => {
            with_status::<v201::trigger_message::TriggerMessageResponse>(action, payload)
        }
        "ClearCache" => with_status::<v201::clear_cache::ClearCacheResponse>(action, payload),
        "GetBaseReport" => {
            with_status::<v201::get_base_report::GetBaseReportResponse>(action, payload)
        }
        "GetVariables" => variables_201(action, payload),
        "SetVariables" => {
            let response: v201::set_variables::SetVariablesResponse = parse(action, &payload)?;
            // One variable is set per command; its attribute status is the command's status.
            let status = payload
                .pointer("/setVariableResult/0/attributeStatus")
                .and_then(Value::as_str)
                .filter(|_| !response.set_variable_result.is_empty())
                .ok_or_else(|| DecodeError::missing(action, "setVariableResult[0]"))?
                .to_owned();
            Ok(outcome(status, payload))
        }
        "DataTransfer" => data_transfer_result(action, payload),
        _ => Err(DecodeError::not_implemented(action)),
    }
}

fn outcome(status: String, response: Value) -> CommandOutcome {
    CommandOutcome {
        status,
        response,
        configuration: Vec::new(),
        unknown_keys: Vec::new(),
    }
}

/// Validates an answer against its rust-ocpp type and takes its `status` as the station
/// spelled it.
fn with_status<T: DeserializeOwned>(
    action: &str,
    payload: Value,
) -> Result<CommandOutcome, DecodeError> {
    parse::<T>(action, &payload)?;
    let status = payload
        .get("status")
        .and_then(Value::as_str)
        .ok_or_else(|| DecodeError::missing(action, "status"))?
        .to_owned();
    Ok(outcome(status, payload))
}

/// An answer without a status of its own: the answer itself is the acceptance.
const ANSWERED: &str = "Accepted";

/// 1.6 GetConfiguration.conf, read leniently: `readonly` may be missing or a string, and a
/// `value` may be a number (both seen in the field); only `key` is required.
fn configuration_16(action: &str, payload: Value) -> Result<CommandOutcome, DecodeError> {
    let Value::Object(fields) = &payload else {
        return Err(DecodeError::not_an_object(action));
    };
    let mut configuration = Vec::new();
    match fields.get("configurationKey") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                let field = format!("configurationKey[{index}]");
                let Value::Object(item) = item else {
                    return Err(DecodeError::wrong_type(action, &field, "an object"));
                };
                let key = match item.get("key") {
                    Some(Value::String(key)) => key.clone(),
                    None | Some(Value::Null) => {
                        return Err(DecodeError::missing(action, &format!("{field}.key")));
                    }
                    Some(_) => {
                        return Err(DecodeError::wrong_type(
                            action,
                            &format!("{field}.key"),
                            "a string",
                        ));
                    }
                };
                let readonly = match item.get("readonly") {
                    Some(Value::Bool(readonly)) => Some(*readonly),
                    Some(Value::String(text)) => text.trim().parse().ok(),
                    _ => None,
                };
                let value = match item.get("value") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(text)) => Some(text.clone()),
                    Some(other) => Some(other.to_string()),
                };
                configuration.push(ConfigurationEntry {
                    key,
                    value,
                    readonly,
                });
            }
        }
        Some(_) => {
            return Err(DecodeError::wrong_type(
                action,
                "configurationKey",
                "an array",
            ));
        }
    }
    let unknown_keys = match fields.get("unknownKey") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(key) => Ok(key.clone()),
                _ => Err(DecodeError::wrong_type(action, "unknownKey", "strings")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(DecodeError::wrong_type(action, "unknownKey", "an array")),
    };
    Ok(CommandOutcome {
        status: ANSWERED.to_owned(),
        response: payload,
        configuration,
        unknown_keys,
    })
}

/// 2.0.1 GetVariables.conf: accepted results are values, the others unknown keys.
fn variables_201(action: &str, payload: Value) -> Result<CommandOutcome, DecodeError> {
    let response: v201::get_variables::GetVariablesResponse = parse(action, &payload)?;
    let mut configuration = Vec::new();
    let mut unknown_keys = Vec::new();
    for result in response.get_variable_result {
        let key = VariableRef::from_wire(&result.component, &result.variable).key();
        if result.attribute_status == GetVariableStatusEnumType::Accepted {
            configuration.push(ConfigurationEntry {
                key,
                value: result.attribute_value,
                readonly: None,
            });
        } else {
            unknown_keys.push(key);
        }
    }
    Ok(CommandOutcome {
        status: ANSWERED.to_owned(),
        response: payload,
        configuration,
        unknown_keys,
    })
}

/// DataTransfer.conf of either version: a known status, any `data`.
fn data_transfer_result(action: &str, payload: Value) -> Result<CommandOutcome, DecodeError> {
    let status = match payload.get("status") {
        Some(Value::String(status)) => status.clone(),
        None | Some(Value::Null) => return Err(DecodeError::missing(action, "status")),
        Some(_) => return Err(DecodeError::wrong_type(action, "status", "a string")),
    };
    if !matches!(
        status.as_str(),
        "Accepted" | "Rejected" | "UnknownMessageId" | "UnknownVendorId"
    ) {
        return Err(DecodeError::bad_value(
            action,
            "status",
            &format!("{status:?} is not a DataTransfer status"),
        ));
    }
    Ok(outcome(status, payload))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;
    use zaryad_wire::ErrorCode;

    use super::*;

    fn encode(version: OcppVersion, command: Command) -> (String, Value) {
        let call = encode_command(version, &command).unwrap();
        (call.action.to_owned(), call.payload)
    }

    fn both(command: Command) -> [(String, Value); 2] {
        [
            encode(OcppVersion::V16, command.clone()),
            encode(OcppVersion::V201, command),
        ]
    }

    fn decode(
        version: OcppVersion,
        action: &str,
        payload: Value,
    ) -> Result<CommandOutcome, DecodeError> {
        let at = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        decode_command_result(Profile::generic(), version, action, payload, at)
            .map(|decoded| decoded.outcome)
    }

    fn start(evse_id: Option<u32>) -> Command {
        Command::StartSession {
            id_token: "RFID-1".into(),
            id_token_type: None,
            evse_id,
            connector_id: None,
            remote_start_id: 42,
        }
    }

    #[test]
    fn start_session_maps_to_both_versions() {
        let [v16, v201] = both(start(Some(2)));
        assert_eq!(
            v16,
            (
                "RemoteStartTransaction".into(),
                json!({"connectorId": 2, "idTag": "RFID-1"})
            )
        );
        assert_eq!(
            v201,
            (
                "RequestStartTransaction".into(),
                json!({"evseId": 2, "remoteStartId": 42, "idToken": {"idToken": "RFID-1", "type": "Central"}})
            )
        );
        let [v16, v201] = both(start(None));
        assert_eq!(v16.1, json!({"idTag": "RFID-1"}));
        assert_eq!(
            v201.1,
            json!({"remoteStartId": 42, "idToken": {"idToken": "RFID-1", "type": "Central"}})
        );
        let by_connector = Command::StartSession {
            id_token: "T".into(),
            id_token_type: Some("ISO14443".into()),
            evse_id: None,
            connector_id: Some(3),
            remote_start_id: 1,
        };
        let [v16, v201] = both(by_connector.clone());
        assert_eq!(v16.1, json!({"connectorId": 3, "idTag": "T"}));
        assert_eq!(v201.1["idToken"]["type"], "ISO14443");
        let with = |id_token: &str, id_token_type: &str| Command::StartSession {
            id_token: id_token.into(),
            id_token_type: Some(id_token_type.into()),
            evse_id: None,
            connector_id: Some(3),
            remote_start_id: 1,
        };
        let long = with(&"X".repeat(21), "ISO14443");
        assert!(matches!(
            encode_command(OcppVersion::V16, &long),
            Err(CommandError::Invalid(_))
        ));
        assert!(encode_command(OcppVersion::V201, &long).is_ok());
        let bad_type = with("T", "Magic");
        assert!(encode_command(OcppVersion::V201, &bad_type).is_err());
    }

    #[test]
    fn stop_session_uses_each_versions_transaction_id() {
        let command = Command::StopSession {
            transaction_id: "17".into(),
        };
        let [v16, v201] = both(command);
        assert_eq!(
            v16,
            ("RemoteStopTransaction".into(), json!({"transactionId": 17}))
        );
        assert_eq!(
            v201,
            (
                "RequestStopTransaction".into(),
                json!({"transactionId": "17"})
            )
        );
        let text = Command::StopSession {
            transaction_id: "tx-abc".into(),
        };
        assert!(encode_command(OcppVersion::V16, &text).is_err());
        assert_eq!(
            encode(OcppVersion::V201, text).1,
            json!({"transactionId": "tx-abc"})
        );
    }

    #[test]
    fn reset_unlock_availability_and_cache() {
        let [v16, v201] = both(Command::Reset {
            kind: ResetKind::Soft,
        });
        assert_eq!(v16, ("Reset".into(), json!({"type": "Soft"})));
        assert_eq!(v201, ("Reset".into(), json!({"type": "OnIdle"})));
        let [v16, v201] = both(Command::Reset {
            kind: ResetKind::Hard,
        });
        assert_eq!(v16.1, json!({"type": "Hard"}));
        assert_eq!(v201.1, json!({"type": "Immediate"}));

        let [v16, v201] = both(Command::Unlock {
            evse_id: 2,
            connector_id: 1,
        });
        assert_eq!(v16, ("UnlockConnector".into(), json!({"connectorId": 2})));
        assert_eq!(
            v201,
            (
                "UnlockConnector".into(),
                json!({"evseId": 2, "connectorId": 1})
            )
        );
        let second = Command::Unlock {
            evse_id: 1,
            connector_id: 2,
        };
        assert!(matches!(
            encode_command(OcppVersion::V16, &second),
            Err(CommandError::NotInVersion(_))
        ));

        let station = Command::ChangeAvailability {
            operative: false,
            evse_id: None,
            connector_id: None,
        };
        let [v16, v201] = both(station);
        assert_eq!(
            v16,
            (
                "ChangeAvailability".into(),
                json!({"connectorId": 0, "type": "Inoperative"})
            )
        );
        assert_eq!(
            v201,
            (
                "ChangeAvailability".into(),
                json!({"operationalStatus": "Inoperative"})
            )
        );
        let evse = Command::ChangeAvailability {
            operative: true,
            evse_id: Some(1),
            connector_id: None,
        };
        let [v16, v201] = both(evse);
        assert_eq!(v16.1, json!({"connectorId": 1, "type": "Operative"}));
        assert_eq!(
            v201.1,
            json!({"operationalStatus": "Operative", "evse": {"id": 1}})
        );

        let [v16, v201] = both(Command::ClearCache);
        assert_eq!(v16, ("ClearCache".into(), json!({})));
        assert_eq!(v201, ("ClearCache".into(), json!({})));
    }

    #[test]
    fn triggers_name_the_connector_where_needed() {
        let meter = Command::Trigger {
            message: TriggeredMessage::MeterValues,
            evse_id: Some(1),
            connector_id: None,
        };
        let [v16, v201] = both(meter);
        // K01-b: with the connector, as ABL needs it.
        assert_eq!(
            v16,
            (
                "TriggerMessage".into(),
                json!({"requestedMessage": "MeterValues", "connectorId": 1})
            )
        );
        assert_eq!(
            v201.1,
            json!({"requestedMessage": "MeterValues", "evse": {"id": 1}})
        );
        let status = Command::Trigger {
            message: TriggeredMessage::StatusNotification,
            evse_id: Some(2),
            connector_id: None,
        };
        let [v16, v201] = both(status);
        assert_eq!(
            v16.1,
            json!({"requestedMessage": "StatusNotification", "connectorId": 2})
        );
        assert_eq!(
            v201.1,
            json!({"requestedMessage": "StatusNotification", "evse": {"id": 2, "connectorId": 1}})
        );
        let boot = Command::Trigger {
            message: TriggeredMessage::BootNotification,
            evse_id: None,
            connector_id: None,
        };
        let [v16, v201] = both(boot);
        assert_eq!(v16.1, json!({"requestedMessage": "BootNotification"}));
        assert_eq!(v201.1, json!({"requestedMessage": "BootNotification"}));
        let log = Command::Trigger {
            message: TriggeredMessage::LogStatusNotification,
            evse_id: None,
            connector_id: None,
        };
        let [v16, v201] = both(log);
        assert_eq!(v16.1["requestedMessage"], "DiagnosticsStatusNotification");
        assert_eq!(v201.1["requestedMessage"], "LogStatusNotification");
        let transaction = Command::Trigger {
            message: TriggeredMessage::TransactionEvent,
            evse_id: Some(1),
            connector_id: None,
        };
        assert!(matches!(
            encode_command(OcppVersion::V16, &transaction),
            Err(CommandError::NotInVersion(_))
        ));
        assert_eq!(
            encode(OcppVersion::V201, transaction).1["requestedMessage"],
            "TransactionEvent"
        );
    }

    #[test]
    fn configuration_goes_through_the_mapping_table() {
        let all = Command::GetConfiguration {
            keys: vec![],
            request_id: 9,
        };
        let [v16, v201] = both(all);
        assert_eq!(v16, ("GetConfiguration".into(), json!({})));
        assert_eq!(
            v201,
            (
                "GetBaseReport".into(),
                json!({"requestId": 9, "reportBase": "ConfigurationInventory"})
            )
        );
        let some = Command::GetConfiguration {
            keys: vec![
                "HeartbeatInterval".into(),
                "SampledDataCtrlr.TxUpdatedInterval".into(),
            ],
            request_id: 9,
        };
        let [v16, v201] = both(some);
        assert_eq!(
            v16.1,
            json!({"key": ["HeartbeatInterval", "MeterValueSampleInterval"]})
        );
        assert_eq!(
            v201,
            (
                "GetVariables".into(),
                json!({"getVariableData": [
                    {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                    {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}}
                ]})
            )
        );
        let set = Command::SetConfiguration {
            key: "HeartbeatInterval".into(),
            value: "120".into(),
        };
        let [v16, v201] = both(set);
        assert_eq!(
            v16,
            (
                "ChangeConfiguration".into(),
                json!({"key": "HeartbeatInterval", "value": "120"})
            )
        );
        assert_eq!(
            v201,
            (
                "SetVariables".into(),
                json!({"setVariableData": [{"attributeValue": "120",
                    "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]})
            )
        );
        let unmapped = Command::SetConfiguration {
            key: "EVSE@1/2.Enabled".into(),
            value: "true".into(),
        };
        assert_eq!(
            encode(OcppVersion::V201, unmapped).1["setVariableData"][0]["component"],
            json!({"name": "EVSE", "evse": {"id": 1, "connectorId": 2}})
        );
        let vendor = Command::SetConfiguration {
            key: "VendorKey".into(),
            value: "1".into(),
        };
        assert_eq!(
            encode(OcppVersion::V16, vendor.clone()).1["key"],
            "VendorKey"
        );
        assert!(matches!(
            encode_command(OcppVersion::V201, &vendor),
            Err(CommandError::Invalid(_))
        ));
    }

    #[test]
    fn data_transfer_keeps_json_in_201_and_text_in_16() {
        let command = Command::DataTransfer {
            vendor_id: "acme".into(),
            message_id: Some("Display".into()),
            data: Some(json!({"text": "hi"})),
        };
        let [v16, v201] = both(command);
        assert_eq!(
            v16,
            (
                "DataTransfer".into(),
                json!({"vendorId": "acme", "messageId": "Display", "data": "{\"text\":\"hi\"}"})
            )
        );
        assert_eq!(
            v201.1,
            json!({"vendorId": "acme", "messageId": "Display", "data": {"text": "hi"}})
        );
    }

    #[test]
    fn answers_keep_the_stations_status() {
        for (version, action) in [
            (OcppVersion::V16, "RemoteStartTransaction"),
            (OcppVersion::V16, "RemoteStopTransaction"),
            (OcppVersion::V16, "Reset"),
            (OcppVersion::V16, "ChangeAvailability"),
            (OcppVersion::V16, "ClearCache"),
            (OcppVersion::V201, "RequestStartTransaction"),
            (OcppVersion::V201, "RequestStopTransaction"),
            (OcppVersion::V201, "Reset"),
            (OcppVersion::V201, "ChangeAvailability"),
            (OcppVersion::V201, "TriggerMessage"),
            (OcppVersion::V201, "ClearCache"),
            (OcppVersion::V201, "GetBaseReport"),
        ] {
            let answer = decode(version, action, json!({"status": "Rejected"})).unwrap();
            assert_eq!(answer.status, "Rejected", "{version} {action}");
            assert_eq!(answer.response, json!({"status": "Rejected"}));
        }
        // Statuses beyond Accepted/Rejected pass through as the station spelled them.
        for (action, status) in [
            ("UnlockConnector", "Unlocked"),
            ("ChangeAvailability", "Scheduled"),
            ("ChangeConfiguration", "RebootRequired"),
            ("TriggerMessage", "NotImplemented"),
        ] {
            let answer = decode(OcppVersion::V16, action, json!({ "status": status })).unwrap();
            assert_eq!(answer.status, status, "{action}");
        }
        let data = decode(
            OcppVersion::V201,
            "DataTransfer",
            json!({"status": "Accepted", "data": {"a": 1}}),
        )
        .unwrap();
        assert_eq!(data.status, "Accepted");
        assert_eq!(data.response["data"], json!({"a": 1}));
        let started = decode(
            OcppVersion::V201,
            "RequestStartTransaction",
            json!({"status": "Accepted", "transactionId": 77}),
        )
        .unwrap();
        // The generic repair makes a numeric 2.0.1 transaction id a string, as for inbound CALLs.
        assert_eq!(started.response["transactionId"], "77");
    }

    #[test]
    fn invalid_answers_name_the_problem() {
        // R04-a: Delta's empty status after a timeout.
        let empty = decode(OcppVersion::V16, "Reset", json!({"status": ""})).unwrap_err();
        assert_eq!(empty.code, ErrorCode::PropertyConstraintViolation);
        let missing = decode(OcppVersion::V201, "Reset", json!({})).unwrap_err();
        assert_eq!(missing.code, ErrorCode::OccurrenceConstraintViolation);
        let bad = decode(OcppVersion::V16, "DataTransfer", json!({"status": "Maybe"})).unwrap_err();
        assert_eq!(bad.code, ErrorCode::PropertyConstraintViolation);
        let unknown = decode(OcppVersion::V16, "Bogus", json!({})).unwrap_err();
        assert_eq!(unknown.code, ErrorCode::NotImplemented);
        let empty_set = decode(
            OcppVersion::V201,
            "SetVariables",
            json!({"setVariableResult": []}),
        )
        .unwrap_err();
        assert_eq!(empty_set.code, ErrorCode::OccurrenceConstraintViolation);
    }

    #[test]
    fn configuration_answers_become_entries() {
        // C01-a and C01-d shapes, plus a readonly flag as text and a numeric value.
        let answer = decode(
            OcppVersion::V16,
            "GetConfiguration",
            json!({"configurationKey": [
                {"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": true, "value": "Current,Power"},
                {"key": "SupportedFeatureProfiles", "readonly": false, "value": "Core, FirmwareManagement, RemoteTrigger"},
                {"key": "HeartbeatInterval", "readonly": "false", "value": 300},
                {"key": "AuthorizationKey", "readonly": false}
            ], "unknownKey": ["Nope"]}),
        )
        .unwrap();
        assert_eq!(answer.status, "Accepted");
        assert_eq!(answer.configuration.len(), 4);
        assert_eq!(answer.configuration[0].readonly, Some(true));
        assert_eq!(answer.configuration[2].value.as_deref(), Some("300"));
        assert_eq!(answer.configuration[2].readonly, Some(false));
        assert_eq!(answer.configuration[3].value, None);
        assert_eq!(answer.unknown_keys, vec!["Nope".to_owned()]);
        let broken = decode(
            OcppVersion::V16,
            "GetConfiguration",
            json!({"configurationKey": [{"value": "1"}]}),
        );
        assert_eq!(
            broken.unwrap_err().code,
            ErrorCode::OccurrenceConstraintViolation
        );

        let answer = decode(
            OcppVersion::V201,
            "GetVariables",
            json!({"getVariableResult": [
                {"attributeStatus": "Accepted", "attributeValue": "300",
                 "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                {"attributeStatus": "UnknownVariable",
                 "component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}}
            ]}),
        )
        .unwrap();
        assert_eq!(
            answer.configuration,
            vec![ConfigurationEntry {
                key: "OCPPCommCtrlr.HeartbeatInterval".into(),
                value: Some("300".into()),
                readonly: None,
            }]
        );
        assert_eq!(
            answer.unknown_keys,
            vec!["SampledDataCtrlr.TxUpdatedInterval".to_owned()]
        );
        let set = decode(
            OcppVersion::V201,
            "SetVariables",
            json!({"setVariableResult": [{"attributeStatus": "RebootRequired",
                "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}),
        )
        .unwrap();
        assert_eq!(set.status, "RebootRequired");
    }
}
