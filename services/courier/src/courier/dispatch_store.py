"""SQL of the dispatch tables: `courier_orders`, `waiting_orders`, `closed_orders`,
`applied_versions`, and the courier columns that assignment moves (status, deliveries,
idle time).

Every function runs inside the caller's transaction, after `lock_dispatch`: choosing the
fairest courier and serving the queue oldest first are decisions over all couriers and
all waiting orders, so they are taken one transaction at a time (across replicas too).
A transaction here is a few short statements; couriers are people, not a hot path.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from psycopg import AsyncConnection

from courier.decisions import HeldOrder

# pg_advisory_xact_lock key: "courier" in ASCII.
_DISPATCH_LOCK = 0x636F7572696572


async def lock_dispatch(connection: AsyncConnection) -> None:
    """Serialize dispatch decisions until the transaction ends."""
    await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_DISPATCH_LOCK,))


async def read_held(connection: AsyncConnection, order_id: str) -> HeldOrder:
    cursor = await connection.execute(
        """
        SELECT (SELECT state FROM courier_orders WHERE order_id = %(id)s),
               EXISTS (SELECT FROM waiting_orders WHERE order_id = %(id)s),
               closed.status, closed.erased_version,
               (SELECT version FROM applied_versions WHERE order_id = %(id)s)
          FROM (SELECT 1) AS one
          LEFT JOIN closed_orders closed ON closed.order_id = %(id)s
        """,
        {"id": order_id},
    )
    assignment, waiting, closed, erased_version, applied_version = await cursor.fetchone()
    return HeldOrder(assignment, waiting, closed, erased_version, applied_version)


async def record_applied_version(connection: AsyncConnection, order_id: str, version: int) -> None:
    """The tables now agree with the order's status at `version` (never moves back)."""
    await connection.execute(
        """
        INSERT INTO applied_versions AS applied (order_id, version) VALUES (%s, %s)
        ON CONFLICT (order_id) DO UPDATE
           SET version = greatest(applied.version, excluded.version), applied_at = now()
        """,
        (order_id, version),
    )


async def assign_or_queue(
    connection: AsyncConnection, order_id: str, order_created_at: datetime
) -> int | None:
    """Give the order the fairest available courier (fewest deliveries, then idle longest)
    if no order waits; else queue it, to be served oldest first (`serve_queue`). Returns
    the courier's id, or None if queued."""
    cursor = await connection.execute(
        "SELECT id FROM couriers"
        " WHERE status = 'available' AND NOT EXISTS (SELECT FROM waiting_orders)"
        " ORDER BY deliveries, idle_since, id LIMIT 1"
    )
    row = await cursor.fetchone()
    if row is None:
        await connection.execute(
            "INSERT INTO waiting_orders (order_id, order_created_at) VALUES (%s, %s)"
            " ON CONFLICT (order_id) DO NOTHING",
            (order_id, order_created_at),
        )
        return None
    (courier_id,) = row
    await _assign(connection, order_id, courier_id)
    return courier_id


async def _assign(connection: AsyncConnection, order_id: str, courier_id: int) -> None:
    await connection.execute(
        "INSERT INTO courier_orders (order_id, courier_id, state) VALUES (%s, %s, 'assigned')",
        (order_id, courier_id),
    )
    await connection.execute(
        "UPDATE couriers SET status = 'busy', updated_at = now() WHERE id = %s", (courier_id,)
    )


async def deliver(connection: AsyncConnection, order_id: str) -> int:
    """The assigned order is completed: it counts once, its courier is free. Returns the
    courier's id."""
    cursor = await connection.execute(
        "UPDATE courier_orders SET state = 'delivered', delivered_at = now()"
        " WHERE order_id = %s AND state = 'assigned' RETURNING courier_id",
        (order_id,),
    )
    (courier_id,) = await cursor.fetchone()
    await connection.execute(
        "UPDATE couriers SET deliveries = deliveries + 1 WHERE id = %s", (courier_id,)
    )
    await close(connection, order_id, "completed")
    await free_courier(connection, courier_id)
    return courier_id


async def release(connection: AsyncConnection, order_id: str) -> int:
    """The assigned order is cancelled: the assignment goes, nothing counts, the courier is
    free. Returns the courier's id."""
    cursor = await connection.execute(
        "DELETE FROM courier_orders WHERE order_id = %s AND state = 'assigned'"
        " RETURNING courier_id",
        (order_id,),
    )
    (courier_id,) = await cursor.fetchone()
    await close(connection, order_id, "cancelled")
    await free_courier(connection, courier_id)
    return courier_id


async def close(connection: AsyncConnection, order_id: str, status: str) -> None:
    """Remember that the order ended, and take it out of the queue if it waited."""
    await connection.execute("DELETE FROM waiting_orders WHERE order_id = %s", (order_id,))
    await connection.execute(
        "INSERT INTO closed_orders (order_id, status) VALUES (%s, %s)"
        " ON CONFLICT (order_id) DO NOTHING",
        (order_id, status),
    )


async def erase(connection: AsyncConnection, order_id: str, version: int) -> int | None:
    """The order was erased at `version`: its courier, if it was delivering it, is free
    (nothing counts; a delivery it completed before still counts), the order leaves the
    queue, and the erasure is remembered. Returns the freed courier's id."""
    cursor = await connection.execute(
        "DELETE FROM courier_orders WHERE order_id = %s RETURNING courier_id, state", (order_id,)
    )
    assignment = await cursor.fetchone()
    await connection.execute("DELETE FROM waiting_orders WHERE order_id = %s", (order_id,))
    await connection.execute(
        """
        INSERT INTO closed_orders (order_id, status, erased_version) VALUES (%s, 'erased', %s)
        ON CONFLICT (order_id) DO UPDATE
           SET status = 'erased', erased_version = excluded.erased_version, closed_at = now()
        """,
        (order_id, version),
    )
    if assignment is None or assignment[1] != "assigned":
        return None
    await free_courier(connection, assignment[0])
    return assignment[0]


async def forget_erasure(connection: AsyncConnection, order_id: str) -> None:
    """The id was sent again after its erasure: a new order, which starts afresh."""
    await connection.execute(
        "DELETE FROM closed_orders WHERE order_id = %s AND status = 'erased'", (order_id,)
    )


async def free_courier(connection: AsyncConnection, courier_id: int) -> None:
    """A busy courier becomes available; it takes a waiting order in `serve_queue`, once
    that order's status is confirmed."""
    await connection.execute(
        "UPDATE couriers SET status = 'available', idle_since = now(), updated_at = now()"
        " WHERE id = %s AND status = 'busy'",
        (courier_id,),
    )


@dataclass(slots=True)
class ServedQueue:
    # (order id, courier id) of each waiting order given a courier.
    assigned: list[tuple[str, int]] = field(default_factory=list)
    # A courier is free and the oldest order it could take has no confirmed status yet:
    # the gateway must be asked about it first.
    unconfirmed_head: bool = False


# The oldest waiting order whose status is not being retried: one with a retry queued
# has news the courier could not learn yet (its cancellation, say), and is not handed out
# until it is learnt.
_OLDEST_SERVABLE = """
SELECT w.order_id FROM waiting_orders w
 WHERE NOT EXISTS (SELECT FROM courier_retries r WHERE r.order_id = w.order_id)
 ORDER BY w.order_created_at, w.order_id
"""


async def serve_queue(connection: AsyncConnection, confirmed: Collection[str]) -> ServedQueue:
    """While a courier is available, give the fairest one the oldest waiting order, as long
    as that order's status was confirmed `created` in this transaction (`confirmed`):
    a freed courier never takes an order whose status was not asked again."""
    served = ServedQueue()
    while True:
        cursor = await connection.execute(
            "SELECT id FROM couriers WHERE status = 'available'"
            " ORDER BY deliveries, idle_since, id LIMIT 1"
        )
        courier = await cursor.fetchone()
        if courier is None:
            return served
        cursor = await connection.execute(_OLDEST_SERVABLE + " LIMIT 1")
        oldest = await cursor.fetchone()
        if oldest is None:
            return served
        (order_id,), (courier_id,) = oldest, courier
        if order_id not in confirmed:
            served.unconfirmed_head = True
            return served
        await connection.execute("DELETE FROM waiting_orders WHERE order_id = %s", (order_id,))
        await _assign(connection, order_id, courier_id)
        served.assigned.append((order_id, courier_id))


async def waiting_to_confirm(connection: AsyncConnection, limit: int) -> list[tuple[str, int]]:
    """The oldest servable waiting orders, as many as couriers are available (at most
    `limit`), each with the version its status was last applied at: to be asked again
    before a courier takes them."""
    cursor = await connection.execute(
        f"""
        SELECT servable.order_id, coalesce(applied.version, 0)
          FROM ({_OLDEST_SERVABLE}
                LIMIT least(%s, (SELECT count(*) FROM couriers WHERE status = 'available'))
               ) AS servable
          LEFT JOIN applied_versions applied USING (order_id)
        """,
        (limit,),
    )
    return [(order_id, version) for order_id, version in await cursor.fetchall()]


async def held_order_ids(connection: AsyncConnection, after: str, limit: int) -> list[str]:
    """A page of the orders a resync looks at again (those holding a courier, and those
    waiting), by id after `after`."""
    cursor = await connection.execute(
        """
        SELECT order_id FROM (
            SELECT order_id FROM courier_orders WHERE state = 'assigned' AND order_id > %(after)s
            UNION ALL
            SELECT order_id FROM waiting_orders WHERE order_id > %(after)s
        ) AS held
        ORDER BY order_id LIMIT %(limit)s
        """,
        {"after": after, "limit": limit},
    )
    return [order_id for (order_id,) in await cursor.fetchall()]


async def count_waiting(connection: AsyncConnection) -> int:
    cursor = await connection.execute("SELECT count(*) FROM waiting_orders")
    (count,) = await cursor.fetchone()
    return count
