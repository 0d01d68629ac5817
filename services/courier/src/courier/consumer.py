"""The courier's batches of `order-events`: have every order they name reconciled (or
queued for retry, or the record kept as rejected).

The shared consumer (`order_shared.batch_consumer`) fetches the batches and commits their
offsets only once `handle` returns, that is once each record is done in PostgreSQL:
reconciled, durably in the retry queue, or kept as rejected. A crash before the commit
replays the batch, and the replay only looks at the orders again, which changes nothing.
What it does on a rebalance and while a batch waits for the database is the shared
consumer's.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass, field
from typing import Literal

import msgspec
import psycopg
from aiokafka.structs import ConsumerRecord
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import SpanLimits
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from tenacity import RetryCallState, retry_if_exception_type, wait_exponential_jitter

from courier import metrics, rejected_events
from courier.reconcile import Look, Reconciler
from courier.rejected_events import RejectedEvent
from order_shared.batch_consumer import BatchConsumer, FetchedBatch
from order_shared.events import decode_event
from order_shared.model import ORDER_UID_PATTERN
from order_shared.telemetry import context_from_headers

log = logging.getLogger(__name__)
tracer = trace.get_tracer("courier")

_ORDER_ID = re.compile(ORDER_UID_PATTERN)
_MAX_LINKS = SpanLimits().max_links or 128

TRANSIENT_DATABASE_ERRORS = (
    psycopg.OperationalError,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    PoolTimeout,
)


@dataclass(frozen=True, slots=True)
class NamedOrder:
    """What one record asks: look at this order, at least at `version` (0: unknown); and
    whether the record says the order was erased at that version."""

    order_id: str
    version: int = 0
    erased: bool = False


@dataclass(slots=True)
class _Look:
    """One order to look at: the newest version its events named, the newest erasure
    among them, and the trace of the last of them, which the look continues."""

    min_version: int
    erased_version: int | None
    record: ConsumerRecord

    def and_then(self, named: NamedOrder, record: ConsumerRecord) -> _Look:
        erased_version = self.erased_version
        if named.erased:
            erased_version = max(named.version, erased_version or 0)
        return _Look(max(self.min_version, named.version), erased_version, record)


def order_to_look_at(record: ConsumerRecord) -> NamedOrder | str:
    """The order a record asks to look at, or why it names none.

    The key is the order id, so a record whose value is damaged still names its order
    (to be looked at whatever its version); a key and a value that name two different
    orders say nothing trustworthy of either, and are refused."""
    key_id = None
    if record.key:
        with contextlib.suppress(UnicodeDecodeError):
            key_id = record.key.decode()
    if key_id is not None and not _ORDER_ID.fullmatch(key_id):
        key_id = None
    event = None
    if record.value:
        with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
            event = decode_event(record.value)
    if event is None or not _ORDER_ID.fullmatch(event.order_id):
        if key_id is None:
            return "neither the key nor the value names a valid order id"
        return NamedOrder(key_id)
    if key_id is not None and key_id != event.order_id:
        return f"the key names order {key_id} and the value order {event.order_id}"
    return NamedOrder(event.order_id, event.version, event.status == "erased")


@dataclass(slots=True)
class _EventBatch:
    looks: dict[str, _Look] = field(default_factory=dict)
    rejected: list[RejectedEvent] = field(default_factory=list)


class OrderEventConsumer:
    """The courier's `BatchHandler` (order_shared.batch_consumer)."""

    def __init__(
        self, kafka: BatchConsumer, pool: AsyncConnectionPool, reconciler: Reconciler
    ) -> None:
        self._kafka = kafka
        self._pool = pool
        self._reconciler = reconciler

    async def prepare(self, batch: FetchedBatch) -> _EventBatch:
        """Which orders the batch names (for each, the newest version and the newest
        erasure its events announced), and which records name none."""
        prepared = _EventBatch()
        for record in batch:
            named = order_to_look_at(record)
            if isinstance(named, str):
                prepared.rejected.append(
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
            earlier = prepared.looks.get(named.order_id, _Look(0, None, record))
            prepared.looks[named.order_id] = earlier.and_then(named, record)
        return prepared

    async def handle(self, batch: FetchedBatch, prepared: _EventBatch) -> None:
        """Keep the rejected records and reconcile the orders; a database error fails the
        whole batch, which is tried again after a wait (looking again is harmless). Each
        attempt's status requests end at the reconciler's deadline, and a stop request
        abandons the batch at once (it is fetched again on restart)."""

        async def attempt() -> None:
            await self._kafka.unless_stopped(self._keep_rejected(prepared.rejected))
            await self._kafka.unless_stopped(self._look_at_all(prepared.looks))

        with metrics.BATCH_SECONDS.time():
            await self._kafka.retried(
                batch,
                attempt,
                retry=retry_if_exception_type(TRANSIENT_DATABASE_ERRORS),
                wait=wait_exponential_jitter(initial=0.2, max=10),
                describe=_describe_retry,
            )

    async def acknowledge(self, batch: FetchedBatch, prepared: _EventBatch, handled: None) -> None:
        """Nothing follows the offset commit: the reconciles announced nothing."""

    def abandoned(
        self, batch: FetchedBatch, prepared: _EventBatch, why: Literal["revoked", "stopping"]
    ) -> None:
        if why == "revoked":
            metrics.BATCHES_DROPPED.inc()

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
        with tracer.start_as_current_span(
            "order-events process", kind=trace.SpanKind.CONSUMER, links=_trace_links(looks)
        ) as span:
            span.set_attribute("messaging.batch.message_count", len(looks))
            await self._reconciler.reconcile_many(
                [
                    Look(
                        order_id,
                        look.min_version,
                        _event_trace(look.record),
                        look.erased_version,
                        from_event=True,
                    )
                    for order_id, look in looks.items()
                ]
            )


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


def _describe_retry(retry_state: RetryCallState) -> str:
    metrics.DATABASE_RETRIES.inc()
    error = retry_state.outcome.exception() if retry_state.outcome else None
    return f"{type(error).__name__}: {error}"
