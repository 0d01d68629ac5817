"""A command waiting to read its write is woken by the writer's outcome of its own record
(named by topic, partition and offset), including one that arrived before it waited; an
announcement, or another record's outcome, does not end the wait."""

from __future__ import annotations

import asyncio

from order_shared.announcements import ChangeAnnouncement, decode_announcement
from order_shared.outcomes import RecordOutcome, decode_outcome, encode_outcome
from query.informer.change_waiters import ChangeWaiters, Heard, holds_change, outcome_of


def announced(uid: str, partition: int | None, offset: int | None) -> ChangeAnnouncement:
    return ChangeAnnouncement(
        order_uid=uid, version=1, seq=1, source_partition=partition, source_offset=offset
    )


def told(uid: str, topic: str, partition: int, offset: int) -> RecordOutcome:
    return RecordOutcome(uid, topic, partition, offset, "created", version=1, seq=1)


def test_only_the_outcome_of_its_own_record_wakes_the_waiter() -> None:
    async def scenario() -> Heard | None:
        waiters = ChangeWaiters()
        with waiters.register("a") as waiter:
            waiting = asyncio.create_task(waiter.wait_for(outcome_of("orders", 1, 10), within=5))
            await asyncio.sleep(0)
            waiters.applied(announced("a", 1, 10))  # its content, announced: not the outcome
            waiters.told(told("a", "orders", 1, 9))  # an earlier record
            waiters.told(told("a", "orders", 1, 11))  # a later one
            waiters.told(told("a", "orders", 2, 10))  # another partition
            waiters.told(told("a", "order-status", 1, 10))  # another topic
            waiters.told(told("b", "orders", 1, 10))  # another order
            await asyncio.sleep(0)
            assert not waiting.done()
            waiters.told(told("a", "orders", 1, 10))
            return await waiting

    woken = asyncio.run(scenario())

    assert woken == told("a", "orders", 1, 10)


def test_an_outcome_before_the_wait_is_not_missed() -> None:
    async def scenario() -> Heard | None:
        waiters = ChangeWaiters()
        with waiters.register("a") as waiter:
            waiters.told(told("a", "orders", 0, 3))
            return await waiter.wait_for(outcome_of("orders", 0, 3), within=0.5)

    assert asyncio.run(scenario()) is not None


def test_no_outcome_ends_the_wait_empty_and_unregisters() -> None:
    async def scenario() -> tuple[Heard | None, int]:
        waiters = ChangeWaiters()
        with waiters.register("a") as waiter:
            waiters.applied(announced("a", 0, 0))
            result = await waiter.wait_for(outcome_of("orders", 0, 0), within=0.05)
        return result, len(waiters)

    assert asyncio.run(scenario()) == (None, 0)


def test_an_outcome_round_trips_and_leaves_out_what_it_lacks() -> None:
    outcome = RecordOutcome("a", "orders", 0, 5, "not_found")

    encoded = encode_outcome(outcome)

    assert decode_outcome(encoded) == outcome
    assert b"version" not in encoded and b"reason" not in encoded


def test_an_announcement_without_a_source_still_decodes() -> None:
    old = b'{"order_uid":"a","version":2,"seq":7,"status":"completed"}'

    decoded = decode_announcement(old)

    assert (decoded.source_partition, decoded.source_offset) == (None, None)


def test_a_change_not_heard_is_waited_for_until_a_catch_up_brings_it() -> None:
    async def scenario() -> tuple[bool, Heard | None]:
        waiters = ChangeWaiters()
        last_seq = 4
        with waiters.register("a") as waiter:
            waiting = asyncio.create_task(
                waiter.wait_for(holds_change(lambda: last_seq, 7), within=5)
            )
            await asyncio.sleep(0)
            waiters.caught_up()  # a catch-up that did not reach change 7
            await asyncio.sleep(0)
            still_waiting = not waiting.done()
            last_seq = 7
            waiters.caught_up()
            return still_waiting, await waiting

    still_waiting, woken = asyncio.run(scenario())

    assert still_waiting and woken is not None
