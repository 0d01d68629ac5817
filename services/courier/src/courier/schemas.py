"""What the courier API reads and answers: msgspec Structs, validated by Litestar."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from order_shared.model import Phone

CourierStatus = Literal["available", "busy", "paused"]
Transport = Literal["on_foot", "scooter", "car"]
# What a client may set: `busy` comes only from an assignment.
SettableStatus = Literal["available", "paused"]
Name = Annotated[str, Meta(min_length=1, max_length=256, pattern=r"\S")]


class Courier(msgspec.Struct, frozen=True):
    id: int
    name: str
    phone: str
    transport: Transport
    status: CourierStatus
    completed_deliveries: int
    idle_since: datetime
    created_at: datetime
    current_order: str | None


class CourierPage(msgspec.Struct, frozen=True):
    """Oldest first by id; pass `next_after` back as `after` for the next page (null: no more)."""

    couriers: list[Courier]
    next_after: int | None


class NewCourier(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name
    phone: Phone
    transport: Transport
    status: SettableStatus = "available"


class CourierChanges(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Only the fields given change; at least one must be, and none may be null."""

    name: Name | UnsetType = UNSET
    transport: Transport | UnsetType = UNSET
    status: SettableStatus | UnsetType = UNSET


class CourierDeliveries(msgspec.Struct, frozen=True):
    id: int
    name: str
    status: CourierStatus
    completed_deliveries: int


class CourierStats(msgspec.Struct, frozen=True):
    """Completed deliveries per courier (a cancelled order never counts), and the totals."""

    couriers: list[CourierDeliveries]
    available: int
    busy: int
    paused: int
    assigned_orders: int
    waiting_orders: int
    completed_deliveries: int


AssignmentState = Literal[
    "assigned", "delivered", "waiting", "cancelled", "completed", "erased", "pending"
]


class Assignment(msgspec.Struct, frozen=True):
    """Who delivers an order. `assigned`/`delivered`: `courier` says who; `waiting`: no
    courier was free yet; `cancelled`/`completed`: the order ended without a courier of
    ours; `pending`: its status is still being asked for."""

    order_id: str
    state: AssignmentState
    courier: Courier | None
    assigned_at: datetime | None
    delivered_at: datetime | None


class ErrorBody(msgspec.Struct, frozen=True):
    status_code: int
    detail: str
