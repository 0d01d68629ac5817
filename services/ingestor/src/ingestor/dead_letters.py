"""Dead letters: a rejected message goes to `orders.dlq` with its original key, bytes and
headers, plus headers that say why and where it came from. The caller commits the
source offset only after this returns, that is after the broker acknowledged it.

A message the dead-letter topic cannot take whole (a compressed record far over the size
limit once decompressed, or one so close to the limit that the reason headers push it
over) goes there truncated, with its original size; its source topic, partition and
offset say where the original can be read again. Retrying it whole would fail for ever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError

from ingestor.records import Rejection
from order_shared.topics import ORDERS_DLQ

log = logging.getLogger(__name__)

# Enough of the value to see what it was; the rest is in the source topic.
TRUNCATED_VALUE_BYTES = 65_536
_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError)


def dead_letter_headers(rejection: Rejection, rejected_at: datetime) -> list[tuple[str, bytes]]:
    record = rejection.record
    return [
        *(record.headers or ()),
        *_reason_headers(rejection, rejection.reason, rejected_at),
    ]


def truncated_headers(rejection: Rejection, rejected_at: datetime) -> list[tuple[str, bytes]]:
    """The reason headers alone (the original headers may be what is too large), and the
    original sizes."""
    record = rejection.record
    value_size = len(record.value or b"")
    headers_size = sum(len(key) + len(value or b"") for key, value in record.headers or ())
    reason = (
        f"{rejection.reason} (dead-lettered truncated to its first "
        f"{min(value_size, TRUNCATED_VALUE_BYTES)} of {value_size} bytes, without its "
        f"{len(record.headers or ())} headers: the original is at the source position)"
    )
    return [
        *_reason_headers(rejection, reason, rejected_at),
        ("original.key.size", str(len(record.key or b"")).encode()),
        ("original.value.size", str(value_size).encode()),
        ("original.headers.size", str(headers_size).encode()),
        ("error.truncated", b"true"),
    ]


def _reason_headers(
    rejection: Rejection, reason: str, rejected_at: datetime
) -> list[tuple[str, bytes]]:
    record = rejection.record
    return [
        ("error.class", rejection.error_class.encode()),
        ("error.message", reason.encode()),
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

    async def publish(self, rejections: Sequence[Rejection]) -> list[Rejection]:
        """Send every rejection and wait for the broker; return those it did not acknowledge
        for a reason that may pass (the broker away), to be sent again after a wait."""
        if not rejections:
            return []
        now = datetime.now(UTC)
        outcomes = await asyncio.gather(
            *(self._send(rejection, now) for rejection in rejections), return_exceptions=True
        )
        unsent = []
        for rejection, outcome in zip(rejections, outcomes, strict=True):
            if isinstance(outcome, KafkaError):
                log.warning("dead letter not acknowledged yet: %r", outcome)
                unsent.append(rejection)
            elif isinstance(outcome, BaseException):
                raise outcome
        return unsent

    async def _send(self, rejection: Rejection, now: datetime) -> None:
        record = rejection.record
        try:
            await self._send_and_wait(record.value, record.key, dead_letter_headers(rejection, now))
        except _TOO_LARGE as error:
            log.warning(
                "dead letter of %s[%d]@%d too large whole (%r): sending it truncated",
                record.topic,
                record.partition,
                record.offset,
                error,
            )
            value = None if record.value is None else record.value[:TRUNCATED_VALUE_BYTES]
            key = None if record.key is None else record.key[:TRUNCATED_VALUE_BYTES]
            await self._send_and_wait(value, key, truncated_headers(rejection, now))

    async def _send_and_wait(
        self, value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        delivery = await self._producer.send(self._topic, value=value, key=key, headers=headers)
        await delivery
