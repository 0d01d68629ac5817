"""The local ingress (nginx, as `make up` runs it) in front of real services: the courier
API goes to the courier service, everything else to the query replicas, spread over all
of them."""

from __future__ import annotations

import httpx

from tests.courier_io import CourierUnderTest, orders_created_in_order, phone, publish_orders
from tests.harness import IngressProcess, Servers, ServiceProcess, eventually
from tests.metrics_io import metric_total
from tests.stream_io import is_order, reading


def answered_by(response: httpx.Response) -> str:
    """Which service answered: only the query service sends a Content-Security-Policy."""
    return "query" if "content-security-policy" in response.headers else "courier"


def test_the_courier_api_goes_to_the_courier_service_and_the_rest_to_the_query_service(
    ingress: IngressProcess, courier: CourierUnderTest
) -> None:
    added = courier.api.add_courier("Routed Rider", phone(9501))

    def get(path: str) -> httpx.Response:
        return httpx.get(f"{ingress.base_url}{path}", timeout=10)

    listed = get("/api/v1/couriers")
    assert listed.status_code == 200 and answered_by(listed) == "courier"
    assert [found["id"] for found in listed.json()["couriers"]] == [added["id"]]
    for path in (f"/api/v1/couriers/{added['id']}", "/api/v1/couriers/stats"):
        response = get(path)
        assert response.status_code == 200 and answered_by(response) == "courier", path
    unseen = get("/api/v1/assignments/never-seen-9501")
    assert unseen.status_code == 404 and answered_by(unseen) == "courier"
    assert unseen.json()["extra"] == {"order_id": "never-seen-9501"}

    # Prefix paths match whole elements, as a Kubernetes Ingress's do.
    for path in ("/", "/app.js", "/api/v1/orders?limit=1", "/schema", "/api/v1/couriersX"):
        response = get(path)
        assert answered_by(response) == "query", path
    assert get("/api/v1/orders?limit=1").status_code == 200
    assert get("/api/v1/couriersX").status_code == 404


def test_the_ingress_spreads_requests_over_both_query_replicas(
    servers: Servers, query_replicas: list[ServiceProcess], ingress: IngressProcess
) -> None:
    (order,) = orders_created_in_order(9502, 1)
    publish_orders(servers, [order])
    path = f"/api/v1/orders/{order.order_uid}"

    def served_by_both() -> bool:
        answers = [httpx.get(f"{replica.base_url}{path}", timeout=5) for replica in query_replicas]
        return all(answer.status_code == 200 for answer in answers)

    eventually(served_by_both, timeout=30)
    hits_before = [metric_total(replica, "query_cache_hits_total") for replica in query_replicas]

    for _ in range(20):
        assert httpx.get(f"{ingress.base_url}{path}", timeout=10).status_code == 200

    hits_after = [metric_total(replica, "query_cache_hits_total") for replica in query_replicas]
    grown = [after - before for before, after in zip(hits_before, hits_after, strict=True)]
    # Round robin: each replica answered about half; other tests may add hits, never remove.
    assert all(growth >= 5 for growth in grown), grown


def test_live_streams_pass_through_the_ingress_as_they_come(
    servers: Servers, ingress: IngressProcess
) -> None:
    """The stream's events arrive through nginx one by one, while the response goes on."""
    first, second = orders_created_in_order(9503, 2)
    with reading(f"{ingress.base_url}/api/v1/events/newest-orders") as stream:
        assert stream.opened() == 200
        assert stream.response_headers is not None
        assert stream.response_headers["content-type"].startswith("text/event-stream")
        publish_orders(servers, [first])
        stream.wait_for(is_order(first.order_uid), timeout=30)
        publish_orders(servers, [second])
        stream.wait_for(is_order(second.order_uid), timeout=30)
        assert not stream.ended.is_set()
    with reading(f"{ingress.base_url}/api/v1/events/orders/{first.order_uid}") as stream:
        assert stream.wait_for(is_order(first.order_uid)).data["version"] == 1
