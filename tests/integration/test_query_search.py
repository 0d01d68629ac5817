"""Searching the order list on a real replica: each filter alone and together, pages of a
search that continue only that search, and a 400 with a message — never a 500 — for every
parameter the list cannot use."""

from __future__ import annotations

import copy
import json
import urllib.parse
import uuid
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from order_shared.topics import ORDER_STATUS, ORDERS
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import Message, publish

RUN = uuid.uuid4().hex[:8]  # keeps this module's track numbers and customers its own
TRACK = f"SEARCHTRACK{RUN}"
OTHER_TRACK = f"OTHERTRACK{RUN}"
CUSTOMER = f"searcher-{RUN}"


def order(canonical: dict, number: int, track: str, customer: str, day: int) -> dict:
    document = copy.deepcopy(canonical)
    document["order_uid"] = f"search-{RUN}-{number:02d}"
    document["payment"]["transaction"] = document["order_uid"]
    document["track_number"] = track
    for item in document["items"]:
        item["track_number"] = track
    document["customer_id"] = customer
    document["date_created"] = f"2019-03-{day:02d}T12:00:{number:02d}Z"
    return document


@pytest.fixture(scope="module")
def searchable(
    servers: Servers, query_replicas: list[ServiceProcess], canonical_order: dict
) -> list[dict]:
    """Nine orders in March 2019, newest first: six on TRACK (three of CUSTOMER), three on
    OTHER_TRACK (all of CUSTOMER); the orders created on the 5th are cancelled."""
    documents = [
        order(canonical_order, n, TRACK if n < 6 else OTHER_TRACK, customer, day=1 + n)
        for n, customer in enumerate(
            [CUSTOMER, f"other-{RUN}", CUSTOMER, f"other-{RUN}", CUSTOMER, f"other-{RUN}"]
            + [CUSTOMER] * 3
        )
    ]
    publish(
        servers.kafka_bootstrap,
        ORDERS,
        [Message(d["order_uid"].encode(), json.dumps(d).encode()) for d in documents],
    )
    cancelled = [d for d in documents if d["date_created"].startswith("2019-03-05")]
    publish(
        servers.kafka_bootstrap,
        ORDER_STATUS,
        [
            Message(
                d["order_uid"].encode(),
                json.dumps(
                    {
                        "order_uid": d["order_uid"],
                        "status": "cancelled",
                        "changed_at": "2019-04-01T00:00:00Z",
                    }
                ).encode(),
            )
            for d in cancelled
        ],
    )
    everything = {"track_number": TRACK, "limit": "100"}
    eventually(
        lambda: (
            len(search(query_replicas[0], everything)) == 6
            and len(search(query_replicas[0], {"status": "cancelled", "customer_id": CUSTOMER}))
            == 1
        ),
        timeout=30,
    )
    return sorted(documents, key=lambda d: d["date_created"], reverse=True)


def get(replica: ServiceProcess, params: dict[str, str]) -> httpx.Response:
    query = urllib.parse.urlencode(params)
    return httpx.get(f"{replica.base_url}/api/v1/orders?{query}", timeout=10)


def search(replica: ServiceProcess, params: dict[str, str]) -> list[str]:
    """Every order id of a search, page by page, in the order given."""
    return [summary["order_uid"] for summary in pages(replica, params)]


def pages(replica: ServiceProcess, params: dict[str, str]) -> Iterator[dict]:
    cursor: str | None = None
    for _ in range(1000):
        response = get(replica, params | ({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        page = response.json()
        yield from page["orders"]
        cursor = page["next_cursor"]
        if cursor is None:
            return
    raise AssertionError("the search never ended")


def ids(documents: list[dict]) -> list[str]:
    return [d["order_uid"] for d in documents]


def test_each_filter_finds_exactly_its_orders_newest_first(
    query_replicas: list[ServiceProcess], searchable: list[dict]
) -> None:
    replica = query_replicas[0]

    assert search(replica, {"track_number": TRACK}) == ids(
        [d for d in searchable if d["track_number"] == TRACK]
    )
    assert search(replica, {"customer_id": CUSTOMER}) == ids(
        [d for d in searchable if d["customer_id"] == CUSTOMER]
    )
    cancelled = search(replica, {"status": "cancelled"})
    assert f"search-{RUN}-04" in cancelled
    assert not {f"search-{RUN}-{n:02d}" for n in (0, 1, 2, 3, 5, 6, 7, 8)} & set(cancelled)
    in_range = {"created_from": "2019-03-03T00:00:00Z", "created_to": "2019-03-06T00:00:00Z"}
    assert [uid for uid in search(replica, in_range) if RUN in uid] == [
        f"search-{RUN}-04",
        f"search-{RUN}-03",
        f"search-{RUN}-02",
    ]


def test_filters_hold_together_and_the_range_is_half_open(
    query_replicas: list[ServiceProcess], searchable: list[dict]
) -> None:
    replica = query_replicas[0]

    assert search(replica, {"track_number": TRACK, "customer_id": CUSTOMER}) == [
        f"search-{RUN}-04",
        f"search-{RUN}-02",
        f"search-{RUN}-00",
    ]
    assert search(
        replica, {"track_number": TRACK, "customer_id": CUSTOMER, "status": "created"}
    ) == [f"search-{RUN}-02", f"search-{RUN}-00"]
    # From 12:00:02 on the 3rd (inclusive) to 12:00:04 on the 5th (exclusive), in +03:00.
    assert search(
        replica,
        {
            "track_number": TRACK,
            "created_from": "2019-03-03T15:00:02+03:00",
            "created_to": "2019-03-05T15:00:04+03:00",
        },
    ) == [f"search-{RUN}-03", f"search-{RUN}-02"]
    assert search(replica, {"track_number": f"{TRACK}-none"}) == []


def test_a_search_pages_through_its_orders_with_cursors(
    query_replicas: list[ServiceProcess], searchable: list[dict]
) -> None:
    on_track = ids([d for d in searchable if d["track_number"] == TRACK])
    first = get(query_replicas[0], {"track_number": TRACK, "limit": "2"}).json()

    assert len(first["orders"]) == 2 and first["next_cursor"]
    assert search(query_replicas[0], {"track_number": TRACK, "limit": "2"}) == on_track
    # Cursors hold no replica's state: the other replica continues the same search.
    second = get(
        query_replicas[1], {"track_number": TRACK, "limit": "2", "cursor": first["next_cursor"]}
    ).json()
    assert [s["order_uid"] for s in second["orders"]] == on_track[2:4]


@pytest.mark.parametrize(
    ("cursor_from", "used_with"),
    [
        ({"track_number": TRACK}, {"track_number": OTHER_TRACK}),
        ({"track_number": TRACK}, {}),
        ({}, {"track_number": TRACK}),
        ({"customer_id": CUSTOMER}, {"customer_id": CUSTOMER, "status": "created"}),
        (
            {"created_from": "2019-03-01T00:00:00Z"},
            {"created_from": "2019-03-02T00:00:00Z"},
        ),
    ],
)
def test_a_cursor_continues_only_the_search_it_came_from(
    query_replicas: list[ServiceProcess],
    searchable: list[dict],
    cursor_from: dict[str, str],
    used_with: dict[str, str],
) -> None:
    cursor = get(query_replicas[0], cursor_from | {"limit": "1"}).json()["next_cursor"]
    assert cursor

    response = get(query_replicas[0], used_with | {"limit": "1", "cursor": cursor})

    assert response.status_code == 400
    assert "other filters" in response.json()["detail"]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"status": "lost"}, "status"),
        ({"status": ""}, "status"),
        ({"track_number": ""}, "track_number"),
        ({"track_number": "x" * 257}, "track_number"),
        ({"customer_id": "a\x00b"}, "customer_id"),
        ({"customer_id": ""}, "customer_id"),
        ({"created_from": "2019-03-01T00:00:00"}, "created_from"),  # no zone
        ({"created_from": "2019-03-01"}, "created_from"),
        ({"created_to": "yesterday"}, "created_to"),
        ({"created_to": "0000-01-01T00:00:00Z"}, "created_to"),
        ({"created_to": "10000-01-01T00:00:00Z"}, "created_to"),
        ({"created_from": "2019-02-30T00:00:00Z"}, "created_from"),
        ({"created_from": "2019-03-01T00:00:00 03:00"}, "%2B"),  # a '+' left unencoded
        (
            {"created_from": "2019-03-02T00:00:00Z", "created_to": "2019-03-02T00:00:00Z"},
            "earlier",
        ),
        (
            {"created_from": "2019-03-02T00:00:00Z", "created_to": "2019-03-01T00:00:00Z"},
            "earlier",
        ),
    ],
)
def test_a_bad_search_parameter_is_400_with_a_message(
    query_replicas: list[ServiceProcess], params: dict[str, str], named: str
) -> None:
    response = get(query_replicas[0], params)

    assert response.status_code == 400, response.text
    body = response.json()
    assert body["detail"]
    assert named in json.dumps(body)


@pytest.mark.parametrize(
    "params",
    [
        {"created_from": "0001-01-01T00:00:00+14:00"},
        {"created_to": "9999-12-31T23:59:59.999999-14:00"},
        {"created_from": "0001-01-01T00:00:00Z", "created_to": "9999-12-31T23:59:59Z"},
        {"created_from": "9999-12-31T23:59:59-23:59"},
        {"track_number": "'; DROP TABLE orders; --", "customer_id": "%_\\"},
    ],
)
def test_extreme_but_valid_searches_are_answered(
    query_replicas: list[ServiceProcess], searchable: list[dict], params: dict[str, str]
) -> None:
    response = get(query_replicas[0], params | {"limit": "1"})

    assert response.status_code == 200, response.text


def test_the_widest_range_pages_like_the_unfiltered_list(
    query_replicas: list[ServiceProcess], searchable: list[dict]
) -> None:
    widest = {"created_from": "0001-01-01T00:00:00+14:00", "created_to": "9999-12-31T23:59:59Z"}

    first = get(query_replicas[0], widest | {"limit": "1"}).json()
    second = get(query_replicas[0], widest | {"limit": "1", "cursor": first["next_cursor"]})

    assert second.status_code == 200, second.text


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(
            ["track_number", "customer_id", "status", "created_from", "created_to", "cursor"]
        ),
        st.one_of(
            st.text(max_size=300),
            st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
            st.sampled_from(["created", "cancelled", "completed"]),
        ),
    )
)
def test_no_search_gets_a_500(query_replicas: list[ServiceProcess], params: dict) -> None:
    response = get(query_replicas[0], params)

    assert response.status_code in (200, 400), (params, response.text)
    if response.status_code == 400:
        assert response.json()["detail"]


def test_openapi_describes_every_search_parameter(query_replicas: list[ServiceProcess]) -> None:
    schema = httpx.get(f"{query_replicas[0].base_url}/schema/openapi.json", timeout=10).json()
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/orders"]["get"]["parameters"]}

    for name in ("track_number", "customer_id", "status", "created_from", "created_to"):
        assert parameters[name]["in"] == "query"
        assert parameters[name]["description"], name
        assert not parameters[name].get("required", False), name
    assert "cancelled" in json.dumps(parameters["status"]["schema"])
    assert "date-time" in json.dumps(parameters["created_from"]["schema"])
