//! The SQL of every write, run by the writer inside its group transaction.

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use zaryad_model::{
    Connector, DomainEvent, IdToken, MeterSample, Session, Station, StationId, Timestamp,
};

use super::rows::{names_json, opt_timestamp_text, timestamp_text, u64_to_i64, value_json};
use crate::{ApiToken, FrameRecord, ProvisionStation, StoreError, WriteOp};

/// Rows per multi-row INSERT: well under SQLite's limit of bound parameters per statement.
const ROWS_PER_INSERT: usize = 100;

/// How many transaction ids one reservation takes from the `counters` table.
pub(crate) const ID_BLOCK: i64 = 100;

const ID_COUNTER: &str = "transaction_id";

/// Applies one operation; `now` is the server time stamped on `updated_at` columns.
pub(crate) async fn apply(
    conn: &mut SqliteConnection,
    op: &WriteOp,
    now: &str,
) -> Result<(), StoreError> {
    match op {
        WriteOp::UpsertStation(station) => upsert_station(conn, station, now).await,
        WriteOp::ProvisionStation(provision) => provision_station(conn, provision).await,
        WriteOp::DeleteStation(id) => delete_station(conn, id).await,
        WriteOp::UpsertConnector {
            station_id,
            connector,
        } => upsert_connector(conn, station_id, connector).await,
        WriteOp::UpsertSession(session) => upsert_session(conn, session).await,
        WriteOp::InsertSamples {
            station_id,
            evse_id,
            session_id,
            samples,
        } => insert_samples(conn, station_id, *evse_id, session_id.as_deref(), samples).await,
        WriteOp::AppendEvent(event) => append_event(conn, event).await,
        WriteOp::UpsertIdToken(token) => upsert_id_token(conn, token, now).await,
        WriteOp::DeleteIdToken(token) => {
            sqlx::query("DELETE FROM id_tokens WHERE token = ?1")
                .bind(token)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
        WriteOp::InsertApiToken(token) => insert_api_token(conn, token).await,
    }
}

async fn upsert_station(
    conn: &mut SqliteConnection,
    station: &Station,
    now: &str,
) -> Result<(), StoreError> {
    // The password, `provisioned`, the operator's pinned profile and the first-seen time belong
    // to the existing row; `last_seen_at` only moves forward because touches may be newer than
    // the caller's copy of the station.
    sqlx::query(
        "INSERT INTO stations (id, ocpp_version, vendor, model, firmware_version, serial_number,
             registration, last_seen_at, last_boot_at, vendor_profile, provisioned, password_hash,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL, ?12, ?13)
         ON CONFLICT (id) DO UPDATE SET
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
             updated_at = excluded.updated_at",
    )
    .bind(station.id.as_str())
    .bind(station.ocpp_version.as_deref())
    .bind(station.vendor.as_deref())
    .bind(station.model.as_deref())
    .bind(station.firmware_version.as_deref())
    .bind(station.serial_number.as_deref())
    .bind(station.registration.as_str())
    .bind(opt_timestamp_text(station.last_seen_at.as_ref()))
    .bind(opt_timestamp_text(station.last_boot_at.as_ref()))
    .bind(station.vendor_profile.as_deref())
    .bind(station.provisioned)
    .bind(timestamp_text(&station.created_at))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn provision_station(
    conn: &mut SqliteConnection,
    provision: &ProvisionStation,
) -> Result<(), StoreError> {
    let at = timestamp_text(&provision.at);
    // An operator creating a station means it is expected, hence `accepted` unless told otherwise.
    let registration = provision
        .registration
        .map_or("accepted", |registration| registration.as_str());
    sqlx::query(
        "INSERT INTO stations (id, registration, provisioned, created_at, updated_at)
         VALUES (?1, ?2, 1, ?3, ?3)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(provision.id.as_str())
    .bind(registration)
    .bind(&at)
    .execute(&mut *conn)
    .await?;
    // Any operator change marks the station provisioned: the operator has now decided on it,
    // so the policy for unknown stations no longer applies.
    sqlx::query(
        "UPDATE stations SET
             provisioned = 1,
             updated_at = ?2,
             registration = COALESCE(?3, registration),
             password_hash = CASE WHEN ?4 THEN ?5 ELSE password_hash END,
             vendor_profile = CASE WHEN ?6 THEN ?7 ELSE vendor_profile END
         WHERE id = ?1",
    )
    .bind(provision.id.as_str())
    .bind(&at)
    .bind(
        provision
            .registration
            .map(|registration| registration.as_str()),
    )
    .bind(provision.password_hash.is_some())
    .bind(provision.password_hash.as_ref().and_then(Option::as_deref))
    .bind(provision.vendor_profile.is_some())
    .bind(provision.vendor_profile.as_ref().and_then(Option::as_deref))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn delete_station(conn: &mut SqliteConnection, id: &StationId) -> Result<(), StoreError> {
    // The foreign key cascades too; deleting explicitly keeps this right even on a connection
    // where foreign keys were switched off.
    sqlx::query("DELETE FROM connectors WHERE station_id = ?1")
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM stations WHERE id = ?1")
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn upsert_connector(
    conn: &mut SqliteConnection,
    station_id: &StationId,
    connector: &Connector,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO connectors (station_id, evse_id, connector_id, reported_status,
             charging_state, connector_type, error_code, info, status_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (station_id, evse_id, connector_id) DO UPDATE SET
             reported_status = excluded.reported_status,
             charging_state = excluded.charging_state,
             connector_type = excluded.connector_type,
             error_code = excluded.error_code,
             info = excluded.info,
             status_at = excluded.status_at",
    )
    .bind(station_id.as_str())
    .bind(i64::from(connector.evse_id))
    .bind(i64::from(connector.connector_id))
    .bind(connector.reported_status.as_str())
    .bind(connector.charging_state.map(|state| state.as_str()))
    .bind(connector.connector_type.map(|kind| kind.as_str()))
    .bind(connector.error_code.as_deref())
    .bind(connector.info.as_deref())
    .bind(opt_timestamp_text(connector.status_at.as_ref()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn upsert_session(conn: &mut SqliteConnection, session: &Session) -> Result<(), StoreError> {
    // ON CONFLICT … DO UPDATE (not INSERT OR REPLACE) keeps the row's `seq`.
    sqlx::query(
        "INSERT INTO sessions (id, station_id, evse_id, connector_id, transaction_id, id_token,
             state, started_at, ended_at, meter_start_wh, meter_stop_wh, meter_last_wh, energy_wh,
             stop_reason, soc_percent, power_w, charging_state, last_seq_no, remote_start_id,
             quirks, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
             ?18, ?19, ?20, ?21)
         ON CONFLICT (id) DO UPDATE SET
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
             updated_at = excluded.updated_at",
    )
    .bind(&session.id)
    .bind(session.station_id.as_str())
    .bind(i64::from(session.evse_id))
    .bind(i64::from(session.connector_id))
    .bind(&session.transaction_id)
    .bind(session.id_token.as_deref())
    .bind(session.state.as_str())
    .bind(timestamp_text(&session.started_at))
    .bind(opt_timestamp_text(session.ended_at.as_ref()))
    .bind(session.meter_start_wh)
    .bind(session.meter_stop_wh)
    .bind(session.meter_last_wh)
    .bind(session.energy_wh)
    .bind(session.stop_reason.map(|reason| reason.as_str()))
    .bind(session.soc_percent)
    .bind(session.power_w)
    .bind(session.charging_state.map(|state| state.as_str()))
    .bind(session.last_seq_no.map(u64_to_i64))
    .bind(session.remote_start_id)
    .bind(names_json(&session.quirks)?)
    .bind(timestamp_text(&session.updated_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_samples(
    conn: &mut SqliteConnection,
    station_id: &StationId,
    evse_id: u32,
    session_id: Option<&str>,
    samples: &[MeterSample],
) -> Result<(), StoreError> {
    // SQLite stores NaN as NULL, which the NOT NULL column refuses; losing one unreadable
    // reading is better than failing the caller's whole batch (and the session with it).
    let finite: Vec<&MeterSample> = samples.iter().filter(|s| !s.value.is_nan()).collect();
    if finite.len() < samples.len() {
        tracing::warn!(
            station_id = %station_id,
            skipped = samples.len() - finite.len(),
            "meter samples without a numeric value were not stored"
        );
    }
    for chunk in finite.chunks(ROWS_PER_INSERT) {
        let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO meter_samples (session_id, station_id, evse_id, timestamp, measurand,
                 value, unit, phase, context, location) ",
        );
        insert.push_values(chunk, |mut row, sample| {
            row.push_bind(session_id.map(str::to_owned))
                .push_bind(station_id.as_str().to_owned())
                .push_bind(i64::from(evse_id))
                .push_bind(timestamp_text(&sample.timestamp))
                .push_bind(sample.measurand.as_str().to_owned())
                .push_bind(sample.value)
                .push_bind(sample.unit.as_str().to_owned())
                .push_bind(sample.phase.clone())
                .push_bind(sample.context.as_str())
                .push_bind(sample.location.clone());
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn append_event(conn: &mut SqliteConnection, event: &DomainEvent) -> Result<(), StoreError> {
    // Event ids are stable across retries: a second append of the same event is a no-op, so a
    // caller that retries after an unclear failure cannot deliver an event twice.
    sqlx::query(
        "INSERT INTO events (id, type, occurred_at, station_id, session_id, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&event.id)
    .bind(event.event_type.as_str())
    .bind(timestamp_text(&event.occurred_at))
    .bind(event.station_id.as_str())
    .bind(event.session_id.as_deref())
    .bind(value_json(&event.data)?)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn upsert_id_token(
    conn: &mut SqliteConnection,
    token: &IdToken,
    now: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO id_tokens (token, status, expires_at, parent, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (token) DO UPDATE SET
             status = excluded.status,
             expires_at = excluded.expires_at,
             parent = excluded.parent,
             updated_at = excluded.updated_at",
    )
    .bind(&token.token)
    .bind(token.status.as_str())
    .bind(opt_timestamp_text(token.expires_at.as_ref()))
    .bind(token.parent.as_deref())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_api_token(conn: &mut SqliteConnection, token: &ApiToken) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_tokens (id, name, role, token_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(&token.id)
    .bind(&token.name)
    .bind(token.role.as_str())
    .bind(&token.token_hash)
    .bind(timestamp_text(&token.created_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Appends frame-log rows in multi-row INSERTs, in the order given.
pub(crate) async fn insert_frames(
    conn: &mut SqliteConnection,
    frames: &[FrameRecord],
) -> Result<(), StoreError> {
    for chunk in frames.chunks(ROWS_PER_INSERT) {
        let repairs = chunk
            .iter()
            .map(|frame| names_json(&frame.repairs))
            .collect::<Result<Vec<String>, StoreError>>()?;
        let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO frames (station_id, direction, at, ocpp_version, action, message_id,
                 text, repairs) ",
        );
        insert.push_values(chunk.iter().zip(repairs), |mut row, (frame, repairs)| {
            row.push_bind(frame.station_id.as_str().to_owned())
                .push_bind(frame.direction.as_str())
                .push_bind(timestamp_text(&frame.at))
                .push_bind(frame.ocpp_version.clone())
                .push_bind(frame.action.clone())
                .push_bind(frame.message_id.clone())
                .push_bind(frame.text.clone())
                .push_bind(repairs);
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Moves each station's `last_seen_at` forward to the given time (never backward).
pub(crate) async fn update_last_seen(
    conn: &mut SqliteConnection,
    touches: &[(StationId, Timestamp)],
) -> Result<(), StoreError> {
    for (station_id, at) in touches {
        sqlx::query(
            "UPDATE stations SET last_seen_at = ?2
             WHERE id = ?1 AND (last_seen_at IS NULL OR last_seen_at < ?2)",
        )
        .bind(station_id.as_str())
        .bind(timestamp_text(at))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Takes the next block of OCPP 1.6 transaction ids and returns its first id; the block is
/// `first..first + ID_BLOCK`.
///
/// OCPP 1.6 ids are `i32`: after the last block below `i32::MAX` the counter starts again at 1.
/// That takes about two billion transactions, long after the sessions with the old ids are
/// completed, and lookups go by station and transaction id, newest first.
pub(crate) async fn reserve_transaction_ids(
    conn: &mut SqliteConnection,
) -> Result<i64, StoreError> {
    let last: Option<i64> = sqlx::query_scalar("SELECT value FROM counters WHERE name = ?1")
        .bind(ID_COUNTER)
        .fetch_optional(&mut *conn)
        .await?;
    let last = last.unwrap_or(0);
    let limit = i64::from(i32::MAX);
    if !(0..=limit).contains(&last) {
        return Err(StoreError::Corrupt {
            table: "counters",
            column: "value",
            detail: format!("transaction id counter {last} is outside 0..={limit}"),
        });
    }
    let first = if last > limit - ID_BLOCK { 1 } else { last + 1 };
    sqlx::query(
        "INSERT INTO counters (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(ID_COUNTER)
    .bind(first + ID_BLOCK - 1)
    .execute(&mut *conn)
    .await?;
    Ok(first)
}
