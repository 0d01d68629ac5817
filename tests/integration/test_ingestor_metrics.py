"""The ingestor's metrics an operator watches move with what they describe: consumer lag,
the age of the oldest unsent outbox event, dead letters by reason, and HTTP timings."""

from __future__ import annotations

import random
import re

import httpx
import psycopg

from order_shared.model import Order, encode_order
from order_shared.topics import ORDERS
from producer.generator import generate_order
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import Message, publish
from tests.metrics_io import metric_total, metric_value
from tests.store_io import events_of, order_row


def orders(seed: int, count: int) -> list[Order]:
    rng = random.Random(seed)
    return [generate_order(rng) for _ in range(count)]


def messages(batch: list[Order]) -> list[Message]:
    return [Message(order.order_uid.encode(), encode_order(order)) for order in batch]


def lag(ingestor: ServiceProcess) -> float:
    return metric_total(ingestor, "ingestor_consumer_lag")


def outbox_age(ingestor: ServiceProcess) -> float:
    return metric_total(ingestor, "ingestor_outbox_oldest_unsent_seconds")


def test_consumer_lag_rises_while_commits_are_held_and_falls_after(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    # Each written batch waits this long before its offset commit: the records are
    # fetched at once, but not durably consumed.
    ingestor.restart(FAILPOINT_PAUSE_BEFORE_OFFSET_COMMIT="8")
    ingestor.wait_ready()
    try:
        eventually(lambda: lag(ingestor) == 0, timeout=60)
        batch = orders(7101, 30)
        publish(servers.kafka_bootstrap, ORDERS, messages(batch))

        assert eventually(lambda: lag(ingestor), timeout=30) > 0
        # Every batch in turn is committed: nothing is left behind.
        eventually(lambda: lag(ingestor) == 0, timeout=180, interval=1.0)
    finally:
        ingestor.restart(FAILPOINT_PAUSE_BEFORE_OFFSET_COMMIT="0")
        ingestor.wait_ready()


def test_outbox_age_rises_while_kafka_is_away_and_returns_to_zero(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    (order,) = orders(7102, 1)
    eventually(lambda: outbox_age(ingestor) == 0, timeout=60)
    # Hold the relay's position (it skips a locked one) until Kafka is gone, so the
    # order's event is certainly unsent when the broker stops.
    with psycopg.connect(servers.admin_database_url) as holder:
        holder.execute("SELECT last_sent_id FROM outbox_position FOR UPDATE")
        publish(servers.kafka_bootstrap, ORDERS, messages([order]))
        eventually(lambda: order_row(servers.admin_database_url, order.order_uid), timeout=30)
        servers.stop("kafka")
    try:
        first = eventually(lambda: outbox_age(ingestor), timeout=30)
        later = eventually(lambda: outbox_age(ingestor) > first + 3 and outbox_age(ingestor))
        assert later > first
    finally:
        servers.start("kafka")

    eventually(lambda: outbox_age(ingestor) == 0, timeout=120, interval=1.0)
    assert [
        published for _, _, published in events_of(servers.admin_database_url, order.order_uid)
    ] == [True]


def test_http_request_durations_are_kept_by_route_and_status(ingestor: ServiceProcess) -> None:
    def count(path: str, status: int) -> float:
        text = httpx.get(f"{ingestor.base_url}/metrics", timeout=5).text
        pattern = re.compile(
            r"^ingestor_http_request_duration_seconds_count\{[^}]*"
            rf'path="{re.escape(path)}"[^}}]*status_code="{status}"[^}}]*\}} (\S+)$',
            re.MULTILINE,
        )
        return sum(float(value) for value in pattern.findall(text))

    before = count("/readyz", 200)
    for _ in range(3):
        assert httpx.get(f"{ingestor.base_url}/readyz", timeout=5).status_code == 200
    assert count("/readyz", 200) == before + 3
    assert count("/metrics", 200) >= 1


def test_consumer_stage_seconds_grow_with_each_batch(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    def spent(stage: str) -> float:
        return metric_value(ingestor, "ingestor_consumer_stage_seconds_total", stage=stage)

    stages = ("prepare", "handle", "commit", "acknowledge")
    before = {stage: spent(stage) for stage in stages}
    batch = orders(7103, 5)
    publish(servers.kafka_bootstrap, ORDERS, messages(batch))
    last = batch[-1].order_uid
    eventually(lambda: order_row(servers.admin_database_url, last), timeout=30)

    # The batch is acknowledged after its write; the metric follows at once.
    eventually(lambda: spent("acknowledge") > before["acknowledge"], timeout=30)
    assert all(spent(stage) > before[stage] for stage in stages)
