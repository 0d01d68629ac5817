"""PostgreSQL connection pools: every connection speaks UTC, so dates round-trip with a `Z`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

ConnectionSetup = Callable[[AsyncConnection], Awaitable[None]]


def create_pool(
    database_url: str,
    *,
    min_size: int = 1,
    max_size: int = 4,
    name: str = "orders",
    setup: ConnectionSetup | None = None,
    timeout: float = 30.0,
) -> AsyncConnectionPool:
    """A pool that is not yet open: open it in the service's lifespan with `await pool.open()`.

    `setup` runs once on every new connection, after the time zone is set; `timeout` is how
    long a caller waits for a connection before `PoolTimeout`.
    """

    async def configure(connection: AsyncConnection) -> None:
        await connection.execute("SET TIME ZONE 'UTC'")
        if setup is not None:
            await setup(connection)
        await connection.commit()

    return AsyncConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        timeout=timeout,
        configure=configure,
        kwargs={"application_name": name},
    )
