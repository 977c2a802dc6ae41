-- Event delivery: webhook subscriptions and their delivery state, the positions of the
-- outbox followers, and waiting corrections of ended sessions. The same tables as
-- migrations/postgres/0005_event_delivery.sql. Append-only, like every migration.

-- Where each outbox follower (`webhooks`: the fan-out into deliveries; `nats`: the JetStream
-- publisher) has got to: a restart resumes after `seq`.
CREATE TABLE event_cursors (
    name TEXT    NOT NULL PRIMARY KEY,
    seq  INTEGER NOT NULL
) STRICT;

CREATE TABLE webhooks (
    id          TEXT    NOT NULL PRIMARY KEY,
    url         TEXT    NOT NULL,
    -- The signing secret as given: signing needs it, so it cannot be stored hashed.
    secret      TEXT    NOT NULL,
    -- The subscribed types as `,type,type,` (so SQL can match `,<type>,`); NULL for all.
    event_types TEXT,
    -- The outbox position at creation: the webhook receives the events after it.
    start_seq   INTEGER NOT NULL,
    created_at  TEXT    NOT NULL
) STRICT;

-- One row per event and webhook: the delivery state and the delivery log in one.
CREATE TABLE webhook_deliveries (
    webhook_id      TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_seq       INTEGER NOT NULL,
    -- The session id, or `station:<id>` for events without a session: deliveries with the
    -- same key go out one at a time, in `event_seq` order.
    order_key       TEXT    NOT NULL,
    -- pending | delivered | failed
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    last_attempt_at TEXT,
    delivered_at    TEXT,
    response_status INTEGER,
    last_error      TEXT,
    PRIMARY KEY (webhook_id, event_seq)
) STRICT;

-- "Is an earlier delivery of the same session still pending?" and "what is due?" look only
-- at pending rows; delivered ones pile up in the log without slowing either.
CREATE INDEX webhook_deliveries_pending_order
    ON webhook_deliveries (webhook_id, order_key, event_seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_pending_due
    ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

-- Replays select events by time; corrections look up a session's last `session.ended`.
CREATE INDEX events_by_occurred ON events (occurred_at);
CREATE INDEX events_by_session ON events (session_id, type, seq);

-- Completed sessions whose meter values arrived after their end: a corrected `session.ended`
-- is due at `due_at`; `generation` counts further late values while it waits.
CREATE TABLE session_corrections (
    session_id TEXT    NOT NULL PRIMARY KEY,
    due_at     TEXT    NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0
) STRICT;
