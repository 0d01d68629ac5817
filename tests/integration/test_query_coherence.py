"""Three replicas as real processes converge to PostgreSQL: an update reaches every one of
them shortly after it commits, and so does everything that happened while Redis was
restarting or while a replica was frozen.

The third replica runs without the periodic backstop resync (every 10 minutes), so what
brings it back must be the watch's own recovery: the resync after a resubscription and
after a hole in the change sequence.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Iterator

import httpx
import msgspec
import pytest
import redis

from order_shared.model import Order, encode_order
from order_shared.topics import ORDERS
from producer.generator import generate_order
from tests.harness import Servers, ServiceProcess, eventually, start_query
from tests.kafka_io import Message, publish
from tests.store_io import query


@pytest.fixture(scope="module")
def replicas(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> Iterator[list[ServiceProcess]]:
    third = start_query(servers, "query-3", RESYNC_INTERVAL_SECONDS="600")
    try:
        yield [*query_replicas, third]
    finally:
        third.stop()


def changed(order: Order, generation: int) -> Order:
    """The same order with new content: the ingestor makes it a new version."""
    return msgspec.structs.replace(order, customer_id=f"customer-{generation}")


def publish_orders(servers: Servers, orders: list[Order]) -> None:
    publish(
        servers.kafka_bootstrap,
        ORDERS,
        [Message(order.order_uid.encode(), encode_order(order)) for order in orders],
    )


def database_versions(servers: Servers, uids: list[str]) -> dict[str, int]:
    rows = query(
        servers.admin_database_url,
        "SELECT order_uid, version FROM orders WHERE order_uid = ANY(%s)",
        (uids,),
    )
    return dict(rows)  # type: ignore[arg-type]


def last_seq(servers: Servers) -> int:
    return query(servers.admin_database_url, "SELECT last_seq FROM change_counter")[0][0]


def served_versions(replica: ServiceProcess, uids: list[str]) -> dict[str, int | None]:
    versions: dict[str, int | None] = {}
    with httpx.Client(base_url=replica.base_url, timeout=10) as client:
        for uid in uids:
            response = client.get(f"/api/v1/orders/{uid}")
            versions[uid] = (
                int(response.headers["etag"].strip('"')) if response.is_success else None
            )
    return versions


def metric(replica: ServiceProcess, name: str) -> float:
    text = httpx.get(f"{replica.base_url}/metrics", timeout=10).text
    return float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))  # type: ignore[union-attr]


def converged(servers: Servers, replica: ServiceProcess, uids: list[str]) -> bool:
    """Every order as PostgreSQL has it, and the replica's change sequence caught up."""
    wanted = database_versions(servers, uids)
    ready = httpx.get(f"{replica.base_url}/readyz", timeout=10).json()
    return (
        ready["last_change_seq"] >= last_seq(servers) and served_versions(replica, uids) == wanted
    )


def seed_orders(
    servers: Servers, replicas: list[ServiceProcess], seed: int, count: int
) -> list[Order]:
    rng = random.Random(seed)
    orders = [generate_order(rng) for _ in range(count)]
    publish_orders(servers, orders)
    uids = [order.order_uid for order in orders]
    for replica in replicas:
        eventually(lambda r=replica: converged(servers, r, uids), timeout=30)
    return orders


def test_an_update_is_served_by_every_replica_shortly_after_it_commits(
    servers: Servers, replicas: list[ServiceProcess]
) -> None:
    (order,) = seed_orders(servers, replicas, 5101, 1)
    uid = order.order_uid
    before = database_versions(servers, [uid])[uid]

    publish_orders(servers, [changed(order, 1)])
    eventually(lambda: database_versions(servers, [uid])[uid] > before, interval=0.02)
    committed = time.monotonic()
    for replica in replicas:
        eventually(
            lambda r=replica: served_versions(r, [uid])[uid] == before + 1,
            timeout=5,
            interval=0.02,
        )
    assert time.monotonic() - committed < 2.0
    for replica in replicas:
        body = httpx.get(f"{replica.base_url}/api/v1/orders/{uid}", timeout=5).content
        assert body == encode_order(changed(order, 1))


class Stream:
    """Publishes rounds of updates to `orders` in the background until stopped."""

    def __init__(self, servers: Servers, orders: list[Order]) -> None:
        self._servers = servers
        self._orders = orders
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.rounds = 0
        self.errors: list[BaseException] = []

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.rounds += 1
            try:
                publish_orders(self._servers, [changed(o, self.rounds) for o in self._orders])
            except BaseException as error:  # the test reports it
                self.errors.append(error)
                return
            time.sleep(0.2)


def test_every_replica_converges_after_redis_restarts_mid_stream(
    servers: Servers, replicas: list[ServiceProcess]
) -> None:
    orders = seed_orders(servers, replicas, 5201, 15)
    uids = [order.order_uid for order in orders]
    subscriptions = metric(replicas[2], "query_watch_subscriptions_total")

    with Stream(servers, orders) as stream:
        eventually(lambda: stream.rounds >= 2)
        servers.stop("redis")
        try:
            time.sleep(1.5)  # the stream goes on: committed, but nobody hears of it
        finally:
            servers.start("redis")
        restarted_at = stream.rounds
        eventually(lambda: stream.rounds >= restarted_at + 3, timeout=30)
    assert not stream.errors

    for replica in replicas:
        eventually(lambda r=replica: converged(servers, r, uids), timeout=30)
    # The third replica came back through its own resubscription, not a timer.
    assert metric(replicas[2], "query_watch_subscriptions_total") > subscriptions


def test_a_frozen_replica_converges_after_it_is_resumed(
    servers: Servers, replicas: list[ServiceProcess]
) -> None:
    orders = seed_orders(servers, replicas, 5301, 10)
    uids = [order.order_uid for order in orders]
    frozen = replicas[2]
    admin = redis.Redis.from_url(servers.redis_url)

    frozen.freeze()
    try:
        publish_orders(servers, [changed(order, 1) for order in orders[:5]])
        eventually(lambda: converged(servers, replicas[0], uids), timeout=30)
        # Redis drops subscribers that fall too far behind; do it now, so that what
        # follows is published while the frozen replica is not even connected.
        admin.client_kill_filter(_type="pubsub")
        publish_orders(servers, [changed(order, 2) for order in orders])
        eventually(lambda: converged(servers, replicas[0], uids), timeout=30)
    finally:
        frozen.thaw()
        admin.close()

    eventually(lambda: converged(servers, frozen, uids), timeout=20)
    for replica in replicas[:2]:
        eventually(lambda r=replica: converged(servers, r, uids), timeout=20)


def test_a_silent_subscription_is_given_up_and_the_replica_converges(
    servers: Servers, replicas: list[ServiceProcess]
) -> None:
    # A frozen Redis keeps its connections open and answers nothing: to a subscriber it
    # is a network that drops packets. A blocking read would wait until TCP gave up.
    orders = seed_orders(servers, replicas, 5401, 5)
    uids = [order.order_uid for order in orders]
    silences = metric(replicas[2], "query_watch_silences_total")

    servers.running["redis"].freeze()
    try:
        eventually(lambda: metric(replicas[2], "query_watch_silences_total") > silences, 60)
    finally:
        servers.running["redis"].thaw()
    publish_orders(servers, [changed(order, 1) for order in orders])

    for replica in replicas:
        eventually(lambda r=replica: converged(servers, r, uids), timeout=30)
