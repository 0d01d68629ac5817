-- depends: 0002.roles
-- Status changes that arrived before their order, and the transactional outbox of
-- order events that the ingestor's relay publishes to Kafka `order-events`.

CREATE TABLE pending_status_changes (
    order_uid   text PRIMARY KEY,
    status      text NOT NULL CHECK (status IN ('cancelled', 'completed')),
    changed_at  timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE order_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_uid    text NOT NULL,
    status       text NOT NULL CHECK (status IN ('created', 'cancelled', 'completed')),
    created_at   timestamptz NOT NULL,
    version      bigint NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX order_events_unpublished ON order_events (id) WHERE published_at IS NULL;

GRANT SELECT, INSERT, DELETE ON pending_status_changes TO order_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON order_events TO order_writer;
