ALTER TABLE order_events ADD COLUMN published_at timestamptz;
UPDATE order_events SET published_at = now()
 WHERE id <= (SELECT last_sent_id FROM outbox_position);
CREATE INDEX order_events_unpublished ON order_events (id) WHERE published_at IS NULL;
DROP TRIGGER order_events_in_commit_order ON order_events;
DROP FUNCTION order_events_in_commit_order();
DROP TABLE outbox_position;
