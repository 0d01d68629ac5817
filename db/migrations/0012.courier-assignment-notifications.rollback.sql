DROP TRIGGER couriers_notify ON couriers;
DROP TRIGGER courier_retries_notify ON courier_retries;
DROP TRIGGER closed_orders_notify ON closed_orders;
DROP TRIGGER waiting_orders_notify ON waiting_orders;
DROP TRIGGER courier_orders_notify ON courier_orders;
DROP FUNCTION notify_courier_changed();
DROP FUNCTION notify_assignment_changed();
