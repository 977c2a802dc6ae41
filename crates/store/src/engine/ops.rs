//! The SQL of every write, run by the writer inside its group transaction; the same text on
//! both databases.

use zaryad_model::{
    ConfigurationEntry, Connector, DomainEvent, IdToken, MeterSample, Session, Station, StationId,
    Timestamp,
};

use super::query::{Arg, Query};
use super::readings::{ReadingRow, reading_rows};
use super::rows::{
    names_json, opt_timestamp_text, register_history_json, timestamp_text, u64_to_i64, value_json,
};
use super::upserts::{SESSION_UPDATES, Upsert, last_per_key};
use super::writer::WriteConn;
use crate::{
    ApiToken, AttemptOutcome, DeliveryAttempt, DeliveryStatus, NewWebhook, ProvisionStation,
    SessionCorrection, StoreError, WriteOp,
};

/// How many transaction ids one reservation takes from the `counters` table.
pub(crate) const ID_BLOCK: i64 = 100;

const ID_COUNTER: &str = "transaction_id";

/// An outbox event as its row, ready for a batch insert at the end of the group.
#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    pub(crate) id: String,
    pub(crate) event_type: String,
    pub(crate) occurred_at: String,
    pub(crate) station_id: String,
    pub(crate) session_id: Option<String>,
    pub(crate) data: String,
}

/// Rows a request adds that the writer inserts for the whole group at once.
#[derive(Debug, Default)]
pub(crate) struct GroupRows {
    pub(crate) readings: Vec<ReadingRow>,
    /// Only where [`WriteConn::BATCH_ROWS`] says so; elsewhere events are inserted in place.
    pub(crate) events: Vec<EventRow>,
    /// Station upserts (their arguments), batched where events are.
    pub(crate) stations: Vec<Vec<Arg>>,
    /// Session upserts (their arguments), batched where events are.
    pub(crate) sessions: Vec<Vec<Arg>>,
    /// Connector upserts (their arguments), batched where events are.
    pub(crate) connectors: Vec<Vec<Arg>>,
}

impl GroupRows {
    pub(crate) fn append(&mut self, other: &mut GroupRows) {
        self.readings.append(&mut other.readings);
        self.events.append(&mut other.events);
        self.stations.append(&mut other.stations);
        self.sessions.append(&mut other.sessions);
        self.connectors.append(&mut other.connectors);
    }

    /// The batched upserts of one kind.
    fn upserts_mut(&mut self, kind: Upsert) -> &mut Vec<Vec<Arg>> {
        match kind {
            Upsert::Station => &mut self.stations,
            Upsert::Session => &mut self.sessions,
            Upsert::Connector => &mut self.connectors,
        }
    }

    /// Writes the batched upserts of `kinds` (not events or samples), in that order: they
    /// replace every column but the key, so the last of several for one row is all that
    /// matters.
    pub(crate) async fn write_upserts<C: WriteConn>(
        &mut self,
        conn: &mut C,
        kinds: &[Upsert],
    ) -> Result<(), StoreError> {
        for kind in kinds {
            // Taken out: should the write fail, the group is retried from its requests.
            let rows = self.last_upserts(*kind);
            if !rows.is_empty() {
                conn.upsert_rows(*kind, &rows).await?;
            }
        }
        Ok(())
    }

    /// The batched upserts of one kind, the last per row only (one statement may not upsert
    /// a row twice), taken out of the group's rows.
    pub(crate) fn last_upserts(&mut self, kind: Upsert) -> Vec<Vec<Arg>> {
        last_per_key(std::mem::take(self.upserts_mut(kind)), kind.key_len())
    }
}

/// The batched upserts that must be written before `op` runs: those of the rows it may read,
/// delete or refer to.
fn written_before(op: &WriteOp) -> &'static [Upsert] {
    match op {
        WriteOp::UpsertSession(_)
        | WriteOp::UpsertConnector { .. }
        | WriteOp::InsertSamples { .. }
        | WriteOp::AppendEvent(_)
        | WriteOp::UpsertStation(_)
        | WriteOp::RequestSessionCorrection { .. } => &[],
        // Configuration rows refer to their station, which may be among the pending rows (a
        // boot and the configuration read after it in one group).
        WriteOp::StoreConfiguration { entries, .. } if entries.is_empty() => &[],
        WriteOp::StoreConfiguration { .. } => &[Upsert::Station],
        _ => Upsert::ALL,
    }
}

/// Applies one operation; `now` is the server time stamped on `updated_at` columns.
///
/// Meter samples (and, where the database batches them, events and station, session and
/// connector upserts) are not written here but added to `rows`: the writer writes every
/// request's rows of a group in one statement each. `pending` holds the rows of the group's
/// earlier requests, which an operation that may read them must see written first.
pub(crate) async fn apply<C: WriteConn>(
    conn: &mut C,
    op: &WriteOp,
    now: &str,
    rows: &mut GroupRows,
    pending: &mut GroupRows,
) -> Result<(), StoreError> {
    let before = written_before(op);
    if C::BATCH_ROWS && !before.is_empty() {
        for kind in before {
            pending.upserts_mut(*kind).append(rows.upserts_mut(*kind));
        }
        pending.write_upserts(conn, before).await?;
    }
    if matches!(
        op,
        WriteOp::InsertWebhook(_)
            | WriteOp::QueueDeliveries { .. }
            | WriteOp::ReplayDeliveries { .. }
    ) && !(pending.events.is_empty() && rows.events.is_empty())
    {
        // A webhook starts after, and deliveries cover, every event before it in the group.
        pending.events.append(&mut rows.events);
        conn.insert_events(&pending.events).await?;
        pending.events.clear();
    }
    let query = match op {
        WriteOp::UpsertStation(station) if C::BATCH_ROWS => {
            rows.stations.push(upsert_station(station, now).args);
            return Ok(());
        }
        WriteOp::UpsertStation(station) => upsert_station(station, now),
        WriteOp::ProvisionStation(provision) => return provision_station(conn, provision).await,
        WriteOp::DeleteStation(id) => return delete_station(conn, id).await,
        WriteOp::UpsertConnector {
            station_id,
            connector,
        } if C::BATCH_ROWS => {
            rows.connectors
                .push(upsert_connector(station_id, connector).args);
            return Ok(());
        }
        WriteOp::UpsertConnector {
            station_id,
            connector,
        } => upsert_connector(station_id, connector),
        WriteOp::UpsertSession(session) if C::BATCH_ROWS => {
            rows.sessions.push(upsert_session(session)?.args);
            return Ok(());
        }
        WriteOp::UpsertSession(session) => return write_session(conn, session).await,
        WriteOp::InsertSamples {
            station_id,
            evse_id,
            session_id,
            samples: new,
        } => {
            sample_rows(
                station_id,
                *evse_id,
                session_id.as_deref(),
                new,
                &mut rows.readings,
            )?;
            return Ok(());
        }
        WriteOp::AppendEvent(event) if C::BATCH_ROWS => {
            rows.events.push(event_row(event)?);
            return Ok(());
        }
        WriteOp::AppendEvent(event) => append_event(event)?,
        WriteOp::UpsertIdToken(token) => upsert_id_token(token, now),
        WriteOp::DeleteIdToken(token) => {
            Query::new("DELETE FROM id_tokens WHERE token = $1").text(token.as_str())
        }
        WriteOp::InsertApiToken(token) => insert_api_token(token),
        WriteOp::DeleteApiToken(id) => {
            Query::new("DELETE FROM api_tokens WHERE id = $1").text(id.as_str())
        }
        WriteOp::StoreConfiguration {
            station_id,
            entries,
            replace,
            at,
        } => return store_configuration(conn, station_id, entries, *replace, at).await,
        WriteOp::InsertWebhook(webhook) => insert_webhook(webhook),
        WriteOp::DeleteWebhook(id) => return delete_webhook(conn, id).await,
        WriteOp::QueueDeliveries {
            after_seq,
            through_seq,
            at,
        } => queue_deliveries(*after_seq, *through_seq, at),
        WriteOp::RecordAttempt(attempt) => return record_attempt(conn, attempt).await,
        WriteOp::ReplayDeliveries {
            webhook_id,
            since,
            at,
        } => replay_deliveries(webhook_id, since, at),
        WriteOp::SetCursor { name, seq } => set_cursor(name, *seq),
        WriteOp::RequestSessionCorrection { session_id, due_at } => {
            request_correction(session_id, due_at)
        }
        WriteOp::FinishSessionCorrection(correction) => {
            return finish_correction(conn, correction).await;
        }
    };
    conn.execute(query).await.map(drop)
}

fn upsert_station(station: &Station, now: &str) -> Query {
    Upsert::Station
        .query()
        .text(station.id.as_str())
        .opt_text(station.ocpp_version.as_deref())
        .opt_text(station.vendor.as_deref())
        .opt_text(station.model.as_deref())
        .opt_text(station.firmware_version.as_deref())
        .opt_text(station.serial_number.as_deref())
        .text(station.registration.as_str())
        .opt_text(opt_timestamp_text(station.last_seen_at.as_ref()))
        .opt_text(opt_timestamp_text(station.last_boot_at.as_ref()))
        .opt_text(station.vendor_profile.as_deref())
        .bool(station.provisioned)
        .text(timestamp_text(&station.created_at))
        .text(now)
}

async fn provision_station<C: WriteConn>(
    conn: &mut C,
    provision: &ProvisionStation,
) -> Result<(), StoreError> {
    let at = timestamp_text(&provision.at);
    // An operator creating a station means it is expected, hence `accepted` unless told otherwise.
    let registration = provision
        .registration
        .map_or("accepted", |registration| registration.as_str());
    conn.execute(
        Query::new(
            "INSERT INTO stations (id, registration, provisioned, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (id) DO NOTHING",
        )
        .text(provision.id.as_str())
        .text(registration)
        .bool(true)
        .text(at.as_str()),
    )
    .await?;
    // Any operator change marks the station provisioned: the operator has now decided on it,
    // so the policy for unknown stations no longer applies.
    conn.execute(
        Query::new(
            "UPDATE stations SET
                 provisioned = $2,
                 updated_at = $3,
                 registration = COALESCE($4, registration),
                 password_hash = CASE WHEN $5 THEN $6 ELSE password_hash END,
                 vendor_profile = CASE WHEN $7 THEN $8 ELSE vendor_profile END
             WHERE id = $1",
        )
        .text(provision.id.as_str())
        .bool(true)
        .text(at)
        .opt_text(
            provision
                .registration
                .map(|registration| registration.as_str()),
        )
        .bool(provision.password_hash.is_some())
        .opt_text(provision.password_hash.as_ref().and_then(Option::as_deref))
        .bool(provision.vendor_profile.is_some())
        .opt_text(provision.vendor_profile.as_ref().and_then(Option::as_deref)),
    )
    .await?;
    Ok(())
}

async fn delete_station<C: WriteConn>(conn: &mut C, id: &StationId) -> Result<(), StoreError> {
    // The foreign key cascades too; deleting explicitly keeps this right even on a connection
    // where foreign keys were switched off.
    conn.execute(Query::new("DELETE FROM connectors WHERE station_id = $1").text(id.as_str()))
        .await?;
    conn.execute(Query::new("DELETE FROM stations WHERE id = $1").text(id.as_str()))
        .await?;
    Ok(())
}

fn upsert_connector(station_id: &StationId, connector: &Connector) -> Query {
    Upsert::Connector
        .query()
        .text(station_id.as_str())
        .int(i64::from(connector.evse_id))
        .int(i64::from(connector.connector_id))
        .text(connector.reported_status.as_str())
        .opt_text(connector.charging_state.map(|state| state.as_str()))
        .opt_text(connector.connector_type.map(|kind| kind.as_str()))
        .opt_text(connector.error_code.as_deref())
        .opt_text(connector.info.as_deref())
        .opt_text(opt_timestamp_text(connector.status_at.as_ref()))
}

/// Writes a session where rows are not batched: the first of [`SESSION_UPDATES`] that finds
/// its row, the full upsert only when none did.
async fn write_session<C: WriteConn>(conn: &mut C, session: &Session) -> Result<(), StoreError> {
    let upsert = upsert_session(session)?;
    for sql in SESSION_UPDATES {
        let update = Query {
            sql: std::borrow::Cow::Borrowed(sql),
            args: upsert.args.clone(),
        };
        if conn.execute(update).await? > 0 {
            return Ok(());
        }
    }
    conn.execute(upsert).await?;
    Ok(())
}

fn upsert_session(session: &Session) -> Result<Query, StoreError> {
    Ok(Upsert::Session
        .query()
        .text(session.id.as_str())
        .text(session.station_id.as_str())
        .int(i64::from(session.evse_id))
        .int(i64::from(session.connector_id))
        .text(session.transaction_id.as_str())
        .opt_text(session.id_token.as_deref())
        .text(session.state.as_str())
        .text(timestamp_text(&session.started_at))
        .opt_text(opt_timestamp_text(session.ended_at.as_ref()))
        .opt_real(session.meter_start_wh)
        .opt_real(session.meter_stop_wh)
        .opt_real(session.meter_last_wh)
        .opt_real(session.energy_wh)
        .opt_text(session.stop_reason.map(|reason| reason.as_str()))
        .opt_real(session.soc_percent)
        .opt_real(session.power_w)
        .opt_text(session.charging_state.map(|state| state.as_str()))
        .opt_int(session.last_seq_no.map(u64_to_i64))
        .opt_int(session.remote_start_id)
        .text(names_json(&session.quirks)?)
        .text(timestamp_text(&session.updated_at))
        .opt_text(register_history_json(&session.register)?))
}

fn sample_rows(
    station_id: &StationId,
    evse_id: u32,
    session_id: Option<&str>,
    samples: &[MeterSample],
    rows: &mut Vec<ReadingRow>,
) -> Result<(), StoreError> {
    let skipped = reading_rows(station_id, evse_id, session_id, samples, rows)?;
    if skipped > 0 {
        tracing::warn!(
            station_id = %station_id,
            skipped,
            "meter samples without a finite numeric value were not stored"
        );
    }
    Ok(())
}

fn event_row(event: &DomainEvent) -> Result<EventRow, StoreError> {
    Ok(EventRow {
        id: event.id.clone(),
        event_type: event.event_type.as_str().to_owned(),
        occurred_at: timestamp_text(&event.occurred_at),
        station_id: event.station_id.as_str().to_owned(),
        session_id: event.session_id.clone(),
        data: value_json(&event.data)?,
    })
}

fn append_event(event: &DomainEvent) -> Result<Query, StoreError> {
    Ok(insert_event(&event_row(event)?))
}

/// The statement of [`insert_event`].
pub(crate) const INSERT_EVENT: &str =
    "INSERT INTO events (id, type, occurred_at, station_id, session_id, data)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO NOTHING";

/// Inserts one event row. Event ids are stable across retries: a second append of the same
/// event is a no-op, so a caller that retries after an unclear failure cannot deliver an event
/// twice.
pub(crate) fn insert_event(row: &EventRow) -> Query {
    Query::new(INSERT_EVENT)
        .text(row.id.as_str())
        .text(row.event_type.as_str())
        .text(row.occurred_at.as_str())
        .text(row.station_id.as_str())
        .opt_text(row.session_id.as_deref())
        .text(row.data.as_str())
}

fn upsert_id_token(token: &IdToken, now: &str) -> Query {
    Query::new(
        "INSERT INTO id_tokens (token, status, expires_at, parent, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (token) DO UPDATE SET
             status = excluded.status,
             expires_at = excluded.expires_at,
             parent = excluded.parent,
             updated_at = excluded.updated_at",
    )
    .text(token.token.as_str())
    .text(token.status.as_str())
    .opt_text(opt_timestamp_text(token.expires_at.as_ref()))
    .opt_text(token.parent.as_deref())
    .text(now)
}

fn insert_api_token(token: &ApiToken) -> Query {
    Query::new(
        "INSERT INTO api_tokens (id, name, role, token_hash, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .text(token.id.as_str())
    .text(token.name.as_str())
    .text(token.role.as_str())
    .text(token.token_hash.as_str())
    .text(timestamp_text(&token.created_at))
}

async fn store_configuration<C: WriteConn>(
    conn: &mut C,
    station_id: &StationId,
    entries: &[ConfigurationEntry],
    replace: bool,
    at: &Timestamp,
) -> Result<(), StoreError> {
    if replace {
        let clear = Query::new("DELETE FROM station_configuration WHERE station_id = $1")
            .text(station_id.as_str());
        conn.execute(clear).await?;
    }
    let at = timestamp_text(at);
    for entry in entries {
        // A station may report a key twice in one answer; the last one wins, as it would on
        // the station. A readonly flag the new report does not give keeps the known one.
        let upsert = Query::new(
            "INSERT INTO station_configuration (station_id, key, value, readonly, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (station_id, key) DO UPDATE SET value = excluded.value,
                 readonly = COALESCE(excluded.readonly, station_configuration.readonly),
                 updated_at = excluded.updated_at",
        )
        .text(station_id.as_str())
        .text(entry.key.as_str())
        .opt_text(entry.value.as_deref())
        .opt_int(entry.readonly.map(i64::from))
        .text(at.as_str());
        conn.execute(upsert).await?;
    }
    Ok(())
}

/// The stored form of a webhook's type filter: `,a,b,`, so that SQL can match `,<type>,`.
pub(crate) fn type_filter(types: Option<&[zaryad_model::EventType]>) -> Option<String> {
    types.map(|types| {
        let mut filter = String::from(",");
        for event_type in types {
            filter.push_str(event_type.as_str());
            filter.push(',');
        }
        filter
    })
}

fn insert_webhook(webhook: &NewWebhook) -> Query {
    // The start is read inside the writer's transaction, so no event can fall between "before
    // the webhook" and "after it".
    Query::new(
        "INSERT INTO webhooks (id, url, secret, event_types, start_seq, created_at)
         VALUES ($1, $2, $3, $4, (SELECT COALESCE(MAX(seq), 0) FROM events), $5)",
    )
    .text(webhook.id.as_str())
    .text(webhook.url.as_str())
    .text(webhook.secret.as_str())
    .opt_text(type_filter(webhook.event_types.as_deref()))
    .text(timestamp_text(&webhook.created_at))
}

async fn delete_webhook<C: WriteConn>(conn: &mut C, id: &str) -> Result<(), StoreError> {
    // Explicit, like stations: right even where foreign keys are off.
    conn.execute(Query::new("DELETE FROM webhook_deliveries WHERE webhook_id = $1").text(id))
        .await?;
    conn.execute(Query::new("DELETE FROM webhooks WHERE id = $1").text(id))
        .await?;
    Ok(())
}

/// The `order_key` of an `events` row, as `DomainEvent::order_key` computes it.
macro_rules! order_key_sql {
    () => {
        "COALESCE(e.session_id, 'station:' || e.station_id)"
    };
}

/// `w` subscribes to the type of `e` (see [`type_filter`]; event types hold no LIKE
/// wildcards but `_`, which only ever meets the `_` of the same name).
macro_rules! subscribed_sql {
    () => {
        "(w.event_types IS NULL OR w.event_types LIKE '%,' || e.type || ',%')"
    };
}

fn queue_deliveries(after_seq: i64, through_seq: i64, at: &Timestamp) -> Query {
    // One statement for every event and webhook of the round; a webhook created or deleted
    // meanwhile is seen consistently because this runs in the writer's transaction.
    Query::new(concat!(
        "INSERT INTO webhook_deliveries (webhook_id, event_seq, order_key, status, attempts,
             next_attempt_at, created_at)
         SELECT w.id, e.seq, ",
        order_key_sql!(),
        ", 'pending', 0, $3, $3
         FROM events e JOIN webhooks w ON e.seq > w.start_seq
         WHERE e.seq > $1 AND e.seq <= $2 AND ",
        subscribed_sql!(),
        "
         ON CONFLICT (webhook_id, event_seq) DO NOTHING"
    ))
    .int(after_seq)
    .int(through_seq)
    .text(timestamp_text(at))
}

fn replay_deliveries(webhook_id: &str, since: &Timestamp, at: &Timestamp) -> Query {
    Query::new(concat!(
        "INSERT INTO webhook_deliveries (webhook_id, event_seq, order_key, status, attempts,
             next_attempt_at, created_at)
         SELECT w.id, e.seq, ",
        order_key_sql!(),
        ", 'pending', 0, $3, $3
         FROM events e JOIN webhooks w ON w.id = $1
         WHERE e.occurred_at >= $2 AND ",
        subscribed_sql!(),
        "
         ON CONFLICT (webhook_id, event_seq) DO UPDATE SET
             status = 'pending',
             attempts = 0,
             next_attempt_at = excluded.next_attempt_at,
             created_at = excluded.created_at,
             last_attempt_at = NULL,
             delivered_at = NULL,
             response_status = NULL,
             last_error = NULL"
    ))
    .text(webhook_id)
    .text(timestamp_text(since))
    .text(timestamp_text(at))
}

async fn record_attempt<C: WriteConn>(
    conn: &mut C,
    attempt: &DeliveryAttempt,
) -> Result<(), StoreError> {
    let at = timestamp_text(&attempt.at);
    let (status, next_attempt_at) = match attempt.outcome {
        AttemptOutcome::Delivered => (DeliveryStatus::Delivered, at.clone()),
        AttemptOutcome::Retry(next) => (DeliveryStatus::Pending, timestamp_text(&next)),
        AttemptOutcome::Failed => (DeliveryStatus::Failed, at.clone()),
    };
    let delivered_at = (status == DeliveryStatus::Delivered).then(|| at.clone());
    // Only a pending delivery changes: a replay that reset it meanwhile starts over anyway.
    conn.execute(
        Query::new(
            "UPDATE webhook_deliveries SET
                 status = $3,
                 attempts = attempts + 1,
                 last_attempt_at = $4,
                 next_attempt_at = $5,
                 delivered_at = COALESCE($6, delivered_at),
                 response_status = $7,
                 last_error = $8
             WHERE webhook_id = $1 AND event_seq = $2 AND status = 'pending'",
        )
        .text(attempt.webhook_id.as_str())
        .int(attempt.event_seq)
        .text(status.as_str())
        .text(at.as_str())
        .text(next_attempt_at)
        .opt_text(delivered_at)
        .opt_int(attempt.response_status.map(i64::from))
        .opt_text(attempt.error.as_deref()),
    )
    .await?;
    if attempt.outcome == AttemptOutcome::Delivered {
        // The receiver is back: deliveries that failed because it was unreachable (no answer,
        // or a proxy's 502/503/504) are due now instead of after their backoff. Ones its own
        // code refused keep their backoff, so that one bad event cannot retry in a loop.
        conn.execute(
            Query::new(
                "UPDATE webhook_deliveries SET next_attempt_at = $2
                 WHERE webhook_id = $1 AND status = 'pending' AND next_attempt_at > $2
                     AND attempts > 0
                     AND (response_status IS NULL OR response_status IN (502, 503, 504))",
            )
            .text(attempt.webhook_id.as_str())
            .text(at),
        )
        .await?;
    }
    Ok(())
}

fn set_cursor(name: &str, seq: i64) -> Query {
    Query::new(
        "INSERT INTO event_cursors (name, seq) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET seq = CASE
             WHEN excluded.seq > event_cursors.seq THEN excluded.seq
             ELSE event_cursors.seq END",
    )
    .text(name)
    .int(seq)
}

fn request_correction(session_id: &str, due_at: &Timestamp) -> Query {
    Query::new(
        "INSERT INTO session_corrections (session_id, due_at, generation) VALUES ($1, $2, 0)
         ON CONFLICT (session_id) DO UPDATE SET
             generation = session_corrections.generation + 1",
    )
    .text(session_id)
    .text(timestamp_text(due_at))
}

async fn finish_correction<C: WriteConn>(
    conn: &mut C,
    correction: &SessionCorrection,
) -> Result<(), StoreError> {
    let deleted = conn
        .execute(
            Query::new("DELETE FROM session_corrections WHERE session_id = $1 AND generation = $2")
                .text(correction.session_id.as_str())
                .int(correction.generation),
        )
        .await?;
    if deleted == 0 {
        // Undoes the corrected event of the same batch: it was built from stale data.
        return Err(StoreError::Conflict(format!(
            "the correction of session {} changed while it was built",
            correction.session_id
        )));
    }
    Ok(())
}

/// Moves one station's `last_seen_at` forward to `at` (never backward).
pub(crate) fn update_last_seen(station_id: &StationId, at: &Timestamp) -> Query {
    Query::new(
        "UPDATE stations SET last_seen_at = $2
         WHERE id = $1 AND (last_seen_at IS NULL OR last_seen_at < $2)",
    )
    .text(station_id.as_str())
    .text(timestamp_text(at))
}

/// Deletes at most `limit` frame-log batches whose last frame is older than `before`, oldest
/// first; answers how many.
pub(crate) async fn prune_frames<C: WriteConn>(
    conn: &mut C,
    before: &Timestamp,
    limit: usize,
) -> Result<u64, StoreError> {
    conn.execute(
        Query::new(
            "DELETE FROM frame_batches WHERE id IN (
                 SELECT id FROM frame_batches WHERE last_at < $1 ORDER BY last_at LIMIT $2)",
        )
        .text(timestamp_text(before))
        .int(i64::try_from(limit).unwrap_or(i64::MAX)),
    )
    .await
}

/// Takes the next block of OCPP 1.6 transaction ids and returns its first id; the block is
/// `first..first + ID_BLOCK`.
///
/// One statement that reads and moves the counter, so two processes sharing a PostgreSQL
/// database (several nodes) serialize on the counter row and never take the same block.
///
/// OCPP 1.6 ids are `i32`: after the last block below `i32::MAX` the counter starts again at 1.
/// That takes about two billion transactions, long after the sessions with the old ids are
/// completed, and lookups go by station and transaction id, newest first.
pub(crate) async fn reserve_transaction_ids<C: WriteConn>(conn: &mut C) -> Result<i64, StoreError> {
    let limit = i64::from(i32::MAX);
    // A counter outside 0..=limit is left alone so that the range check below reports it.
    let last = conn
        .fetch_int(
            Query::new(
                "INSERT INTO counters (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET value = CASE
                     WHEN counters.value < 0 OR counters.value > $3 THEN counters.value
                     WHEN counters.value > $4 THEN $2
                     ELSE counters.value + $2 END
                 RETURNING value",
            )
            .text(ID_COUNTER)
            .int(ID_BLOCK)
            .int(limit)
            .int(limit - ID_BLOCK),
        )
        .await?;
    match last {
        Some(last) if (ID_BLOCK..=limit).contains(&last) => Ok(last - ID_BLOCK + 1),
        other => Err(StoreError::Corrupt {
            table: "counters",
            column: "value",
            detail: format!("transaction id counter {other:?} is outside 0..={limit}"),
        }),
    }
}
