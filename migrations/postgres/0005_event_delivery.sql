-- Event delivery: webhook subscriptions and their delivery state, the positions of the
-- outbox followers, and waiting corrections of ended sessions. The same tables as
-- migrations/sqlite/0005_event_delivery.sql. Append-only, like every migration.

-- Where each outbox follower (`webhooks`: the fan-out into deliveries; `nats`: the JetStream
-- publisher) has got to: a restart resumes after `seq`.
CREATE TABLE event_cursors (
    name TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    seq  BIGINT           NOT NULL
);

CREATE TABLE webhooks (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    url         TEXT             NOT NULL,
    -- The signing secret as given: signing needs it, so it cannot be stored hashed.
    secret      TEXT             NOT NULL,
    -- The subscribed types as `,type,type,` (so SQL can match `,<type>,`); NULL for all.
    event_types TEXT COLLATE "C",
    -- The outbox position at creation: the webhook receives the events after it.
    start_seq   BIGINT           NOT NULL,
    created_at  TEXT COLLATE "C" NOT NULL
);

-- One row per event and webhook: the delivery state and the delivery log in one.
CREATE TABLE webhook_deliveries (
    webhook_id      TEXT COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_seq       BIGINT           NOT NULL,
    -- The session id, or `station:<id>` for events without a session: deliveries with the
    -- same key go out one at a time, in `event_seq` order.
    order_key       TEXT COLLATE "C" NOT NULL,
    -- pending | delivered | failed
    status          TEXT COLLATE "C" NOT NULL,
    attempts        BIGINT           NOT NULL DEFAULT 0,
    next_attempt_at TEXT COLLATE "C" NOT NULL,
    created_at      TEXT COLLATE "C" NOT NULL,
    last_attempt_at TEXT COLLATE "C",
    delivered_at    TEXT COLLATE "C",
    response_status BIGINT,
    last_error      TEXT,
    PRIMARY KEY (webhook_id, event_seq)
);

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
    session_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    due_at     TEXT COLLATE "C" NOT NULL,
    generation BIGINT           NOT NULL DEFAULT 0
);
