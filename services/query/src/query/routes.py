"""HTTP handlers: the order API, health, readiness and metrics. The page is served from `web/`.

A cache hit is the hot path: the order is already JSON bytes, so the handler only looks it
up, compares entity tags and hands the bytes over (`ReadyResponse`). The id is checked on a
miss: only valid ids are ever cached.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import msgspec
from litestar import Controller, MediaType, Request, Response, get
from litestar.datastructures import CacheControlHeader, State
from litestar.exceptions import ClientException, NotFoundException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.types import ASGIApp

from order_shared.model import ORDER_UID_PATTERN, Order
from query import openapi_examples as examples
from query.conditional import entity_tag, if_none_match, is_not_modified
from query.order_lookup import OrderLookup
from query.order_pages import MAX_CURSOR_LENGTH, MalformedCursor, decode_cursor, read_page
from query.order_reader import UnreadableOrder
from query.ready_response import json_response, not_modified
from query.schemas import ErrorBody, OrderPage, OrderStatusView
from query.store import CachedOrder

_ORDER_UID = re.compile(ORDER_UID_PATTERN)
_MAX_ORDER_UID_LENGTH = 64
_MALFORMED_ID = "malformed order id: use 1 to 64 letters, digits, '_' or '-'"
_MALFORMED_CURSOR = "malformed cursor: pass back the next_cursor of a previous page"


class _DateCreated(msgspec.Struct):
    date_created: datetime


_date_created = msgspec.json.Decoder(_DateCreated)
_encoder = msgspec.json.Encoder()

_ERRORS = {
    400: ResponseSpec(ErrorBody, description="Malformed id", examples=[examples.MALFORMED_ID]),
    404: ResponseSpec(ErrorBody, description="No such order", examples=[examples.NOT_FOUND]),
    422: ResponseSpec(
        ErrorBody,
        description="Stored, but holds a value this service cannot decode",
        examples=[examples.UNREADABLE],
    ),
    503: ResponseSpec(
        ErrorBody,
        description="Not cached, and PostgreSQL cannot be reached",
        examples=[examples.UNAVAILABLE],
    ),
}
_NOT_MODIFIED = ResponseSpec(
    None, description="The client's `If-None-Match` names the current version", media_type=""
)
_ORDER_UID_PARAMETER = Parameter(
    description="The order's `order_uid`: 1 to 64 letters, digits, `_` or `-`.",
    examples=[examples.ORDER_ID],
)


def _lookup(request: Request) -> OrderLookup:
    return request.app.state.lookup


async def _read(lookup: OrderLookup, order_uid: str) -> CachedOrder:
    """A miss: check the id (only valid ids are ever cached), then read it once."""
    if len(order_uid) > _MAX_ORDER_UID_LENGTH or not _ORDER_UID.fullmatch(order_uid):
        raise ValidationException(detail=_MALFORMED_ID)
    entry = await lookup.read(order_uid)
    if entry is None:
        raise NotFoundException(detail=f"no order with id {order_uid}")
    if isinstance(entry, UnreadableOrder):
        raise ClientException(
            status_code=422,
            detail=f"order {order_uid} is stored but cannot be read: {entry.reason}",
        )
    return entry


def _created_at(body: bytes) -> datetime:
    """The order's date_created in UTC, or as written if UTC cannot hold it (a date late
    on 9999-12-31 with a negative offset is in year 10000 in UTC)."""
    date_created = _date_created.decode(body).date_created
    try:
        return date_created.astimezone(UTC)
    except OverflowError:
        return date_created


class OrderController(Controller):
    path = "/api/v1/orders"
    tags = ("orders",)

    @get(
        "/{order_uid:str}",
        summary="One order",
        description=(
            "The order document exactly as it was ingested. `ETag` is the order's version: "
            "send it back in `If-None-Match` to get 304 while it is unchanged."
        ),
        responses={
            200: ResponseSpec(Order, description="The order document", examples=[examples.ORDER]),
            304: _NOT_MODIFIED,
            **_ERRORS,
        },
    )
    async def get_order(self, request: Request, order_uid: str = _ORDER_UID_PARAMETER) -> ASGIApp:
        # The lookup comes from the app's state rather than `Provide`: dependency
        # resolution would cost this hot path about 2 µs of its 15.
        lookup = _lookup(request)
        entry = lookup.cached(order_uid) or await _read(lookup, order_uid)
        tag = entity_tag(entry.version)
        if is_not_modified(if_none_match(request.scope["headers"]), tag):
            return not_modified(tag)
        return json_response(entry.body, tag)

    @get(
        "/{order_uid:str}/status",
        summary="An order's status",
        description=(
            "What the courier service reads: the status and when the order was created. "
            "`ETag` is the order's version, as for the order itself."
        ),
        responses={
            200: ResponseSpec(
                OrderStatusView, description="The order's status", examples=[examples.STATUS]
            ),
            304: _NOT_MODIFIED,
            **_ERRORS,
        },
    )
    async def get_order_status(
        self, request: Request, order_uid: str = _ORDER_UID_PARAMETER
    ) -> ASGIApp:
        lookup = _lookup(request)
        entry = lookup.cached(order_uid) or await _read(lookup, order_uid)
        tag = entity_tag(entry.version)
        if is_not_modified(if_none_match(request.scope["headers"]), tag):
            return not_modified(tag)
        status = OrderStatusView(order_uid, entry.status, _created_at(entry.body))
        body = _encoder.encode(status)
        return json_response(body, tag)

    @get(
        "/",
        summary="Orders, newest first",
        description=(
            "A page of order summaries, newest first by `date_created` (then `order_uid`). "
            "`items` is the number of items. Pass `next_cursor` back as `cursor` for the "
            "next page; it is null on the last one."
        ),
        cache_control=CacheControlHeader(no_cache=True),
        responses={
            200: ResponseSpec(OrderPage, description="A page of orders", examples=[examples.PAGE]),
            400: ResponseSpec(
                ErrorBody, description="Malformed limit or cursor", examples=[examples.BAD_PAGE]
            ),
            503: _ERRORS[503],
        },
    )
    async def list_orders(
        self,
        state: State,
        limit: int = Parameter(ge=1, le=100, default=20, description="Orders per page, 1 to 100."),
        cursor: str | None = Parameter(
            default=None,
            max_length=MAX_CURSOR_LENGTH,
            description="The `next_cursor` of the previous page; omit for the first page.",
        ),
    ) -> OrderPage:
        try:
            after = None if cursor is None else decode_cursor(cursor)
        except MalformedCursor:
            raise ValidationException(detail=_MALFORMED_CURSOR) from None
        return await read_page(state.pool, after, limit)


@get("/healthz", media_type=MediaType.JSON, tags=["health"], summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/readyz",
    media_type=MediaType.JSON,
    tags=["health"],
    summary="Readiness: the cache is warm",
    description="503 until every order has been listed into memory.",
)
async def readyz(state: State) -> Response[dict[str, object]]:
    synced = state.reflector.synced.is_set()
    body: dict[str, object] = {
        "ready": synced,
        "cached_orders": len(state.store),
        "last_change_seq": state.reflector.last_seq,
    }
    return Response(body, status_code=200 if synced else 503)


@get(
    "/metrics",
    media_type="text/plain; version=0.0.4",
    tags=["health"],
    summary="Prometheus metrics",
    include_in_schema=False,
)
async def metrics(state: State) -> bytes:
    return state.metrics.render()
