"""Retention: what the courier keeps of ended orders is pruned once older than
RETENTION_DAYS, a page at a time, by one replica at a time (a `LeasedJob`).

Pruned: `closed_orders` rows (with the order's `applied_versions` row and its delivered
`courier_orders` row), delivered rows on their own, `rejected_order_events` and parked
retries. Never the couriers' delivery counts, which are columns of `couriers`. An ended
order whose status is still being retried keeps its rows until the retry settles.

What pruning forgets: past the retention a replayed event of a pruned order is looked at
as if the order were new, so keep RETENTION_DAYS above the topic's retention (or any
offset reset you might do).
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from courier import dispatch_store
from courier.job_leases import LeasedJob

# Rows deleted per transaction.
PAGE_SIZE = 1000

_CUTOFF = "now() - make_interval(days => %(days)s)"

# Each returns the number of rows of its table it deleted.
_PRUNES = (
    f"""
    WITH old AS (
        DELETE FROM closed_orders WHERE order_id IN (
            SELECT closed.order_id FROM closed_orders closed
             WHERE closed.closed_at < {_CUTOFF}
               AND NOT EXISTS (SELECT FROM courier_retries r WHERE r.order_id = closed.order_id)
             ORDER BY closed.closed_at LIMIT %(page)s)
        RETURNING order_id),
    delivered AS (
        DELETE FROM courier_orders o USING old
         WHERE o.order_id = old.order_id AND o.state = 'delivered'),
    versions AS (DELETE FROM applied_versions v USING old WHERE v.order_id = old.order_id)
    SELECT count(*) FROM old
    """,
    f"""
    WITH old AS (
        DELETE FROM courier_orders WHERE order_id IN (
            SELECT order_id FROM courier_orders
             WHERE state = 'delivered' AND delivered_at < {_CUTOFF}
             ORDER BY delivered_at LIMIT %(page)s)
        RETURNING order_id)
    SELECT count(*) FROM old
    """,
    f"""
    WITH old AS (
        DELETE FROM rejected_order_events WHERE id IN (
            SELECT id FROM rejected_order_events WHERE rejected_at < {_CUTOFF}
             ORDER BY rejected_at LIMIT %(page)s)
        RETURNING id)
    SELECT count(*) FROM old
    """,
    f"""
    WITH old AS (
        DELETE FROM courier_retries WHERE order_id IN (
            SELECT order_id FROM courier_retries WHERE parked_at < {_CUTOFF}
             ORDER BY parked_at LIMIT %(page)s)
        RETURNING order_id)
    SELECT count(*) FROM old
    """,
)


class Retention:
    def __init__(self, pool: AsyncConnectionPool, job: LeasedJob, *, days: int) -> None:
        self._pool = pool
        self._job = job
        self._days = days

    async def prune(self) -> int:
        """Delete what is past retention; return how many rows went."""
        pruned = 0
        for statement in _PRUNES:
            while True:
                async with self._pool.connection() as connection, connection.transaction():
                    # A pruned order must not be half-read by a reconcile meanwhile.
                    await dispatch_store.lock_dispatch(connection)
                    cursor = await connection.execute(
                        statement, {"days": self._days, "page": PAGE_SIZE}
                    )
                    (deleted,) = await cursor.fetchone()
                pruned += deleted
                await self._job.renew()
                if deleted < PAGE_SIZE:
                    break
        return pruned
