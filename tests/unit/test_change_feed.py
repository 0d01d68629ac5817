"""The change feed's rules, without a server: who is sent what, what a resume replays,
and what happens to a client that does not keep up."""

from __future__ import annotations

import asyncio

import pytest

from query.streams.change_feed import NEWEST_PER_SEND, FeedLimits, OrderChangeFeed
from query.streams.subscription import StreamEnded, Subscription


def feed(history: int = 100, buffer: int = 4) -> OrderChangeFeed:
    made = OrderChangeFeed(
        FeedLimits(history_size=history, buffer_size=buffer, newest_interval=0.0),
        version_of=lambda order_uid: 7,
    )
    made.started(listed_seq=10)
    return made


async def taken(subscription: Subscription) -> bytes:
    return await subscription.take(0.01)


async def test_a_watcher_is_sent_each_change_of_its_order_and_nothing_else() -> None:
    changes = feed()
    with changes.watch_order("a") as watcher:
        changes.changed("a", 2, 11, "completed", None, event_id=11)
        changes.changed("b", 1, 12, "created", b"{}", event_id=12)
        changes.erased("a", 3, 13, event_id=13)
        changes.courier_changed("a")
        sent = await taken(watcher)
    assert sent.count(b"\n\n") == 3
    assert b"id: 2\nevent: order\n" in sent and b'"status":"completed"' in sent
    assert b"id: 3\nevent: erased\n" in sent
    assert b'event: courier\ndata: {"order_uid":"a","version":7}' in sent
    assert b'"b"' not in sent


async def test_a_client_that_lets_its_buffer_fill_gets_reload_and_its_stream_ends() -> None:
    changes = feed(buffer=2)
    with changes.watch_order("a") as watcher:
        for version in (2, 3, 4):
            changes.changed("a", version, 10 + version, "created", b"{}", event_id=10 + version)
        assert watcher.ended == "overflow"
        # No id: the client's Last-Event-ID stays that of the last event it got.
        assert await taken(watcher) == b'event: reload\ndata: {"reason":"overflow"}\n\n'
        with pytest.raises(StreamEnded):
            await taken(watcher)
        changes.changed("a", 5, 15, "created", b"{}", event_id=15)  # no longer queued
        assert len(watcher) == 0
    assert changes.stats.overflows == 1


async def test_the_newest_orders_are_sent_together_at_most_the_latest_twenty() -> None:
    changes = feed()
    with changes.watch_newest(None) as newest:
        await taken(newest)  # its position
        for n in range(30):
            changes.changed(f"o{n}", 1, 11 + n, "created", None, event_id=11 + n)
        changes.changed("o0", 2, 41, "completed", None, event_id=41)
        runner = asyncio.ensure_future(changes.run())
        sent = await newest.take(1.0)
        runner.cancel()
    assert sent.count(b"event: order") == NEWEST_PER_SEND
    assert b'"order_uid":"o0","version":2' in sent  # changed last: among the latest
    assert b'"order_uid":"o10"' not in sent and b'"order_uid":"o11"' in sent


def test_a_resume_within_the_history_replays_what_came_after_its_id() -> None:
    changes = feed()
    for n in range(5):
        changes.changed(f"o{n}", 1, 11 + n, "created", None, event_id=11 + n)
    with changes.watch_newest(13) as resumed:
        replayed = asyncio.run(taken(resumed))
    assert [line for line in replayed.split(b"\n") if line.startswith(b"id:")] == [
        b"id: 14",
        b"id: 15",
        b"id: 15",  # the position it stands at
    ]
    assert replayed.endswith(b'event: position\ndata: {"last_event_id":15}\n\n')


def test_a_new_newest_orders_stream_is_told_where_it_stands() -> None:
    changes = feed()
    changes.changed("o1", 1, 11, "created", None, event_id=11)
    with changes.watch_newest(None) as fresh:
        assert asyncio.run(taken(fresh)) == (
            b'id: 11\nevent: position\ndata: {"last_event_id":11}\n\n'
        )


def test_a_resume_from_before_the_history_is_told_to_reload() -> None:
    changes = feed(history=2)
    for n in range(5):
        changes.changed(f"o{n}", 1, 11 + n, "created", None, event_id=11 + n)
    assert changes.history_floor == 13
    with changes.watch_newest(12) as resumed:
        assert asyncio.run(taken(resumed)).startswith(
            b'id: 15\nevent: reload\ndata: {"reason":"history"}\n\n'
        )
    with changes.watch_newest(13) as resumed:
        assert asyncio.run(taken(resumed)).count(b"event: order") == 2


async def test_closing_ends_every_stream_and_any_opened_later() -> None:
    changes = feed()
    with changes.watch_order("a") as one, changes.watch_newest(None) as newest:
        await taken(newest)  # its position
        changes.close()
        for subscription in (one, newest):
            with pytest.raises(StreamEnded):
                await taken(subscription)
    with changes.watch_newest(None) as late:
        assert late.ended == "shutdown"
