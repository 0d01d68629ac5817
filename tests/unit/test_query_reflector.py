"""The watch side of the reflector: announcements apply in place when newer, a hole in the
change sequence or a (re)subscription asks for a resync, and nothing is lost while listing."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from order_shared.announcements import ChangeAnnouncement, encode_announcement
from query.informer.reflector import Cause, OrderReflector
from query.informer.store import CachedOrder, OrderStore


def make_reflector(last_seq: int = 10, *, listed: bool = True) -> tuple[OrderReflector, OrderStore]:
    store = OrderStore(max_entries=100, max_bytes=10**6, ttl_seconds=60, not_found_ttl_seconds=2)
    unused: Any = None  # the watch side never touches PostgreSQL or Redis itself
    reflector = OrderReflector(store, unused, unused, catch_up_interval=5, list_batch_size=10)
    reflector.last_seq = last_seq
    reflector._listed = listed
    return reflector, store


def announce(reflector: OrderReflector, uid: str, version: int, seq: int, **extra: Any) -> None:
    document = extra.pop("document", b'{"v":%d}' % version)
    order = msgspec.Raw(document) if document is not None else msgspec.Raw(b"null")
    reflector._on_message(
        encode_announcement(ChangeAnnouncement(uid, version, seq, order=order, **extra))
    )


def resync_requested(reflector: OrderReflector) -> bool:
    return reflector._catch_up_requested.is_set()


def test_contiguous_announcements_apply_and_advance_the_sequence() -> None:
    reflector, store = make_reflector(last_seq=10)

    announce(reflector, "a", 1, 11)
    announce(reflector, "b", 1, 12, status="cancelled")

    assert reflector.last_seq == 12
    assert store.get("a").body == b'{"v":1}'  # type: ignore[union-attr]
    assert store.get("b").status == "cancelled"  # type: ignore[union-attr]
    assert not resync_requested(reflector)


def test_a_hole_in_the_sequence_asks_for_a_resync() -> None:
    reflector, store = make_reflector(last_seq=10)

    announce(reflector, "a", 1, 13)

    assert resync_requested(reflector)
    assert reflector.last_seq == 10  # changes 11 and 12 are still owed
    assert store.get("a") is not None
    assert reflector.stats.sequence_gaps == 1


def test_an_old_or_repeated_announcement_changes_nothing() -> None:
    reflector, store = make_reflector(last_seq=10)
    announce(reflector, "a", 2, 9)

    announce(reflector, "a", 1, 5)
    announce(reflector, "a", 2, 9)

    assert store.get("a").version == 2  # type: ignore[union-attr]
    assert reflector.last_seq == 10
    assert not resync_requested(reflector)
    assert reflector.stats.announcements_ignored == 2


def test_an_announcement_without_document_invalidates() -> None:
    reflector, store = make_reflector(last_seq=10)
    announce(reflector, "a", 1, 11)

    announce(reflector, "a", 2, 12, document=None)

    assert store.get("a") is None
    assert reflector.last_seq == 12


def test_an_erasure_drops_the_order_and_a_late_fill_of_it_is_refused() -> None:
    reflector, store = make_reflector(last_seq=10)
    announce(reflector, "a", 1, 11)

    announce(reflector, "a", 2, 12, document=None, erased=True)

    assert store.get("a") is None
    assert store.erased("a") is not None
    assert reflector.last_seq == 12
    assert not store.apply("a", store_entry(1, 11), as_of=11)  # a miss-fill read before it


def test_an_erasure_older_than_the_held_order_changes_nothing() -> None:
    reflector, store = make_reflector(last_seq=10)
    announce(reflector, "a", 3, 11)  # the id sent again after an erasure at version 2

    announce(reflector, "a", 2, 9, document=None, erased=True)

    assert store.get("a").version == 3  # type: ignore[union-attr]
    assert reflector.stats.announcements_ignored == 1


def test_an_announcement_without_the_erased_field_is_not_an_erasure() -> None:
    reflector, store = make_reflector(last_seq=10)
    announce(reflector, "a", 1, 11)

    reflector._on_message(b'{"order_uid": "a", "version": 2, "seq": 12, "order": null}')

    assert store.erased("a") is None
    assert store.get("a") is None  # invalidated, as before


def store_entry(version: int, seq: int) -> CachedOrder:
    return CachedOrder(version, seq, "created", b'{"v":%d}' % version)


def test_every_subscription_asks_for_a_resync() -> None:
    reflector, _ = make_reflector()

    reflector._on_subscribed()

    assert resync_requested(reflector)
    assert reflector.stats.subscriptions == 1


def test_a_malformed_announcement_is_counted_and_ignored() -> None:
    reflector, store = make_reflector()

    reflector._on_message(b'{"order_uid": 5}')

    assert reflector.stats.announcements_malformed == 1
    assert len(store) == 0


def test_announcements_during_the_list_wait_in_a_buffer() -> None:
    reflector, store = make_reflector(last_seq=0, listed=False)

    announce(reflector, "a", 1, 1)

    assert len(store) == 0
    assert len(reflector._buffer) == 1


def test_catch_ups_are_asked_for_with_their_first_cause() -> None:
    reflector, _ = make_reflector(last_seq=10)

    announce(reflector, "a", 1, 13)  # a hole: 11 and 12 are owed
    reflector._on_subscribed()  # while the first is still asked for

    assert resync_requested(reflector)
    assert reflector._catch_up_cause == Cause.SEQUENCE_GAP


def test_a_subscription_asks_for_a_catch_up_as_its_cause() -> None:
    reflector, _ = make_reflector(last_seq=10)

    reflector._on_subscribed()

    assert reflector._catch_up_cause == Cause.SUBSCRIBED


def test_an_announcement_says_how_fresh_it_is_when_applied() -> None:
    reflector, _ = make_reflector(last_seq=10)

    announce(reflector, "a", 1, 11, committed_at=time.time() - 0.2)
    announce(reflector, "b", 1, 12)  # from an ingestor that does not say

    freshness = reflector.stats.freshness
    assert freshness.count == 1
    assert 0.2 <= freshness.total < 5
