"""PostgreSQL connection pools: every connection speaks UTC, so dates round-trip with a `Z`."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool


async def _use_utc(connection: AsyncConnection) -> None:
    await connection.execute("SET TIME ZONE 'UTC'")
    await connection.commit()


def create_pool(
    database_url: str, *, min_size: int = 1, max_size: int = 4, name: str = "orders"
) -> AsyncConnectionPool:
    """A pool that is not yet open: open it in the service's lifespan with `await pool.open()`."""
    return AsyncConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        configure=_use_utc,
        kwargs={"application_name": name},
    )
