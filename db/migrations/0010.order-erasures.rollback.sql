DELETE FROM closed_orders WHERE status = 'erased';
ALTER TABLE closed_orders DROP COLUMN erased_version;
ALTER TABLE closed_orders DROP CONSTRAINT closed_orders_status_check;
ALTER TABLE closed_orders ADD CONSTRAINT closed_orders_status_check
    CHECK (status IN ('cancelled', 'completed'));
DELETE FROM order_events WHERE status = 'erased';
ALTER TABLE order_events DROP CONSTRAINT order_events_status_check;
ALTER TABLE order_events ADD CONSTRAINT order_events_status_check
    CHECK (status IN ('created', 'cancelled', 'completed'));
REVOKE DELETE ON orders FROM order_writer;
DROP TABLE erased_orders;
