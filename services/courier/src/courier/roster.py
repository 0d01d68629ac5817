"""SQL of the couriers as the API sees them: list, read, add, change, statistics, and who
delivers an order. Changes of a courier's status run under the dispatch lock; a courier
made available takes a waiting order afterwards, once the order's status is asked again
(`Reconciler.serve_waiting`)."""

from __future__ import annotations

from typing import Any, TypeVar

import psycopg
from msgspec import UNSET, UnsetType
from psycopg import AsyncConnection

from courier import dispatch_store, retry_queue
from courier.schemas import (
    Assignment,
    Courier,
    CourierChanges,
    CourierDeliveries,
    CourierPage,
    CourierStats,
    NewCourier,
    StatsCursor,
)

T = TypeVar("T")


def _or_none(value: T | UnsetType) -> T | None:
    """A field left out of a change as SQL NULL (the UPDATE keeps the column then)."""
    return None if value is UNSET else value


class CourierNotFound(Exception):
    def __init__(self, courier_id: int) -> None:
        super().__init__(f"no courier with id {courier_id}")


class DuplicatePhone(Exception):
    def __init__(self, phone: str) -> None:
        super().__init__(f"a courier with phone {phone} exists already")


class CourierIsDelivering(Exception):
    def __init__(self, courier_id: int, order_id: str) -> None:
        super().__init__(
            f"courier {courier_id} is delivering order {order_id}: its status changes"
            " when the order is completed or cancelled"
        )


_COURIER_COLUMNS = """
    c.id, c.name, c.phone, c.transport, c.status, c.deliveries, c.idle_since, c.created_at,
    (SELECT o.order_id FROM courier_orders o
      WHERE o.courier_id = c.id AND o.state = 'assigned') AS current_order
"""


def _courier(row: tuple[Any, ...]) -> Courier:
    return Courier(*row)


async def list_couriers(connection: AsyncConnection, after: int | None, limit: int) -> CourierPage:
    cursor = await connection.execute(
        f"SELECT {_COURIER_COLUMNS} FROM couriers c WHERE c.id > %s ORDER BY c.id LIMIT %s",
        (after or 0, limit + 1),
    )
    rows = await cursor.fetchall()
    couriers = [_courier(row) for row in rows[:limit]]
    return CourierPage(couriers, couriers[-1].id if len(rows) > limit else None)


async def read_courier(connection: AsyncConnection, courier_id: int) -> Courier:
    cursor = await connection.execute(
        f"SELECT {_COURIER_COLUMNS} FROM couriers c WHERE c.id = %s", (courier_id,)
    )
    row = await cursor.fetchone()
    if row is None:
        raise CourierNotFound(courier_id)
    return _courier(row)


async def add_courier(connection: AsyncConnection, new: NewCourier) -> Courier:
    """Add a courier."""
    async with connection.transaction():
        await dispatch_store.lock_dispatch(connection)
        try:
            cursor = await connection.execute(
                "INSERT INTO couriers (name, phone, transport, status) VALUES (%s, %s, %s, %s)"
                " RETURNING id",
                (new.name, new.phone, new.transport, new.status),
            )
        except psycopg.errors.UniqueViolation:
            raise DuplicatePhone(new.phone) from None
        (courier_id,) = await cursor.fetchone()
        return await read_courier(connection, courier_id)


async def change_courier(
    connection: AsyncConnection, courier_id: int, changes: CourierChanges
) -> Courier:
    """Change name, transport or status; a busy courier keeps its status until its order
    ends."""
    async with connection.transaction():
        await dispatch_store.lock_dispatch(connection)
        current = await read_courier(connection, courier_id)
        if changes.status is not UNSET and changes.status != current.status:
            if current.current_order is not None:
                raise CourierIsDelivering(courier_id, current.current_order)
            await connection.execute(
                "UPDATE couriers SET status = %s, idle_since = now() WHERE id = %s",
                (changes.status, courier_id),
            )
        await connection.execute(
            "UPDATE couriers SET name = coalesce(%s, name), transport = coalesce(%s, transport),"
            " updated_at = now() WHERE id = %s",
            (_or_none(changes.name), _or_none(changes.transport), courier_id),
        )
        return await read_courier(connection, courier_id)


async def read_stats(
    connection: AsyncConnection, after: StatsCursor | None, limit: int
) -> CourierStats:
    """A page of couriers by completed deliveries (most first, then by id), after
    `after`, with the totals over all couriers."""
    if after is None:
        cursor = await connection.execute(
            "SELECT id, name, status, deliveries FROM couriers"
            " ORDER BY deliveries DESC, id LIMIT %s",
            (limit + 1,),
        )
    else:
        cursor = await connection.execute(
            "SELECT id, name, status, deliveries FROM couriers"
            " WHERE deliveries < %(deliveries)s OR (deliveries = %(deliveries)s AND id > %(id)s)"
            " ORDER BY deliveries DESC, id LIMIT %(limit)s",
            {"deliveries": after.deliveries, "id": after.courier_id, "limit": limit + 1},
        )
    rows = await cursor.fetchall()
    couriers = [CourierDeliveries(*row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = StatsCursor(couriers[-1].completed_deliveries, couriers[-1].id).encode()
    cursor = await connection.execute(
        """
        SELECT count(*) FILTER (WHERE status = 'available'),
               count(*) FILTER (WHERE status = 'busy'),
               count(*) FILTER (WHERE status = 'paused'),
               coalesce(sum(deliveries), 0)::bigint,
               (SELECT count(*) FROM courier_orders WHERE state = 'assigned'),
               (SELECT count(*) FROM waiting_orders)
          FROM couriers
        """
    )
    available, busy, paused, deliveries, assigned, waiting = await cursor.fetchone()
    return CourierStats(
        couriers=couriers,
        next_cursor=next_cursor,
        available=available,
        busy=busy,
        paused=paused,
        assigned_orders=assigned,
        waiting_orders=waiting,
        completed_deliveries=deliveries,
    )


async def read_assignment(connection: AsyncConnection, order_id: str) -> Assignment | None:
    """Who delivers the order, or None if the service has never heard of it."""
    cursor = await connection.execute(
        """
        SELECT o.courier_id, o.state, o.assigned_at, o.delivered_at,
               EXISTS (SELECT FROM waiting_orders WHERE order_id = %(id)s),
               (SELECT status FROM closed_orders WHERE order_id = %(id)s)
          FROM (SELECT 1) AS one
          LEFT JOIN courier_orders o ON o.order_id = %(id)s
        """,
        {"id": order_id},
    )
    courier_id, state, assigned_at, delivered_at, waiting, closed = await cursor.fetchone()
    if courier_id is not None:
        courier = await read_courier(connection, courier_id)
        return Assignment(order_id, state, courier, assigned_at, delivered_at)
    for known, name in ((waiting, "waiting"), (closed, closed)):
        if known:
            return Assignment(order_id, name, None, None, None)
    retry = await retry_queue.read(connection, order_id)
    if retry is not None:
        parked = retry.parked_at is not None
        return Assignment(
            order_id, "parked" if parked else "pending", None, None, None, reason=retry.reason
        )
    return None
