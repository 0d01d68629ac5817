"""What reconciling one order must do: compare the status the order service reports with
what the courier tables hold, and name the change. Pure, so every case is a unit test.

This is what makes the service level-triggered: the event that caused the look does not
matter, only the desired state (the order's status now) and the current one. Duplicates,
reordering, lateness and a `completed` seen before its `created` all reduce to "compare
and converge", which is idempotent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from order_shared.model import OrderStatus

AssignmentState = Literal["assigned", "delivered"]
ClosedStatus = Literal["cancelled", "completed"]


@dataclass(frozen=True, slots=True)
class HeldOrder:
    """What the courier tables hold for one order."""

    assignment: AssignmentState | None = None
    waiting: bool = False
    closed: ClosedStatus | None = None


class Action(enum.Enum):
    UNCHANGED = "unchanged"
    ASSIGN = "assign"  # a courier if one is available, else the waiting queue
    DELIVER = "deliver"  # the courier is free again and the delivery counts
    RELEASE = "release"  # the assignment is undone, the courier free, nothing counts
    CLOSE = "close"  # no courier involved: leave the queue (if in it), remember the end


def decide(status: OrderStatus, held: HeldOrder) -> Action:
    """The change that brings the courier tables to agree with `status`."""
    if held.closed is not None:
        # Both end states are terminal: a `created` now can only come from a stale answer.
        return Action.UNCHANGED
    if status == "created":
        if held.assignment is None and not held.waiting:
            return Action.ASSIGN
        return Action.UNCHANGED
    if held.assignment == "assigned":
        return Action.DELIVER if status == "completed" else Action.RELEASE
    return Action.CLOSE
