-- depends: 0006.order-source-position
-- The trace context of the change behind each outbox event (a W3C `traceparent`), so the
-- relay publishes the event with it in its Kafka headers and whoever consumes
-- `order-events` continues the order's trace. NULL on events recorded before this.
ALTER TABLE order_events ADD COLUMN traceparent text;
