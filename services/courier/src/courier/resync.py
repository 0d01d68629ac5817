"""The periodic resync: every interval, one replica looks again at each order that holds a
courier or waits for one, a page at a time, so that an event that never came (or an
answer that was stale) is repaired without waiting for another event about that order.
Answers older than what the tables applied change nothing (they are compared under the
dispatch lock), so the resync needs no version of its own to ask for."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from courier import dispatch_store
from courier.job_leases import LeasedJob
from courier.reconcile import Look, Reconciler

# Orders read and looked at per step; the lease is renewed after each.
PAGE_SIZE = 200


class Resync:
    def __init__(self, pool: AsyncConnectionPool, reconciler: Reconciler, job: LeasedJob) -> None:
        self._pool = pool
        self._reconciler = reconciler
        self._job = job

    async def resync(self) -> int:
        """Look at every held order once; return how many there were."""
        after, looked = "", 0
        while True:
            async with self._pool.connection() as connection:
                page = await dispatch_store.held_order_ids(connection, after, PAGE_SIZE)
            if not page:
                return looked
            await self._reconciler.reconcile_many([Look(order_id) for order_id in page])
            looked += len(page)
            after = page[-1]
            await self._job.renew()
