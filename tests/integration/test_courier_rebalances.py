"""Rebalances with real courier processes: the ingestor's rebalance test applied to the
courier. No event fetched around a rebalance is lost, whatever the batch in hand was
waiting for."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psycopg

from order_shared.events import OrderEvent, encode_event
from order_shared.model import Order
from tests.courier_io import (
    CourierUnderTest,
    another_replica,
    consumed_everything,
    isolated_courier,
    orders_created_in_order,
    phone,
    publish_orders,
)
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import Message, create_topic, group_members, publish


@contextmanager
def every_assignment_failing(courier: CourierUnderTest) -> Iterator[None]:
    """The courier's database answers every assignment with a serialization failure, an
    error a batch must wait out with its partitions paused; each attempt fails at once, so
    the courier spends its time in the waits between attempts, where a rebalance finds it."""
    with psycopg.connect(courier.database_admin_url, autocommit=True) as connection:
        connection.execute(
            "CREATE FUNCTION refuse_assignments() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'refused for a test' USING ERRCODE = '40001'; END $$"
        )
        for table in ("courier_orders", "waiting_orders"):
            connection.execute(
                f"CREATE TRIGGER refuse_assignments BEFORE INSERT ON {table}"
                " FOR EACH STATEMENT EXECUTE FUNCTION refuse_assignments()"
            )
        try:
            yield
        finally:
            for table in ("courier_orders", "waiting_orders"):
                connection.execute(f"DROP TRIGGER refuse_assignments ON {table}")
            connection.execute("DROP FUNCTION refuse_assignments()")


def served(gateway: ServiceProcess, orders: list[Order]) -> bool:
    with httpx.Client(base_url=gateway.base_url, timeout=5) as client:
        return all(
            client.get(f"/api/v1/orders/{order.order_uid}/status").status_code == 200
            for order in orders
        )


def created_events(orders: list[Order]) -> list[Message]:
    return [
        Message(
            order.order_uid.encode(),
            encode_event(OrderEvent(order.order_uid, "created", order.date_created, 1)),
        )
        for order in orders
    ]


def test_no_event_is_lost_when_the_group_rebalances_while_a_batch_waits_for_the_database(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    """Failed on the courier's own consumer loop ("34 of 35 orders never got a courier"):
    after the rebalance its wait polled fresh, unpaused partitions and threw away what the
    poll returned, so those events were never looked at."""
    topic = f"order-events-{uuid.uuid4().hex[:8]}"
    create_topic(servers.kafka_bootstrap, topic)
    orders = orders_created_in_order(9601, 35)
    before, after = orders[:30], orders[30:]
    publish_orders(servers, orders)
    eventually(lambda: served(query_replicas[0], orders), timeout=60)
    with isolated_courier(
        servers, query_replicas[0], topic=topic, BATCH_MAX_RECORDS="5"
    ) as courier:
        for n in range(len(orders)):
            courier.api.add_courier(f"Rider {n}", phone(6000 + n))
        with every_assignment_failing(courier):
            retries = courier.api.metric("courier_database_retries_total")
            publish(servers.kafka_bootstrap, topic, created_events(before))
            # Waits grow to seconds: the courier now spends nearly all its time in them.
            eventually(
                lambda: courier.api.metric("courier_database_retries_total") >= retries + 6, 60
            )
            joining = another_replica(courier, "courier-joining")
            try:
                eventually(
                    lambda: group_members(servers.kafka_bootstrap, courier.group) == ("Stable", 2),
                    60,
                )
                publish(servers.kafka_bootstrap, topic, created_events(after))
            finally:
                joining.stop()
            eventually(
                lambda: group_members(servers.kafka_bootstrap, courier.group) == ("Stable", 1), 60
            )
            # Two more attempts after the rebalance: the remaining courier has polled its
            # fresh, unpaused partitions in a wait at least once.
            settled = courier.api.metric("courier_database_retries_total")
            eventually(
                lambda: courier.api.metric("courier_database_retries_total") >= settled + 2, 60
            )

        def every_order_assigned() -> bool:
            assigned = {
                order_id
                for (order_id,) in courier.rows(
                    "SELECT order_id FROM courier_orders WHERE state = 'assigned'"
                )
            }
            missing = {order.order_uid for order in orders} - assigned
            assert not missing, f"{len(missing)} of {len(orders)} orders never got a courier"
            return True

        eventually(every_order_assigned, timeout=90)
        eventually(lambda: consumed_everything(servers, courier), timeout=30)
