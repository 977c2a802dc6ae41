//! The OCPI 2.2.1 CDR inside `session.ended`: a billing system that speaks OCPI takes it as it
//! is; Zaryad does not rate sessions, so it carries no costs (the billing system prices it).
//!
//! Charging periods come from the session's energy register readings: the session is charging
//! from its start until the last reading that shows energy flowing, and parked (connected,
//! drawing nothing) from then until its end. Volumes follow OCPI's units: kWh for energy, hours
//! for time, kW for power, rounded to OCPI's four decimals.

use chrono::SecondsFormat;
use serde_json::{Value, json};
use zaryad_model::{Measurand, MeterSample, Session, Timestamp};

use crate::config::CdrConfig;

/// The CDR of `session` (its revision `revision`) from all of its meter samples.
pub fn build(
    session: &Session,
    samples: &[MeterSample],
    revision: u32,
    config: &CdrConfig,
    now: Timestamp,
) -> Value {
    let start = session.started_at;
    let end = session.ended_at.unwrap_or(now).max(start);
    let charging_end = charging_end(session, samples, start, end);
    let energy_kwh = session.energy_wh.unwrap_or(0.0) / 1000.0;
    let mut charging = vec![
        json!({"type": "ENERGY", "volume": round4(energy_kwh)}),
        json!({"type": "TIME", "volume": hours(start, charging_end)}),
    ];
    if let Some(max_power_w) = max_power(samples, start, charging_end) {
        charging.push(json!({"type": "MAX_POWER", "volume": round4(max_power_w / 1000.0)}));
    }
    let mut periods = vec![json!({
        "start_date_time": ocpi_time(start),
        "dimensions": charging,
    })];
    let parking = hours(charging_end, end);
    if charging_end < end {
        periods.push(json!({
            "start_date_time": ocpi_time(charging_end),
            "dimensions": [{"type": "PARKING_TIME", "volume": parking}],
        }));
    }
    let remote = session.remote_start_id.is_some();
    let uid = session
        .id_token
        .clone()
        .unwrap_or_else(|| "UNKNOWN".to_owned());
    json!({
        "country_code": config.country_code,
        "party_id": config.party_id,
        "id": cdr_id(&session.id, revision),
        "start_date_time": ocpi_time(start),
        "end_date_time": ocpi_time(end),
        "session_id": session.id,
        "cdr_token": {
            "country_code": config.country_code,
            "party_id": config.party_id,
            "uid": uid,
            "type": if remote { "APP_USER" } else { "RFID" },
            "contract_id": uid,
        },
        // Zaryad authorizes tokens against its own list; a remote start is a command.
        "auth_method": if remote { "COMMAND" } else { "WHITELIST" },
        "cdr_location": {
            "id": session.station_id.as_str(),
            "evse_uid": format!("{}*{}", session.station_id, session.evse_id),
            "evse_id": format!("{}*{}", session.station_id, session.evse_id),
            "connector_id": session.connector_id.to_string(),
        },
        "currency": config.currency,
        "charging_periods": periods,
        "total_energy": round4(energy_kwh),
        "total_time": hours(start, end),
        "total_parking_time": parking,
        "last_updated": ocpi_time(session.updated_at.max(now)),
    })
}

/// Whether the CDR reads `sample`: whole-EVSE energy register and active power readings; a
/// caller that keeps a session's samples for its CDR need keep only these.
pub fn uses(sample: &MeterSample) -> bool {
    sample.is_total()
        && matches!(
            sample.measurand,
            Measurand::EnergyActiveImportRegister | Measurand::PowerActiveImport
        )
}

/// OCPI ids are at most 39 characters: a session id (a UUID, 36) for the first revision, with
/// `-<revision>` for corrections (OCPI CDRs are immutable, so a correction is a new CDR).
fn cdr_id(session_id: &str, revision: u32) -> String {
    if revision <= 1 {
        session_id.to_owned()
    } else {
        format!("{session_id}-{revision}")
    }
}

/// When energy last flowed: the time of the last register reading above every earlier one
/// (the meter start and stop count as readings at the start and end). A session whose meter
/// never moved is taken as charging throughout: nothing says when it stopped.
fn charging_end(
    session: &Session,
    samples: &[MeterSample],
    start: Timestamp,
    end: Timestamp,
) -> Timestamp {
    let mut readings: Vec<(Timestamp, f64)> = samples
        .iter()
        .filter(|s| s.is_total() && s.measurand == Measurand::EnergyActiveImportRegister)
        .filter(|s| s.timestamp >= start && s.timestamp <= end)
        .map(|s| (s.timestamp, s.value))
        .collect();
    readings.sort_by_key(|(at, _)| *at);
    if let Some(meter_start) = session.meter_start_wh {
        readings.insert(0, (start, meter_start));
    }
    if let Some(meter_stop) = session.meter_stop_wh {
        readings.push((end, meter_stop));
    }
    let mut highest: Option<f64> = None;
    let mut last_increase = None;
    for (at, value) in readings {
        if highest.is_some_and(|highest| value > highest) {
            last_increase = Some(at);
        }
        highest = Some(highest.map_or(value, |highest| highest.max(value)));
    }
    last_increase.unwrap_or(end).clamp(start, end)
}

/// The highest whole-EVSE active power between `from` and `to`, W.
fn max_power(samples: &[MeterSample], from: Timestamp, to: Timestamp) -> Option<f64> {
    samples
        .iter()
        .filter(|s| s.is_total() && s.measurand == Measurand::PowerActiveImport)
        .filter(|s| s.timestamp >= from && s.timestamp <= to)
        .map(|s| s.value)
        .filter(|value| value.is_finite())
        .reduce(f64::max)
}

fn hours(from: Timestamp, to: Timestamp) -> f64 {
    let millis = (to - from).num_milliseconds().max(0);
    // Exact for any realistic duration: i64 milliseconds well below 2^53.
    round4(millis as f64 / 3_600_000.0)
}

/// OCPI numbers carry four decimals.
fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// OCPI's DateTime: RFC 3339 in UTC, whole seconds, `Z`.
fn ocpi_time(at: Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use zaryad_model::{
        SessionState, StationId, StopReason, TransactionEventKind, TransactionReport,
    };

    use super::*;

    fn at(minute: u32) -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 3, 1, 10, minute, 0)
            .unwrap()
    }

    fn register(minute: u32, wh: f64) -> MeterSample {
        MeterSample::from_ocpp(
            at(minute),
            wh,
            Some("Energy.Active.Import.Register"),
            Some("Wh"),
            None,
            Some("Sample.Periodic"),
            None,
        )
    }

    fn power(minute: u32, w: f64) -> MeterSample {
        MeterSample::from_ocpp(
            at(minute),
            w,
            Some("Power.Active.Import"),
            Some("W"),
            None,
            Some("Sample.Periodic"),
            None,
        )
    }

    /// A session from 10:00 to 10:45, 1000 Wh → 8500.5 Wh.
    fn session() -> Session {
        let start = TransactionReport {
            evse_id: Some(2),
            connector_id: Some(1),
            id_token: Some("04A1B2C3".into()),
            meter_wh: Some(1000.0),
            ..TransactionReport::new(TransactionEventKind::Started, at(0))
        };
        let mut session = Session::begin(
            "0190a7d2-0000-7000-8000-000000000001".into(),
            StationId::parse("CP-1").unwrap(),
            "17".into(),
            &start,
            at(0),
        );
        let stop = TransactionReport {
            meter_wh: Some(8500.5),
            stop_reason: Some(StopReason::EvDisconnected),
            ..TransactionReport::new(TransactionEventKind::Ended, at(45))
        };
        session.end(&stop, at(45));
        assert_eq!(session.state, SessionState::Completed);
        session
    }

    #[test]
    fn a_session_that_stopped_drawing_early_has_a_parking_period() {
        let samples = [
            register(10, 3000.0),
            power(10, 11_000.0),
            register(20, 6000.0),
            power(20, 22_000.0),
            register(30, 8500.5),
            power(30, 0.0),
            // Flat from 10:30: parked, not charging.
            register(40, 8500.5),
        ];
        let cdr = build(&session(), &samples, 1, &CdrConfig::default(), at(46));
        let expected = json!({
            "country_code": "KG",
            "party_id": "ZRY",
            "id": "0190a7d2-0000-7000-8000-000000000001",
            "start_date_time": "2026-03-01T10:00:00Z",
            "end_date_time": "2026-03-01T10:45:00Z",
            "session_id": "0190a7d2-0000-7000-8000-000000000001",
            "cdr_token": {
                "country_code": "KG",
                "party_id": "ZRY",
                "uid": "04A1B2C3",
                "type": "RFID",
                "contract_id": "04A1B2C3",
            },
            "auth_method": "WHITELIST",
            "cdr_location": {
                "id": "CP-1",
                "evse_uid": "CP-1*2",
                "evse_id": "CP-1*2",
                "connector_id": "1",
            },
            "currency": "KGS",
            "charging_periods": [
                {
                    "start_date_time": "2026-03-01T10:00:00Z",
                    "dimensions": [
                        {"type": "ENERGY", "volume": 7.5005},
                        {"type": "TIME", "volume": 0.5},
                        {"type": "MAX_POWER", "volume": 22.0},
                    ],
                },
                {
                    "start_date_time": "2026-03-01T10:30:00Z",
                    "dimensions": [{"type": "PARKING_TIME", "volume": 0.25}],
                },
            ],
            "total_energy": 7.5005,
            "total_time": 0.75,
            "total_parking_time": 0.25,
            "last_updated": "2026-03-01T10:46:00Z",
        });
        // serde_json compares numbers by their text here (arbitrary precision): compare the
        // documents as text of the same serializer.
        assert_eq!(cdr.to_string(), expected.to_string());
    }

    #[test]
    fn energy_flowing_until_the_stop_means_no_parking() {
        let samples = [register(10, 3000.0), register(44, 8000.0)];
        let cdr = build(&session(), &samples, 2, &CdrConfig::default(), at(50));
        assert_eq!(cdr["charging_periods"].as_array().unwrap().len(), 1);
        assert_eq!(cdr["total_parking_time"].to_string(), "0.0");
        assert_eq!(
            cdr["charging_periods"][0]["dimensions"][1]["volume"].to_string(),
            "0.75"
        );
        // A correction is a new CDR.
        assert_eq!(cdr["id"], "0190a7d2-0000-7000-8000-000000000001-2");
    }

    #[test]
    fn a_session_without_readings_charges_throughout() {
        let mut session = session();
        session.meter_start_wh = None;
        session.meter_stop_wh = None;
        session.energy_wh = None;
        session.remote_start_id = Some(7);
        let cdr = build(&session, &[], 1, &CdrConfig::default(), at(50));
        assert_eq!(cdr["total_energy"].to_string(), "0.0");
        assert_eq!(cdr["total_time"].to_string(), "0.75");
        assert_eq!(cdr["charging_periods"].as_array().unwrap().len(), 1);
        assert_eq!(cdr["auth_method"], "COMMAND");
        assert_eq!(cdr["cdr_token"]["type"], "APP_USER");
    }
}
