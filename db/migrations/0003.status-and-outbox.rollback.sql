DROP TABLE order_events, pending_status_changes;
