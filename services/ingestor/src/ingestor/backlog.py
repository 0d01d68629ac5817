"""The work waiting, measured every few seconds for Prometheus: how far the consumer is
behind each partition's end, and how long the oldest unsent outbox event has waited.

Lag is counted as Kafka's own tools count it (order_shared.consumer_lag): the partition's
end offset minus the offset the group has committed, which this ingestor moves only after
a batch is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from psycopg_pool import AsyncConnectionPool

from ingestor import metrics
from order_shared.consumer_lag import ConsumerLagReport

log = logging.getLogger(__name__)

# The first event after the relay's position is the oldest unsent (ids are in commit order).
_OLDEST_UNSENT_AGE = """
SELECT extract(epoch FROM now() - recorded_at)::float8
  FROM order_events
 WHERE id > (SELECT last_sent_id FROM outbox_position)
 ORDER BY id LIMIT 1
"""


async def watch_backlog(
    consumer: AIOKafkaConsumer,
    committed: Callable[[], Mapping[TopicPartition, int]],
    pool: AsyncConnectionPool,
    stop: asyncio.Event,
    interval_seconds: float = 5.0,
) -> None:
    """Update the lag and outbox-age gauges until `stop` is set; a failed measure keeps
    the last value (the server it needs is away) and is tried again next time. Each is
    bounded by the interval, so a broker that does not answer cannot hold up the other."""
    lag = ConsumerLagReport(metrics.CONSUMER_LAG)
    while not stop.is_set():
        try:
            await asyncio.wait_for(lag.update(consumer, committed()), timeout=interval_seconds)
        except (KafkaError, TimeoutError) as error:
            log.debug("consumer lag not measured: %r", error)
        try:
            await asyncio.wait_for(_measure_outbox_age(pool), timeout=interval_seconds)
        except Exception as error:  # the database away: keep the last value
            log.debug("outbox age not measured: %r", error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)


async def _measure_outbox_age(pool: AsyncConnectionPool) -> None:
    async with pool.connection(timeout=5) as connection:
        row = await (await connection.execute(_OLDEST_UNSENT_AGE)).fetchone()
    metrics.OUTBOX_OLDEST_UNSENT_SECONDS.set(0.0 if row is None else max(row[0], 0.0))
