"""Reads orders back out of PostgreSQL as ready-to-send JSON: one order on a miss, every
order on a list, and what changed since a sequence number on a resync.

All three run the same join, ordered by change sequence and item position, so an
order's rows arrive together and are folded into one document as they stream in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from order_shared.model import Delivery, Item, Order, Payment, encode_order
from query.store import CachedOrder

Row = Sequence[Any]

_ORDER_ROWS = sql.SQL("""
SELECT o.order_uid, o.track_number, o.entry, o.locale, o.internal_signature, o.customer_id,
       o.delivery_service, o.shardkey, o.sm_id, o.date_created, o.oof_shard,
       o.version, o.change_seq,
       d.name, d.phone, d.zip, d.city, d.address, d.region, d.email,
       p.transaction, p.request_id, p.currency, p.provider, p.amount, p.payment_dt, p.bank,
       p.delivery_cost, p.goods_total, p.custom_fee,
       i.chrt_id, i.track_number, i.price, i.rid, i.name, i.sale, i.size, i.total_price,
       i.nm_id, i.brand, i.status
  FROM orders o
  JOIN deliveries d USING (order_uid)
  JOIN payments p USING (order_uid)
  JOIN items i USING (order_uid)
 WHERE {condition}
 ORDER BY o.change_seq, i.position
""")
_BY_ID = _ORDER_ROWS.format(condition=sql.SQL("o.order_uid = %s"))
_CHANGED_SINCE = _ORDER_ROWS.format(condition=sql.SQL("o.change_seq > %s"))
_LAST_SEQ = "SELECT last_seq FROM change_counter"
# Both the high-water mark and the rows must come from one snapshot.
_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


def _order_from_rows(rows: Sequence[Row]) -> tuple[str, CachedOrder]:
    first = rows[0]
    order = Order(
        order_uid=first[0],
        track_number=first[1],
        entry=first[2],
        delivery=Delivery(*first[13:20]),
        payment=Payment(*first[20:30]),
        items=[Item(*row[30:41]) for row in rows],
        locale=first[3],
        internal_signature=first[4],
        customer_id=first[5],
        delivery_service=first[6],
        shardkey=first[7],
        sm_id=first[8],
        date_created=first[9],
        oof_shard=first[10],
    )
    return first[0], CachedOrder(version=first[11], seq=first[12], body=encode_order(order))


async def _fold_orders(rows: AsyncIterator[Row]) -> AsyncIterator[tuple[str, CachedOrder]]:
    pending: list[Row] = []
    async for row in rows:
        if pending and row[0] != pending[0][0]:
            yield _order_from_rows(pending)
            pending = []
        pending.append(row)
    if pending:
        yield _order_from_rows(pending)


async def read_order(pool: AsyncConnectionPool, order_uid: str) -> CachedOrder | None:
    async with pool.connection() as connection:
        cursor = await connection.execute(_BY_ID, (order_uid,))
        rows = await cursor.fetchall()
    return _order_from_rows(rows)[1] if rows else None


async def stream_orders(
    connection: AsyncConnection, since_seq: int, batch_size: int
) -> tuple[int, AsyncIterator[tuple[str, CachedOrder]]]:
    """Every order changed after `since_seq` (0: all), and the snapshot's last sequence.

    Call inside a transaction on `connection`; rows stream through a server-side cursor.
    """
    await connection.execute(_SNAPSHOT)
    cursor = await connection.execute(_LAST_SEQ)
    (last_seq,) = await cursor.fetchone()  # type: ignore[misc]
    server_cursor = connection.cursor(name="orders_stream")
    server_cursor.itersize = batch_size
    await server_cursor.execute(_CHANGED_SINCE, (since_seq,))
    return last_seq, _fold_orders(aiter(server_cursor))
