-- The frame log as one row per batch of a station's consecutive frames (up to 64, oldest
-- first, as a JSON array in `frames`; see crates/store/src/engine/frame_log.rs). A row per
-- frame put an entry at a random place of the station index for every frame, the largest
-- share of what each commit wrote. The same table as migrations/sqlite/0006_frame_batches.sql.
-- Frames logged before this migration become batches of one, in their order.
CREATE TABLE frame_batches (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    station_id  TEXT COLLATE "C" NOT NULL,
    -- The first and the last frame's time.
    first_at    TEXT COLLATE "C" NOT NULL,
    last_at     TEXT COLLATE "C" NOT NULL,
    frame_count INTEGER          NOT NULL,
    -- Text, not jsonb: never queried inside, and jsonb would refuse an escaped NUL.
    frames      TEXT             NOT NULL
);

INSERT INTO frame_batches (station_id, first_at, last_at, frame_count, frames)
SELECT station_id, at, at, 1,
       json_build_array(json_build_object(
           'direction', direction, 'at', at, 'ocpp_version', ocpp_version, 'action', action,
           'message_id', message_id, 'text', text, 'repairs', repairs::json))::text
FROM frames
ORDER BY id;

DROP TABLE frames;

CREATE INDEX frame_batches_by_station ON frame_batches (station_id, id);
-- Pruning goes by age, oldest first.
CREATE INDEX frame_batches_by_last_at ON frame_batches (last_at);
