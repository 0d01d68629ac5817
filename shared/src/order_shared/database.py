"""PostgreSQL connection pools: every connection speaks UTC, so dates round-trip with a `Z`,
and probes its peer with TCP keepalives, so a server or a network that goes silent is
noticed in seconds rather than when TCP gives up hours later."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

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
    """A readiness report that says whether PostgreSQL answers, and if not, why."""

    database_reachable: bool
    database_problem: str | None


# How much of a connection failure readiness repeats: libpq lists every host it tried.
_PROBLEM_CHARS = 600


async def connection_problem(pool: AsyncConnectionPool) -> str:
    """Why the pool gets no connection, in libpq's words: a new connection tried as the
    pool would (its connection string and settings), which names each host tried and why
    it was refused (down, or read-only while a standby is being promoted)."""
    try:
        connection = await AsyncConnection.connect(
            pool.conninfo, **{**pool.kwargs, "connect_timeout": 5}
        )
    except Exception as error:
        return " ".join(str(error).split())[:_PROBLEM_CHARS]
    await connection.close()
    return "the pool had no free connection within 5 s, though a new one connects"


async def watch_database(
    pool: AsyncConnectionPool,
    readiness: ReportsDatabase,
    stop: asyncio.Event,
    *,
    every_seconds: float,
) -> None:
    """Until `stop` is set, ask PostgreSQL `SELECT 1` every `every_seconds` and keep
    `readiness.database_reachable` to whether it answered within 5 s, and
    `readiness.database_problem` to why it did not."""
    while not stop.is_set():
        try:
            async with pool.connection(timeout=5) as connection:
                await connection.execute("SELECT 1")
            readiness.database_reachable = True
            readiness.database_problem = None
        except PoolTimeout:
            readiness.database_reachable = False
            readiness.database_problem = await connection_problem(pool)
        except Exception as error:
            readiness.database_reachable = False
            readiness.database_problem = " ".join(str(error).split())[:_PROBLEM_CHARS]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_seconds)
