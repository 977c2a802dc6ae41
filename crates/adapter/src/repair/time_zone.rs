//! Times written in the charger's local zone: offsetless, or labelled `Z` although they are
//! wall-clock time (tscontech, Dongah/LS, Chinese firmware that formats `localtime()` with a
//! literal `.000Z`).

use chrono::{Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use zaryad_model::Timestamp;

use super::generic::DATE_TIME_KEYS;
use super::walk::walk;
use super::{Change, Context, SessionFact, Setting};
use crate::time::{format_exact, wall_clock};

/// Reads every date-time that is wall-clock time in the profile's zone as such, and rewrites
/// it in UTC. Runs before the generic UTC reading of offsetless times.
pub(crate) fn timestamp_local_zone(
    _: &Context<'_>,
    setting: &Setting,
    payload: &mut Value,
) -> Vec<Change> {
    let Setting::Zone { zone, labelled_utc } = setting else {
        return Vec::new();
    };
    let mut changes = Vec::new();
    walk(payload, &mut |member, value| {
        if !DATE_TIME_KEYS.contains(&member.key) {
            return;
        }
        let Value::String(text) = value else {
            return;
        };
        let Some(at) = wall_clock(text, *labelled_utc).and_then(|naive| in_zone(*zone, naive))
        else {
            return;
        };
        let repaired = format_exact(at);
        changes.push(Change::new(
            format!("{}: {text:?} is {zone} time → {repaired:?}", member.path()),
            Some(SessionFact::Time),
        ));
        *value = Value::String(repaired);
    });
    changes
}

/// The instant a wall-clock time names in `zone`. In a daylight-saving gap (a time that never
/// happened) the clock was not yet moved forward: the hour after is meant. An ambiguous time
/// (the repeated hour) is read as its first occurrence.
pub(crate) fn in_zone(zone: Tz, naive: NaiveDateTime) -> Option<Timestamp> {
    zone.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map(|at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use zaryad_wire::OcppVersion;

    use super::*;

    fn context() -> Context<'static> {
        Context {
            version: OcppVersion::V16,
            action: "MeterValues",
            received_at: Utc::now(),
        }
    }

    #[test]
    fn local_times_become_utc() {
        let seoul = Setting::Zone {
            zone: chrono_tz::Asia::Seoul,
            labelled_utc: true,
        };
        // D03-b: tscontech prints localtime() with a literal ".000Z".
        let mut payload = json!({"meterValue": [{"timestamp": "2024-05-01T21:00:00.000Z"}]});
        let changes = timestamp_local_zone(&context(), &seoul, &mut payload);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            payload["meterValue"][0]["timestamp"],
            "2024-05-01T12:00:00Z"
        );
        // Without the label flag only offsetless times are local.
        let bishkek = Setting::Zone {
            zone: chrono_tz::Asia::Bishkek,
            labelled_utc: false,
        };
        let mut payload =
            json!({"timestamp": "2025-01-03T16:21:47Z", "other": "2025-01-03T16:21:47"});
        assert!(timestamp_local_zone(&context(), &bishkek, &mut payload).is_empty());
        let mut payload = json!({"timestamp": "2025-01-03T16:21:47"});
        timestamp_local_zone(&context(), &bishkek, &mut payload);
        assert_eq!(payload["timestamp"], "2025-01-03T10:21:47Z");
        // An explicit offset is never second-guessed.
        let mut payload = json!({"timestamp": "2025-01-03T16:21:47+01:00"});
        assert!(timestamp_local_zone(&context(), &seoul, &mut payload).is_empty());
    }

    #[test]
    fn daylight_saving_edges_have_an_answer() {
        let berlin = chrono_tz::Europe::Berlin;
        let gap =
            NaiveDateTime::parse_from_str("2025-03-30T02:30:00", "%Y-%m-%dT%H:%M:%S").unwrap();
        assert_eq!(
            in_zone(berlin, gap).unwrap().to_rfc3339(),
            "2025-03-30T01:30:00+00:00"
        );
        let twice =
            NaiveDateTime::parse_from_str("2025-10-26T02:30:00", "%Y-%m-%dT%H:%M:%S").unwrap();
        assert_eq!(
            in_zone(berlin, twice).unwrap().to_rfc3339(),
            "2025-10-26T00:30:00+00:00"
        );
    }
}
