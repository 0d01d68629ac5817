"""The courier service's consumer lag moves with what it describes: events not yet settled
and committed."""

from __future__ import annotations

import re

import httpx

from tests.courier_io import isolated_courier, orders_created_in_order, publish_orders
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import end_offsets


def lag_by_partition(base_url: str, topic: str) -> dict[int, float]:
    """courier_consumer_lag of each partition of `topic` the service reports."""
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    lags = {}
    for labels, value in re.findall(r"^courier_consumer_lag\{([^}]*)\} (\S+)$", text, re.MULTILINE):
        named = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if named["topic"] == topic:
            lags[int(named["partition"])] = float(value)
    return lags


def test_consumer_lag_rises_while_events_are_held_back_and_returns_to_zero(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    # Each reconciled batch waits this long before its offset commit: the events are
    # fetched and handled at once, but not settled for Kafka.
    with isolated_courier(
        servers, query_replicas[0], FAILPOINT_PAUSE_BEFORE_OFFSET_COMMIT="8"
    ) as courier:
        url, topic = courier.service.base_url, courier.topic
        partitions = set(end_offsets(servers.kafka_bootstrap, topic))

        def lag() -> dict[int, float]:
            return lag_by_partition(url, topic)

        # Every partition the consumer holds is reported, each at 0 to begin with.
        eventually(lambda: set(lag()) == partitions and not any(lag().values()), timeout=60)

        publish_orders(servers, orders_created_in_order(9541, 6))

        assert eventually(lambda: sum(lag().values()), timeout=30) > 0
        # Every batch in turn is committed: nothing is left behind.
        eventually(lambda: set(lag()) == partitions and not any(lag().values()), timeout=120)
