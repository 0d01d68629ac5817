-- depends: 0001.orders
-- Group roles: the ingestor writes, the query service only reads. Login users
-- are created by whoever runs the database (devstack locally, the platform in a
-- cluster) and granted one of these roles; no password lives in a migration.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'order_writer') THEN
        CREATE ROLE order_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'order_reader') THEN
        CREATE ROLE order_reader NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO order_writer, order_reader;
GRANT SELECT, INSERT, UPDATE ON orders, deliveries, payments, items TO order_writer;
GRANT DELETE ON items TO order_writer;
GRANT SELECT, UPDATE ON change_counter TO order_writer;
GRANT SELECT ON orders, deliveries, payments, items, change_counter TO order_reader;
