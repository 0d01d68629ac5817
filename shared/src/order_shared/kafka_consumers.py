"""How every consumer of ours is made and fetches, whatever produced what it reads.

* Read committed: records of an aborted transaction are never handed out, and nothing
  past the last stable offset of a partition with a transaction still open.
* Every compression codec (none, gzip, snappy, lz4, zstd): aiokafka decodes snappy, lz4
  and zstd with cramjam, installed through aiokafka's extras.
* A batch that still cannot be decoded (a codec library missing, a corrupt batch)
  raises inside `getmany()`, after the records of other partitions that the same call
  took may already be consumed. It must neither crash the service (its supervisor
  restarts it onto the same batch, for ever, in silence) nor be skipped (its records
  would be lost). `DecodeFailures.fetch` keeps the service running: every assigned
  partition goes back to its committed offset, so nothing the failed call took is lost
  (a replay, which both services take as a repeat), the failure is counted and logged,
  readiness names it until a fetch returns records again, and the fetch is tried again
  after a growing pause, until the cause is fixed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import zlib
from collections.abc import Mapping, Sequence

import cramjam
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CorruptRecordException, KafkaError, UnsupportedCodecError
from aiokafka.structs import ConsumerRecord
from prometheus_client import Counter

log = logging.getLogger(__name__)

Batch = Mapping[TopicPartition, Sequence[ConsumerRecord]]

# What decoding a fetched batch raises when its bytes cannot be read.
UNDECODABLE = (
    UnsupportedCodecError,
    CorruptRecordException,
    cramjam.DecompressionError,
    zlib.error,
    EOFError,
    struct.error,
)


def create_consumer(
    *topics: str, bootstrap_servers: str, group_id: str, **options: int
) -> AIOKafkaConsumer:
    """A group consumer reading committed records only, committing its offsets itself,
    from the earliest record when its group has none; `options` are fetch sizes."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **options,
    )


class DecodeFailures:
    """A consumer's fetches that could not be decoded: counted in `counter`, the last one
    reported by `reason` (None once a fetch returns records again)."""

    def __init__(
        self, counter: Counter, *, first_pause_seconds: float = 0.5, max_pause_seconds: float = 30
    ) -> None:
        self._counter = counter
        self._first_pause = first_pause_seconds
        self._max_pause = max_pause_seconds
        self._pause = first_pause_seconds
        self.reason: str | None = None

    async def fetch(
        self,
        consumer: AIOKafkaConsumer,
        stop: asyncio.Event,
        *,
        timeout_ms: int,
        max_records: int,
    ) -> Batch:
        """`consumer.getmany()`, or nothing after a batch that cannot be decoded."""
        try:
            batch = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        except UNDECODABLE as error:
            await self._undecodable(consumer, stop, error)
            return {}
        if batch:
            self.reason = None
            self._pause = self._first_pause
        return batch

    async def _undecodable(
        self, consumer: AIOKafkaConsumer, stop: asyncio.Event, error: Exception
    ) -> None:
        self._counter.inc()
        self.reason = f"a fetched batch cannot be decoded: {type(error).__name__}: {error}"
        log.error(
            "%s; back to the committed offsets, trying again in %g s", self.reason, self._pause
        )
        try:
            await _rewind_to_committed(consumer)
        except KafkaError as rewind_error:
            # Positions may be past records the failed call took: stop rather than lose
            # them (the service's supervisor restarts it, from the committed offsets).
            raise RuntimeError(
                f"cannot go back to the committed offsets: {rewind_error}"
            ) from error
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=self._pause)
        self._pause = min(self._pause * 2, self._max_pause)


async def _rewind_to_committed(consumer: AIOKafkaConsumer) -> None:
    """Every assigned partition back to its committed offset (its beginning if none)."""
    for partition in consumer.assignment():
        committed = await consumer.committed(partition)
        if committed is None:
            await consumer.seek_to_beginning(partition)
        else:
            consumer.seek(partition, committed)
