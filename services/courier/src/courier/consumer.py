"""The Kafka side: read `order-events`, have every order it names reconciled (or queued for
retry, or the record kept as rejected), then commit the offsets.

The offset of a batch is committed only once each of its records is done in PostgreSQL:
reconciled, durably in the retry queue, or kept as rejected. A crash before the commit
replays the batch, and the replay only looks at the orders again, which changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec
import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import ConsumerRecord
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import SpanLimits
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from courier import metrics, rejected_events
from courier.reconcile import Look, Reconciler
from courier.rejected_events import RejectedEvent
from order_shared.events import decode_event
from order_shared.kafka_consumers import DecodeFailures
from order_shared.model import ORDER_UID_PATTERN
from order_shared.telemetry import context_from_headers

log = logging.getLogger(__name__)
tracer = trace.get_tracer("courier")

Batch = Mapping[TopicPartition, Sequence[ConsumerRecord]]

_ORDER_ID = re.compile(ORDER_UID_PATTERN)
_MAX_LINKS = SpanLimits().max_links or 128

TRANSIENT_DATABASE_ERRORS = (
    psycopg.OperationalError,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    PoolTimeout,
)


class StopRequested(Exception):
    """The service is stopping while a batch waits for the database."""


@dataclass(slots=True)
class _Look:
    """One order to look at: the newest version its events named, and the trace of the
    last of them, which the look continues."""

    min_version: int
    record: ConsumerRecord


def order_to_look_at(record: ConsumerRecord) -> tuple[str, int] | str:
    """(order id, version) a record asks to look at, or why it names no order.

    The key is the order id, so a record whose value is damaged still names its order;
    the version comes from the value when it can be read."""
    version = 0
    value_id: str | None = None
    if record.value:
        with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
            event = decode_event(record.value)
            version, value_id = event.version, event.order_id
    key_id = None
    if record.key:
        with contextlib.suppress(UnicodeDecodeError):
            key_id = record.key.decode()
    for candidate in (key_id, value_id):
        if candidate is not None and _ORDER_ID.fullmatch(candidate):
            return candidate, version
    return "neither the key nor the value names a valid order id"


class OrderEventConsumer:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        pool: AsyncConnectionPool,
        reconciler: Reconciler,
        decode_failures: DecodeFailures,
        *,
        batch_max_records: int,
        batch_wait_ms: int,
    ) -> None:
        self._consumer = consumer
        self._pool = pool
        self._reconciler = reconciler
        self._decode_failures = decode_failures
        self._batch_max_records = batch_max_records
        self._batch_wait_ms = batch_wait_ms
        self._stop = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is finished, or left uncommitted
        if the database is away."""
        self._stop = stop
        try:
            while not stop.is_set():
                batch = await self._decode_failures.fetch(
                    self._consumer,
                    stop,
                    timeout_ms=self._batch_wait_ms,
                    max_records=self._batch_max_records,
                )
                if not batch:
                    continue
                with metrics.BATCH_SECONDS.time():
                    await self._handle(batch)
                    await self._commit(batch)
        except StopRequested:
            log.info("stopping with a batch unfinished: it is replayed on restart")

    async def _handle(self, batch: Batch) -> None:
        looks: dict[str, _Look] = {}
        rejected: list[RejectedEvent] = []
        for records in batch.values():
            for record in records:
                named = order_to_look_at(record)
                if isinstance(named, str):
                    rejected.append(
                        RejectedEvent(
                            record.topic,
                            record.partition,
                            record.offset,
                            record.key,
                            record.value,
                            named,
                        )
                    )
                    continue
                order_id, version = named
                earlier = looks.get(order_id)
                looks[order_id] = _Look(max(version, earlier.min_version if earlier else 0), record)
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TRANSIENT_DATABASE_ERRORS),
            wait=wait_exponential_jitter(initial=0.2, max=10),
            sleep=self._wait_with_partitions_paused,
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._keep_rejected(rejected)
                    await self._look_at_all(looks)
        finally:
            self._resume_paused()

    async def _keep_rejected(self, rejected: list[RejectedEvent]) -> None:
        if not rejected:
            return
        async with self._pool.connection() as connection:
            await rejected_events.keep(connection, rejected)
        for event in rejected:
            metrics.EVENTS_REJECTED.inc()
            log.info(
                "rejected %s[%d]@%d: %s", event.topic, event.partition, event.offset, event.reason
            )

    async def _look_at_all(self, looks: dict[str, _Look]) -> None:
        """Reconcile the batch's orders; a database error fails the whole batch, which is
        then tried again (looking again is harmless)."""
        with tracer.start_as_current_span(
            "order-events process", kind=trace.SpanKind.CONSUMER, links=_trace_links(looks)
        ) as span:
            span.set_attribute("messaging.batch.message_count", len(looks))
            await self._reconciler.reconcile_many(
                [
                    Look(order_id, look.min_version, _event_trace(look.record))
                    for order_id, look in looks.items()
                ]
            )

    def _resume_paused(self) -> None:
        paused = self._consumer.paused()
        if paused:
            self._consumer.resume(*paused)

    async def _wait_with_partitions_paused(self, seconds: float) -> None:
        """Sleep by polling paused partitions: the consumer stays in its group, takes nothing."""
        if self._stop.is_set():
            raise StopRequested
        assigned = self._consumer.assignment()
        if assigned:
            self._consumer.pause(*assigned)
        await self._consumer.getmany(timeout_ms=int(seconds * 1000))
        if self._stop.is_set():
            raise StopRequested

    async def _commit(self, batch: Batch) -> None:
        assigned = self._consumer.assignment()
        offsets = {
            partition: records[-1].offset + 1
            for partition, records in batch.items()
            if records and partition in assigned
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as error:
            # The new owner of the partition replays the records; looking again is harmless.
            log.warning("offset commit refused after a rebalance: %s", error)


def _event_trace(record: ConsumerRecord) -> Context | None:
    """The trace the event carries, or None (the batch's span is then the parent)."""
    context = context_from_headers(record.headers)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def _trace_links(looks: dict[str, _Look]) -> list[trace.Link]:
    """The batch's span links to the trace of each order's event, as many as a span keeps."""
    links: list[trace.Link] = []
    for look in looks.values():
        if len(links) == _MAX_LINKS:
            break
        context = trace.get_current_span(context_from_headers(look.record.headers))
        span_context = context.get_span_context()
        if span_context.is_valid:
            links.append(trace.Link(span_context))
    return links


def _log_retry(retry_state: RetryCallState) -> None:
    metrics.DATABASE_RETRIES.inc()
    error = retry_state.outcome.exception() if retry_state.outcome else None
    log.warning("%s; partitions paused, retrying the batch", error)
