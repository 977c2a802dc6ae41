//! Configuration keys of both versions: the one table that maps OCPP 1.6 keys to OCPP 2.0.1
//! components and variables, and the `Component[/instance].Variable` names of everything else.
//!
//! An operator names a setting once, in either spelling: `HeartbeatInterval` reaches a 1.6
//! station as that key and a 2.0.1 station as `OCPPCommCtrlr.HeartbeatInterval`, and the 2.0.1
//! name reaches a 1.6 station as `HeartbeatInterval`. A 2.0.1 variable that has no 1.6 key is
//! written `Component[/instance][@evse[/connector]].Variable[/instance]`, e.g.
//! `OCPPCommCtrlr.MessageAttempts/TransactionEvent` or `EVSE@1.AvailabilityState`.

use rust_ocpp::v2_0_1::datatypes::component_type::ComponentType;
use rust_ocpp::v2_0_1::datatypes::evse_type::EVSEType;
use rust_ocpp::v2_0_1::datatypes::variable_type::VariableType;
use rust_ocpp::v2_0_1::enumerations::attribute_enum_type::AttributeEnumType;
use rust_ocpp::v2_0_1::enumerations::mutability_enum_type::MutabilityEnumType;
use rust_ocpp::v2_0_1::messages::notify_report::NotifyReportRequest;
use serde_json::Value;
use zaryad_model::{ConfigurationEntry, ConnectorType, ConnectorTypeReport};
use zaryad_wire::OcppVersion;

/// One row of the mapping table: a 1.6 key and the 2.0.1 variable that means the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyMapping {
    /// The OCPP 1.6 configuration key.
    pub v16: &'static str,
    /// The 2.0.1 component.
    pub component: &'static str,
    /// The 2.0.1 variable.
    pub variable: &'static str,
    /// The 2.0.1 variable instance, where the standard names one.
    pub variable_instance: Option<&'static str>,
}

const fn row(v16: &'static str, component: &'static str, variable: &'static str) -> KeyMapping {
    KeyMapping {
        v16,
        component,
        variable,
        variable_instance: None,
    }
}

const fn row_instance(
    v16: &'static str,
    component: &'static str,
    variable: &'static str,
    instance: &'static str,
) -> KeyMapping {
    KeyMapping {
        v16,
        component,
        variable,
        variable_instance: Some(instance),
    }
}

/// The 1.6 standard keys that have a 2.0.1 counterpart (OCPP 2.0.1 Part 2, appendix 3,
/// "Standardized components and variables"). 1.6 keys missing here (`NumberOfConnectors`,
/// `SupportedFeatureProfiles`, `LightIntensity`, …) have no single 2.0.1 variable.
pub const MAPPING: &[KeyMapping] = &[
    row("HeartbeatInterval", "OCPPCommCtrlr", "HeartbeatInterval"),
    row(
        "WebSocketPingInterval",
        "OCPPCommCtrlr",
        "WebSocketPingInterval",
    ),
    row("ResetRetries", "OCPPCommCtrlr", "ResetRetries"),
    row(
        "UnlockConnectorOnEVSideDisconnect",
        "OCPPCommCtrlr",
        "UnlockOnEVSideDisconnect",
    ),
    row_instance(
        "TransactionMessageAttempts",
        "OCPPCommCtrlr",
        "MessageAttempts",
        "TransactionEvent",
    ),
    row_instance(
        "TransactionMessageRetryInterval",
        "OCPPCommCtrlr",
        "MessageAttemptInterval",
        "TransactionEvent",
    ),
    row(
        "MeterValueSampleInterval",
        "SampledDataCtrlr",
        "TxUpdatedInterval",
    ),
    row(
        "MeterValuesSampledData",
        "SampledDataCtrlr",
        "TxUpdatedMeasurands",
    ),
    row(
        "StopTxnSampledData",
        "SampledDataCtrlr",
        "TxEndedMeasurands",
    ),
    row("ClockAlignedDataInterval", "AlignedDataCtrlr", "Interval"),
    row("MeterValuesAlignedData", "AlignedDataCtrlr", "Measurands"),
    row(
        "StopTxnAlignedData",
        "AlignedDataCtrlr",
        "TxEndedMeasurands",
    ),
    row("ConnectionTimeOut", "TxCtrlr", "EVConnectionTimeOut"),
    row(
        "StopTransactionOnEVSideDisconnect",
        "TxCtrlr",
        "StopTxOnEVSideDisconnect",
    ),
    row("StopTransactionOnInvalidId", "TxCtrlr", "StopTxOnInvalidId"),
    row("MaxEnergyOnInvalidId", "TxCtrlr", "MaxEnergyOnInvalidId"),
    row(
        "LocalAuthorizeOffline",
        "AuthCtrlr",
        "LocalAuthorizeOffline",
    ),
    row("LocalPreAuthorize", "AuthCtrlr", "LocalPreAuthorize"),
    row(
        "AuthorizeRemoteTxRequests",
        "AuthCtrlr",
        "AuthorizeRemoteStart",
    ),
    row(
        "AllowOfflineTxForUnknownId",
        "AuthCtrlr",
        "OfflineTxForUnknownIdEnabled",
    ),
    row("AuthorizationCacheEnabled", "AuthCacheCtrlr", "Enabled"),
    row("LocalAuthListEnabled", "LocalAuthListCtrlr", "Enabled"),
    row("LocalAuthListMaxLength", "LocalAuthListCtrlr", "Entries"),
    row(
        "SendLocalListMaxLength",
        "LocalAuthListCtrlr",
        "ItemsPerMessage",
    ),
    row(
        "ReserveConnectorZeroSupported",
        "ReservationCtrlr",
        "NonEvseSpecific",
    ),
    row(
        "ChargeProfileMaxStackLevel",
        "SmartChargingCtrlr",
        "ProfileStackLevel",
    ),
    row(
        "ChargingScheduleAllowedChargingRateUnit",
        "SmartChargingCtrlr",
        "RateUnit",
    ),
    row(
        "ChargingScheduleMaxPeriods",
        "SmartChargingCtrlr",
        "PeriodsPerSchedule",
    ),
    row(
        "ConnectorSwitch3to1PhaseSupported",
        "SmartChargingCtrlr",
        "Phases3to1",
    ),
    row_instance(
        "MaxChargingProfilesInstalled",
        "SmartChargingCtrlr",
        "Entries",
        "ChargingProfiles",
    ),
    row_instance(
        "GetConfigurationMaxKeys",
        "DeviceDataCtrlr",
        "ItemsPerMessage",
        "GetVariables",
    ),
];

/// A 2.0.1 variable of a component, as addressed on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableRef {
    /// The component name, e.g. `OCPPCommCtrlr`.
    pub component: String,
    /// The component instance, if any.
    pub component_instance: Option<String>,
    /// The EVSE the component belongs to, if any.
    pub evse_id: Option<u32>,
    /// The connector within that EVSE, if any.
    pub connector_id: Option<u32>,
    /// The variable name, e.g. `HeartbeatInterval`.
    pub variable: String,
    /// The variable instance, if any.
    pub variable_instance: Option<String>,
}

/// A key that names no setting in the station's version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is neither a 1.6 key with a 2.0.1 counterpart nor a 2.0.1 name \
     Component[/instance][@evse[/connector]].Variable[/instance]"
)]
pub struct UnknownKey(pub String);

impl VariableRef {
    /// Reads `Component[/instance][@evse[/connector]].Variable[/instance]`.
    pub fn parse(key: &str) -> Option<VariableRef> {
        let (component_part, variable_part) = key.trim().split_once('.')?;
        let (component_part, evse_part) = match component_part.rsplit_once('@') {
            Some((component, evse)) => (component, Some(evse)),
            None => (component_part, None),
        };
        let (component, component_instance) = name_and_instance(component_part)?;
        let (variable, variable_instance) = name_and_instance(variable_part)?;
        let (evse_id, connector_id) = match evse_part {
            None => (None, None),
            Some(evse) => {
                let (evse, connector) = match evse.split_once('/') {
                    Some((evse, connector)) => (evse, Some(connector.parse().ok()?)),
                    None => (evse, None),
                };
                (Some(evse.parse().ok()?), connector)
            }
        };
        Some(VariableRef {
            component,
            component_instance,
            evse_id,
            connector_id,
            variable,
            variable_instance,
        })
    }

    /// The variable of a mapping row.
    pub fn of_mapping(mapping: &KeyMapping) -> VariableRef {
        VariableRef {
            component: mapping.component.to_owned(),
            component_instance: None,
            evse_id: None,
            connector_id: None,
            variable: mapping.variable.to_owned(),
            variable_instance: mapping.variable_instance.map(str::to_owned),
        }
    }

    /// The variable as rust-ocpp's wire types address it.
    pub(crate) fn from_wire(component: &ComponentType, variable: &VariableType) -> VariableRef {
        let evse = component.evse.as_ref();
        VariableRef {
            component: component.name.clone(),
            component_instance: component.instance.clone(),
            evse_id: evse.and_then(|evse| u32::try_from(evse.id).ok()),
            connector_id: evse
                .and_then(|evse| evse.connector_id)
                .and_then(|id| u32::try_from(id).ok()),
            variable: variable.name.clone(),
            variable_instance: variable.instance.clone(),
        }
    }

    /// The component part of a wire request.
    pub(crate) fn component_type(&self) -> ComponentType {
        ComponentType {
            name: self.component.clone(),
            instance: self.component_instance.clone(),
            evse: self.evse_id.map(|id| EVSEType {
                id: i32::try_from(id).unwrap_or(i32::MAX),
                connector_id: self
                    .connector_id
                    .map(|id| i32::try_from(id).unwrap_or(i32::MAX)),
            }),
        }
    }

    /// The variable part of a wire request.
    pub(crate) fn variable_type(&self) -> VariableType {
        VariableType {
            name: self.variable.clone(),
            instance: self.variable_instance.clone(),
        }
    }

    /// The canonical text, the inverse of [`VariableRef::parse`].
    pub fn key(&self) -> String {
        let mut key = self.component.clone();
        if let Some(instance) = &self.component_instance {
            key.push('/');
            key.push_str(instance);
        }
        if let Some(evse_id) = self.evse_id {
            key.push_str(&format!("@{evse_id}"));
            if let Some(connector_id) = self.connector_id {
                key.push_str(&format!("/{connector_id}"));
            }
        }
        key.push('.');
        key.push_str(&self.variable);
        if let Some(instance) = &self.variable_instance {
            key.push('/');
            key.push_str(instance);
        }
        key
    }

    /// The mapping row this variable is the 2.0.1 side of, if any.
    fn mapping(&self) -> Option<&'static KeyMapping> {
        if self.component_instance.is_some() || self.evse_id.is_some() {
            return None;
        }
        MAPPING.iter().find(|mapping| {
            mapping.component.eq_ignore_ascii_case(&self.component)
                && mapping.variable.eq_ignore_ascii_case(&self.variable)
                && mapping.variable_instance.map(str::to_ascii_lowercase)
                    == self
                        .variable_instance
                        .as_deref()
                        .map(str::to_ascii_lowercase)
        })
    }
}

fn name_and_instance(part: &str) -> Option<(String, Option<String>)> {
    let (name, instance) = match part.split_once('/') {
        Some((name, instance)) => (name, Some(instance)),
        None => (part, None),
    };
    let valid = |text: &str| !text.is_empty() && !text.contains(['.', '@', '/']);
    if !valid(name) || instance.is_some_and(|instance| !valid(instance)) {
        return None;
    }
    Some((name.to_owned(), instance.map(str::to_owned)))
}

/// The mapping row of a 1.6 key; chargers and operators spell keys in any case.
fn mapping_of_v16(key: &str) -> Option<&'static KeyMapping> {
    MAPPING
        .iter()
        .find(|mapping| mapping.v16.eq_ignore_ascii_case(key.trim()))
}

/// The 2.0.1 variable a key names: a mapped 1.6 key, or a 2.0.1 name.
pub fn v201_variable(key: &str) -> Result<VariableRef, UnknownKey> {
    if let Some(mapping) = mapping_of_v16(key) {
        return Ok(VariableRef::of_mapping(mapping));
    }
    VariableRef::parse(key).ok_or_else(|| UnknownKey(key.to_owned()))
}

/// The 1.6 key a key names: a mapped 2.0.1 name becomes its 1.6 key, anything else is
/// already a 1.6 key (1.6 stations have vendor keys of every shape).
pub fn v16_key(key: &str) -> String {
    VariableRef::parse(key)
        .and_then(|variable| variable.mapping())
        .map_or_else(|| key.trim().to_owned(), |mapping| mapping.v16.to_owned())
}

/// The key in the station's own spelling: what the station's configuration is stored under.
pub fn native_key(version: OcppVersion, key: &str) -> Result<String, UnknownKey> {
    match version {
        OcppVersion::V16 => Ok(v16_key(key)),
        OcppVersion::V201 => v201_variable(key).map(|variable| variable.key()),
    }
}

/// The other version's name of a native key, when the table maps it.
pub fn alias(version: OcppVersion, native: &str) -> Option<String> {
    match version {
        OcppVersion::V16 => {
            mapping_of_v16(native).map(|mapping| VariableRef::of_mapping(mapping).key())
        }
        OcppVersion::V201 => VariableRef::parse(native)
            .and_then(|variable| variable.mapping())
            .map(|mapping| mapping.v16.to_owned()),
    }
}

/// True when a station's `current` value already is `desired`: numbers compare as numbers,
/// lists item by item ignoring order, case, spaces and quotes (`'Energy.Active.Import.Register',
/// 'Power.Active.Import'` is how Mennekes spells a measurand list).
pub fn same_value(current: &str, desired: &str) -> bool {
    fn items(text: &str) -> Vec<String> {
        let mut items: Vec<String> = text
            .split(',')
            .map(|item| {
                item.trim()
                    .trim_matches(['\'', '"'])
                    .trim()
                    .to_ascii_lowercase()
            })
            .filter(|item| !item.is_empty())
            .collect();
        items.sort();
        items.dedup();
        items
    }
    let (current, desired) = (current.trim(), desired.trim());
    match (current.parse::<f64>(), desired.parse::<f64>()) {
        (Ok(current), Ok(desired)) => current == desired,
        _ => items(current) == items(desired),
    }
}

/// One part of a 2.0.1 NotifyReport, read for the values it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPart {
    /// The request the report answers.
    pub request_id: i64,
    /// The part's number, from 0.
    pub seq_no: i64,
    /// True when more parts follow.
    pub tbc: bool,
    /// The actual values reported.
    pub entries: Vec<ConfigurationEntry>,
}

/// Reads the configuration values of a NotifyReport payload (already validated by the codec);
/// `None` when the payload is not a NotifyReport.
///
/// Only the `Actual` attribute is a configuration value; `Target`, `MinSet` and `MaxSet` are
/// limits and targets of the same variable.
pub fn report_part(payload: &Value) -> Option<ReportPart> {
    let report: NotifyReportRequest = serde_json::from_value(payload.clone()).ok()?;
    let mut entries = Vec::new();
    for data in report.report_data.unwrap_or_default() {
        let key = VariableRef::from_wire(&data.component, &data.variable).key();
        let actual = data
            .variable_attribute
            .iter()
            .find(|attribute| matches!(attribute.kind, None | Some(AttributeEnumType::Actual)));
        if let Some(attribute) = actual {
            entries.push(ConfigurationEntry {
                key,
                value: attribute.value.clone(),
                readonly: attribute
                    .mutability
                    .as_ref()
                    .map(|mutability| *mutability == MutabilityEnumType::ReadOnly),
            });
        }
    }
    Some(ReportPart {
        request_id: i64::from(report.request_id),
        seq_no: i64::from(report.seq_no),
        tbc: report.tbc.unwrap_or(false),
        entries,
    })
}

/// The items of a comma-separated configuration value as chargers write them: with spaces
/// (tscontech, C01-d), in single quotes (Mennekes, C01-e), or tokens joined where one is due
/// (ZJ Beny's `Current,Power`, C01-a). Items are trimmed of spaces and quotes; empty ones dropped.
pub fn list_values(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|item| item.trim().trim_matches(|c| c == '\'' || c == '"').trim())
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Plug types a 1.6 station tells in its configuration, under the keys its vendor profile names
/// (`connector-type-keys`; 1.6 has no standard key for them). A key may hold `{n}` for the
/// connector id (`Connector{n}Type` reads `Connector2Type` as connector 2); any other key's value
/// lists the plugs of connectors 1, 2, … in order (`GBT_DC,CCS2`) or names each
/// (`1:GBT_DC, 2:CCS2`). Items that name no known plug, and connector 0, are skipped.
pub fn connector_types(
    keys: &[String],
    entries: &[ConfigurationEntry],
) -> Vec<ConnectorTypeReport> {
    let mut found = Vec::new();
    let mut push = |evse_id: u32, name: &str| {
        let name = name.trim().trim_matches(|c| c == '\'' || c == '"');
        if let (true, Some(connector_type)) = (evse_id > 0, ConnectorType::from_ocpp(name)) {
            found.push(ConnectorTypeReport {
                evse_id,
                connector_id: 1,
                connector_type,
            });
        }
    };
    for entry in entries {
        let Some(value) = entry.value.as_deref() else {
            continue;
        };
        let Some(numbered) = keys
            .iter()
            .find_map(|pattern| key_matches(pattern, &entry.key))
        else {
            continue;
        };
        if let Some(evse_id) = numbered {
            push(evse_id, value);
            continue;
        }
        for (position, item) in list_values(value).iter().enumerate() {
            match item.split_once([':', '=']) {
                Some((id, name)) => {
                    if let Ok(evse_id) = id.trim().parse::<u32>() {
                        push(evse_id, name);
                    }
                }
                None => push(u32::try_from(position + 1).unwrap_or(0), item),
            }
        }
    }
    found
}

/// Whether configuration key `key` is `pattern`, case aside: `None` when not, `Some(None)` when
/// it is, `Some(Some(n))` when the pattern's `{n}` stands for connector `n` in the key.
fn key_matches(pattern: &str, key: &str) -> Option<Option<u32>> {
    let key = key.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    match pattern.split_once("{n}") {
        None => (key == pattern).then_some(None),
        Some((prefix, suffix)) => {
            let digits = key.strip_prefix(prefix)?.strip_suffix(suffix)?;
            if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok().map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(key: &str, value: &str) -> ConfigurationEntry {
        ConfigurationEntry {
            key: key.to_owned(),
            value: Some(value.to_owned()),
            readonly: Some(true),
        }
    }

    fn plugs(reports: &[ConnectorTypeReport]) -> Vec<(u32, &'static str)> {
        reports
            .iter()
            .map(|report| (report.evse_id, report.connector_type.as_str()))
            .collect()
    }

    #[test]
    fn plug_types_are_read_from_the_keys_a_profile_names() {
        let keys = vec!["GunType".to_owned(), "Connector{n}Type".to_owned()];
        let entries = [
            entry("guntype", "'GBT_DC', CCS2, Unknown"),
            entry("Connector4Type", "GB/T AC"),
            entry("Connector0Type", "cType2"),
            entry("ConnectorXType", "cType2"),
            entry("HeartbeatInterval", "300"),
        ];
        assert_eq!(
            plugs(&connector_types(&keys, &entries)),
            [(1, "gbt_dc"), (2, "ccs2"), (4, "gbt_ac")]
        );
        let named = [entry("GunType", "2:cCCS2, 1 = cGBT, x:cType2")];
        assert_eq!(
            plugs(&connector_types(&keys, &named)),
            [(2, "ccs2"), (1, "gbt_dc")]
        );
        // Without a profile that names the key, nothing is read into it.
        assert!(connector_types(&[], &entries).is_empty());
    }

    #[test]
    fn lists_are_read_however_written() {
        assert_eq!(
            list_values("Core, FirmwareManagement, RemoteTrigger"),
            ["Core", "FirmwareManagement", "RemoteTrigger"]
        );
        assert_eq!(
            list_values("'Energy.Active.Import.Register','Power.Active.Import'"),
            ["Energy.Active.Import.Register", "Power.Active.Import"]
        );
        assert_eq!(list_values("Current,Power"), ["Current", "Power"]);
        assert!(list_values(" , ").is_empty());
    }

    #[test]
    fn every_mapped_key_round_trips_both_ways() {
        for mapping in MAPPING {
            let variable = v201_variable(mapping.v16).unwrap();
            assert_eq!(variable, VariableRef::of_mapping(mapping));
            let name = variable.key();
            assert_eq!(VariableRef::parse(&name), Some(variable), "{name}");
            assert_eq!(v16_key(&name), mapping.v16, "{name}");
            assert_eq!(alias(OcppVersion::V16, mapping.v16), Some(name.clone()));
            assert_eq!(
                alias(OcppVersion::V201, &name).as_deref(),
                Some(mapping.v16)
            );
        }
        let v16: Vec<&str> = MAPPING.iter().map(|mapping| mapping.v16).collect();
        let mut unique = v16.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), v16.len(), "a 1.6 key is mapped twice");
    }

    #[test]
    fn the_documented_examples_map() {
        assert_eq!(
            v201_variable("HeartbeatInterval").unwrap().key(),
            "OCPPCommCtrlr.HeartbeatInterval"
        );
        assert_eq!(
            v201_variable("heartbeatinterval").unwrap().key(),
            "OCPPCommCtrlr.HeartbeatInterval"
        );
        assert_eq!(
            v201_variable("MeterValueSampleInterval").unwrap().key(),
            "SampledDataCtrlr.TxUpdatedInterval"
        );
        assert_eq!(
            v201_variable("MeterValuesSampledData").unwrap().key(),
            "SampledDataCtrlr.TxUpdatedMeasurands"
        );
        assert_eq!(
            v201_variable("TransactionMessageAttempts").unwrap().key(),
            "OCPPCommCtrlr.MessageAttempts/TransactionEvent"
        );
        assert_eq!(
            v16_key("OCPPCommCtrlr.HeartbeatInterval"),
            "HeartbeatInterval"
        );
        assert_eq!(v16_key("VendorKey"), "VendorKey");
        assert_eq!(
            native_key(OcppVersion::V16, "SampledDataCtrlr.TxUpdatedInterval").unwrap(),
            "MeterValueSampleInterval"
        );
    }

    #[test]
    fn unmapped_201_variables_are_addressed_by_name() {
        let variable = v201_variable("ClockCtrlr/Main.TimeSource").unwrap();
        assert_eq!(variable.component, "ClockCtrlr");
        assert_eq!(variable.component_instance.as_deref(), Some("Main"));
        assert_eq!(variable.variable, "TimeSource");
        assert_eq!(variable.key(), "ClockCtrlr/Main.TimeSource");
        let evse = v201_variable("Connector@1/2.ConnectorType").unwrap();
        assert_eq!((evse.evse_id, evse.connector_id), (Some(1), Some(2)));
        assert_eq!(evse.key(), "Connector@1/2.ConnectorType");
        assert_eq!(
            alias(OcppVersion::V201, "Connector@1/2.ConnectorType"),
            None
        );
        for bad in ["NoDot", "Comp.", ".Var", "Comp@x.Var", "A/b/c.V", ""] {
            assert!(v201_variable(bad).is_err(), "{bad}");
        }
        assert_eq!(
            native_key(OcppVersion::V201, "VendorKey").unwrap_err(),
            UnknownKey("VendorKey".into())
        );
    }

    #[test]
    fn values_compare_like_a_station_means_them() {
        assert!(same_value("300", "300"));
        assert!(same_value(" 300 ", "300.0"));
        assert!(!same_value("60", "300"));
        assert!(same_value(
            "'Energy.Active.Import.Register','Power.Active.Import'",
            "Power.Active.Import, Energy.Active.Import.Register"
        ));
        assert!(!same_value(
            "Energy.Active.Import.Register",
            "Energy.Active.Import.Register,SoC"
        ));
    }

    #[test]
    fn report_parts_keep_actual_values() {
        let payload = json!({
            "requestId": 7, "seqNo": 0, "tbc": true, "generatedAt": "2026-03-01T10:00:00Z",
            "reportData": [
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
                 "variableAttribute": [{"value": "300", "mutability": "ReadWrite"}]},
                {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"},
                 "variableAttribute": [{"type": "MaxSet", "value": "22000"},
                                       {"type": "Actual", "value": "11000", "mutability": "ReadOnly"}]},
                {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"},
                 "variableAttribute": [{"type": "Target"}]}
            ]
        });
        let part = report_part(&payload).unwrap();
        assert_eq!((part.request_id, part.seq_no, part.tbc), (7, 0, true));
        assert_eq!(
            part.entries,
            vec![
                ConfigurationEntry {
                    key: "OCPPCommCtrlr.HeartbeatInterval".into(),
                    value: Some("300".into()),
                    readonly: Some(false),
                },
                ConfigurationEntry {
                    key: "EVSE@1.Power".into(),
                    value: Some("11000".into()),
                    readonly: Some(true),
                },
            ]
        );
        assert_eq!(report_part(&json!({"seqNo": 0})), None);
    }
}
