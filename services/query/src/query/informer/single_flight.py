"""Single-flight: one call per key at a time; whoever asks for the key meanwhile awaits that
same call. A thousand requests missing one order make one PostgreSQL query, not a thousand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._calls: dict[K, asyncio.Future[V]] = {}

    async def do(self, key: K, call: Callable[[], Awaitable[V]]) -> V:
        """The result of `call()`, shared with every caller that asks for `key` meanwhile.

        A caller that is cancelled (its client went away) leaves the call running for
        the others.
        """
        flight = self._calls.get(key)
        if flight is None:
            flight = asyncio.ensure_future(call())
            self._calls[key] = flight
            flight.add_done_callback(lambda done: self._land(key, done))
        return await asyncio.shield(flight)

    def __len__(self) -> int:
        """Calls in flight."""
        return len(self._calls)

    def _land(self, key: K, flight: asyncio.Future[V]) -> None:
        if self._calls.get(key) is flight:
            del self._calls[key]
        if not flight.cancelled():
            flight.exception()  # retrieved, even if every waiter was cancelled
