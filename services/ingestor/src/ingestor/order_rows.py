"""Accepted orders as lines of PostgreSQL's COPY text format: one line per row of
`orders`, `deliveries`, `payments` and `items`, in the column order of the COPY
statements here.

The ingestor formats the lines itself instead of handing psycopg one value at a time:
adapting every value separately was the largest part of the ingestor's CPU time.
"""

from __future__ import annotations

from operator import itemgetter

import msgspec
from msgspec.structs import astuple

from order_shared.model import Order, OrderStatus
from order_shared.order_tables import (
    DELIVERY_FIELDS,
    HEAD_FIELDS,
    ITEM_FIELDS,
    ORDER_FIELDS,
    ORDER_STATE_COLUMNS,
    PAYMENT_FIELDS,
)


def _copy(table: str, columns: tuple[str, ...]) -> str:
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN"


def _line_of(count: int) -> str:
    """A COPY text line of `count` values; `%s` writes ints, strings and datetimes (as
    `2021-11-26 06:22:19+00:00`) in forms PostgreSQL reads back."""
    return "\t".join(["%s"] * count) + "\n"


ORDER_COLUMNS = (*HEAD_FIELDS, *ORDER_STATE_COLUMNS)
COPY_ORDERS = _copy("orders", ORDER_COLUMNS)
COPY_DELIVERIES = _copy("deliveries", ("order_uid", *DELIVERY_FIELDS))
COPY_PAYMENTS = _copy("payments", ("order_uid", *PAYMENT_FIELDS))
COPY_ITEMS = _copy("items", ("order_uid", "position", *ITEM_FIELDS))

# A head row starts with the order's content and its hash, known at validation, and ends
# with its status, version and sequence number, known only in the write, and the partition
# and offset of the record it came from (ORDER_STATE_COLUMNS after content_hash).
_ORDER_CONTENT = "\t".join(["%s"] * len(HEAD_FIELDS)) + "\t\\\\x%s\t"
_ORDER_STATE = _line_of(len(ORDER_STATE_COLUMNS) - 1)
_DELIVERY_LINE = _line_of(1 + len(DELIVERY_FIELDS))
_PAYMENT_LINE = _line_of(1 + len(PAYMENT_FIELDS))
_ITEM_LINE = _line_of(2 + len(ITEM_FIELDS))
# The order's own fields out of all of its fields, in one C call.
_head_values = itemgetter(*(ORDER_FIELDS.index(name) for name in HEAD_FIELDS))


class OrderLines(msgspec.Struct, frozen=True, gc=False):
    """An order's lines, made while it is validated so that the write, which holds the
    change counter's lock, need not: all but the end of its head row."""

    head_start: str
    delivery: str
    payment: str
    items: list[str]


def order_lines(order: Order, document: bytes, content_hash: bytes) -> OrderLines:
    escape = _needs_escaping(document)
    return OrderLines(
        _head_start(order, content_hash, escape=escape),
        _delivery_line(order, escape=escape),
        _payment_line(order, escape=escape),
        _item_lines(order, escape=escape),
    )


def head_line(
    lines: OrderLines,
    status: OrderStatus,
    status_changed_at: str,
    version: int,
    change_seq: int,
    source: tuple[int, int],
) -> str:
    """The order's head row, given its state after the write (the time in ISO 8601) and the
    (partition, offset) of the record its content came from."""
    return lines.head_start + _ORDER_STATE % (
        status,
        status_changed_at,
        version,
        change_seq,
        *source,
    )


def _needs_escaping(document: bytes) -> bool:
    """Whether any string of the order holds a backslash, tab or line break.

    The canonical JSON writes each of them as an escape sequence, so a document
    without a backslash has none of them, and its strings go into COPY as they are.
    """
    return b"\\" in document


def _head_start(order: Order, content_hash: bytes, *, escape: bool) -> str:
    return _format(_ORDER_CONTENT, (*_head_values(astuple(order)), content_hash.hex()), escape)


def _delivery_line(order: Order, *, escape: bool) -> str:
    return _format(_DELIVERY_LINE, (order.order_uid, *astuple(order.delivery)), escape)


def _payment_line(order: Order, *, escape: bool) -> str:
    return _format(_PAYMENT_LINE, (order.order_uid, *astuple(order.payment)), escape)


def _item_lines(order: Order, *, escape: bool) -> list[str]:
    uid = order.order_uid
    return [
        _format(_ITEM_LINE, (uid, position, *astuple(item)), escape)
        for position, item in enumerate(order.items)
    ]


def _format(line: str, values: tuple[object, ...], escape: bool) -> str:
    if escape:
        values = tuple(_escaped(value) if isinstance(value, str) else value for value in values)
    return line % values


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
