REVOKE DELETE ON deliveries, payments FROM order_writer;
