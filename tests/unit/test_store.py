"""The store keeps an entry only if it is newer than what it knows, stays within its
bounds, and forgets "not found" when the order is announced."""

from __future__ import annotations

from query.informer.store import ENTRY_OVERHEAD_BYTES, CachedOrder, OrderStore, entry_size


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_store(
    clock: Clock | None = None,
    *,
    max_entries: int = 10,
    max_bytes: int = 10**9,
    ttl: float = 60,
    not_found_ttl: float = 2,
) -> OrderStore:
    return OrderStore(
        max_entries=max_entries,
        max_bytes=max_bytes,
        ttl_seconds=ttl,
        not_found_ttl_seconds=not_found_ttl,
        clock=clock or Clock(),
    )


def order(version: int, seq: int, body: bytes = b"{}") -> CachedOrder:
    return CachedOrder(version=version, seq=seq, status="created", body=body)


def test_newer_version_replaces_older() -> None:
    store = make_store()
    store.apply("a", order(1, 1, b"v1"))

    assert store.apply("a", order(2, 5, b"v2"))
    assert store.get("a") == order(2, 5, b"v2")


def test_older_or_equal_version_never_overwrites() -> None:
    store = make_store()
    store.apply("a", order(3, 9, b"v3"))

    assert not store.apply("a", order(2, 4, b"v2"))
    assert not store.apply("a", order(3, 9, b"v3-again"))
    assert store.get("a") == order(3, 9, b"v3")


def test_invalidate_drops_only_older_entries() -> None:
    store = make_store()
    store.apply("a", order(3, 9))

    store.invalidate("a", 3, 9)
    assert store.get("a") is not None
    store.invalidate("a", 4, 12)
    assert store.get("a") is None


def test_late_read_cannot_bring_back_an_invalidated_version() -> None:
    store = make_store()
    store.apply("a", order(1, 3))
    store.invalidate("a", 2, 7)  # version 2 exists; the announcement carried no document

    assert not store.apply("a", order(1, 3), as_of=6)  # a read from before change 7
    assert store.apply("a", order(2, 7), as_of=8)


def test_late_read_cannot_bring_back_a_version_older_than_an_evicted_one() -> None:
    store = make_store(max_entries=1)
    store.apply("a", order(2, 10))  # announced...
    store.apply("b", order(1, 11))  # ...and evicted to make room

    assert store.get("a") is None
    assert not store.apply("a", order(1, 4), as_of=9)  # a miss-fill that read before it
    assert store.apply("a", order(2, 10), as_of=11)


def test_capacity_in_entries_evicts_least_recently_read() -> None:
    store = make_store(max_entries=3)
    for index, uid in enumerate("abc", start=1):
        store.apply(uid, order(1, index))
    store.get("a")

    store.apply("d", order(1, 4))

    assert len(store) == 3
    assert store.get("b") is None
    assert store.get("a") is not None
    assert store.evictions == 1


def test_byte_budget_is_respected() -> None:
    body = b"x" * 100
    one = entry_size("a", order(1, 1, body))
    store = make_store(max_bytes=2 * one + 10)
    for index, uid in enumerate("abcd", start=1):
        store.apply(uid, order(1, index, body))

    assert len(store) == 2
    assert store.nbytes == 2 * one
    assert one == 100 + 1 + ENTRY_OVERHEAD_BYTES


def test_an_entry_larger_than_the_whole_budget_is_not_kept() -> None:
    store = make_store(max_bytes=ENTRY_OVERHEAD_BYTES + 10)

    assert not store.apply("a", order(1, 1, b"x" * 100))
    assert len(store) == 0
    assert store.nbytes == 0


def test_entries_expire_within_the_last_tenth_of_the_ttl() -> None:
    clock = Clock()
    store = make_store(clock, ttl=10, max_entries=1000)
    for index in range(100):
        store.apply(str(index), order(1, index + 1))

    clock.now += 8.99
    assert len([i for i in range(100) if store.get(str(i)) is not None]) == 100
    clock.now += 0.5
    alive = len([i for i in range(100) if store.get(str(i)) is not None])
    assert 0 < alive < 100  # spread out, not all at once
    clock.now += 0.52
    assert all(store.get(str(i)) is None for i in range(100))
    assert store.nbytes == 0


def test_confirming_the_same_version_renews_the_ttl() -> None:
    clock = Clock()
    store = make_store(clock, ttl=10)
    store.apply("a", order(1, 1))

    clock.now += 8.5
    store.apply("a", order(1, 1), as_of=50)  # a resync read it again
    clock.now += 8.5
    assert store.get("a") is not None


def test_not_found_is_remembered_briefly() -> None:
    clock = Clock()
    store = make_store(clock, not_found_ttl=2)

    assert store.mark_missing("a", as_of=5)
    assert store.is_known_missing("a")
    clock.now += 2.5
    assert not store.is_known_missing("a")


def test_an_announcement_clears_not_found() -> None:
    store = make_store()
    store.mark_missing("a", as_of=5)
    store.mark_missing("b", as_of=5)

    store.apply("a", order(1, 6))
    store.invalidate("b", 1, 7)

    assert not store.is_known_missing("a")
    assert not store.is_known_missing("b")


def test_not_found_from_a_read_older_than_what_was_dropped_is_not_remembered() -> None:
    store = make_store(max_entries=1)
    store.apply("a", order(1, 10))
    store.apply("b", order(1, 11))  # evicts a

    assert not store.mark_missing("a", as_of=9)
    assert not store.mark_missing("b", as_of=20)  # b is held
    assert store.mark_missing("c", as_of=12)


def test_clear_forgets_everything() -> None:
    store = make_store(max_entries=1)
    store.apply("a", order(5, 10))
    store.apply("b", order(5, 11))

    store.clear()

    assert len(store) == 0
    assert store.nbytes == 0
    assert store.apply("a", order(1, 1))  # the replaced database starts afresh


def test_not_found_from_an_old_read_is_not_remembered_after_an_entry_merely_expired() -> None:
    clock = Clock()
    store = make_store(clock, ttl=10)
    store.apply("a", order(1, 5))
    clock.now += 11  # expired, but nobody asked for it since

    assert not store.mark_missing("a", as_of=4)  # read before the order existed
