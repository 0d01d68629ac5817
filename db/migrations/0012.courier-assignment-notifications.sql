-- depends: 0007.couriers 0010.order-erasures
-- Courier changes for the page's live streams: whenever a row that decides what
-- `GET /api/v1/assignments/{order_id}` answers changes, PostgreSQL notifies the channel
-- `courier_assignments` with the order id. NOTIFY is transactional: listeners (every query
-- replica, one connection each) hear it when the courier's transaction commits, never
-- for one that rolls back, and once per order however many rows of it changed. A change
-- of a courier (its name, transport or status) notifies the order it delivers now.
-- Numbered 0012 so that it stays apart from the courier work numbered 0011.
CREATE FUNCTION notify_assignment_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('courier_assignments', OLD.order_id);
    ELSE
        PERFORM pg_notify('courier_assignments', NEW.order_id);
        IF TG_OP = 'UPDATE' AND OLD.order_id IS DISTINCT FROM NEW.order_id THEN
            PERFORM pg_notify('courier_assignments', OLD.order_id);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION notify_courier_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    delivering text;
BEGIN
    FOR delivering IN
        SELECT order_id FROM courier_orders WHERE courier_id = NEW.id AND state = 'assigned'
    LOOP
        PERFORM pg_notify('courier_assignments', delivering);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER courier_orders_notify AFTER INSERT OR UPDATE OR DELETE ON courier_orders
    FOR EACH ROW EXECUTE FUNCTION notify_assignment_changed();
CREATE TRIGGER waiting_orders_notify AFTER INSERT OR UPDATE OR DELETE ON waiting_orders
    FOR EACH ROW EXECUTE FUNCTION notify_assignment_changed();
CREATE TRIGGER closed_orders_notify AFTER INSERT OR UPDATE OR DELETE ON closed_orders
    FOR EACH ROW EXECUTE FUNCTION notify_assignment_changed();
CREATE TRIGGER courier_retries_notify AFTER INSERT OR DELETE ON courier_retries
    FOR EACH ROW EXECUTE FUNCTION notify_assignment_changed();
CREATE TRIGGER couriers_notify AFTER UPDATE OF name, transport, status ON couriers
    FOR EACH ROW EXECUTE FUNCTION notify_courier_changed();
