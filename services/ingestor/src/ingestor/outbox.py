"""The transactional outbox: an `order_events` row is written in the same transaction as
each change, and the relay publishes unsent rows to Kafka `order-events`.

The relay keeps one position in `outbox_position`: the id of the last event the broker
acknowledged. It reads the events after it, publishes them, and moves the position in
the same transaction once the broker has them all. A crash between the two repeats
events; none is ever lost, and every event carries the order's version so consumers can
drop repeats. Ids become visible in id order (every insert takes the change counter's
lock; see the migration), so no event can appear behind the position.

Claimed rows are packed into one record batch per partition, keyed by order_uid and
partitioned as Kafka's default partitioner does, so each order's events stay in order
on one partition; this costs a fraction of a `send` per event.

Each event row keeps the trace context of the change behind it. The relay publishes a
sampled event under a span of its own, a child of that context, and puts the span's
context in the event's headers, so the courier service continues the order's trace; an
unsampled event carries the stored context as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from opentelemetry import trace
from psycopg_pool import AsyncConnectionPool

from ingestor import metrics
from order_shared.events import OrderEvent, encode_event
from order_shared.model import OrderStatus
from order_shared.telemetry import context_from_traceparent, is_sampled, traceparent_of_span
from order_shared.topics import ORDER_EVENTS

log = logging.getLogger(__name__)
tracer = trace.get_tracer("ingestor")

_COPY_NULL = "\\N"
COPY_EVENTS = "COPY order_events (order_uid, status, created_at, version, traceparent) FROM STDIN"


def event_line(
    order_uid: str, status: OrderStatus, created_at: str, version: int, traceparent: str | None
) -> str:
    """One `order_events` row in COPY's text format; `created_at` in PostgreSQL's syntax.
    Ids, statuses and traceparents hold no character COPY would need escaped."""
    return f"{order_uid}\t{status}\t{created_at}\t{version}\t{traceparent or _COPY_NULL}\n"


# One relay at a time holds the position; another ingestor's relay skips its turn.
_LOCK_POSITION = "SELECT last_sent_id FROM outbox_position FOR UPDATE SKIP LOCKED"
# A created_at that Python cannot hold (stored before validation refused such dates) is
# read as NULL: that one event is skipped with a warning instead of stopping the relay.
_UNSENT = """
SELECT id, order_uid, status,
       CASE WHEN created_at >= '0001-01-01T00:00:00Z' AND created_at < '10000-01-01T00:00:00Z'
            THEN created_at END,
       version, traceparent
  FROM order_events
 WHERE id > %s ORDER BY id LIMIT %s
"""
_ADVANCE_POSITION = "UPDATE outbox_position SET last_sent_id = %s"
_PURGE_SENT = """
DELETE FROM order_events
 WHERE id <= (SELECT last_sent_id FROM outbox_position)
   AND recorded_at < now() - make_interval(secs => %s)
"""

_RETRY_SECONDS = 1.0
_partition_of = DefaultPartitioner()
_YIELD_EVERY_EVENTS = 128


class OutboxRelay:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 2000,
        poll_seconds: float = 1.0,
        retention_seconds: float = 86_400.0,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._retention_seconds = retention_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Called after a batch committed: there are probably rows to send."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        rounds = 0
        while not stop.is_set():
            try:
                sent = await self.relay_once()
                rounds += 1
                if rounds % 600 == 0:
                    await self._purge_sent()
            except Exception as error:
                log.warning("outbox relay failed, retrying: %s", error)
                sent = 0
                await asyncio.sleep(_RETRY_SECONDS)
            if sent < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
                self._wake.clear()

    async def relay_once(self) -> int:
        """Publish up to one batch of unsent events; return how many were sent."""
        async with self._pool.connection() as connection, connection.transaction():
            position = await (await connection.execute(_LOCK_POSITION)).fetchone()
            if position is None:
                return 0  # another ingestor's relay is at work
            cursor = await connection.execute(_UNSENT, (position[0], self._batch_size))
            rows = await cursor.fetchall()
            if not rows:
                return 0
            spans: list[trace.Span] = []
            events = [
                (
                    order_uid.encode(),
                    encode_event(OrderEvent(order_uid, status, created_at, version)),
                    _trace_headers(traceparent, spans),
                )
                for event_id, order_uid, status, created_at, version, traceparent in rows
                if created_at is not None or _unpublishable(event_id, order_uid)
            ]
            try:
                await self._publish(events)
            finally:
                for span in spans:
                    span.end()
            await connection.execute(_ADVANCE_POSITION, (rows[-1][0],))
        metrics.EVENTS_PUBLISHED.inc(len(events))
        return len(rows)

    async def _publish(self, events: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]) -> None:
        """Publish (key, value, headers) events and wait until the broker has acknowledged
        each."""
        partitions = sorted(await self._producer.partitions_for(ORDER_EVENTS))
        filling: dict[int, BatchBuilder] = {}
        deliveries = []
        for index, (key, value, headers) in enumerate(events, start=1):
            if index % _YIELD_EVERY_EVENTS == 0:
                await asyncio.sleep(0)  # the ingestor's write waits on this event loop too
            partition = _partition_of(key, partitions, partitions)
            batch = filling.get(partition)
            if batch is not None and batch.append(
                key=key, value=value, timestamp=None, headers=headers
            ):
                continue
            if batch is not None:  # full: send it and start the next
                deliveries.append(await self._send(batch, partition))
            batch = filling[partition] = self._producer.create_batch()
            # A batch always takes its first record.
            batch.append(key=key, value=value, timestamp=None, headers=headers)
        for partition, batch in filling.items():
            deliveries.append(await self._send(batch, partition))
        await asyncio.gather(*deliveries)

    async def _send(self, batch: BatchBuilder, partition: int) -> asyncio.Future:
        return await self._producer.send_batch(batch, ORDER_EVENTS, partition=partition)

    async def _purge_sent(self) -> None:
        async with self._pool.connection() as connection:
            await connection.execute(_PURGE_SENT, (self._retention_seconds,))


def _trace_headers(traceparent: str | None, spans: list[trace.Span]) -> list[tuple[str, bytes]]:
    """The event's `traceparent` header: a new publish span's context when the stored one
    is sampled (the span is added to `spans`, to end once the broker has the event)."""
    if traceparent is None:
        return []
    if is_sampled(traceparent):
        span = tracer.start_span(
            f"{ORDER_EVENTS} publish",
            context=context_from_traceparent(traceparent),
            kind=trace.SpanKind.PRODUCER,
            attributes={"messaging.system": "kafka", "messaging.destination.name": ORDER_EVENTS},
        )
        spans.append(span)
        traceparent = traceparent_of_span(span) or traceparent
    return [("traceparent", traceparent.encode())]


def _unpublishable(event_id: int, order_uid: str) -> bool:
    """Count and log an event whose date has no UTC form; always False (it is skipped)."""
    metrics.EVENTS_UNPUBLISHABLE.inc()
    log.warning(
        "outbox event %d of order %s skipped: its created_at is outside years 1 to 9999",
        event_id,
        order_uid,
        extra={"order_id": order_uid},
    )
    return False
