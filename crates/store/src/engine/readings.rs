//! Meter samples as stored: one `meter_readings` row per reading (the samples a charger took at
//! one time), its samples a JSON array in the row.
//!
//! A MeterValues frame carries seven samples or more per reading; as a row each, every one
//! put an entry at the session's place in the index, and the writer spent more on those
//! inserts than on anything else a meter value asks of it. Samples are only ever read back
//! whole, per session, in time order, so one row per reading loses nothing.
//!
//! A sample is stored as `[measurand, value, unit, phase, context, location]` (phase and
//! location may be null): the row repeats no key names, and the order of a reading's samples
//! is the order of the array.

use zaryad_model::{Measurand, MeterSample, ReadingContext, StationId, Timestamp, Unit};

use super::rows::{parse_timestamp_text, timestamp_text};
use crate::StoreError;

/// One reading as its row, ready for a batch insert at the end of the group.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReadingRow {
    pub(crate) session_id: Option<String>,
    pub(crate) station_id: String,
    pub(crate) evse_id: i64,
    pub(crate) timestamp: String,
    /// The samples as the JSON array described in the module's documentation.
    pub(crate) samples: String,
}

/// A sample as it is written: borrowed from the [`MeterSample`].
type SampleOut<'a> = (
    &'a str,
    f64,
    &'a str,
    Option<&'a str>,
    &'a str,
    Option<&'a str>,
);

/// A sample as it is read back.
type SampleIn = (String, f64, String, Option<String>, String, Option<String>);

/// Adds the rows of `samples`, consecutive samples of one time forming one reading, and
/// returns how many samples were skipped for want of a finite value.
///
/// A value that is not a finite number cannot be written as JSON (and SQLite stores NaN as
/// NULL); losing one unreadable sample is better than failing the caller's whole request, and
/// the session with it.
pub(crate) fn reading_rows(
    station_id: &StationId,
    evse_id: u32,
    session_id: Option<&str>,
    samples: &[MeterSample],
    rows: &mut Vec<ReadingRow>,
) -> Result<usize, StoreError> {
    let mut skipped = 0;
    let mut reading: Vec<SampleOut<'_>> = Vec::new();
    let mut at: Option<&Timestamp> = None;
    for sample in samples {
        if !sample.value.is_finite() {
            skipped += 1;
            continue;
        }
        if at.is_some_and(|at| *at != sample.timestamp) {
            push_reading(station_id, evse_id, session_id, at, &reading, rows)?;
            reading.clear();
        }
        at = Some(&sample.timestamp);
        reading.push((
            sample.measurand.as_str(),
            sample.value,
            sample.unit.as_str(),
            sample.phase.as_deref(),
            sample.context.as_str(),
            sample.location.as_deref(),
        ));
    }
    push_reading(station_id, evse_id, session_id, at, &reading, rows)?;
    Ok(skipped)
}

fn push_reading(
    station_id: &StationId,
    evse_id: u32,
    session_id: Option<&str>,
    at: Option<&Timestamp>,
    reading: &[SampleOut<'_>],
    rows: &mut Vec<ReadingRow>,
) -> Result<(), StoreError> {
    // No time yet means no sample yet.
    let Some(at) = at else {
        return Ok(());
    };
    rows.push(ReadingRow {
        session_id: session_id.map(str::to_owned),
        station_id: station_id.as_str().to_owned(),
        evse_id: i64::from(evse_id),
        timestamp: timestamp_text(at),
        samples: serde_json::to_string(reading).map_err(|error| StoreError::Corrupt {
            table: "meter_readings",
            column: "samples",
            detail: error.to_string(),
        })?,
    });
    Ok(())
}

/// The samples of one stored reading, in their order.
pub(crate) fn reading_samples(timestamp: &str, json: &str) -> Result<Vec<MeterSample>, StoreError> {
    let corrupt = |column: &'static str, detail: String| StoreError::Corrupt {
        table: "meter_readings",
        column,
        detail,
    };
    let timestamp = parse_timestamp_text(timestamp)
        .map_err(|error| corrupt("timestamp", format!("{timestamp:?}: {error}")))?;
    let stored: Vec<SampleIn> =
        serde_json::from_str(json).map_err(|error| corrupt("samples", error.to_string()))?;
    Ok(stored
        .into_iter()
        .map(
            |(measurand, value, unit, phase, context, location)| MeterSample {
                timestamp,
                measurand: Measurand::parse(Some(&measurand)),
                value,
                unit: Unit::from(unit),
                phase,
                context: ReadingContext::parse(Some(&context)),
                location,
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(second: u32) -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 29, 8, 0, second)
            .unwrap()
    }

    fn sample(second: u32, measurand: &str, value: f64, phase: Option<&str>) -> MeterSample {
        MeterSample {
            timestamp: at(second),
            measurand: Measurand::parse(Some(measurand)),
            value,
            unit: Unit::from(
                match measurand {
                    "Voltage" => "V",
                    "Current.Import" => "A",
                    _ => "Wh",
                }
                .to_owned(),
            ),
            phase: phase.map(str::to_owned),
            context: ReadingContext::parse(Some("Sample.Periodic")),
            location: (measurand == "Voltage").then(|| "Outlet".to_owned()),
        }
    }

    fn read_back(rows: &[ReadingRow]) -> Vec<MeterSample> {
        rows.iter()
            .flat_map(|row| reading_samples(&row.timestamp, &row.samples).unwrap())
            .collect()
    }

    #[test]
    fn samples_of_one_time_share_a_row_and_come_back_in_order() {
        let samples = vec![
            sample(0, "Energy.Active.Import.Register", 1234.5, None),
            sample(0, "Voltage", 229.9, Some("L1-N")),
            sample(0, "Current.Import", 16.0, Some("L1")),
            sample(5, "Energy.Active.Import.Register", 1240.25, None),
            // Back to an earlier time: a new reading, not merged with the first.
            sample(0, "Voltage", 230.1, Some("L2-N")),
        ];
        let station = StationId::parse("CP-1").unwrap();
        let mut rows = Vec::new();
        let skipped = reading_rows(&station, 2, Some("s-1"), &samples, &mut rows).unwrap();
        assert_eq!(skipped, 0);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].session_id.as_deref(), Some("s-1"));
        assert_eq!(rows[0].station_id, "CP-1");
        assert_eq!(rows[0].evse_id, 2);
        assert_eq!(rows[0].timestamp, timestamp_text(&at(0)));
        assert_eq!(rows[1].timestamp, timestamp_text(&at(5)));
        assert_eq!(read_back(&rows), samples);
    }

    #[test]
    fn values_keep_their_precision() {
        let values = [0.1, 1.0 / 3.0, 12_345.678_901_234_567, 2.5e-7, -0.0, 1e300];
        let samples: Vec<MeterSample> = values
            .iter()
            .map(|value| sample(0, "Power.Active.Import", *value, None))
            .collect();
        let mut rows = Vec::new();
        reading_rows(
            &StationId::parse("CP-1").unwrap(),
            1,
            None,
            &samples,
            &mut rows,
        )
        .unwrap();
        let back: Vec<f64> = read_back(&rows).iter().map(|sample| sample.value).collect();
        assert_eq!(back.len(), values.len());
        for (back, value) in back.iter().zip(values) {
            assert_eq!(back.to_bits(), value.to_bits(), "{value}");
        }
    }

    #[test]
    fn values_that_are_not_finite_are_skipped_and_counted() {
        let samples = vec![
            sample(0, "Energy.Active.Import.Register", f64::NAN, None),
            sample(0, "Voltage", 230.0, Some("L1-N")),
            sample(0, "Current.Import", f64::INFINITY, None),
        ];
        let mut rows = Vec::new();
        let station = StationId::parse("CP-1").unwrap();
        let skipped = reading_rows(&station, 1, None, &samples, &mut rows).unwrap();
        assert_eq!(skipped, 2);
        assert_eq!(read_back(&rows), vec![samples[1].clone()]);

        rows.clear();
        let skipped = reading_rows(&station, 1, None, &samples[..1], &mut rows).unwrap();
        assert_eq!(
            (skipped, rows.len()),
            (1, 0),
            "no row for a reading left empty"
        );
    }

    #[test]
    fn damaged_rows_are_reported_not_panicked_on() {
        let good = timestamp_text(&at(0));
        for (timestamp, json) in [
            (good.as_str(), "not json"),
            (
                good.as_str(),
                r#"[["Voltage", "230", "V", null, "Sample.Periodic", null]]"#,
            ),
            (good.as_str(), r#"[["Voltage", 230.0]]"#),
            ("yesterday", "[]"),
        ] {
            let error = reading_samples(timestamp, json).unwrap_err();
            assert!(
                matches!(
                    error,
                    StoreError::Corrupt {
                        table: "meter_readings",
                        ..
                    }
                ),
                "{timestamp} {json}: {error}"
            );
        }
        assert!(reading_samples(&good, "[]").unwrap().is_empty());
    }
}
