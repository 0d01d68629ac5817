"""Transactional write: one batch of accepted orders and status changes into PostgreSQL in
one transaction, with an outbox row for every change.

An order whose content is unchanged is a no-op; a status it already has is a no-op. A
new order, changed content or a status change each get the next version; each order
that changed gets the next number of the global change sequence, taken from the
`change_counter` row inside the transaction, so numbers are gap-free and in commit order.
A status change for an order not yet seen waits in `pending_status_changes`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka.structs import ConsumerRecord
from psycopg import AsyncConnection, AsyncCursor
from psycopg_pool import AsyncConnectionPool

from ingestor.outbox import COPY_EVENTS
from ingestor.status_transitions import Transition, illegal_transition_reason, transition
from ingestor.validation import AcceptedOrder, AcceptedStatus, Rejection
from order_shared.model import OrderStatus
from order_shared.telemetry import traceparent_of


@dataclass(frozen=True, slots=True)
class OrderChange:
    """What to announce: the order's newest state; no document if only its status changed."""

    order_uid: str
    version: int
    seq: int
    status: OrderStatus
    document: bytes | None
    # The trace of the message that made the last change, carried on to the replicas.
    traceparent: str | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    changes: list[OrderChange]
    rejections: list[Rejection]
    unchanged: int


@dataclass(slots=True)
class _OrderState:
    """One order as the batch leaves it, starting from what PostgreSQL holds."""

    order_uid: str
    exists: bool
    version: int = 0
    status: OrderStatus = "created"
    content_hash: bytes = b""
    date_created: datetime | None = None
    status_changed_at: datetime | None = None
    new_content: AcceptedOrder | None = None
    events: list[tuple[OrderStatus, int]] = field(default_factory=list)
    traceparent: str | None = None

    def record_change(self, record: ConsumerRecord) -> None:
        self.version += 1
        self.events.append((self.status, self.version))
        self.traceparent = traceparent_of(record.headers) or self.traceparent


_LOCK_COUNTER = "SELECT last_seq FROM change_counter FOR UPDATE"
_ADVANCE_COUNTER = "UPDATE change_counter SET last_seq = %s"
_CURRENT_STATES = """
SELECT order_uid, version, status, content_hash, date_created
  FROM orders WHERE order_uid = ANY(%s)
"""
_PENDING_STATUSES = """
SELECT order_uid, status, changed_at FROM pending_status_changes WHERE order_uid = ANY(%s)
"""
_INSERT_PENDING = """
INSERT INTO pending_status_changes (order_uid, status, changed_at) VALUES (%s, %s, %s)
ON CONFLICT (order_uid) DO NOTHING
"""
_DELETE_PENDING = "DELETE FROM pending_status_changes WHERE order_uid = ANY(%s)"
# New content is staged with COPY into temporary tables, then merged with one statement
# per table: far cheaper than a statement per row.
STAGING_TABLES = """
CREATE TEMPORARY TABLE staged_orders (LIKE orders INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
CREATE TEMPORARY TABLE staged_deliveries (LIKE deliveries) ON COMMIT DELETE ROWS;
CREATE TEMPORARY TABLE staged_payments (LIKE payments) ON COMMIT DELETE ROWS;
"""
_COPY_STAGED_ORDERS = """
COPY staged_orders (
    order_uid, track_number, entry, locale, internal_signature, customer_id,
    delivery_service, shardkey, sm_id, date_created, oof_shard,
    status, status_changed_at, version, change_seq, content_hash
) FROM STDIN
"""
_MERGE_ORDERS = """
INSERT INTO orders (
    order_uid, track_number, entry, locale, internal_signature, customer_id,
    delivery_service, shardkey, sm_id, date_created, oof_shard,
    status, status_changed_at, version, change_seq, content_hash
)
SELECT order_uid, track_number, entry, locale, internal_signature, customer_id,
       delivery_service, shardkey, sm_id, date_created, oof_shard,
       status, status_changed_at, version, change_seq, content_hash
  FROM staged_orders
ON CONFLICT (order_uid) DO UPDATE SET
    track_number = excluded.track_number, entry = excluded.entry, locale = excluded.locale,
    internal_signature = excluded.internal_signature, customer_id = excluded.customer_id,
    delivery_service = excluded.delivery_service, shardkey = excluded.shardkey,
    sm_id = excluded.sm_id, date_created = excluded.date_created,
    oof_shard = excluded.oof_shard, status = excluded.status,
    status_changed_at = CASE WHEN orders.status = excluded.status
                             THEN orders.status_changed_at ELSE excluded.status_changed_at END,
    version = excluded.version, change_seq = excluded.change_seq,
    content_hash = excluded.content_hash, updated_at = now()
"""
_UPDATE_STATUS = """
UPDATE orders SET status = %s, status_changed_at = %s, version = %s, change_seq = %s,
                  updated_at = now()
 WHERE order_uid = %s
"""
_COPY_STAGED_DELIVERIES = """
COPY staged_deliveries (order_uid, name, phone, zip, city, address, region, email) FROM STDIN
"""
_MERGE_DELIVERIES = """
INSERT INTO deliveries SELECT * FROM staged_deliveries
ON CONFLICT (order_uid) DO UPDATE SET
    name = excluded.name, phone = excluded.phone, zip = excluded.zip, city = excluded.city,
    address = excluded.address, region = excluded.region, email = excluded.email
"""
_COPY_STAGED_PAYMENTS = """
COPY staged_payments (
    order_uid, transaction, request_id, currency, provider, amount, payment_dt, bank,
    delivery_cost, goods_total, custom_fee
) FROM STDIN
"""
_MERGE_PAYMENTS = """
INSERT INTO payments SELECT * FROM staged_payments
ON CONFLICT (order_uid) DO UPDATE SET
    transaction = excluded.transaction, request_id = excluded.request_id,
    currency = excluded.currency, provider = excluded.provider, amount = excluded.amount,
    payment_dt = excluded.payment_dt, bank = excluded.bank,
    delivery_cost = excluded.delivery_cost, goods_total = excluded.goods_total,
    custom_fee = excluded.custom_fee
"""
_DELETE_REPLACED_ITEMS = """
DELETE FROM items WHERE order_uid IN (SELECT order_uid FROM staged_orders)
"""
_COPY_ITEMS = """
COPY items (
    order_uid, position, chrt_id, track_number, price, rid, name, sale, size,
    total_price, nm_id, brand, status
) FROM STDIN
"""


async def create_staging_tables(connection: AsyncConnection) -> None:
    """Run once on each new connection of the ingestor's pool."""
    await connection.execute(STAGING_TABLES)


async def write_batch(
    pool: AsyncConnectionPool,
    orders: Sequence[AcceptedOrder],
    statuses: Sequence[AcceptedStatus] = (),
) -> WriteResult:
    """Write the batch in one transaction and return what it committed and refused.

    Orders are applied before status changes, each in partition order: a status that
    arrives in the same batch as its order finds the order there.
    """
    if not orders and not statuses:
        return WriteResult([], [], 0)
    async with pool.connection() as connection, connection.transaction():
        cursor = connection.cursor()
        # Taking the counter's row lock first serialises writers, so two ingestors can
        # neither deadlock on order rows nor commit sequence numbers out of order.
        await cursor.execute(_LOCK_COUNTER)
        (last_seq,) = await cursor.fetchone()  # type: ignore[misc]
        batch = _Batch(await _load_states(cursor, orders, statuses))
        unchanged = batch.apply_orders(orders)
        batch.apply_statuses(statuses)
        changed = [state for state in batch.states.values() if state.events]
        changes = [
            OrderChange(
                state.order_uid,
                state.version,
                last_seq + offset,
                state.status,
                state.new_content.document if state.new_content else None,
                state.traceparent,
            )
            for offset, state in enumerate(changed, start=1)
        ]
        if changes:
            await cursor.execute(_ADVANCE_COUNTER, (changes[-1].seq,))
        await _write_orders(cursor, changed, changes)
        await _write_pending(cursor, batch)
        await _copy_rows(
            cursor,
            COPY_EVENTS,
            (
                (state.order_uid, status, state.date_created, version)
                for state in changed
                for status, version in state.events
            ),
        )
    return WriteResult(changes, batch.rejections, unchanged)


async def _load_states(
    cursor: AsyncCursor, orders: Sequence[AcceptedOrder], statuses: Sequence[AcceptedStatus]
) -> tuple[dict[str, _OrderState], dict[str, tuple[OrderStatus, datetime]]]:
    uids = list(
        {accepted.order.order_uid for accepted in orders}
        | {accepted.change.order_uid for accepted in statuses}
    )
    await cursor.execute(_CURRENT_STATES, (uids,))
    states = {
        uid: _OrderState(uid, True, version, status, bytes(content_hash), date_created)
        for uid, version, status, content_hash, date_created in await cursor.fetchall()
    }
    await cursor.execute(_PENDING_STATUSES, (uids,))
    pending = {uid: (status, changed_at) for uid, status, changed_at in await cursor.fetchall()}
    return states, pending


class _Batch:
    """The batch's effect on each order, computed in memory before anything is written."""

    def __init__(
        self, loaded: tuple[dict[str, _OrderState], dict[str, tuple[OrderStatus, datetime]]]
    ) -> None:
        self.states, self.pending = loaded
        self.new_pending: list[tuple[str, OrderStatus, datetime]] = []
        self.consumed_pending: list[str] = []
        self.rejections: list[Rejection] = []

    def apply_orders(self, orders: Sequence[AcceptedOrder]) -> int:
        unchanged = 0
        for accepted in orders:
            uid = accepted.order.order_uid
            state = self.states.setdefault(uid, _OrderState(uid, exists=False))
            if state.content_hash == accepted.content_hash:
                unchanged += 1
                continue
            is_new = not state.exists and state.new_content is None
            state.content_hash = accepted.content_hash
            state.date_created = accepted.order.date_created
            state.new_content = accepted
            state.record_change(accepted.record)
            if is_new and uid in self.pending:
                state.status, state.status_changed_at = self.pending.pop(uid)
                state.record_change(accepted.record)
                self.consumed_pending.append(uid)
        return unchanged

    def apply_statuses(self, statuses: Sequence[AcceptedStatus]) -> None:
        for accepted in statuses:
            change = accepted.change
            state = self.states.get(change.order_uid)
            if state is None:
                self._hold_until_the_order_arrives(accepted)
                continue
            outcome = transition(state.status, change.status)
            if outcome is Transition.APPLY:
                state.status = change.status
                state.status_changed_at = change.changed_at
                state.record_change(accepted.record)
            elif outcome is Transition.ILLEGAL:
                self.rejections.append(
                    Rejection(
                        accepted.record,
                        "IllegalStatusTransition",
                        illegal_transition_reason(change.order_uid, state.status, change.status),
                    )
                )

    def _hold_until_the_order_arrives(self, accepted: AcceptedStatus) -> None:
        change = accepted.change
        held = self.pending.get(change.order_uid)
        if held is None:
            self.pending[change.order_uid] = (change.status, change.changed_at)
            self.new_pending.append((change.order_uid, change.status, change.changed_at))
        elif held[0] != change.status:
            self.rejections.append(
                Rejection(
                    accepted.record,
                    "IllegalStatusTransition",
                    f"order {change.order_uid} is not ingested yet and is already to become "
                    f"{held[0]}; it cannot also become {change.status}",
                )
            )


async def _copy_rows(cursor: AsyncCursor, statement: str, rows: Iterable[Sequence[Any]]) -> None:
    async with cursor.copy(statement) as copy:
        for row in rows:
            await copy.write_row(row)


async def _write_orders(
    cursor: AsyncCursor, changed: Sequence[_OrderState], changes: Sequence[OrderChange]
) -> None:
    with_content = [
        (state, state.new_content, change)
        for state, change in zip(changed, changes, strict=True)
        if state.new_content is not None
    ]
    status_only = [
        (state, change)
        for state, change in zip(changed, changes, strict=True)
        if state.new_content is None
    ]
    if status_only:
        await cursor.executemany(
            _UPDATE_STATUS,
            [
                (state.status, state.status_changed_at, change.version, change.seq, state.order_uid)
                for state, change in status_only
            ],
        )
    if not with_content:
        return
    await _copy_rows(
        cursor,
        _COPY_STAGED_ORDERS,
        (
            (
                o.order_uid, o.track_number, o.entry, o.locale, o.internal_signature,
                o.customer_id, o.delivery_service, o.shardkey, o.sm_id, o.date_created,
                o.oof_shard, state.status, state.status_changed_at or now, change.version,
                change.seq, accepted.content_hash,
            )
            for now in (datetime.now(UTC),)
            for state, accepted, change in with_content
            for o in (accepted.order,)
        ),
    )  # fmt: skip
    await cursor.execute(_MERGE_ORDERS)
    documents = [accepted.order for _, accepted, _ in with_content]
    await _copy_rows(
        cursor,
        _COPY_STAGED_DELIVERIES,
        (
            (o.order_uid, d.name, d.phone, d.zip, d.city, d.address, d.region, d.email)
            for o in documents
            for d in (o.delivery,)
        ),
    )
    await cursor.execute(_MERGE_DELIVERIES)
    await _copy_rows(
        cursor,
        _COPY_STAGED_PAYMENTS,
        (
            (
                o.order_uid, p.transaction, p.request_id, p.currency, p.provider, p.amount,
                p.payment_dt, p.bank, p.delivery_cost, p.goods_total, p.custom_fee,
            )
            for o in documents
            for p in (o.payment,)
        ),
    )  # fmt: skip
    await cursor.execute(_MERGE_PAYMENTS)
    await cursor.execute(_DELETE_REPLACED_ITEMS)
    await _copy_rows(
        cursor,
        _COPY_ITEMS,
        (
            (
                o.order_uid, position, i.chrt_id, i.track_number, i.price, i.rid, i.name,
                i.sale, i.size, i.total_price, i.nm_id, i.brand, i.status,
            )
            for o in documents
            for position, i in enumerate(o.items)
        ),
    )  # fmt: skip


async def _write_pending(cursor: AsyncCursor, batch: _Batch) -> None:
    if batch.new_pending:
        await cursor.executemany(_INSERT_PENDING, batch.new_pending)
    if batch.consumed_pending:
        await cursor.execute(_DELETE_PENDING, (batch.consumed_pending,))
