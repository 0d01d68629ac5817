"""Publishing to and reading from the real Kafka of the test session."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

T = TypeVar("T")


# A client call that never returns (a coordinator still loading after a broker restart,
# say) must fail the test, not stall the suite; `eventually` retries a TimeoutError.
CALL_TIMEOUT_SECONDS = 45.0


def _run_bounded(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, CALL_TIMEOUT_SECONDS))


@dataclass(frozen=True)
class Message:
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int | None = None  # where it was read from; a message to publish has none


def publish(
    bootstrap: str, topic: str, messages: list[Message], *, compression_type: str | None = None
) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=True,
            acks="all",
            max_request_size=32 * 1_048_576,
            compression_type=compression_type,
        )
        await producer.start()
        try:
            for message in messages:
                await producer.send_and_wait(
                    topic, value=message.value, key=message.key, headers=list(message.headers)
                )
        finally:
            await producer.stop()

    _run_bounded(send())


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    async def read() -> dict[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            (description,) = await admin.describe_topics([topic])
        finally:
            await admin.close()
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p["partition"]) for p in description["partitions"]]
            offsets = await consumer.end_offsets(partitions)
            return {tp.partition: offset for tp, offset in offsets.items()}
        finally:
            await consumer.stop()

    return _run_bounded(read())


def read_from(
    bootstrap: str,
    topic: str,
    start: dict[int, int],
    *,
    count: int,
    timeout: float = 30.0,
    key: bytes | None = None,
) -> list[Message]:
    """Read at least `count` messages after the given offsets (only those with `key`, if
    given), or all there are by `timeout`."""

    async def read() -> list[Message]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            fetch_max_bytes=64 * 1_048_576,
            max_partition_fetch_bytes=32 * 1_048_576,
        )
        await consumer.start()
        found: list[Message] = []
        try:
            partitions = [TopicPartition(topic, p) for p in start]
            consumer.assign(partitions)
            for partition in partitions:
                consumer.seek(partition, start[partition.partition])
            deadline = time.monotonic() + timeout
            while len(found) < count and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    found.extend(
                        Message(r.key, r.value, tuple(r.headers or ()), r.partition)
                        for r in records
                        if key is None or r.key == key
                    )
        finally:
            await consumer.stop()
        return found

    return _run_bounded(read())


def committed_offsets(bootstrap: str, group_id: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition of `topic` (absent: nothing committed)."""

    async def read() -> dict[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group_id)
        finally:
            await admin.close()
        return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}

    return _run_bounded(read())


def publish_and_locate(bootstrap: str, topic: str, message: Message) -> tuple[int, int]:
    """Publish one message; return its (partition, offset)."""
    before = end_offsets(bootstrap, topic)
    publish(bootstrap, topic, [message])
    after = end_offsets(bootstrap, topic)
    (partition,) = [p for p in after if after[p] != before.get(p, 0)]
    return partition, before.get(partition, 0)


def group_members(bootstrap: str, group_id: str) -> tuple[str, int]:
    """The consumer group's state (`Stable` once a rebalance is over) and its member count."""

    async def describe() -> tuple[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            (response,) = await admin.describe_consumer_groups([group_id])
        finally:
            await admin.close()
        (group,) = response.groups
        _error, _group_id, state, _protocol_type, _protocol, members, *_ = group
        return state, len(members)

    return _run_bounded(describe())


def start_group_at_end(bootstrap: str, group_id: str, topic: str) -> None:
    """Commit the topic's current end offsets for a new group: it starts from now."""
    ends = end_offsets(bootstrap, topic)

    async def commit() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, partition) for partition in ends]
            consumer.assign(partitions)
            await consumer.commit({tp: ends[tp.partition] for tp in partitions})
        finally:
            await consumer.stop()

    _run_bounded(commit())


def create_topic(bootstrap: str, name: str, partitions: int = 3) -> None:
    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, partitions, replication_factor=1)])
        finally:
            await admin.close()

    _run_bounded(create())
