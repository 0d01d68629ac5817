"""Generated orders for the tests, repeatable by seed, and as Kafka messages keyed by id."""

from __future__ import annotations

import random

from order_shared.model import Order, encode_order
from producer.generator import generate_order
from tests.kafka_io import Message


def sample_orders(seed: int, count: int) -> list[Order]:
    rng = random.Random(seed)
    return [generate_order(rng) for _ in range(count)]


def order_messages(orders: list[Order]) -> list[Message]:
    return [Message(order.order_uid.encode(), encode_order(order)) for order in orders]
