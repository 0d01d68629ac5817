"""`order-ingestor`: consume `orders`, write PostgreSQL, announce on Redis, serve health."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal

import uvicorn
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from redis.asyncio import Redis
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from ingestor.announcer import ChangeAnnouncer
from ingestor.batch_writer import create_staging_tables
from ingestor.consumer import OrderIngestor
from ingestor.dead_letters import DeadLetterPublisher
from ingestor.health import Readiness, create_health_app
from ingestor.outbox import OutboxRelay
from ingestor.progress import Progress
from ingestor.settings import IngestorSettings
from order_shared.database import create_pool
from order_shared.settings import load_settings
from order_shared.telemetry import configure_logging, configure_tracing
from order_shared.topics import MAX_MESSAGE_BYTES

log = logging.getLogger("ingestor")


async def _start_with_retry(client: AIOKafkaConsumer | AIOKafkaProducer, what: str) -> None:
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(KafkaConnectionError),
        wait=wait_exponential_jitter(initial=0.5, max=10),
        before_sleep=lambda state: log.warning("Kafka unreachable (%s), retrying", what),
    ):
        with attempt:
            await client.start()


async def _watch_database(pool, readiness: Readiness, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            async with pool.connection(timeout=5) as connection:
                await connection.execute("SELECT 1")
            readiness.database_reachable = True
        except Exception:
            readiness.database_reachable = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=5)


async def serve(settings: IngestorSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    progress = Progress(settings.progress_deadline_seconds)
    readiness = Readiness(progress)
    http = uvicorn.Server(
        uvicorn.Config(
            create_health_app(readiness),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            lifespan="off",
        )
    )
    http_task = asyncio.create_task(http.serve())

    pool = create_pool(
        settings.database_url,
        max_size=settings.database_pool_size,
        name="ingestor",
        setup=create_staging_tables,
        session_settings=settings.database_session_settings(),
    )
    await pool.open(wait=False)
    redis = Redis.from_url(
        settings.redis_url, socket_timeout=5, socket_connect_timeout=5, socket_keepalive=True
    )
    producer = AIOKafkaProducer(
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
    # The ingestor subscribes once it runs, with itself as the rebalance listener.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES + 65_536,
        fetch_max_bytes=max(52_428_800, MAX_MESSAGE_BYTES * 2),
    )
    database_task = asyncio.create_task(_watch_database(pool, readiness, stop))
    relay_task: asyncio.Task[None] | None = None
    try:
        await _start_with_retry(producer, "producer")
        await _start_with_retry(consumer, "consumer")
        readiness.consumer_started = True
        log.info("consuming as group %s", settings.consumer_group)
        relay = OutboxRelay(
            pool,
            producer,
            batch_size=settings.outbox_batch_size,
            poll_seconds=settings.outbox_poll_seconds,
        )
        relay_task = asyncio.create_task(relay.run(stop), name="outbox-relay")
        ingestor = OrderIngestor(
            consumer,
            pool,
            DeadLetterPublisher(producer),
            ChangeAnnouncer(redis),
            relay,
            progress,
            batch_max_records=settings.batch_max_records,
            batch_wait_ms=settings.batch_wait_ms,
            max_message_bytes=settings.max_message_bytes,
        )
        await ingestor.run(stop)
    finally:
        stop.set()
        if relay_task is not None:
            await relay_task
        readiness.consumer_started = False
        await consumer.stop()
        await producer.stop()
        await redis.aclose()
        await pool.close()
        await database_task
        http.should_exit = True
        await http_task
        log.info("stopped")


def main() -> None:
    settings = load_settings(IngestorSettings)
    configure_logging(settings.log_level)
    configure_tracing(
        settings.otel_service_name or "ingestor", settings.otel_exporter_otlp_endpoint
    )
    # What is loaded by now lives as long as the process: frozen, it is no longer
    # rescanned by every full collection that a batch's thousands of objects set off.
    gc.freeze()
    uvloop.run(serve(settings))


if __name__ == "__main__":
    main()
