"""Transactional write: one batch of accepted orders and status changes into PostgreSQL in
one transaction, with an outbox row for every change.

An order whose content is unchanged is a no-op; a status it already has is a no-op. A
new order, changed content or a status change each get the next version; each order
that changed gets the next number of the global change sequence, taken from the
`change_counter` row inside the transaction, so numbers are gap-free and in commit order.
A status change for an order not yet seen (or erased) waits in `pending_status_changes`.

An erasure is a boundary in the order's history (README, "Erasing an order"): a status
change whose `changed_at` is not after the erasure (the tombstone's Kafka timestamp, to
the millisecond) belonged to the erased order and never applies to the id sent again; it
is dead-lettered as `OrderErased`, and one waiting in `pending_status_changes` when the
order is erased is dropped (counted). When a batch erases an order and creates it again,
both are announced, in order, each with its own change sequence.

An erasure (a tombstone on `orders`) deletes the order's rows, takes the next version and
change sequence like any change, and is remembered in `erased_orders` with its source
position: the fence then holds against older content as it does for an order that exists,
so no replay can bring the order back. Content at a later offset is a new order whose
versions go on from the erasure's. A tombstone for an order that does not exist (never
seen, or erased already) changes nothing.

Content is fenced by its source position: every order row keeps the partition and offset
of the `orders` record that last changed it, and a record from that partition at or below
that offset is stale (a replay after a crash, or a batch written late by an ingestor that
lost the partition in a rebalance). A stale record changes nothing: no version, no
announcement, no event. Status changes need no fence: the lifecycle only moves forward,
so a replayed status is a repeat.

Dates are read back from PostgreSQL as text and written as text: a stored value that
Python cannot represent must not stop every later batch that touches its order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import msgspec
from aiokafka.structs import ConsumerRecord
from psycopg import AsyncConnection, AsyncCursor
from psycopg_pool import AsyncConnectionPool

from ingestor.order_rows import (
    COPY_DELIVERIES,
    COPY_ITEMS,
    COPY_ORDERS,
    COPY_PAYMENTS,
    ORDER_COLUMNS,
    head_line,
)
from ingestor.outbox import COPY_EVENTS, event_line
from ingestor.records import (
    AcceptedErasure,
    AcceptedOrder,
    AcceptedStatus,
    OrderChange,
    OrderRecord,
    Rejection,
)
from ingestor.status_transitions import Transition, illegal_transition_reason, transition
from order_shared.events import EventStatus
from order_shared.model import OrderStatus
from order_shared.outcomes import Outcome, RecordOutcome, wants_outcome

# The trace context a record's change continues in (its consumer span's), or None.
TraceOf = Callable[[ConsumerRecord], str | None]


def _untraced(record: ConsumerRecord) -> str | None:
    return None


class WriteResult(msgspec.Struct, frozen=True):
    changes: list[OrderChange]
    rejections: list[Rejection]
    unchanged: int
    # Records at or below the source position their order already holds: replays.
    stale: int = 0
    # When the transaction committed (Unix seconds), for the replicas' freshness.
    committed_at: float = 0.0
    # What became of each record that asked for its outcome (header `outcome`).
    outcomes: list[RecordOutcome] = msgspec.field(default_factory=list)
    # Status changes that waited for an order which was then erased: dropped.
    pending_dropped: int = 0


class _OrderState(msgspec.Struct):
    """One order as the batch leaves it, starting from what PostgreSQL holds."""

    order_uid: str
    # Whether PostgreSQL holds the order's rows.
    exists: bool
    version: int = 0
    status: OrderStatus = "created"
    content_hash: bytes = b""
    # Both in PostgreSQL's input syntax; they go back to it as they are.
    date_created: str = ""
    status_changed_at: str | None = None
    # The (partition, offset) of the `orders` record the content came from, if known.
    source: tuple[int, int] | None = None
    new_content: AcceptedOrder | None = None
    # Whether the order exists as the batch has left it so far (an erasure ends that).
    present: bool = False
    # (status, version, traceparent) of each change the batch makes to the order.
    events: list[tuple[EventStatus, int, str | None]] = msgspec.field(default_factory=list)
    traceparent: str | None = None
    # Whether PostgreSQL remembers an erasure of it (then it holds no rows).
    was_erased: bool = False
    # When the id was last erased (the tombstone's timestamp, Unix milliseconds), if ever:
    # a status change at or before it belonged to the erased order.
    erased_at_ms: int | None = None
    # (version, source, traceparent) of each erasure the batch makes: each is announced.
    erasures: list[tuple[int, tuple[int, int], str | None]] = msgspec.field(default_factory=list)

    @property
    def erased(self) -> bool:
        """True if the batch leaves the order erased."""
        return not self.present and bool(self.events)

    def is_stale(self, record: ConsumerRecord) -> bool:
        """True if the content came from this record, or a later one, of its partition.

        Offsets of different partitions say nothing about each other (the topic was
        repartitioned, or a producer keyed it differently): then the newest arrival wins.
        """
        return (
            self.source is not None
            and self.source[0] == record.partition
            and record.offset <= self.source[1]
        )

    def record_change(self, traceparent: str | None, event: EventStatus | None = None) -> None:
        self.version += 1
        self.events.append((event or self.status, self.version, traceparent))
        self.traceparent = traceparent or self.traceparent


_LOCK_COUNTER = "SELECT last_seq FROM change_counter FOR UPDATE"
_ADVANCE_COUNTER = "UPDATE change_counter SET last_seq = %s"
# What PostgreSQL holds of the batch's orders, and the statuses waiting for them.
_CURRENT_STATES = """
SELECT order_uid, version, status, content_hash, date_created::text,
       source_partition, source_offset,
       floor(extract(epoch FROM last_erased_at) * 1000)::bigint
  FROM orders WHERE order_uid = ANY(%s)
"""
_PENDING_STATUSES = """
SELECT order_uid, status, changed_at::text,
       floor(extract(epoch FROM changed_at) * 1000)::bigint
  FROM pending_status_changes
 WHERE order_uid = ANY(%s)
"""
_INSERT_PENDING = """
INSERT INTO pending_status_changes (order_uid, status, changed_at)
VALUES (%s, %s, %s::timestamptz)
ON CONFLICT (order_uid) DO NOTHING
"""
_DELETE_PENDING = "DELETE FROM pending_status_changes WHERE order_uid = ANY(%s)"
# What the batch's ids left behind when they were erased: the version to go on from, and
# the tombstone's position, which fences older content.
_ERASURES = """
SELECT order_uid, version, source_partition, source_offset,
       floor(extract(epoch FROM erased_at) * 1000)::bigint
  FROM erased_orders
 WHERE order_uid = ANY(%s)
"""
# The parts go with the head row (ON DELETE CASCADE).
_DELETE_ERASED = "DELETE FROM orders WHERE order_uid = ANY(%s)"
_REMEMBER_ERASED = """
INSERT INTO erased_orders
       (order_uid, version, change_seq, source_partition, source_offset, erased_at)
VALUES (%s, %s, %s, %s, %s, to_timestamp(%s / 1000.0))
ON CONFLICT (order_uid) DO UPDATE
   SET version = excluded.version, change_seq = excluded.change_seq,
       source_partition = excluded.source_partition, source_offset = excluded.source_offset,
       erased_at = excluded.erased_at
"""
# An order sent again keeps the time of its id's last erasure: the boundary for statuses.
_KEEP_ERASURE_TIME = """
UPDATE orders SET last_erased_at = to_timestamp(%s / 1000.0) WHERE order_uid = %s
"""
_FORGET_ERASED = "DELETE FROM erased_orders WHERE order_uid = ANY(%s)"
# A new order's rows go straight into the tables with COPY. For an order whose content
# changed, its parts are deleted and copied anew, and its head row is updated from a
# temporary staging table: both far cheaper than a statement per row.
STAGING_TABLES = """
CREATE TEMPORARY TABLE staged_orders (LIKE orders INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
"""
_COPY_STAGED_ORDERS = f"COPY staged_orders ({', '.join(ORDER_COLUMNS)}) FROM STDIN"
# Every column from the staged row, but the time of a status the new content leaves as it
# was; the order's identity stays.
_TAKEN_FROM_STAGED = [
    name for name in ORDER_COLUMNS if name not in ("order_uid", "status_changed_at")
]
_UPDATE_FROM_STAGED_ORDERS = f"""
UPDATE orders SET
    {", ".join(f"{name} = s.{name}" for name in _TAKEN_FROM_STAGED)},
    status_changed_at = CASE WHEN orders.status = s.status
                             THEN orders.status_changed_at ELSE s.status_changed_at END,
    updated_at = now()
  FROM staged_orders s
 WHERE orders.order_uid = s.order_uid
"""  # column names from the model's declaration; every value comes from the staged row
_DELETE_REPLACED_PARTS = [
    f"DELETE FROM {table} WHERE order_uid = ANY(%s)"
    for table in ("deliveries", "payments", "items")
]
_UPDATE_STATUS = """
UPDATE orders SET status = %s, status_changed_at = %s::timestamptz, version = %s,
                  change_seq = %s, updated_at = now()
 WHERE order_uid = %s
"""


async def create_staging_tables(connection: AsyncConnection) -> None:
    """Run once on each new connection of the ingestor's pool."""
    await connection.execute(STAGING_TABLES)


async def write_batch(
    pool: AsyncConnectionPool,
    orders: Sequence[OrderRecord],
    statuses: Sequence[AcceptedStatus] = (),
    trace_of: TraceOf = _untraced,
) -> WriteResult:
    """Write the batch in one transaction and return what it committed and refused.

    Orders and erasures are applied before status changes, each in partition order: a
    status that arrives in the same batch as its order finds the order there. Each change
    keeps the trace context `trace_of` gives its record, for its outbox event and
    announcement.
    """
    if not orders and not statuses:
        return WriteResult([], [], 0)
    async with pool.connection() as connection, connection.transaction():
        cursor = connection.cursor()
        # Taking the counter's row lock first serialises writers, so two ingestors can
        # neither deadlock on order rows nor commit sequence numbers out of order.
        await cursor.execute(_LOCK_COUNTER)
        (last_seq,) = await cursor.fetchone()  # type: ignore[misc]
        batch = _Batch(await _load_states(cursor, orders, statuses), trace_of)
        unchanged, stale = batch.apply_orders(orders)
        batch.apply_statuses(statuses)
        changed = [state for state in batch.states.values() if state.events]
        changes = [
            msgspec.structs.replace(change, seq=seq)
            for seq, change in enumerate(
                (change for state in changed for change in _announcements(state)),
                start=last_seq + 1,
            )
        ]
        if changes:
            await cursor.execute(_ADVANCE_COUNTER, (changes[-1].seq,))
        # The change that leaves each order as the batch does: the last of its own.
        final = {change.order_uid: change for change in changes}
        last_changes = [final[state.order_uid] for state in changed]
        await _write_erasures(cursor, changed, last_changes)
        await _write_orders(cursor, changed, last_changes)
        await _write_erasure_times(cursor, changed)
        await _write_pending(cursor, batch)
        await _copy(
            cursor,
            COPY_EVENTS,
            [
                event_line(state.order_uid, status, state.date_created, version, traceparent)
                for state in changed
                for status, version, traceparent in state.events
            ],
        )
    return WriteResult(
        changes,
        batch.rejections,
        unchanged,
        stale,
        time.time(),
        batch.outcomes(changes),
        batch.pending_dropped,
    )


def _announcements(state: _OrderState) -> list[OrderChange]:
    """What to announce of one order, in order, sequence numbers still to be given: each
    erasure the batch made before the order's last change, then that last change. A change
    in between two erasures is not announced (no reader could see it), but the erasures
    are, so that every replica, stream and waiter learns of each."""
    erasures = state.erasures[:-1] if state.erased else state.erasures
    announced = [
        OrderChange(state.order_uid, version, 0, "created", None, traceparent, source, True)
        for version, source, traceparent in erasures
    ]
    announced.append(
        OrderChange(
            state.order_uid,
            state.version,
            0,
            state.status,
            state.new_content.document if state.new_content else None,
            state.traceparent,
            state.source,
            erased=state.erased,
        )
    )
    return announced


def _ms(moment: datetime) -> int:
    """Unix milliseconds, rounded down: the precision of a Kafka timestamp."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def _load_states(
    cursor: AsyncCursor, orders: Sequence[OrderRecord], statuses: Sequence[AcceptedStatus]
) -> tuple[dict[str, _OrderState], dict[str, tuple[OrderStatus, str, int]]]:
    ids = list(
        {accepted.order_uid for accepted in orders}
        | {accepted.change.order_uid for accepted in statuses}
    )
    await cursor.execute(_CURRENT_STATES, (ids,))
    states = {
        uid: _OrderState(
            uid,
            True,
            version,
            status,
            bytes(content_hash),
            date_created,
            source=None if source_partition is None else (source_partition, source_offset),
            present=True,
            erased_at_ms=erased_at_ms,
        )
        for (
            uid,
            version,
            status,
            content_hash,
            date_created,
            source_partition,
            source_offset,
            erased_at_ms,
        ) in await cursor.fetchall()
    }
    await cursor.execute(_ERASURES, ([uid for uid in ids if uid not in states],))
    for uid, version, source_partition, source_offset, erased_at_ms in await cursor.fetchall():
        states[uid] = _OrderState(
            uid,
            False,
            version,
            source=(source_partition, source_offset),
            was_erased=True,
            erased_at_ms=erased_at_ms,
        )
    await cursor.execute(_PENDING_STATUSES, (ids,))
    pending = {
        uid: (status, changed_at, changed_ms)
        for uid, status, changed_at, changed_ms in await cursor.fetchall()
    }
    return states, pending


class _Batch:
    """The batch's effect on each order, computed in memory before anything is written."""

    def __init__(
        self,
        loaded: tuple[dict[str, _OrderState], dict[str, tuple[OrderStatus, str, int]]],
        trace_of: TraceOf,
    ) -> None:
        self.states, self.pending = loaded
        self._trace_of = trace_of
        self.new_pending: list[tuple[str, OrderStatus, str]] = []
        self.consumed_pending: list[str] = []
        self.rejections: list[Rejection] = []
        self.pending_dropped = 0
        # (record, order id, outcome, version, status, reason) of the records that asked.
        self._outcomes: list[
            tuple[ConsumerRecord, str, Outcome, int, OrderStatus | None, str | None]
        ] = []

    def _tell(
        self,
        record: ConsumerRecord,
        state: _OrderState,
        outcome: Outcome,
        *,
        with_state: bool = True,
        reason: str | None = None,
    ) -> None:
        if wants_outcome(record.headers):
            version, status = (state.version, state.status) if with_state else (0, None)
            self._outcomes.append((record, state.order_uid, outcome, version, status, reason))

    def outcomes(self, changes: Sequence[OrderChange]) -> list[RecordOutcome]:
        """Each asked-for outcome, with the sequence of the announcement that carries it:
        the first of its order at or after the version the record left."""
        announced: dict[str, list[OrderChange]] = {}
        for change in changes:
            announced.setdefault(change.order_uid, []).append(change)
        told = []
        for record, uid, outcome, version, status, reason in self._outcomes:
            seq = next(
                (
                    change.seq
                    for change in announced.get(uid, ())
                    if version and change.version >= version
                ),
                0,
            )
            told.append(
                RecordOutcome(
                    uid,
                    record.topic,
                    record.partition,
                    record.offset,
                    outcome,
                    version,
                    status,
                    seq,
                    reason,
                )
            )
        return told

    def apply_orders(self, orders: Sequence[OrderRecord]) -> tuple[int, int]:
        """Apply the batch's order records and erasures in partition order; (unchanged,
        stale) counts. A tombstone for an order that does not exist counts as unchanged."""
        unchanged = stale = 0
        for accepted in orders:
            uid = accepted.order_uid
            record = accepted.record
            state = self.states.setdefault(uid, _OrderState(uid, exists=False))
            if state.is_stale(record):
                stale += 1
                self._tell(record, state, "stale")
                continue
            if type(accepted) is AcceptedErasure:
                if state.present:
                    self._erase(state, record)
                    self._tell(record, state, "erased")
                else:
                    unchanged += 1
                    gone = state.erased_at_ms is not None
                    self._tell(record, state, "gone" if gone else "not_found", with_state=gone)
                continue
            assert type(accepted) is AcceptedOrder
            if state.present and state.content_hash == accepted.content_hash:
                unchanged += 1
                self._tell(record, state, "unchanged")
                continue
            is_new = not state.present
            state.present = True
            state.content_hash = accepted.content_hash
            state.date_created = accepted.order.date_created.isoformat()
            state.source = (record.partition, record.offset)
            state.new_content = accepted
            traceparent = self._trace_of(record)
            state.record_change(traceparent)
            if is_new and uid in self.pending:
                status, changed_at, changed_ms = self.pending.pop(uid)
                self.consumed_pending.append(uid)
                if state.erased_at_ms is not None and changed_ms <= state.erased_at_ms:
                    self.pending_dropped += 1  # held before the erasure: the erased order's
                else:
                    state.status, state.status_changed_at = status, changed_at
                    state.record_change(traceparent)
            self._tell(record, state, "created" if is_new else "replaced")
        return unchanged, stale

    def _erase(self, state: _OrderState, record: ConsumerRecord) -> None:
        """The order is gone from here on; content after this record is a new order, and
        no status change from before this moment applies to it."""
        state.present = False
        state.new_content = None
        state.content_hash = b""
        state.status, state.status_changed_at = "created", None
        state.source = (record.partition, record.offset)
        traceparent = self._trace_of(record)
        state.record_change(traceparent, "erased")
        state.erasures.append((state.version, state.source, traceparent))
        # A record without a timestamp (-1) is taken as erased now.
        state.erased_at_ms = record.timestamp if record.timestamp >= 0 else int(time.time() * 1000)
        held = self.pending.get(state.order_uid)
        if held is not None and held[2] <= state.erased_at_ms:
            del self.pending[state.order_uid]
            self.consumed_pending.append(state.order_uid)
            self.pending_dropped += 1

    def apply_statuses(self, statuses: Sequence[AcceptedStatus]) -> None:
        for accepted in statuses:
            change = accepted.change
            record = accepted.record
            state = self.states.get(change.order_uid)
            if (
                state is not None
                and state.erased_at_ms is not None
                and _ms(change.changed_at) <= state.erased_at_ms
            ):
                reason = (
                    f"order {change.order_uid} was erased after this change "
                    f"({change.status} at {change.changed_at.isoformat()}): it belonged to "
                    "the erased order and never applies to the id sent again"
                )
                self.rejections.append(Rejection(record, "OrderErased", reason))
                self._tell(record, state, "order_erased", with_state=False, reason=reason)
                continue
            if state is None or not state.present:
                self._hold_until_the_order_arrives(accepted, state)
                continue
            outcome = transition(state.status, change.status)
            if outcome is Transition.APPLY:
                state.status = change.status
                state.status_changed_at = change.changed_at.isoformat()
                state.record_change(self._trace_of(record))
                self._tell(record, state, "applied")
            elif outcome is Transition.ILLEGAL:
                self.rejections.append(
                    Rejection(
                        record,
                        "IllegalStatusTransition",
                        illegal_transition_reason(change.order_uid, state.status, change.status),
                    )
                )
                self._tell(record, state, "conflict")
            else:
                self._tell(record, state, "repeated")

    def _hold_until_the_order_arrives(
        self, accepted: AcceptedStatus, state: _OrderState | None
    ) -> None:
        change = accepted.change
        state = state or _OrderState(change.order_uid, exists=False)
        # Held for an erased order: it applies if the id is sent again (it is newer than
        # the erasure), but the command that sent it is told the order is gone.
        waiting: Outcome = "order_erased" if state.erased_at_ms is not None else "pending"
        held = self.pending.get(change.order_uid)
        if held is None:
            changed_at = change.changed_at.isoformat()
            self.pending[change.order_uid] = (change.status, changed_at, _ms(change.changed_at))
            self.new_pending.append((change.order_uid, change.status, changed_at))
            self._tell(accepted.record, state, waiting, with_state=False)
        elif held[0] != change.status:
            reason = (
                f"order {change.order_uid} is not ingested yet and is already to become "
                f"{held[0]}; it cannot also become {change.status}"
            )
            self.rejections.append(Rejection(accepted.record, "IllegalStatusTransition", reason))
            self._tell(accepted.record, state, "rejected", with_state=False, reason=reason)
        else:
            self._tell(accepted.record, state, waiting, with_state=False)


async def _copy(cursor: AsyncCursor, statement: str, lines: list[str]) -> None:
    """COPY lines already in the text format, in one write."""
    if lines:
        async with cursor.copy(statement) as copy:
            await copy.write("".join(lines).encode())


async def _write_erasures(
    cursor: AsyncCursor, changed: Sequence[_OrderState], changes: Sequence[OrderChange]
) -> None:
    """Delete the rows of every order the batch leaves erased, and remember each erasure.
    An order sent again after its erasure no longer needs the memory: its row fences."""
    erased = [
        (state, change) for state, change in zip(changed, changes, strict=True) if state.erased
    ]
    if erased:
        stored = [state.order_uid for state, _ in erased if state.exists]
        if stored:
            await cursor.execute(_DELETE_ERASED, (stored,))
        await cursor.executemany(
            _REMEMBER_ERASED,
            [
                (state.order_uid, change.version, change.seq, *state.source, state.erased_at_ms)  # type: ignore[misc]
                for state, change in erased
            ],
        )
    revived = [state.order_uid for state in changed if state.was_erased and state.present]
    if revived:
        await cursor.execute(_FORGET_ERASED, (revived,))


async def _write_orders(
    cursor: AsyncCursor, changed: Sequence[_OrderState], changes: Sequence[OrderChange]
) -> None:
    changed, changes = _present(changed, changes)
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
    new_heads: list[str] = []
    replaced_heads: list[str] = []
    replaced_uids: list[str] = []
    deliveries: list[str] = []
    payments: list[str] = []
    items: list[str] = []
    now = datetime.now(UTC).isoformat()
    for state, change in zip(changed, changes, strict=True):
        accepted = state.new_content
        if accepted is None:
            continue
        lines = accepted.lines
        changed_at = state.status_changed_at or now
        assert state.source is not None  # set with the new content
        head = head_line(lines, state.status, changed_at, change.version, change.seq, state.source)
        if state.exists:
            replaced_heads.append(head)
            replaced_uids.append(state.order_uid)
        else:
            new_heads.append(head)
        deliveries.append(lines.delivery)
        payments.append(lines.payment)
        items.extend(lines.items)
    if replaced_heads:
        for statement in _DELETE_REPLACED_PARTS:
            await cursor.execute(statement, (replaced_uids,))
        await _copy(cursor, _COPY_STAGED_ORDERS, replaced_heads)
        await cursor.execute(_UPDATE_FROM_STAGED_ORDERS)
    await _copy(cursor, COPY_ORDERS, new_heads)
    await _copy(cursor, COPY_DELIVERIES, deliveries)
    await _copy(cursor, COPY_PAYMENTS, payments)
    await _copy(cursor, COPY_ITEMS, items)


def _present(
    changed: Sequence[_OrderState], changes: Sequence[OrderChange]
) -> tuple[list[_OrderState], list[OrderChange]]:
    """The changed orders that the batch leaves in existence, with their changes."""
    kept = [
        (state, change) for state, change in zip(changed, changes, strict=True) if state.present
    ]
    return [state for state, _ in kept], [change for _, change in kept]


async def _write_erasure_times(cursor: AsyncCursor, changed: Sequence[_OrderState]) -> None:
    """An order sent again after its erasure keeps the erasure's time: the boundary that
    later status changes are measured against."""
    kept = [
        (state.erased_at_ms, state.order_uid)
        for state in changed
        if state.present and (state.erasures or state.was_erased)
    ]
    if kept:
        await cursor.executemany(_KEEP_ERASURE_TIME, kept)


async def _write_pending(cursor: AsyncCursor, batch: _Batch) -> None:
    # Deletions first: a status held by this batch comes after the orders' records, so
    # after any waiting status of its order was consumed or dropped (by an erasure).
    if batch.consumed_pending:
        await cursor.execute(_DELETE_PENDING, (batch.consumed_pending,))
    if batch.new_pending:
        await cursor.executemany(_INSERT_PENDING, batch.new_pending)
