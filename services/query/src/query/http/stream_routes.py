"""`/api/v1/events`: the live streams of the page (server-sent events), one order's and
the newest orders'. What they carry and when is the change feed's (`streams.change_feed`);
these handlers admit the client (`streams.admission`), find where it resumes
(`Last-Event-ID`, or `last_event_id` for a first connection that already holds a
version), and hand over an `EventStreamResponse`.

They sit under their own path prefix so that a proxy can pass exactly these unbuffered
and with long read timeouts (the local ingress, Compose's proxy, the chart's Ingress).
"""

from __future__ import annotations

import contextlib
import re

from litestar import MediaType, Request, Response, Router, get
from litestar.exceptions import ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Parameter
from litestar.types import ASGIApp

from order_shared.model import ORDER_UID_PATTERN
from query.http import openapi_examples as examples
from query.http.event_stream import EventStreamResponse
from query.http.routes import ORDER_UID_PARAMETER
from query.http.schemas import ErrorBody
from query.informer.informer import OrderInformer
from query.informer.order_reader import UnreadableOrder
from query.informer.store import CachedOrder, ErasedOrder
from query.streams import frames
from query.streams.admission import StreamAdmission, StreamRefused

STREAMS_PATH = "/api/v1/events"
RETRY_AFTER_SECONDS = 5
_ORDER_UID = re.compile(ORDER_UID_PATTERN)
_MAX_ORDER_UID_LENGTH = 64
_MALFORMED_ID = "malformed order id: use 1 to 64 letters, digits, '_' or '-'"
_EVENT_ID = re.compile(r"[0-9]{1,18}")

_REFUSED = ResponseSpec(
    ErrorBody,
    description=(
        "Too many streams: on this replica, or from this client's address; "
        "`Retry-After` says when to try again"
    ),
    examples=[
        Example(
            summary="Streams per address",
            value={"status_code": 503, "detail": "16 streams are open from 203.0.113.7"},
        )
    ],
    generate_examples=False,
)
_LAST_EVENT_ID = Parameter(
    default=None,
    max_length=18,
    pattern=r"^[0-9]{1,18}$",
    description=(
        "Where to resume, for a first connection: the id of the last event the client "
        "holds. A `Last-Event-ID` header (a browser's reconnection sends it) wins over it."
    ),
)


def stream_routes(
    informer: OrderInformer, admission: StreamAdmission, heartbeat_seconds: float
) -> Router:
    feed = informer.feed

    def resume_point(request: Request, last_event_id: str | None) -> int | None:
        value = request.headers.get("last-event-id") or last_event_id
        if value is None:
            return None
        value = value.strip()
        if not _EVENT_ID.fullmatch(value):
            raise ValidationException(
                detail="malformed Last-Event-ID: pass back the id of an event of this stream"
            )
        return int(value)

    def refused(error: StreamRefused) -> Response[ErrorBody]:
        return Response(
            ErrorBody(503, f"no stream now: {error}"),
            status_code=503,
            media_type=MediaType.JSON,
            headers={"retry-after": str(RETRY_AFTER_SECONDS)},
        )

    @get(
        "/orders/{order_uid:str}",
        summary="One order's changes, live",
        description=(
            "Server-sent events (`text/event-stream`) for one order, as this replica "
            "applies its changes: `order` (`{order_uid, version, status, order?}`; "
            "`order`, the document, is left out when only the status changed), "
            "`erased` (`{order_uid, version}`), `courier` (`{order_uid, version}`: who "
            "delivers it changed; read `/api/v1/assignments/{order_uid}` again) and "
            "`reload` (`{reason}`: read the order again). Each event's `id` is the "
            "order's version; with `Last-Event-ID` (or `last_event_id`) the order is "
            "sent at once only if it changed since, else it is sent at once. An unknown "
            "order's stream stays open and sends the order when it arrives. Comments "
            "(`: keep-alive`) keep quiet connections open. A client that reads too "
            "slowly gets `reload` and is dropped."
        ),
        media_type="text/event-stream",
        responses={
            200: ResponseSpec(
                str,
                media_type="text/event-stream",
                description="The stream; it ends when the replica stops",
                examples=[
                    Example(
                        summary="A status change",
                        value=(
                            'id: 2\nevent: order\ndata: {"order_uid":"b563feb7b2b84b6test",'
                            '"version":2,"status":"completed"}\n\n'
                        ),
                    )
                ],
                generate_examples=False,
            ),
            400: ResponseSpec(
                ErrorBody,
                description="Malformed id or Last-Event-ID",
                examples=[examples.MALFORMED_ID],
                generate_examples=False,
            ),
            503: _REFUSED,
        },
        tags=["streams"],
    )
    async def order_events(
        request: Request,
        order_uid: str = ORDER_UID_PARAMETER,
        last_event_id: str | None = _LAST_EVENT_ID,
    ) -> ASGIApp:
        if len(order_uid) > _MAX_ORDER_UID_LENGTH or not _ORDER_UID.fullmatch(order_uid):
            raise ValidationException(detail=_MALFORMED_ID)
        since = resume_point(request, last_event_id)
        with contextlib.ExitStack() as stream:
            try:
                stream.enter_context(admission.admitted(request.scope))
            except StreamRefused as error:
                return refused(error)
            # Watch first, then read: a change applied while the read waits is not missed.
            subscription = stream.enter_context(feed.watch_order(order_uid))
            current = await informer.get_or_read(order_uid)
            first = _first_event(order_uid, current, since)
            if first is not None:
                subscription.push(first)
            return EventStreamResponse(subscription, heartbeat_seconds, stream.pop_all().close)
        raise AssertionError("unreachable")

    @get(
        "/newest-orders",
        summary="The newest orders' changes, live",
        description=(
            "Server-sent events (`text/event-stream`) for every order this replica applies "
            "a change of, as list rows: `order` (the fields of `GET /api/v1/orders`'s "
            "summaries and `version`; only `order_uid`, `version` and `status` when just "
            "the status changed), `erased` (`{order_uid, version}`) and, first on every "
            "connection, `position` (`{last_event_id}`: where the client stands, so that it "
            "resumes from there even before any change came). Changes are sent "
            "together at most every `STREAM_NEWEST_INTERVAL_MS`, the latest 20 orders "
            "changed. Each event's `id` is a change sequence: reconnect with it as "
            "`Last-Event-ID` (here or on another replica) to be sent what changed since, "
            "or `reload` (`{reason}`: read the list again) when that is no longer known. "
            "Comments (`: keep-alive`) keep quiet connections open. A client that reads "
            "too slowly gets `reload` and is dropped."
        ),
        media_type="text/event-stream",
        responses={
            200: ResponseSpec(
                str,
                media_type="text/event-stream",
                description="The stream; it ends when the replica stops",
                examples=[
                    Example(
                        summary="A new order",
                        value=(
                            'id: 41\nevent: order\ndata: {"order_uid":"b563feb7b2b84b6test",'
                            '"version":1,"status":"created","track_number":"WBILMTESTTRACK",'
                            '"date_created":"2021-11-26T06:22:19Z","customer_id":"test",'
                            '"delivery_service":"meest","currency":"USD","amount":1817,'
                            '"items":1}\n\n'
                        ),
                    )
                ],
                generate_examples=False,
            ),
            400: ResponseSpec(
                ErrorBody,
                description="Malformed Last-Event-ID",
                examples=[
                    Example(
                        summary="Not an event id",
                        value={
                            "status_code": 400,
                            "detail": "malformed Last-Event-ID: pass back the id of an "
                            "event of this stream",
                        },
                    )
                ],
                generate_examples=False,
            ),
            503: _REFUSED,
        },
        tags=["streams"],
    )
    async def newest_order_events(
        request: Request, last_event_id: str | None = _LAST_EVENT_ID
    ) -> ASGIApp:
        since = resume_point(request, last_event_id)
        with contextlib.ExitStack() as stream:
            try:
                stream.enter_context(admission.admitted(request.scope))
            except StreamRefused as error:
                return refused(error)
            subscription = stream.enter_context(feed.watch_newest(since))
            return EventStreamResponse(subscription, heartbeat_seconds, stream.pop_all().close)
        raise AssertionError("unreachable")

    return Router(STREAMS_PATH, route_handlers=[order_events, newest_order_events])


def _first_event(
    order_uid: str,
    current: CachedOrder | UnreadableOrder | ErasedOrder | None,
    since: int | None,
) -> bytes | None:
    """The order as it is now, unless the client holds that version already."""
    if isinstance(current, CachedOrder):
        if since is None or current.version > since:
            return frames.order_event(order_uid, current.version, current.status, current.body)
    elif isinstance(current, ErasedOrder):
        if since is None or current.version > since:
            return frames.erased_event(order_uid, current.version, current.version)
    return None
