"""The list's cursor: opaque, round-trips exactly, continues only the search it came from,
and anything else is malformed."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_shared.model import ORDER_UID_PATTERN
from query.http.order_pages import (
    MAX_CURSOR_LENGTH,
    CursorOfAnotherSearch,
    InvalidSearch,
    MalformedCursor,
    OrderSearch,
    PageCursor,
    continue_search,
    decode_cursor,
    encode_cursor,
    parse_zoned_datetime,
)

uids = st.from_regex(ORDER_UID_PATTERN, fullmatch=True)
dates = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)
)


texts = st.text(min_size=1, max_size=256).filter(lambda text: "\x00" not in text)
searches = st.builds(
    OrderSearch,
    track_number=st.none() | texts,
    customer_id=st.none() | texts,
    status=st.none() | st.sampled_from(["created", "cancelled", "completed"]),
    created_from=st.none() | dates,
)


@given(dates, uids, searches)
def test_a_cursor_round_trips(date_created: datetime, order_uid: str, search: OrderSearch) -> None:
    cursor = PageCursor(date_created, order_uid, search.digest() or None)
    token = encode_cursor(cursor)

    assert decode_cursor(token) == cursor
    assert len(token) <= MAX_CURSOR_LENGTH
    assert "=" not in token and "/" not in token and "+" not in token
    assert continue_search(token, search) == cursor


def test_a_cursor_continues_only_its_own_search() -> None:
    when = datetime(2021, 11, 26, 6, 22, 19, tzinfo=UTC)
    by_track = OrderSearch(track_number="WBILMTESTTRACK")
    token = encode_cursor(PageCursor(when, "abc", by_track.digest()))

    assert continue_search(token, OrderSearch(track_number="WBILMTESTTRACK")).order_uid == "abc"
    for other in (
        OrderSearch(),
        OrderSearch(track_number="WBILMTESTTRACK2"),
        OrderSearch(track_number="WBILMTESTTRACK", status="created"),
        OrderSearch(customer_id="WBILMTESTTRACK"),
    ):
        with pytest.raises(CursorOfAnotherSearch):
            continue_search(token, other)


def test_a_cursor_from_before_searches_still_continues_the_unfiltered_list() -> None:
    token = _b64(b'["2021-11-26T06:22:19Z","abc"]')

    assert continue_search(token, OrderSearch()).order_uid == "abc"
    with pytest.raises(CursorOfAnotherSearch):
        continue_search(token, OrderSearch(status="created"))


def test_a_range_must_end_after_it_starts() -> None:
    when = datetime(2021, 11, 26, tzinfo=UTC)
    with pytest.raises(InvalidSearch, match="earlier"):
        OrderSearch(created_from=when, created_to=when)


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
        _b64(b'["2021-11-26T06:22:19Z", "abc", "AAAAAAAAAAAAAAAAA"]'),  # digest too long
        _b64(b'["2021-11-26T06:22:19Z", "abc", null, "extra"]'),
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


@pytest.mark.parametrize("value", ["-20046487276", "1700000000", "1700000000.5"])
def test_a_search_bound_is_a_zoned_date_and_time_never_a_number(value: str) -> None:
    """`created_to=-20046487276` was read as a Unix time (the year 1334) and answered 200,
    while the document says RFC 3339; schemathesis's negative-data fuzzing found it."""
    with pytest.raises(InvalidSearch, match="RFC 3339"):
        parse_zoned_datetime("created_to", value)


def test_a_search_bound_keeps_its_zone() -> None:
    parsed = parse_zoned_datetime("created_from", "2026-11-30T12:00:00+03:00")
    assert parsed == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
