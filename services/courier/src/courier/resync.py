"""The periodic resync: every interval, look again at each order that holds a courier or
waits for one, so that an event that never came (or an answer that was stale) is repaired
without waiting for another event about that order."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from psycopg_pool import AsyncConnectionPool

from courier import dispatch_store
from courier.reconcile import Look, Reconciler

log = logging.getLogger(__name__)


class Resync:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        reconciler: Reconciler,
        *,
        interval_seconds: float,
    ) -> None:
        self._pool = pool
        self._reconciler = reconciler
        self._interval_seconds = interval_seconds

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval_seconds)
            if stop.is_set():
                return
            try:
                looked = await self.resync()
            except Exception as error:  # the database is away: the next round tries again
                log.warning("resync failed: %s", error)
            else:
                log.debug("resync looked at %d orders", looked)

    async def resync(self) -> int:
        async with self._pool.connection() as connection:
            order_ids = await dispatch_store.held_order_ids(connection)
        await self._reconciler.reconcile_many([Look(order_id) for order_id in order_ids])
        return len(order_ids)
