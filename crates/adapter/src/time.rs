//! Reading the timestamps chargers send and writing the ones the CSMS answers with.

use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat, Utc};
use zaryad_model::Timestamp;

/// How a timestamp was written, as far as the repairs care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// RFC 3339, what both OCPP versions require.
    Rfc3339,
    /// Date and time without any zone designator.
    NoOffset,
    /// Another ISO 8601 spelling with a zone (`+0200`, `+02`, ` UTC`).
    OtherZoned,
}

/// Formats `at` the way every answer carries time: UTC, milliseconds, `Z`.
pub(crate) fn format_utc(at: Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Formats `at` in RFC 3339 UTC keeping every fractional digit: a repaired timestamp says
/// exactly what the charger said.
pub(crate) fn format_exact(at: Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Reads a timestamp in any ISO 8601 form chargers are known to use; a value without a zone
/// is taken as UTC. `None` for anything that is not a real date and time.
pub(crate) fn parse_lenient(text: &str) -> Option<(Timestamp, Form)> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some((at.with_timezone(&Utc), Form::Rfc3339));
    }
    if let Ok(at) = text.parse::<DateTime<FixedOffset>>() {
        return Some((at.with_timezone(&Utc), Form::OtherZoned));
    }
    if let Some(at) = with_hour_only_offset(text) {
        return Some((at, Form::OtherZoned));
    }
    naive(text).map(|at| (at.and_utc(), Form::NoOffset))
}

/// chrono wants minutes in an offset; `+02` (seen from emulators) has none.
fn with_hour_only_offset(text: &str) -> Option<Timestamp> {
    let split = text.len().checked_sub(3)?;
    let (head, zone) = (text.get(..split)?, text.get(split..)?);
    let zone_bytes = zone.as_bytes();
    let signed = matches!(zone_bytes.first(), Some(b'+' | b'-'));
    if !signed || !zone_bytes[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    DateTime::parse_from_rfc3339(&format!("{head}{zone}:00"))
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// The wall-clock part of a time written without an offset, or (when `with_utc_label`) with a
/// `Z` or `+00:00` label that may be a lie; `None` for any other spelling.
pub(crate) fn wall_clock(text: &str, with_utc_label: bool) -> Option<NaiveDateTime> {
    let text = text.trim();
    if let Some(at) = naive(text) {
        return Some(at);
    }
    if !with_utc_label {
        return None;
    }
    let bare = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix('z'))
        .or_else(|| text.strip_suffix("+00:00"))?;
    naive(bare)
}

fn naive(text: &str) -> Option<NaiveDateTime> {
    const FORMATS: [&str; 4] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ];
    FORMATS
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Timestamp {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn every_known_spelling_is_read() {
        let at = utc(2023, 10, 19, 15, 28, 7);
        assert_eq!(
            parse_lenient("2023-10-19T15:28:07Z"),
            Some((at, Form::Rfc3339))
        );
        assert_eq!(
            parse_lenient("2023-10-19T17:28:07+02:00"),
            Some((at, Form::Rfc3339))
        );
        assert_eq!(
            parse_lenient("2023-10-19T15:28:07"),
            Some((at, Form::NoOffset))
        );
        assert_eq!(
            parse_lenient("2023-10-19 15:28:07.000"),
            Some((at, Form::NoOffset))
        );
        assert_eq!(
            parse_lenient("2023-10-19T17:28:07+02"),
            Some((at, Form::OtherZoned))
        );
        assert_eq!(
            parse_lenient("2023-10-19T17:28:07+0200"),
            Some((at, Form::OtherZoned))
        );
    }

    #[test]
    fn impossible_dates_are_not_read() {
        assert_eq!(parse_lenient("0000-00-00T00:00:00.000Z"), None);
        assert_eq!(parse_lenient("yesterday"), None);
        assert_eq!(parse_lenient(""), None);
        assert_eq!(parse_lenient("+02"), None);
        assert_eq!(parse_lenient("é+02"), None);
    }

    #[test]
    fn answers_are_utc_with_millis() {
        assert_eq!(
            format_utc(utc(2026, 1, 2, 3, 4, 5)),
            "2026-01-02T03:04:05.000Z"
        );
    }
}
