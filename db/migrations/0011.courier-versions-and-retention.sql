-- depends: 0007.couriers 0010.order-erasures
-- The courier service under faults: the version it last applied per order, retries that
-- end, periodic jobs one replica at a time, and retention.

-- Per order, the version of the last status the courier applied (a gateway answer, or an
-- erasure its event announced). Compared under the dispatch lock: an answer older than it
-- (a replica that is behind, a request answered before a newer change was applied) is
-- ignored. The row goes when retention prunes the order's closed row.
CREATE TABLE applied_versions (
    order_id   text PRIMARY KEY,
    version    bigint NOT NULL CHECK (version >= 1),
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- Retries that end. `unusable_answers` counts the answers that were about the order and
-- could not be used (not found, older than its event, unreadable), apart from the gateway
-- failing as a whole (timeouts, 5xx, unreachable: those only back off). Past
-- RETRY_MAX_ATTEMPTS of them the order is parked (`parked_at`) with `last_error` as its
-- reason, and is not tried again until an event names it again.
ALTER TABLE courier_retries
    ADD COLUMN unusable_answers integer NOT NULL DEFAULT 0 CHECK (unusable_answers >= 0),
    ADD COLUMN parked_at timestamptz;
DROP INDEX courier_retries_due;
CREATE INDEX courier_retries_due ON courier_retries (next_attempt_at) WHERE parked_at IS NULL;
CREATE INDEX courier_retries_parked_by_age ON courier_retries (parked_at)
    WHERE parked_at IS NOT NULL;

-- Periodic jobs (the resync, pruning) that one replica runs at a time: the holder named
-- here runs the job until `held_until`, renewing it while it works; when it is done it
-- sets `held_until` to the next run, so the job runs about once per interval whatever the
-- number of replicas, and a holder that died is replaced once its lease runs out.
CREATE TABLE courier_job_leases (
    job        text PRIMARY KEY,
    holder     text NOT NULL,
    held_until timestamptz NOT NULL
);

-- Retention deletes the oldest rows first, a page at a time.
CREATE INDEX closed_orders_by_age ON closed_orders (closed_at);
CREATE INDEX rejected_order_events_by_age ON rejected_order_events (rejected_at);
CREATE INDEX courier_orders_delivered_by_age ON courier_orders (delivered_at)
    WHERE state = 'delivered';

-- /api/v1/couriers/stats pages by deliveries, most first.
CREATE INDEX couriers_by_deliveries ON couriers (deliveries DESC, id);

GRANT SELECT, INSERT, UPDATE, DELETE ON applied_versions, courier_job_leases TO order_courier;
