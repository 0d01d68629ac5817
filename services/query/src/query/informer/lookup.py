"""After a cache miss: read the order from PostgreSQL once however many requests wait for
it (single-flight), and keep it only under the store's rule, so a slow read can never
replace a newer version that an announcement brought meanwhile. An order the store knows
was erased is answered as such without a read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from query.informer.order_reader import OrderRead, UnreadableOrder
from query.informer.single_flight import SingleFlight
from query.informer.store import CachedOrder, ErasedOrder, OrderStore

Found = CachedOrder | UnreadableOrder | ErasedOrder | None

ReadOrder = Callable[[str], Awaitable[OrderRead]]


class OrderLookup:
    def __init__(self, store: OrderStore, read_order: ReadOrder) -> None:
        self._store = store
        self._read_order = read_order
        self._flights: SingleFlight[str, Found] = SingleFlight()
        self.reads_found = 0
        self.reads_not_found = 0
        self.reads_unreadable = 0
        self.reads_erased = 0

    async def read(self, order_uid: str) -> Found:
        """After a miss: None if a recent read found no such order, else read it once.

        A stored order that cannot be decoded is not cached: it is read again each time,
        so that the first readable version is served as soon as it is stored."""
        if self._store.is_known_missing(order_uid):
            return None
        erased = self._store.erased(order_uid)
        if erased is not None:
            return erased
        return await self._flights.do(order_uid, partial(self._fill, order_uid))

    @property
    def reads_in_flight(self) -> int:
        return len(self._flights)

    async def _fill(self, order_uid: str) -> Found:
        read = await self._read_order(order_uid)
        if read.entry is None:
            self.reads_not_found += 1
            self._store.mark_missing(order_uid, read.as_of)
        elif type(read.entry) is ErasedOrder:
            self.reads_erased += 1
            self._store.mark_erased(order_uid, read.entry, read.as_of)
        elif type(read.entry) is UnreadableOrder:
            self.reads_unreadable += 1
        else:
            self.reads_found += 1
            self._store.apply(order_uid, read.entry, read.as_of)
        # An announcement may have brought a newer version while we read.
        held = self._store.peek(order_uid)
        if held is not None and (
            not isinstance(read.entry, CachedOrder) or held.version > read.entry.version
        ):
            return held
        return read.entry
