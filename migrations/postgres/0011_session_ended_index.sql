-- Corrections read a session's last `session.ended` event, the only read by session that the
-- events table serves. The index it replaces, on (session_id, type, seq), took an entry for
-- every event, most of them connector status changes without a session; this one holds one
-- entry per ended session (and per correction). The query names the type as the literal
-- 'session.ended' so that the planner may use it with a generic plan too.
DROP INDEX events_by_session;
CREATE INDEX events_ended_by_session ON events (session_id, seq)
    WHERE type = 'session.ended';
