-- A station's active sessions, read at each of its connects, get an index of their own that
-- holds only them. The index it replaces, on (station_id, state, started_at), held every
-- session ever written and moved each one at its stop, both times on a page of its
-- station's: in a group commit of many stations that is one more page written per session
-- start and stop. The active sessions are few and their pages stay in the cache. Queries name
-- the state as the literal 'active' so that the planner may use this index (it cannot prove
-- a bound parameter equal to the index's condition).
DROP INDEX sessions_by_station_state;
CREATE INDEX sessions_active_by_station ON sessions (station_id, started_at)
    WHERE state = 'active';
