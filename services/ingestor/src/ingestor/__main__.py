"""`order-ingestor`: consume `orders`, write PostgreSQL, announce on Redis, serve health.

`serve` opens each resource as one entry of an exit stack, so they close in the reverse
order whatever fails; building each client is kept apart from running the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

import uvicorn
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from psycopg_pool import AsyncConnectionPool
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from ingestor import metrics
from ingestor.announcer import ChangeAnnouncer
from ingestor.backlog import watch_backlog
from ingestor.batch_writer import create_staging_tables
from ingestor.consumer import TOPICS, OrderIngestor
from ingestor.dead_letters import DeadLetterPublisher
from ingestor.health import create_health_app
from ingestor.outbox import OutboxRelay
from ingestor.settings import IngestorSettings
from order_shared.batch_consumer import BatchConsumer, create_consumer
from order_shared.consumer_readiness import ConsumerReadiness
from order_shared.database import create_pool, watch_database
from order_shared.progress import Progress
from order_shared.redis_client import create_redis
from order_shared.settings import load_settings
from order_shared.telemetry import configure_logging, configure_tracing
from order_shared.topics import MAX_MESSAGE_BYTES
from order_shared.undecodable_batches import UndecodableBatches

log = logging.getLogger("ingestor")

KafkaClient = TypeVar("KafkaClient", AIOKafkaConsumer, AIOKafkaProducer)


def build_producer(settings: IngestorSettings) -> AIOKafkaProducer:
    """Dead letters and the outbox relay's events."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        # What the topics take (we create them with this limit): a dead letter that would
        # be larger is refused here, before it takes a sequence number, and is sent
        # truncated. The broker's refusal would leave the idempotent producer's sequence
        # behind, and every later send to that partition would fail.
        max_request_size=MAX_MESSAGE_BYTES,
        # The relay sends hundreds of small events at once: batch them into few requests.
        linger_ms=5,
        max_batch_size=262_144,
    )


def build_pool(settings: IngestorSettings) -> AsyncConnectionPool:
    return create_pool(
        settings.database_url,
        max_size=settings.database_pool_size,
        name="ingestor",
        setup=create_staging_tables,
        session_settings=settings.database_session_settings(),
    )


@contextlib.asynccontextmanager
async def _opened(pool: AsyncConnectionPool) -> AsyncIterator[AsyncConnectionPool]:
    await pool.open(wait=False)
    try:
        yield pool
    finally:
        await pool.close()


@contextlib.asynccontextmanager
async def _started(client: KafkaClient, what: str) -> AsyncIterator[KafkaClient]:
    """The client, started once Kafka answers, stopped on the way out."""
    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(KafkaConnectionError),
            wait=wait_exponential_jitter(initial=0.5, max=10),
            before_sleep=lambda state: log.warning("Kafka unreachable (%s), retrying", what),
        ):
            with attempt:
                await client.start()
        yield client
    finally:
        await client.stop()


@contextlib.asynccontextmanager
async def _running(
    work: Coroutine[Any, Any, None], name: str, stop: asyncio.Event
) -> AsyncIterator[None]:
    """A background task that ends once `stop` is set; on the way out it is set and awaited."""
    task = asyncio.create_task(work, name=name)
    try:
        yield
    finally:
        stop.set()
        await task


@contextlib.asynccontextmanager
async def _health_server(
    readiness: ConsumerReadiness, settings: IngestorSettings
) -> AsyncIterator[None]:
    server = uvicorn.Server(
        uvicorn.Config(
            create_health_app(readiness),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            # Its records go to the root logger, formatted like every other.
            log_config=None,
            lifespan="off",
        )
    )
    task = asyncio.create_task(server.serve(), name="health")
    try:
        yield
    finally:
        server.should_exit = True
        await task


async def serve(settings: IngestorSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    progress = Progress(settings.progress_deadline_seconds)
    undecodable = UndecodableBatches(metrics.UNDECODABLE_FETCHES)
    readiness = ConsumerReadiness(progress, undecodable)

    async with contextlib.AsyncExitStack() as resources:
        await resources.enter_async_context(_health_server(readiness, settings))
        pool = await resources.enter_async_context(_opened(build_pool(settings)))
        await resources.enter_async_context(
            _running(watch_database(pool, readiness, stop, every_seconds=5), "database-watch", stop)
        )
        redis = await resources.enter_async_context(create_redis(settings.redis_url))
        producer = await resources.enter_async_context(
            _started(build_producer(settings), "producer")
        )
        consumer = await resources.enter_async_context(
            _started(
                create_consumer(settings.kafka_bootstrap_servers, settings.consumer_group),
                "consumer",
            )
        )
        readiness.consumer_started = True
        resources.callback(setattr, readiness, "consumer_started", False)
        log.info("consuming as group %s", settings.consumer_group)
        relay = OutboxRelay(
            pool,
            producer,
            batch_size=settings.outbox_batch_size,
            poll_seconds=settings.outbox_poll_seconds,
        )
        await resources.enter_async_context(_running(relay.run(stop), "outbox-relay", stop))
        kafka = BatchConsumer(
            consumer,
            TOPICS,
            progress,
            undecodable,
            metrics.CONSUMER_STAGE_SECONDS,
            batch_max_records=settings.batch_max_records,
            batch_wait_ms=settings.batch_wait_ms,
        )
        ingestor = OrderIngestor(
            kafka,
            pool,
            DeadLetterPublisher(producer),
            ChangeAnnouncer(redis),
            relay,
            max_message_bytes=settings.max_message_bytes,
        )
        await resources.enter_async_context(
            _running(watch_backlog(consumer, kafka.committed_offsets, pool, stop), "backlog", stop)
        )
        await kafka.run(ingestor, stop)
    log.info("stopped")


def main() -> None:
    settings = load_settings(IngestorSettings)
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing(
        settings.otel_service_name or "ingestor", settings.otel_exporter_otlp_endpoint
    )
    # What is loaded by now lives as long as the process: frozen, it is no longer
    # rescanned by every full collection that a batch's thousands of objects set off.
    gc.freeze()
    uvloop.run(serve(settings))


if __name__ == "__main__":
    main()
