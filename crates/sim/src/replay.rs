//! `replay-frames`: send the charger's frames of a recorded trace from one charger and show
//! what the CSMS answers, to reproduce a field problem.
//!
//! A trace is JSON lines: either records like `shared/quirks/frames.jsonl`
//! (`{"id", "version", "direction", "kind", "frame", "raw_text", …}`) or bare OCPP-J arrays.
//! Only `cp->csms` OCPP frames are sent; a record whose frame is not valid JSON is sent as its
//! `raw_text`, byte for byte. Message ids that are placeholders (`<id>`, `<uuid>`) or empty are
//! replaced by fresh ones, so the answers can be matched.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use zaryad_wire::{Frame, OcppVersion};

use crate::connect::{Socket, Target};
use crate::dialect::answer_csms_call;

/// One frame to send.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceFrame {
    /// The record's id (`R02-a`), or `line N`.
    pub label: String,
    /// The exact text to send.
    pub text: String,
    /// The message id to wait for, when the frame is a CALL.
    pub awaits: Option<String>,
}

/// Why a trace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A line is neither a record nor a frame.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// No frame of the chosen version to send.
    #[error("the trace has no cp->csms frames for OCPP {0}")]
    Empty(String),
}

/// The OCPP version of the first charger frame in a trace (1.6 when it does not say).
pub fn trace_version(text: &str) -> Option<OcppVersion> {
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|record| record.is_array() || is_charger_frame(record))
        .map(|record| {
            record["version"]
                .as_str()
                .and_then(|version| version.parse().ok())
                .unwrap_or(OcppVersion::V16)
        })
}

fn is_charger_frame(record: &Value) -> bool {
    record["direction"].as_str().unwrap_or("cp->csms") == "cp->csms"
        && record["kind"].as_str().unwrap_or("ocpp-frame") == "ocpp-frame"
}

fn is_placeholder(id: &str) -> bool {
    id.is_empty() || (id.starts_with('<') && id.ends_with('>'))
}

/// The frames of `text` that a charger speaking `version` sends, in order. `only` keeps just
/// the records with those ids (all when empty).
pub fn parse_trace(
    text: &str,
    version: OcppVersion,
    only: &[String],
) -> Result<Vec<TraceFrame>, TraceError> {
    let mut frames = Vec::new();
    let mut counter = 0u32;
    for (number, line) in text.lines().enumerate() {
        let line_no = number + 1;
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let record: Value = serde_json::from_str(line).map_err(|error| TraceError::Line {
            line: line_no,
            reason: format!("not JSON: {error}"),
        })?;
        let (label, frame, raw) = if record.is_array() {
            (format!("line {line_no}"), Some(record), None)
        } else {
            if !is_charger_frame(&record) {
                continue;
            }
            let record_version = record["version"]
                .as_str()
                .and_then(|text| text.parse::<OcppVersion>().ok())
                .unwrap_or(OcppVersion::V16);
            if record_version != version {
                continue;
            }
            let label = record["id"]
                .as_str()
                .map_or_else(|| format!("line {line_no}"), str::to_owned);
            let raw = record["raw_text"].as_str().map(str::to_owned);
            let frame = Some(record["frame"].clone()).filter(|frame| !frame.is_null());
            (label, frame, raw)
        };
        if !only.is_empty() && !only.contains(&label) {
            continue;
        }
        match (frame, raw) {
            (Some(mut frame), _) => {
                let is_call = frame[0].as_u64() == Some(2) || frame[0].as_str() == Some("2");
                let id_is_placeholder = frame[1].as_str().is_some_and(is_placeholder);
                if id_is_placeholder {
                    counter += 1;
                    frame[1] = Value::from(format!("replay-{counter}"));
                }
                let awaits = if is_call {
                    match &frame[1] {
                        Value::String(id) => Some(id.clone()),
                        Value::Number(number) => Some(number.to_string()),
                        _ => None,
                    }
                } else {
                    None
                };
                frames.push(TraceFrame {
                    label,
                    text: frame.to_string(),
                    awaits,
                });
            }
            (None, Some(raw)) => frames.push(TraceFrame {
                label,
                // Invalid JSON is the point of such a record: send it as is, expect any answer.
                text: raw,
                awaits: None,
            }),
            (None, None) => {}
        }
    }
    if frames.is_empty() {
        return Err(TraceError::Empty(version.as_str().to_owned()));
    }
    Ok(frames)
}

/// What happened to one replayed frame.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayStep {
    /// The record's id.
    pub label: String,
    /// What was sent.
    pub sent: String,
    /// What the CSMS answered (its CALLs in between are listed too).
    pub received: Vec<String>,
    /// Time to the answer, milliseconds.
    pub answer_ms: Option<f64>,
    /// CALLRESULT, CALLERROR, no answer, or not a CALL.
    pub outcome: String,
}

/// Sends every frame of `frames` on `socket` in order, waiting up to `timeout` for each CALL's
/// answer, then up to `linger` for anything else the CSMS says; calls `report` per frame.
pub async fn replay(
    socket: &mut Socket,
    version: OcppVersion,
    frames: &[TraceFrame],
    timeout: Duration,
    linger: Duration,
    mut report: impl FnMut(&ReplayStep),
) -> Result<Vec<ReplayStep>, tokio_tungstenite::tungstenite::Error> {
    let mut steps = Vec::new();
    for frame in frames {
        let sent_at = Instant::now();
        socket.send(Message::text(frame.text.clone())).await?;
        let mut step = ReplayStep {
            label: frame.label.clone(),
            sent: frame.text.clone(),
            received: Vec::new(),
            answer_ms: None,
            outcome: "not a CALL: no answer expected".to_owned(),
        };
        let wait = if frame.awaits.is_some() {
            timeout
        } else {
            linger
        };
        let deadline = sent_at + wait;
        if frame.awaits.is_some() {
            step.outcome = "no answer".to_owned();
        }
        loop {
            let message = match tokio::time::timeout_at(deadline, socket.next()).await {
                Err(_) => break,
                Ok(None) => {
                    step.outcome = "connection closed".to_owned();
                    break;
                }
                Ok(Some(message)) => message?,
            };
            let Message::Text(text) = message else {
                if let Message::Close(close) = message {
                    step.received.push(format!("(close {close:?})"));
                }
                continue;
            };
            step.received.push(text.to_string());
            match Frame::parse(text.as_str()) {
                Ok(Frame::Call {
                    message_id,
                    action,
                    payload,
                }) => {
                    let answer = answer_csms_call(version, &action, &payload);
                    let reply = Frame::call_result(&message_id, answer).to_text();
                    step.received.push(format!("(answered with {reply})"));
                    socket.send(Message::text(reply)).await?;
                }
                Ok(answer) if Some(answer.message_id()) == frame.awaits.as_deref() => {
                    step.answer_ms = Some(sent_at.elapsed().as_secs_f64() * 1000.0);
                    step.outcome = match answer {
                        Frame::CallError { error_code, .. } => format!("CALLERROR {error_code}"),
                        _ => "CALLRESULT".to_owned(),
                    };
                    break;
                }
                Err(error) if frame.awaits.is_none() => {
                    step.outcome = format!("answered (unparsable frame: {error})");
                }
                _ => {
                    if frame.awaits.is_none() {
                        step.outcome = "answered".to_owned();
                    }
                }
            }
        }
        report(&step);
        steps.push(step);
    }
    Ok(steps)
}

/// Connects `station_id` to the target speaking `version` (for the replay CLI).
pub async fn connect(
    target: &Target,
    station_id: &str,
    version: OcppVersion,
) -> Result<Socket, crate::connect::ConnectError> {
    target.connect(station_id, version, 0).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = r#"{"id": "T01-a", "version": "1.6", "direction": "cp->csms", "frame": null, "kind": "ws-handshake", "raw_text": "GET / HTTP/1.1"}
{"id": "R02-a", "version": "1.6", "direction": "cp->csms", "kind": "ocpp-frame", "frame": [2, "cd03", "StatusNotification", {"connectorId": 1, "status": "Preparing", "errorCode": "NoError"}]}
{"id": "R02-d", "version": "1.6", "direction": "csms->cp", "kind": "ocpp-frame", "frame": [4, "07da", "RpcFrameworkError", "", {}]}
{"id": "R01-a", "version": "1.6", "direction": "cp->csms", "kind": "ocpp-frame", "frame": null, "raw_text": "[3,\"189c\",{\"configurationKey\":[]"}
{"id": "M01-b", "version": "1.6", "direction": "cp->csms", "kind": "ocpp-frame", "frame": [2, "<id>", "MeterValues", {"connectorId": 1, "meterValue": []}]}
{"id": "V02-a", "version": "2.0.1", "direction": "cp->csms", "kind": "ocpp-frame", "frame": [2, "<id>", "TransactionEvent", {}]}
"#;

    #[test]
    fn charger_frames_of_one_version_are_kept_in_order() {
        let frames = parse_trace(TRACE, OcppVersion::V16, &[]).unwrap();
        let labels: Vec<&str> = frames.iter().map(|frame| frame.label.as_str()).collect();
        assert_eq!(labels, ["R02-a", "R01-a", "M01-b"]);
        assert_eq!(frames[0].awaits.as_deref(), Some("cd03"));
        // Invalid JSON goes out byte for byte.
        assert_eq!(frames[1].text, r#"[3,"189c",{"configurationKey":[]"#);
        assert_eq!(frames[1].awaits, None);
        // Placeholder ids become real ones.
        assert_eq!(frames[2].awaits.as_deref(), Some("replay-1"));
        assert!(frames[2].text.contains(r#""replay-1""#));
        let v201 = parse_trace(TRACE, OcppVersion::V201, &[]).unwrap();
        assert_eq!(v201.len(), 1);
        assert_eq!(trace_version(TRACE), Some(OcppVersion::V16));
    }

    #[test]
    fn bare_frames_and_selections_work() {
        let text = "[2,\"1\",\"Heartbeat\",{}]\n\n[3,\"9\",{}]\n";
        let frames = parse_trace(text, OcppVersion::V16, &[]).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].label, "line 1");
        assert_eq!(frames[1].awaits, None);
        let only = parse_trace(TRACE, OcppVersion::V16, &["M01-b".to_owned()]).unwrap();
        assert_eq!(only.len(), 1);
        assert!(matches!(
            parse_trace(TRACE, OcppVersion::V16, &["nope".to_owned()]),
            Err(TraceError::Empty(_))
        ));
        assert!(matches!(
            parse_trace("{not json", OcppVersion::V16, &[]),
            Err(TraceError::Line { line: 1, .. })
        ));
    }
}
