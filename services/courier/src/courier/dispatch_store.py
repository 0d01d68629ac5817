"""SQL of the dispatch tables: `courier_orders`, `waiting_orders`, `closed_orders`, and the
courier columns that assignment moves (status, deliveries, idle time).

Every function runs inside the caller's transaction, after `lock_dispatch`: choosing the
fairest courier and serving the queue oldest first are decisions over all couriers and
all waiting orders, so they are taken one transaction at a time (across replicas too).
A transaction here is a few short statements; couriers are people, not a hot path.
"""

from __future__ import annotations

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
               closed.status, closed.erased_version
          FROM (SELECT 1) AS one
          LEFT JOIN closed_orders closed ON closed.order_id = %(id)s
        """,
        {"id": order_id},
    )
    assignment, waiting, closed, erased_version = await cursor.fetchone()
    return HeldOrder(assignment, waiting, closed, erased_version)


async def assign_or_queue(
    connection: AsyncConnection, order_id: str, order_created_at: datetime
) -> int | None:
    """Give the order the fairest available courier (fewest deliveries, then idle longest);
    with none available, queue it. Returns the courier's id, or None if queued."""
    cursor = await connection.execute(
        "SELECT id FROM couriers WHERE status = 'available'"
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


async def free_courier(connection: AsyncConnection, courier_id: int) -> str | None:
    """A busy courier becomes available and takes the oldest waiting order at once.
    Returns the order it took, if any."""
    await connection.execute(
        "UPDATE couriers SET status = 'available', idle_since = now(), updated_at = now()"
        " WHERE id = %s AND status = 'busy'",
        (courier_id,),
    )
    return await serve_queue(connection, courier_id)


async def serve_queue(connection: AsyncConnection, courier_id: int) -> str | None:
    """If the courier is available and an order waits, give it the oldest one."""
    cursor = await connection.execute(
        """
        DELETE FROM waiting_orders
         WHERE order_id = (SELECT order_id FROM waiting_orders
                            ORDER BY order_created_at, order_id LIMIT 1)
           AND EXISTS (SELECT FROM couriers WHERE id = %s AND status = 'available')
        RETURNING order_id
        """,
        (courier_id,),
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    (order_id,) = row
    await _assign(connection, order_id, courier_id)
    return order_id


async def held_order_ids(connection: AsyncConnection) -> list[str]:
    """Orders a resync must look at again: those holding a courier, and those waiting."""
    cursor = await connection.execute(
        "SELECT order_id FROM courier_orders WHERE state = 'assigned'"
        " UNION ALL SELECT order_id FROM waiting_orders"
    )
    return [order_id for (order_id,) in await cursor.fetchall()]


async def count_waiting(connection: AsyncConnection) -> int:
    cursor = await connection.execute("SELECT count(*) FROM waiting_orders")
    (count,) = await cursor.fetchone()
    return count
