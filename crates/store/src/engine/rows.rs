//! How model values are spelled in columns (the same on both databases), and rows turned back
//! into model values.
//!
//! Everything read from the database is checked: a value that does not parse is reported as
//! [`StoreError::Corrupt`] naming its table and column, never a panic.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde_json::Value;
use zaryad_model::{
    ChargingState, ConfigurationEntry, Connector, ConnectorStatus, ConnectorType, DomainEvent,
    EventType, IdToken, IdTokenStatus, Measurand, MeterSample, ReadingContext, RegisterHistory,
    Registration, Session, SessionState, Station, StationId, StopReason, Timestamp, Unit,
};

use super::frame_log::StoredBatch;
use super::query::Row;
use crate::{
    ApiToken, ApiTokenRole, ConfigurationRecord, Delivery, DeliveryStatus, Direction, DueDelivery,
    EventPosition, SessionCorrection, StoreError, StoredEvent, Webhook,
};

/// A timestamp as stored: fixed-width RFC 3339 with nanoseconds, so text order is time order.
///
/// Written digit by digit: every frame of the log and every session row carries some, and
/// chrono's formatter, which reads its format at run time, took ~650 instructions for each.
/// Years outside 0000-9999 and leap seconds, which that layout cannot hold, go through chrono.
pub(crate) fn timestamp_text(at: &Timestamp) -> String {
    with_timestamp_text(at, str::to_owned)
}

/// Calls `use_text` with `at`'s stored text ([`timestamp_text`]) from a buffer on the stack:
/// for text copied on at once, as into a frame batch, where the `String` was an allocation
/// per frame.
pub(crate) fn with_timestamp_text<R>(at: &Timestamp, use_text: impl FnOnce(&str) -> R) -> R {
    // UTC already: no offset to add for each field, as `DateTime`'s own accessors would.
    let naive = at.naive_utc();
    let (date, time) = (naive.date(), naive.time());
    let nanosecond = time.nanosecond();
    let year = match u32::try_from(date.year()) {
        Ok(year) if year <= 9999 && nanosecond < 1_000_000_000 => year,
        _ => return use_text(&at.to_rfc3339_opts(SecondsFormat::Nanos, true)),
    };
    let mut text = *b"0000-00-00T00:00:00.000000000Z";
    put_digits(&mut text[0..4], year);
    put_digits(&mut text[5..7], date.month());
    put_digits(&mut text[8..10], date.day());
    put_digits(&mut text[11..13], time.hour());
    put_digits(&mut text[14..16], time.minute());
    put_digits(&mut text[17..19], time.second());
    put_digits(&mut text[20..29], nanosecond);
    match std::str::from_utf8(&text) {
        Ok(text) => use_text(text),
        Err(_) => use_text(&at.to_rfc3339_opts(SecondsFormat::Nanos, true)),
    }
}

/// Writes the last `digits.len()` decimal digits of `value` into `digits`, zero-padded.
fn put_digits(digits: &mut [u8], mut value: u32) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// A stored timestamp read back.
pub(crate) fn parse_timestamp_text(text: &str) -> Result<Timestamp, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|at| at.with_timezone(&Utc))
}

/// An optional timestamp as stored.
pub(crate) fn opt_timestamp_text(at: Option<&Timestamp>) -> Option<String> {
    at.map(timestamp_text)
}

/// A `u64` kept bit for bit in a signed 64-bit integer column (values above `i64::MAX` come
/// back unchanged through [`i64_to_u64`]; only ordering in SQL would be wrong, and nothing
/// orders by these columns).
pub(crate) fn u64_to_i64(value: u64) -> i64 {
    i64::from_ne_bytes(value.to_ne_bytes())
}

/// The inverse of [`u64_to_i64`].
fn i64_to_u64(value: i64) -> u64 {
    u64::from_ne_bytes(value.to_ne_bytes())
}

/// JSON text of a list of names (quirks, repairs).
pub(crate) fn names_json(names: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(names).map_err(encode_error)
}

/// JSON text of `[station id, time]` pairs: a whole flush of `last_seen` times as one argument.
pub(crate) fn touches_json(touches: &[(StationId, Timestamp)]) -> Result<String, StoreError> {
    let pairs: Vec<(&str, String)> = touches
        .iter()
        .map(|(station_id, at)| (station_id.as_str(), timestamp_text(at)))
        .collect();
    serde_json::to_string(&pairs).map_err(encode_error)
}

/// JSON text of a session's register history; `None` (SQL NULL) for a plain register.
pub(crate) fn register_history_json(
    history: &RegisterHistory,
) -> Result<Option<String>, StoreError> {
    if history.is_plain() {
        return Ok(None);
    }
    serde_json::to_string(history)
        .map(Some)
        .map_err(encode_error)
}

/// A session's register history from its nullable JSON column.
fn register_history(c: &Columns<'_>) -> Result<RegisterHistory, StoreError> {
    match c.opt_text("register_history")? {
        None => Ok(RegisterHistory::default()),
        Some(text) => serde_json::from_str(&text)
            .map_err(|error| c.corrupt("register_history", error.to_string())),
    }
}

/// JSON text of an event's data.
pub(crate) fn value_json(value: &Value) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(encode_error)
}

fn encode_error(error: serde_json::Error) -> StoreError {
    StoreError::Database(sqlx::Error::Encode(Box::new(error)))
}

/// Typed access to the columns of one row of `table`, with errors that name the column.
struct Columns<'r> {
    row: &'r Row,
    table: &'static str,
}

impl<'r> Columns<'r> {
    fn new(row: &'r Row, table: &'static str) -> Columns<'r> {
        Columns { row, table }
    }

    fn corrupt(&self, column: &'static str, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            table: self.table,
            column,
            detail: detail.into(),
        }
    }

    fn get<T>(&self, column: &'static str) -> Result<T, StoreError>
    where
        T: for<'x> sqlx::Decode<'x, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + serde::de::DeserializeOwned,
    {
        self.row
            .get::<T>(column)
            .map_err(|error| self.corrupt(column, error.to_string()))
    }

    fn opt_bytes(&self, column: &'static str) -> Result<Option<Vec<u8>>, StoreError> {
        self.row
            .opt_bytes(column)
            .map_err(|error| self.corrupt(column, error.to_string()))
    }

    fn text(&self, column: &'static str) -> Result<String, StoreError> {
        self.get(column)
    }

    fn opt_text(&self, column: &'static str) -> Result<Option<String>, StoreError> {
        self.get(column)
    }

    fn opt_bool(&self, column: &'static str) -> Result<Option<bool>, StoreError> {
        match self.get::<Option<i64>>(column)? {
            None => Ok(None),
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            Some(other) => Err(self.corrupt(column, format!("{other} is not 0 or 1"))),
        }
    }

    fn opt_f64(&self, column: &'static str) -> Result<Option<f64>, StoreError> {
        self.get(column)
    }

    fn u32(&self, column: &'static str) -> Result<u32, StoreError> {
        let value: i64 = self.get(column)?;
        u32::try_from(value).map_err(|_| self.corrupt(column, format!("{value} is not a u32")))
    }

    fn bool(&self, column: &'static str) -> Result<bool, StoreError> {
        match self.row.flag(column) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(other)) => Err(self.corrupt(column, format!("{other} is not 0 or 1"))),
            Err(error) => Err(self.corrupt(column, error.to_string())),
        }
    }

    fn station_id(&self, column: &'static str) -> Result<StationId, StoreError> {
        let text = self.text(column)?;
        StationId::parse(&text).map_err(|error| self.corrupt(column, error.to_string()))
    }

    fn timestamp(&self, column: &'static str) -> Result<Timestamp, StoreError> {
        let text = self.text(column)?;
        self.parse_timestamp(column, &text)
    }

    fn opt_timestamp(&self, column: &'static str) -> Result<Option<Timestamp>, StoreError> {
        self.opt_text(column)?
            .map(|text| self.parse_timestamp(column, &text))
            .transpose()
    }

    fn parse_timestamp(&self, column: &'static str, text: &str) -> Result<Timestamp, StoreError> {
        parse_timestamp_text(text)
            .map_err(|error| self.corrupt(column, format!("{text:?}: {error}")))
    }

    /// A column spelled by a model enum's `as_str`, read back with its `parse`.
    fn parsed<T>(
        &self,
        column: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, StoreError> {
        let text = self.text(column)?;
        parse(&text).ok_or_else(|| self.corrupt(column, format!("unknown value {text:?}")))
    }

    fn opt_parsed<T>(
        &self,
        column: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, StoreError> {
        self.opt_text(column)?
            .map(|text| {
                parse(&text).ok_or_else(|| self.corrupt(column, format!("unknown value {text:?}")))
            })
            .transpose()
    }

    fn names(&self, column: &'static str) -> Result<Vec<String>, StoreError> {
        let text = self.text(column)?;
        serde_json::from_str(&text).map_err(|error| self.corrupt(column, error.to_string()))
    }

    fn json(&self, column: &'static str) -> Result<Value, StoreError> {
        let text = self.text(column)?;
        serde_json::from_str(&text).map_err(|error| self.corrupt(column, error.to_string()))
    }
}

/// An integer column (a sequence number, a count).
pub(crate) fn integer(
    row: &Row,
    table: &'static str,
    column: &'static str,
) -> Result<i64, StoreError> {
    Columns::new(row, table).get(column)
}

/// Rows of another table nested in a column as a JSON array of objects (see
/// [`super::read::Reader::nests_rows`]), each decoded as if it had been read alone.
pub(crate) fn nested<T>(
    row: &Row,
    table: &'static str,
    column: &'static str,
    decode: impl Fn(&Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let c = Columns::new(row, table);
    let Value::Array(items) = c.json(column)? else {
        return Err(c.corrupt(column, "not a JSON array of rows"));
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(columns) => decode(&Row::Json(columns)),
            _ => Err(c.corrupt(column, "a nested row that is not a JSON object")),
        })
        .collect()
}

/// A nullable timestamp column (an aggregate such as `MIN(…)`).
pub(crate) fn opt_timestamp(
    row: &Row,
    table: &'static str,
    column: &'static str,
) -> Result<Option<Timestamp>, StoreError> {
    Columns::new(row, table).opt_timestamp(column)
}

/// A `stations` row.
pub(crate) fn station(row: &Row) -> Result<Station, StoreError> {
    let c = Columns::new(row, "stations");
    Ok(Station {
        id: c.station_id("id")?,
        ocpp_version: c.opt_text("ocpp_version")?,
        vendor: c.opt_text("vendor")?,
        model: c.opt_text("model")?,
        firmware_version: c.opt_text("firmware_version")?,
        serial_number: c.opt_text("serial_number")?,
        registration: c.parsed("registration", Registration::parse)?,
        last_seen_at: c.opt_timestamp("last_seen_at")?,
        last_boot_at: c.opt_timestamp("last_boot_at")?,
        vendor_profile: c.opt_text("vendor_profile")?,
        provisioned: c.bool("provisioned")?,
        created_at: c.timestamp("created_at")?,
    })
}

/// The `password_hash` of a `stations` row.
pub(crate) fn password_hash(row: &Row) -> Result<Option<String>, StoreError> {
    Columns::new(row, "stations").opt_text("password_hash")
}

/// A `connectors` row.
pub(crate) fn connector(row: &Row) -> Result<Connector, StoreError> {
    let c = Columns::new(row, "connectors");
    Ok(Connector {
        evse_id: c.u32("evse_id")?,
        connector_id: c.u32("connector_id")?,
        // Unknown spellings read as `Unknown`, which is what the status means anyway.
        reported_status: ConnectorStatus::parse(&c.text("reported_status")?),
        charging_state: c.opt_parsed("charging_state", ChargingState::parse)?,
        connector_type: c.opt_parsed("connector_type", ConnectorType::parse)?,
        error_code: c.opt_text("error_code")?,
        info: c.opt_text("info")?,
        status_at: c.opt_timestamp("status_at")?,
    })
}

/// A `sessions` row.
pub(crate) fn session(row: &Row) -> Result<Session, StoreError> {
    let c = Columns::new(row, "sessions");
    Ok(Session {
        id: c.text("id")?,
        station_id: c.station_id("station_id")?,
        evse_id: c.u32("evse_id")?,
        connector_id: c.u32("connector_id")?,
        transaction_id: c.text("transaction_id")?,
        id_token: c.opt_text("id_token")?,
        state: c.parsed("state", SessionState::parse)?,
        started_at: c.timestamp("started_at")?,
        ended_at: c.opt_timestamp("ended_at")?,
        meter_start_wh: c.opt_f64("meter_start_wh")?,
        meter_stop_wh: c.opt_f64("meter_stop_wh")?,
        meter_last_wh: c.opt_f64("meter_last_wh")?,
        energy_wh: c.opt_f64("energy_wh")?,
        stop_reason: c.opt_parsed("stop_reason", StopReason::parse)?,
        soc_percent: c.opt_f64("soc_percent")?,
        power_w: c.opt_f64("power_w")?,
        charging_state: c.opt_parsed("charging_state", ChargingState::parse)?,
        last_seq_no: c.get::<Option<i64>>("last_seq_no")?.map(i64_to_u64),
        remote_start_id: c.get("remote_start_id")?,
        quirks: c.names("quirks")?,
        register: register_history(&c)?,
        updated_at: c.timestamp("updated_at")?,
    })
}

/// A `meter_samples` row (samples stored before migration 0007).
pub(crate) fn meter_sample(row: &Row) -> Result<MeterSample, StoreError> {
    let c = Columns::new(row, "meter_samples");
    Ok(MeterSample {
        timestamp: c.timestamp("timestamp")?,
        measurand: Measurand::parse(Some(&c.text("measurand")?)),
        value: c.get("value")?,
        unit: Unit::from(c.text("unit")?),
        phase: c.opt_text("phase")?,
        context: ReadingContext::parse(Some(&c.text("context")?)),
        location: c.opt_text("location")?,
    })
}

/// A `meter_readings` row: its time and its samples as stored (see `readings`).
pub(crate) fn meter_reading(row: &Row) -> Result<(String, String), StoreError> {
    let c = Columns::new(row, "meter_readings");
    Ok((c.text("timestamp")?, c.text("samples")?))
}

/// An `id_tokens` row.
pub(crate) fn id_token(row: &Row) -> Result<IdToken, StoreError> {
    let c = Columns::new(row, "id_tokens");
    Ok(IdToken {
        token: c.text("token")?,
        status: c.parsed("status", IdTokenStatus::parse)?,
        expires_at: c.opt_timestamp("expires_at")?,
        parent: c.opt_text("parent")?,
    })
}

/// A `frame_batches` row: its id and its frames as stored.
pub(crate) fn frame_batch(row: &Row) -> Result<(i64, StoredBatch), StoreError> {
    let c = Columns::new(row, "frame_batches");
    let batch = match c.opt_bytes("packed")? {
        Some(packed) => StoredBatch::Packed(packed),
        None => StoredBatch::Json(c.text("frames")?),
    };
    Ok((c.get("id")?, batch))
}

pub(crate) fn parse_direction(text: &str) -> Option<Direction> {
    match text {
        "inbound" => Some(Direction::Inbound),
        "outbound" => Some(Direction::Outbound),
        _ => None,
    }
}

/// The position and time of an `events` row.
pub(crate) fn event_position(row: &Row) -> Result<EventPosition, StoreError> {
    let c = Columns::new(row, "events");
    Ok(EventPosition {
        seq: c.get("seq")?,
        occurred_at: c.timestamp("occurred_at")?,
    })
}

/// An `events` row.
pub(crate) fn event(row: &Row) -> Result<StoredEvent, StoreError> {
    let c = Columns::new(row, "events");
    Ok(StoredEvent {
        seq: c.get("seq")?,
        event: DomainEvent {
            id: c.text("id")?,
            event_type: c.parsed("type", EventType::parse)?,
            occurred_at: c.timestamp("occurred_at")?,
            station_id: c.station_id("station_id")?,
            session_id: c.opt_text("session_id")?,
            data: c.json("data")?,
        },
    })
}

/// A `webhooks` row.
pub(crate) fn webhook(row: &Row) -> Result<Webhook, StoreError> {
    let c = Columns::new(row, "webhooks");
    let event_types = c
        .opt_text("event_types")?
        .map(|filter| {
            filter
                .split(',')
                .filter(|name| !name.is_empty())
                .map(|name| {
                    EventType::parse(name)
                        .ok_or_else(|| c.corrupt("event_types", format!("unknown type {name:?}")))
                })
                .collect::<Result<Vec<EventType>, StoreError>>()
        })
        .transpose()?;
    Ok(Webhook {
        id: c.text("id")?,
        url: c.text("url")?,
        secret: c.text("secret")?,
        event_types,
        start_seq: c.get("start_seq")?,
        created_at: c.timestamp("created_at")?,
    })
}

/// A `webhook_deliveries` row joined with its event's `event_id` and `event_type`.
pub(crate) fn delivery(row: &Row) -> Result<Delivery, StoreError> {
    let c = Columns::new(row, "webhook_deliveries");
    Ok(Delivery {
        webhook_id: c.text("webhook_id")?,
        event_seq: c.get("event_seq")?,
        event_id: c.text("event_id")?,
        event_type: c.parsed("event_type", EventType::parse)?,
        status: c.parsed("status", DeliveryStatus::parse)?,
        attempts: c.u32("attempts")?,
        next_attempt_at: c.timestamp("next_attempt_at")?,
        queued_at: c.timestamp("created_at")?,
        last_attempt_at: c.opt_timestamp("last_attempt_at")?,
        delivered_at: c.opt_timestamp("delivered_at")?,
        response_status: c
            .get::<Option<i64>>("response_status")?
            .map(|status| {
                u16::try_from(status).map_err(|_| {
                    c.corrupt("response_status", format!("{status} is no HTTP status"))
                })
            })
            .transpose()?,
        last_error: c.opt_text("last_error")?,
    })
}

/// A due delivery: the delivery's columns, its webhook's `url` and `secret`, its event's.
pub(crate) fn due_delivery(row: &Row) -> Result<DueDelivery, StoreError> {
    let c = Columns::new(row, "webhook_deliveries");
    Ok(DueDelivery {
        webhook_id: c.text("webhook_id")?,
        url: c.text("url")?,
        secret: c.text("secret")?,
        attempts: c.u32("attempts")?,
        queued_at: c.timestamp("queued_at")?,
        order_key: c.text("order_key")?,
        event: event(row)?,
    })
}

/// A `session_corrections` row.
pub(crate) fn session_correction(row: &Row) -> Result<SessionCorrection, StoreError> {
    let c = Columns::new(row, "session_corrections");
    Ok(SessionCorrection {
        session_id: c.text("session_id")?,
        due_at: c.timestamp("due_at")?,
        generation: c.get("generation")?,
    })
}

/// An `api_tokens` row.
pub(crate) fn api_token(row: &Row) -> Result<ApiToken, StoreError> {
    let c = Columns::new(row, "api_tokens");
    Ok(ApiToken {
        id: c.text("id")?,
        name: c.text("name")?,
        role: c.parsed("role", ApiTokenRole::parse)?,
        token_hash: c.text("token_hash")?,
        created_at: c.timestamp("created_at")?,
    })
}

/// A `station_configuration` row.
pub(crate) fn configuration(row: &Row) -> Result<ConfigurationRecord, StoreError> {
    let c = Columns::new(row, "station_configuration");
    Ok(ConfigurationRecord {
        entry: ConfigurationEntry {
            key: c.text("key")?,
            value: c.opt_text("value")?,
            readonly: c.opt_bool("readonly")?,
        },
        updated_at: c.timestamp("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn timestamps_are_written_as_chrono_writes_them() {
        // Spread over the whole range the fast path writes, with every field's extremes.
        let mut seconds = Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap().timestamp();
        let last = Utc
            .with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
            .unwrap()
            .timestamp();
        let mut nanos = 0u32;
        let mut count = 0;
        while seconds <= last {
            let at = DateTime::from_timestamp(seconds, nanos).unwrap();
            assert_eq!(
                timestamp_text(&at),
                at.to_rfc3339_opts(SecondsFormat::Nanos, true)
            );
            seconds += 7_777_777 + i64::from(nanos % 86_400);
            nanos = (nanos + 123_456_791) % 1_000_000_000;
            count += 1;
        }
        assert!(count > 40_000, "{count} timestamps");
        let edges = [
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap()
                + chrono::Duration::nanoseconds(999_999_999),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2024, 2, 29, 12, 34, 56).unwrap(),
            // Outside the four-digit years: chrono's own spelling.
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 12, 31, 23, 59, 59).unwrap(),
            // A leap second (nanoseconds past a billion).
            DateTime::from_timestamp(1_483_228_799, 1_500_000_000).unwrap(),
        ];
        for at in edges {
            assert_eq!(
                timestamp_text(&at),
                at.to_rfc3339_opts(SecondsFormat::Nanos, true)
            );
        }
    }

    #[test]
    fn timestamps_are_fixed_width_and_keep_nanoseconds() {
        let whole = Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap();
        let fine = whole + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(timestamp_text(&whole), "2026-03-01T10:00:00.000000000Z");
        assert_eq!(timestamp_text(&fine), "2026-03-01T10:00:00.123456789Z");
        assert!(timestamp_text(&whole) < timestamp_text(&fine));
        let back = DateTime::parse_from_rfc3339(&timestamp_text(&fine)).unwrap();
        assert_eq!(back.with_timezone(&Utc), fine);
    }

    #[test]
    fn u64_survives_the_signed_column() {
        for value in [0, 1, i64::MAX as u64, u64::MAX] {
            assert_eq!(i64_to_u64(u64_to_i64(value)), value);
        }
    }
}
