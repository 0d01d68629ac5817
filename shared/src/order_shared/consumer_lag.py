"""Consumer lag per partition, as Kafka's own tools count it: the partition's end offset (its
high-water mark) minus the offset the group has committed. Our consumers commit only once a
batch is durably done, so lag grows whenever records arrive faster than they are handled
(a database away, a paused partition, a slow step), not merely when they are fetched late.

Every consumer of the product reports it the same way, on a gauge of its own labelled by
topic and partition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition


class _Settable(Protocol):
    def set(self, value: float) -> None: ...


class PartitionGauge(Protocol):
    """What of a Prometheus gauge labelled (topic, partition) the report needs."""

    def labels(self, *values: str) -> _Settable: ...

    def remove(self, *values: str) -> None: ...


class ConsumerLagReport:
    """Keeps `gauge` at the lag of each partition the consumer holds now; partitions it no
    longer holds (another member of the group owns them) leave the gauge."""

    def __init__(self, gauge: PartitionGauge) -> None:
        self._gauge = gauge
        self._reported: set[tuple[str, str]] = set()

    async def update(
        self, consumer: AIOKafkaConsumer, committed: Mapping[TopicPartition, int] | None = None
    ) -> None:
        """Measure once. `committed` holds offsets the caller committed itself since the
        partition was assigned to it; any other partition's is asked of the group."""
        committed = committed or {}
        assigned = list(consumer.assignment())
        now_reported: set[tuple[str, str]] = set()
        if assigned:
            ends = await consumer.end_offsets(assigned)
            unknown = [partition for partition in assigned if partition not in committed]
            starts = await consumer.beginning_offsets(unknown) if unknown else {}
            for partition in assigned:
                done = committed.get(partition)
                if done is None:
                    done = await consumer.committed(partition)
                if done is None:  # nothing committed yet: everything from the start waits
                    done = starts[partition]
                labels = (partition.topic, str(partition.partition))
                self._gauge.labels(*labels).set(max(ends[partition] - done, 0))
                now_reported.add(labels)
        for labels in self._reported - now_reported:
            self._gauge.remove(*labels)
        self._reported = now_reported
