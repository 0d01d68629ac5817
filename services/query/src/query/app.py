"""The query service's app factory: resources opened and closed in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.static_files import create_static_files_router
from redis.asyncio import Redis

from order_shared.database import create_pool
from query.reflector import OrderReflector
from query.routes import OrderController, healthz, readyz
from query.settings import QuerySettings
from query.store import OrderStore


def create_app(settings: QuerySettings) -> Litestar:
    store = OrderStore(settings.cache_max_entries, settings.cache_ttl_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = create_pool(
            settings.database_url, max_size=settings.database_pool_size, name="query"
        )
        await pool.open(wait=False)
        redis = Redis.from_url(
            settings.redis_url, socket_connect_timeout=5, health_check_interval=10
        )
        reflector = OrderReflector(
            store,
            pool,
            redis,
            resync_interval=settings.resync_interval_seconds,
            list_batch_size=settings.warm_batch_size,
        )
        app.state.pool = pool
        app.state.reflector = reflector
        task = asyncio.create_task(reflector.run(), name="reflector")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await redis.aclose()
            await pool.close()

    return Litestar(
        route_handlers=[
            OrderController,
            healthz,
            readyz,
            create_static_files_router(
                path="/",
                directories=[settings.web_root],
                html_mode=True,
                name="web",
                include_in_schema=False,
            ),
        ],
        lifespan=[lifespan],
        state=State({"store": store}),
        openapi_config=OpenAPIConfig(
            title="Order Service query API", version="1.0.0", path="/schema"
        ),
    )
