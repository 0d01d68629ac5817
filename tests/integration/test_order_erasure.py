"""Erasing an order on the real stack: a tombstone on `orders` (the order id as key, a null
value) takes the order out of every table, every replica, the list and the courier's
work, and nothing brings it back but the id sent again, which is a new order."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import msgspec
import pytest
import redis

from order_shared.events import decode_event
from order_shared.model import Order, encode_order
from order_shared.topics import ORDER_EVENTS, ORDERS, ORDERS_DLQ
from tests.courier_io import CourierUnderTest, orders_created_in_order, phone, settled
from tests.harness import Servers, ServiceProcess, eventually, start_query
from tests.kafka_io import (
    Message,
    committed_offsets,
    end_offsets,
    publish,
    publish_and_locate,
    read_from,
)
from tests.metrics_io import metric_total
from tests.sample_orders import sample_orders
from tests.store_io import events_of, listening_to_changes, order_row, query

GROUP = "order-ingestor"
_ORDER_TABLES = ("orders", "deliveries", "payments", "items")


def publish_order(servers: Servers, order: Order) -> None:
    publish(
        servers.kafka_bootstrap, ORDERS, [Message(order.order_uid.encode(), encode_order(order))]
    )


def publish_tombstone(servers: Servers, order_uid: str) -> None:
    publish(servers.kafka_bootstrap, ORDERS, [Message(order_uid.encode(), None)])


def rows_left(servers: Servers, order_uid: str) -> int:
    return sum(
        query(
            servers.admin_database_url,
            f"SELECT count(*) FROM {table} WHERE order_uid = %s",
            (order_uid,),
        )[0][0]
        for table in _ORDER_TABLES
    )


def answers(replica: ServiceProcess, order_uid: str) -> tuple[int, int, str | None]:
    """(the order's HTTP status, its status route's HTTP status, that answer's ETag)."""
    with httpx.Client(base_url=replica.base_url, timeout=10) as client:
        document = client.get(f"/api/v1/orders/{order_uid}")
        status = client.get(f"/api/v1/orders/{order_uid}/status")
    return document.status_code, status.status_code, status.headers.get("etag")


def listed(replica: ServiceProcess, order: Order) -> bool:
    page = httpx.get(
        f"{replica.base_url}/api/v1/orders",
        params={"customer_id": order.customer_id, "limit": 100},
        timeout=10,
    ).json()
    return order.order_uid in {summary["order_uid"] for summary in page["orders"]}


def served_everywhere(replicas: list[ServiceProcess], order: Order, version: int) -> bool:
    return all(
        answers(replica, order.order_uid) == (200, 200, f'"{version}"') and listed(replica, order)
        for replica in replicas
    )


def gone_everywhere(replicas: list[ServiceProcess], order: Order, version: int) -> bool:
    return all(
        answers(replica, order.order_uid) == (404, 410, f'"{version}"')
        and not listed(replica, order)
        for replica in replicas
    )


def test_a_tombstone_erases_the_order_from_every_table_replica_and_list(
    servers: Servers, ingestor: ServiceProcess, query_replicas: list[ServiceProcess]
) -> None:
    (order,) = sample_orders(9810, 1)
    publish_order(servers, order)
    eventually(lambda: served_everywhere(query_replicas, order, 1), timeout=30)
    events_start = end_offsets(servers.kafka_bootstrap, ORDER_EVENTS)
    erased_before = metric_total(ingestor, "ingestor_orders_erased_total")

    with listening_to_changes(servers.redis_url) as changes:
        publish_tombstone(servers, order.order_uid)
        eventually(lambda: gone_everywhere(query_replicas, order, 2), timeout=30)
        (announcement,) = eventually(lambda: changes.of(order.order_uid))

    assert rows_left(servers, order.order_uid) == 0
    assert metric_total(ingestor, "ingestor_orders_erased_total") == erased_before + 1
    assert (announcement.version, announcement.erased, announcement.document) == (2, True, None)
    body = httpx.get(f"{query_replicas[0].base_url}/api/v1/orders/{order.order_uid}/status")
    assert body.json() == {"status_code": 410, "detail": f"order {order.order_uid} was erased"}
    (event,) = read_from(
        servers.kafka_bootstrap, ORDER_EVENTS, events_start, count=1, key=order.order_uid.encode()
    )
    erased = decode_event(event.value)  # type: ignore[arg-type]
    assert (erased.order_id, erased.status, erased.version) == (order.order_uid, "erased", 2)
    assert erased.created_at == order.date_created


def test_an_erased_id_sent_again_is_a_new_order_on_every_replica(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    (order,) = sample_orders(9811, 1)
    publish_order(servers, order)
    eventually(lambda: served_everywhere(query_replicas, order, 1), timeout=30)
    publish_tombstone(servers, order.order_uid)
    eventually(lambda: gone_everywhere(query_replicas, order, 2), timeout=30)

    again = msgspec.structs.replace(order, customer_id="sent-again-9811")
    publish_order(servers, again)

    eventually(lambda: served_everywhere(query_replicas, again, 3), timeout=30)
    for replica in query_replicas:
        document = httpx.get(f"{replica.base_url}/api/v1/orders/{order.order_uid}").json()
        assert document["customer_id"] == "sent-again-9811"
    assert order_row(servers.admin_database_url, order.order_uid)[:2] == (3, "created")  # type: ignore[index]
    assert query(
        servers.admin_database_url,
        "SELECT count(*) FROM erased_orders WHERE order_uid = %s",
        (order.order_uid,),
    ) == [(0,)]


def test_a_tombstone_for_an_unknown_id_is_harmless_and_one_without_an_id_is_dead_lettered(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    (order,) = sample_orders(9812, 1)
    key = order.order_uid.encode()
    dlq_start = end_offsets(servers.kafka_bootstrap, ORDERS_DLQ)

    # The id is unknown when its tombstone comes; the order after it, on the same
    # partition, is stored as a first version.
    publish(
        servers.kafka_bootstrap, ORDERS, [Message(key, None), Message(key, encode_order(order))]
    )
    publish(servers.kafka_bootstrap, ORDERS, [Message(b"not an id!", None)])

    eventually(lambda: served_everywhere(query_replicas, order, 1), timeout=30)
    assert [(s, v) for s, v, _ in events_of(servers.admin_database_url, order.order_uid)] == [
        ("created", 1)
    ]
    (dead,) = read_from(servers.kafka_bootstrap, ORDERS_DLQ, dlq_start, count=1, key=b"not an id!")
    headers = dict(dead.headers)
    assert (dead.value, headers["error.class"]) == (None, b"InvalidTombstone")
    assert b"is not an order id" in headers["error.message"]


def test_a_replay_of_the_content_before_an_erasure_does_not_bring_the_order_back(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    (order,) = sample_orders(9813, 1)
    ingestor.restart(FAILPOINT_PAUSE_BEFORE_OFFSET_COMMIT="60")
    ingestor.wait_ready()
    try:
        partition, first = publish_and_locate(
            servers.kafka_bootstrap, ORDERS, Message(order.order_uid.encode(), encode_order(order))
        )
        _, tombstone = publish_and_locate(
            servers.kafka_bootstrap, ORDERS, Message(order.order_uid.encode(), None)
        )
        eventually(
            lambda: (
                query(
                    servers.admin_database_url,
                    "SELECT version FROM erased_orders WHERE order_uid = %s",
                    (order.order_uid,),
                )
                == [(2,)]
            ),
            timeout=30,
        )

        ingestor.kill()  # SIGKILL: the erasure is committed, the offsets are not

        assert committed_offsets(servers.kafka_bootstrap, GROUP, ORDERS).get(partition, 0) <= first
    finally:
        ingestor.restart(FAILPOINT_PAUSE_BEFORE_OFFSET_COMMIT="0")
        ingestor.wait_ready()

    with listening_to_changes(servers.redis_url) as changes:
        eventually(
            lambda: (
                committed_offsets(servers.kafka_bootstrap, GROUP, ORDERS).get(partition, 0)
                > tombstone
            ),
            timeout=60,
        )
        assert changes.of(order.order_uid) == []  # the replay changed nothing
    assert rows_left(servers, order.order_uid) == 0
    assert [(s, v) for s, v, _ in events_of(servers.admin_database_url, order.order_uid)] == [
        ("created", 1),
        ("erased", 2),
    ]


@pytest.fixture
def replica_without_backstop(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> Iterator[ServiceProcess]:
    """A replica whose periodic catch-up is 10 minutes away: only the watch's own recovery
    (a resubscription, a hole in the sequence) can tell it what it missed."""
    replica = start_query(servers, "query-erasure", RESYNC_INTERVAL_SECONDS="600")
    try:
        yield replica
    finally:
        replica.stop()


def test_an_erasure_missed_on_the_watch_is_learnt_in_the_catch_up(
    servers: Servers, query_replicas: list[ServiceProcess], replica_without_backstop: ServiceProcess
) -> None:
    (order,) = sample_orders(9814, 1)
    frozen = replica_without_backstop
    publish_order(servers, order)
    eventually(lambda: served_everywhere([*query_replicas, frozen], order, 1), timeout=30)
    admin = redis.Redis.from_url(servers.redis_url)

    frozen.freeze()
    try:
        # Cut its subscription: the erasure is announced while it is not even connected.
        admin.client_kill_filter(_type="pubsub")
        publish_tombstone(servers, order.order_uid)
        eventually(lambda: gone_everywhere(query_replicas, order, 2), timeout=30)
    finally:
        frozen.thaw()
        admin.close()

    eventually(lambda: gone_everywhere([frozen], order, 2), timeout=30)


def test_the_courier_of_an_erased_order_is_freed_and_the_id_sent_again_is_a_new_order(
    servers: Servers, courier: CourierUnderTest
) -> None:
    api = courier.api
    ada = api.add_courier("Ada", phone(9815), "scooter")["id"]
    first, second = orders_created_in_order(9815, 2)
    publish_order(servers, first)
    assert settled(courier, first.order_uid, "assigned") == ("assigned", ada)
    publish_order(servers, second)
    settled(courier, second.order_uid, "waiting")

    publish_tombstone(servers, first.order_uid)

    assert settled(courier, first.order_uid, "erased") == ("erased", None)
    # Ada is free again and takes the order that waited; the erased one never counts.
    assert settled(courier, second.order_uid, "assigned") == ("assigned", ada)
    assert api.deliveries() == {ada: 0}

    publish_order(servers, msgspec.structs.replace(first, customer_id="sent-again-9815"))
    assert settled(courier, first.order_uid, "waiting") == ("waiting", None)
    stats = api.stats()
    assert (stats["busy"], stats["waiting_orders"], stats["completed_deliveries"]) == (1, 1, 0)
