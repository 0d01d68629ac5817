"""The waiting queue on the real stack: a courier who becomes free takes a waiting order
only once the order service confirms the order is still to be delivered."""

from __future__ import annotations

import uuid

from order_shared.events import OrderEvent
from tests.courier_io import (
    consumed_everything,
    gateway_answer,
    isolated_courier,
    orders_created_in_order,
    phone,
    publish_events,
    publish_orders,
    publish_status,
    settled,
)
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import create_topic

# Only what a test publishes reaches these couriers, and no resync repairs anything
# during a test.
NO_RESYNC = {"RESYNC_INTERVAL_SECONDS": "3600"}


def test_a_freed_courier_does_not_take_an_order_whose_cancellation_is_still_being_retried(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    """Failed on main: Ada, freed, took the waiting order at once although its
    cancellation sat in the retry queue (("assigned", 1) != ("waiting", None))."""
    gateway = query_replicas[0]
    with isolated_courier(
        servers, gateway, RETRY_INITIAL_SECONDS="600", RETRY_MAX_SECONDS="600", **NO_RESYNC
    ) as courier:
        api = courier.api
        ada = api.add_courier("Ada", phone(9951))["id"]
        first, waiting = orders_created_in_order(9951, 2)
        publish_orders(servers, [first])
        assert settled(courier, first.order_uid, "assigned") == ("assigned", ada)
        publish_orders(servers, [waiting])
        settled(courier, waiting.order_uid, "waiting")

        gateway.stop()
        try:
            publish_status(servers, waiting.order_uid, "cancelled")
            eventually(
                lambda: (
                    courier.rows(
                        "SELECT count(*) FROM courier_retries WHERE order_id = %s",
                        (waiting.order_uid,),
                    )
                    == [(1,)]
                ),
                timeout=60,
            )
        finally:
            gateway.restart()
            gateway.wait_ready()
        publish_status(servers, first.order_uid, "completed")

        assert settled(courier, first.order_uid, "delivered") == ("delivered", ada)
        eventually(lambda: consumed_everything(servers, courier), timeout=30)
        assert api.state_of(waiting.order_uid) == ("waiting", None)
        assert api.courier(ada)["status"] == "available"


def test_a_freed_courier_asks_again_about_the_oldest_waiting_order_before_taking_it(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    """The waiting order's cancellation never reaches this courier's topic: only asking
    the order service when a courier is free finds it. Failed on main: Ada took the
    cancelled order, which never showed `cancelled` (the wait for it timed out)."""
    gateway = query_replicas[0]
    topic = f"order-events-{uuid.uuid4().hex[:8]}"
    create_topic(servers.kafka_bootstrap, topic)
    with isolated_courier(servers, gateway, topic=topic, **NO_RESYNC) as courier:
        api = courier.api
        ada = api.add_courier("Ada", phone(9952))["id"]
        first, waiting = orders_created_in_order(9952, 2)
        publish_orders(servers, [first, waiting])
        for order in (first, waiting):
            eventually(lambda order=order: gateway_answer(gateway, order.order_uid)[0] == 200)
        publish_events(
            servers,
            topic,
            [OrderEvent(o.order_uid, "created", o.date_created, 1) for o in (first, waiting)],
        )
        assert settled(courier, first.order_uid, "assigned") == ("assigned", ada)
        settled(courier, waiting.order_uid, "waiting")

        publish_status(servers, waiting.order_uid, "cancelled")
        publish_status(servers, first.order_uid, "completed")
        eventually(lambda: gateway_answer(gateway, waiting.order_uid) == (200, '"2"'))
        eventually(lambda: gateway_answer(gateway, first.order_uid) == (200, '"2"'))
        publish_events(
            servers, topic, [OrderEvent(first.order_uid, "completed", first.date_created, 2)]
        )

        assert settled(courier, first.order_uid, "delivered") == ("delivered", ada)
        assert settled(courier, waiting.order_uid, "cancelled") == ("cancelled", None)
        assert api.courier(ada)["status"] == "available"
