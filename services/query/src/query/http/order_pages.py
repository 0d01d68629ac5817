"""Pages of order summaries, newest first, read straight from PostgreSQL by keyset pagination
on (date_created, order_uid), so a deep page costs what the first one does, and orders
arriving meanwhile never shift or repeat the pages after.

A page may be narrowed by a search: a track number, a customer, a status and a range of
creation times, each optional, all of them holding at once. Every filter has an index that
leads with it and continues in the page's order (migration 0008; the date range uses
`orders_newest_first`), so a search reads only the rows it returns.

The cursor handed to clients is opaque: the position of the last order of a page and a
digest of the search it belongs to, so it cannot silently continue a different search.

Orders whose date_created lies outside years 1-9999 in UTC (which Python cannot hold, see
`order_reader`) are left out of the pages by the statement itself: a range on the index
column, so the pages cost the same, and every cursor is a date Python can hold.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from order_shared.model import OrderStatus, OrderUid
from query.http.schemas import OrderPage, OrderSummary
from query.request_database import request_connection

MAX_CURSOR_LENGTH = 200
# What a client's search may hold: the order's own bounds on these fields.
MAX_SEARCH_TEXT_LENGTH = 256
SEARCH_TEXT_PATTERN = r"^[^\x00]+$"  # PostgreSQL text cannot hold a NUL character

_SEARCH_DIGEST_BYTES = 12
_SEARCH_DIGEST_PATTERN = r"^[A-Za-z0-9_-]{16}$"  # base64 of the digest, without padding

_COLUMNS = sql.SQL("""
SELECT o.order_uid, o.track_number, o.date_created, o.status, o.customer_id,
       o.delivery_service, p.currency, p.amount,
       (SELECT count(*) FROM items i WHERE i.order_uid = o.order_uid)
  FROM orders o
  JOIN payments p ON p.order_uid = o.order_uid
""")
# 'infinity' sorts after every date, so the first page is the same query as the others.
_AFTER = sql.SQL("(o.date_created, o.order_uid) < (%(date_created)s::timestamptz, %(order_uid)s)")
_REPRESENTABLE = sql.SQL(
    "o.date_created BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00'"
)
_FIRST = {"date_created": "infinity", "order_uid": ""}
_ORDER = sql.SQL(" ORDER BY o.date_created DESC, o.order_uid DESC LIMIT %(limit)s")
# One condition per filter; only the filters a search sets are in its query, so the
# planner sees each as it is and picks that filter's index.
_FILTERS = {
    "track_number": sql.SQL("o.track_number = %(track_number)s"),
    "customer_id": sql.SQL("o.customer_id = %(customer_id)s"),
    "status": sql.SQL("o.status = %(status)s"),
    "created_from": sql.SQL("o.date_created >= %(created_from)s"),
    "created_to": sql.SQL("o.date_created < %(created_to)s"),
}

_ZONED_DATETIME = Annotated[datetime, Meta(tz=True)]


class InvalidSearch(ValueError):
    """A search parameter the list cannot use; the message says which and why."""


class OrderSearch(msgspec.Struct, frozen=True, omit_defaults=True):
    """The filters of a list request. Unset filters match every order; `created_from` is
    inclusive and `created_to` exclusive, so consecutive ranges neither overlap nor miss."""

    track_number: str | None = None
    customer_id: str | None = None
    status: OrderStatus | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    def __post_init__(self) -> None:
        if (
            self.created_from is not None
            and self.created_to is not None
            and self.created_from >= self.created_to
        ):
            raise InvalidSearch("created_from must be earlier than created_to")

    def set_filters(self) -> dict[str, Any]:
        return {name: value for name in _FILTERS if (value := getattr(self, name)) is not None}

    def digest(self) -> str:
        """Names this search in a cursor: empty for no filters, else a hash of them."""
        if not self.set_filters():
            return ""
        hashed = hashlib.sha256(msgspec.json.encode(self)).digest()[:_SEARCH_DIGEST_BYTES]
        return base64.urlsafe_b64encode(hashed).decode("ascii")


def parse_zoned_datetime(name: str, value: str | None) -> datetime | None:
    """An RFC 3339 date and time with a zone, as a search bound; raises InvalidSearch."""
    if value is None:
        return None
    try:
        return msgspec.convert(value, _ZONED_DATETIME)
    except msgspec.ValidationError:
        raise InvalidSearch(
            f"{name}: expected an RFC 3339 date and time with a zone, such as "
            "2026-11-30T09:00:00Z or 2026-11-30T12:00:00%2B03:00 (a '+' in an address "
            "must be written %2B)"
        ) from None


class PageCursor(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """Where the previous page ended, and the digest of the search it was part of (empty
    for the unfiltered list, so cursors from before searches existed stay valid)."""

    date_created: Annotated[datetime, Meta(tz=True)]
    order_uid: OrderUid
    search: Annotated[str, Meta(pattern=_SEARCH_DIGEST_PATTERN)] | None = None


class MalformedCursor(ValueError):
    """The cursor is not one this service handed out."""


class CursorOfAnotherSearch(ValueError):
    """The cursor continues a search with other filters than this request's."""


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


def continue_search(token: str, search: OrderSearch) -> PageCursor:
    """The cursor `token`, which must belong to `search`; raises MalformedCursor or
    CursorOfAnotherSearch."""
    cursor = decode_cursor(token)
    if (cursor.search or "") != search.digest():
        raise CursorOfAnotherSearch(token)
    return cursor


def page_query(search: OrderSearch) -> sql.Composed:
    """The SQL of a page of `search`, with the filters it sets and no others."""
    conditions = [_FILTERS[name] for name in search.set_filters()]
    where = sql.SQL(" AND ").join([*conditions, _AFTER, _REPRESENTABLE])
    return sql.Composed([_COLUMNS, sql.SQL(" WHERE "), where, _ORDER])


def page_parameters(search: OrderSearch, after: PageCursor | None, limit: int) -> dict[str, Any]:
    position = (
        _FIRST
        if after is None
        else {"date_created": after.date_created, "order_uid": after.order_uid}
    )
    return {**search.set_filters(), **position, "limit": limit}


async def read_page(
    pool: AsyncConnectionPool, search: OrderSearch, after: PageCursor | None, limit: int
) -> OrderPage:
    """Up to `limit` orders of `search` older than `after` (or the newest); raises
    DatabaseUnavailable."""
    async with request_connection(pool) as connection:
        cursor = await connection.execute(
            page_query(search), page_parameters(search, after, limit + 1)
        )
        rows = await cursor.fetchall()
    orders = [OrderSummary(*row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = orders[-1]
        position = PageCursor(last.date_created, last.order_uid, search.digest() or None)
        next_cursor = encode_cursor(position)
    return OrderPage(orders=orders, next_cursor=next_cursor)
