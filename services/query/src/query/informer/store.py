"""The Store of the informer: order id → the order as ready-to-send JSON bytes.

The container is cachetools' `TLRUCache`: least recently read evicted first, bounded in
(approximate) bytes through `getsizeof`, each entry living at most a TTL (the last resort:
catch-ups keep entries right long before) shortened by up to a tenth at random, so that a
million entries listed together do not all expire, and miss, in the same second. An
entry cap sits beside the byte cap (a million tiny orders must not outgrow the index).

What only we need is kept around it. Announcements, catch-ups and miss-fills race and may
arrive late, so every write says which change sequence its data is as of, and the store
never goes backwards:

* for an id it holds, it keeps a write only if the version is newer;
* for an id it does not hold, it keeps a write only if the data is at least as new as
  everything it has dropped (evicted, expired, invalidated): `dropped_seq`. Without this,
  a slow miss-fill that read version 1 could land after version 2 was announced and then
  evicted, and version 1 would be served until the TTL.

"Not found" answers are remembered briefly (a cachetools `TTLCache`), under the same
rule, and any announcement of the id clears them.

An erased order (a tombstone on `orders`) is dropped with the erasure's sequence as the
floor, so no slow miss-fill can bring it back, and remembered as erased at its version
(for the cache's TTL, at most `_MAX_ERASED` ids; past that PostgreSQL's `erased_orders`
answers again): no version at or below it is kept again, while a newer one, the id sent
again, is a new order and replaces the memory.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import Cache, TLRUCache, TTLCache

from order_shared.model import OrderStatus

# What one entry costs beyond its body and id: object headers, the entry objects, the
# cache's dict slots and recency and expiry records, and the allocator's share. `make
# bench` measures the resident bytes per order (docs/performance/query.md).
ENTRY_OVERHEAD_BYTES = 800
_MAX_NOT_FOUND = 65_536
_MAX_ERASED = 65_536


@dataclass(frozen=True, slots=True)
class CachedOrder:
    """One order as served: `body` is the canonical JSON document."""

    version: int
    seq: int
    status: OrderStatus
    body: bytes


@dataclass(frozen=True, slots=True)
class ErasedOrder:
    """An order erased at `version`: gone, unless its id is sent again (a newer version)."""

    version: int


def entry_size(order_uid: str, entry: CachedOrder) -> int:
    """What an entry is charged against the byte budget."""
    return len(entry.body) + len(order_uid) + ENTRY_OVERHEAD_BYTES


class _Orders(TLRUCache):
    """A TLRUCache that reports what leaves it: `on_drop` sees every entry evicted or
    expired (cachetools' documented way is to override `popitem` and `expire`)."""

    def __init__(
        self,
        max_bytes: int,
        ttu: Callable[[str, CachedOrder, float], float],
        timer: Callable[[], float],
        on_drop: Callable[[CachedOrder, bool], None],
    ) -> None:
        super().__init__(max_bytes, ttu, timer)
        self._on_drop = on_drop
        self._sizing = ""

    def __setitem__(self, order_uid: str, entry: CachedOrder) -> None:  # type: ignore[override]
        # cachetools sizes the value alone; our charge includes the id.
        self._sizing = order_uid
        super().__setitem__(order_uid, entry)

    def getsizeof(self, entry: CachedOrder) -> int:  # type: ignore[override]
        return entry_size(self._sizing, entry)

    def popitem(self) -> tuple[str, CachedOrder]:
        order_uid, entry = super().popitem()
        self._on_drop(entry, True)
        return order_uid, entry

    def expire(self, time: float | None = None) -> list[tuple[str, CachedOrder]]:
        expired = super().expire(time)
        for _, entry in expired:
            self._on_drop(entry, False)
        return expired


class OrderStore:
    def __init__(
        self,
        *,
        max_entries: int,
        max_bytes: int,
        ttl_seconds: float,
        not_found_ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._ttl = ttl_seconds
        self._jitter = random.Random()
        self._orders = _Orders(max_bytes, self._expiry, clock, self._dropped)
        self._not_found: TTLCache[str, bool] = TTLCache(
            _MAX_NOT_FOUND, not_found_ttl_seconds, clock
        )
        self._erased: TTLCache[str, ErasedOrder] = TTLCache(_MAX_ERASED, ttl_seconds, clock)
        self.dropped_seq = 0
        self.evictions = 0

    def get(self, order_uid: str) -> CachedOrder | None:
        """The cached order, counting as a use for the LRU order; None if not held."""
        try:
            return self._orders[order_uid]
        except KeyError:  # not held, or expired and not yet removed
            return None

    def peek(self, order_uid: str) -> CachedOrder | None:
        """The cached order without counting a use."""
        orders = self._orders
        return Cache.__getitem__(orders, order_uid) if order_uid in orders else None

    def is_known_missing(self, order_uid: str) -> bool:
        """True while a recent read found no such order."""
        return order_uid in self._not_found

    def apply(self, order_uid: str, entry: CachedOrder, as_of: int = 0) -> bool:
        """Keep `entry` unless the store knows something newer; True if it was kept.

        `as_of`: the change sequence the data was read at (a snapshot's last sequence);
        an announcement is as of its own sequence, which is the default.
        """
        as_of = max(as_of, entry.seq)
        if self._erased_since(order_uid, entry.version):
            return False
        self._forget_missing(order_uid)
        orders = self._orders
        if order_uid in orders:  # held and not expired; no use counted
            held = Cache.__getitem__(orders, order_uid)
        else:
            held = None
            if Cache.__contains__(orders, order_uid):
                orders.expire()  # held but expired: it counts as dropped before we compare
        if held is not None:
            if entry.version < held.version:
                return False
            if entry.version == held.version:
                orders[order_uid] = held  # PostgreSQL confirmed it: a fresh TTL
                return False
        elif as_of < self.dropped_seq:
            return False
        try:
            orders[order_uid] = entry  # evicts by bytes (popitem) as needed
        except ValueError:  # larger than the whole budget: nothing was changed
            if held is not None:
                self._drop(order_uid)
            self.dropped_seq = max(self.dropped_seq, entry.seq)
            return False
        # Cache.__len__: the count without TLRUCache's expiry pass (__setitem__ just ran it).
        while Cache.__len__(orders) > self.max_entries:
            orders.popitem()
        return True

    def invalidate(self, order_uid: str, version: int, seq: int) -> bool:
        """Version `version` (change `seq`) exists: drop anything older; the next read fills.
        False if the store knows of that version or a newer one."""
        if self._erased_since(order_uid, version):
            return False
        self._forget_missing(order_uid)
        held = self.peek(order_uid)
        if held is not None:
            if held.version >= version:
                return False
            self._drop(order_uid)
        self.dropped_seq = max(self.dropped_seq, seq)
        return True

    def mark_missing(self, order_uid: str, as_of: int) -> bool:
        """Remember briefly that a read as of change `as_of` found no such order."""
        if not self._may_mark(order_uid, as_of):
            return False
        self._not_found[order_uid] = True
        return True

    def erase(self, order_uid: str, version: int, seq: int) -> bool:
        """The order was erased at `version` (change `seq`): drop it, and keep no version
        up to that one again. False if the store holds a newer one (its id sent again)."""
        held = self.peek(order_uid)
        if (held is not None and held.version >= version) or self._erased_since(order_uid, version):
            return False
        self._forget_missing(order_uid)
        if held is not None:
            self._drop(order_uid)
        self.dropped_seq = max(self.dropped_seq, seq)
        self._erased[order_uid] = ErasedOrder(version)
        return True

    def mark_erased(self, order_uid: str, erased: ErasedOrder, as_of: int) -> bool:
        """Remember that a read as of change `as_of` found the order erased."""
        if not self._may_mark(order_uid, as_of):
            return False
        self._erased[order_uid] = erased
        return True

    def erased(self, order_uid: str) -> ErasedOrder | None:
        """The erasure of an order not held, if this store knows of it."""
        if not Cache.__contains__(self._erased, order_uid):
            return None
        return self._erased.get(order_uid)

    def _may_mark(self, order_uid: str, as_of: int) -> bool:
        """A read as of `as_of` that found no order may be remembered: nothing newer is
        held or was dropped."""
        orders = self._orders
        if order_uid in orders:
            return False
        if Cache.__contains__(orders, order_uid):
            orders.expire()  # held but expired: it counts as dropped before we compare
        return as_of >= self.dropped_seq

    def _erased_since(self, order_uid: str, version: int) -> bool:
        """True if the order was erased at `version` or later; a newer version is the id
        sent again, and the memory of the erasure goes."""
        erased = self._erased
        if not Cache.__contains__(erased, order_uid):  # nearly every write: no timed lookup
            return False
        memory = erased.get(order_uid)
        if memory is not None and version <= memory.version:
            return True
        erased.pop(order_uid, None)
        return False

    def clear(self) -> None:
        """Forget everything: the database was replaced (its change sequence went back)."""
        self._orders.clear()
        self._not_found.clear()
        self._erased.clear()
        self.dropped_seq = 0

    @property
    def nbytes(self) -> int:
        """The bytes charged for the entries held (expired ones are removed first)."""
        return self._orders.currsize

    def __len__(self) -> int:
        return len(self._orders)

    def _forget_missing(self, order_uid: str) -> None:
        # The raw membership test first: TTLCache.pop costs a timer and an expiry pass,
        # and nearly every write is for an id that was never missing.
        if Cache.__contains__(self._not_found, order_uid):
            with contextlib.suppress(KeyError):  # raised after removing an expired one
                del self._not_found[order_uid]

    def _expiry(self, order_uid: str, entry: CachedOrder, now: float) -> float:
        return now + self._ttl * (1.0 - 0.1 * self._jitter.random())

    def _drop(self, order_uid: str) -> None:
        entry = self._orders.pop(order_uid)
        self.dropped_seq = max(self.dropped_seq, entry.seq)

    def _dropped(self, entry: CachedOrder, evicted: bool) -> None:
        self.dropped_seq = max(self.dropped_seq, entry.seq)
        if evicted:
            self.evictions += 1
