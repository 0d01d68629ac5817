"""What the courier API reads and answers: msgspec Structs, validated by Litestar."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal, Self

import msgspec
from msgspec import UNSET, Meta, UnsetType

from order_shared.model import Phone

CourierStatus = Literal["available", "busy", "paused"]
Transport = Literal["on_foot", "scooter", "car"]
# What a client may set: `busy` comes only from an assignment.
SettableStatus = Literal["available", "paused"]
# Something besides spaces, and no NUL character, which PostgreSQL text cannot hold.
Name = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=256,
        pattern=r"^[^\x00]*[^\s\x00][^\x00]*$",
        description="1 to 256 characters, not only spaces, without NUL characters",
    ),
]


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


@dataclass(frozen=True, slots=True)
class StatsCursor:
    """Where a page of statistics ends: `<deliveries>:<courier id>` of its last courier."""

    deliveries: int
    courier_id: int

    PATTERN = r"^[0-9]{1,18}:[0-9]{1,18}$"

    def encode(self) -> str:
        return f"{self.deliveries}:{self.courier_id}"

    @classmethod
    def decode(cls, cursor: str) -> Self | None:
        """None if it is not a cursor this service gave."""
        if not re.fullmatch(cls.PATTERN, cursor):
            return None
        deliveries, courier_id = cursor.split(":")
        return cls(int(deliveries), int(courier_id))


class CourierStats(msgspec.Struct, frozen=True):
    """Completed deliveries per courier (a cancelled order never counts), a page of them
    by deliveries, most first; pass `next_cursor` back as `cursor` for the next page (null:
    no more). The totals are over all couriers."""

    couriers: list[CourierDeliveries]
    next_cursor: str | None
    available: int
    busy: int
    paused: int
    assigned_orders: int
    waiting_orders: int
    completed_deliveries: int


AssignmentState = Literal[
    "assigned", "delivered", "waiting", "cancelled", "completed", "erased", "pending", "parked"
]


class Assignment(msgspec.Struct, frozen=True):
    """Who delivers an order. `assigned`/`delivered`: `courier` says who; `waiting`: no
    courier was free yet; `cancelled`/`completed`: the order ended without a courier of
    ours; `erased`: the order was erased; `pending`: its status is still being asked for;
    `parked`: asking gave up after RETRY_MAX_ATTEMPTS unusable answers, until an event
    names the order again. `reason` says why a `pending` or `parked` order has no status
    (the last answer's kind and detail)."""

    order_id: str
    state: AssignmentState
    courier: Courier | None
    assigned_at: datetime | None
    delivered_at: datetime | None
    reason: str | None = None


class ErrorBody(msgspec.Struct, frozen=True):
    status_code: int
    detail: str
