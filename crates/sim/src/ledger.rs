//! The ledger of acknowledged stops: what the CSMS promised to have stored, for durability
//! checks after a crash or a restart.
//!
//! One JSON object per line: `{"station", "ocpp", "transaction_id", "meter_start_wh",
//! "meter_stop_wh", "acknowledged_at"}`. A line is written and flushed as soon as the stop's
//! CALLRESULT arrives, so a ledger cut short by a killed simulator is still true.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::dialect::FinishedTransaction;

/// One acknowledged stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The station id.
    pub station: String,
    /// `1.6` or `2.0.1`.
    pub ocpp: String,
    /// The OCPP transaction id (assigned by the CSMS in 1.6, by the charger in 2.0.1).
    pub transaction_id: String,
    /// The energy register at the start, Wh.
    pub meter_start_wh: u64,
    /// The energy register at the stop, Wh.
    pub meter_stop_wh: u64,
    /// When the CALLRESULT to the stop arrived, RFC 3339 UTC.
    pub acknowledged_at: String,
}

impl LedgerEntry {
    /// The entry for `finished`, acknowledged at `at`.
    pub fn new(
        station: &str,
        ocpp: &str,
        finished: &FinishedTransaction,
        at: DateTime<Utc>,
    ) -> LedgerEntry {
        LedgerEntry {
            station: station.to_owned(),
            ocpp: ocpp.to_owned(),
            transaction_id: finished.transaction_id.clone(),
            meter_start_wh: finished.meter_start_wh,
            meter_stop_wh: finished.meter_stop_wh,
            acknowledged_at: at.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }
}

/// An append-only JSON-lines file shared by all chargers.
#[derive(Debug)]
pub struct Ledger {
    file: Mutex<BufWriter<File>>,
}

impl Ledger {
    /// Creates (or truncates) the ledger at `path`.
    pub fn create(path: &Path) -> std::io::Result<Ledger> {
        Ok(Ledger {
            file: Mutex::new(BufWriter::new(File::create(path)?)),
        })
    }

    /// Appends one entry and flushes it.
    pub fn append(&self, entry: &LedgerEntry) -> std::io::Result<()> {
        let line = serde_json::to_string(entry)?;
        // A poisoned lock only means another charger panicked mid-write; the file is still ours.
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        writeln!(file, "{line}")?;
        file.flush()
    }
}

/// Reads a ledger back (for durability checks and tests).
pub fn read(path: &Path) -> std::io::Result<Vec<LedgerEntry>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).map_err(std::io::Error::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn entries_round_trip_one_per_line() {
        let dir = std::env::temp_dir().join(format!("zaryad-sim-ledger-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ledger.jsonl");
        let ledger = Ledger::create(&path).unwrap();
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let entry = LedgerEntry::new(
            "CP-1",
            "1.6",
            &FinishedTransaction {
                transaction_id: "7".into(),
                meter_start_wh: 10,
                meter_stop_wh: 25,
            },
            at,
        );
        ledger.append(&entry).unwrap();
        ledger.append(&entry).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.contains(r#""acknowledged_at":"2026-01-02T03:04:05.000Z""#));
        assert_eq!(read(&path).unwrap(), vec![entry.clone(), entry]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
