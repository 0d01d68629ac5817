"""The Kafka consumer loop: fetch a batch, validate it, dead-letter the rejects, write the
rest in one transaction, commit the offsets, announce the changes.

Offsets are committed only after both the dead-letter sends are acknowledged and the
database transaction has committed, so a crash anywhere before that replays the batch,
and the replay is harmless because an unchanged order is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import ConsumerRecord
from opentelemetry import trace
from psycopg_pool import AsyncConnectionPool
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from ingestor import metrics
from ingestor.announcer import ChangeAnnouncer
from ingestor.dead_letters import DeadLetterPublisher
from ingestor.order_writer import OrderChange, write_orders
from ingestor.validation import AcceptedOrder, Rejection, validate_order_record
from order_shared.telemetry import context_from_headers

log = logging.getLogger(__name__)
tracer = trace.get_tracer("ingestor")

Batch = Mapping[TopicPartition, Sequence[ConsumerRecord]]

# Errors that go away by themselves: the server restarts, a connection drops, the pool
# is exhausted. Anything else from the database is a bug or a bad row, not a reason to wait.
TRANSIENT_DATABASE_ERRORS = (psycopg.OperationalError, psycopg.errors.SerializationFailure)


class OrderIngestor:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        pool: AsyncConnectionPool,
        dead_letters: DeadLetterPublisher,
        announcer: ChangeAnnouncer,
        *,
        batch_max_records: int,
        batch_wait_ms: int,
        max_message_bytes: int,
    ) -> None:
        self._consumer = consumer
        self._pool = pool
        self._dead_letters = dead_letters
        self._announcer = announcer
        self._batch_max_records = batch_max_records
        self._batch_wait_ms = batch_wait_ms
        self._max_message_bytes = max_message_bytes

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is finished first."""
        while not stop.is_set():
            batch = await self._consumer.getmany(
                timeout_ms=self._batch_wait_ms, max_records=self._batch_max_records
            )
            if batch:
                await self.process(batch, stop)

    async def process(self, batch: Batch, stop: asyncio.Event) -> None:
        records = [record for partition_records in batch.values() for record in partition_records]
        links = [
            trace.Link(span_context)
            for record in records
            if (
                span_context := trace.get_current_span(
                    context_from_headers(record.headers)
                ).get_span_context()
            ).is_valid
        ]
        with (
            tracer.start_as_current_span(
                "orders process", kind=trace.SpanKind.CONSUMER, links=links
            ) as span,
            metrics.BATCH_SECONDS.time(),
        ):
            span.set_attribute("messaging.batch.message_count", len(records))
            accepted: list[AcceptedOrder] = []
            rejected: list[Rejection] = []
            for record in records:
                outcome = validate_order_record(record, self._max_message_bytes)
                (accepted if isinstance(outcome, AcceptedOrder) else rejected).append(outcome)

            await self._dead_letters.publish(rejected)
            for rejection in rejected:
                metrics.MESSAGES_REJECTED.labels(rejection.error_class).inc()
                log.info(
                    "rejected %s[%d]@%d: %s: %s",
                    rejection.record.topic,
                    rejection.record.partition,
                    rejection.record.offset,
                    rejection.error_class,
                    rejection.reason,
                )

            changes = await self._write_until_done(accepted, stop)
            if changes is None:
                return  # stopping: nothing committed, the batch is replayed on restart
            metrics.ORDERS_WRITTEN.inc(len(changes))
            metrics.ORDERS_UNCHANGED.inc(len(accepted) - len(changes))

            await self._commit(batch)
            if not await self._announcer.announce(changes):
                metrics.ANNOUNCE_FAILURES.inc()

    async def _write_until_done(
        self, accepted: Sequence[AcceptedOrder], stop: asyncio.Event
    ) -> list[OrderChange] | None:
        """Write, retrying transient database errors with backoff; None if told to stop."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TRANSIENT_DATABASE_ERRORS),
            wait=wait_exponential_jitter(initial=0.2, max=10),
            before_sleep=self._log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            if stop.is_set() and attempt.retry_state.attempt_number > 1:
                return None
            with attempt:
                return await write_orders(self._pool, accepted)
        return None

    @staticmethod
    def _log_retry(retry_state: object) -> None:
        metrics.WRITE_RETRIES.inc()
        outcome = getattr(retry_state, "outcome", None)
        log.warning("database unavailable, retrying the batch: %s", outcome and outcome.exception())

    async def _commit(self, batch: Batch) -> None:
        offsets = {
            partition: records[-1].offset + 1 for partition, records in batch.items() if records
        }
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            # The group rebalanced under us: the new owner replays these records, and the
            # replay changes nothing because the rows are already committed.
            log.warning("offset commit refused after a rebalance: %s", error)
