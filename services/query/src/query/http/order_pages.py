"""Pages of order summaries, newest first, read straight from PostgreSQL by keyset pagination
on (date_created, order_uid) — the index `orders_newest_first` — so a deep page costs what
the first one does, and orders arriving meanwhile never shift or repeat the pages after.

The cursor handed to clients is opaque: the position of the last order of a page.

Orders whose date_created lies outside years 1-9999 in UTC (which Python cannot hold, see
`order_reader`) are left out of the pages by the statement itself: a range on the index
column, so the pages cost the same, and every cursor is a date Python can hold.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta
from psycopg_pool import AsyncConnectionPool

from order_shared.model import OrderUid
from query.http.schemas import OrderPage, OrderSummary
from query.request_database import request_connection

MAX_CURSOR_LENGTH = 200

# 'infinity' sorts after every date, so the first page is the same query as the others.
_PAGE = """
SELECT o.order_uid, o.track_number, o.date_created, o.status, o.customer_id,
       o.delivery_service, p.currency, p.amount,
       (SELECT count(*) FROM items i WHERE i.order_uid = o.order_uid)
  FROM orders o
  JOIN payments p ON p.order_uid = o.order_uid
 WHERE (o.date_created, o.order_uid) < (%(date_created)s::timestamptz, %(order_uid)s)
   AND o.date_created BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00'
 ORDER BY o.date_created DESC, o.order_uid DESC
 LIMIT %(limit)s
"""
_FIRST = {"date_created": "infinity", "order_uid": ""}


class PageCursor(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """Where the previous page ended."""

    date_created: Annotated[datetime, Meta(tz=True)]
    order_uid: OrderUid


class MalformedCursor(ValueError):
    """The cursor is not one this service handed out."""


_cursor_decoder = msgspec.json.Decoder(PageCursor)


def encode_cursor(cursor: PageCursor) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(cursor)).rstrip(b"=").decode("ascii")


def decode_cursor(token: str) -> PageCursor:
    if not token or len(token) > MAX_CURSOR_LENGTH:
        raise MalformedCursor(token)
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        return _cursor_decoder.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError) as error:
        raise MalformedCursor(token) from error


async def read_page(pool: AsyncConnectionPool, after: PageCursor | None, limit: int) -> OrderPage:
    """Up to `limit` orders older than `after` (or the newest); raises DatabaseUnavailable."""
    position = (
        _FIRST
        if after is None
        else {"date_created": after.date_created, "order_uid": after.order_uid}
    )
    async with request_connection(pool) as connection:
        cursor = await connection.execute(_PAGE, {**position, "limit": limit + 1})
        rows = await cursor.fetchall()
    orders = [OrderSummary(*row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = orders[-1]
        next_cursor = encode_cursor(PageCursor(last.date_created, last.order_uid))
    return OrderPage(orders=orders, next_cursor=next_cursor)
