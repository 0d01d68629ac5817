"""The courier API on a real courier service: validation and conflicts as JSON 4xx (never
500), pagination, pausing, the fair choice of courier, and the OpenAPI document."""

from __future__ import annotations

import httpx
import pytest

from tests.courier_io import (
    CourierUnderTest,
    orders_created_in_order,
    phone,
    publish_orders,
    publish_status,
    settled,
)
from tests.harness import Servers


def assert_json_error(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status_code"] == status
    for word in words:
        assert word in body["detail"], body


def test_a_new_courier_is_validated_and_a_taken_phone_is_409(courier: CourierUnderTest) -> None:
    api = courier.api
    created = api.add_courier("Ada Lovelace", phone(101), "on_foot")
    assert created["status"] == "available" and created["completed_deliveries"] == 0
    assert created["current_order"] is None
    assert api.courier(created["id"]) == created

    def post(body: object) -> httpx.Response:
        return api.request("POST", "/api/v1/couriers", body)

    valid = {"name": "Bo", "phone": phone(102), "transport": "car"}
    assert_json_error(post({**valid, "phone": "5551234"}), 400, "phone")
    assert_json_error(post({**valid, "phone": "+0123456789"}), 400, "phone")
    assert_json_error(post({**valid, "transport": "bicycle"}), 400, "transport")
    assert_json_error(post({**valid, "status": "busy"}), 400, "status")
    assert_json_error(post({**valid, "name": ""}), 400, "name")
    assert_json_error(post({**valid, "name": "   "}), 400, "name")
    assert_json_error(post({**valid, "name": "x" * 257}), 400, "name")
    assert_json_error(post({**valid, "rating": 5}), 400, "rating")
    assert_json_error(post({"name": "Bo"}), 400)
    assert_json_error(post([valid]), 400)
    broken = httpx.post(f"{api.base_url}/api/v1/couriers", content=b"{nope", timeout=10)
    assert_json_error(broken, 400)

    assert_json_error(post({**valid, "phone": phone(101)}), 409, phone(101))
    assert post(valid).status_code == 201


def test_couriers_are_listed_page_by_page(courier: CourierUnderTest) -> None:
    api = courier.api
    ids = [api.add_courier(f"C{n}", phone(200 + n))["id"] for n in range(5)]
    seen, after = [], None
    while True:
        query = f"?limit=2&after={after}" if after else "?limit=2"
        page = api.request("GET", f"/api/v1/couriers{query}").json()
        assert len(page["couriers"]) <= 2
        seen += [c["id"] for c in page["couriers"]]
        after = page["next_after"]
        if after is None:
            break
    assert seen == ids
    for bad in ("?limit=0", "?limit=101", "?limit=x", "?after=-1", "?after=1e400"):
        assert_json_error(api.request("GET", f"/api/v1/couriers{bad}"), 400)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/v1/couriers/999999", None, 404),
        ("GET", "/api/v1/couriers/0", None, 400),
        ("GET", "/api/v1/couriers/99999999999999999999999", None, 400),
        ("PATCH", "/api/v1/couriers/999999", {"status": "paused"}, 404),
        ("GET", "/api/v1/assignments/not%20an%20id", None, 400),
        ("GET", "/api/v1/assignments/" + "a" * 65, None, 400),
        ("GET", "/api/v1/assignments/never-seen", None, 404),
        ("DELETE", "/api/v1/couriers/1", None, 405),
        ("GET", "/api/v1/nothing-here", None, 404),
    ],
)
def test_unknown_and_malformed_requests_are_json_4xx(
    courier: CourierUnderTest, method: str, path: str, body: object, status: int
) -> None:
    assert_json_error(courier.api.request(method, path, body), status)


def test_a_change_is_validated_and_only_what_is_given_changes(courier: CourierUnderTest) -> None:
    api = courier.api
    ada = api.add_courier("Ada", phone(301), "on_foot")["id"]
    assert_json_error(api.change_courier(ada), 400, "at least one")
    assert_json_error(api.change_courier(ada, status="busy"), 400, "status")
    assert_json_error(api.change_courier(ada, phone=phone(302)), 400, "phone")

    changed = api.change_courier(ada, transport="car", name="Ada L.")
    assert changed.status_code == 200, changed.text
    assert (changed.json()["transport"], changed.json()["name"]) == ("car", "Ada L.")
    assert changed.json()["status"] == "available"


def test_a_paused_courier_takes_no_order_and_made_available_takes_the_oldest_waiting(
    servers: Servers, courier: CourierUnderTest
) -> None:
    api = courier.api
    ada = api.add_courier("Ada", phone(401), status="paused")["id"]
    older, newer = orders_created_in_order(9301, 2)
    publish_orders(servers, [newer])
    settled(courier, newer.order_uid, "waiting")
    publish_orders(servers, [older])
    settled(courier, older.order_uid, "waiting")
    assert api.courier(ada)["status"] == "paused"

    made_available = api.change_courier(ada, status="available")

    assert made_available.status_code == 200
    assert made_available.json()["status"] == "busy"
    assert made_available.json()["current_order"] == older.order_uid  # created first
    assert_json_error(api.change_courier(ada, status="paused"), 409, older.order_uid)

    # A courier added while an order waits takes it at once.
    bo = api.add_courier("Bo", phone(402))
    assert (bo["status"], bo["current_order"]) == ("busy", newer.order_uid)
    assert api.state_of(newer.order_uid) == ("assigned", bo["id"])
    assert api.stats()["waiting_orders"] == 0


def test_the_courier_with_fewest_deliveries_is_chosen_before_the_one_idle_longest(
    servers: Servers, courier: CourierUnderTest
) -> None:
    api = courier.api
    ada = api.add_courier("Ada", phone(501))["id"]
    bo = api.add_courier("Bo", phone(502))["id"]
    first, second, third = orders_created_in_order(9302, 3)
    publish_orders(servers, [first])
    assert settled(courier, first.order_uid, "assigned") == ("assigned", ada)
    publish_orders(servers, [second])
    assert settled(courier, second.order_uid, "assigned") == ("assigned", bo)
    publish_status(servers, first.order_uid, "completed")
    settled(courier, first.order_uid, "delivered")  # Ada: 1 delivery, idle since now
    publish_status(servers, second.order_uid, "cancelled")
    settled(courier, second.order_uid, "cancelled")  # Bo: 0 deliveries, idle since later

    publish_orders(servers, [third])

    assert settled(courier, third.order_uid, "assigned") == ("assigned", bo)


def test_openapi_documents_every_endpoint(courier: CourierUnderTest) -> None:
    schema = courier.api.request("GET", "/schema/openapi.json").json()
    assert set(schema["paths"]) >= {
        "/api/v1/couriers",
        "/api/v1/couriers/{courier_id}",
        "/api/v1/couriers/stats",
        "/api/v1/assignments/{order_id}",
        "/healthz",
        "/readyz",
    }
    assert {"get", "post"} <= set(schema["paths"]["/api/v1/couriers"])
    assert {"get", "patch"} <= set(schema["paths"]["/api/v1/couriers/{courier_id}"])


@pytest.mark.parametrize("name", ["Ada\u0000", "\u0000", "A\u0000da"])
def test_a_name_postgresql_text_cannot_hold_is_a_400_naming_the_field(
    courier: CourierUnderTest, name: str
) -> None:
    """Failed on main: a NUL character reached PostgreSQL, whose DataError was a 500."""
    api = courier.api
    body = {"name": name, "phone": phone(601), "transport": "car"}
    assert_json_error(api.request("POST", "/api/v1/couriers", body), 400, "name")
    ada = api.add_courier("Ada", phone(602))["id"]
    assert_json_error(api.change_courier(ada, name=name), 400, "name")
    assert api.courier(ada)["name"] == "Ada"


def test_statistics_are_paged_by_deliveries_with_the_totals_over_all_couriers(
    servers: Servers, courier: CourierUnderTest
) -> None:
    """Failed on main: `limit` was not read and every courier came in one answer (5 > 2)."""
    api = courier.api
    ids = [api.add_courier(f"S{n}", phone(700 + n))["id"] for n in range(5)]
    (order,) = orders_created_in_order(9303, 1)
    publish_orders(servers, [order])
    _, busy = settled(courier, order.order_uid, "assigned")
    publish_status(servers, order.order_uid, "completed")
    settled(courier, order.order_uid, "delivered")

    seen, cursor, pages = [], None, 0
    while True:
        query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        page = api.request("GET", f"/api/v1/couriers/stats{query}").json()
        assert len(page["couriers"]) <= 2, page
        assert (page["available"], page["completed_deliveries"]) == (5, 1)
        seen += [c["id"] for c in page["couriers"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [busy, *(i for i in ids if i != busy)]  # most deliveries first, then by id
    for bad in ("?limit=0", "?limit=1001", "?cursor=x", "?cursor=1:", "?cursor=-1:2"):
        assert_json_error(api.request("GET", f"/api/v1/couriers/stats{bad}"), 400)
