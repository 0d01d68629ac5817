"""Dead letters: a rejected message goes to `orders.dlq` with its original key, bytes and
headers, plus headers that say why and where it came from. The caller commits the
source offset only after this returns, that is after the broker acknowledged it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from ingestor.validation import Rejection
from order_shared.topics import ORDERS_DLQ


def dead_letter_headers(rejection: Rejection, rejected_at: datetime) -> list[tuple[str, bytes]]:
    record = rejection.record
    return [
        *(record.headers or ()),
        ("error.class", rejection.error_class.encode()),
        ("error.message", rejection.reason.encode()),
        ("source.topic", record.topic.encode()),
        ("source.partition", str(record.partition).encode()),
        ("source.offset", str(record.offset).encode()),
        (
            "error.time",
            rejected_at.isoformat(timespec="milliseconds").replace("+00:00", "Z").encode(),
        ),
    ]


class DeadLetterPublisher:
    def __init__(self, producer: AIOKafkaProducer, topic: str = ORDERS_DLQ) -> None:
        self._producer = producer
        self._topic = topic

    async def publish(self, rejections: Sequence[Rejection]) -> None:
        """Send every rejection and wait until the broker has acknowledged all of them."""
        if not rejections:
            return
        now = datetime.now(UTC)
        deliveries = [
            await self._producer.send(
                self._topic,
                value=rejection.record.value,
                key=rejection.record.key,
                headers=dead_letter_headers(rejection, now),
            )
            for rejection in rejections
        ]
        await asyncio.gather(*deliveries)
