"""Retention on the real stack: what the courier keeps of orders that ended long ago is
pruned, the couriers' delivery counts stay, and what is recent stays."""

from __future__ import annotations

from order_shared.topics import ORDER_EVENTS
from tests.courier_io import (
    consumed_everything,
    isolated_courier,
    orders_created_in_order,
    phone,
    publish_orders,
    publish_status,
    settled,
)
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import Message, publish


def test_rows_of_orders_ended_past_the_retention_are_pruned_and_the_counts_stay(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    """Failed on main: nothing was ever pruned (the aged rows were all still there)."""
    with isolated_courier(
        servers, query_replicas[0], RETENTION_DAYS="30", PRUNE_INTERVAL_SECONDS="1"
    ) as courier:
        api = courier.api
        ada = api.add_courier("Ada", phone(22901))["id"]
        old_done, old_cancelled, recent_done = orders_created_in_order(22901, 3)
        for order, status, state in (
            (old_done, "completed", "delivered"),
            (old_cancelled, "cancelled", "cancelled"),
            (recent_done, "completed", "delivered"),
        ):
            publish_orders(servers, [order])
            settled(courier, order.order_uid, "assigned")
            publish_status(servers, order.order_uid, status)
            settled(courier, order.order_uid, state)
        publish(servers.kafka_bootstrap, ORDER_EVENTS, [Message(None, b"not an event")])
        eventually(lambda: consumed_everything(servers, courier), timeout=30)
        old = [old_done.order_uid, old_cancelled.order_uid]
        courier.rows(
            "UPDATE closed_orders SET closed_at = now() - interval '31 days'"
            " WHERE order_id = ANY(%s) RETURNING order_id",
            (old,),
        )
        courier.rows(
            "UPDATE courier_orders SET delivered_at = now() - interval '31 days'"
            " WHERE order_id = %s RETURNING order_id",
            (old_done.order_uid,),
        )
        courier.rows(
            "UPDATE rejected_order_events SET rejected_at = now() - interval '31 days' RETURNING id"
        )

        def kept(table: str) -> set[str]:
            return {order_id for (order_id,) in courier.rows(f"SELECT order_id FROM {table}")}

        def pruned() -> bool:
            assert kept("closed_orders") == {recent_done.order_uid}
            assert kept("courier_orders") == {recent_done.order_uid}
            assert kept("applied_versions") == {recent_done.order_uid}
            assert courier.rows("SELECT count(*) FROM rejected_order_events") == [(0,)]
            return True

        eventually(pruned, timeout=30)
        assert api.deliveries() == {ada: 2}
        assert api.state_of(recent_done.order_uid) == ("delivered", ada)
        assert api.state_of(old_done.order_uid) is None
