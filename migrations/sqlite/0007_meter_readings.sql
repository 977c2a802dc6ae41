-- Meter samples as one row per reading: the samples a charger took at one time, as a JSON
-- array in `samples` (see crates/store/src/engine/readings.rs). A row per sample put seven
-- or more entries at the session's place in the index for every MeterValues. The same table
-- as migrations/postgres/0007_meter_readings.sql.
--
-- Samples stored before this migration stay in `meter_samples`, which is no longer written;
-- reads take both. They are not copied: SQLite's JSON functions write a REAL with 15
-- significant digits, and a copy would round what the charger sent.
CREATE TABLE meter_readings (
    id         INTEGER NOT NULL PRIMARY KEY,
    session_id TEXT,
    station_id TEXT    NOT NULL,
    evse_id    INTEGER NOT NULL,
    timestamp  TEXT    NOT NULL,
    samples    TEXT    NOT NULL
) STRICT;

CREATE INDEX meter_readings_by_session ON meter_readings (session_id, timestamp);
