"""One order from Kafka to the API on real servers: exact round trip, both replicas,
dead letters for what cannot be stored, and clear 4xx answers for bad requests."""

from __future__ import annotations

import json
import random

import httpx
import msgspec

from order_shared.model import Order, encode_order
from order_shared.topics import ORDERS, ORDERS_DLQ
from producer.generator import generate_order
from tests.harness import Servers, ServiceProcess, eventually, start_query
from tests.kafka_io import Message, end_offsets, publish, read_from
from tests.store_io import order_row

# Every character that COPY's text format or JSON treats specially, and some that neither does.
AWKWARD = 'tab\there, line\nbreak, return\r, \\N, \\., "quoted", back\\slash, ünï 🚚 \x01'


def fetch(replica: ServiceProcess, order_uid: str) -> httpx.Response:
    return httpx.get(f"{replica.base_url}/api/v1/orders/{order_uid}", timeout=5)


def served(replica: ServiceProcess, order_uid: str) -> httpx.Response | None:
    response = fetch(replica, order_uid)
    return response if response.status_code == 200 else None


def test_canonical_order_comes_back_identical(
    servers: Servers,
    query_replicas: list[ServiceProcess],
    canonical_order_bytes: bytes,
    canonical_order: dict,
) -> None:
    publish(
        servers.kafka_bootstrap, ORDERS, [Message(b"b563feb7b2b84b6test", canonical_order_bytes)]
    )

    response = eventually(lambda: served(query_replicas[0], "b563feb7b2b84b6test"))

    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body == canonical_order
    assert list(body) == list(canonical_order)  # same fields, in the same order
    assert body["date_created"] == "2021-11-26T06:22:19Z"
    assert all(type(body[k]) is type(canonical_order[k]) for k in canonical_order)
    assert json.loads(response.content) == json.loads(canonical_order_bytes)


def test_order_published_once_is_served_by_both_replicas(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    order = generate_order(random.Random(2002))
    document = encode_order(order)
    publish(servers.kafka_bootstrap, ORDERS, [Message(order.order_uid.encode(), document)])

    for replica in query_replicas:
        response = eventually(lambda replica=replica: served(replica, order.order_uid))
        assert response.content == document


def test_item_order_is_preserved(servers: Servers, query_replicas: list[ServiceProcess]) -> None:
    rng = random.Random(7)
    order = generate_order(rng)
    while len(order.items) < 3:
        order = generate_order(rng)
    publish(
        servers.kafka_bootstrap, ORDERS, [Message(order.order_uid.encode(), encode_order(order))]
    )

    response = eventually(lambda: served(query_replicas[1], order.order_uid))

    assert [item["rid"] for item in response.json()["items"]] == [item.rid for item in order.items]


def with_awkward_strings(order: Order, mark: str) -> Order:
    replace = msgspec.structs.replace
    items = [replace(item, name=f"{AWKWARD} {mark}") for item in order.items]
    items[-1] = replace(items[-1], brand=AWKWARD)
    return replace(
        order,
        entry=AWKWARD,
        delivery=replace(order.delivery, name=f"{mark} {AWKWARD}", address=AWKWARD),
        payment=replace(order.payment, bank=AWKWARD),
        items=items,
    )


def test_awkward_strings_are_stored_exactly_in_new_and_in_changed_orders(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    rng = random.Random(2003)
    new = with_awkward_strings(generate_order(rng), "new")
    first = with_awkward_strings(generate_order(rng), "first")
    changed = with_awkward_strings(
        msgspec.structs.replace(generate_order(rng), order_uid=first.order_uid), "changed"
    )
    publish(
        servers.kafka_bootstrap,
        ORDERS,
        [Message(order.order_uid.encode(), encode_order(order)) for order in (new, first)],
    )
    eventually(lambda: order_row(servers.admin_database_url, first.order_uid))
    publish(
        servers.kafka_bootstrap,
        ORDERS,
        [Message(changed.order_uid.encode(), encode_order(changed))],
    )
    eventually(lambda: order_row(servers.admin_database_url, changed.order_uid)[0] == 2)

    # A replica started now reads both orders from PostgreSQL, not from an announcement.
    fresh = start_query(servers, "query-fresh")
    try:
        for order in (new, changed):
            response = fetch(fresh, order.order_uid)
            assert response.status_code == 200
            assert response.content == encode_order(order)
    finally:
        fresh.stop()


def test_bad_messages_go_to_the_dead_letter_topic_and_the_next_one_is_processed(
    servers: Servers, query_replicas: list[ServiceProcess], canonical_order: dict
) -> None:
    dlq_start = end_offsets(servers.kafka_bootstrap, ORDERS_DLQ)
    malformed = b'{"order_uid": "broken-json", "items": ['
    wrong_type = json.dumps(
        {**canonical_order, "order_uid": "wrong-type-1", "sm_id": "ninety-nine"}
    ).encode()
    good = generate_order(random.Random(3003))
    # One key, so all three land in one partition in this order.
    key = good.order_uid.encode()
    publish(
        servers.kafka_bootstrap,
        ORDERS,
        [
            Message(key, malformed, (("origin", b"test"),)),
            Message(key, wrong_type),
            Message(key, encode_order(good)),
        ],
    )

    assert eventually(lambda: served(query_replicas[0], good.order_uid))
    dead = read_from(servers.kafka_bootstrap, ORDERS_DLQ, dlq_start, count=2, key=key)
    by_value = {message.value: dict(message.headers) for message in dead}
    assert set(by_value) == {malformed, wrong_type}
    assert by_value[malformed]["error.class"] == b"MalformedJson"
    assert by_value[malformed]["origin"] == b"test"  # original headers are kept
    assert by_value[wrong_type]["error.class"] == b"SchemaViolation"
    assert b"$.sm_id" in by_value[wrong_type]["error.message"]
    for headers in by_value.values():
        assert headers["source.topic"] == ORDERS.encode()
        assert int(headers["source.offset"]) >= 0
        assert headers["error.time"].endswith(b"Z")
    assert all(message.key == key for message in dead)
    assert fetch(query_replicas[0], "wrong-type-1").status_code == 404


def test_unknown_id_is_404_with_a_json_message(query_replicas: list[ServiceProcess]) -> None:
    response = fetch(query_replicas[0], "no-such-order-123")

    assert response.status_code == 404
    assert "no-such-order-123" in response.json()["detail"]


def test_malformed_ids_are_400_never_500(query_replicas: list[ServiceProcess]) -> None:
    for bad in ("bad%20id", "a" * 65, "%3Cscript%3E", "caf%C3%A9", "semi%3Bcolon"):
        response = fetch(query_replicas[0], bad)
        assert response.status_code == 400, bad
        assert "malformed order id" in response.json()["detail"]


def test_unknown_path_is_a_json_404(query_replicas: list[ServiceProcess]) -> None:
    response = httpx.get(f"{query_replicas[0].base_url}/api/v1/nothing-here", timeout=5)

    assert response.status_code == 404


def test_page_and_schema_are_served(query_replicas: list[ServiceProcess]) -> None:
    page = httpx.get(f"{query_replicas[0].base_url}/", timeout=5)
    page_head = httpx.head(f"{query_replicas[0].base_url}/", timeout=5)
    schema = httpx.get(f"{query_replicas[0].base_url}/schema/openapi.json", timeout=5)

    assert page.status_code == 200
    assert "<form" in page.text
    assert page_head.status_code == 200
    assert page_head.headers["content-type"] == page.headers["content-type"]
    assert page_head.headers["content-length"] == page.headers["content-length"]
    assert page_head.content == b""
    assert schema.status_code == 200
    assert "/api/v1/orders/{order_uid}" in schema.json()["paths"]
