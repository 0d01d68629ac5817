"""The query API's contract on a real replica: the status gateway, entity tags and 304,
the keyset-paginated list, security headers, OpenAPI, and JSON 4xx — never 500 — for
whatever a client sends."""

from __future__ import annotations

import json
import random
import urllib.parse
from datetime import datetime

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from order_shared.model import Order, encode_order
from order_shared.topics import ORDER_STATUS, ORDERS
from producer.generator import generate_order
from tests.harness import Servers, ServiceProcess, eventually, start_query
from tests.kafka_io import Message, publish
from tests.store_io import query

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def publish_orders(servers: Servers, orders: list[Order]) -> None:
    publish(
        servers.kafka_bootstrap,
        ORDERS,
        [Message(order.order_uid.encode(), encode_order(order)) for order in orders],
    )


def get(replica: ServiceProcess, path: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{replica.base_url}{path}", headers=headers, timeout=10)


@pytest.fixture(scope="module")
def stored_order(servers: Servers, query_replicas: list[ServiceProcess]) -> Order:
    order = generate_order(random.Random(4401))
    publish_orders(servers, [order])
    for replica in query_replicas:
        eventually(lambda r=replica: get(r, f"/api/v1/orders/{order.order_uid}").is_success)
    return order


def assert_secured(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.url)
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy


def test_status_is_served_with_the_order_creation_time(
    query_replicas: list[ServiceProcess], stored_order: Order
) -> None:
    response = get(query_replicas[0], f"/api/v1/orders/{stored_order.order_uid}/status")

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["order_id", "status", "created_at"]
    assert body["order_id"] == stored_order.order_uid
    assert body["status"] == "created"
    assert body["created_at"].endswith("Z")
    assert datetime.fromisoformat(body["created_at"]) == stored_order.date_created


def test_a_status_change_reaches_every_replica(
    servers: Servers, query_replicas: list[ServiceProcess], stored_order: Order
) -> None:
    uid = stored_order.order_uid
    before = get(query_replicas[0], f"/api/v1/orders/{uid}")
    status_change = {"order_uid": uid, "status": "cancelled", "changed_at": "2026-11-21T10:00:00Z"}
    publish(
        servers.kafka_bootstrap,
        ORDER_STATUS,
        [Message(uid.encode(), json.dumps(status_change).encode())],
    )

    for replica in query_replicas:
        status = eventually(
            lambda r=replica: (
                (s := get(r, f"/api/v1/orders/{uid}/status")).json()["status"] == "cancelled" and s
            )
        )
        after = get(replica, f"/api/v1/orders/{uid}")
        assert after.content == before.content  # the document itself did not change
        assert after.headers["etag"] == status.headers["etag"] != before.headers["etag"]


def test_etag_is_the_version_and_if_none_match_gives_304(
    servers: Servers, query_replicas: list[ServiceProcess], stored_order: Order
) -> None:
    uid = stored_order.order_uid
    (version,) = query(
        servers.admin_database_url, "SELECT version FROM orders WHERE order_uid = %s", (uid,)
    )[0]
    for path in (f"/api/v1/orders/{uid}", f"/api/v1/orders/{uid}/status"):
        first = get(query_replicas[1], path)
        assert first.headers["etag"] == f'"{version}"'
        assert first.headers["cache-control"] == "no-cache"

        again = get(query_replicas[1], path, **{"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == first.headers["etag"]
        assert again.headers["cache-control"] == "no-cache"
        assert_secured(again)

        weak = get(query_replicas[1], path, **{"If-None-Match": f'"0", W/{first.headers["etag"]}'})
        assert weak.status_code == 304
        stale = get(query_replicas[1], path, **{"If-None-Match": '"0"'})
        assert stale.status_code == 200
        assert stale.content == first.content


def test_the_list_pages_through_every_order_newest_first(
    servers: Servers, query_replicas: list[ServiceProcess], stored_order: Order
) -> None:
    publish_orders(servers, [generate_order(random.Random(4402 + n)) for n in range(12)])
    newest_first = "SELECT order_uid FROM orders ORDER BY date_created DESC, order_uid DESC"
    eventually(lambda: len(query(servers.admin_database_url, newest_first)) >= 13)
    before = {uid for (uid,) in query(servers.admin_database_url, newest_first)}

    seen: list[dict] = []
    cursor: str | None = None
    for _ in range(1000):
        params = {"limit": "5"} | ({"cursor": cursor} if cursor else {})
        response = get(query_replicas[0], "/api/v1/orders?" + urllib.parse.urlencode(params))
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache"
        page = response.json()
        assert len(page["orders"]) <= 5
        seen.extend(page["orders"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    after = [uid for (uid,) in query(servers.admin_database_url, newest_first)]

    uids = [summary["order_uid"] for summary in seen]
    # Other tests may add orders meanwhile: keyset pages still skip and repeat nothing.
    assert len(uids) == len(set(uids))
    assert before <= set(uids) <= set(after)
    assert uids == [uid for uid in after if uid in set(uids)]
    keys = [(datetime.fromisoformat(s["date_created"]), s["order_uid"]) for s in seen]
    assert keys == sorted(keys, reverse=True)
    mine = next(summary for summary in seen if summary["order_uid"] == stored_order.order_uid)
    assert list(mine) == [
        "order_uid",
        "track_number",
        "date_created",
        "status",
        "customer_id",
        "delivery_service",
        "currency",
        "amount",
        "items",
    ]
    assert mine["items"] == len(stored_order.items)
    assert mine["amount"] == stored_order.payment.amount
    assert mine["currency"] == stored_order.payment.currency
    assert mine["date_created"].endswith("Z")


def test_the_list_limit_defaults_to_20_and_is_bounded(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    publish_orders(servers, [generate_order(random.Random(4501 + n)) for n in range(21)])
    eventually(lambda: query(servers.admin_database_url, "SELECT count(*) FROM orders")[0][0] > 20)

    assert len(get(query_replicas[0], "/api/v1/orders").json()["orders"]) == 20
    assert len(get(query_replicas[0], "/api/v1/orders?limit=1").json()["orders"]) == 1
    assert len(get(query_replicas[0], "/api/v1/orders?limit=100").json()["orders"]) <= 100
    for bad in ("0", "101", "-1", "abc", "1.5", ""):
        response = get(query_replicas[0], f"/api/v1/orders?limit={bad}")
        assert response.status_code == 400, bad
        assert response.json()["detail"]


@pytest.mark.parametrize(
    "cursor", ["zzz", "%%%", "W10", "eyJhIjogMX0", "a" * 500, "WyIyMDIxIiwiYSJd"]
)
def test_a_malformed_cursor_is_400(query_replicas: list[ServiceProcess], cursor: str) -> None:
    response = get(query_replicas[0], "/api/v1/orders?cursor=" + urllib.parse.quote(cursor))

    assert response.status_code == 400
    assert response.json()["status_code"] == 400
    assert "cursor" in response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/orders/bad%20id",
        "/api/v1/orders/" + "a" * 65,
        "/api/v1/orders/" + "a" * 5000,
        "/api/v1/orders/%00",
        "/api/v1/orders/caf%C3%A9/status",
        "/api/v1/orders/%3Cscript%3E/status",
    ],
)
def test_malformed_and_oversized_ids_are_400(
    query_replicas: list[ServiceProcess], path: str
) -> None:
    response = get(query_replicas[0], path)

    assert response.status_code == 400
    assert "malformed order id" in response.json()["detail"]
    assert_secured(response)


def test_unknown_paths_and_methods_are_json_4xx(query_replicas: list[ServiceProcess]) -> None:
    for path in ("/api/v1/nothing-here", "/api/v2/orders", "/api/v1/orders/a/b/c"):
        response = get(query_replicas[0], path)
        assert response.status_code == 404, path
        assert response.json()["detail"]
        assert_secured(response)
    response = httpx.post(f"{query_replicas[0].base_url}/api/v1/orders/abc", timeout=5)
    assert response.status_code == 405
    assert response.json()["detail"]
    assert_secured(response)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    segment=st.text(max_size=80),
    suffix=st.sampled_from(["", "/status", "/", "/x"]),
    limit=st.one_of(st.none(), st.text(max_size=12), st.integers(-5, 200).map(str)),
    cursor=st.one_of(st.none(), st.text(max_size=300)),
)
def test_no_request_gets_a_500(
    query_replicas: list[ServiceProcess],
    segment: str,
    suffix: str,
    limit: str | None,
    cursor: str | None,
) -> None:
    base = query_replicas[0].base_url
    order_path = "/api/v1/orders/" + urllib.parse.quote(segment, safe="") + suffix
    params = {k: v for k, v in (("limit", limit), ("cursor", cursor)) if v is not None}
    list_path = "/api/v1/orders?" + urllib.parse.urlencode(params)
    for path in (order_path, list_path):
        response = httpx.get(base + path, timeout=10)
        assert response.status_code < 500, (path, response.text)
        if response.status_code >= 400:
            assert response.json()["detail"], path


def test_the_page_and_the_api_carry_security_headers(
    query_replicas: list[ServiceProcess], stored_order: Order
) -> None:
    for path in ("/", "/app.js", f"/api/v1/orders/{stored_order.order_uid}", "/api/v1/orders"):
        response = get(query_replicas[0], path)
        assert response.status_code == 200, path
        assert_secured(response)
    assert (
        get(query_replicas[0], "/api/v1/orders")
        .headers["content-type"]
        .startswith("application/json")
    )


def test_openapi_documents_every_endpoint_with_examples(
    query_replicas: list[ServiceProcess],
) -> None:
    schema = get(query_replicas[0], "/schema/openapi.json").json()
    assert get(query_replicas[0], "/schema").json() == schema

    paths = schema["paths"]
    one = paths["/api/v1/orders/{order_uid}"]["get"]
    status = paths["/api/v1/orders/{order_uid}/status"]["get"]
    listing = paths["/api/v1/orders"]["get"]
    example = one["responses"]["200"]["content"]["application/json"]["examples"]
    assert any(e["value"]["order_uid"] == "b563feb7b2b84b6test" for e in example.values())
    assert {"200", "304", "400", "404", "503"} <= set(one["responses"])
    assert {"200", "304", "400", "404", "503"} <= set(status["responses"])
    assert {
        "limit",
        "cursor",
        "track_number",
        "customer_id",
        "status",
        "created_from",
        "created_to",
    } == {p["name"] for p in listing["parameters"]}
    assert "/healthz" in paths and "/readyz" in paths


def test_the_query_role_cannot_write(servers: Servers) -> None:
    with psycopg.connect(servers.database_url("order_query")) as connection:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("UPDATE orders SET status = 'completed'")


def test_a_miss_while_postgresql_is_unreachable_is_503(servers: Servers) -> None:
    unreachable = "postgresql://order_query:order_query@127.0.0.1:1/orders"
    replica = start_query(servers, "query-no-database", wait=False, DATABASE_URL=unreachable)
    try:
        response = eventually(lambda: _answer(replica, "/api/v1/orders/some-order"), timeout=30)
        assert response.status_code == 503
        assert "unavailable" in response.json()["detail"]
        assert _answer(replica, "/api/v1/orders").status_code == 503
        assert _answer(replica, "/readyz").status_code == 503
    finally:
        replica.stop()


def _answer(replica: ServiceProcess, path: str) -> httpx.Response | None:
    try:
        return httpx.get(replica.base_url + path, timeout=15)
    except httpx.HTTPError:
        return None
