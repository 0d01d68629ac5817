"""Versions: an answer older than what the courier tables applied changes nothing, and an
erasure is acted on even when the re-creation of the id arrives with it, on the real
ingestor, query replica, Kafka and PostgreSQL.

A late answer is given to the courier's own `Reconciler.apply` against the service's real
database: it is what a replica that is behind (or a request answered before a newer
change was applied) hands the courier, and no real replica can be made to answer late on
cue."""

from __future__ import annotations

import asyncio

import httpx

from courier.gateway import ErasedState, OrderGateway, OrderState
from courier.reconcile import Reconciler
from courier.retry_queue import RetryPolicy
from order_shared.database import create_pool
from order_shared.model import Order
from tests.courier_io import (
    CourierUnderTest,
    consumed_everything,
    gateway_answer,
    orders_created_in_order,
    phone,
    publish_orders,
    publish_status,
    publish_tombstone,
    settled,
)
from tests.harness import Servers, ServiceProcess, eventually


def apply_late_answer(courier: CourierUnderTest, answer: OrderState | ErasedState) -> None:
    """Have the courier's reconciler apply `answer` now, as if it had just come back."""

    async def apply() -> None:
        pool = create_pool(courier.service.command.env["DATABASE_URL"], name="late-answer")
        await pool.open()
        try:
            async with httpx.AsyncClient(base_url="http://127.0.0.1:9") as unused:
                reconciler = Reconciler(
                    pool, OrderGateway(unused), RetryPolicy(1, 1, 1), concurrency=1, round_seconds=1
                )
                await reconciler.apply([answer])
        finally:
            await pool.close()

    asyncio.run(apply())


def at_version(gateway: ServiceProcess, order_id: str, status_code: int, version: int) -> bool:
    return gateway_answer(gateway, order_id) == (status_code, f'"{version}"')


def test_a_late_erasure_of_an_order_sent_again_changes_nothing(
    servers: Servers, query_replicas: list[ServiceProcess], courier: CourierUnderTest
) -> None:
    """Case A of the issue. Failed on main: the late `erased v2` answer freed the courier of
    the live order sent again and showed it erased (("erased", None) != ("assigned", 2))."""
    api, gateway = courier.api, query_replicas[0]
    api.add_courier("Ada", phone(22701))
    api.add_courier("Bo", phone(22702))
    (order,) = orders_created_in_order(22701, 1)
    publish_orders(servers, [order])
    settled(courier, order.order_uid, "assigned")
    publish_tombstone(servers, order.order_uid)
    settled(courier, order.order_uid, "erased")
    publish_orders(servers, [order])  # sent again: version 3
    eventually(lambda: at_version(gateway, order.order_uid, 200, 3))
    _, holder = settled(courier, order.order_uid, "assigned")
    eventually(lambda: consumed_everything(servers, courier), timeout=30)

    apply_late_answer(courier, ErasedState(order.order_uid, 2))

    assert api.state_of(order.order_uid) == ("assigned", holder)
    assert api.courier(holder)["status"] == "busy"


def test_a_late_completion_of_the_erased_order_does_not_deliver_the_new_one(
    servers: Servers, query_replicas: list[ServiceProcess], courier: CourierUnderTest
) -> None:
    """Case B of the issue. Failed on main: the late `completed v2` answer marked the new
    order delivered (("delivered", 2) != ("assigned", 2)), its courier's count rising."""
    api, gateway = courier.api, query_replicas[0]
    ada = api.add_courier("Ada", phone(22703))["id"]
    bo = api.add_courier("Bo", phone(22704))["id"]
    (order,) = orders_created_in_order(22702, 1)
    publish_orders(servers, [order])
    assert settled(courier, order.order_uid, "assigned") == ("assigned", ada)
    publish_status(servers, order.order_uid, "completed")  # version 2
    settled(courier, order.order_uid, "delivered")
    publish_tombstone(servers, order.order_uid)  # version 3
    settled(courier, order.order_uid, "erased")
    publish_orders(servers, [order])  # sent again: version 4, to Bo (fewer deliveries)
    eventually(lambda: at_version(gateway, order.order_uid, 200, 4))
    assert settled(courier, order.order_uid, "assigned") == ("assigned", bo)
    eventually(lambda: consumed_everything(servers, courier), timeout=30)

    late = OrderState(order.order_uid, "completed", order.date_created, 2)
    apply_late_answer(courier, late)

    assert api.state_of(order.order_uid) == ("assigned", bo)
    assert api.deliveries() == {ada: 1, bo: 0}


def erase_and_send_again_while_stopped(
    servers: Servers, gateway: ServiceProcess, courier: CourierUnderTest, order: Order, at: int
) -> None:
    """The tombstone (taking version `at`) and the order again (`at` + 1) reach
    `order-events` while the courier is down, so it reads their events in one batch."""
    eventually(lambda: consumed_everything(servers, courier), timeout=30)
    courier.service.stop()
    publish_tombstone(servers, order.order_uid)
    eventually(lambda: at_version(gateway, order.order_uid, 410, at))
    publish_orders(servers, [order])
    eventually(lambda: at_version(gateway, order.order_uid, 200, at + 1))


def test_an_erasure_read_with_the_re_creation_frees_the_courier_for_the_new_order(
    servers: Servers, query_replicas: list[ServiceProcess], courier: CourierUnderTest
) -> None:
    """Failed on main: the batch became one look at version 3, the gateway answered
    `created v3`, and Ada silently kept the new order as if it were the erased one
    (("assigned", 1) != ("assigned", 2))."""
    api, gateway = courier.api, query_replicas[0]
    ada = api.add_courier("Ada", phone(22705))["id"]
    bo = api.add_courier("Bo", phone(22706))["id"]
    (order,) = orders_created_in_order(22703, 1)
    publish_orders(servers, [order])
    assert settled(courier, order.order_uid, "assigned") == ("assigned", ada)
    erase_and_send_again_while_stopped(servers, gateway, courier, order, at=2)

    courier.service.restart()
    courier.service.wait_ready()

    # The erasure freed Ada; the new order went to whoever the fair choice names, Bo (no
    # deliveries either, idle longer than Ada, freed just now).
    def new_order_assigned() -> bool:
        assert api.state_of(order.order_uid) == ("assigned", bo)
        return True

    eventually(new_order_assigned, timeout=30)
    assert api.courier(ada)["status"] == "available"
    assert api.deliveries() == {ada: 0, bo: 0}


def test_an_erasure_read_with_the_re_creation_of_an_ended_order_assigns_the_new_one(
    servers: Servers, query_replicas: list[ServiceProcess], courier: CourierUnderTest
) -> None:
    """Failed on main: the old order was closed, so the look at `created v4` decided
    UNCHANGED and the new order was never assigned (("delivered", 1) != ("assigned", 2))."""
    api, gateway = courier.api, query_replicas[0]
    ada = api.add_courier("Ada", phone(22707))["id"]
    bo = api.add_courier("Bo", phone(22708))["id"]
    (order,) = orders_created_in_order(22704, 1)
    publish_orders(servers, [order])
    assert settled(courier, order.order_uid, "assigned") == ("assigned", ada)
    publish_status(servers, order.order_uid, "completed")
    settled(courier, order.order_uid, "delivered")
    erase_and_send_again_while_stopped(servers, gateway, courier, order, at=3)

    courier.service.restart()
    courier.service.wait_ready()

    def new_order_assigned() -> bool:
        assert api.state_of(order.order_uid) == ("assigned", bo)
        return True

    eventually(new_order_assigned, timeout=30)
    # The erased order's delivery still counts; the new order has not counted yet.
    assert api.deliveries() == {ada: 1, bo: 0}


def test_an_erased_event_seen_after_the_re_creation_was_applied_changes_nothing(
    servers: Servers, query_replicas: list[ServiceProcess], courier: CourierUnderTest
) -> None:
    """A replay of the erasure's event (after a kill between the database commit and the
    offset commit, say) is older than what was applied, and is ignored. Failed on main:
    (("erased", None) != ("assigned", 1))."""
    api = courier.api
    api.add_courier("Ada", phone(22709))
    (order,) = orders_created_in_order(22705, 1)
    publish_orders(servers, [order])
    settled(courier, order.order_uid, "assigned")
    publish_tombstone(servers, order.order_uid)
    settled(courier, order.order_uid, "erased")
    publish_orders(servers, [order])
    state = settled(courier, order.order_uid, "assigned")

    apply_late_answer(courier, ErasedState(order.order_uid, 2))
    apply_late_answer(courier, OrderState(order.order_uid, "created", order.date_created, 1))

    assert api.state_of(order.order_uid) == state
