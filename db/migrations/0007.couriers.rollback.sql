-- The group role stays (logins may belong to it), with no rights left, as in 0002.
DROP TABLE rejected_order_events, courier_retries, closed_orders, waiting_orders,
    courier_orders, couriers;
REVOKE USAGE ON SCHEMA public FROM order_courier;
