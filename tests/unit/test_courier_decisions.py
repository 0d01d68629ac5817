"""The reconcile decision: desired status against what the courier tables hold. Every
combination, so that a duplicated, reordered, late or early event can only converge."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from aiokafka.structs import ConsumerRecord

from courier.consumer import NamedOrder, order_to_look_at
from courier.decisions import (
    Action,
    HeldOrder,
    decide,
    decide_erased,
    is_outdated,
    is_sent_again,
)
from order_shared.events import OrderEvent, encode_event

NOTHING = HeldOrder()
ASSIGNED = HeldOrder(assignment="assigned")
WAITING = HeldOrder(waiting=True)
DELIVERED = HeldOrder(assignment="delivered", closed="completed")
CANCELLED = HeldOrder(closed="cancelled")
COMPLETED_WITHOUT_COURIER = HeldOrder(closed="completed")


@pytest.mark.parametrize(
    ("status", "held", "action"),
    [
        ("created", NOTHING, Action.ASSIGN),
        ("created", ASSIGNED, Action.UNCHANGED),
        ("created", WAITING, Action.UNCHANGED),
        ("completed", ASSIGNED, Action.DELIVER),
        ("cancelled", ASSIGNED, Action.RELEASE),
        ("completed", WAITING, Action.CLOSE),
        ("cancelled", WAITING, Action.CLOSE),
        ("completed", NOTHING, Action.CLOSE),
        ("cancelled", NOTHING, Action.CLOSE),
    ],
)
def test_each_status_moves_the_tables_one_step(status, held, action) -> None:
    assert decide(status, held) is action


@pytest.mark.parametrize("status", ["created", "cancelled", "completed"])
@pytest.mark.parametrize("held", [DELIVERED, CANCELLED, COMPLETED_WITHOUT_COURIER])
def test_an_ended_order_is_never_changed_again(status, held) -> None:
    """A late `created`, or an answer from a replica that is behind, cannot reopen it."""
    assert decide(status, held) is Action.UNCHANGED


def _after(action: Action, held: HeldOrder, status: str) -> HeldOrder:
    """What the tables hold after `action` (with a courier always free)."""
    if action is Action.ASSIGN:
        return HeldOrder(assignment="assigned")
    if action is Action.DELIVER:
        return HeldOrder(assignment="delivered", closed="completed")
    if action is Action.RELEASE:
        return HeldOrder(closed="cancelled")
    if action is Action.CLOSE:
        return HeldOrder(assignment=held.assignment, closed=status)
    return held


@pytest.mark.parametrize("final", ["cancelled", "completed"])
def test_any_sequence_of_looks_ending_at_a_status_delivers_at_most_once(final: str) -> None:
    """However many looks happen, with whatever stale statuses before the final one, a
    delivery counts at most once and repeating the final look changes nothing."""
    for looks in itertools.product(["created", "cancelled", "completed"], repeat=3):
        held, deliveries = NOTHING, 0
        for status in (*looks, final, final):
            action = decide(status, held)
            deliveries += action is Action.DELIVER
            held = _after(action, held, status)
        assert deliveries <= 1
        assert decide(final, held) is Action.UNCHANGED


def _record(key: bytes | None, value: bytes | None) -> ConsumerRecord:
    return ConsumerRecord("order-events", 0, 7, 0, 0, key, value, None, 0, 0, [])


def test_a_record_names_its_order_by_key_with_the_events_version() -> None:
    event = OrderEvent("o-1", "completed", datetime(2026, 11, 21, 10, tzinfo=UTC), 3)
    assert order_to_look_at(_record(b"o-1", encode_event(event))) == NamedOrder("o-1", 3)


def test_a_damaged_value_still_names_the_order_by_its_key() -> None:
    assert order_to_look_at(_record(b"o-1", b"{not json")) == NamedOrder("o-1", 0)


def test_a_record_that_names_no_valid_order_is_rejected_with_a_reason() -> None:
    reason = order_to_look_at(_record(b"bad id!", b"\xff"))
    assert isinstance(reason, str) and "order id" in reason
    assert isinstance(order_to_look_at(_record(None, None)), str)


@pytest.mark.parametrize("held", [NOTHING, ASSIGNED, WAITING, DELIVERED, CANCELLED])
def test_an_erasure_ends_the_order_whatever_the_tables_hold(held: HeldOrder) -> None:
    assert decide_erased(4, held) is Action.ERASE


def test_an_erasure_seen_again_changes_nothing() -> None:
    erased = HeldOrder(closed="erased", erased_version=4)

    assert decide_erased(4, erased) is Action.UNCHANGED
    assert decide_erased(3, erased) is Action.UNCHANGED
    assert decide("created", erased) is Action.UNCHANGED  # a late status of the erased one


def test_a_newer_version_under_an_erased_id_is_a_new_order() -> None:
    erased = HeldOrder(closed="erased", erased_version=4)

    assert not is_sent_again(4, erased)
    assert is_sent_again(5, erased)
    assert not is_sent_again(9, CANCELLED)
    assert decide_erased(6, erased) is Action.ERASE  # the new order erased in its turn


def test_an_erased_event_names_its_order_with_the_erasures_version() -> None:
    event = OrderEvent("o-1", "erased", datetime(2026, 11, 21, 10, tzinfo=UTC), 5)
    assert order_to_look_at(_record(b"o-1", encode_event(event))) == NamedOrder("o-1", 5, True)


def test_a_key_and_a_value_naming_two_orders_are_rejected_with_both_named() -> None:
    """Failed before: the key's order was looked at, waiting for the value's version."""
    event = OrderEvent("o-2", "created", datetime(2026, 11, 21, 10, tzinfo=UTC), 7)
    reason = order_to_look_at(_record(b"o-1", encode_event(event)))
    assert isinstance(reason, str) and "o-1" in reason and "o-2" in reason


def test_an_answer_older_than_the_applied_version_is_outdated() -> None:
    applied = HeldOrder(assignment="assigned", applied_version=3)

    assert is_outdated(2, applied)
    assert not is_outdated(3, applied)
    assert not is_outdated(4, applied)
    assert not is_outdated(1, NOTHING)
