"""Accepted orders as lines of PostgreSQL's COPY text format: one line per row of
`orders`, `deliveries`, `payments` and `items`, in the column order of the COPY
statements here.

The ingestor formats the lines itself instead of handing psycopg one value at a time:
adapting every value separately was the largest part of the ingestor's CPU time.
"""

from __future__ import annotations

import msgspec

from order_shared.model import Order, OrderStatus

ORDER_COLUMNS = """
    order_uid, track_number, entry, locale, internal_signature, customer_id,
    delivery_service, shardkey, sm_id, date_created, oof_shard, content_hash,
    status, status_changed_at, version, change_seq, source_partition, source_offset
"""
COPY_ORDERS = f"COPY orders ({ORDER_COLUMNS}) FROM STDIN"
COPY_DELIVERIES = """
COPY deliveries (order_uid, name, phone, zip, city, address, region, email) FROM STDIN
"""
COPY_PAYMENTS = """
COPY payments (
    order_uid, transaction, request_id, currency, provider, amount, payment_dt, bank,
    delivery_cost, goods_total, custom_fee
) FROM STDIN
"""
COPY_ITEMS = """
COPY items (
    order_uid, position, chrt_id, track_number, price, rid, name, sale, size,
    total_price, nm_id, brand, status
) FROM STDIN
"""

# A head row starts with the order's content, known at validation, and ends with its
# status, version and sequence number, known only in the write, and the partition and
# offset of the record it came from.
_ORDER_CONTENT = "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t\\\\x%s\t"
_ORDER_STATE = "%s\t%s\t%d\t%d\t%d\t%d\n"
_DELIVERY_LINE = "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n"
_PAYMENT_LINE = "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%d\t%d\t%d\n"
_ITEM_LINE = "%s\t%d\t%d\t%s\t%d\t%s\t%s\t%d\t%s\t%d\t%d\t%s\t%d\n"


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
    o = order
    return _format(
        _ORDER_CONTENT,
        (
            o.order_uid, o.track_number, o.entry, o.locale, o.internal_signature,
            o.customer_id, o.delivery_service, o.shardkey, o.sm_id, o.date_created.isoformat(),
            o.oof_shard, content_hash.hex(),
        ),
        escape,
    )  # fmt: skip


def _delivery_line(order: Order, *, escape: bool) -> str:
    d = order.delivery
    return _format(
        _DELIVERY_LINE,
        (order.order_uid, d.name, d.phone, d.zip, d.city, d.address, d.region, d.email),
        escape,
    )


def _payment_line(order: Order, *, escape: bool) -> str:
    p = order.payment
    return _format(
        _PAYMENT_LINE,
        (
            order.order_uid, p.transaction, p.request_id, p.currency, p.provider, p.amount,
            p.payment_dt, p.bank, p.delivery_cost, p.goods_total, p.custom_fee,
        ),
        escape,
    )  # fmt: skip


def _item_lines(order: Order, *, escape: bool) -> list[str]:
    uid = order.order_uid
    lines = []
    for position, i in enumerate(order.items):
        values = (
            uid, position, i.chrt_id, i.track_number, i.price, i.rid, i.name, i.sale, i.size,
            i.total_price, i.nm_id, i.brand, i.status,
        )  # fmt: skip
        lines.append(_format(_ITEM_LINE, values, escape))
    return lines


def _format(line: str, values: tuple[object, ...], escape: bool) -> str:
    if escape:
        values = tuple(_escaped(value) if isinstance(value, str) else value for value in values)
    return line % values


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
