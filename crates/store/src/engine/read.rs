//! Reads, served by the read pool; they never wait for the writer. The same SQL on both
//! databases.

use async_trait::async_trait;
use zaryad_model::{
    Connector, IdToken, MeterSample, Session, SessionState, Station, StationId, Timestamp,
};

use super::query::{Arg, Query, Row};
use super::readings;
use super::rows::{self, timestamp_text};
use crate::{
    ACTIVE_SESSIONS_LOADED, ApiToken, ConfigurationRecord, Delivery, DeliveryStatus, DueDelivery,
    EventPosition, FrameRecord, SessionCorrection, SessionCursor, SessionFilter, SessionPage,
    StationCredentials, StationState, StoreError, StoredEvent, Webhook,
};

/// The read pool of one database.
#[async_trait]
pub(crate) trait Reader: Send + Sync + 'static {
    /// Whether a query may return rows of other tables nested in its row as JSON (one round
    /// trip instead of one per table), exactly: PostgreSQL's `json_agg` writes every value as
    /// its own output would.
    fn nests_rows(&self) -> bool;

    /// Every row the query returns.
    async fn fetch_all(&self, query: Query) -> Result<Vec<Row>, StoreError>;

    /// The first row the query returns, if any.
    async fn fetch_optional(&self, query: Query) -> Result<Option<Row>, StoreError>;
}

/// The number of rows a listing returns when the caller asks for 0.
const DEFAULT_LIMIT: u32 = 100;

/// The condition "the session is active", spelled as a literal: the planner uses the active
/// sessions' partial index (migration 0010) only for a query whose condition is the index's
/// own, which a bound parameter cannot show it.
macro_rules! active {
    () => {
        "state = 'active'"
    };
}
const ACTIVE: &str = active!();

/// A connecting station's row with its connectors and active sessions nested in it: on
/// PostgreSQL each read is a round trip and most of a reconnect storm's database time.
fn station_with_state(id: &StationId) -> Query {
    Query::new(STATION_WITH_STATE)
        .text(id.as_str())
        .int(i64::from(ACTIVE_SESSIONS_LOADED))
}

const STATION_WITH_STATE: &str = concat!(
    "SELECT s.*,
        (SELECT COALESCE(json_agg(c ORDER BY c.evse_id, c.connector_id), '[]')::text
           FROM connectors c WHERE c.station_id = s.id) AS nested_connectors,
        (SELECT COALESCE(json_agg(x ORDER BY x.started_at DESC, x.seq DESC), '[]')::text
           FROM (SELECT * FROM sessions WHERE station_id = s.id AND ",
    active!(),
    "
                 ORDER BY started_at DESC, seq DESC LIMIT $2) x) AS nested_sessions
     FROM stations s WHERE s.id = $1"
);

fn limit(requested: u32) -> i64 {
    i64::from(if requested == 0 {
        DEFAULT_LIMIT
    } else {
        requested
    })
}

async fn one<T>(
    pool: &dyn Reader,
    query: Query,
    decode: impl Fn(&Row) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    pool.fetch_optional(query)
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

async fn all<T>(
    pool: &dyn Reader,
    query: Query,
    decode: impl Fn(&Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    pool.fetch_all(query).await?.iter().map(decode).collect()
}

pub(crate) async fn station(
    pool: &dyn Reader,
    id: &StationId,
) -> Result<Option<Station>, StoreError> {
    let query = Query::new("SELECT * FROM stations WHERE id = $1").text(id.as_str());
    one(pool, query, rows::station).await
}

pub(crate) async fn stations(pool: &dyn Reader) -> Result<Vec<Station>, StoreError> {
    all(
        pool,
        Query::new("SELECT * FROM stations ORDER BY id"),
        rows::station,
    )
    .await
}

pub(crate) async fn station_credentials(
    pool: &dyn Reader,
    id: &StationId,
) -> Result<Option<StationCredentials>, StoreError> {
    if !pool.nests_rows() {
        let query = Query::new("SELECT * FROM stations WHERE id = $1").text(id.as_str());
        return one(pool, query, |row| {
            Ok(StationCredentials {
                station_id: id.clone(),
                password_hash: rows::password_hash(row)?,
                station: rows::station(row)?,
                state: None,
            })
        })
        .await;
    }
    one(pool, station_with_state(id), |row| {
        Ok(StationCredentials {
            station_id: id.clone(),
            password_hash: rows::password_hash(row)?,
            station: rows::station(row)?,
            state: Some(StationState {
                connectors: rows::nested(row, "stations", "nested_connectors", rows::connector)?,
                active_sessions: rows::nested(row, "stations", "nested_sessions", rows::session)?,
            }),
        })
    })
    .await
}

pub(crate) async fn connectors(
    pool: &dyn Reader,
    station_id: &StationId,
) -> Result<Vec<Connector>, StoreError> {
    let query =
        Query::new("SELECT * FROM connectors WHERE station_id = $1 ORDER BY evse_id, connector_id")
            .text(station_id.as_str());
    all(pool, query, rows::connector).await
}

pub(crate) async fn session(pool: &dyn Reader, id: &str) -> Result<Option<Session>, StoreError> {
    let query = Query::new("SELECT * FROM sessions WHERE id = $1").text(id);
    one(pool, query, rows::session).await
}

pub(crate) async fn session_by_transaction(
    pool: &dyn Reader,
    station_id: &StationId,
    transaction_id: &str,
) -> Result<Option<Session>, StoreError> {
    // Chargers reuse transaction ids (after a reboot, or 1.6 ids after the counter wrapped):
    // the most recently created session is the one a message about that id concerns.
    let query = Query::new(
        "SELECT * FROM sessions WHERE station_id = $1 AND transaction_id = $2
         ORDER BY seq DESC LIMIT 1",
    )
    .text(station_id.as_str())
    .text(transaction_id);
    one(pool, query, rows::session).await
}

/// A `SELECT` whose `WHERE` conditions depend on the caller's filter.
struct Conditions {
    sql: String,
    args: Vec<Arg>,
    any: bool,
}

impl Conditions {
    fn new(select: &str) -> Conditions {
        Conditions {
            sql: select.to_owned(),
            args: Vec::new(),
            any: false,
        }
    }

    /// Adds `condition`, in which each `?` stands for the placeholder of the next of `args`.
    fn and(&mut self, condition: &str, args: Vec<Arg>) {
        self.sql
            .push_str(if self.any { " AND " } else { " WHERE " });
        self.any = true;
        for (n, piece) in condition.split('?').enumerate() {
            if n > 0 {
                self.sql.push_str(&format!("${}", self.args.len() + n));
            }
            self.sql.push_str(piece);
        }
        self.args.extend(args);
    }

    /// Finishes with `order` (ORDER BY …) and a LIMIT of `limit`.
    fn finish(mut self, order: &str, limit: i64) -> Query {
        self.sql
            .push_str(&format!("{order} LIMIT ${}", self.args.len() + 1));
        self.args.push(Arg::Int(Some(limit)));
        Query {
            sql: self.sql.into(),
            args: self.args,
        }
    }
}

fn text_arg(value: impl Into<String>) -> Arg {
    Arg::Text(Some(value.into()))
}

pub(crate) async fn sessions(
    pool: &dyn Reader,
    filter: &SessionFilter,
) -> Result<Vec<Session>, StoreError> {
    all(pool, sessions_query(filter), rows::session).await
}

fn sessions_query(filter: &SessionFilter) -> Query {
    // Built per filter rather than `($1 IS NULL OR …)`, which would keep the planner from
    // using the indexes.
    let mut conditions = Conditions::new("SELECT * FROM sessions");
    if let Some(station_id) = &filter.station_id {
        conditions.and("station_id = ?", vec![text_arg(station_id.as_str())]);
    }
    match filter.state {
        Some(SessionState::Active) => conditions.and(ACTIVE, Vec::new()),
        Some(state) => conditions.and("state = ?", vec![text_arg(state.as_str())]),
        None => {}
    }
    conditions.finish(" ORDER BY started_at DESC, seq DESC", limit(filter.limit))
}

pub(crate) async fn sessions_between(
    pool: &dyn Reader,
    since: &Timestamp,
    until: Option<&Timestamp>,
    after: Option<&SessionCursor>,
    max: u32,
) -> Result<SessionPage, StoreError> {
    let mut conditions = Conditions::new("SELECT * FROM sessions");
    conditions.and("started_at >= ?", vec![text_arg(timestamp_text(since))]);
    if let Some(until) = until {
        conditions.and("started_at < ?", vec![text_arg(timestamp_text(until))]);
    }
    if let Some(after) = after {
        // A row-value comparison walks the (started_at, seq) index from where the last page
        // ended, however deep into the export it is.
        conditions.and(
            "(started_at, seq) > (?, ?)",
            vec![
                text_arg(timestamp_text(&after.started_at)),
                Arg::Int(Some(after.seq)),
            ],
        );
    }
    let max = limit(max);
    let query = conditions.finish(" ORDER BY started_at, seq", max);
    let found = all(pool, query, |row| {
        Ok((rows::session(row)?, rows::integer(row, "sessions", "seq")?))
    })
    .await?;
    let full = i64::try_from(found.len()).is_ok_and(|count| count >= max);
    let next = match found.last() {
        Some((session, seq)) if full => Some(SessionCursor {
            started_at: session.started_at,
            seq: *seq,
        }),
        _ => None,
    };
    Ok(SessionPage {
        sessions: found.into_iter().map(|(session, _)| session).collect(),
        next,
    })
}

pub(crate) async fn meter_samples(
    pool: &dyn Reader,
    session_id: &str,
    max: u32,
) -> Result<Vec<MeterSample>, StoreError> {
    let max = limit(max);
    // Every reading holds at least one sample: `max` readings are enough.
    let query = Query::new(
        "SELECT timestamp, samples FROM meter_readings WHERE session_id = $1
         ORDER BY timestamp, id LIMIT $2",
    )
    .text(session_id)
    .int(max);
    let mut samples = Vec::new();
    for (timestamp, json) in all(pool, query, rows::meter_reading).await? {
        samples.extend(readings::reading_samples(&timestamp, &json)?);
    }
    // Samples stored before readings were (migration 0007): earlier than any reading of the
    // same time, since nothing writes them any more.
    let query = Query::new(
        "SELECT * FROM meter_samples WHERE session_id = $1 ORDER BY timestamp, id LIMIT $2",
    )
    .text(session_id)
    .int(max);
    let legacy = all(pool, query, rows::meter_sample).await?;
    if !legacy.is_empty() {
        samples.splice(0..0, legacy);
        // Stable: of one time, the older table's first, each table's in its own order.
        samples.sort_by_key(|sample| sample.timestamp);
    }
    samples.truncate(usize::try_from(max).unwrap_or(usize::MAX));
    Ok(samples)
}

pub(crate) async fn id_token(
    pool: &dyn Reader,
    token: &str,
) -> Result<Option<IdToken>, StoreError> {
    let query = Query::new("SELECT * FROM id_tokens WHERE token = $1").text(token);
    one(pool, query, rows::id_token).await
}

pub(crate) async fn id_tokens(pool: &dyn Reader) -> Result<Vec<IdToken>, StoreError> {
    all(
        pool,
        Query::new("SELECT * FROM id_tokens ORDER BY token"),
        rows::id_token,
    )
    .await
}

pub(crate) async fn frames(
    pool: &dyn Reader,
    station_id: &StationId,
    max: u32,
) -> Result<Vec<FrameRecord>, StoreError> {
    /// Batch rows read per query: most listings need one or two.
    const BATCHES_PER_QUERY: u8 = 4;
    let wanted = usize::try_from(limit(max)).unwrap_or(usize::MAX);
    let mut frames = Vec::new();
    let mut before = i64::MAX;
    while frames.len() < wanted {
        let query = Query::new(
            "SELECT id, frames, packed FROM frame_batches WHERE station_id = $1 AND id < $2
             ORDER BY id DESC LIMIT $3",
        )
        .text(station_id.as_str())
        .int(before)
        .int(i64::from(BATCHES_PER_QUERY));
        let batches = all(pool, query, rows::frame_batch).await?;
        for (id, stored) in &batches {
            before = *id;
            let batch = stored.frames(station_id)?;
            frames.extend(batch.into_iter().rev());
        }
        if batches.len() < usize::from(BATCHES_PER_QUERY) {
            break;
        }
    }
    frames.truncate(wanted);
    Ok(frames)
}

pub(crate) async fn events_after(
    pool: &dyn Reader,
    after_seq: i64,
    max: u32,
) -> Result<Vec<StoredEvent>, StoreError> {
    let query = Query::new("SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
        .int(after_seq)
        .int(limit(max));
    all(pool, query, rows::event).await
}

pub(crate) async fn event_positions_after(
    pool: &dyn Reader,
    after_seq: i64,
    max: u32,
) -> Result<Vec<EventPosition>, StoreError> {
    let query =
        Query::new("SELECT seq, occurred_at FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .int(after_seq)
            .int(limit(max));
    all(pool, query, rows::event_position).await
}

pub(crate) async fn last_event_seq(pool: &dyn Reader) -> Result<i64, StoreError> {
    let query = Query::new("SELECT COALESCE(MAX(seq), 0) AS seq FROM events");
    Ok(one(pool, query, |row| rows::integer(row, "events", "seq"))
        .await?
        .unwrap_or(0))
}

pub(crate) async fn latest_session_ended(
    pool: &dyn Reader,
    session_id: &str,
) -> Result<Option<StoredEvent>, StoreError> {
    one(pool, session_ended_query(session_id), rows::event).await
}

/// The type is a literal, as in the partial index `events_ended_by_session` (migration 0011):
/// a planner cannot prove a bound parameter equal to the index's condition.
fn session_ended_query(session_id: &str) -> Query {
    Query::new(
        "SELECT * FROM events WHERE session_id = $1 AND type = 'session.ended'
         ORDER BY seq DESC LIMIT 1",
    )
    .text(session_id)
}

pub(crate) async fn cursor(pool: &dyn Reader, name: &str) -> Result<Option<i64>, StoreError> {
    let query = Query::new("SELECT seq FROM event_cursors WHERE name = $1").text(name);
    one(pool, query, |row| {
        rows::integer(row, "event_cursors", "seq")
    })
    .await
}

pub(crate) async fn webhooks(pool: &dyn Reader) -> Result<Vec<Webhook>, StoreError> {
    let query = Query::new("SELECT * FROM webhooks ORDER BY created_at, id");
    all(pool, query, rows::webhook).await
}

pub(crate) async fn webhook(pool: &dyn Reader, id: &str) -> Result<Option<Webhook>, StoreError> {
    let query = Query::new("SELECT * FROM webhooks WHERE id = $1").text(id);
    one(pool, query, rows::webhook).await
}

pub(crate) async fn deliveries(
    pool: &dyn Reader,
    webhook_id: &str,
    status: Option<DeliveryStatus>,
    max: u32,
) -> Result<Vec<Delivery>, StoreError> {
    let mut conditions = Conditions::new(
        "SELECT d.*, e.id AS event_id, e.type AS event_type
         FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq",
    );
    conditions.and("d.webhook_id = ?", vec![text_arg(webhook_id)]);
    if let Some(status) = status {
        conditions.and("d.status = ?", vec![text_arg(status.as_str())]);
    }
    let query = conditions.finish(" ORDER BY d.event_seq DESC", limit(max));
    all(pool, query, rows::delivery).await
}

pub(crate) async fn due_deliveries(
    pool: &dyn Reader,
    now: &Timestamp,
    max: u32,
) -> Result<Vec<DueDelivery>, StoreError> {
    // Only the oldest pending delivery of each (webhook, order key) is eligible: a session's
    // events reach a receiver in order, and a later one waits while an earlier one fails.
    let query = Query::new(
        "SELECT d.webhook_id, d.attempts, d.created_at AS queued_at, d.order_key,
             w.url, w.secret,
             e.seq, e.id, e.type, e.occurred_at, e.station_id, e.session_id, e.data
         FROM webhook_deliveries d
             JOIN webhooks w ON w.id = d.webhook_id
             JOIN events e ON e.seq = d.event_seq
         WHERE d.status = 'pending' AND d.next_attempt_at <= $1
             AND NOT EXISTS (
                 SELECT 1 FROM webhook_deliveries p
                 WHERE p.status = 'pending' AND p.webhook_id = d.webhook_id
                     AND p.order_key = d.order_key AND p.event_seq < d.event_seq)
         ORDER BY d.event_seq
         LIMIT $2",
    )
    .text(timestamp_text(now))
    .int(limit(max));
    all(pool, query, rows::due_delivery).await
}

pub(crate) async fn next_delivery_after(
    pool: &dyn Reader,
    after: &Timestamp,
) -> Result<Option<Timestamp>, StoreError> {
    let query = Query::new(
        "SELECT MIN(next_attempt_at) AS at FROM webhook_deliveries
         WHERE status = 'pending' AND next_attempt_at > $1",
    )
    .text(timestamp_text(after));
    let Some(row) = pool.fetch_optional(query).await? else {
        return Ok(None);
    };
    rows::opt_timestamp(&row, "webhook_deliveries", "at")
}

pub(crate) async fn due_session_corrections(
    pool: &dyn Reader,
    now: &Timestamp,
    max: u32,
) -> Result<Vec<SessionCorrection>, StoreError> {
    let query = Query::new(
        "SELECT * FROM session_corrections WHERE due_at <= $1 ORDER BY due_at, session_id
         LIMIT $2",
    )
    .text(timestamp_text(now))
    .int(limit(max));
    all(pool, query, rows::session_correction).await
}

pub(crate) async fn api_token_by_hash(
    pool: &dyn Reader,
    token_hash: &str,
) -> Result<Option<ApiToken>, StoreError> {
    let query = Query::new("SELECT * FROM api_tokens WHERE token_hash = $1").text(token_hash);
    one(pool, query, rows::api_token).await
}

pub(crate) async fn count_api_tokens(pool: &dyn Reader) -> Result<u64, StoreError> {
    let query = Query::new("SELECT COUNT(*) AS count FROM api_tokens");
    let count = one(pool, query, |row| rows::integer(row, "api_tokens", "count"))
        .await?
        .unwrap_or(0);
    u64::try_from(count).map_err(|_| StoreError::Corrupt {
        table: "api_tokens",
        column: "count",
        detail: format!("negative row count {count}"),
    })
}

pub(crate) async fn api_tokens(pool: &dyn Reader) -> Result<Vec<ApiToken>, StoreError> {
    let query = Query::new("SELECT * FROM api_tokens ORDER BY created_at, id");
    all(pool, query, rows::api_token).await
}

pub(crate) async fn station_configuration(
    pool: &dyn Reader,
    station_id: &StationId,
) -> Result<Vec<ConfigurationRecord>, StoreError> {
    let query =
        Query::new("SELECT * FROM station_configuration WHERE station_id = $1 ORDER BY key")
            .text(station_id.as_str());
    all(pool, query, rows::configuration).await
}

pub(crate) async fn ping(pool: &dyn Reader) -> Result<(), StoreError> {
    pool.fetch_optional(Query::new("SELECT 1")).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_active_literal_is_the_active_state() {
        assert_eq!(
            ACTIVE,
            format!("state = '{}'", SessionState::Active.as_str())
        );
    }

    /// What SQLite's planner does with `query`: the detail lines of `EXPLAIN QUERY PLAN`.
    fn sqlite_plan(conn: &crate::sqlite::SqliteWriteConn, query: &Query) -> String {
        let mut statement = conn
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", query.sql))
            .unwrap();
        // Unbound parameters are NULL, which the plan does not depend on.
        let mut rows = statement.raw_query();
        let mut details = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            details.push(row.get::<_, String>(3).unwrap());
        }
        details.join("; ")
    }

    #[tokio::test]
    async fn listing_sessions_by_station_and_state_uses_an_index_for_each_filter() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::sqlite::writer_conn(&dir).await;
        let station = StationId::parse("CP-1").unwrap();
        let filter = |station_id: Option<&StationId>, state| SessionFilter {
            station_id: station_id.cloned(),
            state,
            limit: 10,
        };
        // A station's active sessions, read at every connect: the partial index of the active
        // ones, in the order asked for (no sort step).
        let plan = sqlite_plan(
            &conn,
            &sessions_query(&filter(Some(&station), Some(SessionState::Active))),
        );
        assert!(
            plan.contains("USING INDEX sessions_active_by_station"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        // A station's completed sessions and all of them: its sessions newest first.
        for state in [Some(SessionState::Completed), None] {
            let plan = sqlite_plan(&conn, &sessions_query(&filter(Some(&station), state)));
            assert!(
                plan.contains("USING INDEX sessions_by_station_start"),
                "{plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
        for state in [Some(SessionState::Active), Some(SessionState::Completed)] {
            let plan = sqlite_plan(&conn, &sessions_query(&filter(None, state)));
            assert!(
                plan.contains("USING INDEX sessions_by_state_start"),
                "{plan}"
            );
        }
    }

    #[tokio::test]
    async fn a_session_s_last_ended_event_is_read_through_its_partial_index() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::sqlite::writer_conn(&dir).await;
        let plan = sqlite_plan(&conn, &session_ended_query("s1"));
        assert!(
            plan.contains("USING INDEX events_ended_by_session"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[tokio::test]
    async fn postgres_reads_active_sessions_and_ended_events_through_their_partial_indexes() {
        use sqlx::Connection;

        let Some(db) = crate::testing::TestDatabase::postgres().await else {
            return;
        };
        crate::postgres::migrate(db.url()).await.unwrap();
        let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
        // An empty table is read faster whole: make the planner show which index it can use.
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut conn)
            .await
            .unwrap();
        let station = StationId::parse("CP-1").unwrap();
        let listing = sessions_query(&SessionFilter {
            station_id: Some(station.clone()),
            state: Some(SessionState::Active),
            limit: 10,
        });
        for query in [station_with_state(&station), listing] {
            let plan = postgres_plan(&mut conn, query).await;
            assert!(plan.contains("using sessions_active_by_station"), "{plan}");
        }
        let plan = postgres_plan(&mut conn, session_ended_query("s1")).await;
        assert!(plan.contains("using events_ended_by_session"), "{plan}");
    }

    /// PostgreSQL's plan of `query`, its arguments bound.
    async fn postgres_plan(conn: &mut sqlx::PgConnection, query: Query) -> String {
        let text = format!("EXPLAIN {}", query.sql);
        let mut explain = sqlx::query_scalar::<_, String>(&text);
        for arg in query.args {
            explain = match arg {
                Arg::Text(text) => explain.bind(text),
                Arg::Int(number) => explain.bind(number),
                other => panic!("no such argument here: {other:?}"),
            };
        }
        explain.fetch_all(conn).await.unwrap().join("\n")
    }
}
