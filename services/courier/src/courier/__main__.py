"""`order-courier`: assign couriers to orders from `order-events`; serve the courier API.

Beside the HTTP server run the Kafka consumer, the retry worker, the resync and the
pruning (each of those two on one replica at a time), a database watch for readiness and
the consumer-lag measure. SIGTERM or SIGINT stops them all at once: the batch in hand is
abandoned uncommitted unless it is done (it is fetched again on restart), status requests
in flight are cancelled, and the process exits 0 well within a pod's grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

import httpx
import uvicorn
import uvloop
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from courier import metrics
from courier.app import create_app
from courier.backlog import watch_backlog
from courier.consumer import OrderEventConsumer
from courier.gateway import OrderGateway
from courier.job_leases import LeasedJob
from courier.metrics import HTTP_DURATIONS
from courier.reconcile import Reconciler
from courier.resync import Resync
from courier.retention import Retention
from courier.retry_queue import RetryPolicy
from courier.retry_worker import RetryWorker
from courier.settings import CourierSettings
from order_shared.batch_consumer import BatchConsumer, create_consumer
from order_shared.consumer_readiness import ConsumerReadiness
from order_shared.database import create_pool, watch_database
from order_shared.progress import Progress
from order_shared.request_durations import TimedRequests
from order_shared.settings import load_settings
from order_shared.stopping import StopRequested
from order_shared.telemetry import configure_logging, configure_tracing
from order_shared.undecodable_batches import UndecodableBatches

log = logging.getLogger("courier")


async def _start_consumer(consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
    """Join the group, waiting out a broker that is away; StopRequested if told to stop."""

    async def wait(seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        if stop.is_set():
            raise StopRequested

    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(KafkaConnectionError),
        wait=wait_exponential_jitter(initial=0.5, max=10),
        sleep=wait,
        before_sleep=lambda state: log.warning("Kafka unreachable, retrying"),
    ):
        with attempt:
            await consumer.start()


async def serve(settings: CourierSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    progress = Progress(settings.progress_deadline_seconds)
    undecodable = UndecodableBatches(metrics.UNDECODABLE_FETCHES)
    readiness = ConsumerReadiness(progress, undecodable)
    pool = create_pool(
        settings.database_url,
        max_size=settings.database_pool_size,
        name="courier",
        session_settings=settings.database_session_settings(),
        # A database that is away is noticed in seconds: batches pause, requests get 503.
        timeout=5.0,
    )
    await pool.open(wait=False)
    client = httpx.AsyncClient(
        base_url=settings.order_gateway_url,
        timeout=settings.gateway_timeout_seconds,
        limits=httpx.Limits(max_connections=settings.gateway_concurrency),
    )
    reconciler = Reconciler(
        pool,
        OrderGateway(client),
        RetryPolicy(
            settings.retry_initial_seconds,
            settings.retry_max_seconds,
            settings.retry_max_attempts,
        ),
        concurrency=settings.gateway_concurrency,
        round_seconds=settings.gateway_round_seconds,
    )
    consumer = create_consumer(settings.kafka_bootstrap_servers, settings.consumer_group)
    kafka = BatchConsumer(
        consumer,
        [settings.order_events_topic],
        progress,
        undecodable,
        metrics.CONSUMER_STAGE_SECONDS,
        batch_max_records=settings.batch_max_records,
        batch_wait_ms=settings.batch_wait_ms,
    )

    async def consume(stop: asyncio.Event) -> None:
        try:
            await _start_consumer(consumer, stop)
        except StopRequested:
            return
        readiness.consumer_started = True
        log.info(
            "consuming %s as group %s; gateway %s",
            settings.order_events_topic,
            settings.consumer_group,
            settings.order_gateway_url,
        )
        try:
            await kafka.run(OrderEventConsumer(kafka, pool, reconciler), stop)
        finally:
            readiness.consumer_started = False

    retries = RetryWorker(pool, reconciler, poll_seconds=settings.retry_poll_seconds)
    # A step of either job (a page) is a round of status requests and a few transactions.
    step_lease_seconds = (
        settings.gateway_round_seconds + 3 * settings.database_statement_timeout_seconds
    )
    resync_job = LeasedJob(
        pool,
        "resync",
        interval_seconds=settings.resync_interval_seconds,
        lease_seconds=step_lease_seconds,
    )
    resync = Resync(pool, reconciler, resync_job)
    prune_job = LeasedJob(
        pool,
        "prune",
        interval_seconds=settings.prune_interval_seconds,
        lease_seconds=step_lease_seconds,
    )
    retention = Retention(pool, prune_job, days=settings.retention_days)
    jobs: dict[str, Callable[[asyncio.Event], Awaitable[None]]] = {
        "database-watch": lambda stop: watch_database(pool, readiness, stop, every_seconds=2),
        "order-events-consumer": consume,
        "backlog": lambda stop: watch_backlog(consumer, kafka.committed_offsets, stop),
        "retry-worker": retries.run,
        "resync": lambda stop: resync_job.run(resync.resync, stop),
        "prune": lambda stop: prune_job.run(retention.prune, stop),
    }
    http = uvicorn.Server(
        uvicorn.Config(
            TimedRequests(create_app(pool, readiness, reconciler), HTTP_DURATIONS),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            # Requests in flight at a stop get this long, within the pod's grace period.
            timeout_graceful_shutdown=5,
        )
    )
    http_task = asyncio.create_task(http.serve(), name="http")
    tasks = [asyncio.create_task(job(stop), name=name) for name, job in jobs.items()]
    try:
        # Until told to stop, or until a task ends by itself, which only a failure does.
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait(
            [stopping, http_task, *tasks], return_when=asyncio.FIRST_COMPLETED
        )
        for task in done - {stopping}:
            if not task.cancelled() and task.exception() is not None:
                log.critical("%s failed; stopping", task.get_name(), exc_info=task.exception())
    finally:
        stop.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        # Leaving the group waits for the broker, which may be away.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(consumer.stop(), timeout=10)
        http.should_exit = True
        await http_task
        await client.aclose()
        await pool.close()
        log.info("stopped")
    if any(isinstance(result, BaseException) for result in results):
        raise SystemExit(1)


def main() -> None:
    settings = load_settings(CourierSettings)
    configure_logging(settings.log_level, settings.log_format)
    # httpx logs every request at INFO: one line per gateway call is noise, not news.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    configure_tracing(settings.otel_service_name or "courier", settings.otel_exporter_otlp_endpoint)
    uvloop.run(serve(settings))


if __name__ == "__main__":
    main()
