//! The repair stage: known charger deviations fixed on the raw JSON before the strict parse.
//!
//! Each repair is a small named function over the payload; every change it makes is returned
//! as a [`Repair`] so that the frame log and the metrics show it. The repairs here are the
//! generic ones: they never touch energy, money or identities, only the spelling of times and
//! numbers. Vendor profiles add their own table of repairs in front of the strict parse the
//! same way; the `GENERIC` table below is the pattern to follow.

use chrono::Datelike;
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};
use zaryad_model::Timestamp;
use zaryad_wire::OcppVersion;

use crate::time::{Form, format_exact, format_utc, parse_lenient};

/// A timestamp without a zone designator, read as UTC and rewritten with `Z`.
pub const TIMESTAMP_WITHOUT_OFFSET: &str = "timestamp-without-offset";
/// A timestamp in another ISO 8601 spelling (`+02`, `+0200`), rewritten in RFC 3339 UTC.
pub const TIMESTAMP_NOT_RFC3339: &str = "timestamp-not-rfc3339";
/// An event time from before 2010, more than a day ahead, or no date at all, replaced by the
/// time the frame was received.
pub const SENTINEL_TIMESTAMP: &str = "sentinel-timestamp";
/// A number sent as a numeric string, converted to a number.
pub const NUMBER_AS_STRING: &str = "number-as-string";
/// A string field sent as a number, converted to its text.
pub const STRING_AS_NUMBER: &str = "string-as-number";
/// A required event time the charger left out, set to the time the frame was received.
pub const MISSING_TIMESTAMP: &str = "missing-timestamp";

/// One deviation the adapter repaired in an inbound frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repair {
    /// The repair's stable name, e.g. `timestamp-without-offset`.
    pub name: String,
    /// What was changed, with the field's path and the old and new values.
    pub detail: String,
}

/// What a repair may look at besides the payload.
struct Context<'a> {
    version: OcppVersion,
    action: &'a str,
    received_at: Timestamp,
}

/// A repair: rewrites the payload in place and describes each change it made.
type RepairFn = fn(&Context<'_>, &mut Value) -> Vec<String>;

/// The generic repairs in the order they run: spelling of times first, so that the sentinel
/// check sees every readable time, then numbers, then what is missing altogether.
const GENERIC: &[(&str, RepairFn)] = &[
    (TIMESTAMP_WITHOUT_OFFSET, timestamp_without_offset),
    (TIMESTAMP_NOT_RFC3339, timestamp_not_rfc3339),
    (SENTINEL_TIMESTAMP, sentinel_timestamp),
    (NUMBER_AS_STRING, number_as_string),
    (STRING_AS_NUMBER, string_as_number),
    (MISSING_TIMESTAMP, missing_timestamp),
];

/// Repairs the payload of an inbound CALL of `action` in place and returns what was changed.
///
/// `received_at` replaces event times the charger did not send or sent as a sentinel.
pub fn repair_inbound(
    version: OcppVersion,
    action: &str,
    payload: &mut Value,
    received_at: Timestamp,
) -> Vec<Repair> {
    // DataTransfer content is vendor data: its "timestamp" keys mean whatever the vendor says.
    if action == "DataTransfer" || !payload.is_object() {
        return Vec::new();
    }
    let context = Context {
        version,
        action,
        received_at,
    };
    let mut repairs = Vec::new();
    for (name, repair) in GENERIC {
        for detail in repair(&context, payload) {
            repairs.push(Repair {
                name: (*name).to_owned(),
                detail,
            });
        }
    }
    repairs
}

/// Keys that hold an RFC 3339 date-time in either version.
const DATE_TIME_KEYS: &[&str] = &[
    "timestamp",
    "generatedAt",
    "currentTime",
    "expiryDate",
    "cacheExpiryDateTime",
    "startSchedule",
    "timeBase",
    "validFrom",
    "validTo",
    "startDateTime",
    "endDateTime",
    "departureTime",
];

/// Keys that say when something happened; only these may take the server's clock instead.
const EVENT_TIME_KEYS: &[&str] = &["timestamp", "generatedAt"];

/// Integer fields of inbound 1.6 messages.
const INTEGER_KEYS_16: &[&str] = &[
    "connectorId",
    "meterStart",
    "meterStop",
    "transactionId",
    "reservationId",
    "requestId",
];

/// Integer fields of inbound 2.0.1 messages (`evse.id` is matched by its parent).
const INTEGER_KEYS_201: &[&str] = &[
    "evseId",
    "connectorId",
    "seqNo",
    "reservationId",
    "remoteStartId",
    "numberOfPhasesUsed",
    "cableMaxCurrent",
    "timeSpentCharging",
    "requestId",
    "multiplier",
    "eventId",
    "cause",
    "variableMonitoringId",
];

/// An object member met while walking a payload.
struct Member<'a> {
    /// Where it is, e.g. `meterValue[0].sampledValue[1].value`.
    path: &'a str,
    /// Its key.
    key: &'a str,
    /// The key of the member holding its object (for array elements, the array's key).
    parent: Option<&'a str>,
}

/// Calls `visit` for every object member, depth first, skipping `customData`, which is the
/// vendor's and means whatever the vendor says. The recursion is bounded by serde_json's
/// nesting limit (128) on the text the payload was parsed from.
fn walk(value: &mut Value, visit: &mut dyn FnMut(&Member<'_>, &mut Value)) {
    walk_at(value, "", None, visit);
}

fn walk_at(
    value: &mut Value,
    path: &str,
    parent: Option<&str>,
    visit: &mut dyn FnMut(&Member<'_>, &mut Value),
) {
    match value {
        Value::Object(fields) => {
            for (key, child) in fields.iter_mut() {
                if key == "customData" {
                    continue;
                }
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let member = Member {
                    path: &child_path,
                    key,
                    parent,
                };
                visit(&member, child);
                walk_at(child, &child_path, Some(key), visit);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                walk_at(item, &format!("{path}[{index}]"), parent, visit);
            }
        }
        _ => {}
    }
}

/// Rewrites every date-time whose [`Form`] is `form` in RFC 3339 UTC.
fn rewrite_form(payload: &mut Value, form: Form) -> Vec<String> {
    let mut details = Vec::new();
    walk(payload, &mut |member, value| {
        if !DATE_TIME_KEYS.contains(&member.key) {
            return;
        }
        let Value::String(text) = value else {
            return;
        };
        if let Some((at, found)) = parse_lenient(text)
            && found == form
        {
            let repaired = format_exact(at);
            details.push(format!("{}: {text:?} → {repaired:?}", member.path));
            *value = Value::String(repaired);
        }
    });
    details
}

/// `2023-10-19T15:28:07` (Growatt) is read as UTC: no charger says which zone it meant.
fn timestamp_without_offset(_: &Context<'_>, payload: &mut Value) -> Vec<String> {
    rewrite_form(payload, Form::NoOffset)
}

/// `+02`, `+0200`, ` UTC`: ISO 8601 but not RFC 3339, which 2.0.1 parsing insists on.
fn timestamp_not_rfc3339(_: &Context<'_>, payload: &mut Value) -> Vec<String> {
    rewrite_form(payload, Form::OtherZoned)
}

/// Clocks that were never set send 1970, `0000-00-00` or Go's year 1; a time more than a day
/// ahead is as wrong. The received time is the best the CSMS knows.
fn sentinel_timestamp(context: &Context<'_>, payload: &mut Value) -> Vec<String> {
    let received_at = context.received_at;
    let latest = received_at
        .checked_add_signed(chrono::Duration::days(1))
        .unwrap_or(received_at);
    let mut details = Vec::new();
    walk(payload, &mut |member, value| {
        if !EVENT_TIME_KEYS.contains(&member.key) {
            return;
        }
        let Value::String(text) = value else {
            return;
        };
        let why = match parse_lenient(text) {
            None => "not a date",
            Some((at, _)) if at.year() < 2010 => "before 2010",
            Some((at, _)) if at > latest => "more than a day ahead",
            Some(_) => return,
        };
        let repaired = format_utc(received_at);
        details.push(format!(
            "{}: {text:?} is {why}; set to the received time {repaired:?}",
            member.path
        ));
        *value = Value::String(repaired);
    });
    details
}

/// `"meterStart":"100"`, `"connectorId":"1"`, 2.0.1 `"value":"12.5"`: the same number, typed.
fn number_as_string(context: &Context<'_>, payload: &mut Value) -> Vec<String> {
    let version = context.version;
    let mut details = Vec::new();
    walk(payload, &mut |member, value| {
        let Value::String(text) = value else {
            return;
        };
        let number = if wants_integer(version, member) {
            integer_text(text).map(Number::from)
        } else if wants_decimal(version, member) {
            decimal_text(text)
        } else {
            None
        };
        if let Some(number) = number {
            details.push(format!("{}: {text:?} → {number}", member.path));
            *value = Value::Number(number);
        }
    });
    details
}

fn wants_integer(version: OcppVersion, member: &Member<'_>) -> bool {
    match version {
        OcppVersion::V16 => INTEGER_KEYS_16.contains(&member.key),
        OcppVersion::V201 => {
            INTEGER_KEYS_201.contains(&member.key)
                || (member.key == "id" && member.parent == Some("evse"))
        }
    }
}

fn wants_decimal(version: OcppVersion, member: &Member<'_>) -> bool {
    version == OcppVersion::V201
        && member.key == "value"
        && matches!(member.parent, Some("sampledValue" | "variableMonitoring"))
}

/// Digits with an optional sign and an all-zero fraction (`"165333.00"`); nothing that would
/// round.
fn integer_text(text: &str) -> Option<i64> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let digits = whole.strip_prefix('-').unwrap_or(whole);
    let plain = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let zero_fraction = !fraction.is_empty() && fraction.bytes().all(|b| b == b'0');
    if plain && zero_fraction {
        whole.parse().ok()
    } else {
        None
    }
}

/// A plain decimal (`-12.5`), kept digit for digit.
fn decimal_text(text: &str) -> Option<Number> {
    let text = text.trim();
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if digits(whole) && digits(fraction) {
        text.parse().ok()
    } else {
        None
    }
}

/// 1.6 `sampledValue.value` is a string (OpenEVSE sends `604.213`); 2.0.1 `transactionId` is a
/// string (some chargers send their counter as a number).
fn string_as_number(context: &Context<'_>, payload: &mut Value) -> Vec<String> {
    let version = context.version;
    let mut details = Vec::new();
    walk(payload, &mut |member, value| {
        let wants_text = match version {
            OcppVersion::V16 => member.key == "value" && member.parent == Some("sampledValue"),
            OcppVersion::V201 => member.key == "transactionId",
        };
        if let (true, Value::Number(number)) = (wants_text, &*value) {
            let text = number.to_string();
            details.push(format!("{}: {text} → {text:?}", member.path));
            *value = Value::String(text);
        }
    });
    details
}

/// 1.6 StartTransaction and StopTransaction, 2.0.1 StatusNotification and TransactionEvent
/// require `timestamp`; some chargers leave it out (CitrineOS #166).
fn missing_timestamp(context: &Context<'_>, payload: &mut Value) -> Vec<String> {
    let required = match context.version {
        OcppVersion::V16 => matches!(context.action, "StartTransaction" | "StopTransaction"),
        OcppVersion::V201 => matches!(context.action, "StatusNotification" | "TransactionEvent"),
    };
    let Value::Object(fields) = payload else {
        return Vec::new();
    };
    if !required
        || fields
            .get("timestamp")
            .is_some_and(|value| !value.is_null())
    {
        return Vec::new();
    }
    let repaired = format_utc(context.received_at);
    fields.insert("timestamp".into(), Value::String(repaired.clone()));
    vec![format!(
        "timestamp: absent; set to the received time {repaired:?}"
    )]
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::fixtures::frame;

    fn received() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn repair(version: OcppVersion, action: &str, payload: &mut Value) -> Vec<Repair> {
        repair_inbound(version, action, payload, received())
    }

    fn names(repairs: &[Repair]) -> Vec<&str> {
        repairs.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn d01_a_offsetless_timestamp_is_read_as_utc() {
        let (action, mut payload) = frame("D01-a");
        let repairs = repair(OcppVersion::V16, &action, &mut payload);
        assert_eq!(names(&repairs), [TIMESTAMP_WITHOUT_OFFSET]);
        assert_eq!(payload["timestamp"], "2023-10-19T15:28:07Z");
        assert!(repairs[0].detail.starts_with("timestamp: "), "{repairs:?}");
        assert_eq!(payload["meterStart"], 0);
    }

    #[test]
    fn d04_a_epoch_timestamp_becomes_the_received_time() {
        let (action, mut payload) = frame("D04-a");
        let repairs = repair(OcppVersion::V16, &action, &mut payload);
        assert_eq!(names(&repairs), [SENTINEL_TIMESTAMP]);
        assert_eq!(payload["timestamp"], "2026-03-01T12:00:00.000Z");
        assert!(repairs[0].detail.contains("before 2010"));
    }

    #[test]
    fn d04_c_zero_date_becomes_the_received_time() {
        let (action, mut payload) = frame("D04-c");
        let repairs = repair(OcppVersion::V16, &action, &mut payload);
        assert_eq!(names(&repairs), [SENTINEL_TIMESTAMP]);
        assert_eq!(payload["timestamp"], "2026-03-01T12:00:00.000Z");
        assert!(repairs[0].detail.contains("not a date"));
    }

    #[test]
    fn far_future_event_times_are_sentinels_too() {
        let mut payload = json!({"generatedAt": "2099-01-01T00:00:00Z", "seqNo": 0});
        let repairs = repair(OcppVersion::V201, "NotifyEvent", &mut payload);
        assert_eq!(names(&repairs), [SENTINEL_TIMESTAMP]);
        assert!(repairs[0].detail.contains("ahead"));
        let mut fine = json!({"timestamp": "2026-03-01T20:00:00+08:00"});
        assert!(repair(OcppVersion::V201, "StatusNotification", &mut fine).is_empty());
    }

    #[test]
    fn d05_b_missing_start_timestamp_is_the_received_time() {
        let (action, mut payload) = frame("D05-b");
        let repairs = repair(OcppVersion::V16, &action, &mut payload);
        assert_eq!(names(&repairs), [MISSING_TIMESTAMP]);
        assert_eq!(payload["timestamp"], "2026-03-01T12:00:00.000Z");
    }

    #[test]
    fn r03_b_optional_status_timestamp_stays_absent() {
        let (action, mut payload) = frame("R03-b");
        assert!(repair(OcppVersion::V16, &action, &mut payload).is_empty());
        assert!(payload.get("timestamp").is_none());
        let mut v201 = json!({"evseId": 1, "connectorId": 1, "connectorStatus": "Available"});
        let repairs = repair(OcppVersion::V201, "StatusNotification", &mut v201);
        assert_eq!(names(&repairs), [MISSING_TIMESTAMP]);
    }

    #[test]
    fn n01_a_numeric_sampled_values_become_text_in_16() {
        let (action, mut payload) = frame("N01-a");
        let repairs = repair(OcppVersion::V16, &action, &mut payload);
        assert_eq!(names(&repairs), [STRING_AS_NUMBER, STRING_AS_NUMBER]);
        let sampled = &payload["meterValue"][0]["sampledValue"];
        assert_eq!(sampled[0]["value"], "604.213");
        assert_eq!(sampled[1]["value"], "0");
        assert_eq!(
            repairs[0].detail,
            "meterValue[0].sampledValue[0].value: 604.213 → \"604.213\""
        );
    }

    #[test]
    fn n02_a_decimal_strings_stay_text_in_16() {
        let (action, mut payload) = frame("N02-a");
        let before = payload.clone();
        assert!(repair(OcppVersion::V16, &action, &mut payload).is_empty());
        assert_eq!(payload, before);
    }

    #[test]
    fn numeric_strings_become_numbers() {
        let mut payload = json!({"connectorId": "1", "idTag": "1234", "meterStart": "165333.00",
            "timestamp": "2026-03-01T11:00:00Z"});
        let repairs = repair(OcppVersion::V16, "StartTransaction", &mut payload);
        assert_eq!(names(&repairs), [NUMBER_AS_STRING, NUMBER_AS_STRING]);
        assert_eq!(payload["connectorId"], 1);
        assert_eq!(payload["meterStart"], 165333);
        assert_eq!(payload["idTag"], "1234");
        let mut fractional = json!({"meterStart": "100.5", "connectorId": "abc"});
        let repairs = repair(OcppVersion::V16, "StartTransaction", &mut fractional);
        assert_eq!(names(&repairs), [MISSING_TIMESTAMP]);
        assert_eq!(fractional["meterStart"], "100.5");
        assert_eq!(fractional["connectorId"], "abc");
    }

    #[test]
    fn v201_numbers_are_typed_by_field() {
        let mut payload = json!({
            "eventType": "Updated", "timestamp": "2026-03-01T11:00:00Z", "seqNo": "4",
            "evse": {"id": "1", "connectorId": "1"},
            "transactionInfo": {"transactionId": 42},
            "meterValue": [{"timestamp": "2026-03-01T11:00:00Z",
                "sampledValue": [{"value": "12.345", "unitOfMeasure": {"unit": "kWh", "multiplier": "0"}}]}],
            "customData": {"vendorId": "x", "seqNo": "7"}
        });
        let repairs = repair(OcppVersion::V201, "TransactionEvent", &mut payload);
        assert_eq!(payload["seqNo"], 4);
        assert_eq!(payload["evse"]["id"], 1);
        assert_eq!(payload["evse"]["connectorId"], 1);
        assert_eq!(payload["transactionInfo"]["transactionId"], "42");
        let sampled = &payload["meterValue"][0]["sampledValue"][0];
        assert_eq!(sampled["value"].as_f64(), Some(12.345));
        assert_eq!(sampled["unitOfMeasure"]["multiplier"], 0);
        assert_eq!(payload["customData"]["seqNo"], "7");
        assert_eq!(repairs.len(), 6, "{repairs:?}");
    }

    #[test]
    fn other_iso_spellings_are_rewritten() {
        let mut payload = json!({"connectorId": 1, "transactionId": 5, "meterValue": [
            {"timestamp": "2025-01-03T16:21:47+01", "sampledValue": [{"value": "1"}]},
            {"timestamp": "2025-01-03 16:21:47.250", "sampledValue": [{"value": "2"}]}]});
        let repairs = repair(OcppVersion::V16, "MeterValues", &mut payload);
        assert_eq!(
            names(&repairs),
            [TIMESTAMP_WITHOUT_OFFSET, TIMESTAMP_NOT_RFC3339]
        );
        assert_eq!(
            payload["meterValue"][0]["timestamp"],
            "2025-01-03T15:21:47Z"
        );
        assert_eq!(
            payload["meterValue"][1]["timestamp"],
            "2025-01-03T16:21:47.250Z"
        );
    }

    #[test]
    fn vendor_data_is_never_rewritten() {
        let mut payload =
            json!({"vendorId": "x", "data": {"timestamp": "0000-00-00", "connectorId": "1"}});
        let before = payload.clone();
        assert!(repair(OcppVersion::V16, "DataTransfer", &mut payload).is_empty());
        assert_eq!(payload, before);
        let mut not_object = json!([1, 2]);
        assert!(repair(OcppVersion::V16, "Heartbeat", &mut not_object).is_empty());
    }

    #[test]
    fn well_formed_frames_need_no_repair() {
        for id in [
            "R02-a", "R02-b", "D02-b", "M01-a", "X01-b", "R07-a", "B05-c",
        ] {
            let (action, mut payload) = frame(id);
            let repairs = repair(OcppVersion::V16, &action, &mut payload);
            assert!(repairs.is_empty(), "{id}: {repairs:?}");
        }
    }

    #[test]
    fn number_grammar_is_plain() {
        assert_eq!(integer_text(" 42 "), Some(42));
        assert_eq!(integer_text("-3.000"), Some(-3));
        assert_eq!(integer_text("1e3"), None);
        assert_eq!(integer_text("3."), None);
        assert_eq!(integer_text("+3"), None);
        assert_eq!(integer_text("99999999999999999999"), None);
        assert_eq!(
            decimal_text("-0.5").map(|n| n.to_string()),
            Some("-0.5".into())
        );
        assert_eq!(decimal_text(".5"), None);
        assert_eq!(decimal_text("NaN"), None);
        assert_eq!(decimal_text("1."), None);
    }
}
