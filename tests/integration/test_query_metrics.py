"""The query replicas' and the courier's metrics an operator watches move with what they
describe: freshness from the ingestor's commit to each replica's apply, cache hits and
misses (the hot path's included), catch-ups by cause, and request durations by route
template, method and status class."""

from __future__ import annotations

import httpx
import redis

from order_shared.announcements import ChangeAnnouncement, encode_announcement
from order_shared.topics import CHANGES_CHANNEL, ORDERS
from tests.courier_io import isolated_courier
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import publish
from tests.metrics_io import metric_total, metric_value
from tests.sample_orders import order_messages, sample_orders

FRESHNESS = "query_announcement_freshness_seconds"
DURATIONS = "query_http_request_duration_seconds_count"
ORDER_ROUTE = "/api/v1/orders/{order_uid}"


def served(replica: ServiceProcess, order_uid: str) -> bool:
    return httpx.get(f"{replica.base_url}/api/v1/orders/{order_uid}", timeout=5).status_code == 200


def test_every_replica_counts_how_fresh_each_announcement_was(
    servers: Servers, ingestor: ServiceProcess, query_replicas: list[ServiceProcess]
) -> None:
    orders = sample_orders(9602, 5)
    counted = [metric_total(replica, f"{FRESHNESS}_count") for replica in query_replicas]
    summed = [metric_total(replica, f"{FRESHNESS}_sum") for replica in query_replicas]

    publish(servers.kafka_bootstrap, ORDERS, order_messages(orders))

    for replica, count_before, sum_before in zip(query_replicas, counted, summed, strict=True):
        eventually(
            lambda replica=replica, count_before=count_before: (
                metric_total(replica, f"{FRESHNESS}_count") >= count_before + len(orders)
            ),
            timeout=60,
        )
        # Seconds since a commit that happened during this test: positive and short.
        added = metric_total(replica, f"{FRESHNESS}_sum") - sum_before
        assert 0 < added < 60 * len(orders)
        assert metric_value(replica, f"{FRESHNESS}_bucket", le="+Inf") == metric_total(
            replica, f"{FRESHNESS}_count"
        )


def test_hits_and_misses_count_every_order_request(
    servers: Servers, ingestor: ServiceProcess, query_replicas: list[ServiceProcess]
) -> None:
    (order,) = sample_orders(9603, 1)
    publish(servers.kafka_bootstrap, ORDERS, order_messages([order]))
    replica = query_replicas[0]
    eventually(lambda: served(replica, order.order_uid), timeout=60)
    hits = metric_total(replica, "query_cache_hits_total")
    misses = metric_total(replica, "query_cache_misses_total")

    base = f"{replica.base_url}/api/v1/orders"
    assert httpx.get(f"{base}/{order.order_uid}", timeout=5).status_code == 200  # hot path
    assert httpx.get(f"{base}/{order.order_uid}/status", timeout=5).status_code == 200
    for _ in range(3):
        assert httpx.get(f"{base}/no-such-order-9603", timeout=5).status_code == 404

    assert metric_total(replica, "query_cache_hits_total") == hits + 2
    assert metric_total(replica, "query_cache_misses_total") == misses + 3


def test_a_hole_in_the_change_sequence_is_a_catch_up_caused_by_it(
    servers: Servers, ingestor: ServiceProcess, query_replicas: list[ServiceProcess]
) -> None:
    replica = query_replicas[1]
    gaps = metric_value(replica, "query_catch_ups_total", cause="sequence_gap")
    timed = metric_value(replica, "query_catch_ups_total", cause="interval")
    assert metric_value(replica, "query_catch_ups_total", cause="subscribed") >= 1
    assert metric_value(replica, "query_relists_total", cause="start") == 1
    last_seq = httpx.get(f"{replica.base_url}/readyz", timeout=5).json()["last_change_seq"]

    # As if change last_seq + 1 had been announced while the replica was not listening:
    # the next one it hears skips a number. (An invalidation of an id no order has.)
    skipped = ChangeAnnouncement("no-such-order-9604", 1, last_seq + 2)
    client = redis.Redis.from_url(servers.redis_url)
    try:
        client.publish(CHANGES_CHANNEL, encode_announcement(skipped))
    finally:
        client.close()

    eventually(
        lambda: metric_value(replica, "query_catch_ups_total", cause="sequence_gap") == gaps + 1,
        timeout=30,
    )
    # The backstop timer (every second here) goes on, counted apart.
    eventually(
        lambda: metric_value(replica, "query_catch_ups_total", cause="interval") > timed,
        timeout=30,
    )


def test_request_durations_count_each_request_by_route_method_and_status_class(
    servers: Servers, ingestor: ServiceProcess, query_replicas: list[ServiceProcess]
) -> None:
    (order,) = sample_orders(9605, 1)
    publish(servers.kafka_bootstrap, ORDERS, order_messages([order]))
    replica = query_replicas[0]
    eventually(lambda: served(replica, order.order_uid), timeout=60)

    def count(route: str, status_class: str) -> float:
        return metric_value(
            replica, DURATIONS, method="GET", route=route, status_class=status_class
        )

    hits, not_found = count(ORDER_ROUTE, "2xx"), count(ORDER_ROUTE, "4xx")
    statuses = count(f"{ORDER_ROUTE}/status", "2xx")
    base = f"{replica.base_url}/api/v1/orders"
    for _ in range(3):
        httpx.get(f"{base}/{order.order_uid}", timeout=5)  # the hot path
    httpx.get(f"{base}/{order.order_uid}/status", timeout=5)
    httpx.get(f"{base}/no-such-order-9605", timeout=5)

    assert count(ORDER_ROUTE, "2xx") == hits + 3
    assert count(f"{ORDER_ROUTE}/status", "2xx") == statuses + 1
    assert count(ORDER_ROUTE, "4xx") == not_found + 1

    with isolated_courier(servers, replica) as courier:
        courier_count = "courier_http_request_duration_seconds_count"
        route = "/api/v1/assignments/{order_id}"
        before = metric_value(courier.service, courier_count, route=route, status_class="4xx")
        for _ in range(2):
            httpx.get(f"{courier.service.base_url}/api/v1/assignments/never-seen", timeout=5)
        after = metric_value(
            courier.service, courier_count, method="GET", route=route, status_class="4xx"
        )
        assert after == before + 2
