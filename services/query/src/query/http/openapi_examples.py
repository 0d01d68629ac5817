"""Examples shown in the OpenAPI document: the task's canonical order and what the other
endpoints answer about it."""

from __future__ import annotations

from litestar.openapi.spec import Example

ORDER_UID = "b563feb7b2b84b6test"

ORDER_ID = Example(summary="The canonical order's id", value=ORDER_UID)

ORDER = Example(
    summary="The canonical order",
    value={
        "order_uid": ORDER_UID,
        "track_number": "WBILMTESTTRACK",
        "entry": "WBIL",
        "delivery": {
            "name": "Test Testov",
            "phone": "+9720000000",
            "zip": "2639809",
            "city": "Kiryat Mozkin",
            "address": "Ploshad Mira 15",
            "region": "Kraiot",
            "email": "test@gmail.com",
        },
        "payment": {
            "transaction": ORDER_UID,
            "request_id": "",
            "currency": "USD",
            "provider": "wbpay",
            "amount": 1817,
            "payment_dt": 1637907727,
            "bank": "alpha",
            "delivery_cost": 1500,
            "goods_total": 317,
            "custom_fee": 0,
        },
        "items": [
            {
                "chrt_id": 9934930,
                "track_number": "WBILMTESTTRACK",
                "price": 453,
                "rid": "ab4219087a764ae0btest",
                "name": "Mascaras",
                "sale": 30,
                "size": "0",
                "total_price": 317,
                "nm_id": 2389212,
                "brand": "Vivienne Sabo",
                "status": 202,
            }
        ],
        "locale": "en",
        "internal_signature": "",
        "customer_id": "test",
        "delivery_service": "meest",
        "shardkey": "9",
        "sm_id": 99,
        "date_created": "2021-11-26T06:22:19Z",
        "oof_shard": "1",
    },
)

STATUS = Example(
    summary="A created order",
    value={"order_id": ORDER_UID, "status": "created", "created_at": "2021-11-26T06:22:19Z"},
)

PAGE = Example(
    summary="A page with more after it",
    value={
        "orders": [
            {
                "order_uid": ORDER_UID,
                "track_number": "WBILMTESTTRACK",
                "date_created": "2021-11-26T06:22:19Z",
                "status": "created",
                "customer_id": "test",
                "delivery_service": "meest",
                "currency": "USD",
                "amount": 1817,
                "items": 1,
            }
        ],
        "next_cursor": "WyIyMDIxLTExLTI2VDA2OjIyOjE5WiIsImI1NjNmZWI3YjJiODRiNnRlc3QiXQ",
    },
)

MALFORMED_ID = Example(
    summary="Malformed id",
    value={
        "status_code": 400,
        "detail": "malformed order id: use 1 to 64 letters, digits, '_' or '-'",
    },
)

NOT_FOUND = Example(
    summary="Unknown id", value={"status_code": 404, "detail": "no order with id nope"}
)

ERASED = Example(
    summary="Erased",
    value={"status_code": 410, "detail": "order b563feb7b2b84b6test was erased"},
)

UNREADABLE = Example(
    summary="Stored, but a value cannot be decoded",
    value={
        "status_code": 422,
        "detail": "order b563feb7b2b84b6test is stored but cannot be read: "
        "its date_created is outside years 1-9999 in UTC",
    },
)

UNAVAILABLE = Example(
    summary="Not cached and PostgreSQL is down",
    value={"status_code": 503, "detail": "the order database is unavailable; try again shortly"},
)

BAD_PAGE = Example(
    summary="Malformed cursor",
    value={
        "status_code": 400,
        "detail": "malformed cursor: pass back the next_cursor of a previous page",
    },
)

BAD_SEARCH = Example(
    summary="A cursor used with other filters",
    value={
        "status_code": 400,
        "detail": (
            "this cursor belongs to a search with other filters: pass the same filters as "
            "the page it came from, or leave out the cursor to start from the newest"
        ),
    },
)

TRACK_NUMBER = Example(summary="The canonical order's track number", value="WBILMTESTTRACK")
CUSTOMER_ID = Example(summary="The canonical order's customer", value="test")
CREATED_FROM = Example(summary="From the start of a day, UTC", value="2021-11-26T00:00:00Z")
CREATED_TO = Example(summary="Until the start of the next day, UTC", value="2021-11-27T00:00:00Z")
