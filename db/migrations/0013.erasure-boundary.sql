-- depends: 0012.courier-assignment-notifications
-- An erasure is a boundary in an order's history (README, "Erasing an order"): a status
-- change whose `changed_at` is not after the erasure belonged to the erased order and
-- never applies to the id sent again. `erased_orders.erased_at` is the tombstone's Kafka
-- timestamp (it was the time of the write); an order sent again keeps it here, so that a
-- status change delivered late is still measured against it.
ALTER TABLE orders ADD COLUMN last_erased_at timestamptz;
