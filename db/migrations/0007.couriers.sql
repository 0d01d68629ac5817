-- depends: 0005.outbox-position
-- The courier service's tables and its own group role. They share the database with the
-- orders but not the rights: `order_courier` reads and writes only these tables, and the
-- ingestor's and query service's roles get nothing on them. The courier learns an order's
-- status from the query service (the gateway), never from the orders tables.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'order_courier') THEN
        CREATE ROLE order_courier NOLOGIN;
    END IF;
END
$$;

CREATE TABLE couriers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    phone       text NOT NULL UNIQUE CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    transport   text NOT NULL CHECK (transport IN ('on_foot', 'scooter', 'car')),
    -- `busy` exactly while the courier holds an assigned order (kept so by the service).
    status      text NOT NULL DEFAULT 'available'
                CHECK (status IN ('available', 'busy', 'paused')),
    -- Fair choice: fewest completed deliveries first, then the one idle longest.
    deliveries  bigint NOT NULL DEFAULT 0 CHECK (deliveries >= 0),
    idle_since  timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX couriers_fairest_available ON couriers (deliveries, idle_since, id)
    WHERE status = 'available';

-- One courier per order. `assigned` while the courier delivers it; `delivered` once the
-- order is completed (kept: it is what the statistics count, exactly once). A cancelled
-- order's row is deleted.
CREATE TABLE courier_orders (
    order_id     text PRIMARY KEY,
    courier_id   bigint NOT NULL REFERENCES couriers (id),
    state        text NOT NULL CHECK (state IN ('assigned', 'delivered')),
    assigned_at  timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    CHECK ((state = 'delivered') = (delivered_at IS NOT NULL))
);
-- A courier carries one order at a time.
CREATE UNIQUE INDEX courier_orders_one_per_courier ON courier_orders (courier_id)
    WHERE state = 'assigned';

-- Created orders no courier was free for, served oldest order first.
CREATE TABLE waiting_orders (
    order_id         text PRIMARY KEY,
    order_created_at timestamptz NOT NULL,
    queued_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX waiting_orders_oldest_first ON waiting_orders (order_created_at, order_id);

-- Orders seen cancelled or completed: both are terminal, so a late or stale `created`
-- can never assign them again.
CREATE TABLE closed_orders (
    order_id  text PRIMARY KEY,
    status    text NOT NULL CHECK (status IN ('cancelled', 'completed')),
    closed_at timestamptz NOT NULL DEFAULT now()
);

-- Orders whose status could not be learnt yet (the gateway did not know the order, was
-- behind the event's version, failed or timed out). Written before the Kafka offset is
-- committed, so an event is never lost; the retry worker takes them when due.
CREATE TABLE courier_retries (
    order_id        text PRIMARY KEY,
    min_version     bigint NOT NULL DEFAULT 0,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    last_error      text NOT NULL,
    first_queued_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX courier_retries_due ON courier_retries (next_attempt_at);

-- `order-events` records that name no order at all, kept with the reason.
CREATE TABLE rejected_order_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    "offset"    bigint NOT NULL,
    key         bytea,
    value       bytea,
    reason      text NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition, "offset")
);

GRANT USAGE ON SCHEMA public TO order_courier;
GRANT SELECT, INSERT, UPDATE, DELETE
   ON couriers, courier_orders, waiting_orders, closed_orders, courier_retries,
      rejected_order_events
   TO order_courier;
