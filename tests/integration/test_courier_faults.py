"""Faults with real processes stopped and killed: the query service (the gateway) away for
a while, the courier killed between its database commit and its offset commit, PostgreSQL
stopped, and an event that never arrives. Nothing is lost, nothing counts twice."""

from __future__ import annotations

import uuid

import httpx

from order_shared.events import OrderEvent, encode_event
from tests.courier_io import (
    CourierUnderTest,
    consumed_everything,
    isolated_courier,
    orders_created_in_order,
    phone,
    publish_orders,
    publish_status,
    settled,
)
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import Message, committed_offsets, create_topic, end_offsets, publish


def retried_orders(courier: CourierUnderTest) -> set[str]:
    return {order_id for (order_id,) in courier.rows("SELECT order_id FROM courier_retries")}


def test_events_while_the_query_service_is_stopped_are_retried_and_none_is_lost(
    servers: Servers, query_replicas: list[ServiceProcess], courier: CourierUnderTest
) -> None:
    api, gateway = courier.api, query_replicas[0]
    ada = api.add_courier("Ada", phone(11))["id"]
    bo = api.add_courier("Bo", phone(12))["id"]
    done, dropped, late = orders_created_in_order(9201, 3)
    publish_orders(servers, [done, dropped])
    settled(courier, done.order_uid, "assigned")
    settled(courier, dropped.order_uid, "assigned")
    errors_before = api.metric("courier_gateway_errors_total")

    gateway.stop()
    try:
        publish_status(servers, done.order_uid, "completed")
        publish_status(servers, dropped.order_uid, "cancelled")
        publish_orders(servers, [late])
        ids = {done.order_uid, dropped.order_uid, late.order_uid}
        # Each event is durably queued for retry, so its offset is committed meanwhile.
        eventually(lambda: ids <= retried_orders(courier), timeout=60)
        eventually(lambda: consumed_everything(servers, courier), timeout=30)
        assert api.metric("courier_gateway_errors_total") > errors_before
        assert api.state_of(late.order_uid) == ("pending", None)
        assert api.deliveries() == {ada: 0, bo: 0}
    finally:
        gateway.restart()
        gateway.wait_ready()

    assert settled(courier, done.order_uid, "delivered")[0] == "delivered"
    assert settled(courier, dropped.order_uid, "cancelled") == ("cancelled", None)
    late_courier = settled(courier, late.order_uid, "assigned")[1]
    assert late_courier in (ada, bo)
    assert sum(api.deliveries().values()) == 1
    eventually(lambda: retried_orders(courier) == set(), timeout=30)


def test_a_kill_between_database_commit_and_offset_commit_replays_without_change(
    servers: Servers, courier: CourierUnderTest
) -> None:
    api = courier.api
    ada = api.add_courier("Ada", phone(21))["id"]
    api.add_courier("Bo", phone(22))
    (order,) = orders_created_in_order(9202, 1)
    start = end_offsets(servers.kafka_bootstrap, courier.topic)
    courier.service.restart(FAILPOINT_PAUSE_BEFORE_OFFSET_COMMIT="60")
    courier.service.wait_ready()
    try:
        publish_orders(servers, [order])
        assert settled(courier, order.order_uid, "assigned") == ("assigned", ada)

        courier.service.kill()  # SIGKILL: the assignment is committed, the offset is not

        committed = committed_offsets(servers.kafka_bootstrap, courier.group, courier.topic)
        assert all(committed.get(p, 0) <= offset for p, offset in start.items())
    finally:
        courier.service.restart(FAILPOINT_PAUSE_BEFORE_OFFSET_COMMIT="0")
        courier.service.wait_ready()

    eventually(lambda: consumed_everything(servers, courier), timeout=30)
    # The replay looked again and changed nothing: same courier, one assignment.
    assert api.metric('courier_reconciles_total{outcome="unchanged"}') >= 1
    assert api.state_of(order.order_uid) == ("assigned", ada)
    assert courier.rows("SELECT order_id, courier_id FROM courier_orders") == [
        (order.order_uid, ada)
    ]
    publish_status(servers, order.order_uid, "completed")
    settled(courier, order.order_uid, "delivered")
    assert api.deliveries()[ada] == 1


def test_a_postgresql_outage_holds_the_offsets_and_the_courier_resumes_by_itself(
    servers: Servers, query_replicas: list[ServiceProcess], courier: CourierUnderTest
) -> None:
    api = courier.api
    ada = api.add_courier("Ada", phone(31))["id"]
    (order,) = orders_created_in_order(9203, 1)
    publish_orders(servers, [order])
    settled(courier, order.order_uid, "assigned")
    eventually(lambda: consumed_everything(servers, courier), timeout=30)
    committed_before = committed_offsets(servers.kafka_bootstrap, courier.group, courier.topic)

    servers.stop("postgres")
    try:
        # The ingestor cannot write the completion now, so this event runs ahead of it.
        event = OrderEvent(order.order_uid, "completed", order.date_created, 2)
        publish(
            servers.kafka_bootstrap,
            courier.topic,
            [Message(order.order_uid.encode(), encode_event(event))],
        )
        publish_status(servers, order.order_uid, "completed")
        eventually(lambda: api.metric("courier_database_retries_total") >= 1, timeout=30)
        ready = eventually(
            lambda: (r := httpx.get(f"{courier.service.base_url}/readyz")).status_code == 503 and r,
            timeout=30,
        )
        assert ready.json()["database_reachable"] is False
        unavailable = api.request("GET", "/api/v1/couriers")
        assert unavailable.status_code == 503 and "unavailable" in unavailable.json()["detail"]
        assert (
            committed_offsets(servers.kafka_bootstrap, courier.group, courier.topic)
            == committed_before
        )
    finally:
        servers.start("postgres")

    assert settled(courier, order.order_uid, "delivered") == ("delivered", ada)
    eventually(lambda: consumed_everything(servers, courier), timeout=60)
    courier.service.wait_ready()
    assert api.deliveries() == {ada: 1}


def test_an_event_that_never_arrives_is_repaired_by_the_resync(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    """This courier reads a topic of its own: the order's completion is never announced
    on it, and only the periodic resync can notice it."""
    topic = f"order-events-{uuid.uuid4().hex[:8]}"
    create_topic(servers.kafka_bootstrap, topic)
    with isolated_courier(servers, query_replicas[0], topic=topic) as courier:
        ada = courier.api.add_courier("Ada", phone(41))["id"]
        (order,) = orders_created_in_order(9204, 1)
        publish_orders(servers, [order])
        eventually(
            lambda: (
                httpx.get(
                    f"{query_replicas[0].base_url}/api/v1/orders/{order.order_uid}/status"
                ).status_code
                == 200
            )
        )
        created = OrderEvent(order.order_uid, "created", order.date_created, 1)
        publish(
            servers.kafka_bootstrap,
            topic,
            [Message(order.order_uid.encode(), encode_event(created))],
        )
        assert settled(courier, order.order_uid, "assigned") == ("assigned", ada)

        publish_status(servers, order.order_uid, "completed")

        assert settled(courier, order.order_uid, "delivered") == ("delivered", ada)
        assert courier.api.deliveries() == {ada: 1}


def test_sigterm_stops_the_courier_cleanly(courier: CourierUnderTest) -> None:
    courier.service.stop(timeout=30)

    assert courier.service.process.returncode == 0
    assert "stopped" in courier.service.log_path.read_text()[-3000:]
