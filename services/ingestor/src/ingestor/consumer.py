"""The Kafka consumer loop: fetch a batch, validate it, dead-letter the rejects, write the
rest in one transaction, commit the offsets, announce the changes.

Offsets are committed only after the dead-letter sends are acknowledged and the database
transaction has committed, so a crash anywhere before that replays the batch, and the
replay is harmless because unchanged content and repeated statuses are no-ops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import ConsumerRecord
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanLimits
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from ingestor import metrics
from ingestor.announcer import ChangeAnnouncer
from ingestor.batch_writer import OrderChange, WriteResult, write_batch
from ingestor.dead_letters import DeadLetterPublisher
from ingestor.outbox import OutboxRelay
from ingestor.validation import AcceptedOrder, AcceptedStatus, Rejection, validate_record
from order_shared.telemetry import context_from_headers

log = logging.getLogger(__name__)
tracer = trace.get_tracer("ingestor")

Batch = Mapping[TopicPartition, Sequence[ConsumerRecord]]

# Errors that go away by themselves: the server restarts, a connection drops, the pool is
# exhausted, two writers collide. Any other database error is about the data: waiting
# would stall the partition for ever, so the batch is split to find the message at fault.
TRANSIENT_DATABASE_ERRORS = (
    psycopg.OperationalError,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    PoolTimeout,
)


@dataclass(slots=True)
class _ValidatedBatch:
    orders: list[AcceptedOrder] = field(default_factory=list)
    statuses: list[AcceptedStatus] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


# Validation yields to the event loop this often, about a third of a millisecond of work,
# so that a reply to the write in flight waits no longer than that.
_YIELD_EVERY_RECORDS = 16
# A span keeps this many links and drops the rest: reading more trace headers is waste.
_MAX_LINKS = SpanLimits().max_links or 128


class StopRequested(Exception):
    """The service is stopping while a batch waits for the database."""


class OrderIngestor:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        pool: AsyncConnectionPool,
        dead_letters: DeadLetterPublisher,
        announcer: ChangeAnnouncer,
        relay: OutboxRelay,
        *,
        batch_max_records: int,
        batch_wait_ms: int,
        max_message_bytes: int,
        failpoint_pause_before_offset_commit: float = 0.0,
    ) -> None:
        self._consumer = consumer
        self._pool = pool
        self._dead_letters = dead_letters
        self._announcer = announcer
        self._relay = relay
        self._batch_max_records = batch_max_records
        self._batch_wait_ms = batch_wait_ms
        self._max_message_bytes = max_message_bytes
        self._failpoint_pause = failpoint_pause_before_offset_commit
        self._stop = asyncio.Event()
        self._acknowledging: asyncio.Task[None] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is finished or abandoned uncommitted.

        Batches go through in a pipeline: while one is written, which mostly waits on
        PostgreSQL, the next is fetched and validated, and the one before has its offsets
        committed and its changes announced. Each of these happens in batch order.
        """
        self._stop = stop
        writing: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                batch = await self._consumer.getmany(
                    timeout_ms=self._batch_wait_ms, max_records=self._batch_max_records
                )
                if writing is not None and writing.done():
                    await writing  # raises what the write raised
                    writing = None
                if batch:
                    validated = await self._validate(batch)
                    if writing is not None:
                        # The next write starts only once this one is committed.
                        await writing
                    writing = asyncio.create_task(self._store(batch, validated))
            if writing is not None:
                await writing
        except StopRequested:
            log.info("stopping with a batch unwritten: it is replayed on restart")
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopRequested):
                    await writing
            # What was written has its offsets committed and is announced before the exit.
            await self._acknowledged()

    async def _validate(self, batch: Batch) -> _ValidatedBatch:
        validated = _ValidatedBatch()
        for partition_records in batch.values():
            for index, record in enumerate(partition_records, start=1):
                if index % _YIELD_EVERY_RECORDS == 0:
                    # Let the write in flight take its database replies as they come.
                    await asyncio.sleep(0)
                outcome = validate_record(record, self._max_message_bytes)
                if isinstance(outcome, AcceptedOrder):
                    validated.orders.append(outcome)
                elif isinstance(outcome, AcceptedStatus):
                    validated.statuses.append(outcome)
                else:
                    validated.rejected.append(outcome)
        return validated

    async def _store(self, batch: Batch, validated: _ValidatedBatch) -> None:
        """Dead-letter the rejects and write the rest; the offset commit and the
        announcement follow while the next batch is written."""
        records = [record for partition_records in batch.values() for record in partition_records]
        with (
            tracer.start_as_current_span(
                "orders process", kind=trace.SpanKind.CONSUMER, links=_trace_links(records)
            ) as span,
            metrics.BATCH_SECONDS.time(),
        ):
            span.set_attribute("messaging.batch.message_count", len(records))
            await self._dead_letter(validated.rejected)
            result = await self._write(validated.orders, validated.statuses)
            await self._dead_letter(result.rejections)
            metrics.ORDERS_WRITTEN.inc(len(result.changes))
            metrics.ORDERS_UNCHANGED.inc(result.unchanged)
            metrics.ORDERS_STALE.inc(result.stale)
            # One batch acknowledged at a time keeps offset commits and announcements in
            # batch order. The rows are committed: a crash before the offsets only replays.
            await self._acknowledged()
            self._acknowledging = asyncio.create_task(self._acknowledge(batch, result.changes))

    async def _acknowledge(self, batch: Batch, changes: Sequence[OrderChange]) -> None:
        """Commit the offsets of a written batch, then announce its changes."""
        if self._failpoint_pause:
            await asyncio.sleep(self._failpoint_pause)
        await self._commit(batch)
        if changes:
            self._relay.wake()
            if not await self._announcer.announce(changes):
                metrics.ANNOUNCE_FAILURES.inc()

    async def _acknowledged(self) -> None:
        if self._acknowledging is not None:
            await self._acknowledging
            self._acknowledging = None

    async def _dead_letter(self, rejections: Sequence[Rejection]) -> None:
        """Publish the rejections, waiting out a broker that is away: the offsets behind
        them must not be committed before the dead-letter topic has them."""
        if not rejections:
            return
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(KafkaError),
            wait=wait_exponential_jitter(initial=0.5, max=10),
            sleep=self._wait_with_partitions_paused,
            before_sleep=_log_retry,
            reraise=True,
        ):
            with attempt:
                await self._dead_letters.publish(rejections)
        self._resume_paused()
        for rejection in rejections:
            metrics.MESSAGES_REJECTED.labels(rejection.error_class).inc()
            record = rejection.record
            log.info(
                "rejected %s[%d]@%d: %s: %s",
                record.topic,
                record.partition,
                record.offset,
                rejection.error_class,
                rejection.reason,
            )

    async def _write(
        self, orders: Sequence[AcceptedOrder], statuses: Sequence[AcceptedStatus]
    ) -> WriteResult:
        try:
            return await self._write_retrying(orders, statuses)
        except psycopg.Error as error:
            log.warning(
                "the database refused the batch (%s); writing it one message at a time", error
            )
        return await self._write_one_by_one(orders, statuses)

    async def _write_one_by_one(
        self, orders: Sequence[AcceptedOrder], statuses: Sequence[AcceptedStatus]
    ) -> WriteResult:
        """Isolate the message the database refuses; the others are written as usual."""
        changes, rejections, unchanged, stale = [], [], 0, 0
        singles = [([order], []) for order in orders] + [([], [status]) for status in statuses]
        for single_orders, single_statuses in singles:
            try:
                result = await self._write_retrying(single_orders, single_statuses)
            except psycopg.Error as error:
                (accepted,) = [*single_orders, *single_statuses]
                reason = f"PostgreSQL refused it: {type(error).__name__}: {error}"
                rejections.append(Rejection(accepted.record, "DatabaseRejected", reason))
                continue
            changes.extend(result.changes)
            rejections.extend(result.rejections)
            unchanged += result.unchanged
            stale += result.stale
        return WriteResult(changes, rejections, unchanged, stale)

    async def _write_retrying(
        self, orders: Sequence[AcceptedOrder], statuses: Sequence[AcceptedStatus]
    ) -> WriteResult:
        """Write, waiting out transient database errors with paused partitions."""
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
                    result = await write_batch(self._pool, orders, statuses)
        finally:
            self._resume_paused()
        return result

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
        if len(offsets) < len(batch):
            log.info("not committing partitions revoked during the batch: their new owner replays")
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as error:
            # The group rebalanced under us: the new owner replays these records, and the
            # replay changes nothing because the rows are already committed.
            log.warning("offset commit refused after a rebalance: %s", error)


def _trace_links(records: Sequence[ConsumerRecord]) -> list[trace.Link]:
    """Links to the traces of the batch's messages, as many as a span keeps."""
    links: list[trace.Link] = []
    for record in records:
        if len(links) == _MAX_LINKS:
            break
        context = trace.get_current_span(context_from_headers(record.headers)).get_span_context()
        if context.is_valid:
            links.append(trace.Link(context))
    return links


def _log_retry(retry_state: RetryCallState) -> None:
    metrics.WRITE_RETRIES.inc()
    error = retry_state.outcome.exception() if retry_state.outcome else None
    log.warning("%s; partitions paused, retrying", error)
