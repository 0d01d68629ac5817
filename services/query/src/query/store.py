"""The Store of the informer: a bounded map of order id to the ready-to-send JSON bytes.

Every write goes through `apply`, which keeps an entry only if it is newer than what the
store holds, so announcements, resyncs and miss-fills can race without going backwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from cachetools import TTLCache


@dataclass(frozen=True, slots=True)
class CachedOrder:
    version: int
    seq: int
    body: bytes


class OrderStore:
    def __init__(self, max_entries: int, ttl_seconds: float) -> None:
        self._entries: TTLCache[str, CachedOrder] = TTLCache(maxsize=max_entries, ttl=ttl_seconds)

    def get(self, order_uid: str) -> CachedOrder | None:
        return self._entries.get(order_uid)

    def apply(self, order_uid: str, entry: CachedOrder) -> bool:
        """Store `entry` unless the store already holds this version or a newer one."""
        current = self._entries.get(order_uid)
        if current is not None and current.version >= entry.version:
            return False
        self._entries[order_uid] = entry
        return True

    def forget(self, order_uid: str, version: int) -> None:
        """Drop the entry if it is older than `version`: the next read goes to PostgreSQL."""
        current = self._entries.get(order_uid)
        if current is not None and current.version < version:
            del self._entries[order_uid]

    def __len__(self) -> int:
        return len(self._entries)
