//! `zaryad replay TRACE.jsonl`: a recorded trace through the adapter and the model, without a
//! network or a server.
//!
//! The trace is JSON lines in the format of the quirk catalogue's `frames.jsonl` (`frame` or
//! `raw_text`, `direction` `cp->csms`|`csms->cp`, `version`, `kind`) or of the frame-log
//! export (`GET /api/v1/stations/{id}/messages?format=jsonl`). Every charger CALL goes through
//! the same [`StationContext`] as in production, against a SQLite store in a temporary
//! directory; the result is the stations, sessions (with their meter values) and, per frame,
//! the repairs and the answer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use zaryad_model::{ChargerMessage, StationId, Timestamp};
use zaryad_store::SessionFilter;
use zaryad_wire::{Frame, OcppVersion};

use crate::config::{Config, MissingSubprotocol, UnknownStationPolicy, UnknownTokenPolicy};
use crate::gateway::handshake::identity_from_path;
use crate::gateway::registry::Registry;
use crate::gateway::station::{StationContext, select_profile};
use crate::profiles::Profiles;
use crate::state::Shared;
use crate::views::{SampleView, SessionView, StationView, profile_view};

/// How to replay a trace.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The vendor profile directory (`config/vendors` when it exists, else none).
    pub profiles_dir: PathBuf,
    /// The station id for records that name none.
    pub station_id: String,
}

impl Default for ReplayOptions {
    fn default() -> ReplayOptions {
        ReplayOptions {
            profiles_dir: PathBuf::from("config/vendors"),
            station_id: "REPLAY".to_owned(),
        }
    }
}

/// One trace record, read leniently.
struct Record {
    id: Option<String>,
    kind: String,
    inbound: bool,
    version: OcppVersion,
    station_id: String,
    at: Timestamp,
    text: Option<String>,
}

fn read_record(line: &Value, options: &ReplayOptions) -> Record {
    let text_of = |key: &str| line.get(key).and_then(Value::as_str).map(str::to_owned);
    let direction = text_of("direction").unwrap_or_default();
    let version = match text_of("version")
        .or_else(|| text_of("ocpp_version"))
        .as_deref()
    {
        Some("2.0.1") | Some("ocpp2.0.1") => OcppVersion::V201,
        _ => OcppVersion::V16,
    };
    let text = match line.get("frame") {
        Some(frame @ Value::Array(_)) => Some(frame.to_string()),
        _ => text_of("text").or_else(|| text_of("raw_text")),
    };
    Record {
        id: text_of("id"),
        kind: text_of("kind").unwrap_or_else(|| "ocpp-frame".to_owned()),
        inbound: matches!(direction.as_str(), "cp->csms" | "inbound" | ""),
        version,
        station_id: text_of("station_id")
            .or_else(|| text_of("station"))
            .unwrap_or_else(|| options.station_id.clone()),
        at: text_of("at")
            .and_then(|at| DateTime::parse_from_rfc3339(&at).ok())
            .map_or_else(Utc::now, |at| at.with_timezone(&Utc)),
        text,
    }
}

/// Replays `trace` and returns what it left behind, as JSON.
pub async fn replay(trace: &str, options: &ReplayOptions) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let mut config = Config::default();
    config.database.url = format!("sqlite://{}", dir.path().join("replay.db").display());
    config.ocpp.unknown_stations = UnknownStationPolicy::Accept;
    // A replay shows what the charger did; refusing its tokens would only hide sessions.
    config.authorization.unknown_tokens = UnknownTokenPolicy::Accept;
    config.vendors.dir = options.profiles_dir.display().to_string();
    let store = zaryad_store::open(&config.database.store_options()).await?;
    let profiles = Profiles::load(&options.profiles_dir)?;
    let shared = Arc::new(Shared {
        config,
        store,
        registry: Registry::default(),
        shutdown: CancellationToken::new(),
        configured_admin_token_hash: None,
        listeners_ready: AtomicBool::new(true),
        profiles,
        admissions: Default::default(),
    });
    let mut contexts: HashMap<String, StationContext> = HashMap::new();
    // The actions of CSMS CALLs in the trace, to name the answers to them.
    let mut outbound_calls: HashMap<String, String> = HashMap::new();
    let mut inbound_calls: HashMap<String, String> = HashMap::new();
    // Our answers to the trace's StartTransactions, and recorded transaction id → ours: a trace
    // that holds the recording CSMS's answer keeps its later frames on the same transaction.
    let mut our_answers: HashMap<String, Value> = HashMap::new();
    let mut transaction_ids: HashMap<i64, i64> = HashMap::new();
    let mut frames = Vec::new();
    for (number, line) in trace.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .with_context(|| format!("trace line {}: not JSON", number + 1))?;
        let record = read_record(&value, options);
        let mut out = json!({"line": number + 1, "id": record.id, "direction":
            if record.inbound { "cp->csms" } else { "csms->cp" }});
        if record.kind == "ws-handshake" {
            out["handshake"] = handshake(&shared, record.text.as_deref().unwrap_or_default());
            frames.push(out);
            continue;
        }
        let Some(text) = record.text.clone() else {
            out["error"] = json!("the record holds no frame");
            frames.push(out);
            continue;
        };
        let context = context_for(&shared, &mut contexts, &record).await?;
        let mut calls = Calls {
            outbound: &mut outbound_calls,
            inbound: &mut inbound_calls,
            our_answers: &mut our_answers,
            transaction_ids: &mut transaction_ids,
        };
        if record.inbound {
            inbound(context, &record, &text, &mut calls, &mut out).await;
        } else {
            outbound(context, &record, &text, &mut calls, &mut out);
        }
        frames.push(out);
    }
    for (_, mut context) in contexts.drain() {
        context.disconnected().await?;
    }
    shared.store.flush().await?;
    let mut stations = Vec::new();
    for station in shared.store.stations().await? {
        let connectors = shared.store.connectors(&station.id).await?;
        let selection = select_profile(&shared, &station);
        let mut view = serde_json::to_value(StationView::of(station, &connectors, false, None))?;
        view["profile"] = profile_view(&selection);
        stations.push(view);
    }
    let mut sessions = Vec::new();
    let filter = SessionFilter {
        station_id: None,
        state: None,
        limit: u32::MAX,
    };
    let mut all = shared.store.sessions(&filter).await?;
    all.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
    for session in all {
        let samples = shared.store.meter_samples(&session.id, 10_000).await?;
        let mut view = SessionView::json(&session);
        view["meter_values"] =
            serde_json::to_value(samples.iter().map(SampleView::of).collect::<Vec<_>>())?;
        sessions.push(view);
    }
    Ok(json!({"stations": stations, "sessions": sessions, "frames": frames}))
}

/// The station context of a record's station and version (a version change is a reconnect).
async fn context_for<'a>(
    shared: &Arc<Shared>,
    contexts: &'a mut HashMap<String, StationContext>,
    record: &Record,
) -> anyhow::Result<&'a mut StationContext> {
    let stale = contexts
        .get(&record.station_id)
        .is_some_and(|context| context.version() != record.version);
    if stale && let Some(mut old) = contexts.remove(&record.station_id) {
        old.disconnected().await?;
    }
    if !contexts.contains_key(&record.station_id) {
        let station_id = StationId::parse(&record.station_id)
            .map_err(|error| anyhow::anyhow!("station id {:?}: {error}", record.station_id))?;
        let context =
            StationContext::load(shared.clone(), station_id, record.version, None).await?;
        contexts.insert(record.station_id.clone(), context);
    }
    contexts
        .get_mut(&record.station_id)
        .ok_or_else(|| anyhow::anyhow!("station context vanished"))
}

/// What the replay remembers about the CALLs of the trace.
struct Calls<'a> {
    /// CSMS CALLs: message id → action.
    outbound: &'a mut HashMap<String, String>,
    /// Charger CALLs: message id → action.
    inbound: &'a mut HashMap<String, String>,
    /// Our answers to charger CALLs, by message id.
    our_answers: &'a mut HashMap<String, Value>,
    /// The recording CSMS's transaction ids → the ones this replay assigned.
    transaction_ids: &'a mut HashMap<i64, i64>,
}

fn repairs_json(repairs: &[zaryad_adapter::Repair]) -> Value {
    Value::Array(
        repairs
            .iter()
            .map(|repair| json!({"name": repair.name, "detail": repair.detail}))
            .collect(),
    )
}

async fn inbound(
    context: &mut StationContext,
    record: &Record,
    text: &str,
    calls: &mut Calls<'_>,
    out: &mut Value,
) {
    let mut text = text.to_owned();
    if serde_json::from_str::<Value>(&text).is_err() {
        match zaryad_adapter::repair_text(&context.selection().profile, &text) {
            Some((repaired, repairs)) => {
                out["text_repairs"] = repairs_json(&repairs);
                text = repaired;
            }
            None => {
                out["error"] = json!("not valid JSON, and no repair of the profile fixes it");
                return;
            }
        }
    }
    match Frame::parse(&text) {
        Ok(Frame::Call {
            message_id,
            action,
            mut payload,
        }) => {
            calls.inbound.insert(message_id.clone(), action.clone());
            if let Some(recorded) = payload.get("transactionId").and_then(Value::as_i64)
                && let Some(ours) = calls.transaction_ids.get(&recorded)
            {
                out["transaction_id"] = json!({"recorded": recorded, "replayed": ours});
                payload["transactionId"] = json!(ours);
            }
            // What the adapter makes of the frame, for the reader (the same pure decode the
            // station runs; its state changes are in the stations and sessions).
            if let Ok(decoded) = zaryad_adapter::decode_call(
                &context.selection().profile,
                context.version(),
                &action,
                payload.clone(),
                record.at,
            ) {
                out["decoded"] = decoded_json(&decoded.message);
            }
            let outcome = context.handle_call(&action, payload, record.at).await;
            out["action"] = json!(action);
            out["repairs"] = repairs_json(&outcome.repairs);
            match outcome.result {
                Ok(answer) => {
                    calls.our_answers.insert(message_id, answer.clone());
                    out["answer"] = answer;
                    out["answer_repairs"] = repairs_json(&outcome.reply_repairs);
                }
                Err((code, description)) => {
                    out["error"] =
                        json!({"code": code.as_str(record.version), "description": description});
                }
            }
        }
        Ok(frame) => {
            // An answer to a CSMS CALL: the command router correlates live ones; here the
            // trace names its CALL when it holds it.
            out["answer_to"] = json!(calls.outbound.get(frame.message_id()));
            answer_json(&frame, out);
        }
        Err(error) => {
            out["error"] = json!(error.to_string());
        }
    }
}

fn outbound(
    context: &StationContext,
    record: &Record,
    text: &str,
    calls: &mut Calls<'_>,
    out: &mut Value,
) {
    let profile = context.selection().profile.clone();
    match Frame::parse(text) {
        Ok(Frame::Call {
            message_id,
            action,
            mut payload,
        }) => {
            let repairs = zaryad_adapter::repair_outbound(
                &profile,
                record.version,
                &action,
                &mut payload,
                record.at,
            );
            calls.outbound.insert(message_id, action.clone());
            out["action"] = json!(action);
            out["repairs"] = repairs_json(&repairs);
            out["payload"] = payload;
        }
        Ok(Frame::CallResult {
            message_id,
            mut payload,
        }) => {
            let action = calls.inbound.get(&message_id).cloned();
            if action.as_deref() == Some("StartTransaction")
                && let (Some(recorded), Some(ours)) = (
                    payload["transactionId"].as_i64(),
                    calls
                        .our_answers
                        .get(&message_id)
                        .and_then(|answer| answer["transactionId"].as_i64()),
                )
            {
                calls.transaction_ids.insert(recorded, ours);
                out["transaction_id"] = json!({"recorded": recorded, "replayed": ours});
            }
            let repairs = match &action {
                Some(action) => zaryad_adapter::repair_outbound(
                    &profile,
                    record.version,
                    action,
                    &mut payload,
                    record.at,
                ),
                None => Vec::new(),
            };
            out["answer_to"] = json!(action);
            out["repairs"] = repairs_json(&repairs);
            out["payload"] = payload;
        }
        Ok(frame) => {
            out["answer_to"] = json!(calls.inbound.get(frame.message_id()));
            answer_json(&frame, out);
        }
        Err(error) => out["error"] = json!(error.to_string()),
    }
}

/// A charger's answer to a CSMS CALL, read leniently: status (an empty one is no status),
/// configuration keys with their list values, or the error.
fn answer_json(frame: &Frame, out: &mut Value) {
    match frame {
        Frame::CallResult { payload, .. } => {
            out["kind"] = json!("CALLRESULT");
            match payload.get("status").and_then(Value::as_str) {
                Some("") => {
                    out["note"] = json!("empty status (Delta AC MAX after a timeout): no answer")
                }
                Some(status) => out["status"] = json!(status),
                None => {}
            }
            if let Some(keys) = payload.get("configurationKey").and_then(Value::as_array) {
                let keys: Vec<Value> = keys
                    .iter()
                    .map(|key| {
                        let value = key["value"].as_str().unwrap_or_default();
                        json!({
                            "key": key["key"],
                            "readonly": key["readonly"],
                            "value": key["value"],
                            "values": zaryad_adapter::configuration::list_values(value),
                        })
                    })
                    .collect();
                out["configuration"] = Value::Array(keys);
            }
        }
        Frame::CallError {
            error_code,
            error_description,
            ..
        } => {
            out["kind"] = json!("CALLERROR");
            out["error"] = json!({"code": error_code, "description": error_description});
        }
        Frame::Call { .. } => {}
    }
}

/// The model message a CALL became, for the replay's reader.
fn decoded_json(message: &ChargerMessage) -> Value {
    let samples = |samples: &[zaryad_model::MeterSample]| {
        serde_json::to_value(samples.iter().map(SampleView::of).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    match message {
        ChargerMessage::Status(report) => json!({
            "evse_id": report.evse_id,
            "connector_id": report.connector_id,
            "status": report.status.as_str(),
            "error_code": report.error_code,
            "info": report.info,
            "timestamp": report.timestamp,
        }),
        ChargerMessage::MeterValues {
            evse_id,
            transaction_id,
            samples: values,
        } => json!({
            "evse_id": evse_id,
            "transaction_id": transaction_id,
            "samples": samples(values),
        }),
        ChargerMessage::Transaction(report) => json!({
            "kind": report.kind,
            "transaction_id": report.transaction_id,
            "evse_id": report.evse_id,
            "id_token": report.id_token,
            "timestamp": report.timestamp,
            "meter_wh": report.meter_wh,
            "stop_reason": report.stop_reason.map(|reason| reason.as_str()),
            "samples": samples(&report.samples),
        }),
        ChargerMessage::Authorize { id_token } => json!({"id_token": id_token}),
        ChargerMessage::Boot(info) => json!({
            "vendor": info.vendor,
            "model": info.model,
            "firmware_version": info.firmware_version,
            "serial_number": info.serial_number,
        }),
        ChargerMessage::DataTransfer {
            vendor_id,
            message_id,
            ..
        } => json!({"vendor_id": vendor_id, "message_id": message_id}),
        ChargerMessage::Heartbeat => json!({"heartbeat": true}),
        ChargerMessage::Notification { action, .. } => json!({"notification": action}),
    }
}

/// What the gateway makes of a recorded upgrade request: identity, subprotocol, credentials.
fn handshake(shared: &Shared, raw: &str) -> Value {
    let mut lines = raw.lines();
    let request = lines.next().unwrap_or_default();
    let path = request.split_whitespace().nth(1).unwrap_or(request).trim();
    // A recorded URL pattern (`ws://host:port//<id>`) carries the path after the authority.
    let path = match path.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => path,
    };
    let header = |name: &str| {
        raw.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let identity = identity_from_path(path);
    let offered = header("Sec-WebSocket-Protocol");
    let (subprotocol, assumed) = match offered.as_deref() {
        Some(list) if list.contains("ocpp2.0.1") => (Some("ocpp2.0.1"), false),
        Some(list) if list.contains("ocpp1.6") => (Some("ocpp1.6"), false),
        Some(_) => (None, false),
        None => match shared.config.ocpp.missing_subprotocol {
            MissingSubprotocol::Ocpp16 => (Some("ocpp1.6"), true),
            MissingSubprotocol::Ocpp201 => (Some("ocpp2.0.1"), true),
            MissingSubprotocol::Reject => (None, false),
        },
    };
    let credentials = header("Authorization").and_then(|value| {
        use base64::Engine;
        let encoded = value.strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        Some(json!({"user": user, "empty_password": password.is_empty()}))
    });
    json!({
        "path": path,
        "station_id": identity,
        "subprotocol": subprotocol,
        "subprotocol_assumed": assumed,
        "basic_auth": credentials,
        "user_agent": header("User-Agent"),
    })
}
