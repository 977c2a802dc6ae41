//! The JSON shapes of the API and of event payloads. No rust-ocpp type appears here.

use serde::Serialize;
use serde_json::{Value, json};
use zaryad_adapter::Selection;
use zaryad_adapter::profile::Profile;
use zaryad_model::{Command, Connector, MeterSample, Session, Station, Timestamp};

use crate::gateway::commands::{CommandFailure, Completion};

/// Which vendor profile serves a station and why: `{"name", "reason"}`, the reason being
/// `pinned`, `matched vendor=… model=…`, `default`, or a pinned name that is not loaded.
pub fn profile_view(selection: &Selection) -> Value {
    json!({
        "name": selection.profile.name(),
        "reason": selection.reason.to_string(),
    })
}

/// A vendor profile as `GET /api/v1/vendor-profiles` shows it.
pub fn vendor_profile_json(profile: &Profile) -> Value {
    let decoders: Vec<Value> = profile
        .decoders()
        .iter()
        .map(|decoder| {
            json!({
                "vendor_id": decoder.vendor_id.as_str(),
                "message_id": decoder.message_id.as_ref().map(|id| id.as_str()),
                "samples": decoder.samples.iter().map(|sample| sample.measurand.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "name": profile.name(),
        "description": profile.description(),
        "extends": profile.extends(),
        "match": profile.rules().iter().map(|rule| rule.to_string()).collect::<Vec<_>>(),
        "repairs": profile.repair_names(),
        "data_transfer": decoders,
        "connector_types": profile
            .connector_types()
            .iter()
            .map(|(evse_id, kind)| json!({"evse_id": evse_id, "connector_type": kind.as_str()}))
            .collect::<Vec<_>>(),
        "connector_type_keys": profile.connector_type_keys(),
    })
}

/// A session as the API and `session.*` events show it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView<'a> {
    id: &'a str,
    station_id: &'a str,
    evse_id: u32,
    connector_id: u32,
    transaction_id: &'a str,
    id_token: Option<&'a str>,
    state: &'static str,
    started_at: Timestamp,
    ended_at: Option<Timestamp>,
    meter_start_wh: Option<f64>,
    meter_stop_wh: Option<f64>,
    energy_wh: Option<f64>,
    stop_reason: Option<&'static str>,
    soc_percent: Option<f64>,
    power_w: Option<f64>,
    charging_state: Option<&'static str>,
    remote_start_id: Option<i64>,
    quirks: &'a [String],
    updated_at: Timestamp,
}

impl<'a> SessionView<'a> {
    /// The view of `session`.
    pub fn of(session: &'a Session) -> SessionView<'a> {
        SessionView {
            id: &session.id,
            station_id: session.station_id.as_str(),
            evse_id: session.evse_id,
            connector_id: session.connector_id,
            transaction_id: &session.transaction_id,
            id_token: session.id_token.as_deref(),
            state: session.state.as_str(),
            started_at: session.started_at,
            ended_at: session.ended_at,
            meter_start_wh: session.meter_start_wh,
            meter_stop_wh: session.meter_stop_wh,
            energy_wh: session.energy_wh,
            stop_reason: session.stop_reason.map(|reason| reason.as_str()),
            soc_percent: session.soc_percent,
            power_w: session.power_w,
            charging_state: session.charging_state.map(|state| state.as_str()),
            remote_start_id: session.remote_start_id,
            quirks: &session.quirks,
            updated_at: session.updated_at,
        }
    }

    /// The view as a JSON value (for event payloads).
    pub fn json(session: &Session) -> serde_json::Value {
        serde_json::to_value(SessionView::of(session)).unwrap_or(serde_json::Value::Null)
    }
}

/// A connector inside a station view.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorView {
    connector_id: u32,
    status: &'static str,
    connector_type: Option<&'static str>,
    error_code: Option<String>,
    info: Option<String>,
    status_at: Option<Timestamp>,
}

/// An EVSE inside a station view.
#[derive(Debug, Clone, Serialize)]
pub struct EvseView {
    evse_id: u32,
    connectors: Vec<ConnectorView>,
}

/// A station as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct StationView {
    id: String,
    connected: bool,
    ocpp_version: Option<String>,
    vendor: Option<String>,
    model: Option<String>,
    firmware_version: Option<String>,
    serial_number: Option<String>,
    registration: &'static str,
    last_seen_at: Option<Timestamp>,
    last_boot_at: Option<Timestamp>,
    vendor_profile: Option<String>,
    provisioned: bool,
    created_at: Timestamp,
    /// The station-wide status (1.6 connector 0), when reported.
    status: Option<&'static str>,
    evses: Vec<EvseView>,
    /// The vendor profile that serves the station and why (`vendor_profile` is only the pin).
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<Value>,
}

impl StationView {
    /// The view of a station with its connectors and live connection facts.
    pub fn of(
        station: Station,
        connectors: &[Connector],
        connected: bool,
        live_last_seen: Option<Timestamp>,
    ) -> StationView {
        let mut evses: Vec<EvseView> = Vec::new();
        let mut station_status = None;
        for connector in connectors {
            if connector.evse_id == 0 {
                station_status = Some(connector.status().as_str());
                continue;
            }
            let view = ConnectorView {
                connector_id: connector.connector_id,
                status: connector.status().as_str(),
                connector_type: connector.connector_type.map(|kind| kind.as_str()),
                error_code: connector.error_code.clone(),
                info: connector.info.clone(),
                status_at: connector.status_at,
            };
            match evses
                .iter_mut()
                .find(|evse| evse.evse_id == connector.evse_id)
            {
                Some(evse) => evse.connectors.push(view),
                None => evses.push(EvseView {
                    evse_id: connector.evse_id,
                    connectors: vec![view],
                }),
            }
        }
        evses.sort_by_key(|evse| evse.evse_id);
        for evse in &mut evses {
            evse.connectors
                .sort_by_key(|connector| connector.connector_id);
        }
        let last_seen_at = match (station.last_seen_at, live_last_seen) {
            (Some(stored), Some(live)) => Some(stored.max(live)),
            (stored, live) => stored.or(live),
        };
        StationView {
            id: station.id.to_string(),
            connected,
            ocpp_version: station.ocpp_version,
            vendor: station.vendor,
            model: station.model,
            firmware_version: station.firmware_version,
            serial_number: station.serial_number,
            registration: station.registration.as_str(),
            last_seen_at,
            last_boot_at: station.last_boot_at,
            vendor_profile: station.vendor_profile,
            provisioned: station.provisioned,
            created_at: station.created_at,
            status: station_status,
            evses,
            profile: None,
        }
    }

    /// The view with the profile that serves the station (see [`profile_view`]).
    pub fn with_profile(mut self, selection: &Selection) -> StationView {
        self.profile = Some(profile_view(selection));
        self
    }
}

/// A meter sample as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SampleView<'a> {
    timestamp: Timestamp,
    measurand: &'a str,
    value: f64,
    unit: &'a str,
    phase: Option<&'a str>,
    context: &'static str,
    location: Option<&'a str>,
}

impl<'a> SampleView<'a> {
    /// The view of a sample.
    pub fn of(sample: &'a MeterSample) -> SampleView<'a> {
        SampleView {
            timestamp: sample.timestamp,
            measurand: sample.measurand.as_str(),
            value: sample.value,
            unit: sample.unit.as_str(),
            phase: sample.phase.as_deref(),
            context: sample.context.as_str(),
            location: sample.location.as_deref(),
        }
    }
}

/// The `data` of a `command.completed` event: the command, its CALL, the station's answer (or
/// why there is none) and the latency.
pub fn command_event(completion: &Completion<'_>) -> Value {
    let mut data = json!({
        "command": completion.command.name(),
        "action": completion.action,
        "message_id": completion.message_id,
        "request": completion.request,
        "latency_ms": completion.latency.as_secs_f64() * 1000.0,
    });
    match completion.result {
        Ok(outcome) => {
            data["outcome"] = "answered".into();
            data["status"] = outcome.status.clone().into();
            data["response"] = outcome.response.clone();
        }
        Err(failure) => {
            data["outcome"] = failure.outcome().into();
            data["error"] = failure_json(failure);
        }
    }
    if let Command::StartSession {
        remote_start_id, ..
    } = completion.command
    {
        data["remote_start_id"] = (*remote_start_id).into();
    }
    data
}

/// A command failure as events and API errors show it: `{code, message}` plus the station's
/// error details or invalid answer where there is one.
pub fn failure_json(failure: &CommandFailure) -> Value {
    match failure {
        CommandFailure::CallError {
            code,
            description,
            details,
            ..
        } => json!({"code": code, "message": description, "details": details}),
        CommandFailure::InvalidResponse { response, .. } => {
            json!({"code": failure.outcome(), "message": failure.to_string(), "response": response})
        }
        other => json!({"code": other.outcome(), "message": other.to_string()}),
    }
}
