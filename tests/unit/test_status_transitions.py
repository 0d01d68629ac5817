"""The status lifecycle: created → cancelled or completed; both terminal."""

from __future__ import annotations

import pytest

from ingestor.status_transitions import Transition, transition


@pytest.mark.parametrize("terminal", ["cancelled", "completed"])
def test_a_created_order_can_be_cancelled_or_completed(terminal: str) -> None:
    assert transition("created", terminal) is Transition.APPLY


@pytest.mark.parametrize("status", ["created", "cancelled", "completed"])
def test_the_same_status_again_is_a_repeat(status: str) -> None:
    assert transition(status, status) is Transition.REPEAT


@pytest.mark.parametrize(
    ("current", "requested"),
    [("cancelled", "completed"), ("completed", "cancelled"), ("cancelled", "created")],
)
def test_terminal_statuses_do_not_change(current: str, requested: str) -> None:
    assert transition(current, requested) is Transition.ILLEGAL
