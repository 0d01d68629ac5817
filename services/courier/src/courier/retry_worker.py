"""Takes the orders of the retry queue when they are due and looks at them again; an order
that still has no usable answer goes back in the queue with a longer wait, or is parked.
Each round also lets free couriers take waiting orders (asked about first), which covers a
courier freed by a replica that could not ask at the time.

A round claims its orders with a lease longer than the round can last: its status
requests have the reconciler's deadline, and the round as a whole is given up (its
orders come back when the lease ends) if its database work outlasts the margin. So no
other replica takes the same orders meanwhile, and no attempt is counted twice.
"""

from __future__ import annotations

import asyncio
import logging

from psycopg_pool import AsyncConnectionPool

from courier import dispatch_store, metrics, retry_queue
from courier.reconcile import Look, Reconciler
from order_shared.stopping import StopRequested, sleep_unless_stopped, unless_stopped

log = logging.getLogger(__name__)

_CLAIM_LIMIT = 100
# What a round may take beyond its status requests: claiming, and settling or queueing up
# to _CLAIM_LIMIT orders in two transactions.
_DATABASE_MARGIN_SECONDS = 20.0
# How much longer than a round a lease is.
_LEASE_MARGIN_SECONDS = 10.0


class RetryWorker:
    def __init__(
        self, pool: AsyncConnectionPool, reconciler: Reconciler, *, poll_seconds: float
    ) -> None:
        self._pool = pool
        self._reconciler = reconciler
        self._poll_seconds = poll_seconds
        self.round_limit_seconds = reconciler.round_seconds + _DATABASE_MARGIN_SECONDS
        self.lease_seconds = self.round_limit_seconds + _LEASE_MARGIN_SECONDS

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                retried = await unless_stopped(self._round(), stop)
            except StopRequested:
                return
            except Exception as error:  # the database is away: try again next round
                log.warning("retry round failed: %r", error)
                retried = 0
            if retried < _CLAIM_LIMIT:
                await sleep_unless_stopped(self._poll_seconds, stop)

    async def _round(self) -> int:
        """Retry what is due, serve the queue; return how many orders were retried."""
        deadline = asyncio.get_running_loop().time() + self._reconciler.round_seconds
        async with asyncio.timeout(self.round_limit_seconds):
            async with self._pool.connection() as connection:
                due = await retry_queue.claim_due(connection, _CLAIM_LIMIT, self.lease_seconds)
            await self._reconciler.reconcile_many(
                [Look(retry.order_id, retry.min_version) for retry in due], deadline=deadline
            )
            await self._reconciler.serve_waiting(deadline)
        await self._refresh_gauges()
        return len(due)

    async def _refresh_gauges(self) -> None:
        """The queues' sizes, read while the worker is at the queue anyway."""
        async with self._pool.connection() as connection:
            queued, parked = await retry_queue.count(connection)
            metrics.RETRY_QUEUE.set(queued)
            metrics.PARKED_ORDERS.set(parked)
            metrics.WAITING_ORDERS.set(await dispatch_store.count_waiting(connection))
