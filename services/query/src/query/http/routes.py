"""HTTP handlers: the order API, health, readiness and metrics, over one OrderInformer.
The page is served from `web/`.

The handlers close over the informer and the pool they are built with, so each is typed
and none looks anything up by name. A cached order is already JSON bytes: a handler only
looks it up, compares entity tags and hands the bytes over (`ReadyResponse`); most cache
hits of `GET /api/v1/orders/{id}` are answered before Litestar (`hot_path`), and what
reaches these handlers is everything else. Ids are checked before the lookup: only valid
ids are ever cached.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import msgspec
from litestar import MediaType, Request, Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import ClientException, NotFoundException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.types import ASGIApp
from psycopg_pool import AsyncConnectionPool

from order_shared.model import ORDER_UID_PATTERN, Order, OrderStatus
from query.commands.redis_refusals import RedisRefusals
from query.http import openapi_examples as examples
from query.http.conditional import entity_tag, if_none_match, is_not_modified
from query.http.metrics import QueryMetrics
from query.http.order_pages import (
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
from query.http.ready_response import json_response, not_modified
from query.http.schemas import ErrorBody, OrderPage, OrderStatusView
from query.informer.informer import OrderInformer
from query.informer.order_reader import UnreadableOrder
from query.informer.store import CachedOrder, ErasedOrder

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
    400: ResponseSpec(
        ErrorBody,
        description="Malformed id",
        examples=[examples.MALFORMED_ID],
        generate_examples=False,
    ),
    404: ResponseSpec(
        ErrorBody,
        description="No such order",
        examples=[examples.NOT_FOUND],
        generate_examples=False,
    ),
    422: ResponseSpec(
        ErrorBody,
        description="Stored, but holds a value this service cannot decode",
        examples=[examples.UNREADABLE],
        generate_examples=False,
    ),
    503: ResponseSpec(
        ErrorBody,
        description="Not cached, and PostgreSQL cannot be reached",
        examples=[examples.UNAVAILABLE],
        generate_examples=False,
    ),
}
_GONE = ResponseSpec(
    ErrorBody,
    description=(
        "The order was erased (a tombstone on `orders`); `ETag` is the erasure's version. "
        "An order sent again under the id is a new order with a higher version"
    ),
    examples=[examples.ERASED],
    generate_examples=False,
)
_NOT_MODIFIED = ResponseSpec(
    None,
    description="The client's `If-None-Match` names the current version",
    media_type="",
    generate_examples=False,
)
ORDER_UID_PARAMETER = Parameter(
    description="The order's `order_uid`: 1 to 64 letters, digits, `_` or `-`.",
    examples=[examples.ORDER_ID],
    # Documents the check `entry_of` makes (with its own message, before any lookup).
    schema_extra={"pattern": ORDER_UID_PATTERN},
)
_STATUS_PARAMETER = Parameter(
    default=None, description="Only orders with this status: `created`, `cancelled` or `completed`."
)


def _created_at(body: bytes) -> datetime:
    """The order's date_created in UTC, or as written if UTC cannot hold it (a date late
    on 9999-12-31 with a negative offset is in year 10000 in UTC)."""
    date_created = _date_created.decode(body).date_created
    try:
        return date_created.astimezone(UTC)
    except OverflowError:
        return date_created


def _status_body(order_uid: str, entry: CachedOrder) -> bytes:
    return _encoder.encode(OrderStatusView(order_uid, entry.status, _created_at(entry.body)))


def _document(order_uid: str, entry: CachedOrder) -> bytes:
    return entry.body


def order_routes(
    informer: OrderInformer,
    pool: AsyncConnectionPool,
    commands: Sequence[HTTPRouteHandler] = (),
) -> Router:
    """`/api/v1/orders`: one order, its status, and pages of the newest orders; and the
    `commands` (one router per path: Litestar gives each path one OPTIONS handler)."""

    async def entry_of(order_uid: str, gone: bool) -> CachedOrder:
        """From memory, or read once: 400, 404 or 422; for an erased order 410 if `gone`,
        else 404. (Only valid ids are ever cached, so checking first changes no hit's
        answer.)"""
        if len(order_uid) > _MAX_ORDER_UID_LENGTH or not _ORDER_UID.fullmatch(order_uid):
            raise ValidationException(detail=_MALFORMED_ID)
        read = await informer.get_or_read(order_uid)
        if read is None:
            raise NotFoundException(detail=f"no order with id {order_uid}")
        if isinstance(read, ErasedOrder):
            detail = f"order {order_uid} was erased"
            if not gone:
                raise NotFoundException(detail=detail)
            raise ClientException(
                status_code=410,
                detail=detail,
                headers={"etag": entity_tag(read.version).decode()},
            )
        if isinstance(read, UnreadableOrder):
            raise ClientException(
                status_code=422,
                detail=f"order {order_uid} is stored but cannot be read: {read.reason}",
            )
        return read

    async def answer(
        request: Request,
        order_uid: str,
        body_of: Callable[[str, CachedOrder], bytes],
        gone: bool = False,
    ) -> ASGIApp:
        """Lookup, entity tag, 304 or the body: what both order routes do."""
        entry = await entry_of(order_uid, gone)
        tag = entity_tag(entry.version)
        if is_not_modified(if_none_match(request.scope["headers"]), tag):
            return not_modified(tag)
        return json_response(body_of(order_uid, entry), tag)

    @get(
        "/{order_uid:str}",
        summary="One order",
        description=(
            "The order document exactly as it was ingested. `ETag` is the order's version: "
            "send it back in `If-None-Match` to get 304 while it is unchanged."
        ),
        responses={
            200: ResponseSpec(
                Order,
                description="The order document",
                examples=[examples.ORDER],
                generate_examples=False,
            ),
            304: _NOT_MODIFIED,
            **_ERRORS,
        },
    )
    async def get_order(request: Request, order_uid: str = ORDER_UID_PARAMETER) -> ASGIApp:
        return await answer(request, order_uid, _document)

    @get(
        "/{order_uid:str}/status",
        summary="An order's status",
        description=(
            "What the courier service reads: the status and when the order was created. "
            "`ETag` is the order's version, as for the order itself. An erased order is "
            "410 Gone (the order itself is then 404), so that a reader can tell it from "
            "an order not seen yet."
        ),
        responses={
            200: ResponseSpec(
                OrderStatusView,
                description="The order's status",
                examples=[examples.STATUS],
                generate_examples=False,
            ),
            304: _NOT_MODIFIED,
            **_ERRORS,
            410: _GONE,
        },
    )
    async def get_order_status(request: Request, order_uid: str = ORDER_UID_PARAMETER) -> ASGIApp:
        return await answer(request, order_uid, _status_body, gone=True)

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
            200: ResponseSpec(
                OrderPage,
                description="A page of orders",
                examples=[examples.PAGE],
                generate_examples=False,
            ),
            400: ResponseSpec(
                ErrorBody,
                description=(
                    "Malformed limit, cursor or filter, or a cursor of a search with other filters"
                ),
                examples=[examples.BAD_PAGE, examples.BAD_SEARCH],
                generate_examples=False,
            ),
            503: _ERRORS[503],
        },
    )
    async def list_orders(
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
        return await read_page(pool, search, after, limit)

    return Router(
        "/api/v1/orders",
        route_handlers=[get_order, get_order_status, list_orders, *commands],
        tags=["orders"],
    )


def health_routes(
    informer: OrderInformer, metrics: QueryMetrics, refusals: RedisRefusals
) -> list[HTTPRouteHandler]:
    """Liveness, readiness (the cache is warm; a note while Redis refuses writes) and
    Prometheus metrics."""

    @get("/healthz", media_type=MediaType.JSON, tags=["health"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @get(
        "/readyz",
        media_type=MediaType.JSON,
        tags=["health"],
        summary="Readiness: the cache is warm",
        description="503 until every order has been listed into memory.",
        responses={
            503: ResponseSpec(
                dict[str, object],
                description="Not ready yet: the same body",
                generate_examples=False,
            )
        },
    )
    async def readyz() -> Response[dict[str, object]]:
        synced = informer.has_synced()
        body: dict[str, object] = {
            "ready": synced,
            "cached_orders": len(informer),
            "last_change_seq": informer.last_seq,
        }
        note = refusals.readiness_note()
        if note is not None:
            body["redis_writes_refused"] = note
        return Response(body, status_code=200 if synced else 503)

    @get(
        "/metrics",
        media_type="text/plain; version=0.0.4",
        tags=["health"],
        summary="Prometheus metrics",
        include_in_schema=False,
    )
    async def render_metrics() -> bytes:
        return metrics.render()

    return [healthz, readyz, render_metrics]
