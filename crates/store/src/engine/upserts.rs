//! Station, session and connector upserts: the one statement for a row, and on PostgreSQL the
//! same for many rows through arrays, which the writer uses for a whole group at once (see
//! [`crate::engine::writer::WriteConn::BATCH_ROWS`]). Both forms are assembled from one
//! column list and one conflict clause, so they cannot drift apart.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use super::query::{Arg, Query};

macro_rules! session_columns {
    () => {
        "id, station_id, evse_id, connector_id, transaction_id, id_token, state, started_at,
         ended_at, meter_start_wh, meter_stop_wh, meter_last_wh, energy_wh, stop_reason,
         soc_percent, power_w, charging_state, last_seq_no, remote_start_id, quirks, updated_at,
         register_history"
    };
}

// ON CONFLICT … DO UPDATE (not a delete and insert) keeps the row's `seq`.
macro_rules! session_conflict {
    () => {
        "ON CONFLICT (id) DO UPDATE SET
             station_id = excluded.station_id,
             evse_id = excluded.evse_id,
             connector_id = excluded.connector_id,
             transaction_id = excluded.transaction_id,
             id_token = excluded.id_token,
             state = excluded.state,
             started_at = excluded.started_at,
             ended_at = excluded.ended_at,
             meter_start_wh = excluded.meter_start_wh,
             meter_stop_wh = excluded.meter_stop_wh,
             meter_last_wh = excluded.meter_last_wh,
             energy_wh = excluded.energy_wh,
             stop_reason = excluded.stop_reason,
             soc_percent = excluded.soc_percent,
             power_w = excluded.power_w,
             charging_state = excluded.charging_state,
             last_seq_no = excluded.last_seq_no,
             remote_start_id = excluded.remote_start_id,
             quirks = excluded.quirks,
             updated_at = excluded.updated_at,
             register_history = excluded.register_history"
    };
}

macro_rules! connector_columns {
    () => {
        "station_id, evse_id, connector_id, reported_status, charging_state, connector_type,
         error_code, info, status_at"
    };
}

macro_rules! connector_conflict {
    () => {
        "ON CONFLICT (station_id, evse_id, connector_id) DO UPDATE SET
             reported_status = excluded.reported_status,
             charging_state = excluded.charging_state,
             connector_type = excluded.connector_type,
             error_code = excluded.error_code,
             info = excluded.info,
             status_at = excluded.status_at"
    };
}

// The password, `provisioned`, the operator's pinned profile and the first-seen time belong to
// the existing row; `last_seen_at` only moves forward because touches may be newer than the
// caller's copy of the station.
macro_rules! station_columns {
    () => {
        "id, ocpp_version, vendor, model, firmware_version, serial_number, registration,
         last_seen_at, last_boot_at, vendor_profile, provisioned, created_at, updated_at"
    };
}

macro_rules! station_conflict {
    () => {
        "ON CONFLICT (id) DO UPDATE SET
             ocpp_version = excluded.ocpp_version,
             vendor = excluded.vendor,
             model = excluded.model,
             firmware_version = excluded.firmware_version,
             serial_number = excluded.serial_number,
             last_seen_at = CASE
                 WHEN stations.last_seen_at IS NULL THEN excluded.last_seen_at
                 WHEN excluded.last_seen_at > stations.last_seen_at THEN excluded.last_seen_at
                 ELSE stations.last_seen_at END,
             last_boot_at = excluded.last_boot_at,
             updated_at = excluded.updated_at"
    };
}

/// A kind of row the writer may upsert many of in one statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upsert {
    Station,
    Session,
    Connector,
}

// The columns a session's updates set besides the token and the state, and the row they
// find: by id, and only while its keys, place and start are those the upsert would write.
macro_rules! session_update_columns {
    () => {
        "ended_at = $9,
         meter_start_wh = $10,
         meter_stop_wh = $11,
         meter_last_wh = $12,
         energy_wh = $13,
         stop_reason = $14,
         soc_percent = $15,
         power_w = $16,
         charging_state = $17,
         last_seq_no = $18,
         remote_start_id = $19,
         quirks = $20,
         updated_at = $21,
         register_history = $22"
    };
}

macro_rules! session_update_place {
    () => {
        "
     WHERE id = $1 AND station_id = $2 AND evse_id = $3 AND connector_id = $4
         AND transaction_id = $5 AND started_at = $8"
    };
}

/// A session's row updated without the columns its indexes hold (`station_id`,
/// `transaction_id`, `state`, `started_at`) or that place it (`evse_id`, `connector_id`),
/// with the arguments of [`Upsert::Session`]'s statement; it changes nothing unless all of
/// those already hold what the upsert would write. SQLite rewrites every index whose columns
/// are named in `SET`, values changed or not, and most session writes are meter updates that
/// leave those columns alone: this runs first, and the full upsert only when neither this
/// nor [`SESSION_UPDATE_KEEPING_PLACE`] finds a row to change.
pub(crate) const SESSION_UPDATE_KEEPING_KEYS: &str = concat!(
    "UPDATE sessions SET id_token = $6, ",
    session_update_columns!(),
    session_update_place!(),
    " AND state = $7"
);

/// [`SESSION_UPDATE_KEEPING_KEYS`] with the state among the columns set: a session's stop.
/// Only the indexes that hold the state are rewritten (the active sessions' and the one by
/// state); the full upsert would also rewrite its entries by transaction, by station and by
/// start time, the first two on a page of their station's, one more scattered page each in
/// the group's commit.
pub(crate) const SESSION_UPDATE_KEEPING_PLACE: &str = concat!(
    "UPDATE sessions SET id_token = $6, state = $7, ",
    session_update_columns!(),
    session_update_place!()
);

/// The updates tried in turn before a session's full upsert, the cheapest first: a row that
/// one of them changed is written.
pub(crate) const SESSION_UPDATES: [&str; 2] =
    [SESSION_UPDATE_KEEPING_KEYS, SESSION_UPDATE_KEEPING_PLACE];

impl Upsert {
    /// Every kind, in the order they are written: stations first, which connectors refer to.
    pub(crate) const ALL: &'static [Upsert] =
        &[Upsert::Station, Upsert::Session, Upsert::Connector];

    /// How many leading arguments form the row's key.
    pub(crate) fn key_len(self) -> usize {
        match self {
            Upsert::Station | Upsert::Session => 1,
            Upsert::Connector => 3,
        }
    }

    /// How many arguments a row has.
    pub(crate) fn arg_count(self) -> usize {
        match self {
            Upsert::Station => 13,
            Upsert::Session => 22,
            Upsert::Connector => 9,
        }
    }

    /// A row's statement, with room for its arguments.
    pub(crate) fn query(self) -> Query {
        Query::with_capacity(self.one(), self.arg_count())
    }

    /// The statement for one row (`$1`, `$2`, … in argument order).
    pub(crate) fn one(self) -> &'static str {
        match self {
            Upsert::Station => concat!(
                "INSERT INTO stations (",
                station_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ",
                station_conflict!()
            ),
            Upsert::Session => concat!(
                "INSERT INTO sessions (",
                session_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                     $16, $17, $18, $19, $20, $21, $22) ",
                session_conflict!()
            ),
            Upsert::Connector => concat!(
                "INSERT INTO connectors (",
                connector_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ",
                connector_conflict!()
            ),
        }
    }

    /// The same for many rows on PostgreSQL: each argument position is an array parameter,
    /// inserted in the given order.
    pub(crate) fn many(self) -> &'static str {
        match self {
            Upsert::Station => concat!(
                "INSERT INTO stations (",
                station_columns!(),
                ") SELECT ",
                station_columns!(),
                " FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bool[],
                     $12::text[], $13::text[])
                     WITH ORDINALITY AS row (",
                station_columns!(),
                ", n) ORDER BY n ",
                station_conflict!()
            ),
            Upsert::Session => concat!(
                "INSERT INTO sessions (",
                session_columns!(),
                ") SELECT ",
                session_columns!(),
                " FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[],
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::float8[],
                     $11::float8[], $12::float8[], $13::float8[], $14::text[], $15::float8[],
                     $16::float8[], $17::text[], $18::int8[], $19::int8[], $20::text[],
                     $21::text[], $22::text[])
                     WITH ORDINALITY AS row (",
                session_columns!(),
                ", n) ORDER BY n ",
                session_conflict!()
            ),
            Upsert::Connector => concat!(
                "INSERT INTO connectors (",
                connector_columns!(),
                ") SELECT ",
                connector_columns!(),
                " FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::text[], $5::text[],
                     $6::text[], $7::text[], $8::text[], $9::text[])
                     WITH ORDINALITY AS row (",
                connector_columns!(),
                ", n) ORDER BY n ",
                connector_conflict!()
            ),
        }
    }
}

/// The rows whose first `key_len` arguments no later row repeats, in order: one statement
/// may not upsert a row twice.
pub(crate) fn last_per_key(rows: Vec<Vec<Arg>>, key_len: usize) -> Vec<Vec<Arg>> {
    if rows.len() < 2 {
        return rows;
    }
    let mut keep = vec![false; rows.len()];
    let mut seen = HashSet::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate().rev() {
        keep[index] = seen.insert(Key(&row[..key_len.min(row.len())]));
    }
    drop(seen);
    rows.into_iter()
        .zip(keep)
        .filter_map(|(row, keep)| keep.then_some(row))
        .collect()
}

/// A row's key arguments, equal when each is the same kind with the same value (a float by
/// its bits: keys are text and integers, and `Arg` cannot derive `Eq` for its floats).
struct Key<'a>(&'a [Arg]);

impl PartialEq for Key<'_> {
    fn eq(&self, other: &Key<'_>) -> bool {
        self.0.len() == other.0.len()
            && self.0.iter().zip(other.0).all(|pair| match pair {
                (Arg::Text(a), Arg::Text(b)) => a == b,
                (Arg::Int(a), Arg::Int(b)) => a == b,
                (Arg::Real(a), Arg::Real(b)) => a.map(f64::to_bits) == b.map(f64::to_bits),
                (Arg::Bool(a), Arg::Bool(b)) => a == b,
                _ => false,
            })
    }
}

impl Eq for Key<'_> {}

impl Hash for Key<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for arg in self.0 {
            match arg {
                Arg::Text(text) => (0u8, text).hash(state),
                Arg::Int(number) => (1u8, number).hash(state),
                Arg::Real(number) => (2u8, number.map(f64::to_bits)).hash(state),
                Arg::Bool(flag) => (3u8, flag).hash(state),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, n: i64) -> Vec<Arg> {
        vec![Arg::Text(Some(key.to_owned())), Arg::Int(Some(n))]
    }

    #[test]
    fn each_kind_makes_room_for_its_placeholders() {
        for kind in Upsert::ALL.iter().copied() {
            let highest = kind
                .one()
                .split('$')
                .skip(1)
                .filter_map(|rest| {
                    let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
                    digits.parse::<usize>().ok()
                })
                .max();
            assert_eq!(highest, Some(kind.arg_count()), "{kind:?}");
            assert_eq!(kind.query().args.capacity(), kind.arg_count(), "{kind:?}");
        }
    }

    #[test]
    fn the_last_row_per_key_is_kept_in_order() {
        let rows = vec![
            row("a", 1),
            row("b", 2),
            row("a", 3),
            row("c", 4),
            row("b", 5),
        ];
        let kept = last_per_key(rows.clone(), 1);
        let shown: Vec<String> = kept.iter().map(|row| format!("{row:?}")).collect();
        let expected: Vec<String> = [row("a", 3), row("c", 4), row("b", 5)]
            .iter()
            .map(|row| format!("{row:?}"))
            .collect();
        assert_eq!(shown, expected);
        // With the whole row as the key nothing repeats.
        assert_eq!(last_per_key(rows.clone(), 2).len(), 5);
        // Text and an integer that read alike are different keys.
        let mixed = vec![
            vec![Arg::Text(Some("1".into())), Arg::Int(Some(1))],
            vec![Arg::Int(Some(1)), Arg::Int(Some(2))],
            vec![Arg::Text(Some("1".into())), Arg::Int(Some(3))],
        ];
        let kept = last_per_key(mixed, 1);
        let shown: Vec<String> = kept.iter().map(|row| format!("{row:?}")).collect();
        assert_eq!(
            shown,
            [
                format!("{:?}", [Arg::Int(Some(1)), Arg::Int(Some(2))]),
                format!("{:?}", [Arg::Text(Some("1".into())), Arg::Int(Some(3))]),
            ]
        );
    }

    #[test]
    fn both_forms_name_the_same_columns() {
        for kind in Upsert::ALL.iter().copied() {
            let one = kind.one();
            let many = kind.many();
            let conflict = one.find("ON CONFLICT").unwrap();
            assert!(many.ends_with(&one[conflict..]), "{kind:?}");
            let placeholders = one.matches('$').count();
            assert_eq!(many.matches("[]").count(), placeholders, "{kind:?}");
        }
    }

    /// The `column = $n` pairs of an `UPDATE`'s `SET` list or `WHERE` conditions.
    fn assignments(text: &str) -> Vec<(String, usize)> {
        text.split(',')
            .flat_map(|part| part.split(" AND "))
            .filter_map(|part| {
                let (column, value) = part.split_once('=')?;
                let column = column.split_whitespace().last()?.to_owned();
                let number = value.trim().strip_prefix('$')?.parse().ok()?;
                Some((column, number))
            })
            .collect()
    }

    #[test]
    fn a_session_s_updates_write_each_column_from_the_upsert_s_argument() {
        let columns: Vec<String> = session_columns!()
            .split(',')
            .map(|column| column.trim().to_owned())
            .collect();
        let keys = [
            "id",
            "station_id",
            "evse_id",
            "connector_id",
            "transaction_id",
            "started_at",
        ];
        for (sql, state_set) in [
            (SESSION_UPDATE_KEEPING_KEYS, false),
            (SESSION_UPDATE_KEEPING_PLACE, true),
        ] {
            let (set, place) = sql.split_once("WHERE").unwrap();
            let mut found = assignments(set);
            found.extend(assignments(place));
            found.sort();
            // Every column once, with the upsert's argument for it: set unless it places the
            // row, and the state set only by the stop's update.
            let mut expected: Vec<(String, usize)> = columns
                .iter()
                .enumerate()
                .map(|(index, column)| (column.clone(), index + 1))
                .collect();
            expected.sort();
            assert_eq!(found, expected, "{sql}");
            let set_columns: Vec<String> = assignments(set)
                .into_iter()
                .map(|(column, _)| column)
                .collect();
            for column in &columns {
                let is_set = set_columns.contains(column);
                let should = !keys.contains(&column.as_str()) && (column != "state" || state_set);
                assert_eq!(is_set, should, "{column} in {sql}");
            }
        }
    }
}
