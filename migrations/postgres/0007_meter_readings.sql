-- Meter samples as one row per reading: the samples a charger took at one time, as a JSON
-- array in `samples` (see crates/store/src/engine/readings.rs). A row per sample put seven
-- or more entries at the session's place in the index for every MeterValues. The same table
-- as migrations/sqlite/0007_meter_readings.sql.
--
-- Samples stored before this migration stay in `meter_samples`, which is no longer written;
-- reads take both (SQLite's copy would round values, and both databases keep one layout).
CREATE TABLE meter_readings (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id TEXT COLLATE "C",
    station_id TEXT COLLATE "C" NOT NULL,
    evse_id    BIGINT           NOT NULL,
    timestamp  TEXT COLLATE "C" NOT NULL,
    -- Text, not jsonb: never queried inside, and jsonb would refuse an escaped NUL.
    samples    TEXT             NOT NULL
);

CREATE INDEX meter_readings_by_session ON meter_readings (session_id, timestamp, id);
