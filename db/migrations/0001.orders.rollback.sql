DROP TABLE items, payments, deliveries, orders, change_counter;
