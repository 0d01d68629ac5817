"""The OrderInformer: the store, the reflector that fills it and the lookup that reads a
miss, as one object the HTTP side holds (a client-go SharedInformer with a lister that can
also read through to PostgreSQL).

`run` lists and watches until cancelled; `has_synced` says whether the first list is in;
`cached` is the hot path (no await); `get_or_read` is what a request needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from query.informer.change_waiters import ChangeWaiters
from query.informer.lookup import OrderLookup
from query.informer.order_reader import UnreadableOrder, read_order
from query.informer.reflector import OrderReflector
from query.informer.store import CachedOrder, ErasedOrder, OrderStore
from query.streams.change_feed import FeedLimits, OrderChangeFeed


@dataclass(frozen=True)
class InformerLimits:
    """How much the store holds and for how long, and how the reflector reads."""

    max_entries: int
    max_bytes: int
    ttl_seconds: float
    not_found_ttl_seconds: float
    catch_up_interval_seconds: float
    list_batch_size: int


class OrderInformer:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        redis: Redis,
        limits: InformerLimits,
        feed_limits: FeedLimits,
    ) -> None:
        self.store = OrderStore(
            max_entries=limits.max_entries,
            max_bytes=limits.max_bytes,
            ttl_seconds=limits.ttl_seconds,
            not_found_ttl_seconds=limits.not_found_ttl_seconds,
        )
        self.waiters = ChangeWaiters()
        # The streams of the page: told of every change the reflector applies.
        self.feed = OrderChangeFeed(feed_limits, self.version_of)
        self.reflector = OrderReflector(
            self.store,
            pool,
            redis,
            catch_up_interval=limits.catch_up_interval_seconds,
            list_batch_size=limits.list_batch_size,
            on_applied=self.waiters.applied,
            on_outcome=self.waiters.told,
            on_caught_up=self.waiters.caught_up,
            feed=self.feed,
        )
        self.lookup = OrderLookup(self.store, partial(read_order, pool))
        # The hot path, bound once: a cache hit is one call (it counts its own hits).
        self.cached = self.store.get
        # Requests other than the hot path's hits: answered from memory, or not.
        self.hits = 0
        self.misses = 0

    async def run(self) -> None:
        """List, then watch and catch up, until cancelled."""
        await self.reflector.run()

    def has_synced(self) -> bool:
        """True once every order has been listed into the store."""
        return self.reflector.synced.is_set()

    @property
    def last_seq(self) -> int:
        """The last change sequence applied in order."""
        return self.reflector.last_seq

    def __len__(self) -> int:
        return len(self.store)

    def version_of(self, order_uid: str) -> int:
        """The version of the order held or known erased here; 0 if neither."""
        held = self.store.peek(order_uid)
        if held is not None:
            return held.version
        erased = self.store.erased(order_uid)
        return 0 if erased is None else erased.version

    async def get_or_read(
        self, order_uid: str
    ) -> CachedOrder | UnreadableOrder | ErasedOrder | None:
        """The order from memory, or read once from PostgreSQL; None if there is none,
        `ErasedOrder` if it was erased.
        Raises DatabaseUnavailable when it must read and cannot."""
        held = self.store.get(order_uid)
        if held is not None:
            self.hits += 1
            return held
        self.misses += 1
        return await self.lookup.read(order_uid)
