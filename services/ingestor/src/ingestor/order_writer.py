"""Transactional write: one batch of accepted orders into PostgreSQL in one transaction.

An order whose content is unchanged is a no-op. A new or changed order gets the next
version and the next number of the global change sequence, taken from the
`change_counter` row inside the transaction: gap-free and in commit order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import AsyncCursor
from psycopg_pool import AsyncConnectionPool

from ingestor.validation import AcceptedOrder


@dataclass(frozen=True, slots=True)
class OrderChange:
    order_uid: str
    version: int
    seq: int
    document: bytes


_LOCK_COUNTER = "SELECT last_seq FROM change_counter FOR UPDATE"
_ADVANCE_COUNTER = "UPDATE change_counter SET last_seq = %s"
_CURRENT_VERSIONS = "SELECT order_uid, version, content_hash FROM orders WHERE order_uid = ANY(%s)"
_UPSERT_ORDER = """
INSERT INTO orders (
    order_uid, track_number, entry, locale, internal_signature, customer_id,
    delivery_service, shardkey, sm_id, date_created, oof_shard,
    version, change_seq, content_hash
) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (order_uid) DO UPDATE SET
    track_number = excluded.track_number, entry = excluded.entry, locale = excluded.locale,
    internal_signature = excluded.internal_signature, customer_id = excluded.customer_id,
    delivery_service = excluded.delivery_service, shardkey = excluded.shardkey,
    sm_id = excluded.sm_id, date_created = excluded.date_created,
    oof_shard = excluded.oof_shard, version = excluded.version,
    change_seq = excluded.change_seq, content_hash = excluded.content_hash,
    updated_at = now()
"""
_UPSERT_DELIVERY = """
INSERT INTO deliveries (order_uid, name, phone, zip, city, address, region, email)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (order_uid) DO UPDATE SET
    name = excluded.name, phone = excluded.phone, zip = excluded.zip, city = excluded.city,
    address = excluded.address, region = excluded.region, email = excluded.email
"""
_UPSERT_PAYMENT = """
INSERT INTO payments (
    order_uid, transaction, request_id, currency, provider, amount, payment_dt, bank,
    delivery_cost, goods_total, custom_fee
) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (order_uid) DO UPDATE SET
    transaction = excluded.transaction, request_id = excluded.request_id,
    currency = excluded.currency, provider = excluded.provider, amount = excluded.amount,
    payment_dt = excluded.payment_dt, bank = excluded.bank,
    delivery_cost = excluded.delivery_cost, goods_total = excluded.goods_total,
    custom_fee = excluded.custom_fee
"""
_DELETE_ITEMS = "DELETE FROM items WHERE order_uid = ANY(%s)"
_COPY_ITEMS = """
COPY items (
    order_uid, position, chrt_id, track_number, price, rid, name, sale, size,
    total_price, nm_id, brand, status
) FROM STDIN
"""


async def write_orders(
    pool: AsyncConnectionPool, batch: Sequence[AcceptedOrder]
) -> list[OrderChange]:
    """Write the batch in one transaction; return the changes it committed, in seq order."""
    if not batch:
        return []
    async with pool.connection() as connection, connection.transaction():
        cursor = connection.cursor()
        # Taking the counter's row lock first serialises writers, so two ingestors can
        # neither deadlock on order rows nor commit sequence numbers out of order.
        await cursor.execute(_LOCK_COUNTER)
        (last_seq,) = await cursor.fetchone()  # type: ignore[misc]
        changed = await _changed_orders(cursor, batch)
        if not changed:
            return []
        changes = [
            OrderChange(accepted.order.order_uid, version, last_seq + offset, accepted.document)
            for offset, (accepted, version) in enumerate(changed, start=1)
        ]
        await cursor.execute(_ADVANCE_COUNTER, (changes[-1].seq,))
        await _write_rows(cursor, [accepted for accepted, _ in changed], changes)
    return changes


async def _changed_orders(
    cursor: AsyncCursor, batch: Sequence[AcceptedOrder]
) -> list[tuple[AcceptedOrder, int]]:
    """The final content of each order that changed, with its new version.

    Messages for one order apply in partition order: each differing content is a new
    version, and the last one is what gets written.
    """
    uids = list({accepted.order.order_uid for accepted in batch})
    await cursor.execute(_CURRENT_VERSIONS, (uids,))
    current: dict[str, tuple[int, bytes]] = {
        uid: (version, bytes(content_hash))
        for uid, version, content_hash in await cursor.fetchall()
    }
    final: dict[str, tuple[AcceptedOrder, int]] = {}
    for accepted in batch:
        uid = accepted.order.order_uid
        version, content_hash = current.get(uid, (0, b""))
        if content_hash == accepted.content_hash:
            continue
        current[uid] = (version + 1, accepted.content_hash)
        final[uid] = (accepted, version + 1)
    return list(final.values())


async def _write_rows(
    cursor: AsyncCursor, orders: Sequence[AcceptedOrder], changes: Sequence[OrderChange]
) -> None:
    documents = [accepted.order for accepted in orders]
    await cursor.executemany(
        _UPSERT_ORDER,
        [
            (
                o.order_uid,
                o.track_number,
                o.entry,
                o.locale,
                o.internal_signature,
                o.customer_id,
                o.delivery_service,
                o.shardkey,
                o.sm_id,
                o.date_created,
                o.oof_shard,
                change.version,
                change.seq,
                accepted.content_hash,
            )
            for o, accepted, change in zip(documents, orders, changes, strict=True)
        ],
    )
    await cursor.executemany(
        _UPSERT_DELIVERY,
        [
            (o.order_uid, d.name, d.phone, d.zip, d.city, d.address, d.region, d.email)
            for o in documents
            for d in (o.delivery,)
        ],
    )
    await cursor.executemany(
        _UPSERT_PAYMENT,
        [
            (
                o.order_uid,
                p.transaction,
                p.request_id,
                p.currency,
                p.provider,
                p.amount,
                p.payment_dt,
                p.bank,
                p.delivery_cost,
                p.goods_total,
                p.custom_fee,
            )
            for o in documents
            for p in (o.payment,)
        ],
    )
    await cursor.execute(_DELETE_ITEMS, ([o.order_uid for o in documents],))
    async with cursor.copy(_COPY_ITEMS) as copy:
        for o in documents:
            for position, i in enumerate(o.items):
                await copy.write_row(
                    (
                        o.order_uid,
                        position,
                        i.chrt_id,
                        i.track_number,
                        i.price,
                        i.rid,
                        i.name,
                        i.sale,
                        i.size,
                        i.total_price,
                        i.nm_id,
                        i.brand,
                        i.status,
                    )
                )
