"""A command waiting to read its write is woken by the announcement that carries its
record's source position (or a later one), including one that arrived before it waited."""

from __future__ import annotations

import asyncio

from order_shared.announcements import ChangeAnnouncement, decode_announcement
from query.informer.change_waiters import ChangeWaiters, from_source, terminal


def announced(
    uid: str, partition: int | None, offset: int | None, status: str = "created"
) -> ChangeAnnouncement:
    return ChangeAnnouncement(
        order_uid=uid,
        version=1,
        seq=1,
        status=status,  # type: ignore[arg-type]
        source_partition=partition,
        source_offset=offset,
    )


def test_an_announcement_at_or_after_the_position_wakes_the_waiter() -> None:
    async def scenario() -> ChangeAnnouncement | None:
        waiters = ChangeWaiters()
        with waiters.register("a") as waiter:
            waiting = asyncio.create_task(waiter.wait_for(from_source(1, 10), within=5))
            await asyncio.sleep(0)
            waiters.applied(announced("a", 1, 9))  # an earlier record
            waiters.applied(announced("a", 2, 50))  # another partition
            waiters.applied(announced("b", 1, 10))  # another order
            await asyncio.sleep(0)
            assert not waiting.done()
            waiters.applied(announced("a", 1, 12))
            return await waiting

    woken = asyncio.run(scenario())

    assert woken is not None and woken.source_offset == 12


def test_an_announcement_before_the_wait_is_not_missed() -> None:
    async def scenario() -> ChangeAnnouncement | None:
        waiters = ChangeWaiters()
        with waiters.register("a") as waiter:
            waiters.applied(announced("a", 0, 3))
            return await waiter.wait_for(from_source(0, 3), within=0.5)

    assert asyncio.run(scenario()) is not None


def test_no_matching_announcement_ends_the_wait_empty_and_unregisters() -> None:
    async def scenario() -> tuple[ChangeAnnouncement | None, int]:
        waiters = ChangeWaiters()
        with waiters.register("a") as waiter:
            waiters.applied(announced("a", None, None))
            result = await waiter.wait_for(from_source(0, 0), within=0.05)
        return result, len(waiters)

    assert asyncio.run(scenario()) == (None, 0)


def test_a_status_waiter_wants_a_final_status() -> None:
    assert not terminal(announced("a", None, None))
    assert terminal(announced("a", None, None, "cancelled"))


def test_an_announcement_without_a_source_still_decodes() -> None:
    old = b'{"order_uid":"a","version":2,"seq":7,"status":"completed"}'

    decoded = decode_announcement(old)

    assert (decoded.source_partition, decoded.source_offset) == (None, None)
