use serde_json::{Map, Value};

use crate::{ErrorCode, OcppVersion};

/// The longest message id OCPP-J allows; ids this side generates never exceed it.
pub const MAX_MESSAGE_ID_LEN: usize = 36;

/// An OCPP-J message id: an opaque string echoed byte-exactly in the answer.
pub type MessageId = String;

/// The message id OCPP 2.0.1 prescribes for a CALLERROR whose CALL id could not be read.
const UNREADABLE_MESSAGE_ID: &str = "-1";

/// One OCPP-J message: the JSON array on a WebSocket text frame, as a plain value.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `[2, messageId, action, payload]`: a request.
    Call {
        /// Correlates the answer with this request.
        message_id: MessageId,
        /// The OCPP action, e.g. `BootNotification`.
        action: String,
        /// The request payload, always a JSON object.
        payload: Value,
    },
    /// `[3, messageId, payload]`: a successful answer.
    CallResult {
        /// The id of the CALL this answers.
        message_id: MessageId,
        /// The response payload.
        payload: Value,
    },
    /// `[4, messageId, errorCode, errorDescription, errorDetails]`: a failed answer.
    CallError {
        /// The id of the CALL this answers.
        message_id: MessageId,
        /// The error code as the peer spelled it.
        error_code: String,
        /// Human-readable description, possibly empty.
        error_description: String,
        /// Extra details, an object (possibly empty).
        error_details: Value,
    },
}

/// Why a text could not be read as an OCPP-J frame, and how to answer it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{description}")]
pub struct FrameError {
    /// The message id to put in the CALLERROR (`"-1"` when it could not be read).
    pub message_id: MessageId,
    /// The error code to answer with.
    pub code: ErrorCode,
    /// What was wrong, for the CALLERROR description and the log.
    pub description: String,
    /// False when the broken frame was itself an answer: answers are never answered.
    pub should_reply: bool,
}

impl FrameError {
    fn reply(message_id: &str, code: ErrorCode, description: impl Into<String>) -> Self {
        FrameError {
            message_id: message_id.to_owned(),
            code,
            description: description.into(),
            should_reply: true,
        }
    }

    fn silent(message_id: &str, code: ErrorCode, description: impl Into<String>) -> Self {
        FrameError {
            should_reply: false,
            ..FrameError::reply(message_id, code, description)
        }
    }

    /// The CALLERROR frame that answers this error, spelled for `version`.
    pub fn to_call_error(&self, version: OcppVersion) -> Frame {
        Frame::call_error_for(version, &self.message_id, self.code, &self.description)
    }
}

impl Frame {
    /// Reads one WebSocket text message as an OCPP-J frame.
    ///
    /// Liberal where it costs nothing: a message type given as a string (`"2"`) or a numeric
    /// message id is accepted, a CALLERROR may lack its description or details, and a null
    /// CALL payload is read as `{}`. Everything else that is off yields a [`FrameError`] that
    /// names the CALLERROR the spec prescribes.
    pub fn parse(text: &str) -> Result<Frame, FrameError> {
        let value: Value = serde_json::from_str(text).map_err(|error| {
            FrameError::reply(
                UNREADABLE_MESSAGE_ID,
                ErrorCode::FormatViolation,
                format!("message is not valid JSON: {error}"),
            )
        })?;
        Frame::from_value(value)
    }

    /// Reads an already decoded JSON value as an OCPP-J frame (see [`Frame::parse`]).
    pub fn from_value(value: Value) -> Result<Frame, FrameError> {
        let Value::Array(mut items) = value else {
            return Err(FrameError::reply(
                UNREADABLE_MESSAGE_ID,
                ErrorCode::RpcFrameworkError,
                "message is not a JSON array",
            ));
        };
        let message_type = items.first().and_then(read_message_type);
        let message_id = items.get(1).and_then(read_message_id);
        let Some(message_type) = message_type else {
            let id = message_id.as_deref().unwrap_or(UNREADABLE_MESSAGE_ID);
            return Err(FrameError::reply(
                id,
                ErrorCode::RpcFrameworkError,
                "message type number is missing or not a number",
            ));
        };
        let Some(message_id) = message_id else {
            return Err(FrameError {
                should_reply: message_type == 2,
                ..FrameError::reply(
                    UNREADABLE_MESSAGE_ID,
                    ErrorCode::RpcFrameworkError,
                    "message id is missing or not a string",
                )
            });
        };
        match message_type {
            2 => {
                if items.len() != 4 {
                    return Err(FrameError::reply(
                        &message_id,
                        ErrorCode::RpcFrameworkError,
                        format!("a CALL has 4 elements, this one has {}", items.len()),
                    ));
                }
                let payload = items.pop().unwrap_or(Value::Null);
                let action = match items.pop() {
                    Some(Value::String(action)) if !action.is_empty() => action,
                    _ => {
                        return Err(FrameError::reply(
                            &message_id,
                            ErrorCode::RpcFrameworkError,
                            "action is missing or not a string",
                        ));
                    }
                };
                let payload = match payload {
                    Value::Object(object) => Value::Object(object),
                    Value::Null => Value::Object(Map::new()),
                    other => {
                        return Err(FrameError::reply(
                            &message_id,
                            ErrorCode::FormatViolation,
                            format!("payload of {action} is {}, not an object", kind_of(&other)),
                        ));
                    }
                };
                Ok(Frame::Call {
                    message_id,
                    action,
                    payload,
                })
            }
            3 => {
                if items.len() < 3 {
                    return Err(FrameError::silent(
                        &message_id,
                        ErrorCode::RpcFrameworkError,
                        "a CALLRESULT has 3 elements",
                    ));
                }
                let payload = items.swap_remove(2);
                Ok(Frame::CallResult {
                    message_id,
                    payload,
                })
            }
            4 => {
                let mut rest = items.into_iter().skip(2);
                let error_code = match rest.next() {
                    Some(Value::String(code)) if !code.is_empty() => code,
                    _ => "GenericError".to_owned(),
                };
                let error_description = match rest.next() {
                    Some(Value::String(description)) => description,
                    _ => String::new(),
                };
                let error_details = match rest.next() {
                    Some(details @ Value::Object(_)) => details,
                    _ => Value::Object(Map::new()),
                };
                Ok(Frame::CallError {
                    message_id,
                    error_code,
                    error_description,
                    error_details,
                })
            }
            other => Err(FrameError::reply(
                &message_id,
                ErrorCode::MessageTypeNotSupported,
                format!("message type {other} is not supported"),
            )),
        }
    }

    /// A CALL frame.
    pub fn call(message_id: &str, action: &str, payload: Value) -> Frame {
        Frame::Call {
            message_id: message_id.to_owned(),
            action: action.to_owned(),
            payload,
        }
    }

    /// A CALLRESULT frame.
    pub fn call_result(message_id: &str, payload: Value) -> Frame {
        Frame::CallResult {
            message_id: message_id.to_owned(),
            payload,
        }
    }

    /// A CALLERROR frame with empty details; `code` is already spelled for the peer's version.
    pub fn call_error(message_id: &str, code: &str, description: &str) -> Frame {
        Frame::CallError {
            message_id: message_id.to_owned(),
            error_code: code.to_owned(),
            error_description: truncate_description(description),
            error_details: Value::Object(Map::new()),
        }
    }

    /// A CALLERROR frame for `code`, spelled for `version`.
    pub fn call_error_for(
        version: OcppVersion,
        message_id: &str,
        code: ErrorCode,
        description: &str,
    ) -> Frame {
        Frame::call_error(message_id, code.as_str(version), description)
    }

    /// The message id of any frame.
    pub fn message_id(&self) -> &str {
        match self {
            Frame::Call { message_id, .. }
            | Frame::CallResult { message_id, .. }
            | Frame::CallError { message_id, .. } => message_id,
        }
    }

    /// The frame as a JSON array value.
    pub fn to_value(&self) -> Value {
        match self {
            Frame::Call {
                message_id,
                action,
                payload,
            } => Value::Array(vec![
                Value::from(2),
                Value::from(message_id.as_str()),
                Value::from(action.as_str()),
                payload.clone(),
            ]),
            Frame::CallResult {
                message_id,
                payload,
            } => Value::Array(vec![
                Value::from(3),
                Value::from(message_id.as_str()),
                payload.clone(),
            ]),
            Frame::CallError {
                message_id,
                error_code,
                error_description,
                error_details,
            } => Value::Array(vec![
                Value::from(4),
                Value::from(message_id.as_str()),
                Value::from(error_code.as_str()),
                Value::from(error_description.as_str()),
                error_details.clone(),
            ]),
        }
    }

    /// The frame as compact JSON text, ready for a WebSocket text message.
    ///
    /// Compact because some chargers parse frames positionally and choke on whitespace.
    pub fn to_text(&self) -> String {
        // Written from the frame's parts as they are: through `to_value` every frame sent
        // first copied its whole payload into a new array.
        let text = match self {
            Frame::Call {
                message_id,
                action,
                payload,
            } => serde_json::to_string(&(2u8, message_id, action, payload)),
            Frame::CallResult {
                message_id,
                payload,
            } => serde_json::to_string(&(3u8, message_id, payload)),
            Frame::CallError {
                message_id,
                error_code,
                error_description,
                error_details,
            } => serde_json::to_string(&(
                4u8,
                message_id,
                error_code.as_str(),
                error_description,
                error_details,
            )),
        };
        // Text, numbers and JSON values always serialize; the value's own text otherwise.
        text.unwrap_or_else(|_| self.to_value().to_string())
    }
}

/// OCPP 2.0.1 limits errorDescription to 255 characters.
fn truncate_description(description: &str) -> String {
    description.chars().take(255).collect()
}

fn read_message_type(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn read_message_id(value: &Value) -> Option<MessageId> {
    match value {
        Value::String(text) => Some(text.clone()),
        // Some chargers send numeric ids; echoing them as strings is the best available answer.
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check_error(text: &str, id: &str, code: ErrorCode, should_reply: bool) {
        let error = Frame::parse(text).unwrap_err();
        assert_eq!(error.message_id, id, "{text}");
        assert_eq!(error.code, code, "{text}");
        assert_eq!(error.should_reply, should_reply, "{text}");
    }

    #[test]
    fn reads_the_three_message_types() {
        assert_eq!(
            Frame::parse(r#"[2,"19223201","BootNotification",{"chargePointVendor":"VendorX"}]"#)
                .unwrap(),
            Frame::call(
                "19223201",
                "BootNotification",
                json!({"chargePointVendor": "VendorX"})
            )
        );
        assert_eq!(
            Frame::parse(r#"[3,"19223201",{"status":"Accepted"}]"#).unwrap(),
            Frame::call_result("19223201", json!({"status": "Accepted"}))
        );
        assert_eq!(
            Frame::parse(r#"[4,"1","NotSupported","nope",{}]"#).unwrap(),
            Frame::call_error("1", "NotSupported", "nope")
        );
    }

    #[test]
    fn liberal_where_nothing_is_lost() {
        assert!(matches!(
            Frame::parse(r#"["2","7","Heartbeat",{}]"#).unwrap(),
            Frame::Call { .. }
        ));
        assert_eq!(
            Frame::parse(r#"[2,7,"Heartbeat",{}]"#)
                .unwrap()
                .message_id(),
            "7"
        );
        assert_eq!(
            Frame::parse(r#"[2,"7","Heartbeat",null]"#).unwrap(),
            Frame::call("7", "Heartbeat", json!({}))
        );
        // A CALLERROR with only two elements, seen in the field.
        assert_eq!(
            Frame::parse(r#"[4,"45781606"]"#).unwrap(),
            Frame::call_error("45781606", "GenericError", "")
        );
    }

    #[test]
    fn malformed_frames_name_the_spec_error() {
        check_error("hello", "-1", ErrorCode::FormatViolation, true);
        check_error(
            r#"[3,"189c",{"configurationKey":[]"#,
            "-1",
            ErrorCode::FormatViolation,
            true,
        );
        check_error(r#"{"a":1}"#, "-1", ErrorCode::RpcFrameworkError, true);
        check_error(r#"[2]"#, "-1", ErrorCode::RpcFrameworkError, true);
        check_error(
            r#"[9,"x",{}]"#,
            "x",
            ErrorCode::MessageTypeNotSupported,
            true,
        );
        check_error(
            r#"[2,"x","Heartbeat"]"#,
            "x",
            ErrorCode::RpcFrameworkError,
            true,
        );
        check_error(r#"[2,"x",5,{}]"#, "x", ErrorCode::RpcFrameworkError, true);
        check_error(
            r#"[2,"x","Heartbeat",[1]]"#,
            "x",
            ErrorCode::FormatViolation,
            true,
        );
        check_error(r#"[3,"x"]"#, "x", ErrorCode::RpcFrameworkError, false);
        check_error(r#"[3,{},{}]"#, "-1", ErrorCode::RpcFrameworkError, false);
    }

    #[test]
    fn frame_text_is_the_text_of_its_array_value() {
        let payload = json!({
            "idTag": "ÄB\"c\\\u{1}",
            "meterValue": [{"sampledValue": [{"value": "1.50"}], "n": 1.50, "big": 18446744073709551615u64}],
            "empty": [], "none": null, "yes": true, "neg": -7
        });
        let frames = [
            Frame::call("1", "MeterValues", payload.clone()),
            Frame::call("\u{2028}id", "DataTransfer", json!({"data": "text\u{7f}"})),
            Frame::CallResult {
                message_id: "2".into(),
                payload: payload.clone(),
            },
            Frame::CallResult {
                message_id: "3".into(),
                payload: json!({}),
            },
            Frame::call_error("4", "GenericError", "a \"quoted\" description"),
            Frame::CallError {
                message_id: "5".into(),
                error_code: "InternalError".into(),
                error_description: String::new(),
                error_details: payload,
            },
        ];
        for frame in frames {
            assert_eq!(frame.to_text(), frame.to_value().to_string(), "{frame:?}");
            assert_eq!(Frame::parse(&frame.to_text()).unwrap(), frame);
        }
    }

    #[test]
    fn frames_serialize_compactly_and_round_trip() {
        let frame = Frame::call("a", "Heartbeat", json!({}));
        assert_eq!(frame.to_text(), r#"[2,"a","Heartbeat",{}]"#);
        assert_eq!(Frame::parse(&frame.to_text()).unwrap(), frame);
        let error = Frame::call_error_for(
            OcppVersion::V16,
            "b",
            ErrorCode::OccurrenceConstraintViolation,
            "missing connectorId",
        );
        assert_eq!(
            error.to_text(),
            r#"[4,"b","OccurenceConstraintViolation","missing connectorId",{}]"#
        );
        let long = "x".repeat(400);
        let Frame::CallError {
            error_description, ..
        } = Frame::call_error("c", "GenericError", &long)
        else {
            panic!("not a CALLERROR");
        };
        assert_eq!(error_description.len(), 255);
    }
}
