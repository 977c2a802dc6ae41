//! Vendor data in DataTransfer, read by the decoders a profile declares: SOC, voltage and
//! current, a second meter stream, vehicle and battery data, often JSON packed in a string.

use std::borrow::Cow;

use chrono::{Datelike, Duration};
use chrono_tz::Tz;
use serde_json::Value;
use zaryad_model::{
    ConnectorType, ConnectorTypeReport, DataTransferStatus, MeterSample, Timestamp, VendorFacts,
};

use crate::profile::{Pattern, Profile};
use crate::repair::time_zone_instant;
use crate::time::{parse_lenient, wall_clock};

/// One step of a [`ValuePath`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Where a value is inside vendor data: `connectorId`, `batteryData.soc`, `[0].sampledValue[0].temperature`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuePath {
    text: String,
    steps: Vec<Step>,
}

impl ValuePath {
    /// Reads a path: keys separated by `.`, array indexes in brackets.
    pub fn parse(text: &str) -> Result<ValuePath, String> {
        let mut steps = Vec::new();
        let mut key = String::new();
        let mut chars = text.trim().chars().peekable();
        let bad = || format!("{text:?} is not a path like \"a.b[0].c\"");
        while let Some(c) = chars.next() {
            match c {
                '.' => {
                    if !key.is_empty() {
                        steps.push(Step::Key(std::mem::take(&mut key)));
                    }
                }
                '[' => {
                    if !key.is_empty() {
                        steps.push(Step::Key(std::mem::take(&mut key)));
                    }
                    let mut digits = String::new();
                    for d in chars.by_ref() {
                        if d == ']' {
                            break;
                        }
                        digits.push(d);
                    }
                    steps.push(Step::Index(digits.trim().parse().map_err(|_| bad())?));
                }
                c => key.push(c),
            }
        }
        if !key.is_empty() {
            steps.push(Step::Key(key));
        }
        if steps.is_empty() {
            return Err(bad());
        }
        Ok(ValuePath {
            text: text.to_owned(),
            steps,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at the path; JSON packed in a string on the way is unpacked. Borrowed from
    /// `data` unless a packed string had to be parsed.
    fn find<'a>(&self, data: &'a Value) -> Option<Cow<'a, Value>> {
        let mut current = Cow::Borrowed(data);
        for step in &self.steps {
            if let Some(inner) = unpacked(&current) {
                current = Cow::Owned(inner);
            }
            current = match current {
                Cow::Borrowed(value) => Cow::Borrowed(step.get(value)?),
                Cow::Owned(mut value) => Cow::Owned(step.take(&mut value)?),
            };
        }
        (!current.is_null()).then_some(current)
    }
}

impl Step {
    fn get<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        match self {
            Step::Key(key) => value.get(key),
            Step::Index(index) => value.get(*index),
        }
    }

    fn take(&self, value: &mut Value) -> Option<Value> {
        match self {
            Step::Key(key) => value.get_mut(key),
            Step::Index(index) => value.get_mut(*index),
        }
        .map(Value::take)
    }
}

/// The JSON a string holds, when it holds JSON (vendors pack whole objects in `data`).
fn unpacked(value: &Value) -> Option<Value> {
    match value {
        Value::String(text) => serde_json::from_str(text).ok(),
        _ => None,
    }
}

/// A measurement a decoder takes from vendor data.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleSpec {
    /// Where the value is.
    pub path: ValuePath,
    /// The OCPP measurand it is (`SoC`, `Voltage`, …) or a vendor name.
    pub measurand: String,
    /// Its unit as OCPP spells it (`kWh`, `Percent`); the measurand's default when absent.
    pub unit: Option<String>,
    /// Its phase, if any.
    pub phase: Option<String>,
    /// Its reading context (default `Sample.Periodic`).
    pub context: Option<String>,
}

/// How a profile reads one kind of DataTransfer.
#[derive(Debug, Clone, PartialEq)]
pub struct DataTransferDecoder {
    /// The vendor ids it reads (a glob: LS E-Link sends its `chargePointVendor`).
    pub vendor_id: Pattern,
    /// The message ids it reads; all of the vendor's when absent.
    pub message_id: Option<Pattern>,
    /// What to answer.
    pub answer: DataTransferStatus,
    /// Data to answer with, as sent.
    pub reply_data: Option<String>,
    /// Where the connector (1.6) or EVSE id is.
    pub connector_id: Option<ValuePath>,
    /// Where the transaction id is.
    pub transaction_id: Option<ValuePath>,
    /// Where the id tag is.
    pub id_tag: Option<ValuePath>,
    /// Where the time of the measurements is (else the received time).
    pub timestamp: Option<ValuePath>,
    /// The zone whose wall time that timestamp is, even when labelled `Z` (Dongah: KST).
    pub timestamp_zone: Option<Tz>,
    /// The measurements.
    pub samples: Vec<SampleSpec>,
    /// Other facts to keep, by name.
    pub attributes: Vec<(String, ValuePath)>,
    /// Where a plug type is.
    pub connector_type: Option<ValuePath>,
}

/// How the CSMS answers a DataTransfer, and what it learned from it.
#[derive(Debug, Clone, PartialEq)]
pub struct DataTransferAnswer {
    /// The answer's status.
    pub status: DataTransferStatus,
    /// The answer's data, if any.
    pub data: Option<Value>,
    /// The session facts a decoder read, if one claimed the message.
    pub facts: Option<VendorFacts>,
    /// Notes on values the decoder could not read (kept for the frame log).
    pub problems: Vec<String>,
}

/// Reads a charger's DataTransfer with `profile`'s decoders. Unknown vendors and messages get
/// the spec's answers (`UnknownVendorId`, `UnknownMessageId`).
pub fn answer(
    profile: &Profile,
    vendor_id: &str,
    message_id: Option<&str>,
    data: Option<&Value>,
    received_at: Timestamp,
) -> DataTransferAnswer {
    let for_vendor: Vec<&DataTransferDecoder> = profile
        .decoders()
        .iter()
        .filter(|decoder| decoder.vendor_id.matches(vendor_id))
        .collect();
    if for_vendor.is_empty() {
        return DataTransferAnswer {
            status: DataTransferStatus::UnknownVendorId,
            data: None,
            facts: None,
            problems: Vec::new(),
        };
    }
    let Some(decoder) = for_vendor.into_iter().find(|decoder| {
        decoder
            .message_id
            .as_ref()
            .is_none_or(|pattern| pattern.matches(message_id.unwrap_or_default()))
    }) else {
        return DataTransferAnswer {
            status: DataTransferStatus::UnknownMessageId,
            data: None,
            facts: None,
            problems: Vec::new(),
        };
    };
    let mut problems = Vec::new();
    let facts = data.map(|data| decoder.read(data, received_at, &mut problems));
    DataTransferAnswer {
        status: decoder.answer,
        data: decoder.reply_data.clone().map(Value::String),
        facts,
        problems,
    }
}

/// A number in vendor data: JSON number or numeric text.
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|number| number.is_finite())
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

impl DataTransferDecoder {
    /// Reads the facts out of `data`.
    fn read(
        &self,
        data: &Value,
        received_at: Timestamp,
        problems: &mut Vec<String>,
    ) -> VendorFacts {
        // Every path starts by unpacking packed JSON, so it is parsed once here, not per path
        // (data packed twice over is now unpacked twice, where it used to give nothing).
        let unpacked = unpacked(data);
        let data = unpacked.as_ref().unwrap_or(data);
        let find = |path: &Option<ValuePath>| path.as_ref().and_then(|path| path.find(data));
        let evse_id = find(&self.connector_id)
            .and_then(|value| number(&value))
            .filter(|id| *id >= 0.0 && id.fract() == 0.0 && *id <= f64::from(u32::MAX))
            .map(|id| id as u32);
        let timestamp = find(&self.timestamp)
            .and_then(|value| value.as_str().map(str::to_owned))
            .and_then(|text| self.instant(&text, received_at, problems))
            .unwrap_or(received_at);
        let mut samples = Vec::new();
        for spec in &self.samples {
            let Some(value) = spec.path.find(data) else {
                continue;
            };
            match number(&value) {
                Some(number) => samples.push(MeterSample::from_ocpp(
                    timestamp,
                    number,
                    Some(&spec.measurand),
                    spec.unit.as_deref(),
                    spec.phase.as_deref(),
                    spec.context.as_deref(),
                    None,
                )),
                None => problems.push(format!("{}: {value} is not a number", spec.path.as_str())),
            }
        }
        let mut connector_types = Vec::new();
        if let Some(kind) = find(&self.connector_type).and_then(|value| text(&value)) {
            match ConnectorType::from_ocpp(&kind) {
                Some(connector_type) => connector_types.push(ConnectorTypeReport {
                    evse_id: evse_id.unwrap_or(1),
                    connector_id: 1,
                    connector_type,
                }),
                None => problems.push(format!("connector type {kind:?} is not known")),
            }
        }
        let attributes = self
            .attributes
            .iter()
            .filter_map(|(name, path)| {
                path.find(data).map(|value| {
                    let shown = text(&value).unwrap_or_else(|| value.to_string());
                    (name.clone(), shown)
                })
            })
            .collect();
        VendorFacts {
            evse_id,
            transaction_id: find(&self.transaction_id).and_then(|value| text(&value)),
            id_token: find(&self.id_tag).and_then(|value| text(&value)),
            samples,
            connector_types,
            attributes,
        }
    }

    /// The instant a vendor timestamp names: wall time in the decoder's zone when it has one,
    /// else any ISO 8601 spelling (offsetless as UTC); sentinels give way to the received time.
    fn instant(
        &self,
        text: &str,
        received_at: Timestamp,
        problems: &mut Vec<String>,
    ) -> Option<Timestamp> {
        let at = match self.timestamp_zone {
            Some(zone) => wall_clock(text, true).and_then(|naive| time_zone_instant(zone, naive)),
            None => parse_lenient(text).map(|(at, _)| at),
        };
        let latest = received_at + Duration::days(1);
        match at {
            Some(at) if at.year() >= 2010 && at <= latest => Some(at),
            _ => {
                problems.push(format!(
                    "timestamp {text:?} is not usable; the received time is taken"
                ));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;
    use zaryad_model::{Measurand, Unit};

    use super::*;

    fn received() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2025, 7, 24, 12, 0, 0).unwrap()
    }

    fn profile() -> Profile {
        Profile::from_toml(
            "ls",
            r#"
[[data-transfer]]
vendor-id = "*"
message-id = "MeterValues"
connector-id = "connectorId"
transaction-id = "transactionId"
id-tag = "idTag"
timestamp = "timestamp"
timestamp-zone = "Asia/Seoul"
samples = [
  { path = "btrRm", measurand = "SoC", unit = "Percent" },
  { path = "power", measurand = "Power.Active.Import", unit = "kW" },
]

[[data-transfer]]
vendor-id = "tscontech"
message-id = "cpSts"
samples = [{ path = "[0].sampledValue[0].temperature", measurand = "Temperature" }]
"#,
        )
        .unwrap()
    }

    #[test]
    fn paths_read_nested_and_packed_json() {
        let path = ValuePath::parse("[0].sampledValue[0].temperature").unwrap();
        let data = json!("[{\"sampledValue\":[{\"temperature\":\"31\"}]}]");
        assert_eq!(path.find(&data).as_deref(), Some(&json!("31")));
        // Packed JSON further in, inside an object that is not packed.
        let path = ValuePath::parse("battery.soc").unwrap();
        let data = json!({ "battery": "{\"soc\":57}" });
        assert_eq!(path.find(&data).as_deref(), Some(&json!(57)));
        assert_eq!(
            ValuePath::parse("battery.voltage").unwrap().find(&data),
            None
        );
        assert!(ValuePath::parse("").is_err());
        assert!(ValuePath::parse("a[x]").is_err());
    }

    #[test]
    fn dt02_a_vendor_meter_values_become_samples() {
        let data = json!(
            "{\"connectorId\":1,\"transactionId\":1001,\"idTag\":\"C1010010012345678\",\"timestamp\":\"2025-07-24T19:09:49Z\",\"power\":48.3,\"btrRm\":\"57\"}"
        );
        let answer = answer(
            &profile(),
            "LSE",
            Some("MeterValues"),
            Some(&data),
            received(),
        );
        assert_eq!(answer.status, DataTransferStatus::Accepted);
        let facts = answer.facts.unwrap();
        assert_eq!(facts.evse_id, Some(1));
        assert_eq!(facts.transaction_id.as_deref(), Some("1001"));
        assert_eq!(facts.id_token.as_deref(), Some("C1010010012345678"));
        assert_eq!(facts.samples[0].measurand, Measurand::Soc);
        assert_eq!(facts.samples[0].value, 57.0);
        assert_eq!(facts.samples[1].unit, Unit::W);
        assert_eq!(facts.samples[1].value, 48300.0);
        // KST 19:09:49 labelled Z is 10:09:49 UTC.
        assert_eq!(
            facts.samples[0].timestamp,
            chrono::Utc
                .with_ymd_and_hms(2025, 7, 24, 10, 9, 49)
                .unwrap()
        );
    }

    #[test]
    fn unknown_vendors_and_messages_get_the_spec_answers() {
        let unknown_message = answer(&profile(), "tscontech", Some("j1"), None, received());
        assert_eq!(unknown_message.status, DataTransferStatus::UnknownMessageId);
        let generic = answer(
            Profile::generic(),
            "tscontech",
            Some("j1"),
            None,
            received(),
        );
        assert_eq!(generic.status, DataTransferStatus::UnknownVendorId);
    }
}
