"""Read-your-writes: a command waits here until this replica has applied the change it
published, woken by the reflector as it applies each announcement (never by polling).

A waiter registers for an order *before* its command is published, so an announcement
that beats the producer's acknowledgement is not missed; it then waits for the first
announcement of that order that satisfies its condition (e.g. "its content comes from
`orders` partition p at offset o or later"), seen since it registered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

from order_shared.announcements import ChangeAnnouncement

Condition = Callable[[ChangeAnnouncement], bool]


class ChangeWaiter:
    """The announcements of one order seen since registration, and a wake-up for each."""

    def __init__(self) -> None:
        self._seen: list[ChangeAnnouncement] = []
        self._arrived = asyncio.Event()

    def saw(self, announcement: ChangeAnnouncement) -> None:
        self._seen.append(announcement)
        self._arrived.set()

    async def wait_for(self, condition: Condition, within: float) -> ChangeAnnouncement | None:
        """The first announcement seen that meets `condition`; None after `within` seconds."""
        checked = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for announcement in self._seen[checked:]:
                if condition(announcement):
                    return announcement
            checked = len(self._seen)
            self._arrived.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return None


class ChangeWaiters:
    """Every registered waiter, by order id; the reflector calls `applied`."""

    def __init__(self) -> None:
        self._by_order: dict[str, list[ChangeWaiter]] = {}

    @contextlib.contextmanager
    def register(self, order_uid: str) -> Iterator[ChangeWaiter]:
        waiter = ChangeWaiter()
        self._by_order.setdefault(order_uid, []).append(waiter)
        try:
            yield waiter
        finally:
            waiters = self._by_order[order_uid]
            waiters.remove(waiter)
            if not waiters:
                del self._by_order[order_uid]

    def applied(self, announcement: ChangeAnnouncement) -> None:
        """The reflector has applied (or found older than what it holds) `announcement`."""
        for waiter in self._by_order.get(announcement.order_uid, ()):
            waiter.saw(announcement)

    def __len__(self) -> int:
        return sum(len(waiters) for waiters in self._by_order.values())


def from_source(partition: int, offset: int) -> Condition:
    """The order's content comes from this `orders` record or a later one of its partition."""

    def condition(announcement: ChangeAnnouncement) -> bool:
        return (
            announcement.source_partition == partition
            and announcement.source_offset is not None
            and announcement.source_offset >= offset
        )

    return condition


def terminal(announcement: ChangeAnnouncement) -> bool:
    """The order has reached a final status (cancelled or completed)."""
    return announcement.status != "created"
