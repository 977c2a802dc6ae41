-- The frame log as one row per batch of a station's consecutive frames (up to 64, oldest
-- first, as a JSON array in `frames`; see crates/store/src/engine/frame_log.rs). A row per
-- frame put an entry at a random place of the station index for every frame, the largest
-- share of what each commit wrote. The same table as migrations/postgres/0006_frame_batches.sql.
-- Frames logged before this migration become batches of one, in their order.
CREATE TABLE frame_batches (
    id          INTEGER NOT NULL PRIMARY KEY,
    station_id  TEXT    NOT NULL,
    -- The first and the last frame's time.
    first_at    TEXT    NOT NULL,
    last_at     TEXT    NOT NULL,
    frame_count INTEGER NOT NULL,
    frames      TEXT    NOT NULL
) STRICT;

INSERT INTO frame_batches (station_id, first_at, last_at, frame_count, frames)
SELECT station_id, at, at, 1,
       json_array(json_object(
           'direction', direction, 'at', at, 'ocpp_version', ocpp_version, 'action', action,
           'message_id', message_id, 'text', text, 'repairs', json(repairs)))
FROM frames
ORDER BY id;

DROP TABLE frames;

CREATE INDEX frame_batches_by_station ON frame_batches (station_id, id);
-- Pruning goes by age, oldest first.
CREATE INDEX frame_batches_by_last_at ON frame_batches (last_at);
