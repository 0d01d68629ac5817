"""The query service's app factory. Building and running are apart: `create_app` builds
the pool, the Redis client and the OrderInformer and wires the routes to them; the
lifespan runs them, each resource one entry of an exit stack, so whatever was started is
stopped in reverse order however the start or the run ends."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from litestar import Litestar, MediaType, Request, Response, head
from litestar.file_system import BaseLocalFileSystem
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.response.file import ASGIFileResponse
from litestar.static_files import StaticFiles, create_static_files_router
from litestar.types import ASGIApp
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from order_shared.database import create_pool
from order_shared.http_tracing import route_tracing
from order_shared.redis_client import create_redis
from order_shared.request_durations import RequestDurations, TimedRequests
from order_shared.telemetry import installed_tracer_provider
from query.commands.bearer import BearerTokens
from query.commands.idempotency import IdempotencyKeys
from query.commands.publisher import CommandPublisher
from query.commands.rate_limit import CommandRateLimit
from query.commands.redis_refusals import RedisRefusals
from query.http.command_openapi import close_order_schemas
from query.http.command_routes import Commands, command_routes
from query.http.hot_path import HotPath
from query.http.hot_path_spans import HotPathSpans
from query.http.idempotent_commands import CommandUnavailable
from query.http.metrics import HitCount, QueryMetrics
from query.http.routes import health_routes, order_routes
from query.http.security_headers import add_security_headers
from query.http.stream_routes import stream_routes
from query.informer.informer import InformerLimits, OrderInformer
from query.request_database import DatabaseUnavailable
from query.settings import QuerySettings
from query.streams.admission import StreamAdmission
from query.streams.assignment_listener import listen_for_assignments
from query.streams.change_feed import FeedLimits, OrderChangeFeed

# Streams end with their last write, or are dropped after the event stream's drain time.
STREAMS_END_WITHIN_SECONDS = 2.0


async def _read_only(connection: AsyncConnection) -> None:
    # The role can only read anyway; this makes a stray write fail loudly here too. Dates
    # load in UTC whatever the server's default: documents are served with UTC dates, and
    # the reader's range guard (order_reader) is stated in UTC.
    await connection.execute("SET default_transaction_read_only = on; SET TimeZone = 'UTC'")


def _page_head(web_root: Path) -> HTTPRouteHandler:
    """HEAD /: Litestar's static files router answers HEAD for files, not for its index
    (and leaves out the type a GET would have; it is set here)."""
    page = StaticFiles(
        is_html_mode=True,
        directories=[web_root],
        file_system=BaseLocalFileSystem(),
        headers={"content-type": "text/html; charset=utf-8"},
    )

    @head("/", name="web/index-head", include_in_schema=False)
    async def page_head() -> ASGIFileResponse:
        return await page.handle(path="/", is_head_response=True)

    return page_head


def _command_unavailable(request: Request, error: CommandUnavailable) -> Response[dict]:
    return Response(
        {"status_code": 503, "detail": f"the command cannot be taken now: {error}"},
        status_code=503,
        media_type=MediaType.JSON,
        headers={"retry-after": "1"},
    )


def _database_unavailable(request: Request, error: DatabaseUnavailable) -> Response[dict]:
    return Response(
        {"status_code": 503, "detail": "the order database is unavailable; try again shortly"},
        status_code=503,
        media_type=MediaType.JSON,
        headers={"retry-after": "1"},
    )


@dataclass(frozen=True)
class Replica:
    """What `build` made: the informer, Litestar with every route, and the app to serve
    (the hot path in front of Litestar, timed)."""

    informer: OrderInformer
    framework: Litestar
    app: ASGIApp


def create_app(settings: QuerySettings) -> ASGIApp:
    return build(settings).app


def build(settings: QuerySettings, *, worker_process: bool = False) -> Replica:
    """The replica; `worker_process`: it runs as one of several granian workers, which
    end their streams on SIGTERM themselves (see `_ending_streams_on_sigterm`)."""
    pool = create_pool(
        settings.database_url,
        max_size=settings.database_pool_size,
        name="query",
        setup=_read_only,
    )
    redis = create_redis(settings.redis_url)
    informer = OrderInformer(
        pool,
        redis,
        InformerLimits(
            max_entries=settings.cache_max_entries,
            max_bytes=settings.cache_max_bytes,
            ttl_seconds=settings.cache_ttl_seconds,
            not_found_ttl_seconds=settings.cache_not_found_ttl_seconds,
            catch_up_interval_seconds=settings.resync_interval_seconds,
            list_batch_size=settings.warm_batch_size,
        ),
        FeedLimits(
            history_size=settings.stream_history_changes,
            buffer_size=settings.stream_buffer_events,
            newest_interval=settings.stream_newest_interval_ms / 1000,
        ),
    )
    admission = StreamAdmission(
        settings.stream_max_streams,
        settings.stream_max_per_address,
        settings.trusted_proxy_networks(),
    )
    hits = HitCount()
    publisher = CommandPublisher(
        settings.kafka_bootstrap_servers, settings.kafka_send_timeout_seconds
    )
    tokens = BearerTokens(settings.bearer_tokens())
    refusals = RedisRefusals()
    commands = Commands(
        informer=informer,
        publisher=publisher,
        keys=IdempotencyKeys(
            redis,
            ttl_seconds=settings.idempotency_ttl_seconds,
            lease_seconds=settings.idempotency_lease_seconds,
            refusals=refusals,
        ),
        tokens=tokens,
        rate_limit=CommandRateLimit(redis, tokens, settings.command_rate_per_minute, refusals),
        max_body_bytes=settings.max_message_bytes,
        max_wait_seconds=settings.command_wait_max_seconds,
    )
    durations = RequestDurations("query_http_request_duration_seconds")
    # Spans only when configure_tracing installed a provider: under the no-op tracer the
    # requests pay for no tracing middleware at all.
    tracing = installed_tracer_provider()
    framework = Litestar(
        # Logging is configured once at start (structlog, JSON); Litestar must not replace it.
        logging_config=None,
        route_handlers=[
            order_routes(informer, pool, command_routes(commands)),
            stream_routes(informer, admission, settings.stream_heartbeat_seconds),
            *health_routes(
                informer, QueryMetrics(informer, hits, durations, refusals, admission), refusals
            ),
            create_static_files_router(
                path="/",
                directories=[settings.web_root],
                html_mode=True,
                name="web",
                include_in_schema=False,
            ),
            _page_head(settings.web_root),
        ],
        lifespan=[
            _running(
                pool,
                redis,
                informer,
                publisher,
                settings.courier_database_url or settings.database_url,
                worker_process,
            )
        ],
        middleware=[route_tracing()] if tracing else [],
        before_send=[add_security_headers],
        exception_handlers={
            DatabaseUnavailable: _database_unavailable,
            CommandUnavailable: _command_unavailable,
        },
        openapi_config=OpenAPIConfig(
            title="Order Service query API",
            version="1.0.0",
            description="Orders served from memory, kept fresh from PostgreSQL and Redis.",
            path="/schema",
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="A token of API_TOKENS; commands only, reads are public.",
                    )
                }
            ),
            # Documents only: an HTML viewer would need third-party scripts, which the
            # Content-Security-Policy of this origin forbids.
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"])],
        ),
    )
    close_order_schemas(framework.openapi_schema)
    spans = HotPathSpans(tracing, settings.traced_hits_per_second) if tracing else None
    timed = TimedRequests(framework, durations)
    return Replica(informer, framework, HotPath(informer.cached, hits, durations, spans, timed))


def _running(
    pool: AsyncConnectionPool,
    redis: Redis,
    informer: OrderInformer,
    publisher: CommandPublisher,
    courier_database_url: str,
    worker_process: bool,
) -> Callable[[Litestar], contextlib.AbstractAsyncContextManager[None]]:
    """The lifespan: open the pool, run the informer, the command publisher and the
    streams' feed; on the way out, the reverse, the streams ended first."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as resources:
            await pool.open(wait=False)
            resources.push_async_callback(pool.close)
            resources.push_async_callback(redis.aclose)
            resources.push_async_callback(_cancel, asyncio.create_task(informer.run()))
            resources.push_async_callback(_cancel, asyncio.create_task(publisher.run()))
            feed = informer.feed
            resources.push_async_callback(_cancel, asyncio.create_task(feed.run()))
            resources.push_async_callback(
                _cancel, asyncio.create_task(listen_for_assignments(courier_database_url, feed))
            )
            resources.callback(feed.close)
            if worker_process:
                _ending_streams_on_sigterm(feed)
            yield

    return lifespan


def _ending_streams_on_sigterm(feed: OrderChangeFeed) -> None:
    """In a granian worker process: granian stops a worker on SIGTERM and then waits for
    its open responses, which streams never end by themselves, and the lifespan's end
    comes only after. So SIGTERM is taken over here: the streams end first, then the
    worker is interrupted with SIGINT, which granian's own handler still takes."""
    loop = asyncio.get_running_loop()
    ending: set[asyncio.Task[None]] = set()

    async def end_then_interrupt() -> None:
        await feed.end_streams(STREAMS_END_WITHIN_SECONDS)
        os.kill(os.getpid(), signal.SIGINT)

    loop.add_signal_handler(
        signal.SIGTERM, lambda: ending.add(loop.create_task(end_then_interrupt()))
    )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
