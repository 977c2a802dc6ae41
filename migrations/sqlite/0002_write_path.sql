-- Indexes for the write path's background work and the API's remaining listings.
-- Migrations are append-only: a released file is never edited, so `zaryad migrate` upgrades a
-- database of any earlier release (sqlx refuses an applied migration whose text changed).

-- Retention prunes the frame log oldest first, by age.
CREATE INDEX frames_by_at ON frames (at);

-- GET /api/v1/sessions?station_id=… (any state), newest first.
CREATE INDEX sessions_by_station_start ON sessions (station_id, started_at);
