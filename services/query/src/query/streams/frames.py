"""The server-sent events (text/event-stream) the streams send, each encoded once and
shared by every stream that sends it.

Events of one order's stream carry the order's version as their `id`: a client that
reconnects with it as `Last-Event-ID` is sent the order again only if it changed since.
Events of the newest orders' stream carry a change sequence as their `id`: every change up
to it was applied on the replica when the event was made, so a client resuming from it
misses nothing and may see a change twice (its version tells it so).

Every `data:` is one line of JSON: msgspec writes no raw line breaks, and the documents
come from the store already encoded by it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from order_shared.model import OrderStatus

# How long a browser's EventSource waits before it reconnects (milliseconds).
RECONNECT_MILLISECONDS = 1000
STREAM_OPENING = b"retry: %d\n\n" % RECONNECT_MILLISECONDS
HEARTBEAT = b": keep-alive\n\n"


class OrderChange(msgspec.Struct, frozen=True, omit_defaults=True):
    """`order`: the order as it is now. `order` (the document) is left out when only its
    status changed: the document is then the one the client holds."""

    order_uid: str
    version: int
    status: OrderStatus
    order: msgspec.Raw | None = None


class OrderErased(msgspec.Struct, frozen=True):
    """`erased`: the order was erased at `version`; a higher version is the id sent again."""

    order_uid: str
    version: int


class CourierChanged(msgspec.Struct, frozen=True):
    """`courier`: who delivers the order changed; read `/api/v1/assignments/{id}` again.
    `version` is the order's version as this replica knows it (0: not known)."""

    order_uid: str
    version: int


class OrderSummaryChange(msgspec.Struct, frozen=True, omit_defaults=True):
    """`order` on the newest orders' stream: the summary a list row shows, as
    `GET /api/v1/orders` gives it, with the version. Only `order_uid`, `version` and
    `status` when just the status changed."""

    order_uid: str
    version: int
    status: OrderStatus
    track_number: str | None = None
    date_created: str | None = None
    customer_id: str | None = None
    delivery_service: str | None = None
    currency: str | None = None
    amount: int | None = None
    items: int | None = None


class Reload(msgspec.Struct, frozen=True):
    """`reload`: what was missed is no longer known here; read the order or list anew."""

    reason: str


class Position(msgspec.Struct, frozen=True):
    """`position`: where the client stands (every change up to `last_event_id` is in what
    it was sent or listed); sent when a newest orders' stream opens, so that a client that
    reconnects before any change arrived still resumes from here."""

    last_event_id: int


class _Payment(msgspec.Struct):
    currency: str
    amount: int


class _SummaryFields(msgspec.Struct):
    track_number: str
    date_created: datetime
    customer_id: str
    delivery_service: str
    payment: _Payment
    items: list[msgspec.Raw]


_encode = msgspec.json.Encoder().encode
_summary_fields = msgspec.json.Decoder(_SummaryFields)


def event(kind: bytes, event_id: int, payload: msgspec.Struct) -> bytes:
    """One event: its id, its kind and its JSON data."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, kind, _encode(payload))


def order_event(order_uid: str, version: int, status: OrderStatus, document: bytes | None) -> bytes:
    raw = None if document is None else msgspec.Raw(document)
    return event(b"order", version, OrderChange(order_uid, version, status, raw))


def erased_event(order_uid: str, version: int, event_id: int) -> bytes:
    return event(b"erased", event_id, OrderErased(order_uid, version))


def courier_event(order_uid: str, version: int) -> bytes:
    return event(b"courier", version, CourierChanged(order_uid, version))


def position_event(event_id: int) -> bytes:
    return event(b"position", event_id, Position(event_id))


def reload_event(event_id: int | None, reason: str) -> bytes:
    """Without an id (an overflow) the client's Last-Event-ID stays that of the last event
    it was sent, so a reconnection resumes from there."""
    if event_id is None:
        return b"event: reload\ndata: %s\n\n" % _encode(Reload(reason))
    return event(b"reload", event_id, Reload(reason))


def summary_event(
    event_id: int, order_uid: str, version: int, status: OrderStatus, document: bytes | None
) -> bytes:
    return event(b"order", event_id, summary(order_uid, version, status, document))


def summary(
    order_uid: str, version: int, status: OrderStatus, document: bytes | None
) -> OrderSummaryChange:
    """The list row of a document (a stored document always decodes; one that does not
    is sent as a status change)."""
    if document is None:
        return OrderSummaryChange(order_uid, version, status)
    try:
        fields = _summary_fields.decode(document)
    except msgspec.DecodeError:
        return OrderSummaryChange(order_uid, version, status)
    return OrderSummaryChange(
        order_uid,
        version,
        status,
        track_number=fields.track_number,
        date_created=_in_utc(fields.date_created),
        customer_id=fields.customer_id,
        delivery_service=fields.delivery_service,
        currency=fields.payment.currency,
        amount=fields.payment.amount,
        items=len(fields.items),
    )


def _in_utc(moment: datetime) -> str:
    """As the list writes it: UTC, unless UTC cannot hold it (year 10000)."""
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        pass
    return _encode(moment).decode()[1:-1]
