"""The list's cursor: opaque, round-trips exactly, and anything else is malformed."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_shared.model import ORDER_UID_PATTERN
from query.http.order_pages import (
    MAX_CURSOR_LENGTH,
    MalformedCursor,
    PageCursor,
    decode_cursor,
    encode_cursor,
)

uids = st.from_regex(ORDER_UID_PATTERN, fullmatch=True)
dates = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)
)


@given(dates, uids)
def test_a_cursor_round_trips(date_created: datetime, order_uid: str) -> None:
    cursor = PageCursor(date_created, order_uid)
    token = encode_cursor(cursor)

    assert decode_cursor(token) == cursor
    assert len(token) <= MAX_CURSOR_LENGTH
    assert "=" not in token and "/" not in token and "+" not in token


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "zzz",
        "%%%",
        "a" * (MAX_CURSOR_LENGTH + 1),
        _b64(b"not json"),
        _b64(b'["2021-11-26T06:22:19Z"]'),
        _b64(b'["2021-11-26T06:22:19", "abc"]'),  # no time zone
        _b64(b'["2021-11-26T06:22:19Z", "bad id"]'),
        _b64(b'["2021-11-26T06:22:19Z", "abc", "extra"]'),
        _b64(b'{"date_created": "2021-11-26T06:22:19Z", "order_uid": "abc"}'),
    ],
)
def test_anything_else_is_malformed(token: str) -> None:
    with pytest.raises(MalformedCursor):
        decode_cursor(token)


@given(st.text(max_size=300))
def test_no_input_raises_anything_but_malformed(token: str) -> None:
    try:
        decode_cursor(token)
    except MalformedCursor:
        pass
