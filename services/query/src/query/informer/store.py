"""The Store of the informer: order id → the order as ready-to-send JSON bytes.

Bounded in entries and in (approximate) bytes, least recently read evicted first, each
entry living at most a TTL (the last resort: catch-ups keep entries right long before),
shortened by up to a tenth at random so that a million entries listed together do not all
expire, and miss, in the same second.

Announcements, catch-ups and miss-fills race and may arrive late, so every write says which
change sequence its data is as of, and the store never goes backwards:

* for an id it holds, it keeps a write only if the version is newer;
* for an id it does not hold, it keeps a write only if the data is at least as new as
  everything it has dropped (evicted, expired, invalidated): `dropped_seq`. Without this,
  a slow miss-fill that read version 1 could land after version 2 was announced and then
  evicted, and version 1 would be served until the TTL.

"Not found" answers are remembered briefly, under the same rule, and any announcement of
the id clears them.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from order_shared.model import OrderStatus

# What one entry costs beyond its body and id: object headers, the entry objects, the
# ordered-dict slot and the allocator's share. `make bench` measures about 1,970 resident
# bytes per order with a 1,260-byte body and a 15-character id.
ENTRY_OVERHEAD_BYTES = 700
_MAX_NOT_FOUND = 65_536


@dataclass(frozen=True, slots=True)
class CachedOrder:
    """One order as served: `body` is the canonical JSON document."""

    version: int
    seq: int
    status: OrderStatus
    body: bytes


class _Held:
    __slots__ = ("entry", "expires_at")

    def __init__(self, entry: CachedOrder, expires_at: float) -> None:
        self.entry = entry
        self.expires_at = expires_at


def entry_size(order_uid: str, entry: CachedOrder) -> int:
    """What an entry is charged against the byte budget."""
    return len(entry.body) + len(order_uid) + ENTRY_OVERHEAD_BYTES


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
        self._not_found_ttl = not_found_ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[str, _Held] = OrderedDict()
        self._not_found: OrderedDict[str, float] = OrderedDict()
        self.nbytes = 0
        self.dropped_seq = 0
        self.evictions = 0

    def get(self, order_uid: str) -> CachedOrder | None:
        """The cached order, counting as a use for the LRU order; None if not held."""
        held = self._entries.get(order_uid)
        if held is None:
            return None
        if held.expires_at <= self._clock():
            self._drop(order_uid, held)
            return None
        self._entries.move_to_end(order_uid)
        return held.entry

    def peek(self, order_uid: str) -> CachedOrder | None:
        """The cached order without counting a use."""
        held = self._entries.get(order_uid)
        if held is None or held.expires_at <= self._clock():
            return None
        return held.entry

    def is_known_missing(self, order_uid: str) -> bool:
        """True while a recent read found no such order."""
        expires_at = self._not_found.get(order_uid)
        if expires_at is None:
            return False
        if expires_at <= self._clock():
            del self._not_found[order_uid]
            return False
        return True

    def apply(self, order_uid: str, entry: CachedOrder, as_of: int = 0) -> bool:
        """Keep `entry` unless the store knows something newer; True if it was kept.

        `as_of`: the change sequence the data was read at (a snapshot's last sequence);
        an announcement is as of its own sequence, which is the default.
        """
        as_of = max(as_of, entry.seq)
        self._not_found.pop(order_uid, None)
        now = self._clock()
        held = self._entries.get(order_uid)
        if held is not None and held.expires_at > now:
            if entry.version < held.entry.version:
                return False
            if entry.version == held.entry.version:
                held.expires_at = self._expiry(now)  # PostgreSQL confirmed it
                return False
            self.nbytes -= entry_size(order_uid, held.entry)
        else:
            if held is not None:
                self._drop(order_uid, held)
            if as_of < self.dropped_seq:
                return False
        size = entry_size(order_uid, entry)
        if size > self.max_bytes:
            self._entries.pop(order_uid, None)
            self.dropped_seq = max(self.dropped_seq, entry.seq)
            return False
        self._entries[order_uid] = _Held(entry, self._expiry(now))
        self._entries.move_to_end(order_uid)
        self.nbytes += size
        self._evict()
        return True

    def invalidate(self, order_uid: str, version: int, seq: int) -> None:
        """Version `version` (change `seq`) exists: drop anything older; the next read fills."""
        self._not_found.pop(order_uid, None)
        held = self._entries.get(order_uid)
        if held is not None:
            if held.entry.version >= version:
                return
            self._drop(order_uid, held)
        self.dropped_seq = max(self.dropped_seq, seq)

    def mark_missing(self, order_uid: str, as_of: int) -> bool:
        """Remember briefly that a read as of change `as_of` found no such order."""
        held = self._entries.get(order_uid)
        if held is not None:
            if held.expires_at > self._clock():
                return False
            self._drop(order_uid, held)
        if as_of < self.dropped_seq:
            return False
        self._not_found[order_uid] = self._clock() + self._not_found_ttl
        self._not_found.move_to_end(order_uid)
        while len(self._not_found) > _MAX_NOT_FOUND:
            self._not_found.popitem(last=False)
        return True

    def clear(self) -> None:
        """Forget everything: the database was replaced (its change sequence went back)."""
        self._entries.clear()
        self._not_found.clear()
        self.nbytes = 0
        self.dropped_seq = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _expiry(self, now: float) -> float:
        return now + self._ttl * (1.0 - 0.1 * self._jitter.random())

    def _drop(self, order_uid: str, held: _Held) -> None:
        del self._entries[order_uid]
        self.nbytes -= entry_size(order_uid, held.entry)
        self.dropped_seq = max(self.dropped_seq, held.entry.seq)

    def _evict(self) -> None:
        while len(self._entries) > self.max_entries or self.nbytes > self.max_bytes:
            order_uid, held = self._entries.popitem(last=False)
            self.nbytes -= entry_size(order_uid, held.entry)
            self.dropped_seq = max(self.dropped_seq, held.entry.seq)
            self.evictions += 1
