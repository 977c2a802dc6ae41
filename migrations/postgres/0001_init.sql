-- Zaryad's PostgreSQL schema: the same tables, columns and meaning as migrations/sqlite.
--
-- Timestamps are the same RFC 3339 UTC text as on SQLite, with exactly nine fractional
-- digits and a `Z` (`2026-03-01T10:00:00.000000000Z`): TIMESTAMPTZ keeps only microseconds,
-- and values must round-trip to the nanosecond on both databases. Fixed width makes text
-- order time order; COLLATE "C" makes the comparison bytewise (and cheap) whatever the
-- database's locale, on timestamps as on ids, so listings sort exactly as on SQLite.
-- Lists and JSON values are JSON text, kept byte for byte (JSONB would reorder keys and
-- rewrite numbers). Integers are BIGINT and reals DOUBLE PRECISION, the types SQLite's
-- INTEGER and REAL hold.

CREATE TABLE stations (
    id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    ocpp_version     TEXT,
    vendor           TEXT,
    model            TEXT,
    firmware_version TEXT,
    serial_number    TEXT,
    registration     TEXT             NOT NULL,
    last_seen_at     TEXT COLLATE "C",
    last_boot_at     TEXT COLLATE "C",
    vendor_profile   TEXT,
    provisioned      BOOLEAN          NOT NULL DEFAULT FALSE,
    password_hash    TEXT,
    created_at       TEXT COLLATE "C" NOT NULL,
    updated_at       TEXT COLLATE "C" NOT NULL
);

CREATE TABLE connectors (
    station_id      TEXT COLLATE "C" NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    evse_id         BIGINT           NOT NULL,
    connector_id    BIGINT           NOT NULL,
    reported_status TEXT             NOT NULL,
    charging_state  TEXT,
    connector_type  TEXT,
    error_code      TEXT,
    info            TEXT,
    status_at       TEXT COLLATE "C",
    PRIMARY KEY (station_id, evse_id, connector_id)
);

-- No foreign key to stations: sessions are billing records and outlive a deleted station.
CREATE TABLE sessions (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT COLLATE "C" NOT NULL UNIQUE,
    station_id      TEXT COLLATE "C" NOT NULL,
    evse_id         BIGINT           NOT NULL,
    connector_id    BIGINT           NOT NULL,
    transaction_id  TEXT COLLATE "C" NOT NULL,
    id_token        TEXT,
    state           TEXT COLLATE "C" NOT NULL,
    started_at      TEXT COLLATE "C" NOT NULL,
    ended_at        TEXT COLLATE "C",
    meter_start_wh  DOUBLE PRECISION,
    meter_stop_wh   DOUBLE PRECISION,
    meter_last_wh   DOUBLE PRECISION,
    energy_wh       DOUBLE PRECISION,
    stop_reason     TEXT,
    soc_percent     DOUBLE PRECISION,
    power_w         DOUBLE PRECISION,
    charging_state  TEXT,
    -- A u64 stored bit for bit in a signed 64-bit integer.
    last_seq_no     BIGINT,
    remote_start_id BIGINT,
    quirks          TEXT             NOT NULL DEFAULT '[]',
    updated_at      TEXT COLLATE "C" NOT NULL
);

-- `seq` closes each index because SQLite's indexes end in the rowid (`seq`) implicitly:
-- listings order by (started_at, seq) on both.
CREATE INDEX sessions_by_transaction ON sessions (station_id, transaction_id, seq);
CREATE INDEX sessions_by_station_state ON sessions (station_id, state, started_at, seq);
CREATE INDEX sessions_by_state_start ON sessions (state, started_at, seq);
CREATE INDEX sessions_by_start ON sessions (started_at, seq);

CREATE TABLE meter_samples (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id TEXT COLLATE "C",
    station_id TEXT COLLATE "C" NOT NULL,
    evse_id    BIGINT           NOT NULL,
    timestamp  TEXT COLLATE "C" NOT NULL,
    measurand  TEXT             NOT NULL,
    value      DOUBLE PRECISION NOT NULL,
    unit       TEXT             NOT NULL,
    phase      TEXT,
    context    TEXT             NOT NULL,
    location   TEXT
);

CREATE INDEX meter_samples_by_session ON meter_samples (session_id, timestamp, id);

-- The transactional outbox: written in the same transaction as the state change.
CREATE TABLE events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT COLLATE "C" NOT NULL UNIQUE,
    type        TEXT             NOT NULL,
    occurred_at TEXT COLLATE "C" NOT NULL,
    station_id  TEXT COLLATE "C" NOT NULL,
    session_id  TEXT COLLATE "C",
    data        TEXT             NOT NULL
);

CREATE TABLE frames (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    station_id   TEXT COLLATE "C" NOT NULL,
    direction    TEXT             NOT NULL,
    at           TEXT COLLATE "C" NOT NULL,
    ocpp_version TEXT             NOT NULL,
    action       TEXT,
    message_id   TEXT,
    text         TEXT             NOT NULL,
    repairs      TEXT             NOT NULL DEFAULT '[]'
);

CREATE INDEX frames_by_station ON frames (station_id, id);

CREATE TABLE id_tokens (
    token      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    status     TEXT             NOT NULL,
    expires_at TEXT COLLATE "C",
    parent     TEXT,
    updated_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE api_tokens (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name       TEXT             NOT NULL,
    role       TEXT             NOT NULL,
    token_hash TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at TEXT COLLATE "C" NOT NULL
);

-- Named counters; `transaction_id` is the last OCPP 1.6 transaction id handed out in blocks.
CREATE TABLE counters (
    name  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    value BIGINT           NOT NULL
);

INSERT INTO counters (name, value) VALUES ('transaction_id', 0);
