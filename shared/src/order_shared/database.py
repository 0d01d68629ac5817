"""PostgreSQL connection pools: every connection speaks UTC, so dates round-trip with a `Z`,
and probes its peer with TCP keepalives, so a server or a network that goes silent is
noticed in seconds rather than when TCP gives up hours later."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

ConnectionSetup = Callable[[AsyncConnection], Awaitable[None]]

# libpq's keepalive parameters: idle 10 s, then a probe every 5 s, dead after 3 misses;
# unacknowledged data gives up after 30 s.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def create_pool(
    database_url: str,
    *,
    min_size: int = 1,
    max_size: int = 4,
    name: str = "orders",
    setup: ConnectionSetup | None = None,
    session_settings: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> AsyncConnectionPool:
    """A pool that is not yet open: open it in the service's lifespan with `await pool.open()`.

    `session_settings` are PostgreSQL settings for every session (`lock_timeout`, ...),
    sent when the connection starts. `setup` runs once on every new connection, after the
    time zone is set; `timeout` is how long a caller waits for a connection before
    `PoolTimeout`.
    """

    async def configure(connection: AsyncConnection) -> None:
        await connection.execute("SET TIME ZONE 'UTC'")
        if setup is not None:
            await setup(connection)
        await connection.commit()

    options = " ".join(f"-c {name}={value}" for name, value in (session_settings or {}).items())
    return AsyncConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        timeout=timeout,
        configure=configure,
        kwargs={
            "application_name": name,
            **KEEPALIVES,
            **({"options": options} if options else {}),
        },
    )


class ReportsDatabase(Protocol):
    """A readiness report that says whether PostgreSQL answers."""

    database_reachable: bool


async def watch_database(
    pool: AsyncConnectionPool,
    readiness: ReportsDatabase,
    stop: asyncio.Event,
    *,
    every_seconds: float,
) -> None:
    """Until `stop` is set, ask PostgreSQL `SELECT 1` every `every_seconds` and keep
    `readiness.database_reachable` to whether it answered within 5 s."""
    while not stop.is_set():
        try:
            async with pool.connection(timeout=5) as connection:
                await connection.execute("SELECT 1")
            readiness.database_reachable = True
        except Exception:
            readiness.database_reachable = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_seconds)
