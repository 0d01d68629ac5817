"""The ingestor's batches: validate them, dead-letter the rejects, write the rest in one
transaction, then (once the shared consumer has committed the offsets) announce the
changes.

The shared consumer (`order_shared.batch_consumer`) fetches the batches and commits
their offsets only after `handle` returns: after the dead-letter sends are acknowledged
and the database transaction has committed. A crash anywhere before that replays the
batch, and the replay is harmless: the writer fences content by its source offset, and
repeated statuses are no-ops. What it does on a rebalance (a batch fetched before it is
not written) and while a write waits is the shared consumer's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import psycopg
from opentelemetry import trace
from psycopg_pool import AsyncConnectionPool
from tenacity import (
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
from order_shared.batch_consumer import BatchConsumer, FetchedBatch
from order_shared.outcomes import RecordOutcome, wants_outcome
from order_shared.topics import CHANGES_CHANNEL, ORDER_STATUS, ORDERS, ORDERS_DLQ

log = logging.getLogger(__name__)

TOPICS = (ORDERS, ORDER_STATUS)


@dataclass(slots=True)
class _ValidatedBatch:
    # Orders and erasures, in partition order.
    orders: list[OrderRecord] = field(default_factory=list)
    statuses: list[AcceptedStatus] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _PreparedBatch:
    validated: _ValidatedBatch
    spans: RecordSpans


@dataclass(frozen=True, slots=True)
class _WrittenBatch:
    changes: Sequence[OrderChange]
    committed_at: float
    outcomes: Sequence[RecordOutcome] = ()


# Validation yields to the event loop this often, about a third of a millisecond of work,
# so that a reply to the write in flight waits no longer than that.
_YIELD_EVERY_RECORDS = 16


class OrderIngestor:
    """The ingestor's `BatchHandler` (order_shared.batch_consumer)."""

    def __init__(
        self,
        kafka: BatchConsumer,
        pool: AsyncConnectionPool,
        dead_letters: DeadLetterPublisher,
        announcer: ChangeAnnouncer,
        relay: OutboxRelay,
        *,
        max_message_bytes: int,
    ) -> None:
        self._kafka = kafka
        self._pool = pool
        self._dead_letters = dead_letters
        self._announcer = announcer
        self._relay = relay
        self._max_message_bytes = max_message_bytes

    async def prepare(self, batch: FetchedBatch) -> _PreparedBatch:
        spans = RecordSpans(batch)
        return _PreparedBatch(await self._validate(batch), spans)

    async def handle(self, batch: FetchedBatch, prepared: _PreparedBatch) -> _WrittenBatch:
        """Dead-letter the rejects and write the rest; the offset commit and the
        announcement follow while the next batch is written."""
        validated = prepared.validated
        with metrics.BATCH_SECONDS.time():
            await self._dead_letter(batch, prepared.spans, validated.rejected)
            result = await self._write(batch, prepared.spans, validated.orders, validated.statuses)
            await self._dead_letter(batch, prepared.spans, result.rejections)
        metrics.ORDERS_WRITTEN.inc(len(result.changes))
        metrics.ORDERS_ERASED.inc(sum(change.erased for change in result.changes))
        metrics.ORDERS_UNCHANGED.inc(result.unchanged)
        metrics.ORDERS_STALE.inc(result.stale)
        metrics.PENDING_STATUSES_DROPPED.inc(result.pending_dropped)
        outcomes = [*result.outcomes, *_rejected(validated.rejected)]
        return _WrittenBatch(result.changes, result.committed_at, outcomes)

    async def acknowledge(
        self, batch: FetchedBatch, prepared: _PreparedBatch, written: _WrittenBatch
    ) -> None:
        """The offsets are committed: announce the batch's changes."""
        changes, spans, validated = written.changes, prepared.spans, prepared.validated
        if changes or written.outcomes:
            self._relay.wake()
            started = time.time_ns()
            announced = await self._announcer.announce(
                changes, written.committed_at, written.outcomes
            )
            if not announced:
                metrics.ANNOUNCE_FAILURES.inc()
            if spans.recording:
                changed = {change.order_uid for change in changes}
                spans.step(
                    f"{CHANGES_CHANNEL} publish",
                    [
                        *(o.record for o in validated.orders if o.order_uid in changed),
                        *(s.record for s in validated.statuses if s.change.order_uid in changed),
                    ],
                    started,
                    trace.SpanKind.PRODUCER,
                    {"messaging.system": "redis", "ingestor.announced": str(announced).lower()},
                )
        spans.end("committed")

    def abandoned(
        self, batch: FetchedBatch, prepared: _PreparedBatch, why: Literal["revoked", "stopping"]
    ) -> None:
        if why == "revoked":
            metrics.BATCHES_DROPPED.inc()
            prepared.spans.end("dropped after a rebalance")
        else:
            prepared.spans.end("abandoned at a stop")

    # --- the steps -----------------------------------------------------------------------

    async def _validate(self, batch: FetchedBatch) -> _ValidatedBatch:
        validated = _ValidatedBatch()
        for partition_records in batch.records.values():
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

    async def _dead_letter(
        self, batch: FetchedBatch, spans: RecordSpans, rejections: Sequence[Rejection]
    ) -> None:
        """Publish the rejections, waiting out a broker that is away: the offsets behind
        them must not be committed before the dead-letter topic has them."""
        if not rejections:
            return
        started = time.time_ns()
        unsent = list(rejections)

        async def send_unsent() -> list[Rejection]:
            nonlocal unsent
            unsent = await self._dead_letters.publish(unsent)
            return unsent

        await self._kafka.retried(
            batch,
            send_unsent,
            retry=retry_if_result(bool),
            wait=wait_exponential_jitter(initial=0.5, max=10),
            describe=_describe_retry,
        )
        spans.step(
            f"{ORDERS_DLQ} publish",
            [rejection.record for rejection in rejections],
            started,
            trace.SpanKind.PRODUCER,
            {"messaging.system": "kafka", "messaging.destination.name": ORDERS_DLQ},
        )
        for rejection in rejections:
            metrics.MESSAGES_REJECTED.labels(rejection.error_class).inc()
            record = rejection.record
            with trace.use_span(spans.span(record)):
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
        batch: FetchedBatch,
        spans: RecordSpans,
        orders: Sequence[OrderRecord],
        statuses: Sequence[AcceptedStatus],
    ) -> WriteResult:
        started = time.time_ns()
        try:
            result = await self._write_retrying(batch, spans, orders, statuses)
        except psycopg.Error as error:
            log.warning(
                "the database refused the batch's data (%s); writing it one message at a time",
                error,
            )
            result = await self._write_one_by_one(batch, spans, orders, statuses)
        if spans.recording:
            spans.step(
                "orders write",
                [*(order.record for order in orders), *(status.record for status in statuses)],
                started,
                trace.SpanKind.CLIENT,
                {"db.system.name": "postgresql"},
            )
        return result

    async def _write_one_by_one(
        self,
        batch: FetchedBatch,
        spans: RecordSpans,
        orders: Sequence[OrderRecord],
        statuses: Sequence[AcceptedStatus],
    ) -> WriteResult:
        """Isolate the message the database refuses; the others are written as usual."""
        changes, rejections, unchanged, stale, committed_at = [], [], 0, 0, 0.0
        outcomes: list[RecordOutcome] = []
        dropped = 0
        singles = [([order], []) for order in orders] + [([], [status]) for status in statuses]
        for single_orders, single_statuses in singles:
            try:
                result = await self._write_retrying(batch, spans, single_orders, single_statuses)
            except psycopg.Error as error:
                (accepted,) = [*single_orders, *single_statuses]
                reason = f"PostgreSQL refused it: {type(error).__name__}: {error}"
                rejections.append(Rejection(accepted.record, "DatabaseRejected", reason))
                outcomes.extend(_rejected(rejections[-1:]))
                continue
            changes.extend(result.changes)
            rejections.extend(result.rejections)
            unchanged += result.unchanged
            stale += result.stale
            outcomes.extend(result.outcomes)
            dropped += result.pending_dropped
            # The last commit stands for all (a rare path: only data the database refuses).
            committed_at = max(committed_at, result.committed_at)
        return WriteResult(changes, rejections, unchanged, stale, committed_at, outcomes, dropped)

    async def _write_retrying(
        self,
        batch: FetchedBatch,
        spans: RecordSpans,
        orders: Sequence[OrderRecord],
        statuses: Sequence[AcceptedStatus],
    ) -> WriteResult:
        """Write, waiting out every database error that is not about the data with paused
        partitions; an error about the data is raised for the caller to isolate."""
        return await self._kafka.retried(
            batch,
            lambda: write_batch(self._pool, orders, statuses, trace_of=spans.traceparent),
            retry=retry_if_exception(database_errors.is_about_the_database),
            wait=wait_exponential_jitter(initial=0.2, max=10),
            describe=_describe_retry,
        )


def _rejected(rejections: Sequence[Rejection]) -> list[RecordOutcome]:
    """The outcome of each record validation refused, for the commands that asked."""
    return [
        RecordOutcome(
            (record.key or b"").decode("utf-8", "replace"),
            record.topic,
            record.partition,
            record.offset,
            "rejected",
            reason=f"{rejection.error_class}: {rejection.reason}",
        )
        for rejection in rejections
        if wants_outcome((record := rejection.record).headers)
    ]


def _describe_retry(retry_state: RetryCallState) -> str:
    """What a write or a dead-letter send is waiting out, counted by reason."""
    outcome = retry_state.outcome
    error = outcome.exception() if outcome is not None and outcome.failed else None
    if error is None:
        what, reason = "dead letters not acknowledged", "DeadLetterUnacknowledged"
    else:
        what, reason = f"{type(error).__name__}: {error}", database_errors.reason(error)
    metrics.WRITE_RETRIES.labels(reason).inc()
    return what
