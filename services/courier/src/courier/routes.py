"""HTTP handlers of the courier API: couriers, their statistics, and who delivers an order."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import Annotated

import psycopg
from litestar import Controller, get, patch, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotFoundException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, Parameter
from msgspec import UNSET
from psycopg import AsyncConnection
from psycopg_pool import PoolTimeout

from courier import roster
from courier.schemas import (
    Assignment,
    Courier,
    CourierChanges,
    CourierPage,
    CourierStats,
    ErrorBody,
    NewCourier,
    StatsCursor,
)
from order_shared.model import ORDER_UID_PATTERN

log = logging.getLogger(__name__)

_ORDER_ID = re.compile(ORDER_UID_PATTERN)
_MAX_ID = 2**63 - 1
_COURIER_ID = Parameter(
    ge=1,
    le=_MAX_ID,
    description="The courier's id.",
    # Litestar writes a path parameter's bound as a float, and 2**63 - 1 is 2**63 as one.
    schema_extra={"maximum": _MAX_ID},
)
# The bodies are Structs with forbid_unknown_fields, which Litestar does not document.
_CLOSED_OBJECT = {"additionalProperties": False}
_NO_COURIER = ResponseSpec(
    ErrorBody, description="No courier with this id", generate_examples=False
)
_PHONE_TAKEN = ResponseSpec(
    ErrorBody, description="Another courier has this phone", generate_examples=False
)
_DELIVERING = ResponseSpec(
    ErrorBody,
    description="The courier delivers an order and keeps its status until it ends",
    generate_examples=False,
)


# How long a request that made a courier available waits for it to take a waiting order
# (whose status is asked again first); the retry worker serves the queue after that.
_SERVE_ON_REQUEST_SECONDS = 5.0


async def provide_connection(state: State) -> AsyncIterator[AsyncConnection]:
    """A pooled connection for the request; committed when the handler returns."""
    async with state.pool.connection() as connection:
        yield connection


async def _available_courier_served(state: State, courier: Courier) -> Courier:
    """The courier once it took the oldest waiting order, if it is available and one is
    confirmed by the gateway in time; as it was, if not (it is served later)."""
    if courier.status != "available":
        return courier
    deadline = asyncio.get_running_loop().time() + _SERVE_ON_REQUEST_SECONDS
    try:
        await state.reconciler.serve_waiting(deadline)
    except (psycopg.Error, PoolTimeout) as error:
        # The change is committed: the answer says so, and the retry worker serves later.
        log.warning("waiting orders not served after a courier change: %r", error)
        return courier
    async with state.pool.connection() as connection:
        return await roster.read_courier(connection, courier.id)


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
            default=None,
            ge=0,
            le=_MAX_ID,
            description="The `next_after` of the last page.",
            # Litestar leaves out a bound of 0 (it tests the value's truth, not its presence).
            schema_extra={"minimum": 0},
        ),
    ) -> CourierPage:
        return await roster.list_couriers(connection, after, limit)

    @get(
        "/stats",
        summary="Completed deliveries per courier, most first, a page at a time",
        description=(
            "Cancelled orders never count; each completed one counts once. Pass "
            "`next_cursor` back as `cursor`; the totals are over all couriers."
        ),
    )
    async def stats(
        self,
        connection: AsyncConnection,
        limit: int = Parameter(ge=1, le=1000, default=100, description="Couriers per page."),
        cursor: str | None = Parameter(
            default=None,
            description="The `next_cursor` of the last page.",
            pattern=StatsCursor.PATTERN,
        ),
    ) -> CourierStats:
        after = None if cursor is None else StatsCursor.decode(cursor)
        if cursor is not None and after is None:
            raise ValidationException(detail="cursor: pass back the `next_cursor` of a page")
        return await roster.read_stats(connection, after, limit)

    @get(
        "/{courier_id:int}",
        summary="One courier, with the order it delivers now",
        responses={404: _NO_COURIER},
    )
    async def get_courier(
        self, connection: AsyncConnection, courier_id: int = _COURIER_ID
    ) -> Courier:
        return await roster.read_courier(connection, courier_id)

    @post(
        "/",
        summary="Add a courier",
        description=(
            "Phone in E.164 (`+` and 7 to 15 digits), unique: 409 if taken. An available "
            "courier takes the oldest waiting order at once, once the order service "
            "confirms that order is still to be delivered."
        ),
        responses={409: _PHONE_TAKEN},
    )
    async def add_courier(
        self, state: State, data: Annotated[NewCourier, Body(schema_extra=_CLOSED_OBJECT)]
    ) -> Courier:
        async with state.pool.connection() as connection:
            added = await roster.add_courier(connection, data)
        return await _available_courier_served(state, added)

    @patch(
        "/{courier_id:int}",
        summary="Change a courier's name, transport or status",
        description=(
            "`status` may be `available` or `paused`; a courier made available takes the "
            "oldest waiting order at once, once the order service confirms that order is "
            "still to be delivered. A courier delivering an order keeps its status until "
            "the order ends (409)."
        ),
        responses={404: _NO_COURIER, 409: _DELIVERING},
    )
    async def change_courier(
        self,
        state: State,
        data: Annotated[CourierChanges, Body(schema_extra={**_CLOSED_OBJECT, "minProperties": 1})],
        courier_id: int = _COURIER_ID,
    ) -> Courier:
        if data.name is UNSET and data.transport is UNSET and data.status is UNSET:
            raise ValidationException(detail="give at least one of name, transport, status")
        async with state.pool.connection() as connection:
            changed = await roster.change_courier(connection, courier_id, data)
        if data.status != "available":
            return changed
        return await _available_courier_served(state, changed)


@get(
    "/api/v1/assignments/{order_id:str}",
    tags=["assignments"],
    summary="Who delivers an order",
    dependencies={"connection": Provide(provide_connection)},
    responses={
        404: ResponseSpec(
            ErrorBody, description="The service has not seen this order", generate_examples=False
        )
    },
)
async def get_assignment(
    connection: AsyncConnection,
    order_id: str = Parameter(
        description="The order's id: 1 to 64 letters, digits, `_` or `-`.",
        # Documents the check below, which keeps its own message.
        schema_extra={"pattern": ORDER_UID_PATTERN},
    ),
) -> Assignment:
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
