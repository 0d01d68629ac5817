"""The store keeps an entry only if it is newer than what it holds."""

from __future__ import annotations

from query.store import CachedOrder, OrderStore


def test_newer_version_replaces_older() -> None:
    store = OrderStore(max_entries=10, ttl_seconds=60)
    store.apply("a", CachedOrder(1, 1, b"v1"))

    assert store.apply("a", CachedOrder(2, 5, b"v2"))
    assert store.get("a") == CachedOrder(2, 5, b"v2")


def test_older_or_equal_version_never_overwrites() -> None:
    store = OrderStore(max_entries=10, ttl_seconds=60)
    store.apply("a", CachedOrder(3, 9, b"v3"))

    assert not store.apply("a", CachedOrder(2, 4, b"v2"))
    assert not store.apply("a", CachedOrder(3, 9, b"v3-again"))
    assert store.get("a") == CachedOrder(3, 9, b"v3")


def test_forget_drops_only_older_entries() -> None:
    store = OrderStore(max_entries=10, ttl_seconds=60)
    store.apply("a", CachedOrder(3, 9, b"v3"))

    store.forget("a", 3)
    assert store.get("a") is not None
    store.forget("a", 4)
    assert store.get("a") is None


def test_capacity_is_bounded() -> None:
    store = OrderStore(max_entries=3, ttl_seconds=60)
    for index in range(10):
        store.apply(str(index), CachedOrder(1, index, b"x"))

    assert len(store) == 3
