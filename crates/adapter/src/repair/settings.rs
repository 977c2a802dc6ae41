//! The parameters a profile gives a repair, read from its TOML value.

use std::collections::BTreeMap;

use chrono_tz::Tz;

use super::{
    ENUM_ALIAS, ID_TAG, METER_UNITS, OUTBOUND_ID_TAG_LENGTH, SAMPLE_SCALE, TIMESTAMP_LOCAL_ZONE,
};

/// How a profile configured one repair.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    /// On, without parameters.
    On,
    /// `timestamp-local-zone`: the charger's wall-clock zone.
    Zone {
        /// The zone, e.g. `Asia/Seoul`.
        zone: Tz,
        /// True when a `Z` from this charger is local time too (not only offsetless times).
        labelled_utc: bool,
    },
    /// `enum-alias`: per field, vendor spelling → spec spelling.
    Aliases(BTreeMap<String, BTreeMap<String, String>>),
    /// `id-tag`: the clean-up rules.
    IdTag(IdTagRules),
    /// `meter-units`: the unit energy and power are in when the charger names none.
    MeterUnits {
        /// `kWh` or `Wh`.
        energy: Option<String>,
        /// `kW` or `W`.
        power: Option<String>,
    },
    /// `sample-scale`: measurand → factor.
    Scale(BTreeMap<String, f64>),
    /// `outbound-id-tag-length`: the longest id tag the charger takes.
    MaxLength(usize),
}

/// How the `id-tag` repair cleans a tag.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdTagRules {
    /// Prefixes to strip (Dongah's `C` before the card number).
    pub strip_prefix: Vec<String>,
    /// Keep only what follows the last of these separators (payment terminals' `;`).
    pub after_separator: Option<String>,
    /// Upper-case the tag (hex card UIDs).
    pub upper_case: bool,
    /// Keep at most this many characters.
    pub max_length: Option<usize>,
}

/// Reads the value a profile gives repair `name`: `true` (on), `false` (off: `None`), or a
/// table of parameters. The error says what is wrong, for the profile's error message.
pub(crate) fn parse_setting(name: &str, value: &toml::Value) -> Result<Option<Setting>, String> {
    if let toml::Value::Boolean(on) = value {
        return if !on {
            Ok(None)
        } else if needs_parameters(name) {
            Err(format!("repair {name} needs parameters: {}", usage(name)))
        } else {
            Ok(Some(Setting::On))
        };
    }
    let setting = match name {
        TIMESTAMP_LOCAL_ZONE => zone(value)?,
        ENUM_ALIAS => Setting::Aliases(aliases(value)?),
        ID_TAG => Setting::IdTag(id_tag(value)?),
        METER_UNITS => meter_units(value)?,
        SAMPLE_SCALE => Setting::Scale(scale(value)?),
        OUTBOUND_ID_TAG_LENGTH => Setting::MaxLength(length(value)?),
        _ => match value {
            toml::Value::Table(table) if table.is_empty() => Setting::On,
            _ => {
                return Err(format!(
                    "repair {name} takes no parameters: write {name} = true"
                ));
            }
        },
    };
    Ok(Some(setting))
}

fn needs_parameters(name: &str) -> bool {
    matches!(
        name,
        TIMESTAMP_LOCAL_ZONE | ENUM_ALIAS | METER_UNITS | SAMPLE_SCALE | OUTBOUND_ID_TAG_LENGTH
    )
}

fn usage(name: &str) -> &'static str {
    match name {
        TIMESTAMP_LOCAL_ZONE => "{ zone = \"Asia/Seoul\", labelled-utc = true }",
        ENUM_ALIAS => "{ reason = { EnergyLimitReached = \"Remote\" } }",
        METER_UNITS => "{ energy = \"kWh\", power = \"kW\" }",
        SAMPLE_SCALE => "{ \"Power.Active.Import\" = 10 }",
        OUTBOUND_ID_TAG_LENGTH => "16",
        _ => "true",
    }
}

fn table<'a>(value: &'a toml::Value, what: &str) -> Result<&'a toml::Table, String> {
    value
        .as_table()
        .ok_or_else(|| format!("{what} must be a table, e.g. {}", usage(what)))
}

fn known_keys(table: &toml::Table, what: &str, known: &[&str]) -> Result<(), String> {
    match table.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(format!(
            "{what} has no parameter {key:?} (it takes {})",
            known.join(", ")
        )),
        None => Ok(()),
    }
}

fn zone(value: &toml::Value) -> Result<Setting, String> {
    let table = table(value, TIMESTAMP_LOCAL_ZONE)?;
    known_keys(table, TIMESTAMP_LOCAL_ZONE, &["zone", "labelled-utc"])?;
    let name = table
        .get("zone")
        .and_then(toml::Value::as_str)
        .ok_or_else(|| format!("{TIMESTAMP_LOCAL_ZONE} needs zone = \"Area/City\""))?;
    let zone: Tz = name
        .parse()
        .map_err(|_| format!("{name:?} is not an IANA time zone (e.g. \"Asia/Seoul\")"))?;
    let labelled_utc = match table.get("labelled-utc") {
        None => false,
        Some(toml::Value::Boolean(flag)) => *flag,
        Some(_) => return Err("labelled-utc must be true or false".to_owned()),
    };
    Ok(Setting::Zone { zone, labelled_utc })
}

fn strings(value: &toml::Value, what: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for (key, value) in table(value, what)? {
        let text = value
            .as_str()
            .ok_or_else(|| format!("{what}: {key:?} must map to a string"))?;
        map.insert(key.clone(), text.to_owned());
    }
    Ok(map)
}

fn aliases(value: &toml::Value) -> Result<BTreeMap<String, BTreeMap<String, String>>, String> {
    let mut fields = BTreeMap::new();
    for (field, spellings) in table(value, ENUM_ALIAS)? {
        fields.insert(
            field.clone(),
            strings(spellings, &format!("{ENUM_ALIAS}.{field}"))?,
        );
    }
    Ok(fields)
}

fn id_tag(value: &toml::Value) -> Result<IdTagRules, String> {
    let table = table(value, ID_TAG)?;
    known_keys(
        table,
        ID_TAG,
        &[
            "strip-prefix",
            "after-separator",
            "upper-case",
            "max-length",
        ],
    )?;
    let mut rules = IdTagRules::default();
    match table.get("strip-prefix") {
        None => {}
        Some(toml::Value::String(prefix)) => rules.strip_prefix.push(prefix.clone()),
        Some(toml::Value::Array(prefixes)) => {
            for prefix in prefixes {
                let prefix = prefix.as_str().ok_or("strip-prefix must hold strings")?;
                rules.strip_prefix.push(prefix.to_owned());
            }
        }
        Some(_) => return Err("strip-prefix must be a string or a list of strings".to_owned()),
    }
    rules.after_separator = match table.get("after-separator") {
        None => None,
        Some(toml::Value::String(separator)) if !separator.is_empty() => Some(separator.clone()),
        Some(_) => return Err("after-separator must be a non-empty string".to_owned()),
    };
    rules.upper_case = match table.get("upper-case") {
        None => false,
        Some(toml::Value::Boolean(flag)) => *flag,
        Some(_) => return Err("upper-case must be true or false".to_owned()),
    };
    rules.max_length = table.get("max-length").map(length).transpose()?;
    Ok(rules)
}

fn length(value: &toml::Value) -> Result<usize, String> {
    value
        .as_integer()
        .and_then(|length| usize::try_from(length).ok())
        .filter(|length| *length > 0)
        .ok_or_else(|| "a length must be a positive integer".to_owned())
}

fn meter_units(value: &toml::Value) -> Result<Setting, String> {
    let table = table(value, METER_UNITS)?;
    known_keys(table, METER_UNITS, &["energy", "power"])?;
    let unit = |key: &str, allowed: &[&str]| -> Result<Option<String>, String> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(unit)) if allowed.contains(&unit.as_str()) => {
                Ok(Some(unit.clone()))
            }
            Some(_) => Err(format!(
                "{METER_UNITS}.{key} must be one of {}",
                allowed.join(", ")
            )),
        }
    };
    let energy = unit("energy", &["Wh", "kWh"])?;
    let power = unit("power", &["W", "kW"])?;
    if energy.is_none() && power.is_none() {
        return Err(format!("{METER_UNITS} needs energy or power"));
    }
    Ok(Setting::MeterUnits { energy, power })
}

fn scale(value: &toml::Value) -> Result<BTreeMap<String, f64>, String> {
    let mut factors = BTreeMap::new();
    for (measurand, factor) in table(value, SAMPLE_SCALE)? {
        let factor = match factor {
            toml::Value::Integer(factor) => *factor as f64,
            toml::Value::Float(factor) => *factor,
            _ => {
                return Err(format!(
                    "{SAMPLE_SCALE}: {measurand:?} must map to a number"
                ));
            }
        };
        if !factor.is_finite() || factor <= 0.0 {
            return Err(format!(
                "{SAMPLE_SCALE}: the factor of {measurand:?} must be positive"
            ));
        }
        factors.insert(measurand.clone(), factor);
    }
    Ok(factors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> toml::Value {
        let table: toml::Table = toml::from_str(&format!("x = {text}")).unwrap();
        table["x"].clone()
    }

    #[test]
    fn settings_are_read_and_checked() {
        assert_eq!(
            parse_setting("enum-case", &value("true")),
            Ok(Some(Setting::On))
        );
        assert_eq!(parse_setting("enum-case", &value("false")), Ok(None));
        assert!(parse_setting("enum-case", &value("3")).is_err());
        let zone = parse_setting(TIMESTAMP_LOCAL_ZONE, &value(r#"{ zone = "Asia/Seoul" }"#));
        assert_eq!(
            zone,
            Ok(Some(Setting::Zone {
                zone: chrono_tz::Asia::Seoul,
                labelled_utc: false
            }))
        );
        let bad = parse_setting(TIMESTAMP_LOCAL_ZONE, &value(r#"{ zone = "Mars/Base" }"#));
        assert!(bad.unwrap_err().contains("IANA"));
        assert!(parse_setting(TIMESTAMP_LOCAL_ZONE, &value("true")).is_err());
        let units = parse_setting(METER_UNITS, &value(r#"{ energy = "MWh" }"#));
        assert!(units.unwrap_err().contains("Wh, kWh"));
        let tag = parse_setting(
            ID_TAG,
            &value(r#"{ strip-prefix = ["C"], max-length = 16 }"#),
        );
        assert_eq!(
            tag,
            Ok(Some(Setting::IdTag(IdTagRules {
                strip_prefix: vec!["C".into()],
                max_length: Some(16),
                ..IdTagRules::default()
            })))
        );
        assert!(parse_setting(ID_TAG, &value(r#"{ strip = "C" }"#)).is_err());
        assert_eq!(
            parse_setting(OUTBOUND_ID_TAG_LENGTH, &value("16")),
            Ok(Some(Setting::MaxLength(16)))
        );
    }
}
