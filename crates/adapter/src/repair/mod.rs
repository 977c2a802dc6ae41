//! The repair stage: known charger deviations fixed on the raw JSON before the strict parse,
//! and on the CSMS's own frames before they leave.
//!
//! Each repair is a small named function over the payload; every change it makes is returned
//! as a [`Repair`] so that the frame log, the metrics and (when the change touches a session's
//! energy, time or id token) the session show it. [`REPAIRS`] lists every repair in the fixed
//! order it runs in. A vendor profile (see [`crate::profile`]) turns repairs on, with
//! parameters; the `generic` profile turns on only those that cannot change money.

mod enums;
mod generic;
mod id_tag;
mod meter;
mod outbound;
mod settings;
mod text;
mod time_zone;
mod walk;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zaryad_model::Timestamp;
use zaryad_wire::OcppVersion;

use crate::profile::Profile;
use walk::{Member, objects_under, walk};

pub(crate) use settings::parse_setting;
pub use settings::{IdTagRules, Setting};
pub use text::repair_text;
pub(crate) use time_zone::in_zone as time_zone_instant;

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
/// Local wall time sent without an offset, or labelled `Z`, read in the profile's zone.
pub const TIMESTAMP_LOCAL_ZONE: &str = "timestamp-local-zone";
/// A lone object where an array is due (`meterValue`, `sampledValue`), wrapped in an array.
pub const LONE_OBJECT_AS_ARRAY: &str = "lone-object-as-array";
/// An enum value in the wrong case (`charging`, `EVDISCONNECTED`), spelled as the spec does.
pub const ENUM_CASE: &str = "enum-case";
/// Vendor enum spellings mapped to the spec's, per field, from the profile.
pub const ENUM_ALIAS: &str = "enum-alias";
/// A measurand with the phase in its name (`Current.Import.L1`), split into measurand and phase.
pub const MEASURAND_PHASE_SUFFIX: &str = "measurand-phase-suffix";
/// A sampled value without a measurand whose unit says what it is (`A` is a current, not the
/// energy register the spec's default would make it).
pub const MEASURAND_FROM_UNIT: &str = "measurand-from-unit";
/// A voltage on phase `L1` (a line) read as `L1-N`, which is what chargers measure.
pub const VOLTAGE_LINE_TO_NEUTRAL: &str = "voltage-line-to-neutral";
/// A 1.6 unit outside the enum (`Hz`, `%`, `°C`) mapped to its spec spelling or dropped for
/// the measurand's default unit.
pub const UNIT_OUTSIDE_ENUM: &str = "unit-outside-enum";
/// A reading context outside the enum (`CurrentMax`) dropped for the default.
pub const CONTEXT_OUTSIDE_ENUM: &str = "context-outside-enum";
/// A stop reason outside the version's enum, read as `Other` (the original is in the detail).
pub const STOP_REASON_OUTSIDE_ENUM: &str = "stop-reason-outside-enum";
/// A 1.6 error code outside the enum, read as `OtherError` with the original kept in `info`.
pub const ERROR_CODE_OUTSIDE_ENUM: &str = "error-code-outside-enum";
/// `info: "null"` (the text), dropped.
pub const INFO_NULL_TEXT: &str = "info-null-text";
/// 2.0.1-style `customData` in a 1.6 payload, dropped (the frame log keeps it).
pub const CUSTOM_DATA_IN_16: &str = "customdata-in-ocpp16";
/// Control characters around an id tag (Ocular's overflowing buffer), stripped.
pub const ID_TAG_CONTROL_CHARACTERS: &str = "id-tag-control-characters";
/// The profile's id-tag clean-up: prefixes, separators, case, length.
pub const ID_TAG: &str = "id-tag";
/// Energy and power values in the unit the profile says, when the charger names none.
pub const METER_UNITS: &str = "meter-units";
/// Measurands scaled by the profile's factor (a charger that reports power ten times low).
pub const SAMPLE_SCALE: &str = "sample-scale";
/// The only reading of a measurand carries a phase (`N`, `L1`): it is the total.
pub const SINGLE_PHASE_TOTAL: &str = "single-phase-total";
/// A 1.6-shaped payload on a 2.0.1 connection, read (and answered) with the 1.6 codec.
pub const OCPP16_ON_OCPP201: &str = "ocpp16-on-ocpp201";
/// A leading or doubled comma in a JSON array (`[,{…}]`), removed.
pub const JSON_STRAY_COMMA: &str = "json-stray-comma";
/// A frame cut off before its closing brackets, closed.
pub const JSON_TRUNCATED: &str = "json-truncated";
/// Outbound: 1.6 DataTransfer `data` that is not a string, sent as its JSON text.
pub const OUTBOUND_DATA_AS_STRING: &str = "outbound-data-as-string";
/// Outbound: JSON packed in DataTransfer `data` re-sent compact, with every value a string
/// (positional parsers in Korean firmware read nothing else).
pub const OUTBOUND_COMPACT_DATA: &str = "outbound-compact-data";
/// Outbound: decimals without a fraction (`16.0`) sent as integers.
pub const OUTBOUND_INTEGER_NUMBERS: &str = "outbound-integer-numbers";
/// Outbound: id tags longer than the charger's buffer shortened, optional ones left out.
pub const OUTBOUND_ID_TAG_LENGTH: &str = "outbound-id-tag-length";

/// Which session fact a repair changed; the session lists repairs that touch one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionFact {
    /// Energy (units, registers, which reading is the register).
    Energy,
    /// A time the session's start, stop or readings take.
    Time,
    /// The id token.
    IdToken,
}

/// One deviation the adapter repaired in a frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repair {
    /// The repair's stable name, e.g. `timestamp-without-offset`.
    pub name: String,
    /// What was changed, with the field's path and the old and new values.
    pub detail: String,
    /// The session fact the change touches, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub touches: Option<SessionFact>,
}

/// Which frames a repair works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The text of an inbound frame that is not valid JSON.
    Text,
    /// The payload of an inbound CALL.
    Inbound,
    /// A payload the CSMS sends (CALLRESULT or CALL).
    Outbound,
}

/// What may be known about a repair without running it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RepairInfo {
    /// The stable name profiles use.
    pub name: &'static str,
    /// Which frames it works on.
    pub direction: Direction,
    /// True when it can change what a session costs (units, energy, local time): such a repair
    /// runs only where a profile lists it, never in the `generic` profile.
    pub money: bool,
    /// What it does, for the API and the documentation.
    pub summary: &'static str,
}

/// What a repair may look at besides the payload.
pub(crate) struct Context<'a> {
    pub(crate) version: OcppVersion,
    pub(crate) action: &'a str,
    pub(crate) received_at: Timestamp,
}

/// One change a repair made: what, and which session fact it touches.
pub(crate) struct Change {
    pub(crate) detail: String,
    pub(crate) touches: Option<SessionFact>,
}

impl Change {
    pub(crate) fn new(detail: String, touches: Option<SessionFact>) -> Change {
        Change { detail, touches }
    }

    /// The change as the repair `info` made it.
    fn named(self, info: &RepairInfo) -> Repair {
        Repair {
            name: info.name.to_owned(),
            detail: self.detail,
            touches: self.touches,
        }
    }
}

/// A payload repair: rewrites the payload in place and describes each change it made.
pub(crate) type RepairFn = fn(&Context<'_>, &Setting, &mut Value) -> Vec<Change>;

/// A member repair: looks at one member of the payload (its key, its holder's key, its value),
/// may rewrite that value, and adds a change for each rewrite. It never looks past the member,
/// so the member repairs that follow one another in [`REPAIRS`] share one walk of the payload
/// and still see what the ones before them left, as if each had walked it alone.
pub(crate) type MemberFn = fn(&Context<'_>, &Setting, &Member<'_>, &mut Value, &mut Vec<Change>);

/// The keys of the members a member repair may change, in one or more lists: the shared walk
/// calls it for those only (a test holds every repair to its lists).
pub(crate) type MemberKeys = &'static [&'static [&'static str]];

/// A sampled-value repair: looks at one `sampledValue` object (lone or in its array) at
/// `path`, may rewrite it, and adds a change for each rewrite. Like member repairs, those
/// that follow one another in [`REPAIRS`] share one walk to the sampled values.
pub(crate) type SampledFn =
    fn(&Context<'_>, &Setting, &str, &mut serde_json::Map<String, Value>, &mut Vec<Change>);

/// How a repair runs.
#[derive(Clone, Copy)]
enum Function {
    /// Over the whole payload.
    Payload(RepairFn),
    /// Member by member, in a walk it may share, for the members with one of its keys.
    Member(MemberFn, MemberKeys),
    /// Sampled value by sampled value, in a walk it may share.
    Sampled(SampledFn),
}

macro_rules! info {
    ($name:expr, $direction:ident, $money:expr, $summary:expr) => {
        RepairInfo {
            name: $name,
            direction: Direction::$direction,
            money: $money,
            summary: $summary,
        }
    };
}

/// Every repair, in the order it runs: text first; then the payload's shape, times (local
/// zones before the generic UTC reading, so that the sentinel check sees every readable
/// time), enum spellings, meter semantics, numbers, id tags, and what is missing altogether;
/// outbound ones last.
pub const REPAIRS: &[RepairInfo] = &[
    info!(
        JSON_STRAY_COMMA,
        Text, false, "removes a stray comma in a JSON array"
    ),
    info!(
        JSON_TRUNCATED,
        Text, false, "closes a frame cut off before its closing brackets"
    ),
    info!(
        OCPP16_ON_OCPP201,
        Inbound,
        false,
        "reads a 1.6-shaped payload on a 2.0.1 connection with the 1.6 codec and answers in 1.6"
    ),
    info!(
        CUSTOM_DATA_IN_16,
        Inbound, false, "drops 2.0.1-style customData from a 1.6 payload"
    ),
    info!(
        LONE_OBJECT_AS_ARRAY,
        Inbound, false, "wraps a lone object where an array is due"
    ),
    info!(
        TIMESTAMP_LOCAL_ZONE,
        Inbound,
        true,
        "reads offsetless (or, with labelled-utc, Z-labelled) times as wall time in a zone"
    ),
    info!(
        TIMESTAMP_WITHOUT_OFFSET,
        Inbound, false, "reads a time without offset as UTC"
    ),
    info!(
        TIMESTAMP_NOT_RFC3339,
        Inbound, false, "rewrites other ISO 8601 spellings in RFC 3339"
    ),
    info!(
        SENTINEL_TIMESTAMP,
        Inbound,
        false,
        "replaces 1970, 0001, 0000-00-00 and far-future event times by the received time"
    ),
    info!(
        ENUM_ALIAS,
        Inbound, true, "maps vendor enum spellings to the spec's, per field"
    ),
    info!(ENUM_CASE, Inbound, false, "fixes the case of enum values"),
    info!(
        MEASURAND_PHASE_SUFFIX,
        Inbound, false, "splits Current.Import.L1 into measurand and phase"
    ),
    info!(
        MEASURAND_FROM_UNIT,
        Inbound, false, "names the measurand of a sample whose unit says it is not energy"
    ),
    info!(
        VOLTAGE_LINE_TO_NEUTRAL,
        Inbound, false, "reads voltage on L1/L2/L3 as L1-N/L2-N/L3-N"
    ),
    info!(
        UNIT_OUTSIDE_ENUM,
        Inbound, false, "maps units outside the 1.6 enum (Hz, %, °C) to the spec"
    ),
    info!(
        CONTEXT_OUTSIDE_ENUM,
        Inbound, false, "drops a reading context outside the enum"
    ),
    info!(
        STOP_REASON_OUTSIDE_ENUM,
        Inbound, false, "reads a stop reason outside the enum as Other"
    ),
    info!(
        ERROR_CODE_OUTSIDE_ENUM,
        Inbound, false, "reads an error code outside the enum as OtherError, keeping it in info"
    ),
    info!(INFO_NULL_TEXT, Inbound, false, "drops info \"null\""),
    info!(
        METER_UNITS,
        Inbound,
        true,
        "gives energy and power without a unit the profile's unit (kWh, kW); meterStart/meterStop in kWh"
    ),
    info!(
        SAMPLE_SCALE,
        Inbound, true, "scales a measurand by the profile's factor"
    ),
    info!(
        SINGLE_PHASE_TOTAL,
        Inbound, true, "reads the only, phased reading of a measurand as its total"
    ),
    info!(
        NUMBER_AS_STRING,
        Inbound, false, "reads a numeric string where a number is due"
    ),
    info!(
        STRING_AS_NUMBER,
        Inbound, false, "reads a number where a string is due"
    ),
    info!(
        ID_TAG_CONTROL_CHARACTERS,
        Inbound, false, "strips control characters around an id tag"
    ),
    info!(
        ID_TAG,
        Inbound, true, "cleans id tags: prefixes, separators, case, length"
    ),
    info!(
        MISSING_TIMESTAMP,
        Inbound, false, "sets a required event time the charger left out to the received time"
    ),
    info!(
        OUTBOUND_DATA_AS_STRING,
        Outbound, false, "sends 1.6 DataTransfer data that is not a string as its JSON text"
    ),
    info!(
        OUTBOUND_COMPACT_DATA,
        Outbound, false, "re-sends JSON in DataTransfer data compact, every value a string"
    ),
    info!(
        OUTBOUND_INTEGER_NUMBERS,
        Outbound, false, "sends decimals without a fraction as integers"
    ),
    info!(
        OUTBOUND_ID_TAG_LENGTH,
        Outbound, false, "shortens id tags to the charger's buffer"
    ),
];

/// The description of the repair named `name`.
pub fn info(name: &str) -> Option<&'static RepairInfo> {
    REPAIRS.iter().find(|info| info.name == name)
}

/// How the repair named `name` runs (none for the textual ones).
fn function(name: &str) -> Option<Function> {
    use Function::{Member, Payload, Sampled};
    Some(match name {
        CUSTOM_DATA_IN_16 => Payload(enums::custom_data_in_16),
        LONE_OBJECT_AS_ARRAY => Member(meter::lone_object_as_array, &[meter::ARRAY_KEYS]),
        TIMESTAMP_LOCAL_ZONE => Payload(time_zone::timestamp_local_zone),
        TIMESTAMP_WITHOUT_OFFSET => Member(
            generic::timestamp_without_offset,
            &[generic::DATE_TIME_KEYS],
        ),
        TIMESTAMP_NOT_RFC3339 => Member(generic::timestamp_not_rfc3339, &[generic::DATE_TIME_KEYS]),
        SENTINEL_TIMESTAMP => Member(generic::sentinel_timestamp, &[generic::EVENT_TIME_KEYS]),
        ENUM_ALIAS => Payload(enums::enum_alias),
        ENUM_CASE => Member(enums::enum_case, &[enums::ENUM_KEYS]),
        MEASURAND_PHASE_SUFFIX => Sampled(meter::measurand_phase_suffix),
        MEASURAND_FROM_UNIT => Sampled(meter::measurand_from_unit),
        VOLTAGE_LINE_TO_NEUTRAL => Sampled(meter::voltage_line_to_neutral),
        UNIT_OUTSIDE_ENUM => Sampled(meter::unit_outside_enum),
        CONTEXT_OUTSIDE_ENUM => Sampled(enums::context_outside_enum),
        STOP_REASON_OUTSIDE_ENUM => Payload(enums::stop_reason_outside_enum),
        ERROR_CODE_OUTSIDE_ENUM => Payload(enums::error_code_outside_enum),
        INFO_NULL_TEXT => Payload(enums::info_null_text),
        METER_UNITS => Payload(meter::meter_units),
        SAMPLE_SCALE => Payload(meter::sample_scale),
        SINGLE_PHASE_TOTAL => Payload(meter::single_phase_total),
        NUMBER_AS_STRING => Member(generic::number_as_string, generic::NUMBER_KEYS),
        STRING_AS_NUMBER => Member(generic::string_as_number, generic::TEXT_KEYS),
        ID_TAG_CONTROL_CHARACTERS => Member(id_tag::control_characters, &[id_tag::ID_TAG_KEYS]),
        ID_TAG => Member(id_tag::clean, &[id_tag::ID_TAG_KEYS]),
        MISSING_TIMESTAMP => Payload(generic::missing_timestamp),
        OUTBOUND_DATA_AS_STRING => Payload(outbound::data_as_string),
        OUTBOUND_COMPACT_DATA => Payload(outbound::compact_data),
        OUTBOUND_INTEGER_NUMBERS => Payload(outbound::integer_numbers),
        OUTBOUND_ID_TAG_LENGTH => Payload(outbound::id_tag_length),
        _ => return None,
    })
}

/// The function of each entry of [`REPAIRS`], by index (none for the textual ones).
fn functions() -> &'static [Option<Function>] {
    static FUNCTIONS: std::sync::OnceLock<Vec<Option<Function>>> = std::sync::OnceLock::new();
    FUNCTIONS.get_or_init(|| REPAIRS.iter().map(|info| function(info.name)).collect())
}

// A set of repairs is a bit per entry of REPAIRS in one word.
const _: () = assert!(REPAIRS.len() <= u64::BITS as usize);

/// For each key some member repair may change, the set of those repairs (bit `i` for
/// `REPAIRS[i]`). Most members of a payload have a key no member repair changes, the others
/// a key a few of them change: the shared walk looks a member's key up once instead of
/// calling every repair for it.
fn repairs_by_key() -> &'static FxHashMap<&'static str, u64> {
    static BY_KEY: std::sync::OnceLock<FxHashMap<&'static str, u64>> = std::sync::OnceLock::new();
    BY_KEY.get_or_init(|| {
        let mut by_key = FxHashMap::default();
        for (index, function) in functions().iter().enumerate() {
            if let Some(Function::Member(_, keys)) = function {
                for key in keys.iter().copied().flatten() {
                    *by_key.entry(*key).or_default() |= 1 << index;
                }
            }
        }
        by_key
    })
}

/// Runs the profile's repairs of `direction` over `payload` in [`REPAIRS`] order.
fn run(
    profile: &Profile,
    direction: Direction,
    context: &Context<'_>,
    payload: &mut Value,
) -> Vec<Repair> {
    let mut repairs = Vec::new();
    let functions = functions();
    // Member repairs in a row wait here to share one walk of the payload (the generic
    // profile's eight walk it twice instead of eight times), and sampled-value repairs in a
    // row likewise (its five walk to the sampled values once). At most one of the two holds
    // repairs at a time, so that each repair still sees what the ones before it left.
    // Empty until a repair of the kind comes: most outbound payloads meet none.
    let mut members: Pending<(MemberFn, u64)> = Vec::new();
    let mut sampled: Pending<SampledFn> = Vec::new();
    for (index, setting) in profile.enabled_repairs() {
        let info = &REPAIRS[*index];
        if info.direction != direction {
            continue;
        }
        match functions[*index] {
            None => {}
            Some(Function::Member(repair, _)) => {
                walk_sampled(&mut sampled, context, payload, &mut repairs);
                wait(&mut members, (info, (repair, 1 << *index), setting));
            }
            Some(Function::Sampled(repair)) => {
                walk_members(&mut members, context, payload, &mut repairs);
                wait(&mut sampled, (info, repair, setting));
            }
            Some(Function::Payload(repair)) => {
                walk_members(&mut members, context, payload, &mut repairs);
                walk_sampled(&mut sampled, context, payload, &mut repairs);
                let changes = repair(context, setting, payload);
                repairs.extend(changes.into_iter().map(|change| change.named(info)));
            }
        }
    }
    walk_members(&mut members, context, payload, &mut repairs);
    walk_sampled(&mut sampled, context, payload, &mut repairs);
    repairs
}

/// Adds a repair to those waiting, with room for a whole run at the first (one allocation
/// where growing from nothing took two).
fn wait<T>(pending: &mut Vec<T>, entry: T) {
    if pending.capacity() == 0 {
        pending.reserve_exact(8);
    }
    pending.push(entry);
}

/// Repairs waiting to share a walk, in their order.
type Pending<'a, F> = Vec<(&'static RepairInfo, F, &'a Setting)>;

/// Runs the waiting member repairs in one walk, each member going through them in their
/// order, and lists their changes repair by repair as their own walks would have.
fn walk_members(
    members: &mut Pending<'_, (MemberFn, u64)>,
    context: &Context<'_>,
    payload: &mut Value,
    repairs: &mut Vec<Repair>,
) {
    if members.is_empty() {
        return;
    }
    let waiting = members.iter().fold(0, |set, (_, (_, bit), _)| set | bit);
    let by_key = repairs_by_key();
    let mut changes = Vec::new();
    let mut found = Vec::new();
    walk(payload, &mut |member, value| {
        let wanted = by_key.get(member.key).copied().unwrap_or(0) & waiting;
        if wanted == 0 {
            return;
        }
        for (position, (_, (repair, bit), setting)) in members.iter().enumerate() {
            if wanted & bit == 0 {
                continue;
            }
            repair(context, setting, member, value, &mut found);
            // Nearly always empty: not even a drain for those.
            if !found.is_empty() {
                changes.extend(found.drain(..).map(|change| (position, change)));
            }
        }
    });
    name_in_order(members, changes, repairs);
}

/// Runs the waiting sampled-value repairs in one walk to the sampled values, each going
/// through them in their order, and lists their changes as their own walks would have.
fn walk_sampled(
    sampled: &mut Pending<'_, SampledFn>,
    context: &Context<'_>,
    payload: &mut Value,
    repairs: &mut Vec<Repair>,
) {
    if sampled.is_empty() {
        return;
    }
    let mut changes = Vec::new();
    let mut found = Vec::new();
    objects_under(payload, "sampledValue", &mut |path, object| {
        for (position, (_, repair, setting)) in sampled.iter().enumerate() {
            repair(context, setting, path, object, &mut found);
            if !found.is_empty() {
                changes.extend(found.drain(..).map(|change| (position, change)));
            }
        }
    });
    name_in_order(sampled, changes, repairs);
}

/// Lists the changes of a shared walk, each with the position of its repair among `pending`,
/// repair by repair (a repair's own keep the order the walk met them in), and empties
/// `pending`. Most payloads need no change, and then nothing was allocated for them.
fn name_in_order<F>(
    pending: &mut Pending<'_, F>,
    mut changes: Vec<(usize, Change)>,
    repairs: &mut Vec<Repair>,
) {
    changes.sort_by_key(|(position, _)| *position);
    repairs.extend(
        changes
            .into_iter()
            .map(|(position, change)| change.named(pending[position].0)),
    );
    pending.clear();
}

/// Repairs the payload of an inbound CALL of `action` in place with the repairs `profile`
/// turns on, and returns what was changed.
///
/// `received_at` replaces event times the charger did not send or sent as a sentinel.
pub fn repair_inbound(
    profile: &Profile,
    version: OcppVersion,
    action: &str,
    payload: &mut Value,
    received_at: Timestamp,
) -> Vec<Repair> {
    // DataTransfer content is vendor data: its "timestamp" keys mean whatever the vendor says,
    // and the profile's DataTransfer decoders read it.
    if action == "DataTransfer" || !payload.is_object() {
        return Vec::new();
    }
    let context = Context {
        version,
        action,
        received_at,
    };
    run(profile, Direction::Inbound, &context, payload)
}

/// Repairs a payload the CSMS sends (the CALLRESULT to `action`, or a CALL of `action`) with
/// the outbound repairs `profile` turns on, and returns what was changed.
pub fn repair_outbound(
    profile: &Profile,
    version: OcppVersion,
    action: &str,
    payload: &mut Value,
    now: Timestamp,
) -> Vec<Repair> {
    let context = Context {
        version,
        action,
        received_at: now,
    };
    run(profile, Direction::Outbound, &context, payload)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The repairs `profile` turns on for inbound payloads, each over the whole payload on its
    /// own, in order: what [`run`] did before member repairs shared a walk.
    fn one_by_one(profile: &Profile, context: &Context<'_>, payload: &mut Value) -> Vec<Repair> {
        let mut repairs = Vec::new();
        for (index, setting) in profile.enabled_repairs() {
            let info = &REPAIRS[*index];
            if info.direction != Direction::Inbound {
                continue;
            }
            let changes = match functions()[*index] {
                None => continue,
                Some(Function::Payload(repair)) => repair(context, setting, payload),
                Some(Function::Member(repair, _)) => {
                    walk::each_member(repair, context, setting, payload)
                }
                Some(Function::Sampled(repair)) => {
                    walk::each_sampled(repair, context, setting, payload)
                }
            };
            repairs.extend(changes.into_iter().map(|change| change.named(info)));
        }
        repairs
    }

    #[test]
    fn a_shared_walk_repairs_as_each_repair_alone_would() {
        // Every recorded CALL of the catalogue, and one where a lone object is wrapped before
        // the repairs after it (in the shared walk and in payload repairs) meet its members at
        // their new paths.
        let mut calls: Vec<(OcppVersion, String, Value)> = Vec::new();
        for line in crate::fixtures::lines() {
            let record: Value = serde_json::from_str(line).unwrap();
            let frame = &record["frame"];
            if frame[0] != 2 || record["direction"] != "cp->csms" {
                continue;
            }
            let version = match record["version"].as_str() {
                Some("2.0.1") => OcppVersion::V201,
                _ => OcppVersion::V16,
            };
            let action = frame[2].as_str().unwrap().to_owned();
            calls.push((version, action, frame[3].clone()));
        }
        assert!(calls.len() > 40, "{} recorded CALLs", calls.len());
        calls.push((
            OcppVersion::V16,
            "MeterValues".into(),
            json!({"connectorId": "1", "meterValue": {"timestamp": "2023-10-19T15:28:07",
                "sampledValue": {"value": 16.5, "unit": "A"}}}),
        ));
        // Changes met in another order than their repairs': the first sample needs the last
        // sampled-value repair (and the second one), the next samples the first and third.
        calls.push((
            OcppVersion::V16,
            "MeterValues".into(),
            json!({"connectorId": 1, "meterValue": [{"timestamp": "2023-10-19T15:28:07Z",
                "sampledValue": [{"value": "7", "context": "CurrentMax", "unit": "A"},
                    {"value": "16", "measurand": "Current.Import.L1"},
                    {"value": "230", "measurand": "Voltage", "phase": "L1"}]}]}),
        ));
        // A payload repair right after a run of shared ones, both changing something.
        calls.push((
            OcppVersion::V16,
            "StopTransaction".into(),
            json!({"transactionId": 17, "meterStop": 19000, "timestamp": "2023-10-19T15:28:07Z",
                "reason": "Unplugged", "transactionData": [{"timestamp": "2023-10-19T15:28:07Z",
                "sampledValue": [{"value": "19000", "context": "CurrentMax"}]}]}),
        ));
        let received_at = chrono::Utc::now();
        let mut repaired = 0;
        for (version, action, payload) in calls {
            if action == "DataTransfer" || !payload.is_object() {
                continue;
            }
            let context = Context {
                version,
                action: &action,
                received_at,
            };
            let mut shared = payload.clone();
            let together = run(
                Profile::generic(),
                Direction::Inbound,
                &context,
                &mut shared,
            );
            let mut alone = payload;
            let each = one_by_one(Profile::generic(), &context, &mut alone);
            assert_eq!(together, each, "{action}");
            assert_eq!(shared, alone, "{action}");
            repaired += usize::from(!together.is_empty());
        }
        // The comparison means something only if repairs happened.
        assert!(repaired >= 10, "{repaired} payloads repaired");
    }

    #[test]
    fn member_repairs_change_only_members_with_their_keys() {
        // Keys of every recorded payload, every key a member repair names, and a few others;
        // values each repair changes somewhere; every holder a repair asks about.
        let mut keys: Vec<String> = vec!["Timestamp".into(), "idtag".into(), "x".into()];
        for line in crate::fixtures::lines() {
            let mut record: Value = serde_json::from_str(line).unwrap();
            walk(&mut record["frame"], &mut |member, _| {
                keys.push(member.key.to_owned())
            });
        }
        keys.extend(repairs_by_key().keys().map(|key| (*key).to_owned()));
        keys.sort();
        keys.dedup();
        let values = [
            json!("charging"),
            json!("EVDISCONNECTED"),
            json!("l1-n"),
            json!("2023-10-19T15:28:07"),
            json!("2023-10-19T15:28:07+02"),
            json!("1970-01-01T00:00:00Z"),
            json!("not a date"),
            json!("12"),
            json!("165333.00"),
            json!("-12.5"),
            json!("\u{10}C04;ab12\u{e}"),
            json!(12),
            json!(12.5),
            json!({"x": 1}),
            json!(null),
        ];
        let holders = [
            None,
            Some("sampledValue"),
            Some("evse"),
            Some("idToken"),
            Some("transactionInfo"),
            Some("variableMonitoring"),
            Some("meterValue"),
        ];
        let actions = [
            "StatusNotification",
            "StopTransaction",
            "TransactionEvent",
            "MeterValues",
        ];
        let id_tag = Setting::IdTag(IdTagRules {
            strip_prefix: vec!["C".into()],
            after_separator: Some(";".into()),
            upper_case: true,
            max_length: Some(4),
        });
        let received_at = chrono::Utc::now();
        for (index, function) in functions().iter().enumerate() {
            let Some(Function::Member(repair, own)) = function else {
                continue;
            };
            let mut changed = 0;
            let setting = if REPAIRS[index].name == ID_TAG {
                &id_tag
            } else {
                &Setting::On
            };
            for version in [OcppVersion::V16, OcppVersion::V201] {
                for action in actions {
                    let context = Context {
                        version,
                        action,
                        received_at,
                    };
                    for key in &keys {
                        for holder in holders {
                            for value in &values {
                                let mut payload = json!({ key.as_str(): value });
                                if let Some(holder) = holder {
                                    payload = json!({ holder: [payload] });
                                }
                                let before = payload.clone();
                                let changes =
                                    walk::each_member(*repair, &context, setting, &mut payload);
                                if changes.is_empty() && payload == before {
                                    continue;
                                }
                                changed += 1;
                                assert!(
                                    own.iter().any(|keys| keys.contains(&key.as_str())),
                                    "{} changed {key} ({holder:?}, {value}) in {action}",
                                    REPAIRS[index].name
                                );
                            }
                        }
                    }
                }
            }
            // The values reach every repair: the check means something for each.
            assert!(changed > 0, "{} changed nothing", REPAIRS[index].name);
        }
    }

    #[test]
    fn every_listed_repair_has_a_function_or_is_textual() {
        for info in REPAIRS {
            let has_function = function(info.name).is_some();
            let special =
                matches!(info.direction, Direction::Text) || info.name == OCPP16_ON_OCPP201;
            assert!(has_function != special, "{}", info.name);
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in REPAIRS.iter().enumerate() {
            for b in &REPAIRS[i + 1..] {
                assert_ne!(a.name, b.name);
            }
        }
    }
}
