-- A station's active sessions, read at each of its connects, get an index of their own that
-- holds only them, in place of the one on (station_id, state, started_at) that held every
-- session ever written: PostgreSQL adds an entry to every index of the table for each new
-- row version that is not a HOT update, and a session's stop is not one (its state is
-- indexed). Queries name the state as the literal 'active' so that the planner may use this
-- index with a generic plan too.
DROP INDEX sessions_by_station_state;
CREATE INDEX sessions_active_by_station ON sessions (station_id, started_at, seq)
    WHERE state = 'active';
