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

/// True when `text` is spelled exactly `YYYY-MM-DDTHH:MM:SS[.digits](Z|±HH:MM)`, as chargers
/// nearly always send their times. [`parse_lenient`] reads such a text as [`Form::Rfc3339`] or
/// not at all (an impossible date or time), never as a form a repair rewrites: the repairs
/// that rewrite forms skip the parse for it, which was most of their cost.
pub(crate) fn rfc3339_shaped(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |from: usize, to: usize| {
        bytes
            .get(from..to)
            .is_some_and(|part| part.iter().all(u8::is_ascii_digit))
    };
    let at = |index: usize, byte: u8| bytes.get(index) == Some(&byte);
    let date_time = digits(0, 4)
        && at(4, b'-')
        && digits(5, 7)
        && at(7, b'-')
        && digits(8, 10)
        && at(10, b'T')
        && digits(11, 13)
        && at(13, b':')
        && digits(14, 16)
        && at(16, b':')
        && digits(17, 19);
    let Some(mut zone) = bytes.get(19..).filter(|_| date_time) else {
        return false;
    };
    if let Some((b'.', fraction)) = zone.split_first() {
        let count = fraction
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count();
        if count == 0 {
            return false;
        }
        zone = &fraction[count..];
    }
    match zone {
        [b'Z'] => true,
        [b'+' | b'-', hours @ .., b':', m1, m2] if hours.len() == 2 => {
            hours.iter().chain([m1, m2]).all(u8::is_ascii_digit)
        }
        _ => false,
    }
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
    fn an_rfc3339_shaped_text_is_read_as_rfc3339_or_not_at_all() {
        let mut shaped = 0;
        for year in ["0000", "1970", "2023", "9999"] {
            for month in ["00", "02", "12", "13"] {
                for day in ["00", "28", "29", "31", "32"] {
                    for time in ["00:00:00", "23:59:59", "23:59:60", "24:00:00", "12:60:61"] {
                        for fraction in ["", ".0", ".123456789", ".1234567890123"] {
                            for zone in ["Z", "+00:00", "-23:59", "+24:00", "+99:99", "-00:00"] {
                                let text = format!("{year}-{month}-{day}T{time}{fraction}{zone}");
                                assert!(rfc3339_shaped(&text), "{text}");
                                let form = parse_lenient(&text).map(|(_, form)| form);
                                assert!(matches!(form, None | Some(Form::Rfc3339)), "{text}");
                                shaped += 1;
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(shaped, 4 * 4 * 5 * 5 * 4 * 6);
        for other in [
            "2023-10-19T15:28:07",
            "2023-10-19 15:28:07Z",
            "2023-10-19t15:28:07Z",
            "2023-10-19T15:28:07z",
            "2023-10-19T15:28:07+02",
            "2023-10-19T15:28:07+0200",
            "2023-10-19T15:28:07+02:0",
            "2023-10-19T15:28:07.Z",
            "2023-10-19T15:28:07 UTC",
            " 2023-10-19T15:28:07Z",
            "2023-10-19T15:28:07Z ",
            "2023-1-19T15:28:07Z",
            "２０２３-10-19T15:28:07Z",
            "2023-10-19T15:28",
            "",
        ] {
            assert!(!rfc3339_shaped(other), "{other:?}");
        }
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
