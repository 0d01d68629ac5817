"""How far the courier service is behind `order-events`, measured every few seconds for
Prometheus: per partition, the end offset minus the offset the group has committed
(order_shared.consumer_lag). The consumer commits a batch only once each of its orders is
reconciled or durably queued for retry, so lag is the events not yet settled: it grows
while the database is away or a batch is slow, and returns to 0 once all are settled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from courier import metrics
from order_shared.consumer_lag import ConsumerLagReport

log = logging.getLogger(__name__)


async def watch_backlog(
    consumer: AIOKafkaConsumer,
    committed: Callable[[], Mapping[TopicPartition, int]],
    stop: asyncio.Event,
    interval_seconds: float = 5.0,
) -> None:
    """Update the lag gauge until `stop` is set. A failed measure (the broker away) keeps
    the last value and is tried again next time; each is bounded by the interval."""
    lag = ConsumerLagReport(metrics.CONSUMER_LAG)
    while not stop.is_set():
        try:
            # Offsets of partitions this consumer has not committed since it was assigned
            # them are asked of the group: another member may have moved them.
            await asyncio.wait_for(lag.update(consumer, committed()), timeout=interval_seconds)
        except (KafkaError, TimeoutError) as error:
            log.debug("consumer lag not measured: %r", error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
