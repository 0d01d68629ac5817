"""Read-your-writes: a command waits here until the writer has told what it did with the
record the command published (its outcome on `orders:outcomes`), woken by the reflector
as it hears each announcement and outcome (never by polling). The ingestor publishes an
outcome after the changes it speaks of, so by then this replica has applied them.

A waiter registers for an order *before* its command is published, so an outcome that
beats the producer's acknowledgement is not missed; it then waits for the first message
of that order that satisfies its condition (e.g. "the outcome of `orders` partition p,
offset o"), seen since it registered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

from order_shared.announcements import ChangeAnnouncement
from order_shared.outcomes import RecordOutcome


class CaughtUp:
    """The reflector caught up from PostgreSQL: a change it had not heard may be held now."""


CAUGHT_UP = CaughtUp()
Heard = ChangeAnnouncement | RecordOutcome | CaughtUp
Condition = Callable[[Heard], bool]


class ChangeWaiter:
    """The announcements of one order seen since registration, and a wake-up for each."""

    def __init__(self) -> None:
        self._seen: list[Heard] = []
        self._arrived = asyncio.Event()

    def saw(self, announcement: Heard) -> None:
        self._seen.append(announcement)
        self._arrived.set()

    async def wait_for(self, condition: Condition, within: float) -> Heard | None:
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

    def told(self, outcome: RecordOutcome) -> None:
        """The reflector heard what the writer did with a record of this order."""
        for waiter in self._by_order.get(outcome.order_uid, ()):
            waiter.saw(outcome)

    def caught_up(self) -> None:
        """The reflector caught up: wake every waiter to look at the store again."""
        for waiters in self._by_order.values():
            for waiter in waiters:
                waiter.saw(CAUGHT_UP)

    def __len__(self) -> int:
        return sum(len(waiters) for waiters in self._by_order.values())


def outcome_of(topic: str, partition: int, offset: int) -> Condition:
    """The writer's outcome of this one record."""

    def condition(heard: Heard) -> bool:
        return (
            type(heard) is RecordOutcome
            and heard.offset == offset
            and heard.partition == partition
            and heard.topic == topic
        )

    return condition


def holds_change(last_seq: Callable[[], int], seq: int) -> Condition:
    """This replica has applied change `seq` (heard, or caught up on)."""

    def condition(heard: Heard) -> bool:
        return last_seq() >= seq

    return condition
