-- depends: 0009.order-event-trace
-- Erasing an order (a tombstone on `orders`: a record keyed by the order id with a null
-- value). The writer deletes the order's rows and remembers the erasure here, with:
-- * the partition and offset of the tombstone, so that a replay of older content (a
--   crash between the database commit and the offset commit, or a zombie ingestor that
--   lost the partition) is fenced as it is against newer content, and cannot bring the
--   order back;
-- * the version the erasure took (versions go on counting across an erasure, so an id
--   sent again is a new order with a higher version, which no replica or courier can
--   mistake for the erased one) and its change sequence, so that a replica that missed
--   the announcement learns the erasure in its catch-up ("changed since N").
-- The row goes away when the id is sent again: the new order's row then holds the fence.
CREATE TABLE erased_orders (
    order_uid        text PRIMARY KEY,
    version          bigint NOT NULL CHECK (version >= 1),
    change_seq       bigint NOT NULL UNIQUE,
    source_partition integer NOT NULL CHECK (source_partition >= 0),
    source_offset    bigint NOT NULL CHECK (source_offset >= 0),
    erased_at        timestamptz NOT NULL DEFAULT now()
);

-- The writer deletes an erased order's head row (its parts follow by ON DELETE CASCADE,
-- and the writer may already delete those).
GRANT DELETE ON orders TO order_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON erased_orders TO order_writer;
GRANT SELECT ON erased_orders TO order_reader;

-- The outbox says "erased" for an erasure (README, order events).
ALTER TABLE order_events DROP CONSTRAINT order_events_status_check;
ALTER TABLE order_events ADD CONSTRAINT order_events_status_check
    CHECK (status IN ('created', 'cancelled', 'completed', 'erased'));

-- The courier service remembers an erased order as closed with the erasure's version: a
-- late `created` of the erased order changes nothing, a newer version is a new order.
ALTER TABLE closed_orders DROP CONSTRAINT closed_orders_status_check;
ALTER TABLE closed_orders ADD CONSTRAINT closed_orders_status_check
    CHECK (status IN ('cancelled', 'completed', 'erased'));
ALTER TABLE closed_orders ADD COLUMN erased_version bigint
    CHECK ((status = 'erased') = (erased_version IS NOT NULL));
