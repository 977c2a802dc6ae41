//! Meter readings: shapes, measurand and phase naming, units.

use serde_json::{Map, Number, Value};
use zaryad_wire::OcppVersion;

use super::enums::{MEASURANDS, PHASES, UNITS_16, canonical};
use super::walk::{Member, objects_under};
use super::{Change, Context, SessionFact, Setting};

/// Keys whose value must be an array of objects.
pub(crate) const ARRAY_KEYS: &[&str] = &["meterValue", "sampledValue", "transactionData"];

/// N03-a: Huawei sends `meterValue` as an object; ev-server wraps both levels.
pub(crate) fn lone_object_as_array(
    _: &Context<'_>,
    _: &Setting,
    member: &Member<'_>,
    value: &mut Value,
    changes: &mut Vec<Change>,
) {
    // The walk goes into the member after every repair sharing it has seen it: the repairs
    // after this one meet the elements at their paths in the array.
    if ARRAY_KEYS.contains(&member.key) && value.is_object() {
        changes.push(Change::new(
            format!("{}: a lone object wrapped in an array", member.path()),
            None,
        ));
        *value = Value::Array(vec![value.take()]);
    }
}

/// The measurand a sampled value names (the spec's default when it names none).
fn measurand_of(sampled: &Map<String, Value>) -> &str {
    match sampled.get("measurand") {
        Some(Value::String(name)) if !name.trim().is_empty() => name,
        _ => "Energy.Active.Import.Register",
    }
}

/// The unit a sampled value names, in either version.
fn unit_of(sampled: &Map<String, Value>) -> Option<&str> {
    match sampled.get("unit") {
        Some(Value::String(unit)) => Some(unit),
        _ => sampled
            .get("unitOfMeasure")
            .and_then(|unit| unit.get("unit"))
            .and_then(Value::as_str),
    }
}

/// Sets the unit of a sampled value in its version's shape.
fn set_unit(version: OcppVersion, sampled: &mut Map<String, Value>, unit: &str) {
    match version {
        OcppVersion::V16 => {
            sampled.insert("unit".into(), Value::String(unit.to_owned()));
        }
        OcppVersion::V201 => {
            let entry = sampled
                .entry("unitOfMeasure")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(unit_of_measure) = entry {
                unit_of_measure.insert("unit".into(), Value::String(unit.to_owned()));
            }
        }
    }
}

/// Wallbox names measurands `Current.Import.L1`, `Voltage.L1-N`.
pub(crate) fn measurand_phase_suffix(
    _: &Context<'_>,
    _: &Setting,
    path: &str,
    sampled: &mut Map<String, Value>,
    changes: &mut Vec<Change>,
) {
    if sampled.contains_key("phase") {
        return;
    }
    let Some(Value::String(name)) = sampled.get("measurand") else {
        return;
    };
    let Some((measurand, phase)) = name.trim().rsplit_once('.') else {
        return;
    };
    // The phase first: the dot of nearly every measurand is followed by no phase
    // (`Energy.Active.Import.Register`), and the phases are the shorter list.
    let Some(phase) = canonical(PHASES, phase) else {
        return;
    };
    let Some(measurand) = canonical(MEASURANDS, measurand) else {
        return;
    };
    changes.push(Change::new(
        format!("{path}.measurand: {name:?} → {measurand:?} on phase {phase:?}"),
        None,
    ));
    sampled.insert("measurand".into(), Value::String(measurand.to_owned()));
    sampled.insert("phase".into(), Value::String(phase.to_owned()));
}

/// N04-a: Alfen sends a current (unit `A`) with no measurand, which the spec's default would
/// make an energy register reading of 15.63 Wh.
pub(crate) fn measurand_from_unit(
    _: &Context<'_>,
    _: &Setting,
    path: &str,
    sampled: &mut Map<String, Value>,
    changes: &mut Vec<Change>,
) {
    let named =
        matches!(sampled.get("measurand"), Some(Value::String(name)) if !name.trim().is_empty());
    if named {
        return;
    }
    let Some(unit) = unit_of(sampled) else {
        return;
    };
    let measurand = match unit.trim() {
        "A" => "Current.Import",
        "V" => "Voltage",
        "W" | "kW" => "Power.Active.Import",
        "var" | "kvar" => "Power.Reactive.Import",
        "Percent" | "%" => "SoC",
        "Celsius" | "Celcius" | "Fahrenheit" | "K" => "Temperature",
        "Hz" | "Hertz" => "Frequency",
        _ => return,
    };
    changes.push(Change::new(
        format!("{path}: no measurand, unit {unit:?} → measurand {measurand:?}"),
        Some(SessionFact::Energy),
    ));
    sampled.insert("measurand".into(), Value::String(measurand.to_owned()));
}

/// D02-b: Growatt reports voltage on phase `L1`, a line; chargers measure line to neutral.
pub(crate) fn voltage_line_to_neutral(
    _: &Context<'_>,
    _: &Setting,
    path: &str,
    sampled: &mut Map<String, Value>,
    changes: &mut Vec<Change>,
) {
    if measurand_of(sampled) != "Voltage" {
        return;
    }
    let Some(Value::String(phase)) = sampled.get("phase") else {
        return;
    };
    let neutral = match phase.as_str() {
        "L1" => "L1-N",
        "L2" => "L2-N",
        "L3" => "L3-N",
        _ => return,
    };
    changes.push(Change::new(
        format!("{path}.phase: voltage on {phase:?} → {neutral:?}"),
        None,
    ));
    sampled.insert("phase".into(), Value::String(neutral.to_owned()));
}

/// M01-b: `Hz` (and the errata's `Hertz`) are not 1.6 units; `%` and `°C` are spelled
/// `Percent` and `Celsius`.
pub(crate) fn unit_outside_enum(
    context: &Context<'_>,
    _: &Setting,
    path: &str,
    sampled: &mut Map<String, Value>,
    changes: &mut Vec<Change>,
) {
    if context.version != OcppVersion::V16 {
        return;
    }
    let Some(Value::String(unit)) = sampled.get("unit") else {
        return;
    };
    if canonical(UNITS_16, unit).is_some() {
        return;
    }
    let unit = unit.clone();
    let spelled = match unit.trim() {
        "%" => Some("Percent"),
        "°C" | "℃" | "C" | "degC" | "deg C" => Some("Celsius"),
        "°F" | "F" => Some("Fahrenheit"),
        "Hz" | "Hertz" if measurand_of(sampled) == "Frequency" => None,
        _ => return,
    };
    match spelled {
        Some(spelled) => {
            sampled.insert("unit".into(), Value::String(spelled.to_owned()));
            changes.push(Change::new(
                format!("{path}.unit: {unit:?} → {spelled:?}"),
                None,
            ));
        }
        None => {
            // The model's unit for Frequency is Hz: the sample keeps its meaning.
            sampled.remove("unit");
            changes.push(Change::new(
                format!("{path}.unit: {unit:?} is not a 1.6 unit; Frequency is in Hz"),
                None,
            ));
        }
    }
}

/// True for a measurand measured in Wh (or kWh).
fn is_energy(measurand: &str) -> bool {
    measurand.starts_with("Energy.Active")
}

/// True for a measurand measured in W (or kW).
fn is_power(measurand: &str) -> bool {
    measurand.starts_with("Power.Active") || measurand == "Power.Offered"
}

/// Multiplies a JSON number or numeric string by `10^exponent` on its decimal text, so that
/// `12.34` kWh is exactly `12340` Wh.
fn shifted(value: &Value, exponent: i32) -> Option<f64> {
    let text = match value {
        Value::Number(number) => number.to_string(),
        Value::String(text) => text.trim().to_owned(),
        _ => return None,
    };
    text.parse::<f64>().ok()?;
    format!("{text}e{exponent}")
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
}

/// The profile's units for a charger that sends energy in kWh and power in kW without saying
/// so (1.6 `meterStart` and `meterStop` have no unit at all).
pub(crate) fn meter_units(
    context: &Context<'_>,
    setting: &Setting,
    payload: &mut Value,
) -> Vec<Change> {
    let Setting::MeterUnits { energy, power } = setting else {
        return Vec::new();
    };
    let mut changes = Vec::new();
    if energy.as_deref() == Some("kWh")
        && context.version == OcppVersion::V16
        && let Value::Object(fields) = payload
    {
        for key in ["meterStart", "meterStop"] {
            let Some(value) = fields.get(key) else {
                continue;
            };
            let Some(wh) = shifted(value, 3) else {
                continue;
            };
            // The schema wants whole Wh; kWh with more than three decimals is finer than that.
            let whole = wh.round();
            changes.push(Change::new(
                format!("{key}: {value} kWh → {whole} Wh"),
                Some(SessionFact::Energy),
            ));
            fields.insert(key.into(), Value::Number(Number::from(whole as i64)));
        }
    }
    let version = context.version;
    objects_under(payload, "sampledValue", &mut |path, sampled| {
        if unit_of(sampled).is_some_and(|unit| !unit.trim().is_empty()) {
            return;
        }
        let measurand = measurand_of(sampled);
        let unit = if is_energy(measurand) {
            energy.as_deref()
        } else if is_power(measurand) {
            power.as_deref()
        } else {
            None
        };
        if let Some(unit) = unit {
            changes.push(Change::new(
                format!("{path}: {measurand} without a unit is in {unit}"),
                Some(SessionFact::Energy),
            ));
            set_unit(version, sampled, unit);
        }
    });
    changes
}

/// The profile's factors for measurands a charger scales wrongly (AcTEC's power, 10× low).
pub(crate) fn sample_scale(_: &Context<'_>, setting: &Setting, payload: &mut Value) -> Vec<Change> {
    let Setting::Scale(factors) = setting else {
        return Vec::new();
    };
    let mut changes = Vec::new();
    objects_under(payload, "sampledValue", &mut |path, sampled| {
        let measurand = measurand_of(sampled).to_owned();
        let Some(factor) = factors.get(&measurand) else {
            return;
        };
        let Some(value) = sampled.get("value") else {
            return;
        };
        let original = match value {
            Value::Number(number) => number.as_f64(),
            Value::String(text) => text.trim().parse::<f64>().ok(),
            _ => None,
        };
        let Some(original) = original else {
            return;
        };
        let scaled = original * factor;
        let repaired = match value {
            Value::String(_) => Value::String(scaled.to_string()),
            _ => Number::from_f64(scaled).map_or(Value::Null, Value::Number),
        };
        if repaired.is_null() {
            return;
        }
        changes.push(Change::new(
            format!("{path}.value: {measurand} {original} × {factor} → {scaled}"),
            is_energy(&measurand).then_some(SessionFact::Energy),
        ));
        sampled.insert("value".into(), repaired);
    });
    changes
}

/// M01-a/M01-c: a single-phase charger reports its only current (Injet) or energy (zappi) on
/// phase `N` or `L1`; with no total beside it, that reading is the total.
pub(crate) fn single_phase_total(_: &Context<'_>, _: &Setting, payload: &mut Value) -> Vec<Change> {
    let mut changes = Vec::new();
    objects_under(payload, "meterValue", &mut |path, meter_value| {
        let Some(Value::Array(sampled)) = meter_value.get_mut("sampledValue") else {
            return;
        };
        let measurands: Vec<String> = sampled
            .iter()
            .filter_map(Value::as_object)
            .map(|sample| measurand_of(sample).to_owned())
            .collect();
        for (index, item) in sampled.iter_mut().enumerate() {
            let Value::Object(sample) = item else {
                continue;
            };
            let measurand = measurand_of(sample).to_owned();
            let alone = measurands.iter().filter(|m| **m == measurand).count() == 1;
            if !alone {
                continue;
            }
            if let Some(Value::String(phase)) = sample.remove("phase") {
                changes.push(Change::new(
                    format!(
                        "{path}.sampledValue[{index}]: the only {measurand} reading, on phase {phase:?}, is the total"
                    ),
                    is_energy(&measurand).then_some(SessionFact::Energy),
                ));
            }
        }
    });
    changes
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::repair::walk::each_sampled;

    fn context(version: OcppVersion, action: &'static str) -> Context<'static> {
        Context {
            version,
            action,
            received_at: Utc::now(),
        }
    }

    #[test]
    fn kwh_meters_become_wh() {
        let setting = Setting::MeterUnits {
            energy: Some("kWh".into()),
            power: Some("kW".into()),
        };
        let mut start = json!({"meterStart": "12.34", "connectorId": 1});
        let changes = meter_units(
            &context(OcppVersion::V16, "StartTransaction"),
            &setting,
            &mut start,
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(start["meterStart"], 12340);
        let mut meter = json!({"meterValue": [{"sampledValue": [
            {"value": "1.5"}, {"value": "7", "measurand": "Power.Active.Import"},
            {"value": "230", "measurand": "Voltage"}, {"value": "2", "unit": "Wh"}]}]});
        meter_units(
            &context(OcppVersion::V16, "MeterValues"),
            &setting,
            &mut meter,
        );
        let sampled = &meter["meterValue"][0]["sampledValue"];
        assert_eq!(sampled[0]["unit"], "kWh");
        assert_eq!(sampled[1]["unit"], "kW");
        assert!(sampled[2].get("unit").is_none());
        assert_eq!(sampled[3]["unit"], "Wh");
    }

    #[test]
    fn phases_and_measurands_are_named() {
        let mut meter = json!({"meterValue": [{"sampledValue": [
            {"value": "16", "measurand": "Current.Import.L1"},
            {"value": "15.6", "unit": "A"},
            {"value": "231", "measurand": "Voltage", "phase": "L2"}]}]});
        let ctx = context(OcppVersion::V16, "MeterValues");
        each_sampled(measurand_phase_suffix, &ctx, &Setting::On, &mut meter);
        each_sampled(measurand_from_unit, &ctx, &Setting::On, &mut meter);
        each_sampled(voltage_line_to_neutral, &ctx, &Setting::On, &mut meter);
        let sampled = &meter["meterValue"][0]["sampledValue"];
        assert_eq!(sampled[0]["measurand"], "Current.Import");
        assert_eq!(sampled[0]["phase"], "L1");
        assert_eq!(sampled[1]["measurand"], "Current.Import");
        assert_eq!(sampled[2]["phase"], "L2-N");
    }

    #[test]
    fn the_only_phased_reading_is_the_total() {
        let mut meter = json!({"meterValue": [{"sampledValue": [
            {"value": "100", "phase": "N"},
            {"value": "1", "measurand": "Current.Import", "phase": "L1"},
            {"value": "2", "measurand": "Current.Import", "phase": "L2"}]}]});
        let changes = single_phase_total(
            &context(OcppVersion::V16, "MeterValues"),
            &Setting::On,
            &mut meter,
        );
        assert_eq!(changes.len(), 1);
        let sampled = &meter["meterValue"][0]["sampledValue"];
        assert!(sampled[0].get("phase").is_none());
        assert_eq!(sampled[1]["phase"], "L1");
    }
}
