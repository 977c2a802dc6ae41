//! Vendor profiles: which repairs a charger needs and how to read its vendor data, as data.
//!
//! A profile is a TOML text (the server reads `config/vendors/*.toml`):
//!
//! ```toml
//! description = "tscontech TSCT-2007CP (Korea)"
//! # extends = "generic"          # the default: the generic repairs, plus the ones below
//!
//! [[match]]                      # any rule may match; the most specific rule wins
//! vendor = "tscontech*"          # glob: * any run, ? one character; case does not matter
//! model = "TSCT-*"
//!
//! [repairs]
//! timestamp-local-zone = { zone = "Asia/Seoul", labelled-utc = true }
//! enum-alias = { measurand = { "Current.Export" = "Current.Import" } }
//! outbound-compact-data = true
//!
//! [[data-transfer]]
//! vendor-id = "tscontech"
//! message-id = "cpSts"
//! samples = [{ path = "[0].sampledValue[0].temperature", measurand = "Temperature", unit = "Celsius" }]
//! ```
//!
//! [`ProfileSet`] holds the loaded profiles and picks one per station: the operator's pinned
//! profile, else the most specific match on the BootNotification's vendor, model and firmware
//! (or the station id), else `generic`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;
use zaryad_model::{ConnectorType, DataTransferStatus};

use crate::repair::{self, Direction, REPAIRS, Setting};
use crate::vendor_data::{DataTransferDecoder, SampleSpec, ValuePath};

/// The name of the profile that serves every charger no other profile claims.
pub const GENERIC: &str = "generic";

/// Why a profile text is not a usable profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ProfileError {
    /// The line (from 1) the problem is on.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// A glob over a BootNotification field: `*` matches any run of characters, `?` one; case
/// does not matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    lowered: Vec<char>,
}

impl Pattern {
    /// A pattern from its text.
    pub fn new(text: &str) -> Pattern {
        Pattern {
            text: text.to_owned(),
            lowered: text.to_lowercase().chars().collect(),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.to_lowercase().chars().collect();
        glob(&self.lowered, &text)
    }

    /// How many characters the pattern fixes: more is more specific.
    fn literal_len(&self) -> usize {
        self.lowered
            .iter()
            .filter(|c| !matches!(c, '*' | '?'))
            .count()
    }
}

/// Iterative glob matching with one backtracking point per `*` (linear in practice).
fn glob(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if *c == '?' || *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// One `[[match]]` rule: every field it names must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchRule {
    /// BootNotification vendor (1.6 `chargePointVendor`, 2.0.1 `vendorName`).
    pub vendor: Option<Pattern>,
    /// BootNotification model.
    pub model: Option<Pattern>,
    /// BootNotification firmware version.
    pub firmware: Option<Pattern>,
    /// The station's identity (chargers that say little in their boot: `GRS-*`).
    pub station_id: Option<Pattern>,
}

impl MatchRule {
    fn fields(&self) -> [(&'static str, Option<&Pattern>); 4] {
        [
            ("vendor", self.vendor.as_ref()),
            ("model", self.model.as_ref()),
            ("firmware", self.firmware.as_ref()),
            ("station_id", self.station_id.as_ref()),
        ]
    }

    /// The rule's specificity when it matches `facts`: more fields, then more fixed
    /// characters, win.
    fn score(&self, facts: &StationFacts<'_>) -> Option<(usize, usize)> {
        let values = [
            facts.vendor,
            facts.model,
            facts.firmware,
            Some(facts.station_id),
        ];
        let mut score = (0, 0);
        for ((_, pattern), value) in self.fields().into_iter().zip(values) {
            let Some(pattern) = pattern else {
                continue;
            };
            if !pattern.matches(value?) {
                return None;
            }
            score.0 += 1;
            score.1 += pattern.literal_len();
        }
        Some(score)
    }
}

impl fmt::Display for MatchRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, pattern) in self.fields() {
            if let Some(pattern) = pattern {
                if !first {
                    f.write_str(" ")?;
                }
                write!(f, "{name}={}", pattern.as_str())?;
                first = false;
            }
        }
        Ok(())
    }
}

/// A vendor profile: match rules, repairs with their settings, DataTransfer decoders.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    name: String,
    description: Option<String>,
    extends: Option<(String, usize)>,
    rules: Vec<MatchRule>,
    own_repairs: BTreeMap<String, Option<Setting>>,
    repairs: BTreeMap<String, Setting>,
    /// The repairs it turns on as indexes into [`REPAIRS`], in that (the running) order, with
    /// their settings: every CALL runs them, so no name is looked up per frame.
    enabled: Vec<(usize, Setting)>,
    own_decoders: Vec<DataTransferDecoder>,
    decoders: Vec<DataTransferDecoder>,
    connector_types: Vec<(u32, ConnectorType)>,
    connector_type_keys: Vec<String>,
}

/// The profile file as written; checked and turned into a [`Profile`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawProfile {
    name: Option<String>,
    description: Option<String>,
    extends: Option<Spanned<String>>,
    #[serde(default, rename = "match")]
    rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    repairs: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    data_transfer: Vec<Spanned<RawDecoder>>,
    #[serde(default)]
    connector_types: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    connector_type_keys: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRule {
    vendor: Option<String>,
    model: Option<String>,
    firmware: Option<String>,
    station_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDecoder {
    vendor_id: String,
    message_id: Option<String>,
    answer: Option<String>,
    reply_data: Option<String>,
    connector_id: Option<String>,
    transaction_id: Option<String>,
    id_tag: Option<String>,
    timestamp: Option<String>,
    timestamp_zone: Option<String>,
    #[serde(default)]
    samples: Vec<RawSample>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    connector_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSample {
    path: String,
    measurand: String,
    unit: Option<String>,
    phase: Option<String>,
    context: Option<String>,
}

/// The line (from 1) of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |before| before.matches('\n').count() + 1)
}

impl Profile {
    /// Reads a profile named `name` (the file's stem, unless the file says `name = …`) from
    /// its TOML text. The error names the line and what is wrong there.
    pub fn from_toml(name: &str, text: &str) -> Result<Profile, ProfileError> {
        let error_at = |offset: usize, reason: String| ProfileError {
            line: line_of(text, offset),
            reason,
        };
        let raw: RawProfile = toml::from_str(text).map_err(|error| ProfileError {
            line: error.span().map_or(1, |span| line_of(text, span.start)),
            reason: error.message().trim().to_owned(),
        })?;
        let name = raw.name.unwrap_or_else(|| name.to_owned());
        if name.trim().is_empty() {
            return Err(error_at(0, "the profile needs a name".to_owned()));
        }
        let is_generic = name == GENERIC;
        let extends = match raw.extends {
            Some(base) if base.get_ref() == "none" => None,
            Some(base) if is_generic => {
                return Err(error_at(
                    base.span().start,
                    "the generic profile extends nothing".to_owned(),
                ));
            }
            Some(base) => Some((base.get_ref().clone(), line_of(text, base.span().start))),
            None if is_generic => None,
            None => Some((GENERIC.to_owned(), 1)),
        };
        let mut rules = Vec::new();
        for rule in raw.rules {
            let start = rule.span().start;
            let rule = rule.into_inner();
            let pattern = |text: Option<String>| -> Result<Option<Pattern>, ProfileError> {
                match text {
                    Some(text) if text.trim().is_empty() => Err(error_at(
                        start,
                        "a match pattern must not be empty".to_owned(),
                    )),
                    other => Ok(other.map(|text| Pattern::new(&text))),
                }
            };
            let rule = MatchRule {
                vendor: pattern(rule.vendor)?,
                model: pattern(rule.model)?,
                firmware: pattern(rule.firmware)?,
                station_id: pattern(rule.station_id)?,
            };
            if rule.fields().iter().all(|(_, pattern)| pattern.is_none()) {
                return Err(error_at(
                    start,
                    "a [[match]] rule needs vendor, model, firmware or station-id".to_owned(),
                ));
            }
            rules.push(rule);
        }
        if is_generic && !rules.is_empty() {
            return Err(error_at(
                0,
                "the generic profile serves every charger no other profile claims; it has no [[match]] rules".to_owned(),
            ));
        }
        let mut own_repairs = BTreeMap::new();
        for (key, value) in raw.repairs {
            let offset = key.span().start;
            let repair_name = key.into_inner();
            let Some(info) = repair::info(&repair_name) else {
                let known: Vec<&str> = REPAIRS.iter().map(|info| info.name).collect();
                return Err(error_at(
                    offset,
                    format!(
                        "unknown repair {repair_name:?} (known: {})",
                        known.join(", ")
                    ),
                ));
            };
            let setting = repair::parse_setting(&repair_name, value.get_ref())
                .map_err(|reason| error_at(value.span().start, reason))?;
            if is_generic && info.money && setting.is_some() {
                return Err(error_at(
                    offset,
                    format!(
                        "repair {repair_name} can change what a session costs; the generic profile holds only repairs that cannot, so list it in a vendor profile"
                    ),
                ));
            }
            own_repairs.insert(repair_name, setting);
        }
        let mut own_decoders = Vec::new();
        for decoder in raw.data_transfer {
            let offset = decoder.span().start;
            own_decoders.push(
                decoder_from(decoder.into_inner()).map_err(|reason| error_at(offset, reason))?,
            );
        }
        let mut connector_types = Vec::new();
        for (evse, kind) in raw.connector_types {
            let evse_id: u32 = evse.get_ref().trim().parse().map_err(|_| {
                error_at(
                    evse.span().start,
                    format!(
                        "connector-types keys are EVSE ids (1.6 connector ids), not {:?}",
                        evse.get_ref()
                    ),
                )
            })?;
            let connector_type = ConnectorType::from_ocpp(kind.get_ref()).ok_or_else(|| {
                error_at(
                    kind.span().start,
                    format!("{:?} is not a known connector type (e.g. cGBT, GBT_AC, cCCS1, cCCS2, cG105, cType1, cType2)", kind.get_ref()),
                )
            })?;
            connector_types.push((evse_id, connector_type));
        }
        let mut connector_type_keys = Vec::new();
        for key in raw.connector_type_keys {
            let text = key.get_ref().trim();
            if text.is_empty() || text.matches("{n}").count() > 1 {
                return Err(error_at(
                    key.span().start,
                    format!(
                        "connector-type-keys names 1.6 configuration keys, each with at most one {{n}} for the connector id, not {:?}",
                        key.get_ref()
                    ),
                ));
            }
            connector_type_keys.push(text.to_owned());
        }
        let mut profile = Profile {
            name,
            description: raw.description,
            extends,
            rules,
            own_repairs,
            repairs: BTreeMap::new(),
            enabled: Vec::new(),
            own_decoders,
            decoders: Vec::new(),
            connector_types,
            connector_type_keys,
        };
        let base = if profile.extends.is_some() {
            Some(Profile::generic())
        } else {
            None
        };
        profile.resolve(base);
        Ok(profile)
    }

    /// The built-in generic profile: every repair that cannot change money, nothing else.
    /// `config/vendors/generic.toml`, when present, replaces it.
    pub fn generic() -> &'static Profile {
        static GENERIC_PROFILE: LazyLock<Profile> = LazyLock::new(|| {
            let mut repairs = BTreeMap::new();
            for info in REPAIRS {
                let generic = !info.money
                    && info.direction != Direction::Text
                    && !matches!(
                        info.name,
                        repair::OCPP16_ON_OCPP201
                            | repair::OUTBOUND_COMPACT_DATA
                            | repair::OUTBOUND_INTEGER_NUMBERS
                            | repair::OUTBOUND_ID_TAG_LENGTH
                    );
                if generic {
                    repairs.insert(info.name.to_owned(), Some(Setting::On));
                }
            }
            let mut profile = Profile {
                name: GENERIC.to_owned(),
                description: Some(
                    "every charger no other profile claims: repairs that cannot change money"
                        .to_owned(),
                ),
                extends: None,
                rules: Vec::new(),
                own_repairs: repairs,
                repairs: BTreeMap::new(),
                enabled: Vec::new(),
                own_decoders: Vec::new(),
                decoders: Vec::new(),
                connector_types: Vec::new(),
                connector_type_keys: Vec::new(),
            };
            profile.resolve(None);
            profile
        });
        &GENERIC_PROFILE
    }

    /// Computes the effective repairs and decoders over `base`'s.
    fn resolve(&mut self, base: Option<&Profile>) {
        let mut repairs = base.map(|base| base.repairs.clone()).unwrap_or_default();
        for (name, setting) in &self.own_repairs {
            match setting {
                Some(setting) => {
                    repairs.insert(name.clone(), setting.clone());
                }
                None => {
                    repairs.remove(name);
                }
            }
        }
        self.enabled = REPAIRS
            .iter()
            .enumerate()
            .filter_map(|(index, info)| Some((index, repairs.get(info.name)?.clone())))
            .collect();
        self.repairs = repairs;
        self.decoders = self.own_decoders.clone();
        if let Some(base) = base {
            self.decoders.extend(base.decoders.iter().cloned());
            for key in &base.connector_type_keys {
                if !self.connector_type_keys.contains(key) {
                    self.connector_type_keys.push(key.clone());
                }
            }
        }
    }

    /// The profile's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What it is for.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The profile whose repairs and decoders it builds on, if any.
    pub fn extends(&self) -> Option<&str> {
        self.extends.as_ref().map(|(name, _)| name.as_str())
    }

    /// Its match rules.
    pub fn rules(&self) -> &[MatchRule] {
        &self.rules
    }

    /// The setting of repair `name`, when the profile turns it on.
    pub fn setting(&self, name: &str) -> Option<&Setting> {
        self.repairs.get(name)
    }

    /// The repairs it turns on, as indexes into [`REPAIRS`] in the order they run, with their
    /// settings.
    pub(crate) fn enabled_repairs(&self) -> &[(usize, Setting)] {
        &self.enabled
    }

    /// The names of the repairs it turns on, in the order they run.
    pub fn repair_names(&self) -> Vec<&'static str> {
        REPAIRS
            .iter()
            .filter(|info| self.repairs.contains_key(info.name))
            .map(|info| info.name)
            .collect()
    }

    /// Its DataTransfer decoders, its own before its base's.
    pub fn decoders(&self) -> &[DataTransferDecoder] {
        &self.decoders
    }

    /// Plug types the profile declares per EVSE (a model whose guns are known).
    pub fn connector_types(&self) -> &[(u32, ConnectorType)] {
        &self.connector_types
    }

    /// The 1.6 configuration keys in which the station reports its plug types (see
    /// [`crate::configuration::connector_types`]).
    pub fn connector_type_keys(&self) -> &[String] {
        &self.connector_type_keys
    }
}

fn decoder_from(raw: RawDecoder) -> Result<DataTransferDecoder, String> {
    let answer = match raw.answer.as_deref() {
        None | Some("Accepted") => DataTransferStatus::Accepted,
        Some("Rejected") => DataTransferStatus::Rejected,
        Some(other) => {
            return Err(format!("answer {other:?} is not Accepted or Rejected"));
        }
    };
    let path = |text: Option<String>| text.map(|text| ValuePath::parse(&text)).transpose();
    let timestamp_zone = match raw.timestamp_zone {
        None => None,
        Some(name) => Some(
            name.parse::<Tz>()
                .map_err(|_| format!("{name:?} is not an IANA time zone (e.g. \"Asia/Seoul\")"))?,
        ),
    };
    let mut samples = Vec::new();
    for sample in raw.samples {
        if sample.measurand.trim().is_empty() {
            return Err("a sample needs a measurand".to_owned());
        }
        samples.push(SampleSpec {
            path: ValuePath::parse(&sample.path)?,
            measurand: sample.measurand,
            unit: sample.unit,
            phase: sample.phase,
            context: sample.context,
        });
    }
    let mut attributes = Vec::new();
    for (name, at) in raw.attributes {
        attributes.push((name, ValuePath::parse(&at)?));
    }
    Ok(DataTransferDecoder {
        vendor_id: Pattern::new(&raw.vendor_id),
        message_id: raw.message_id.map(|id| Pattern::new(&id)),
        answer,
        reply_data: raw.reply_data,
        connector_id: path(raw.connector_id)?,
        transaction_id: path(raw.transaction_id)?,
        id_tag: path(raw.id_tag)?,
        timestamp: path(raw.timestamp)?,
        timestamp_zone,
        samples,
        attributes,
        connector_type: path(raw.connector_type)?,
    })
}

/// What a station says about itself, for choosing its profile.
#[derive(Debug, Clone, Copy, Default)]
pub struct StationFacts<'a> {
    /// The station's identity.
    pub station_id: &'a str,
    /// BootNotification vendor.
    pub vendor: Option<&'a str>,
    /// BootNotification model.
    pub model: Option<&'a str>,
    /// BootNotification firmware version.
    pub firmware: Option<&'a str>,
    /// The profile the operator pinned, if any.
    pub pinned: Option<&'a str>,
}

/// Why a station got its profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectionReason {
    /// The operator pinned it.
    Pinned,
    /// A match rule matched; the rule as text (`vendor=XQ model=ocpp_ac_*`).
    Matched(String),
    /// Nothing matched: the generic profile.
    Default,
    /// The operator pinned a profile that is not loaded; the reason the fallback was chosen.
    PinnedMissing {
        /// The pinned name.
        pinned: String,
        /// Why the profile used instead was chosen.
        fallback: Box<SelectionReason>,
    },
}

impl fmt::Display for SelectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectionReason::Pinned => f.write_str("pinned"),
            SelectionReason::Matched(rule) => write!(f, "matched {rule}"),
            SelectionReason::Default => f.write_str("default"),
            SelectionReason::PinnedMissing { pinned, fallback } => {
                write!(f, "pinned profile {pinned:?} is not loaded; {fallback}")
            }
        }
    }
}

/// The profile chosen for a station, and why.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The profile.
    pub profile: Arc<Profile>,
    /// Why.
    pub reason: SelectionReason,
}

/// Why a set of profiles does not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("profile {profile}: line {line}: {reason}")]
pub struct ProfileSetError {
    /// The profile concerned.
    pub profile: String,
    /// The line of its file.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// The loaded profiles, each resolved over its base.
#[derive(Debug, Clone)]
pub struct ProfileSet {
    profiles: Vec<Arc<Profile>>,
    generic: Arc<Profile>,
}

impl Default for ProfileSet {
    fn default() -> ProfileSet {
        ProfileSet {
            profiles: Vec::new(),
            generic: Arc::new(Profile::generic().clone()),
        }
    }
}

impl ProfileSet {
    /// The set of `profiles`, with the built-in generic profile unless one of them is named
    /// `generic`. Fails on a duplicate name, an unknown base, or a cycle of bases.
    pub fn new(profiles: Vec<Profile>) -> Result<ProfileSet, ProfileSetError> {
        let mut by_name: BTreeMap<String, Profile> = BTreeMap::new();
        for profile in profiles {
            if by_name.contains_key(&profile.name) {
                return Err(ProfileSetError {
                    line: 1,
                    reason: "another file defines a profile of the same name".to_owned(),
                    profile: profile.name,
                });
            }
            by_name.insert(profile.name.clone(), profile);
        }
        let mut generic = by_name
            .remove(GENERIC)
            .unwrap_or_else(|| Profile::generic().clone());
        generic.resolve(None);
        let mut resolved: BTreeMap<String, Profile> = BTreeMap::new();
        resolved.insert(GENERIC.to_owned(), generic);
        // Resolve bases first: at most one round per profile, or there is a cycle.
        let mut pending: Vec<Profile> = by_name.into_values().collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut waiting = Vec::new();
            for mut profile in pending {
                let base_name = profile.extends.as_ref().map(|(name, _)| name.clone());
                match base_name {
                    None => {
                        profile.resolve(None);
                        resolved.insert(profile.name.clone(), profile);
                    }
                    Some(base_name) => match resolved.get(&base_name) {
                        Some(base) => {
                            let base = base.clone();
                            profile.resolve(Some(&base));
                            resolved.insert(profile.name.clone(), profile);
                        }
                        None => waiting.push(profile),
                    },
                }
            }
            if waiting.len() == before {
                let profile = &waiting[0];
                let (base, line) = profile.extends.clone().unwrap_or_default();
                let known = waiting.iter().any(|other| other.name == base);
                return Err(ProfileSetError {
                    profile: profile.name.clone(),
                    line,
                    reason: if known {
                        format!("extends {base:?}, which extends it back")
                    } else {
                        format!("extends {base:?}, which is not loaded")
                    },
                });
            }
            pending = waiting;
        }
        let generic = Arc::new(
            resolved
                .remove(GENERIC)
                .unwrap_or_else(|| Profile::generic().clone()),
        );
        let profiles = resolved.into_values().map(Arc::new).collect();
        Ok(ProfileSet { profiles, generic })
    }

    /// Every profile, `generic` first, then by name.
    pub fn all(&self) -> Vec<Arc<Profile>> {
        std::iter::once(self.generic.clone())
            .chain(self.profiles.iter().cloned())
            .collect()
    }

    /// The profile named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Profile>> {
        if name == GENERIC {
            return Some(self.generic.clone());
        }
        self.profiles
            .iter()
            .find(|profile| profile.name == name)
            .cloned()
    }

    /// The generic profile.
    pub fn generic(&self) -> Arc<Profile> {
        self.generic.clone()
    }

    /// The profile for a station: pinned, else the most specific matching rule (ties go to
    /// the profile whose name sorts first), else `generic`.
    pub fn select(&self, facts: &StationFacts<'_>) -> Selection {
        if let Some(pinned) = facts.pinned {
            if let Some(profile) = self.get(pinned) {
                return Selection {
                    profile,
                    reason: SelectionReason::Pinned,
                };
            }
            let fallback = self.select(&StationFacts {
                pinned: None,
                ..*facts
            });
            return Selection {
                profile: fallback.profile,
                reason: SelectionReason::PinnedMissing {
                    pinned: pinned.to_owned(),
                    fallback: Box::new(fallback.reason),
                },
            };
        }
        let mut best: Option<((usize, usize), &Arc<Profile>, &MatchRule)> = None;
        for profile in &self.profiles {
            for rule in &profile.rules {
                if let Some(score) = rule.score(facts)
                    && best.is_none_or(|(best_score, _, _)| score > best_score)
                {
                    best = Some((score, profile, rule));
                }
            }
        }
        match best {
            Some((_, profile, rule)) => Selection {
                profile: profile.clone(),
                reason: SelectionReason::Matched(rule.to_string()),
            },
            None => Selection {
                profile: self.generic.clone(),
                reason: SelectionReason::Default,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_text_ignoring_case() {
        let pattern = Pattern::new("ocpp_ac_*");
        assert!(pattern.matches("OCPP_AC_7kw"));
        assert!(!pattern.matches("x_ocpp_ac_7kw"));
        assert!(Pattern::new("TSCT-20??CP").matches("tsct-2007cp"));
        assert!(Pattern::new("*").matches(""));
        assert!(Pattern::new("a*b*c").matches("aXbYbZc"));
        assert!(!Pattern::new("a*b*c").matches("aXbYbZ"));
    }

    #[test]
    fn errors_name_the_line() {
        let error = Profile::from_toml("x", "description = \"d\"\n\n[repairs]\nno-such = true\n")
            .unwrap_err();
        assert_eq!(error.line, 4);
        assert!(error.reason.contains("unknown repair"), "{error}");
        let error = Profile::from_toml(
            "x",
            "[repairs]\ntimestamp-local-zone = { zone = \"Asia/Nowhere\" }\n",
        )
        .unwrap_err();
        assert_eq!(error.line, 2);
        let error = Profile::from_toml("x", "descripton = 1\n").unwrap_err();
        assert_eq!(error.line, 1);
        assert!(error.reason.contains("descripton"), "{error}");
        let error = Profile::from_toml("x", "[[match]]\n").unwrap_err();
        assert_eq!(error.line, 1);
        let error = Profile::from_toml(GENERIC, "[repairs]\nmeter-units = { energy = \"kWh\" }\n")
            .unwrap_err();
        assert!(error.reason.contains("generic"), "{error}");
        let error = Profile::from_toml(
            "x",
            "description = \"d\"\nconnector-type-keys = [\"Gun\", \"C{n}T{n}\"]\n",
        )
        .unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.reason.contains("connector-type-keys"), "{error}");
    }

    #[test]
    fn vendor_profiles_build_on_generic() {
        let profile = Profile::from_toml(
            "xq",
            "[[match]]\nvendor = \"XQ\"\n[repairs]\nenum-case = false\nsingle-phase-total = true\n",
        )
        .unwrap();
        assert!(profile.setting(repair::SENTINEL_TIMESTAMP).is_some());
        assert!(profile.setting(repair::ENUM_CASE).is_none());
        assert!(profile.setting(repair::SINGLE_PHASE_TOTAL).is_some());
        assert!(
            Profile::generic()
                .setting(repair::SINGLE_PHASE_TOTAL)
                .is_none()
        );
        for name in Profile::generic().repair_names() {
            assert!(!repair::info(name).unwrap().money, "{name}");
        }
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let vendor_only = Profile::from_toml("a-vendor", "[[match]]\nvendor = \"XQ\"\n").unwrap();
        let with_model = Profile::from_toml(
            "b-model",
            "[[match]]\nvendor = \"XQ\"\nmodel = \"ocpp_ac_*\"\n",
        )
        .unwrap();
        let set = ProfileSet::new(vec![vendor_only, with_model]).unwrap();
        let facts = StationFacts {
            station_id: "CP1",
            vendor: Some("xq"),
            model: Some("ocpp_ac_7kw"),
            ..StationFacts::default()
        };
        let chosen = set.select(&facts);
        assert_eq!(chosen.profile.name(), "b-model");
        assert_eq!(
            chosen.reason.to_string(),
            "matched vendor=XQ model=ocpp_ac_*"
        );
        let other_model = StationFacts {
            model: Some("dc"),
            ..facts
        };
        assert_eq!(set.select(&other_model).profile.name(), "a-vendor");
        let pinned = StationFacts {
            pinned: Some("a-vendor"),
            ..facts
        };
        assert_eq!(set.select(&pinned).reason, SelectionReason::Pinned);
        let missing = StationFacts {
            pinned: Some("gone"),
            vendor: Some("ABB"),
            ..facts
        };
        let chosen = set.select(&missing);
        assert_eq!(chosen.profile.name(), GENERIC);
        assert_eq!(
            chosen.reason.to_string(),
            "pinned profile \"gone\" is not loaded; default"
        );
    }

    #[test]
    fn bases_must_exist_and_not_loop() {
        let a = Profile::from_toml("a", "extends = \"b\"\n").unwrap();
        let error = ProfileSet::new(vec![a.clone()]).unwrap_err();
        assert!(error.reason.contains("not loaded"), "{error}");
        let b = Profile::from_toml("b", "extends = \"a\"\n").unwrap();
        let error = ProfileSet::new(vec![a, b]).unwrap_err();
        assert!(error.reason.contains("back"), "{error}");
        let child = Profile::from_toml(
            "child",
            "extends = \"parent\"\n[repairs]\nenum-case = false\n",
        )
        .unwrap();
        let parent =
            Profile::from_toml("parent", "[repairs]\nsingle-phase-total = true\n").unwrap();
        let set = ProfileSet::new(vec![child, parent]).unwrap();
        let child = set.get("child").unwrap();
        assert!(child.setting(repair::SINGLE_PHASE_TOTAL).is_some());
        assert!(child.setting(repair::ENUM_CASE).is_none());
        assert!(child.setting(repair::SENTINEL_TIMESTAMP).is_some());
    }
}
