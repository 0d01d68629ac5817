"""Takes the orders of the retry queue when they are due and looks at them again. An order
that still has no usable answer goes back in the queue with a longer wait."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from psycopg_pool import AsyncConnectionPool

from courier import dispatch_store, metrics, retry_queue
from courier.reconcile import Look, Reconciler

log = logging.getLogger(__name__)

_CLAIM_LIMIT = 100


class RetryWorker:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        reconciler: Reconciler,
        *,
        poll_seconds: float,
        lease_seconds: float,
    ) -> None:
        self._pool = pool
        self._reconciler = reconciler
        self._poll_seconds = poll_seconds
        self._lease_seconds = lease_seconds

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                retried = await self.retry_due()
                await self._refresh_gauges()
            except Exception as error:  # the database is away: try again next round
                log.warning("retry round failed: %s", error)
                retried = 0
            if retried < _CLAIM_LIMIT:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._poll_seconds)

    async def retry_due(self) -> int:
        """Look again at the orders that are due; return how many there were."""
        async with self._pool.connection() as connection:
            due = await retry_queue.claim_due(connection, _CLAIM_LIMIT, self._lease_seconds)
        await self._reconciler.reconcile_many(
            [Look(retry.order_id, retry.min_version) for retry in due]
        )
        return len(due)

    async def _refresh_gauges(self) -> None:
        """The queues' sizes, read while the worker is at the queue anyway."""
        async with self._pool.connection() as connection:
            metrics.RETRY_QUEUE.set(await retry_queue.count(connection))
            metrics.WAITING_ORDERS.set(await dispatch_store.count_waiting(connection))
