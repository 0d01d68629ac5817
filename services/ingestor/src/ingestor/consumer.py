"""The Kafka consumer loop: fetch a batch, validate it, dead-letter the rejects, write the
rest in one transaction, commit the offsets, announce the changes.

Offsets are committed only after the dead-letter sends are acknowledged and the database
transaction has committed, so a crash anywhere before that replays the batch, and the
replay is harmless: the writer fences content by its source offset, and repeated
statuses are no-ops.

No fetched record is ever dropped without being fetched again. A rebalance gives the
partitions fresh positions at their committed offsets, so a batch fetched before it is not
written (the owner fetches it again from there), and records that a wait's poll brought
in are handed back by seeking to them. Offsets only move forward.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import psycopg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from opentelemetry import trace
from psycopg_pool import AsyncConnectionPool
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    retry_if_result,
    wait_exponential_jitter,
)

from ingestor import database_errors, metrics
from ingestor.announcer import ChangeAnnouncer
from ingestor.batch_writer import WriteResult, write_batch
from ingestor.dead_letters import DeadLetterPublisher
from ingestor.outbox import OutboxRelay
from ingestor.progress import Progress
from ingestor.record_spans import RecordSpans
from ingestor.records import (
    AcceptedErasure,
    AcceptedOrder,
    AcceptedStatus,
    OrderChange,
    OrderRecord,
    Rejection,
)
from ingestor.validation import validate_record
from order_shared.kafka_consumers import DecodeFailures
from order_shared.topics import CHANGES_CHANNEL, ORDER_STATUS, ORDERS, ORDERS_DLQ

log = logging.getLogger(__name__)

Batch = Mapping[TopicPartition, Sequence[ConsumerRecord]]


@dataclass(slots=True)
class _ValidatedBatch:
    # Orders and erasures, in partition order.
    orders: list[OrderRecord] = field(default_factory=list)
    statuses: list[AcceptedStatus] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _FetchedBatch:
    records: Batch
    # The rebalance generation it was fetched in, and its token in `Progress`.
    generation: int
    token: int
    spans: RecordSpans


# Validation yields to the event loop this often, about a third of a millisecond of work,
# so that a reply to the write in flight waits no longer than that.
_YIELD_EVERY_RECORDS = 16


class StopRequested(Exception):
    """The service is stopping while a batch waits for the database or the broker."""


class BatchRevoked(Exception):
    """A rebalance happened while the batch waited: its owner fetches it again."""


class OrderIngestor(ConsumerRebalanceListener):
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        pool: AsyncConnectionPool,
        dead_letters: DeadLetterPublisher,
        announcer: ChangeAnnouncer,
        relay: OutboxRelay,
        progress: Progress,
        decode_failures: DecodeFailures,
        *,
        batch_max_records: int,
        batch_wait_ms: int,
        max_message_bytes: int,
    ) -> None:
        self._consumer = consumer
        self._pool = pool
        self._dead_letters = dead_letters
        self._announcer = announcer
        self._relay = relay
        self._progress = progress
        self._decode_failures = decode_failures
        self._batch_max_records = batch_max_records
        self._batch_wait_ms = batch_wait_ms
        self._max_message_bytes = max_message_bytes
        self._stop = asyncio.Event()
        self._acknowledging: asyncio.Task[None] | None = None
        self._generation = 0
        self._waiting = False
        # The highest offset committed per partition since it was last assigned to us.
        self._committed: dict[TopicPartition, int] = {}

    def committed_offsets(self) -> dict[TopicPartition, int]:
        """The offsets this ingestor committed since each partition was assigned to it."""
        return dict(self._committed)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is finished or abandoned uncommitted.

        Batches go through in a pipeline: while one is written, which mostly waits on
        PostgreSQL, the next is fetched and validated, and the one before has its offsets
        committed and its changes announced. Each of these happens in batch order.
        """
        self._stop = stop
        self._consumer.subscribe([ORDERS, ORDER_STATUS], listener=self)
        writing: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                records = await self._decode_failures.fetch(
                    self._consumer,
                    stop,
                    timeout_ms=self._batch_wait_ms,
                    max_records=self._batch_max_records,
                )
                if writing is not None and writing.done():
                    await writing  # raises what the write raised
                    writing = None
                if records:
                    batch = _FetchedBatch(
                        records,
                        self._generation,
                        self._progress.fetched(records),
                        RecordSpans(r for in_partition in records.values() for r in in_partition),
                    )
                    validated = await self._validate(records)
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

    # --- rebalances ------------------------------------------------------------------

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Work fetched before now is not written; whoever owns its partitions next
        (perhaps this ingestor again) fetches it anew from the committed offsets."""
        self._generation += 1
        for partition in revoked:
            self._committed.pop(partition, None)
        if revoked:
            log.info("partitions revoked: %s", _names(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if assigned:
            log.info("partitions assigned: %s", _names(assigned))
        if self._waiting and assigned:
            # A wait in progress polls to stay in the group; it must not fetch meanwhile.
            self._consumer.pause(*assigned)

    # --- the pipeline's steps ----------------------------------------------------------

    async def _validate(self, batch: Batch) -> _ValidatedBatch:
        validated = _ValidatedBatch()
        for partition_records in batch.values():
            for index, record in enumerate(partition_records, start=1):
                if index % _YIELD_EVERY_RECORDS == 0:
                    # Let the write in flight take its database replies as they come.
                    await asyncio.sleep(0)
                outcome = validate_record(record, self._max_message_bytes)
                if isinstance(outcome, AcceptedOrder | AcceptedErasure):
                    validated.orders.append(outcome)
                elif isinstance(outcome, AcceptedStatus):
                    validated.statuses.append(outcome)
                else:
                    validated.rejected.append(outcome)
        return validated

    async def _store(self, batch: _FetchedBatch, validated: _ValidatedBatch) -> None:
        """Dead-letter the rejects and write the rest; the offset commit and the
        announcement follow while the next batch is written."""
        records = [record for in_partition in batch.records.values() for record in in_partition]
        with metrics.BATCH_SECONDS.time():
            try:
                self._check_still_owned(batch)
                await self._dead_letter(batch, validated.rejected)
                result = await self._write(batch, validated.orders, validated.statuses)
                await self._dead_letter(batch, result.rejections)
            except StopRequested:
                batch.spans.end("abandoned at a stop")
                raise
            except BatchRevoked:
                metrics.BATCHES_DROPPED.inc()
                self._progress.settled(batch.token)
                batch.spans.end("dropped after a rebalance")
                log.info(
                    "dropped %d records fetched before a rebalance: fetched again from the "
                    "committed offsets",
                    len(records),
                )
                return
            metrics.ORDERS_WRITTEN.inc(len(result.changes))
            metrics.ORDERS_ERASED.inc(sum(change.erased for change in result.changes))
            metrics.ORDERS_UNCHANGED.inc(result.unchanged)
            metrics.ORDERS_STALE.inc(result.stale)
            # One batch acknowledged at a time keeps offset commits and announcements in
            # batch order. The rows are committed: a crash before the offsets only replays.
            await self._acknowledged()
            self._acknowledging = asyncio.create_task(
                self._acknowledge(batch, validated, result.changes, result.committed_at)
            )

    async def _acknowledge(
        self,
        batch: _FetchedBatch,
        validated: _ValidatedBatch,
        changes: Sequence[OrderChange],
        committed_at: float,
    ) -> None:
        """Commit the offsets of a written batch, then announce its changes."""
        await self._commit(batch.records)
        self._progress.settled(batch.token)
        if changes:
            self._relay.wake()
            started = time.time_ns()
            announced = await self._announcer.announce(changes, committed_at)
            if not announced:
                metrics.ANNOUNCE_FAILURES.inc()
            if batch.spans.recording:
                changed = {change.order_uid for change in changes}
                batch.spans.step(
                    f"{CHANGES_CHANNEL} publish",
                    [
                        *(o.record for o in validated.orders if o.order_uid in changed),
                        *(s.record for s in validated.statuses if s.change.order_uid in changed),
                    ],
                    started,
                    trace.SpanKind.PRODUCER,
                    {"messaging.system": "redis", "ingestor.announced": str(announced).lower()},
                )
        batch.spans.end("committed")

    async def _acknowledged(self) -> None:
        if self._acknowledging is not None:
            await self._acknowledging
            self._acknowledging = None

    def _check_still_owned(self, batch: _FetchedBatch) -> None:
        if batch.generation != self._generation:
            raise BatchRevoked

    async def _dead_letter(self, batch: _FetchedBatch, rejections: Sequence[Rejection]) -> None:
        """Publish the rejections, waiting out a broker that is away: the offsets behind
        them must not be committed before the dead-letter topic has them."""
        if not rejections:
            return
        started = time.time_ns()
        unsent = list(rejections)
        async for attempt in self._waiting_retries(
            batch, retry_if_result(bool), wait_exponential_jitter(initial=0.5, max=10)
        ):
            with attempt:
                unsent = await self._dead_letters.publish(unsent)
            if not attempt.retry_state.outcome.failed:  # type: ignore[union-attr]
                attempt.retry_state.set_result(unsent)
        self._progress.waiting_on = None
        batch.spans.step(
            f"{ORDERS_DLQ} publish",
            [rejection.record for rejection in rejections],
            started,
            trace.SpanKind.PRODUCER,
            {"messaging.system": "kafka", "messaging.destination.name": ORDERS_DLQ},
        )
        for rejection in rejections:
            metrics.MESSAGES_REJECTED.labels(rejection.error_class).inc()
            record = rejection.record
            with trace.use_span(batch.spans.span(record)):
                log.info(
                    "rejected %s[%d]@%d: %s: %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    rejection.error_class,
                    rejection.reason,
                    extra={"order_id": (record.key or b"").decode("utf-8", "replace")},
                )

    async def _write(
        self,
        batch: _FetchedBatch,
        orders: Sequence[OrderRecord],
        statuses: Sequence[AcceptedStatus],
    ) -> WriteResult:
        started = time.time_ns()
        try:
            result = await self._write_retrying(batch, orders, statuses)
        except psycopg.Error as error:
            log.warning(
                "the database refused the batch's data (%s); writing it one message at a time",
                error,
            )
            result = await self._write_one_by_one(batch, orders, statuses)
        if batch.spans.recording:
            batch.spans.step(
                "orders write",
                [*(order.record for order in orders), *(status.record for status in statuses)],
                started,
                trace.SpanKind.CLIENT,
                {"db.system.name": "postgresql"},
            )
        return result

    async def _write_one_by_one(
        self,
        batch: _FetchedBatch,
        orders: Sequence[OrderRecord],
        statuses: Sequence[AcceptedStatus],
    ) -> WriteResult:
        """Isolate the message the database refuses; the others are written as usual."""
        changes, rejections, unchanged, stale, committed_at = [], [], 0, 0, 0.0
        singles = [([order], []) for order in orders] + [([], [status]) for status in statuses]
        for single_orders, single_statuses in singles:
            try:
                result = await self._write_retrying(batch, single_orders, single_statuses)
            except psycopg.Error as error:
                (accepted,) = [*single_orders, *single_statuses]
                reason = f"PostgreSQL refused it: {type(error).__name__}: {error}"
                rejections.append(Rejection(accepted.record, "DatabaseRejected", reason))
                continue
            changes.extend(result.changes)
            rejections.extend(result.rejections)
            unchanged += result.unchanged
            stale += result.stale
            # The last commit stands for all (a rare path: only data the database refuses).
            committed_at = max(committed_at, result.committed_at)
        return WriteResult(changes, rejections, unchanged, stale, committed_at)

    async def _write_retrying(
        self,
        batch: _FetchedBatch,
        orders: Sequence[OrderRecord],
        statuses: Sequence[AcceptedStatus],
    ) -> WriteResult:
        """Write, waiting out every database error that is not about the data with paused
        partitions; an error about the data is raised for the caller to isolate."""
        async for attempt in self._waiting_retries(
            batch,
            retry_if_exception(database_errors.is_about_the_database),
            wait_exponential_jitter(initial=0.2, max=10),
        ):
            with attempt:
                result = await write_batch(
                    self._pool, orders, statuses, trace_of=batch.spans.traceparent
                )
        self._progress.waiting_on = None
        return result

    def _waiting_retries(self, batch: _FetchedBatch, retry, wait) -> AsyncRetrying:
        """Attempts separated by waits with the partitions paused; a rebalance during a
        wait abandons the batch, a stop request abandons it uncommitted."""

        async def sleep(seconds: float) -> None:
            await self._wait_with_partitions_paused(seconds)
            self._check_still_owned(batch)

        return AsyncRetrying(
            retry=retry,
            wait=wait,
            sleep=sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )

    def _log_retry(self, retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        if error is None:
            what, reason = "dead letters not acknowledged", "DeadLetterUnacknowledged"
        else:
            what, reason = f"{type(error).__name__}: {error}", database_errors.reason(error)
        metrics.WRITE_RETRIES.labels(reason).inc()
        self._progress.waiting_on = what
        log.warning("%s; partitions paused, retrying", what)

    async def _wait_with_partitions_paused(self, seconds: float) -> None:
        """Sleep by polling paused partitions: the consumer stays in its group, takes nothing.

        A rebalance during the poll assigns fresh, unpaused partition states, and the poll
        may then return records: each partition is sent back to its first one, so that
        nothing fetched here is lost.
        """
        if self._stop.is_set():
            raise StopRequested
        self._waiting = True
        try:
            assigned = self._consumer.assignment()
            if assigned:
                self._consumer.pause(*assigned)
            fetched = await self._consumer.getmany(timeout_ms=int(seconds * 1000))
            for partition, records in fetched.items():
                if records:
                    self._consumer.seek(partition, records[0].offset)
        finally:
            self._waiting = False
            paused = self._consumer.paused()
            if paused:
                self._consumer.resume(*paused)
        if self._stop.is_set():
            raise StopRequested

    async def _commit(self, batch: Batch) -> None:
        assigned = self._consumer.assignment()
        offsets = {
            partition: records[-1].offset + 1
            for partition, records in batch.items()
            if records
            and partition in assigned
            and records[-1].offset + 1 > self._committed.get(partition, -1)
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as error:  # CommitFailedError, IllegalStateError among them
            # The group rebalanced under us: the new owner replays these records, and the
            # replay changes nothing because the rows are already committed.
            log.warning("offset commit refused after a rebalance: %s", error)
            return
        self._committed.update(offsets)


def _names(partitions: Sequence[TopicPartition]) -> str:
    return ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions))
