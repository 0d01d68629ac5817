"""PostgreSQL for a request: a pooled connection within a few seconds or not at all, and
every way of not reaching the database as one domain error, which the HTTP edge maps to 503.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

# A request waits this long for a pooled connection; then it answers 503 rather than hang.
CONNECTION_TIMEOUT_SECONDS = 3.0


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached, or no pooled connection came in time."""


@contextlib.asynccontextmanager
async def request_connection(pool: AsyncConnectionPool) -> AsyncIterator[AsyncConnection]:
    try:
        async with pool.connection(timeout=CONNECTION_TIMEOUT_SECONDS) as connection:
            yield connection
    except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as error:
        raise DatabaseUnavailable(str(error)) from error
