"""HTTP handlers of the courier API: couriers, their statistics, and who delivers an order."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from litestar import Controller, get, patch, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Parameter
from psycopg import AsyncConnection

from courier import roster
from courier.schemas import (
    Assignment,
    Courier,
    CourierChanges,
    CourierPage,
    CourierStats,
    NewCourier,
)
from order_shared.model import ORDER_UID_PATTERN

_ORDER_ID = re.compile(ORDER_UID_PATTERN)
_MAX_ID = 2**63 - 1
_COURIER_ID = Parameter(ge=1, le=_MAX_ID, description="The courier's id.")


async def provide_connection(state: State) -> AsyncIterator[AsyncConnection]:
    """A pooled connection for the request; committed when the handler returns."""
    async with state.pool.connection() as connection:
        yield connection


class CourierController(Controller):
    path = "/api/v1/couriers"
    tags = ("couriers",)
    dependencies = {"connection": Provide(provide_connection)}  # noqa: RUF012

    @get("/", summary="Couriers, by id", description="Pass `next_after` back as `after`.")
    async def list_couriers(
        self,
        connection: AsyncConnection,
        limit: int = Parameter(ge=1, le=100, default=20, description="Couriers per page."),
        after: int | None = Parameter(
            default=None, ge=0, le=_MAX_ID, description="The `next_after` of the last page."
        ),
    ) -> CourierPage:
        return await roster.list_couriers(connection, after, limit)

    @get(
        "/stats",
        summary="Completed deliveries per courier",
        description="Cancelled orders never count; each completed one counts once.",
    )
    async def stats(self, connection: AsyncConnection) -> CourierStats:
        return await roster.read_stats(connection)

    @get("/{courier_id:int}", summary="One courier, with the order it delivers now")
    async def get_courier(
        self, connection: AsyncConnection, courier_id: int = _COURIER_ID
    ) -> Courier:
        return await roster.read_courier(connection, courier_id)

    @post(
        "/",
        summary="Add a courier",
        description="Phone in E.164 (`+` and 7 to 15 digits), unique: 409 if taken.",
    )
    async def add_courier(self, connection: AsyncConnection, data: NewCourier) -> Courier:
        return await roster.add_courier(connection, data)

    @patch(
        "/{courier_id:int}",
        summary="Change a courier's name, transport or status",
        description=(
            "`status` may be `available` or `paused`; a courier made available takes the "
            "oldest waiting order at once. A courier delivering an order keeps its status "
            "until the order ends (409)."
        ),
    )
    async def change_courier(
        self, connection: AsyncConnection, data: CourierChanges, courier_id: int = _COURIER_ID
    ) -> Courier:
        if data.name is None and data.transport is None and data.status is None:
            raise ValidationException(detail="give at least one of name, transport, status")
        return await roster.change_courier(connection, courier_id, data)


@get(
    "/api/v1/assignments/{order_id:str}",
    tags=["assignments"],
    summary="Who delivers an order",
    dependencies={"connection": Provide(provide_connection)},
)
async def get_assignment(connection: AsyncConnection, order_id: str) -> Assignment:
    if not _ORDER_ID.fullmatch(order_id):
        raise ValidationException(
            detail="malformed order id: use 1 to 64 letters, digits, '_' or '-'"
        )
    assignment = await roster.read_assignment(connection, order_id)
    if assignment is None:
        # `extra` tells this answer from a 404 of a server without the courier API (the
        # page opened straight on a query replica): the page shows that case differently.
        raise NotFoundException(
            detail=f"the courier service has not seen order {order_id}",
            extra={"order_id": order_id},
        )
    return assignment
