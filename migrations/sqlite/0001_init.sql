-- Zaryad's SQLite schema.
--
-- Timestamps are RFC 3339 UTC text with exactly nine fractional digits and a `Z`
-- (`2026-03-01T10:00:00.000000000Z`): fixed width, so text order is time order and values
-- round-trip to the nanosecond. Lists and JSON values are JSON text. Tables are STRICT so a
-- value of the wrong type is refused at write time instead of surfacing as corruption later.

CREATE TABLE stations (
    id               TEXT    NOT NULL PRIMARY KEY,
    ocpp_version     TEXT,
    vendor           TEXT,
    model            TEXT,
    firmware_version TEXT,
    serial_number    TEXT,
    registration     TEXT    NOT NULL,
    last_seen_at     TEXT,
    last_boot_at     TEXT,
    vendor_profile   TEXT,
    provisioned      INTEGER NOT NULL DEFAULT 0,
    password_hash    TEXT,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
) STRICT;

CREATE TABLE connectors (
    station_id      TEXT    NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    evse_id         INTEGER NOT NULL,
    connector_id    INTEGER NOT NULL,
    reported_status TEXT    NOT NULL,
    charging_state  TEXT,
    connector_type  TEXT,
    error_code      TEXT,
    info            TEXT,
    status_at       TEXT,
    PRIMARY KEY (station_id, evse_id, connector_id)
) STRICT;

-- No foreign key to stations: sessions are billing records and outlive a deleted station.
CREATE TABLE sessions (
    seq             INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    station_id      TEXT    NOT NULL,
    evse_id         INTEGER NOT NULL,
    connector_id    INTEGER NOT NULL,
    transaction_id  TEXT    NOT NULL,
    id_token        TEXT,
    state           TEXT    NOT NULL,
    started_at      TEXT    NOT NULL,
    ended_at        TEXT,
    meter_start_wh  REAL,
    meter_stop_wh   REAL,
    meter_last_wh   REAL,
    energy_wh       REAL,
    stop_reason     TEXT,
    soc_percent     REAL,
    power_w         REAL,
    charging_state  TEXT,
    -- A u64 stored bit for bit in SQLite's signed 64-bit integer.
    last_seq_no     INTEGER,
    remote_start_id INTEGER,
    quirks          TEXT    NOT NULL DEFAULT '[]',
    updated_at      TEXT    NOT NULL
) STRICT;

CREATE INDEX sessions_by_transaction ON sessions (station_id, transaction_id);
CREATE INDEX sessions_by_station_state ON sessions (station_id, state, started_at);
CREATE INDEX sessions_by_state_start ON sessions (state, started_at);
CREATE INDEX sessions_by_start ON sessions (started_at);

CREATE TABLE meter_samples (
    id         INTEGER NOT NULL PRIMARY KEY,
    session_id TEXT,
    station_id TEXT    NOT NULL,
    evse_id    INTEGER NOT NULL,
    timestamp  TEXT    NOT NULL,
    measurand  TEXT    NOT NULL,
    value      REAL    NOT NULL,
    unit       TEXT    NOT NULL,
    phase      TEXT,
    context    TEXT    NOT NULL,
    location   TEXT
) STRICT;

CREATE INDEX meter_samples_by_session ON meter_samples (session_id, timestamp);

-- The transactional outbox: written in the same transaction as the state change.
CREATE TABLE events (
    seq         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    type        TEXT    NOT NULL,
    occurred_at TEXT    NOT NULL,
    station_id  TEXT    NOT NULL,
    session_id  TEXT,
    data        TEXT    NOT NULL
) STRICT;

CREATE TABLE frames (
    id           INTEGER NOT NULL PRIMARY KEY,
    station_id   TEXT    NOT NULL,
    direction    TEXT    NOT NULL,
    at           TEXT    NOT NULL,
    ocpp_version TEXT    NOT NULL,
    action       TEXT,
    message_id   TEXT,
    text         TEXT    NOT NULL,
    repairs      TEXT    NOT NULL DEFAULT '[]'
) STRICT;

CREATE INDEX frames_by_station ON frames (station_id, id);

CREATE TABLE id_tokens (
    token      TEXT NOT NULL PRIMARY KEY,
    status     TEXT NOT NULL,
    expires_at TEXT,
    parent     TEXT,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE api_tokens (
    id         TEXT NOT NULL PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
) STRICT;

-- Named counters; `transaction_id` is the last OCPP 1.6 transaction id handed out in blocks.
CREATE TABLE counters (
    name  TEXT    NOT NULL PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;

INSERT INTO counters (name, value) VALUES ('transaction_id', 0);
