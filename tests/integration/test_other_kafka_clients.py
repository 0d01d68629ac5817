"""Orders and events from a Kafka client that is not aiokafka: librdkafka, the C library
behind most producers in other languages, publishing batches in every compression codec
and in committed and aborted transactions. Every committed record is taken (an order is
served byte for byte), no record of an aborted transaction ever is."""

from __future__ import annotations

import random
import uuid

import httpx

from order_shared.events import OrderEvent, encode_event
from order_shared.model import Order, encode_order
from order_shared.topics import ORDERS
from producer.generator import generate_order
from tests.courier_io import isolated_courier
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import create_topic, end_offsets
from tests.librdkafka_io import CODECS, Record, publish, publish_in_transaction
from tests.store_io import order_row

PARTITIONS_USED = 2


def test_orders_in_every_codec_are_served_and_aborted_transactions_never(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    """Failed before: the first snappy batch crash-looped the ingestor (no codec library),
    and `init_transactions` timed out on the test broker (its transaction log asked for 3
    replicas of 1 broker); an aborted order would have been stored (read uncommitted)."""
    rng = random.Random(2104)
    partitions = sorted(end_offsets(servers.kafka_bootstrap, ORDERS))[:PARTITIONS_USED]

    def records(orders: list[Order]) -> list[Record]:
        return [
            Record(o.order_uid.encode(), encode_order(o), partitions[i % len(partitions)])
            for i, o in enumerate(orders)
        ]

    committed: list[Order] = []
    aborted: list[Order] = []
    for codec in CODECS:
        plain = [generate_order(rng) for _ in range(4)]
        publish(servers.kafka_bootstrap, ORDERS, records(plain), codec=codec)
        in_commit = [generate_order(rng) for _ in range(2)]
        publish_in_transaction(
            servers.kafka_bootstrap, ORDERS, records(in_commit), codec=codec, commit=True
        )
        in_abort = [generate_order(rng) for _ in range(2)]
        publish_in_transaction(
            servers.kafka_bootstrap, ORDERS, records(in_abort), codec=codec, commit=False
        )
        committed += plain + in_commit
        aborted += in_abort
    # After the last aborted record of each partition: once served, the rest was read.
    last = [generate_order(rng) for _ in partitions]
    publish(servers.kafka_bootstrap, ORDERS, records(last), codec="zstd")
    committed += last

    for replica in query_replicas:

        def served_byte_for_byte(replica: ServiceProcess = replica) -> bool:
            with httpx.Client(base_url=replica.base_url, timeout=10) as http:
                for order in committed:
                    response = http.get(f"/api/v1/orders/{order.order_uid}")
                    assert response.status_code == 200, (order.order_uid, response.text)
                    assert response.content == encode_order(order)
            return True

        eventually(served_byte_for_byte, timeout=90, interval=1)
        for order in aborted:
            response = httpx.get(f"{replica.base_url}/api/v1/orders/{order.order_uid}")
            assert response.status_code == 404, order.order_uid
    for order in aborted:
        assert order_row(servers.admin_database_url, order.order_uid) is None


def test_the_courier_takes_events_in_every_codec_and_skips_aborted_transactions(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    topic = f"order-events-{uuid.uuid4().hex[:8]}"
    create_topic(servers.kafka_bootstrap, topic, partitions=1)
    created_at = generate_order(random.Random(2105)).date_created

    def events(count: int) -> list[Record]:
        ids = [f"codec-{uuid.uuid4().hex[:12]}" for _ in range(count)]
        return [
            Record(i.encode(), encode_event(OrderEvent(i, "created", created_at, 1)), 0)
            for i in ids
        ]

    with isolated_courier(servers, query_replicas[0], topic=topic) as courier:
        committed: list[Record] = []
        aborted: list[Record] = []
        for codec in CODECS:
            plain, in_commit, in_abort = events(3), events(2), events(2)
            publish(servers.kafka_bootstrap, topic, plain, codec=codec)
            publish_in_transaction(
                servers.kafka_bootstrap, topic, in_commit, codec=codec, commit=True
            )
            publish_in_transaction(
                servers.kafka_bootstrap, topic, in_abort, codec=codec, commit=False
            )
            committed += plain + in_commit
            aborted += in_abort
        last = events(1)
        publish(servers.kafka_bootstrap, topic, last, codec="none")
        committed += last

        def assignment(record: Record) -> int:
            url = f"{courier.service.base_url}/api/v1/assignments/{record.key.decode()}"
            return httpx.get(url, timeout=10).status_code

        def every_committed_event_seen() -> bool:
            return [assignment(record) for record in committed] == [200] * len(committed)

        eventually(every_committed_event_seen, timeout=60, interval=1)
        assert [assignment(record) for record in aborted] == [404] * len(aborted)
