"""Looking at what the ingestor left in PostgreSQL and said on Redis, from the tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
import redis

from order_shared.announcements import ChangeAnnouncement, decode_announcement
from order_shared.model import Order
from order_shared.outcomes import OUTCOMES_CHANNEL, RecordOutcome, decode_outcome
from order_shared.topics import CHANGES_CHANNEL
from tests.harness import Servers


def query(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url, connect_timeout=10) as connection:
        return connection.execute(sql, params).fetchall()


def order_row(database_url: str, order_uid: str) -> tuple[int, str, int] | None:
    """(version, status, change_seq) of the order, or None."""
    rows = query(
        database_url,
        "SELECT version, status, change_seq FROM orders WHERE order_uid = %s",
        (order_uid,),
    )
    return rows[0] if rows else None


def events_of(database_url: str, order_uid: str) -> list[tuple[str, int, bool]]:
    """(status, version, published) of the order's outbox rows, oldest first."""
    return query(
        database_url,
        "SELECT status, version, id <= (SELECT last_sent_id FROM outbox_position)"
        " FROM order_events WHERE order_uid = %s ORDER BY id",
        (order_uid,),
    )


class ChangeListener:
    """Collects every announcement on `orders:changes` while it is open."""

    def __init__(self) -> None:
        self.announcements: list[ChangeAnnouncement] = []
        self._lock = threading.Lock()

    def _on_message(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.announcements.append(decode_announcement(message["data"]))

    def of(self, order_uid: str) -> list[ChangeAnnouncement]:
        with self._lock:
            return [a for a in self.announcements if a.order_uid == order_uid]


class OutcomeListener:
    """Collects every record outcome on `orders:outcomes` while it is open: what the
    commands waiting for their records hear."""

    def __init__(self) -> None:
        self.outcomes: list[RecordOutcome] = []
        self._lock = threading.Lock()

    def _on_message(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.outcomes.append(decode_outcome(message["data"]))

    def of(self, order_uid: str) -> list[RecordOutcome]:
        with self._lock:
            return [o for o in self.outcomes if o.order_uid == order_uid]


@contextmanager
def listening_to_changes(redis_url: str) -> Iterator[ChangeListener]:
    with _listening(redis_url, CHANGES_CHANNEL, ChangeListener()) as listener:
        yield listener


@contextmanager
def listening_to_outcomes(redis_url: str) -> Iterator[OutcomeListener]:
    with _listening(redis_url, OUTCOMES_CHANNEL, OutcomeListener()) as listener:
        yield listener


L = TypeVar("L", ChangeListener, OutcomeListener)


@contextmanager
def _listening(redis_url: str, channel: str, listener: L) -> Iterator[L]:
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    pubsub.subscribe(**{channel: listener._on_message})
    # Only once Redis confirms the subscription is nothing published afterwards missed.
    deadline = time.monotonic() + 10
    while pubsub.get_message(timeout=1) is None or not pubsub.subscribed:
        if time.monotonic() > deadline:
            raise TimeoutError(f"could not subscribe to {channel}")
    thread = pubsub.run_in_thread(sleep_time=0.05, daemon=True)
    try:
        yield listener
    finally:
        thread.stop()
        thread.join(timeout=5)
        pubsub.close()
        client.close()


def all_stored_once(database_url: str, orders: list[Order]) -> bool:
    """True once every one of the orders is stored, each at version 1."""
    rows = query(
        database_url,
        "SELECT version FROM orders WHERE order_uid = ANY(%s)",
        ([order.order_uid for order in orders],),
    )
    return len(rows) == len(orders) and all(version == 1 for (version,) in rows)


OUT_OF_RANGE = "9999-12-31T23:00:00-05:00"  # 10000-01-01T04:00:00Z

# A copy of a stored order under a new id, date and the next change sequence, as the
# ingestor writes one (minus what only the ingestor reads: outbox, content hash semantics).
_COPY = [
    """
INSERT INTO orders (order_uid, track_number, entry, locale, internal_signature, customer_id,
    delivery_service, shardkey, sm_id, date_created, oof_shard, status, version, change_seq,
    content_hash)
SELECT %(new)s, track_number, entry, locale, internal_signature, customer_id,
       delivery_service, shardkey, sm_id, %(date)s::timestamptz, oof_shard, status, 1,
       %(seq)s, content_hash
  FROM orders WHERE order_uid = %(source)s
""",
    """
INSERT INTO deliveries (order_uid, name, phone, zip, city, address, region, email)
SELECT %(new)s, name, phone, zip, city, address, region, email
  FROM deliveries WHERE order_uid = %(source)s
""",
    """
INSERT INTO payments (order_uid, transaction, request_id, currency, provider, amount,
    payment_dt, bank, delivery_cost, goods_total, custom_fee)
SELECT %(new)s, transaction, request_id, currency, provider, amount, payment_dt, bank,
       delivery_cost, goods_total, custom_fee
  FROM payments WHERE order_uid = %(source)s
""",
    """
INSERT INTO items (order_uid, position, chrt_id, track_number, price, rid, name, sale, size,
    total_price, nm_id, brand, status)
SELECT %(new)s, position, chrt_id, track_number, price, rid, name, sale, size, total_price,
       nm_id, brand, status
  FROM items WHERE order_uid = %(source)s
""",
]


def copy_order(servers: Servers, source: str, new: str, date: str) -> int:
    """Store a copy of order `source` as `new`, created at `date`; returns its change seq."""
    with psycopg.connect(servers.admin_database_url) as connection:
        (seq,) = connection.execute(  # type: ignore[misc]
            "UPDATE change_counter SET last_seq = last_seq + 1 RETURNING last_seq"
        ).fetchone()
        for statement in _COPY:
            connection.execute(statement, {"new": new, "source": source, "date": date, "seq": seq})
    return seq
