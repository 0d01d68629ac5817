"""A miss reads PostgreSQL once however many wait, and a late read never wins over a newer
version that an announcement brought meanwhile."""

from __future__ import annotations

import asyncio

import pytest

from query.informer.lookup import OrderLookup
from query.informer.order_reader import OrderRead, UnreadableOrder
from query.informer.store import CachedOrder, ErasedOrder, OrderStore
from query.request_database import DatabaseUnavailable


def make_store() -> OrderStore:
    return OrderStore(max_entries=100, max_bytes=10**6, ttl_seconds=60, not_found_ttl_seconds=60)


def order(version: int, seq: int) -> CachedOrder:
    return CachedOrder(version, seq, "created", b'{"v":%d}' % version)


class SlowDatabase:
    """Answers with a fixed read once released; counts the reads, and says when one began."""

    def __init__(self, answer: OrderRead) -> None:
        self.answer = answer
        self.reads = 0
        self.reading = asyncio.Event()
        self.release = asyncio.Event()

    async def read(self, order_uid: str) -> OrderRead:
        self.reads += 1
        self.reading.set()
        await self.release.wait()
        return self.answer


async def test_concurrent_misses_for_one_id_make_one_read() -> None:
    store = make_store()
    database = SlowDatabase(OrderRead(as_of=5, entry=order(1, 5)))
    lookup = OrderLookup(store, database.read)

    waiting = [asyncio.create_task(lookup.read("a")) for _ in range(200)]
    await database.reading.wait()
    assert lookup.reads_in_flight == 1
    database.release.set()
    results = await asyncio.gather(*waiting)

    assert database.reads == 1
    assert all(result == order(1, 5) for result in results)
    assert store.get("a") == order(1, 5)  # and the next request is a hit


async def test_a_late_miss_fill_does_not_overwrite_a_newer_announced_version() -> None:
    store = make_store()
    database = SlowDatabase(OrderRead(as_of=5, entry=order(1, 5)))  # read before change 6
    lookup = OrderLookup(store, database.read)

    request = asyncio.create_task(lookup.read("a"))
    await database.reading.wait()
    store.apply("a", order(2, 6))  # the announcement of version 2 arrives first
    database.release.set()

    assert await request == order(2, 6)
    assert store.get("a") == order(2, 6)


async def test_a_late_miss_fill_loses_even_if_the_newer_version_was_evicted() -> None:
    store = OrderStore(max_entries=1, max_bytes=10**6, ttl_seconds=60, not_found_ttl_seconds=60)
    database = SlowDatabase(OrderRead(as_of=5, entry=order(1, 5)))
    lookup = OrderLookup(store, database.read)

    request = asyncio.create_task(lookup.read("a"))
    await database.reading.wait()
    store.apply("a", order(2, 6))
    store.apply("b", order(1, 7))  # evicts a's version 2
    database.release.set()
    await request

    assert store.get("a") is None  # version 1 was not put back: the next read fills anew


async def test_not_found_is_cached_and_cleared_by_an_announcement() -> None:
    store = make_store()
    database = SlowDatabase(OrderRead(as_of=5, entry=None))
    database.release.set()
    lookup = OrderLookup(store, database.read)

    assert await lookup.read("a") is None
    assert await lookup.read("a") is None
    assert database.reads == 1

    store.apply("a", order(1, 6))
    assert not store.is_known_missing("a")
    assert store.get("a") == order(1, 6)
    assert database.reads == 1


async def test_an_unreachable_database_reaches_every_waiter() -> None:
    async def unreachable(order_uid: str) -> OrderRead:
        await asyncio.sleep(0)
        raise DatabaseUnavailable("connection refused")

    lookup = OrderLookup(make_store(), unreachable)

    results = await asyncio.gather(*(lookup.read("a") for _ in range(3)), return_exceptions=True)
    assert all(isinstance(result, DatabaseUnavailable) for result in results)
    with pytest.raises(DatabaseUnavailable):
        await lookup.read("a")


async def test_an_unreadable_order_is_counted_and_read_again_next_time() -> None:
    store = make_store()
    database = SlowDatabase(OrderRead(as_of=5, entry=UnreadableOrder("a date out of range")))
    database.release.set()
    lookup = OrderLookup(store, database.read)

    assert await lookup.read("a") == UnreadableOrder("a date out of range")
    assert await lookup.read("a") == UnreadableOrder("a date out of range")
    assert (database.reads, lookup.reads_unreadable) == (2, 2)
    assert store.peek("a") is None and not store.is_known_missing("a")


async def test_a_late_miss_fill_cannot_bring_back_an_erased_order() -> None:
    store = make_store()
    database = SlowDatabase(OrderRead(as_of=5, entry=order(1, 5)))  # read before the erasure
    lookup = OrderLookup(store, database.read)

    request = asyncio.create_task(lookup.read("a"))
    await database.reading.wait()
    store.erase("a", 2, 6)  # the erasure is announced while the read is under way
    database.release.set()
    await request

    assert store.get("a") is None
    assert await lookup.read("a") == ErasedOrder(2)  # answered from memory
    assert database.reads == 1


async def test_an_erased_order_read_on_a_miss_is_remembered_as_erased() -> None:
    store = make_store()
    database = SlowDatabase(OrderRead(as_of=6, entry=ErasedOrder(2)))
    database.release.set()
    lookup = OrderLookup(store, database.read)

    assert await lookup.read("a") == ErasedOrder(2)
    assert await lookup.read("a") == ErasedOrder(2)

    assert (database.reads, lookup.reads_erased) == (1, 1)


def test_an_erased_order_comes_back_only_as_a_newer_version() -> None:
    store = make_store()
    store.apply("a", order(1, 5))

    assert store.erase("a", 2, 6)
    assert not store.apply("a", order(1, 5), as_of=9)  # the erased one, however it is read
    assert not store.erase("a", 2, 6)  # a repeat changes nothing
    assert store.apply("a", order(3, 7))  # the id sent again: a new order

    assert store.get("a") == order(3, 7)
    assert store.erased("a") is None
    assert not store.erase("a", 2, 6)  # a late repeat of the erasure loses to the new order
    assert store.get("a") == order(3, 7)
