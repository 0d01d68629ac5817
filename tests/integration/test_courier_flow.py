"""The courier service on the real stack: orders go through Kafka, the real ingestor writes
them and publishes `order-events`, a real query replica is the gateway, and the courier
service ends with the right assignments, courier statuses and statistics, however the
events are repeated, reordered or early."""

from __future__ import annotations

import random

from order_shared.events import OrderEvent, encode_event
from order_shared.topics import ORDER_EVENTS
from tests.courier_io import (
    CourierUnderTest,
    consumed_everything,
    orders_created_in_order,
    phone,
    publish_orders,
    publish_status,
    settled,
)
from tests.harness import Servers, eventually
from tests.kafka_io import Message, end_offsets, publish, read_from


def snapshot(courier: CourierUnderTest, order_ids: list[str]) -> tuple[object, ...]:
    stats = courier.api.stats()
    return (
        [courier.api.state_of(order_id) for order_id in order_ids],
        {c["id"]: (c["status"], c["completed_deliveries"]) for c in stats["couriers"]},
        {key: value for key, value in stats.items() if key != "couriers"},
    )


def test_created_cancelled_and_completed_orders_end_with_the_right_couriers_and_counts(
    servers: Servers, courier: CourierUnderTest
) -> None:
    api = courier.api
    ada = api.add_courier("Ada", phone(1), "scooter")["id"]
    bo = api.add_courier("Bo", phone(2), "car")["id"]
    first, second, third, fourth = orders_created_in_order(9101, 4)

    # Both couriers have no deliveries: the one idle longest (Ada, added first) goes first.
    publish_orders(servers, [first])
    assert settled(courier, first.order_uid, "assigned") == ("assigned", ada)
    publish_orders(servers, [second])
    assert settled(courier, second.order_uid, "assigned") == ("assigned", bo)
    publish_orders(servers, [third, fourth])
    settled(courier, third.order_uid, "waiting")
    settled(courier, fourth.order_uid, "waiting")
    assert api.stats()["waiting_orders"] == 2
    assert eventually(lambda: api.metric("courier_waiting_orders") == 2)
    assert api.courier(ada)["status"] == "busy" and api.courier(ada)["current_order"] == (
        first.order_uid
    )

    # A courier freed by a completion takes the oldest waiting order at once.
    publish_status(servers, first.order_uid, "completed")
    assert settled(courier, first.order_uid, "delivered") == ("delivered", ada)
    assert settled(courier, third.order_uid, "assigned") == ("assigned", ada)

    # A cancellation frees the courier too, and never counts.
    publish_status(servers, second.order_uid, "cancelled")
    assert settled(courier, second.order_uid, "cancelled") == ("cancelled", None)
    assert settled(courier, fourth.order_uid, "assigned") == ("assigned", bo)

    publish_status(servers, third.order_uid, "completed")
    publish_status(servers, fourth.order_uid, "completed")
    settled(courier, third.order_uid, "delivered")
    settled(courier, fourth.order_uid, "delivered")

    assert api.deliveries() == {ada: 2, bo: 1}
    stats = api.stats()
    assert (stats["available"], stats["busy"], stats["assigned_orders"]) == (2, 0, 0)
    assert (stats["waiting_orders"], stats["completed_deliveries"]) == (0, 3)
    assert eventually(lambda: api.metric("courier_waiting_orders") == 0)


def test_every_event_again_duplicated_and_shuffled_changes_nothing(
    servers: Servers, courier: CourierUnderTest
) -> None:
    api = courier.api
    api.add_courier("Cy", phone(3), "on_foot")
    api.add_courier("Di", phone(4), "car")
    start = end_offsets(servers.kafka_bootstrap, ORDER_EVENTS)
    orders = orders_created_in_order(9102, 5)
    ids = [order.order_uid for order in orders]
    publish_orders(servers, orders)
    for order in orders[:2]:
        settled(courier, order.order_uid, "assigned")
    for order_id in ids[2:]:
        settled(courier, order_id, "waiting")
    publish_status(servers, ids[0], "completed")
    settled(courier, ids[2], "assigned")  # the oldest waiting order takes the freed courier
    publish_status(servers, ids[1], "cancelled")
    publish_status(servers, ids[2], "completed")
    for order_id, state in ((ids[0], "delivered"), (ids[1], "cancelled"), (ids[2], "delivered")):
        settled(courier, order_id, state)
    eventually(lambda: consumed_everything(servers, courier), timeout=30)
    before = snapshot(courier, ids)

    # Every event these orders had, three times each, in a random order; and a `created`
    # of a completed order and a `completed` of one still assigned, both long stale.
    events = [m for m in read_from(servers.kafka_bootstrap, ORDER_EVENTS, start, count=10) if m.key]
    events = [m for m in events if m.key.decode() in ids]
    assert len(events) >= 8
    again = [Message(m.key, m.value) for m in events] * 3
    random.Random(9102).shuffle(again)
    publish(servers.kafka_bootstrap, ORDER_EVENTS, again)

    eventually(lambda: consumed_everything(servers, courier), timeout=60)
    assert snapshot(courier, ids) == before
    retries_settled = courier.rows("SELECT count(*) FROM courier_retries")
    assert retries_settled == [(0,)]


def test_a_completed_event_before_its_created_is_retried_until_the_order_exists(
    servers: Servers, courier: CourierUnderTest
) -> None:
    api = courier.api
    eve = api.add_courier("Eve", phone(5), "scooter")["id"]
    (order,) = orders_created_in_order(9103, 1)
    early = OrderEvent(order.order_uid, "completed", order.date_created, 2)
    publish(
        servers.kafka_bootstrap,
        ORDER_EVENTS,
        [Message(order.order_uid.encode(), encode_event(early))],
    )

    # The order service does not know the order yet: queued for retry, offset committed.
    settled(courier, order.order_uid, "pending")
    eventually(lambda: consumed_everything(servers, courier), timeout=30)
    assert api.courier(eve)["status"] == "available"

    publish_orders(servers, [order])
    # The order's own `created` event (version 1) assigns it; the early event still waits
    # in the queue for version 2, which an answer at version 1 does not satisfy.
    assert settled(courier, order.order_uid, "assigned") == ("assigned", eve)
    assert courier.rows("SELECT min_version FROM courier_retries") == [(2,)]

    publish_status(servers, order.order_uid, "completed")
    assert settled(courier, order.order_uid, "delivered") == ("delivered", eve)
    assert api.courier(eve)["status"] == "available"
    assert api.deliveries() == {eve: 1}
    eventually(lambda: courier.rows("SELECT count(*) FROM courier_retries") == [(0,)])


def test_a_record_that_names_no_order_is_kept_with_its_reason_and_the_next_is_processed(
    servers: Servers, courier: CourierUnderTest
) -> None:
    ada = courier.api.add_courier("Ada", phone(6))["id"]
    (order,) = orders_created_in_order(9104, 1)
    publish(
        servers.kafka_bootstrap,
        ORDER_EVENTS,
        [Message(None, b"\xff not an event"), Message(b"bad id!", b"{}")],
    )
    publish_orders(servers, [order])

    assert settled(courier, order.order_uid, "assigned") == ("assigned", ada)
    eventually(lambda: consumed_everything(servers, courier), timeout=30)
    kept = courier.rows("SELECT key, value, reason FROM rejected_order_events ORDER BY id")
    assert sorted((key or b"", value) for key, value, _ in kept) == [
        (b"", b"\xff not an event"),
        (b"bad id!", b"{}"),
    ]
    assert all("order id" in reason for _, _, reason in kept)
    assert courier.api.metric("courier_events_rejected_total") == 2
