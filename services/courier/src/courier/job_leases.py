"""Periodic jobs that one replica runs at a time (the resync, pruning), through a lease
per job in `courier_job_leases`.

A replica that finds a job's lease run out takes it, renews it while it works (each
renewal good for `lease_seconds`, longer than one step of the job can take), and when it
is done holds it until the next run is due. So the job runs about once per interval
however many replicas there are, and a holder that dies is replaced once its lease ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable

from psycopg_pool import AsyncConnectionPool

from order_shared.stopping import StopRequested, sleep_unless_stopped, unless_stopped

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another replica took the job: this one's lease had run out."""


class LeasedJob:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        name: str,
        *,
        interval_seconds: float,
        lease_seconds: float,
    ) -> None:
        self._pool = pool
        self.name = name
        self._interval_seconds = interval_seconds
        self._lease_seconds = lease_seconds
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def run(self, work: Callable[[], Awaitable[int]], stop: asyncio.Event) -> None:
        """Every interval, run `work` if no other replica is running it or ran it within
        the interval. `work` returns how many things it did (logged) and calls `renew`
        between its steps."""
        while not stop.is_set():
            await sleep_unless_stopped(self._interval_seconds, stop)
            if stop.is_set():
                return
            try:
                if not await self._claim():
                    continue
                done = await unless_stopped(work(), stop)
                await self._hold_until_next_run()
            except StopRequested:
                return
            except LeaseLost:
                log.warning("%s: lease lost to another replica mid-run", self.name)
            except Exception as error:  # the database away: the next round tries again
                log.warning("%s failed: %r", self.name, error)
            else:
                log.debug("%s: %d done", self.name, done)

    async def renew(self) -> None:
        """Keep the lease for another `lease_seconds`; LeaseLost if it is not ours now."""
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                "UPDATE courier_job_leases SET held_until = now() + make_interval(secs => %s)"
                " WHERE job = %s AND holder = %s RETURNING job",
                (self._lease_seconds, self.name, self._holder),
            )
            if await cursor.fetchone() is None:
                raise LeaseLost

    async def _claim(self) -> bool:
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                """
                INSERT INTO courier_job_leases AS lease (job, holder, held_until)
                VALUES (%(job)s, %(holder)s, now() + make_interval(secs => %(lease)s))
                ON CONFLICT (job) DO UPDATE
                   SET holder = excluded.holder, held_until = excluded.held_until
                 WHERE lease.held_until <= now()
                RETURNING job
                """,
                {"job": self.name, "holder": self._holder, "lease": self._lease_seconds},
            )
            return await cursor.fetchone() is not None

    async def _hold_until_next_run(self) -> None:
        # A little short of the interval, so that whichever replica ticks next takes it.
        async with self._pool.connection() as connection:
            await connection.execute(
                "UPDATE courier_job_leases SET held_until = now() + make_interval(secs => %s)"
                " WHERE job = %s AND holder = %s",
                (self._interval_seconds * 0.9, self.name, self._holder),
            )
