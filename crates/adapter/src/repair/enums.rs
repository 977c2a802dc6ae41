//! Enum spellings: case, vendor aliases, values outside the spec, and stray fields.

use serde_json::{Map, Value};
use zaryad_wire::OcppVersion;

use super::walk::{Member, walk};
use super::{Change, Context, SessionFact, Setting};

/// An enum-typed field: where it is and which values the spec allows.
struct EnumField {
    /// The version it belongs to.
    version: OcppVersion,
    /// The actions that carry it (empty: any).
    actions: &'static [&'static str],
    /// Its key.
    key: &'static str,
    /// The key of the object holding it, when the key alone is ambiguous.
    parent: Option<&'static str>,
    /// The spec's values.
    values: &'static [&'static str],
}

const STATUS_16: &[&str] = &[
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEVSE",
    "SuspendedEV",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
];

/// 1.6 `ChargePointErrorCode`.
pub(crate) const ERROR_CODES_16: &[&str] = &[
    "ConnectorLockFailure",
    "EVCommunicationError",
    "GroundFailure",
    "HighTemperature",
    "InternalError",
    "LocalListConflict",
    "NoError",
    "OtherError",
    "OverCurrentFailure",
    "PowerMeterFailure",
    "PowerSwitchFailure",
    "ReaderFailure",
    "ResetFailure",
    "UnderVoltage",
    "OverVoltage",
    "WeakSignal",
];

const REASONS_16: &[&str] = &[
    "EmergencyStop",
    "EVDisconnected",
    "HardReset",
    "Local",
    "Other",
    "PowerLoss",
    "Reboot",
    "Remote",
    "SoftReset",
    "UnlockCommand",
    "DeAuthorized",
];

const REASONS_201: &[&str] = &[
    "DeAuthorized",
    "EmergencyStop",
    "EnergyLimitReached",
    "EVDisconnected",
    "GroundFault",
    "ImmediateReset",
    "Local",
    "LocalOutOfCredit",
    "MasterPass",
    "Other",
    "OvercurrentFault",
    "PowerLoss",
    "PowerQuality",
    "Reboot",
    "Remote",
    "SOCLimitReached",
    "StoppedByEV",
    "TimeLimitReached",
    "Timeout",
];

/// Measurands of both versions (2.0.1 only adds, and the strict parse tells them apart).
pub(crate) const MEASURANDS: &[&str] = &[
    "Current.Export",
    "Current.Import",
    "Current.Offered",
    "Energy.Active.Export.Register",
    "Energy.Active.Import.Register",
    "Energy.Reactive.Export.Register",
    "Energy.Reactive.Import.Register",
    "Energy.Active.Export.Interval",
    "Energy.Active.Import.Interval",
    "Energy.Active.Net",
    "Energy.Reactive.Export.Interval",
    "Energy.Reactive.Import.Interval",
    "Energy.Reactive.Net",
    "Energy.Apparent.Net",
    "Energy.Apparent.Import",
    "Energy.Apparent.Export",
    "Frequency",
    "Power.Active.Export",
    "Power.Active.Import",
    "Power.Factor",
    "Power.Offered",
    "Power.Reactive.Export",
    "Power.Reactive.Import",
    "RPM",
    "SoC",
    "Temperature",
    "Voltage",
];

/// 1.6 `UnitOfMeasure`.
pub(crate) const UNITS_16: &[&str] = &[
    "Wh",
    "kWh",
    "varh",
    "kvarh",
    "W",
    "kW",
    "VA",
    "kVA",
    "var",
    "kvar",
    "A",
    "V",
    "Celsius",
    "Celcius",
    "Fahrenheit",
    "K",
    "Percent",
];

/// `ReadingContext` of both versions.
pub(crate) const CONTEXTS: &[&str] = &[
    "Interruption.Begin",
    "Interruption.End",
    "Other",
    "Sample.Clock",
    "Sample.Periodic",
    "Transaction.Begin",
    "Transaction.End",
    "Trigger",
];

/// Phases of both versions.
pub(crate) const PHASES: &[&str] = &[
    "L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1",
];

const LOCATIONS: &[&str] = &["Body", "Cable", "EV", "Inlet", "Outlet"];

const CONNECTOR_STATUS_201: &[&str] = &[
    "Available",
    "Occupied",
    "Reserved",
    "Unavailable",
    "Faulted",
];

const CHARGING_STATES_201: &[&str] = &[
    "Charging",
    "EVConnected",
    "SuspendedEV",
    "SuspendedEVSE",
    "Idle",
];

const EVENT_TYPES_201: &[&str] = &["Started", "Updated", "Ended"];

const TRIGGER_REASONS_201: &[&str] = &[
    "Authorized",
    "CablePluggedIn",
    "ChargingRateChanged",
    "ChargingStateChanged",
    "Deauthorized",
    "EnergyLimitReached",
    "EVCommunicationLost",
    "EVConnectTimeout",
    "MeterValueClock",
    "MeterValuePeriodic",
    "TimeLimitReached",
    "Trigger",
    "UnlockCommand",
    "StopAuthorized",
    "EVDeparted",
    "EVDetected",
    "RemoteStop",
    "RemoteStart",
    "AbnormalCondition",
    "SignedDataReceived",
    "ResetCommand",
];

const ID_TOKEN_TYPES_201: &[&str] = &[
    "Central",
    "eMAID",
    "ISO14443",
    "ISO15693",
    "KeyCode",
    "Local",
    "MacAddress",
    "NoAuthorization",
];

macro_rules! field {
    ($version:ident, $actions:expr, $key:expr, $parent:expr, $values:expr) => {
        EnumField {
            version: OcppVersion::$version,
            actions: $actions,
            key: $key,
            parent: $parent,
            values: $values,
        }
    };
}

const FIELDS: &[EnumField] = &[
    field!(V16, &["StatusNotification"], "status", None, STATUS_16),
    field!(
        V16,
        &["StatusNotification"],
        "errorCode",
        None,
        ERROR_CODES_16
    ),
    field!(V16, &["StopTransaction"], "reason", None, REASONS_16),
    field!(V16, &[], "measurand", Some("sampledValue"), MEASURANDS),
    field!(V16, &[], "unit", Some("sampledValue"), UNITS_16),
    field!(V16, &[], "context", Some("sampledValue"), CONTEXTS),
    field!(V16, &[], "phase", Some("sampledValue"), PHASES),
    field!(V16, &[], "location", Some("sampledValue"), LOCATIONS),
    field!(
        V16,
        &[],
        "format",
        Some("sampledValue"),
        &["Raw", "SignedData"]
    ),
    field!(
        V201,
        &["StatusNotification"],
        "connectorStatus",
        None,
        CONNECTOR_STATUS_201
    ),
    field!(
        V201,
        &["TransactionEvent"],
        "eventType",
        None,
        EVENT_TYPES_201
    ),
    field!(
        V201,
        &["TransactionEvent"],
        "triggerReason",
        None,
        TRIGGER_REASONS_201
    ),
    field!(
        V201,
        &["TransactionEvent"],
        "chargingState",
        Some("transactionInfo"),
        CHARGING_STATES_201
    ),
    field!(
        V201,
        &["TransactionEvent"],
        "stoppedReason",
        Some("transactionInfo"),
        REASONS_201
    ),
    field!(V201, &[], "type", Some("idToken"), ID_TOKEN_TYPES_201),
    field!(V201, &[], "measurand", Some("sampledValue"), MEASURANDS),
    field!(V201, &[], "context", Some("sampledValue"), CONTEXTS),
    field!(V201, &[], "phase", Some("sampledValue"), PHASES),
    field!(V201, &[], "location", Some("sampledValue"), LOCATIONS),
];

/// Every key of [`FIELDS`]: the members [`enum_case`] may change.
pub(crate) const ENUM_KEYS: &[&str] = &[
    "status",
    "errorCode",
    "reason",
    "measurand",
    "unit",
    "context",
    "phase",
    "location",
    "format",
    "connectorStatus",
    "eventType",
    "triggerReason",
    "chargingState",
    "stoppedReason",
    "type",
];

/// The enum field `member` is, in this context.
fn field_of(context: &Context<'_>, member: &Member<'_>) -> Option<&'static EnumField> {
    FIELDS.iter().find(|field| {
        field.version == context.version
            && field.key == member.key
            && (field.actions.is_empty() || field.actions.contains(&context.action))
            && field
                .parent
                .is_none_or(|parent| member.parent == Some(parent))
    })
}

/// The spec's spelling of `text` among `values`, ignoring case and surrounding blanks.
pub(crate) fn canonical(values: &[&'static str], text: &str) -> Option<&'static str> {
    let text = text.trim();
    values
        .iter()
        .find(|value| value.eq_ignore_ascii_case(text))
        .copied()
}

/// The session fact a sampled-value field decides.
fn sample_fact(key: &str) -> Option<SessionFact> {
    matches!(key, "measurand" | "unit" | "phase" | "context").then_some(SessionFact::Energy)
}

/// `charging` → `Charging`, `EVDISCONNECTED` → `EVDisconnected`, `l1-n` → `L1-N`.
pub(crate) fn enum_case(
    context: &Context<'_>,
    _: &Setting,
    member: &Member<'_>,
    value: &mut Value,
    changes: &mut Vec<Change>,
) {
    let Value::String(text) = value else {
        return;
    };
    let Some(field) = field_of(context, member) else {
        return;
    };
    if field.values.contains(&text.as_str()) {
        return;
    }
    if let Some(spelled) = canonical(field.values, text) {
        changes.push(Change::new(
            format!("{}: {text:?} → {spelled:?}", member.path()),
            None,
        ));
        *value = Value::String(spelled.to_owned());
    }
}

/// The profile's spellings: `{ reason = { EnergyLimitReached = "Remote" } }`.
pub(crate) fn enum_alias(_: &Context<'_>, setting: &Setting, payload: &mut Value) -> Vec<Change> {
    let Setting::Aliases(fields) = setting else {
        return Vec::new();
    };
    let mut changes = Vec::new();
    walk(payload, &mut |member, value| {
        let Value::String(text) = value else {
            return;
        };
        let Some(spelled) = fields
            .get(member.key)
            .and_then(|aliases| aliases.get(text.trim()))
        else {
            return;
        };
        changes.push(Change::new(
            format!("{}: {text:?} → {spelled:?}", member.path()),
            if member.parent == Some("sampledValue") {
                sample_fact(member.key)
            } else {
                None
            },
        ));
        *value = Value::String(spelled.clone());
    });
    changes
}

/// Replaces a value outside `values` of `key` (in `parent`, when given) by `fallback`.
fn outside_enum(
    payload: &mut Value,
    key: &str,
    parent: Option<&str>,
    values: &[&'static str],
    fallback: &str,
) -> Vec<Change> {
    let mut changes = Vec::new();
    walk(payload, &mut |member, value| {
        if member.key != key || parent.is_some_and(|parent| member.parent != Some(parent)) {
            return;
        }
        let Value::String(text) = value else {
            return;
        };
        if values.contains(&text.as_str()) || canonical(values, text).is_some() {
            return;
        }
        changes.push(Change::new(
            format!(
                "{}: {text:?} is not in the enum → {fallback:?}",
                member.path()
            ),
            None,
        ));
        *value = Value::String(fallback.to_owned());
    });
    changes
}

/// X01-b: XQ stops with `EnergyLimitReached`, a 2.0.1 reason, on 1.6; both versions say
/// `Other` for what they do not name.
pub(crate) fn stop_reason_outside_enum(
    context: &Context<'_>,
    _: &Setting,
    payload: &mut Value,
) -> Vec<Change> {
    match (context.version, context.action) {
        (OcppVersion::V16, "StopTransaction") => {
            outside_enum(payload, "reason", None, REASONS_16, "Other")
        }
        (OcppVersion::V201, "TransactionEvent") => outside_enum(
            payload,
            "stoppedReason",
            Some("transactionInfo"),
            REASONS_201,
            "Other",
        ),
        _ => Vec::new(),
    }
}

/// N04-a: Alfen's `CurrentMax` context; the sample is kept as a periodic one.
pub(crate) fn context_outside_enum(
    _: &Context<'_>,
    _: &Setting,
    path: &str,
    sampled: &mut Map<String, Value>,
    changes: &mut Vec<Change>,
) {
    let Some(Value::String(text)) = sampled.get("context") else {
        return;
    };
    if canonical(CONTEXTS, text).is_some() {
        return;
    }
    changes.push(Change::new(
        format!("{path}.context: {text:?} is not in the enum; dropped (Sample.Periodic)"),
        None,
    ));
    sampled.remove("context");
}

/// S01-a: Legrand's `"errorCode": "Error"` is read as `OtherError`, and the charger's word is
/// kept in `info` so that nobody loses it.
pub(crate) fn error_code_outside_enum(
    context: &Context<'_>,
    _: &Setting,
    payload: &mut Value,
) -> Vec<Change> {
    if context.version != OcppVersion::V16 || context.action != "StatusNotification" {
        return Vec::new();
    }
    let Value::Object(fields) = payload else {
        return Vec::new();
    };
    let Some(Value::String(code)) = fields.get("errorCode") else {
        return Vec::new();
    };
    if canonical(ERROR_CODES_16, code).is_some() {
        return Vec::new();
    }
    let code = code.clone();
    let info = match fields.get("info") {
        Some(Value::String(info)) if !info.trim().is_empty() => {
            format!("{info} (errorCode {code})")
        }
        _ => code.clone(),
    };
    fields.insert("errorCode".into(), Value::String("OtherError".into()));
    fields.insert("info".into(), Value::String(info));
    vec![Change::new(
        format!("errorCode: {code:?} is not in the enum → \"OtherError\", kept in info"),
        None,
    )]
}

/// S02-a: ABB sends `"info": "null"`, the text.
pub(crate) fn info_null_text(
    context: &Context<'_>,
    _: &Setting,
    payload: &mut Value,
) -> Vec<Change> {
    if context.action != "StatusNotification" {
        return Vec::new();
    }
    let Value::Object(fields) = payload else {
        return Vec::new();
    };
    match fields.get("info") {
        Some(Value::String(info)) if info.trim().eq_ignore_ascii_case("null") => {
            fields.remove("info");
            vec![Change::new("info: \"null\" dropped".to_owned(), None)]
        }
        _ => Vec::new(),
    }
}

/// B04-a: XQ puts `customData` (a 2.0.1 idea, without its `vendorId`) in a 1.6 boot.
pub(crate) fn custom_data_in_16(
    context: &Context<'_>,
    _: &Setting,
    payload: &mut Value,
) -> Vec<Change> {
    if context.version != OcppVersion::V16 {
        return Vec::new();
    }
    let Value::Object(fields) = payload else {
        return Vec::new();
    };
    match fields.remove("customData") {
        Some(data) => vec![Change::new(format!("customData {data} dropped"), None)],
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::repair::walk::each_member;

    fn context(version: OcppVersion, action: &'static str) -> Context<'static> {
        Context {
            version,
            action,
            received_at: Utc::now(),
        }
    }

    #[test]
    fn case_is_fixed_per_field() {
        let mut payload = json!({"connectorId": 1, "status": "charging", "errorCode": "noerror"});
        let changes = each_member(
            enum_case,
            &context(OcppVersion::V16, "StatusNotification"),
            &Setting::On,
            &mut payload,
        );
        assert_eq!(changes.len(), 2);
        assert_eq!(payload["status"], "Charging");
        assert_eq!(payload["errorCode"], "NoError");
        let mut meter = json!({"meterValue": [{"sampledValue": [{"value": "1", "unit": "KWH", "phase": "l1-n"}]}]});
        each_member(
            enum_case,
            &context(OcppVersion::V16, "MeterValues"),
            &Setting::On,
            &mut meter,
        );
        assert_eq!(meter["meterValue"][0]["sampledValue"][0]["unit"], "kWh");
        assert_eq!(meter["meterValue"][0]["sampledValue"][0]["phase"], "L1-N");
    }

    #[test]
    fn values_outside_the_enum_fall_back() {
        let mut stop = json!({"reason": "EnergyLimitReached"});
        let changes = stop_reason_outside_enum(
            &context(OcppVersion::V16, "StopTransaction"),
            &Setting::On,
            &mut stop,
        );
        assert_eq!(stop["reason"], "Other");
        assert!(changes[0].detail.contains("EnergyLimitReached"));
        let mut status = json!({"errorCode": "Error", "status": "Faulted"});
        error_code_outside_enum(
            &context(OcppVersion::V16, "StatusNotification"),
            &Setting::On,
            &mut status,
        );
        assert_eq!(status["errorCode"], "OtherError");
        assert_eq!(status["info"], "Error");
    }

    #[test]
    fn enum_keys_are_the_keys_of_the_fields() {
        for field in FIELDS {
            assert!(ENUM_KEYS.contains(&field.key), "{}", field.key);
        }
        for key in ENUM_KEYS {
            assert!(FIELDS.iter().any(|field| field.key == *key), "{key}");
        }
    }
}
