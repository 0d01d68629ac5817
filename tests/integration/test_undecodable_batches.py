"""A fetched batch that cannot be decoded (here: snappy, with the consumer's codec library
hidden by a failpoint) neither crashes a consumer into a restart loop nor is skipped: the
service stays up, says why it is not ready, counts it, and stores the records once it can
decode them."""

from __future__ import annotations

import random
import time
import uuid

import httpx

from order_shared.events import OrderEvent, encode_event
from order_shared.model import encode_order
from order_shared.topics import ORDERS
from producer.generator import generate_order
from tests import librdkafka_io as librdkafka
from tests.courier_io import isolated_courier
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import create_topic
from tests.metrics_io import metric_total
from tests.store_io import order_row


def not_ready_because_undecodable(service: ServiceProcess) -> dict:
    assert service.process.poll() is None, "the service exited"
    response = httpx.get(f"{service.base_url}/readyz", timeout=5)
    assert response.status_code == 503
    body = response.json()
    assert "UnsupportedCodecError" in (body["undecodable_batch"] or "")
    return body


def test_the_ingestor_holds_an_undecodable_batch_and_stores_it_once_it_can(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    """Failed before (no codec library for snappy): `UnsupportedCodecError` escaped
    `getmany()` and the ingestor exited (its /readyz refused connections); every restart
    met the same batch again."""
    order = generate_order(random.Random(2101))
    ingestor.restart(FAILPOINT_WITHOUT_CODECS="1")
    try:
        ingestor.wait_ready()
        librdkafka.publish(
            servers.kafka_bootstrap,
            ORDERS,
            [librdkafka.Record(order.order_uid.encode(), encode_order(order), 0)],
            codec="snappy",
        )

        eventually(lambda: not_ready_because_undecodable(ingestor), timeout=30)
        time.sleep(3)  # several retries later: still up, still holding the batch
        not_ready_because_undecodable(ingestor)
        assert metric_total(ingestor, "ingestor_undecodable_fetches_total") >= 2
        assert order_row(servers.admin_database_url, order.order_uid) is None
    finally:
        ingestor.restart(FAILPOINT_WITHOUT_CODECS="")
    ingestor.wait_ready()

    assert eventually(lambda: order_row(servers.admin_database_url, order.order_uid), timeout=30)


def test_the_courier_holds_an_undecodable_batch_and_handles_it_once_it_can(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    topic = f"order-events-{uuid.uuid4().hex[:8]}"
    create_topic(servers.kafka_bootstrap, topic)
    order_id = f"undecodable-{uuid.uuid4().hex[:8]}"
    event = OrderEvent(order_id, "created", generate_order(random.Random(2102)).date_created, 1)
    with isolated_courier(
        servers, query_replicas[0], topic=topic, FAILPOINT_WITHOUT_CODECS="1"
    ) as courier:
        librdkafka.publish(
            servers.kafka_bootstrap,
            topic,
            [librdkafka.Record(order_id.encode(), encode_event(event), 0)],
            codec="lz4",
        )

        eventually(lambda: not_ready_because_undecodable(courier.service), timeout=30)
        assert metric_total(courier.service, "courier_undecodable_fetches_total") >= 1

        courier.service.restart(FAILPOINT_WITHOUT_CODECS="")
        courier.service.wait_ready()

        def seen() -> bool:
            url = f"{courier.service.base_url}/api/v1/assignments/{order_id}"
            return httpx.get(url, timeout=5).status_code == 200

        eventually(seen, timeout=30)
