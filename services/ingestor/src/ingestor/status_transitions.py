"""The order status lifecycle: `created` → `cancelled` or `completed`; both are terminal."""

from __future__ import annotations

from enum import Enum

from order_shared.model import OrderStatus

TERMINAL: frozenset[OrderStatus] = frozenset({"cancelled", "completed"})


class Transition(Enum):
    APPLY = "apply"
    REPEAT = "repeat"  # the order already has this status: a re-delivery, nothing to do
    ILLEGAL = "illegal"


def transition(current: OrderStatus, requested: OrderStatus) -> Transition:
    if requested == current:
        return Transition.REPEAT
    if current == "created" and requested in TERMINAL:
        return Transition.APPLY
    return Transition.ILLEGAL


def illegal_transition_reason(order_uid: str, current: OrderStatus, requested: OrderStatus) -> str:
    return (
        f"order {order_uid} is {current}; {current} → {requested} is not allowed "
        f"(cancelled and completed are terminal)"
    )
