"""The order document: the one shape every service reads, writes and serves.

Field names, order and types follow the canonical document (`data/model.json` of
the design). Decoding is strict: a wrong type, a missing field or an unknown field
is an error, because a document we cannot round-trip exactly must not be stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta


def whole_string(pattern: str) -> str:
    """A pattern that must match the whole string.

    msgspec matches with `re.search`, where `$` also matches before a final newline, so
    `^[a-z]+$` would let `"abc\\n"` through. The lookahead makes `$` the very end; it means
    the same in the JSON Schema of the OpenAPI document.
    """
    return rf"^(?:{pattern})$(?!\n)"


ORDER_UID_PATTERN = whole_string(r"[A-Za-z0-9_-]{1,64}")

OrderUid = Annotated[str, Meta(pattern=ORDER_UID_PATTERN)]
ShortText = Annotated[str, Meta(max_length=256)]
LongText = Annotated[str, Meta(max_length=1024)]
Money = Annotated[int, Meta(ge=0, le=10**15)]
Count = Annotated[int, Meta(ge=0, le=2**53)]
# Three capital letters, and listed in ISO 4217: rules.py.
CurrencyCode = Annotated[str, Meta(pattern=whole_string(r"[A-Z]{3}"))]
Email = Annotated[str, Meta(pattern=whole_string(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+"), max_length=254)]
# E.164: a plus, then 7 to 15 digits.
Phone = Annotated[str, Meta(pattern=whole_string(r"\+[1-9][0-9]{6,14}"))]
UnixSeconds = Annotated[int, Meta(ge=0, le=253_402_300_799)]
Percent = Annotated[int, Meta(ge=0, le=100)]


def outside_utc_years(value: datetime, path: str) -> str | None:
    """What is wrong with a date that has no UTC form, or None.

    Every reader works in UTC, and an offset can carry a valid date outside years 1-9999
    there (`9999-12-31T23:00:00-05:00`): PostgreSQL would store it and no reader load it.
    A check beside decoding rather than in `__post_init__`: Litestar builds example
    Orders from this model for the OpenAPI document.
    """
    try:
        value.astimezone(UTC)
    except OverflowError:
        return f"{value.isoformat()} is outside years 1 to 9999 once in UTC - at `{path}`"
    return None


# An order is `created` on first ingest; `cancelled` and `completed` are terminal.
OrderStatus = Literal["created", "cancelled", "completed"]


class Delivery(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    name: ShortText
    phone: Phone
    zip: ShortText
    city: ShortText
    address: LongText
    region: ShortText
    email: Email


class Payment(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    transaction: ShortText
    request_id: ShortText
    currency: CurrencyCode
    provider: ShortText
    amount: Money
    payment_dt: UnixSeconds
    bank: ShortText
    delivery_cost: Money
    goods_total: Money
    custom_fee: Money


class Item(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    chrt_id: Count
    track_number: ShortText
    price: Money
    rid: ShortText
    name: ShortText
    sale: Percent
    size: ShortText
    total_price: Money
    nm_id: Count
    brand: ShortText
    status: Count


class Order(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    order_uid: OrderUid
    track_number: ShortText
    entry: ShortText
    delivery: Delivery
    payment: Payment
    items: Annotated[list[Item], Meta(min_length=1, max_length=1000)]
    locale: ShortText
    internal_signature: ShortText
    customer_id: ShortText
    delivery_service: ShortText
    shardkey: ShortText
    sm_id: Count
    date_created: Annotated[datetime, Meta(tz=True)]
    oof_shard: ShortText


class StatusChange(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A message of the `order-status` topic."""

    order_uid: OrderUid
    status: Literal["cancelled", "completed"]
    changed_at: Annotated[datetime, Meta(tz=True)]


_order_decoder = msgspec.json.Decoder(Order)
_status_decoder = msgspec.json.Decoder(StatusChange)
_encoder = msgspec.json.Encoder()


def decode_order(raw: bytes) -> Order:
    """Decode and validate one order document; raises msgspec.ValidationError or DecodeError."""
    order = _order_decoder.decode(raw)
    if problem := outside_utc_years(order.date_created, "$.date_created"):
        raise msgspec.ValidationError(problem)
    return order


def decode_status_change(raw: bytes) -> StatusChange:
    change = _status_decoder.decode(raw)
    if problem := outside_utc_years(change.changed_at, "$.changed_at"):
        raise msgspec.ValidationError(problem)
    return change


def encode_order(order: Order) -> bytes:
    """The order as JSON bytes, fields in the canonical order, UTC dates with a `Z`."""
    return _encoder.encode(order)
