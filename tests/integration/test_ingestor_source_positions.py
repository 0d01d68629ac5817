"""Each announcement says which `orders` record the order's content came from: what a
command waiting to read its own write looks for."""

from __future__ import annotations

import json
import random

from order_shared.model import encode_order
from order_shared.topics import ORDER_STATUS, ORDERS
from producer.generator import generate_order
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import Message, publish, publish_and_locate
from tests.store_io import listening_to_changes


def test_an_announcement_carries_the_source_position_of_the_orders_content(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    order = generate_order(random.Random(9723))
    key = order.order_uid.encode()
    status = {
        "order_uid": order.order_uid,
        "status": "completed",
        "changed_at": "2026-11-21T10:00:00Z",
    }

    with listening_to_changes(servers.redis_url) as changes:
        position = publish_and_locate(
            servers.kafka_bootstrap, ORDERS, Message(key, encode_order(order))
        )
        (created,) = eventually(lambda: changes.of(order.order_uid))
        publish(servers.kafka_bootstrap, ORDER_STATUS, [Message(key, json.dumps(status).encode())])
        (completed,) = eventually(
            lambda: [a for a in changes.of(order.order_uid) if a.status == "completed"]
        )

    assert (created.source_partition, created.source_offset) == position
    # A status change leaves the content, and so its source, as it was.
    assert (completed.source_partition, completed.source_offset) == position
