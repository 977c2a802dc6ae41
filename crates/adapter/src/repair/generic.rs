//! The generic repairs of times and numbers: they never touch energy, money or identities,
//! only how times and numbers are spelled, and what the charger left out.

use chrono::Datelike;
use serde_json::{Number, Value};
use zaryad_wire::OcppVersion;

use super::walk::Member;
use super::{Change, Context, SessionFact, Setting};
use crate::time::{Form, format_exact, format_utc, parse_lenient, rfc3339_shaped};

/// Keys that hold an RFC 3339 date-time in either version.
pub(crate) const DATE_TIME_KEYS: &[&str] = &[
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
pub(crate) const EVENT_TIME_KEYS: &[&str] = &["timestamp", "generatedAt"];

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

/// Every key [`number_as_string`] may change: the integer fields of either version, 2.0.1's
/// `evse.id` and the decimal `value`s.
pub(crate) const NUMBER_KEYS: &[&[&str]] = &[INTEGER_KEYS_16, INTEGER_KEYS_201, &["id", "value"]];

/// Every key [`string_as_number`] may change.
pub(crate) const TEXT_KEYS: &[&[&str]] = &[&["value", "transactionId"]];

/// Rewrites the member in RFC 3339 UTC when it is a date-time whose [`Form`] is `form`.
fn rewrite_form(
    member: &Member<'_>,
    value: &mut Value,
    form: Form,
    touches: Option<SessionFact>,
    changes: &mut Vec<Change>,
) {
    if !DATE_TIME_KEYS.contains(&member.key) {
        return;
    }
    let Value::String(text) = value else {
        return;
    };
    if rfc3339_shaped(text) {
        return;
    }
    if let Some((at, found)) = parse_lenient(text)
        && found == form
    {
        let repaired = format_exact(at);
        changes.push(Change::new(
            format!("{}: {text:?} → {repaired:?}", member.path()),
            touches,
        ));
        *value = Value::String(repaired);
    }
}

/// `2023-10-19T15:28:07` (Growatt) is read as UTC: no charger says which zone it meant.
pub(crate) fn timestamp_without_offset(
    _: &Context<'_>,
    _: &Setting,
    member: &Member<'_>,
    value: &mut Value,
    changes: &mut Vec<Change>,
) {
    // The zone is a guess: the session's times rest on it.
    rewrite_form(
        member,
        value,
        Form::NoOffset,
        Some(SessionFact::Time),
        changes,
    );
}

/// `+02`, `+0200`, ` UTC`: ISO 8601 but not RFC 3339, which 2.0.1 parsing insists on.
pub(crate) fn timestamp_not_rfc3339(
    _: &Context<'_>,
    _: &Setting,
    member: &Member<'_>,
    value: &mut Value,
    changes: &mut Vec<Change>,
) {
    // The instant is exactly what the charger said; only its spelling changes.
    rewrite_form(member, value, Form::OtherZoned, None, changes);
}

/// Clocks that were never set send 1970, `0000-00-00` or Go's year 1; a time more than a day
/// ahead is as wrong. The received time is the best the CSMS knows.
pub(crate) fn sentinel_timestamp(
    context: &Context<'_>,
    _: &Setting,
    member: &Member<'_>,
    value: &mut Value,
    changes: &mut Vec<Change>,
) {
    if !EVENT_TIME_KEYS.contains(&member.key) {
        return;
    }
    let Value::String(text) = value else {
        return;
    };
    let received_at = context.received_at;
    let latest = received_at
        .checked_add_signed(chrono::Duration::days(1))
        .unwrap_or(received_at);
    let why = match parse_lenient(text) {
        None => "not a date",
        Some((at, _)) if at.year() < 2010 => "before 2010",
        Some((at, _)) if at > latest => "more than a day ahead",
        Some(_) => return,
    };
    let repaired = format_utc(received_at);
    changes.push(Change::new(
        format!(
            "{}: {text:?} is {why}; set to the received time {repaired:?}",
            member.path()
        ),
        Some(SessionFact::Time),
    ));
    *value = Value::String(repaired);
}

/// `"meterStart":"100"`, `"connectorId":"1"`, 2.0.1 `"value":"12.5"`: the same number, typed.
pub(crate) fn number_as_string(
    context: &Context<'_>,
    _: &Setting,
    member: &Member<'_>,
    value: &mut Value,
    changes: &mut Vec<Change>,
) {
    let version = context.version;
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
        changes.push(Change::new(
            format!("{}: {text:?} → {number}", member.path()),
            None,
        ));
        *value = Value::Number(number);
    }
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
pub(crate) fn integer_text(text: &str) -> Option<i64> {
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
pub(crate) fn decimal_text(text: &str) -> Option<Number> {
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
pub(crate) fn string_as_number(
    context: &Context<'_>,
    _: &Setting,
    member: &Member<'_>,
    value: &mut Value,
    changes: &mut Vec<Change>,
) {
    let wants_text = match context.version {
        OcppVersion::V16 => member.key == "value" && member.parent == Some("sampledValue"),
        OcppVersion::V201 => member.key == "transactionId",
    };
    if let (true, Value::Number(number)) = (wants_text, &*value) {
        let text = number.to_string();
        changes.push(Change::new(
            format!("{}: {text} → {text:?}", member.path()),
            None,
        ));
        *value = Value::String(text);
    }
}

/// 1.6 StartTransaction and StopTransaction, 2.0.1 StatusNotification and TransactionEvent
/// require `timestamp`; some chargers leave it out (CitrineOS #166).
pub(crate) fn missing_timestamp(
    context: &Context<'_>,
    _: &Setting,
    payload: &mut Value,
) -> Vec<Change> {
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
    vec![Change::new(
        format!("timestamp: absent; set to the received time {repaired:?}"),
        Some(SessionFact::Time),
    )]
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::fixtures::frame;
    use crate::profile::Profile;
    use crate::repair::*;
    use zaryad_model::Timestamp;

    fn received() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn repair(version: OcppVersion, action: &str, payload: &mut Value) -> Vec<Repair> {
        repair_inbound(Profile::generic(), version, action, payload, received())
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
        for id in ["R02-a", "R02-b", "M01-a", "R07-a", "B05-c"] {
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
