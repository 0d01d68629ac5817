"""A stored order the replica cannot decode must not stop it serving the others.

A valid RFC 3339 date with an offset can land outside years 1-9999 once normalised to UTC
(`9999-12-31T23:00:00-05:00` is 10000-01-01 04:00 UTC): PostgreSQL stores it, Python's
datetime cannot hold it. Such rows are written here straight into PostgreSQL, as an
ingestor that accepted them would have, with no announcement: every replica has to find
them by listing or catching up, skip them (a log line, a counter) and serve the rest.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

import httpx
import msgspec
import pytest
import redis

from order_shared.announcements import ChangeAnnouncement, encode_announcement
from order_shared.model import Order, encode_order
from order_shared.topics import CHANGES_CHANNEL, ORDERS
from producer.generator import generate_order
from tests.harness import Servers, ServiceProcess, eventually, start_query
from tests.kafka_io import Message, publish
from tests.store_io import OUT_OF_RANGE, copy_order, query


def get(replica: ServiceProcess, path: str) -> httpx.Response:
    return httpx.get(f"{replica.base_url}{path}", timeout=10)


def unreadable_count(replica: ServiceProcess) -> float:
    text = get(replica, "/metrics").text
    found = re.search(r"^query_unreadable_orders_total (\S+)$", text, re.M)
    assert found, "query_unreadable_orders_total is not exported"
    return float(found.group(1))


@pytest.fixture(scope="module")
def template(servers: Servers, query_replicas: list[ServiceProcess]) -> Order:
    """An order stored by the ingestor, to copy rows from."""
    order = generate_order(random.Random(9901))
    publish(
        servers.kafka_bootstrap, ORDERS, [Message(order.order_uid.encode(), encode_order(order))]
    )
    eventually(
        lambda: query(
            servers.admin_database_url,
            "SELECT 1 FROM orders WHERE order_uid = %s",
            (order.order_uid,),
        )
    )
    return order


@pytest.fixture(scope="module")
def unreadable(servers: Servers, template: Order) -> Iterator[str]:
    """An unreadable order followed by a readable one, neither announced."""
    uid = "unreadable-date-1"
    copy_order(servers, template.order_uid, uid, OUT_OF_RANGE)
    yield uid


def test_running_replicas_catch_up_past_an_unreadable_order(
    servers: Servers, query_replicas: list[ServiceProcess], template: Order, unreadable: str
) -> None:
    seq = copy_order(
        servers, template.order_uid, "readable-after-unreadable", "2026-11-30T10:00:00Z"
    )
    for replica in query_replicas:
        response = eventually(
            lambda r=replica: (
                (found := get(r, "/api/v1/orders/readable-after-unreadable")).is_success and found
            ),
            timeout=30,
        )
        assert msgspec.json.decode(response.content)["date_created"] == "2026-11-30T10:00:00Z"
        eventually(lambda r=replica: get(r, "/readyz").json()["last_change_seq"] >= seq)
    for replica in query_replicas:
        # Both replicas were running before the unreadable order was stored (the counter
        # starts at 0): the catch-up that found it skipped it, and said so.
        assert unreadable_count(replica) >= 1


def test_a_new_replica_lists_every_readable_order_and_becomes_ready(
    servers: Servers, template: Order, unreadable: str
) -> None:
    replica = start_query(servers, "query-unreadable-list")  # waits for /readyz: 200
    try:
        assert get(replica, f"/api/v1/orders/{template.order_uid}").content == encode_order(
            template
        )
        assert unreadable_count(replica) >= 1
        log = replica.log_path.read_text()
        assert unreadable in log, "the log names the order it skipped"
    finally:
        replica.stop()


def test_reading_the_unreadable_order_is_a_clear_4xx(
    query_replicas: list[ServiceProcess], unreadable: str
) -> None:
    for path in (f"/api/v1/orders/{unreadable}", f"/api/v1/orders/{unreadable}/status"):
        response = get(query_replicas[0], path)
        assert response.status_code == 422, (path, response.text)
        assert response.json() == {
            "status_code": 422,
            "detail": f"order {unreadable} is stored but cannot be read: "
            "its date_created is outside years 1-9999 in UTC",
        }


def test_the_list_skips_the_unreadable_order(
    query_replicas: list[ServiceProcess], template: Order, unreadable: str
) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "100"} | ({"cursor": cursor} if cursor else {})
        response = httpx.get(
            f"{query_replicas[0].base_url}/api/v1/orders", params=params, timeout=10
        )
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [summary["order_uid"] for summary in page["orders"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert template.order_uid in seen
    assert unreadable not in seen


def test_the_status_of_an_announced_order_dated_out_of_range_in_utc(
    servers: Servers, query_replicas: list[ServiceProcess], template: Order
) -> None:
    """An announcement carries the document as ingested; its date, fine with its own
    offset, overflows once converted to UTC. The status answers with that offset."""
    document = msgspec.json.decode(encode_order(template))
    document["order_uid"] = uid = "announced-out-of-range"
    document["date_created"] = OUT_OF_RANGE
    body = msgspec.json.encode(document)
    # Already reached by the database: no gap to catch up on, nothing to invalidate it.
    ((seq,),) = query(servers.admin_database_url, "SELECT last_seq FROM change_counter")
    announcement = ChangeAnnouncement(uid, 1, seq, "created", msgspec.Raw(body))
    client = redis.Redis.from_url(servers.redis_url)
    try:
        client.publish(CHANGES_CHANNEL, encode_announcement(announcement))
    finally:
        client.close()
    replica = query_replicas[0]
    eventually(lambda: get(replica, f"/api/v1/orders/{uid}").content == body)
    status = get(replica, f"/api/v1/orders/{uid}/status")
    assert status.status_code == 200, status.text
    assert status.json() == {"order_id": uid, "status": "created", "created_at": OUT_OF_RANGE}
