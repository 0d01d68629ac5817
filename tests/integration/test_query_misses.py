"""Cache misses on a real replica: many requests for one id make one PostgreSQL query, a
slow miss-fill never puts back an older version than an announcement brought meanwhile,
and "not found" is remembered only until the order is announced.

The replica here holds a single order (CACHE_MAX_ENTRIES=1), so nearly every read is a
miss, and has no periodic resync, so only the watch changes what it holds.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import msgspec
import psycopg
import pytest
import redis

from order_shared.announcements import ChangeAnnouncement, encode_announcement
from order_shared.model import Order, encode_order
from order_shared.topics import CHANGES_CHANNEL, ORDERS
from producer.generator import generate_order
from tests.harness import Servers, ServiceProcess, eventually, start_query
from tests.kafka_io import Message, publish
from tests.store_io import query

# How a miss-fill's row query looks in pg_stat_activity (the resync's does not match).
_MISS_READ = "%o.order_uid = $1%"
_BLOCKED_MISS_READS = """
SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s
"""


@pytest.fixture(scope="module")
def lean_replica(servers: Servers, ingestor: ServiceProcess) -> Iterator[ServiceProcess]:
    replica = start_query(
        servers,
        "query-lean",
        CACHE_MAX_ENTRIES="1",
        CACHE_NOT_FOUND_TTL_SECONDS="600",
        RESYNC_INTERVAL_SECONDS="600",
    )
    try:
        yield replica
    finally:
        replica.stop()


def stored(servers: Servers, seed: int) -> Order:
    """An order written through Kafka, then another one, so the lean replica holds not it."""
    rng = random.Random(seed)
    order, filler = generate_order(rng), generate_order(rng)
    for each in (order, filler):
        publish(
            servers.kafka_bootstrap, ORDERS, [Message(each.order_uid.encode(), encode_order(each))]
        )
        eventually(lambda o=each: version_of(servers, o.order_uid))
    return order


def version_of(servers: Servers, order_uid: str) -> int | None:
    rows = query(
        servers.admin_database_url, "SELECT version FROM orders WHERE order_uid = %s", (order_uid,)
    )
    return rows[0][0] if rows else None


def metric(replica: ServiceProcess, name: str) -> float:
    text = httpx.get(f"{replica.base_url}/metrics", timeout=10).text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1))  # type: ignore[union-attr]


def reads(replica: ServiceProcess, result: str) -> float:
    return metric(replica, f'query_order_reads_total{{result="{result}"}}')


def blocked_miss_reads(servers: Servers) -> int:
    return query(servers.admin_database_url, _BLOCKED_MISS_READS, (_MISS_READ,))[0][0]


def test_many_concurrent_misses_for_one_id_make_one_database_query(
    servers: Servers, lean_replica: ServiceProcess
) -> None:
    order = stored(servers, 7101)
    url = f"{lean_replica.base_url}/api/v1/orders/{order.order_uid}"
    before = reads(lean_replica, "found")

    with psycopg.connect(servers.admin_database_url) as blocker, ThreadPoolExecutor(60) as pool:
        # The miss-fill's query waits behind this lock, so every request arrives meanwhile.
        blocker.execute("LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE")
        answers = [pool.submit(httpx.get, url, timeout=30) for _ in range(60)]
        eventually(lambda: blocked_miss_reads(servers) >= 1)
        time.sleep(0.5)
        assert blocked_miss_reads(servers) == 1
        blocker.rollback()
        responses = [answer.result() for answer in answers]

    assert {response.status_code for response in responses} == {200}
    assert {response.content for response in responses} == {encode_order(order)}
    assert reads(lean_replica, "found") - before == 1


def test_a_late_miss_fill_does_not_overwrite_a_newer_version(
    servers: Servers, lean_replica: ServiceProcess
) -> None:
    order = stored(servers, 7201)
    uid = order.order_uid
    version = version_of(servers, uid)
    assert version is not None
    newer = msgspec.structs.replace(order, customer_id="changed-meanwhile")
    url = f"{lean_replica.base_url}/api/v1/orders/{uid}"
    announcer = redis.Redis.from_url(servers.redis_url)

    with psycopg.connect(servers.admin_database_url) as writer, ThreadPoolExecutor(1) as pool:
        writer.execute("LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE")
        # The miss-fill takes its snapshot (version 1), then waits behind the lock.
        slow = pool.submit(httpx.get, url, timeout=30)
        eventually(lambda: blocked_miss_reads(servers) == 1)

        # Version 2 commits and is announced while the fill still waits.
        (seq,) = writer.execute("SELECT last_seq + 1 FROM change_counter FOR UPDATE").fetchone()  # type: ignore[misc]
        writer.execute(
            "UPDATE orders SET customer_id = %s, version = %s, change_seq = %s"
            " WHERE order_uid = %s",
            (newer.customer_id, version + 1, seq, uid),
        )
        writer.execute("UPDATE change_counter SET last_seq = %s", (seq,))
        announcement = ChangeAnnouncement(
            uid, version + 1, seq, order=msgspec.Raw(encode_order(newer))
        )
        announcer.publish(CHANGES_CHANNEL, encode_announcement(announcement))
        # (A request now would join the waiting fill; the replica's sequence tells instead.)
        eventually(lambda: metric(lean_replica, "query_last_change_seq") >= seq)
        assert httpx.get(url, timeout=5).headers["etag"] == f'"{version + 1}"'  # a hit
        writer.commit()  # releases the lock: the fill lands now, with version 1

        late = slow.result()
    announcer.close()

    assert late.status_code == 200
    assert late.headers["etag"] == f'"{version + 1}"'  # it answers with what the store holds
    for _ in range(5):
        response = httpx.get(url, timeout=5)
        assert response.headers["etag"] == f'"{version + 1}"'
        assert response.content == encode_order(newer)


def test_not_found_is_remembered_until_the_order_is_announced(
    servers: Servers, lean_replica: ServiceProcess
) -> None:
    order = generate_order(random.Random(7301))
    url = f"{lean_replica.base_url}/api/v1/orders/{order.order_uid}"
    before = reads(lean_replica, "not_found")

    assert httpx.get(url, timeout=5).status_code == 404
    assert httpx.get(url, timeout=5).status_code == 404
    assert reads(lean_replica, "not_found") - before == 1

    publish(
        servers.kafka_bootstrap, ORDERS, [Message(order.order_uid.encode(), encode_order(order))]
    )
    # The remembered 404 would last ten minutes; the announcement ends it.
    response = eventually(lambda: (r := httpx.get(url, timeout=5)).is_success and r, timeout=20)
    assert response.content == encode_order(order)
