//! The simulated fleet: station ids, OCPP versions and dialects in the chosen mix.

use std::collections::BTreeMap;
use std::str::FromStr;

use zaryad_wire::OcppVersion;

use crate::dialect::Dialect;

/// One simulated charger's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargerSpec {
    /// Position in the fleet, 0-based: seeds its randomness and picks its source address.
    pub index: usize,
    /// The station id.
    pub station_id: String,
    /// The OCPP version it speaks.
    pub version: OcppVersion,
    /// How it speaks it.
    pub dialect: Dialect,
}

/// How many chargers, and of which kinds.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    /// How many chargers.
    pub count: usize,
    /// Station ids are `PREFIX-00001`, `PREFIX-00002`, …
    pub prefix: String,
    /// Share of OCPP 2.0.1 chargers, percent (0–100).
    pub v201_percent: u32,
    /// Weights of the dialects among the 1.6 chargers (2.0.1 chargers speak `clean`).
    pub dialects: DialectMix,
}

/// Relative weights of dialects, e.g. `clean=50,china=30,korea=20`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialectMix(pub Vec<(Dialect, u32)>);

impl Default for DialectMix {
    fn default() -> DialectMix {
        DialectMix(vec![
            (Dialect::Clean, 50),
            (Dialect::China, 25),
            (Dialect::Korea, 25),
        ])
    }
}

/// The text is not a dialect mix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad dialect mix {0:?}: expected e.g. clean=50,china=25,korea=25")]
pub struct BadMix(String);

impl FromStr for DialectMix {
    type Err = BadMix;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadMix(text.to_owned());
        let mut mix = Vec::new();
        for part in text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            let (name, weight) = match part.split_once(['=', ':']) {
                Some((name, weight)) => (name, weight.trim().parse().map_err(|_| bad())?),
                None => (part, 1),
            };
            let dialect: Dialect = name.parse().map_err(|_| bad())?;
            mix.push((dialect, weight));
        }
        if mix.iter().map(|(_, weight)| *weight).sum::<u32>() == 0 {
            return Err(bad());
        }
        Ok(DialectMix(mix))
    }
}

/// Smooth weighted round-robin (as nginx balances upstreams): picks interleave as evenly as
/// the weights allow, so even a fleet of five chargers gets every kind.
#[derive(Debug, Clone)]
struct RoundRobin<T> {
    items: Vec<(T, i64, i64)>,
    total: i64,
}

impl<T: Copy> RoundRobin<T> {
    fn new(weights: impl IntoIterator<Item = (T, u32)>) -> RoundRobin<T> {
        let items: Vec<(T, i64, i64)> = weights
            .into_iter()
            .filter(|(_, weight)| *weight > 0)
            .map(|(item, weight)| (item, i64::from(weight), 0))
            .collect();
        let total = items.iter().map(|(_, weight, _)| weight).sum();
        RoundRobin { items, total }
    }

    fn pick(&mut self) -> Option<T> {
        for (_, weight, current) in &mut self.items {
            *current += *weight;
        }
        let best = self
            .items
            .iter_mut()
            .enumerate()
            .max_by_key(|(position, (_, _, current))| (*current, -(*position as i64)))?
            .1;
        best.2 -= self.total;
        Some(best.0)
    }
}

impl FleetConfig {
    /// Every charger of the fleet, versions and dialects interleaved by their weights.
    pub fn chargers(&self) -> Vec<ChargerSpec> {
        let v201 = self.v201_percent.min(100);
        let mut versions =
            RoundRobin::new([(OcppVersion::V16, 100 - v201), (OcppVersion::V201, v201)]);
        let mut dialects = RoundRobin::new(self.dialects.0.iter().copied());
        (0..self.count)
            .map(|index| {
                let version = versions.pick().unwrap_or(OcppVersion::V16);
                let dialect = match version {
                    OcppVersion::V16 => dialects.pick().unwrap_or(Dialect::Clean),
                    OcppVersion::V201 => Dialect::Clean,
                };
                ChargerSpec {
                    index,
                    station_id: format!("{}-{:05}", self.prefix, index + 1),
                    version,
                    dialect,
                }
            })
            .collect()
    }
}

/// How many chargers of each version and dialect a fleet has.
pub fn census(chargers: &[ChargerSpec]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for charger in chargers {
        *counts
            .entry(format!("{} {}", charger.version, charger.dialect))
            .or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(count: usize, v201_percent: u32, mix: &str) -> Vec<ChargerSpec> {
        FleetConfig {
            count,
            prefix: "SIM".into(),
            v201_percent,
            dialects: mix.parse().unwrap(),
        }
        .chargers()
    }

    #[test]
    fn mixes_parse() {
        let mix: DialectMix = "clean=2, china:1,korea".parse().unwrap();
        assert_eq!(
            mix.0,
            [
                (Dialect::Clean, 2),
                (Dialect::China, 1),
                (Dialect::Korea, 1)
            ]
        );
        assert!("clean=0".parse::<DialectMix>().is_err());
        assert!("mars=1".parse::<DialectMix>().is_err());
        assert!("clean=x".parse::<DialectMix>().is_err());
    }

    #[test]
    fn versions_and_dialects_follow_the_weights() {
        let chargers = fleet(1000, 30, "clean=50,china=30,korea=20");
        let counts = census(&chargers);
        assert_eq!(counts["2.0.1 clean"], 300);
        assert_eq!(counts["1.6 clean"], 350);
        assert_eq!(counts["1.6 china"], 210);
        assert_eq!(counts["1.6 korea"], 140);
        assert_eq!(chargers[0].station_id, "SIM-00001");
        assert_eq!(chargers[999].station_id, "SIM-01000");
    }

    #[test]
    fn small_fleets_get_every_kind() {
        let chargers = fleet(6, 34, "clean=1,china=1,korea=1");
        let counts = census(&chargers);
        assert_eq!(counts.len(), 4, "{counts:?}");
        assert!(
            fleet(4, 0, "clean")
                .iter()
                .all(|c| c.version == OcppVersion::V16)
        );
        assert!(
            fleet(4, 100, "china")
                .iter()
                .all(|c| c.version == OcppVersion::V201 && c.dialect == Dialect::Clean)
        );
    }
}
