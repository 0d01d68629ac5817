-- depends: 0005.outbox-position
-- transactional: false
-- The order list's search: one index per filter, leading with the filter and continuing
-- in the list's order (newest first, then id), so a filtered page is read in order from
-- where the previous one ended, as the unfiltered list is on orders_newest_first (which
-- also serves the creation-time range). Built concurrently, so the ingestor keeps writing
-- meanwhile; that cannot run in a transaction. Should a build fail, yoyo drops the
-- indexes already built, and PostgreSQL leaves the failed one invalid: drop it too
-- (DROP INDEX CONCURRENTLY orders_by_...) before applying again.
CREATE INDEX CONCURRENTLY orders_by_track_number
    ON orders (track_number, date_created DESC, order_uid DESC);
CREATE INDEX CONCURRENTLY orders_by_customer
    ON orders (customer_id, date_created DESC, order_uid DESC);
CREATE INDEX CONCURRENTLY orders_by_status
    ON orders (status, date_created DESC, order_uid DESC);
