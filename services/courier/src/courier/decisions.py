"""What reconciling one order must do: compare the status the order service reports with
what the courier tables hold, and name the change. Pure, so every case is a unit test.

This is what makes the service level-triggered: the event that caused the look does not
matter, only the desired state (the order's status now) and the current one. Duplicates,
reordering, lateness and a `completed` seen before its `created` all reduce to "compare
and converge", which is idempotent.

Every answer carries the order's version. The tables remember the version they last
agreed with, and an answer older than it (a replica that is behind, a request answered
before a newer change was applied) is outdated: it changes nothing.

An erased order (a tombstone on `orders`) ends like a cancelled one, whatever it held, and
is remembered with the erasure's version: a status of the erased order (a version up to
that one) changes nothing, a newer version is the id sent again, a new order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from order_shared.model import OrderStatus

AssignmentState = Literal["assigned", "delivered"]
ClosedStatus = Literal["cancelled", "completed", "erased"]


@dataclass(frozen=True, slots=True)
class HeldOrder:
    """What the courier tables hold for one order."""

    assignment: AssignmentState | None = None
    waiting: bool = False
    closed: ClosedStatus | None = None
    # The version the order was erased at, if it was.
    erased_version: int | None = None
    # The version of the last status applied (None: none yet).
    applied_version: int | None = None


class Action(enum.Enum):
    UNCHANGED = "unchanged"
    ASSIGN = "assign"  # a courier if one is available, else the waiting queue
    DELIVER = "deliver"  # the courier is free again and the delivery counts
    RELEASE = "release"  # the assignment is undone, the courier free, nothing counts
    CLOSE = "close"  # no courier involved: leave the queue (if in it), remember the end
    ERASE = "erase"  # the order is gone: its courier (if any) is free, nothing counts


def is_outdated(version: int, held: HeldOrder) -> bool:
    """True if an answer at `version` is older than the status the tables agree with."""
    return held.applied_version is not None and version < held.applied_version


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


def decide_erased(version: int, held: HeldOrder) -> Action:
    """The change that an erasure at `version` asks for."""
    if held.erased_version is not None and held.erased_version >= version:
        return Action.UNCHANGED
    return Action.ERASE


def is_sent_again(version: int, held: HeldOrder) -> bool:
    """True if a status at `version` is of a new order under an id erased before it: the
    memory of the erasure goes, and the order starts afresh."""
    return held.erased_version is not None and version > held.erased_version
