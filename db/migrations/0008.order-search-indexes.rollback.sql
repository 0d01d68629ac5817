-- transactional: false
DROP INDEX CONCURRENTLY IF EXISTS orders_by_status;
DROP INDEX CONCURRENTLY IF EXISTS orders_by_customer;
DROP INDEX CONCURRENTLY IF EXISTS orders_by_track_number;
