"""The courier service's app factory: the HTTP API, and in its lifespan the Kafka consumer,
the retry worker, the resync and the database watch, all stopped cleanly on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import psycopg
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError
from litestar import Litestar, MediaType, Request, Response
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from courier.consumer import OrderEventConsumer, StopRequested
from courier.gateway import OrderGateway
from courier.health import Readiness, healthz, prometheus_metrics, readyz
from courier.reconcile import Reconciler
from courier.resync import Resync
from courier.retry_queue import Backoff
from courier.retry_worker import RetryWorker
from courier.roster import CourierIsDelivering, CourierNotFound, DuplicatePhone
from courier.routes import CourierController, get_assignment
from courier.settings import CourierSettings
from order_shared.database import create_pool

log = logging.getLogger("courier")


def _error(status_code: int, detail: str) -> Response[dict[str, object]]:
    return Response(
        {"status_code": status_code, "detail": detail},
        status_code=status_code,
        media_type=MediaType.JSON,
    )


def _not_found(request: Request, error: CourierNotFound) -> Response[dict[str, object]]:
    return _error(404, str(error))


def _conflict(
    request: Request, error: DuplicatePhone | CourierIsDelivering
) -> Response[dict[str, object]]:
    return _error(409, str(error))


def _database_unavailable(request: Request, error: Exception) -> Response[dict[str, object]]:
    response = _error(503, "the courier database is unavailable; try again shortly")
    response.headers["retry-after"] = "1"
    return response


async def _start_consumer(consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
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


async def _watch_database(
    pool: AsyncConnectionPool, readiness: Readiness, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            async with pool.connection(timeout=5) as connection:
                await connection.execute("SELECT 1")
            readiness.database_reachable = True
        except Exception:
            readiness.database_reachable = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=2)


def _stop_process_if_failed(task: asyncio.Task[None]) -> None:
    """A background task that dies leaves a service that looks alive and does nothing:
    stop the process instead, so its supervisor restarts it."""
    if task.cancelled() or task.exception() is None:
        return
    log.critical("%s failed; stopping", task.get_name(), exc_info=task.exception())
    os.kill(os.getpid(), signal.SIGTERM)


def create_app(settings: CourierSettings) -> Litestar:
    readiness = Readiness()
    pool = create_pool(settings.database_url, max_size=settings.database_pool_size, name="courier")
    client = httpx.AsyncClient(
        base_url=settings.order_gateway_url,
        timeout=settings.gateway_timeout_seconds,
        limits=httpx.Limits(max_connections=settings.gateway_concurrency * 2),
    )
    reconciler = Reconciler(
        pool,
        OrderGateway(client),
        Backoff(settings.retry_initial_seconds, settings.retry_max_seconds),
        concurrency=settings.gateway_concurrency,
    )
    retries = RetryWorker(
        pool,
        reconciler,
        poll_seconds=settings.retry_poll_seconds,
        # Long enough for every reconcile of a round to finish or time out.
        lease_seconds=max(10.0, settings.gateway_timeout_seconds * 4),
    )
    resync = Resync(
        pool,
        reconciler,
        interval_seconds=settings.resync_interval_seconds,
    )

    async def consume(stop: asyncio.Event) -> None:
        # aiokafka clients belong to the running event loop: made here, not in the factory.
        consumer = AIOKafkaConsumer(
            settings.order_events_topic,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.consumer_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        events = OrderEventConsumer(
            consumer,
            pool,
            reconciler,
            batch_max_records=settings.batch_max_records,
            batch_wait_ms=settings.batch_wait_ms,
            failpoint_pause_before_offset_commit=settings.failpoint_pause_before_offset_commit,
        )
        try:
            await _start_consumer(consumer, stop)
        except StopRequested:
            return
        readiness.consumer_joined = True
        log.info(
            "consuming %s as group %s; gateway %s",
            settings.order_events_topic,
            settings.consumer_group,
            settings.order_gateway_url,
        )
        try:
            await events.run(stop)
        finally:
            readiness.consumer_joined = False
            await consumer.stop()

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        stop = asyncio.Event()
        await pool.open(wait=False)
        jobs: dict[str, Callable[[asyncio.Event], Awaitable[None]]] = {
            "database-watch": lambda stop: _watch_database(pool, readiness, stop),
            "order-events-consumer": consume,
            "retry-worker": retries.run,
            "resync": resync.run,
        }
        tasks = [asyncio.create_task(job(stop), name=name) for name, job in jobs.items()]
        for task in tasks:
            task.add_done_callback(_stop_process_if_failed)
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.aclose()
            await pool.close()
            log.info("stopped")

    return Litestar(
        route_handlers=[CourierController, get_assignment, healthz, readyz, prometheus_metrics],
        lifespan=[lifespan],
        exception_handlers={
            CourierNotFound: _not_found,
            DuplicatePhone: _conflict,
            CourierIsDelivering: _conflict,
            PoolTimeout: _database_unavailable,
            psycopg.OperationalError: _database_unavailable,
        },
        state=State({"pool": pool, "readiness": readiness}),
        openapi_config=OpenAPIConfig(
            title="Order Service courier API",
            version="1.0.0",
            description="Couriers, their statistics, and who delivers each order.",
            path="/schema",
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"])],
        ),
    )
