"""What the API answers besides the order document itself: the status the courier service
reads, and pages of order summaries for the list on the page."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from order_shared.model import OrderStatus


class OrderStatusView(msgspec.Struct, frozen=True):
    """`GET /api/v1/orders/{order_uid}/status`: the gateway the courier service calls."""

    order_id: str
    status: OrderStatus
    created_at: datetime


class OrderSummary(msgspec.Struct, frozen=True):
    """One order in a list: enough to show a row and to open the order."""

    order_uid: str
    track_number: str
    date_created: datetime
    status: OrderStatus
    customer_id: str
    delivery_service: str
    currency: str
    amount: int
    items: int


class OrderPage(msgspec.Struct, frozen=True):
    """Newest first; pass `next_cursor` back as `cursor` for the next page (null: no more)."""

    orders: list[OrderSummary]
    next_cursor: str | None


class ErrorBody(msgspec.Struct, frozen=True):
    """Every error: the HTTP status again, and a message for a person."""

    status_code: int
    detail: str


class CommandAccepted(msgspec.Struct, frozen=True):
    """A command's record is on Kafka; the order at `location` shows it once ingested."""

    order_uid: str
    location: str
    detail: str


class StatusCommand(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`POST /api/v1/orders/{order_uid}/status`: the final status to give the order."""

    status: Literal["cancelled", "completed"]


class BodyProblem(msgspec.Struct, frozen=True):
    """One thing wrong with a command's body: where (a JSON path) and why."""

    path: str
    reason: str


class InvalidBody(msgspec.Struct, frozen=True):
    """422: the body is JSON but not a valid order (or command). At most 100 problems are
    listed; `unlisted` more were found, and `complete` is false when the check stopped
    before finding them all (a body over 64 KiB, or 1,000 problems)."""

    status_code: int
    detail: str
    problems: list[BodyProblem]
    unlisted: int = 0
    complete: bool = True


class ConflictBody(msgspec.Struct, frozen=True):
    """409: what the command conflicts with (for a status: the order's current status)."""

    status_code: int
    detail: str
    current_status: OrderStatus | None = None
