REVOKE ALL ON orders, deliveries, payments, items, change_counter FROM order_writer, order_reader;
REVOKE USAGE ON SCHEMA public FROM order_writer, order_reader;
