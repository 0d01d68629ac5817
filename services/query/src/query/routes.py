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
from litestar.exceptions import NotFoundException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.types import ASGIApp

from order_shared.model import ORDER_UID_PATTERN, Order, OrderStatus
from query import openapi_examples as examples
from query.conditional import entity_tag, if_none_match, is_not_modified
from query.order_lookup import OrderLookup
from query.order_pages import (
    MAX_CURSOR_LENGTH,
    MAX_SEARCH_TEXT_LENGTH,
    SEARCH_TEXT_PATTERN,
    CursorOfAnotherSearch,
    InvalidSearch,
    MalformedCursor,
    OrderSearch,
    continue_search,
    parse_zoned_datetime,
    read_page,
)
from query.ready_response import json_response, not_modified
from query.schemas import ErrorBody, OrderPage, OrderStatusView
from query.store import CachedOrder

_ORDER_UID = re.compile(ORDER_UID_PATTERN)
_MAX_ORDER_UID_LENGTH = 64
_MALFORMED_ID = "malformed order id: use 1 to 64 letters, digits, '_' or '-'"
_MALFORMED_CURSOR = "malformed cursor: pass back the next_cursor of a previous page"
_CURSOR_OF_ANOTHER_SEARCH = (
    "this cursor belongs to a search with other filters: pass the same filters as the "
    "page it came from, or leave out the cursor to start from the newest"
)


class _DateCreated(msgspec.Struct):
    date_created: datetime


_date_created = msgspec.json.Decoder(_DateCreated)
_encoder = msgspec.json.Encoder()

_ERRORS = {
    400: ResponseSpec(ErrorBody, description="Malformed id", examples=[examples.MALFORMED_ID]),
    404: ResponseSpec(ErrorBody, description="No such order", examples=[examples.NOT_FOUND]),
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

_STATUS_PARAMETER = Parameter(
    default=None, description="Only orders with this status: `created`, `cancelled` or `completed`."
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
    return entry


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
        created_at = _date_created.decode(entry.body).date_created.astimezone(UTC)
        body = _encoder.encode(OrderStatusView(order_uid, entry.status, created_at))
        return json_response(body, tag)

    @get(
        "/",
        summary="Orders, newest first, optionally filtered",
        description=(
            "A page of order summaries, newest first by `date_created` (then `order_uid`). "
            "`items` is the number of items. Pass `next_cursor` back as `cursor` for the "
            "next page, with the same filters; it is null on the last one. The filters "
            "are optional and all must hold: `track_number`, `customer_id` and `status` "
            "match exactly, `created_from` (inclusive) and `created_to` (exclusive) bound "
            "`date_created`."
        ),
        cache_control=CacheControlHeader(no_cache=True),
        responses={
            200: ResponseSpec(OrderPage, description="A page of orders", examples=[examples.PAGE]),
            400: ResponseSpec(
                ErrorBody,
                description=(
                    "Malformed limit, cursor or filter, or a cursor of a search with other filters"
                ),
                examples=[examples.BAD_PAGE, examples.BAD_SEARCH],
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
            description=(
                "The `next_cursor` of the previous page; omit for the first page. It is "
                "valid only with the filters of the page it came from."
            ),
        ),
        track_number: str | None = Parameter(
            default=None,
            min_length=1,
            max_length=MAX_SEARCH_TEXT_LENGTH,
            pattern=SEARCH_TEXT_PATTERN,
            description="Only orders with exactly this `track_number`.",
            examples=[examples.TRACK_NUMBER],
        ),
        customer_id: str | None = Parameter(
            default=None,
            min_length=1,
            max_length=MAX_SEARCH_TEXT_LENGTH,
            pattern=SEARCH_TEXT_PATTERN,
            description="Only orders of exactly this `customer_id`.",
            examples=[examples.CUSTOMER_ID],
        ),
        status: OrderStatus | None = _STATUS_PARAMETER,
        created_from: str | None = Parameter(
            default=None,
            schema_extra={"format": "date-time"},
            description=(
                "Only orders created at or after this time: RFC 3339 with a zone, "
                "e.g. `2026-11-01T00:00:00Z`."
            ),
            examples=[examples.CREATED_FROM],
        ),
        created_to: str | None = Parameter(
            default=None,
            schema_extra={"format": "date-time"},
            description=(
                "Only orders created before this time: RFC 3339 with a zone; later "
                "than `created_from`."
            ),
            examples=[examples.CREATED_TO],
        ),
    ) -> OrderPage:
        try:
            search = OrderSearch(
                track_number=track_number,
                customer_id=customer_id,
                status=status,
                created_from=parse_zoned_datetime("created_from", created_from),
                created_to=parse_zoned_datetime("created_to", created_to),
            )
            after = None if cursor is None else continue_search(cursor, search)
        except InvalidSearch as error:
            raise ValidationException(detail=str(error)) from None
        except MalformedCursor:
            raise ValidationException(detail=_MALFORMED_CURSOR) from None
        except CursorOfAnotherSearch:
            raise ValidationException(detail=_CURSOR_OF_ANOTHER_SEARCH) from None
        return await read_page(state.pool, search, after, limit)


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
