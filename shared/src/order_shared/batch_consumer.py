"""The partition-safe batch consumer every service reads Kafka with: fetch a batch, have a
handler make it durable, commit its offsets, in batch order.

What it guarantees, whatever the handler does:

* **Nothing fetched is lost.** Offsets are committed only after the handler made the
  batch durable, only for partitions still assigned, and only forward.
* **A rebalance drops what was fetched before it.** Every revocation bumps a generation;
  a batch of an older generation is not handled (its partitions' owner, perhaps this
  consumer again, fetches it anew from the committed offsets).
* **Waits keep the group and take nothing.** A handler that must wait (the database or
  the broker away) sleeps by polling paused partitions; partitions assigned during the
  wait are paused too, and anything such a poll still returns is handed back by seeking
  to its first record.
* **A batch that cannot be decoded holds its place.** Every partition goes back to the
  first record not handed out and the fetch is tried again after a growing pause
  (`order_shared.undecodable_batches`), the service up and saying why it is not ready.
* **Readiness says what it waits for.** `Progress` holds the unsettled batches and the
  last failure a wait is about, for the service's `/readyz`.

Batches go through in a pipeline: while one is handled, the next is fetched and prepared,
and the one before has its offsets committed and is acknowledged to the handler.

`create_consumer` is the one place an `AIOKafkaConsumer` of a group is built, so the
settings every consumer needs (read committed, no auto-commit, fetch sizes) live once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from prometheus_client import Counter
from tenacity import AsyncRetrying, RetryCallState
from tenacity.retry import retry_base
from tenacity.wait import wait_base

from order_shared.progress import Progress
from order_shared.stopping import StopRequested, unless_stopped
from order_shared.topics import MAX_MESSAGE_BYTES
from order_shared.undecodable_batches import UNDECODABLE, UndecodableBatches

log = logging.getLogger(__name__)

Records = Mapping[TopicPartition, Sequence[ConsumerRecord]]
Prepared = TypeVar("Prepared")
Handled = TypeVar("Handled")
T = TypeVar("T")

# Longer than any batch may take between two polls; handlers bound their waits below it
# (a wait polls, so only the work between waits counts).
MAX_POLL_INTERVAL_SECONDS = 300


def create_consumer(bootstrap_servers: str, group_id: str) -> AIOKafkaConsumer:
    """The consumer of a group, not started; `BatchConsumer.run` subscribes it."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # Records of aborted transactions are never read.
        isolation_level="read_committed",
        max_poll_interval_ms=MAX_POLL_INTERVAL_SECONDS * 1000,
        # The topics take messages up to MAX_MESSAGE_BYTES (we create them so).
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES + 65_536,
        fetch_max_bytes=max(52_428_800, MAX_MESSAGE_BYTES * 2),
    )


@dataclass(frozen=True, slots=True)
class FetchedBatch:
    records: Records
    # The rebalance generation it was fetched in, and its token in `Progress`.
    generation: int
    token: int

    def __iter__(self) -> Iterator[ConsumerRecord]:
        """Every record, partition by partition, each partition in offset order."""
        for in_partition in self.records.values():
            yield from in_partition

    def __len__(self) -> int:
        return sum(len(in_partition) for in_partition in self.records.values())


class BatchRevoked(Exception):
    """A rebalance happened while the batch waited: its owner fetches it again."""


class BatchHandler(Protocol[Prepared, Handled]):
    """What a service does with its batches."""

    async def prepare(self, batch: FetchedBatch) -> Prepared:
        """Work that needs no server (decoding, validation), done while the batch before
        is still being handled."""
        ...

    async def handle(self, batch: FetchedBatch, prepared: Prepared) -> Handled:
        """Make the batch durable. Waits go through `BatchConsumer.retried`; raising
        `BatchRevoked` or `StopRequested` abandons the batch uncommitted."""
        ...

    async def acknowledge(self, batch: FetchedBatch, prepared: Prepared, handled: Handled) -> None:
        """After the batch's offsets were committed (or refused after a rebalance)."""
        ...

    def abandoned(
        self, batch: FetchedBatch, prepared: Prepared, why: Literal["revoked", "stopping"]
    ) -> None:
        """The batch will not be committed by this consumer."""
        ...


class BatchConsumer(ConsumerRebalanceListener):
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        topics: Sequence[str],
        progress: Progress,
        undecodable: UndecodableBatches,
        stage_seconds: Counter,
        *,
        batch_max_records: int,
        batch_wait_ms: int,
    ) -> None:
        """`stage_seconds` (labelled by stage) counts the seconds spent in each step of the
        pipeline: where a consumer's time goes, read by `make bench ingest`."""
        self._consumer = consumer
        self._fetching = stage_seconds.labels("fetch")
        self._preparing = stage_seconds.labels("prepare")
        self._handling = stage_seconds.labels("handle")
        self._committing = stage_seconds.labels("commit")
        self._acknowledging_time = stage_seconds.labels("acknowledge")
        self._topics = list(topics)
        self._progress = progress
        self._undecodable = undecodable
        self._batch_max_records = batch_max_records
        self._batch_wait_ms = batch_wait_ms
        self._stop = asyncio.Event()
        self._acknowledging: asyncio.Task[None] | None = None
        self._generation = 0
        self._waiting = False
        # The highest offset committed per partition since it was last assigned to us.
        self._committed: dict[TopicPartition, int] = {}
        # Per partition, the offset after the last record handed to the handler.
        self._handed_out: dict[TopicPartition, int] = {}

    def committed_offsets(self) -> dict[TopicPartition, int]:
        """The offsets this consumer committed since each partition was assigned to it."""
        return dict(self._committed)

    async def run(self, handler: BatchHandler[Prepared, Handled], stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is finished or abandoned
        uncommitted (it is fetched again on restart)."""
        self._stop = stop
        self._consumer.subscribe(self._topics, listener=self)
        handling: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                with _timed(self._fetching):
                    records = await self._fetch()
                if handling is not None and handling.done():
                    await handling  # raises what the handler raised
                    handling = None
                if records:
                    batch = FetchedBatch(records, self._generation, self._progress.fetched(records))
                    with _timed(self._preparing):
                        prepared = await handler.prepare(batch)
                    if handling is not None:
                        # The next batch is handled only once this one is.
                        await handling
                    handling = asyncio.create_task(self._handle(handler, batch, prepared))
            if handling is not None:
                await handling
        except StopRequested:
            log.info("stopping with a batch unfinished: it is fetched again on restart")
        finally:
            if handling is not None and not handling.done():
                handling.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopRequested):
                    await handling
            # What was handled has its offsets committed before the exit.
            await self._acknowledged()

    async def _fetch(self) -> Records:
        """The next records to hand out; none after a batch that cannot be decoded, once
        every partition is back at its first record not handed out and a pause is over."""
        try:
            records = await self._consumer.getmany(
                timeout_ms=self._batch_wait_ms, max_records=self._batch_max_records
            )
        except UNDECODABLE as error:
            pause = self._undecodable.failed(error)
            await self._back_to_unhanded_records()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=pause)
            return {}
        if records:
            self._undecodable.fetched()
            for partition, in_partition in records.items():
                if in_partition:
                    self._handed_out[partition] = in_partition[-1].offset + 1
        return records

    async def _back_to_unhanded_records(self) -> None:
        """Each assigned partition to the first record not handed out: the failed fetch may
        have moved past records it took from other partitions and never returned."""
        for partition in self._consumer.assignment():
            offset = self._handed_out.get(partition)
            if offset is None:
                try:
                    offset = await self._consumer.committed(partition)
                except KafkaError as error:
                    # Positions may be past records the failed fetch took: stop rather
                    # than lose them (restarted, the service reads from the committed ones).
                    raise RuntimeError(f"cannot find {partition}'s committed offset") from error
            if offset is None:
                await self._consumer.seek_to_beginning(partition)
            else:
                self._consumer.seek(partition, offset)

    def check_still_owned(self, batch: FetchedBatch) -> None:
        if batch.generation != self._generation:
            raise BatchRevoked

    async def unless_stopped(self, work: Awaitable[T]) -> T:
        """`work`'s result, or StopRequested as soon as the service is told to stop (the
        work is then cancelled): a batch never holds a stop up."""
        return await unless_stopped(work, self._stop)

    async def retried(
        self,
        batch: FetchedBatch,
        attempt: Callable[[], Awaitable[T]],
        *,
        retry: retry_base,
        wait: wait_base,
        describe: Callable[[RetryCallState], str],
    ) -> T:
        """`attempt()` until `retry` is satisfied, waiting with the partitions paused in
        between. `describe` names what went wrong (and may count it); readiness shows it
        until an attempt succeeds. A rebalance during a wait raises BatchRevoked, a stop
        request StopRequested."""

        async def sleep(seconds: float) -> None:
            await self._wait_with_partitions_paused(seconds)
            self.check_still_owned(batch)

        def before_sleep(state: RetryCallState) -> None:
            what = describe(state)
            self._progress.waiting_on = what
            log.warning("%s; partitions paused, retrying", what)

        retrying = AsyncRetrying(
            retry=retry, wait=wait, sleep=sleep, before_sleep=before_sleep, reraise=True
        )
        async for attempt_state in retrying:
            with attempt_state:
                result = await attempt()
            outcome = attempt_state.retry_state.outcome
            if outcome is not None and not outcome.failed:
                attempt_state.retry_state.set_result(result)
        self._progress.waiting_on = None
        return result

    # --- rebalances ------------------------------------------------------------------

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Work fetched before now is not handled; whoever owns its partitions next
        (perhaps this consumer again) fetches it anew from the committed offsets."""
        self._generation += 1
        for partition in revoked:
            self._committed.pop(partition, None)
            self._handed_out.pop(partition, None)
        if revoked:
            log.info("partitions revoked: %s", _names(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if assigned:
            log.info("partitions assigned: %s", _names(assigned))
        if self._waiting and assigned:
            # A wait in progress polls to stay in the group; it must not fetch meanwhile.
            self._consumer.pause(*assigned)

    # --- the pipeline's steps ----------------------------------------------------------

    async def _handle(
        self, handler: BatchHandler[Prepared, Handled], batch: FetchedBatch, prepared: Prepared
    ) -> None:
        try:
            self.check_still_owned(batch)
            with _timed(self._handling):
                handled = await handler.handle(batch, prepared)
        except StopRequested:
            handler.abandoned(batch, prepared, "stopping")
            raise
        except BatchRevoked:
            self._progress.settled(batch.token)
            handler.abandoned(batch, prepared, "revoked")
            log.info(
                "dropped %d records fetched before a rebalance: fetched again from the "
                "committed offsets",
                len(batch),
            )
            return
        # One batch acknowledged at a time keeps offset commits in batch order.
        await self._acknowledged()
        self._acknowledging = asyncio.create_task(
            self._acknowledge(handler, batch, prepared, handled)
        )

    async def _acknowledge(
        self,
        handler: BatchHandler[Prepared, Handled],
        batch: FetchedBatch,
        prepared: Prepared,
        handled: Handled,
    ) -> None:
        with _timed(self._committing):
            await self._commit(batch.records)
        self._progress.settled(batch.token)
        with _timed(self._acknowledging_time):
            await handler.acknowledge(batch, prepared, handled)

    async def _acknowledged(self) -> None:
        if self._acknowledging is not None:
            await self._acknowledging
            self._acknowledging = None

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
            try:
                fetched = await self._consumer.getmany(timeout_ms=int(seconds * 1000))
            except UNDECODABLE as error:
                self._undecodable.failed(error)
                await self._back_to_unhanded_records()
                fetched = {}
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

    async def _commit(self, records: Records) -> None:
        assigned = self._consumer.assignment()
        offsets = {
            partition: in_partition[-1].offset + 1
            for partition, in_partition in records.items()
            if in_partition
            and partition in assigned
            and in_partition[-1].offset + 1 > self._committed.get(partition, -1)
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as error:  # CommitFailedError, IllegalStateError among them
            # The group rebalanced under us: the new owner replays these records, and
            # every handler makes a replay change nothing.
            log.warning("offset commit refused after a rebalance: %s", error)
            return
        self._committed.update(offsets)


@contextlib.contextmanager
def _timed(seconds: Counter) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds.inc(time.perf_counter() - started)


def _names(partitions: Sequence[TopicPartition]) -> str:
    return ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions))
