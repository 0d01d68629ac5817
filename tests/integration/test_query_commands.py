"""The command API on real replicas, Kafka, Redis and the ingestor: every command, every
error answer, bearer tokens, the rate limit, idempotency keys, and read-your-writes
across two replicas (written through one, read through the other)."""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import msgspec
import pytest
import redis

from order_shared.model import Order, encode_order
from order_shared.topics import ORDER_STATUS, ORDERS
from producer.generator import generate_order
from tests.harness import Servers, ServiceProcess, eventually, free_port, start_query
from tests.kafka_io import end_offsets, read_from
from tests.store_io import OUT_OF_RANGE, copy_order, query

TOKEN = "dev-" + secrets.token_urlsafe(24)
ROTATED_TOKEN = "next-" + secrets.token_urlsafe(24)
RATE_TOKEN = "rate-" + secrets.token_urlsafe(24)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def order(seed: int) -> Order:
    return generate_order(random.Random(seed))


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def stored_order(client: httpx.Client, seed: int) -> Order:
    """A new order, created through the API and waited for until this replica has it."""
    new = order(seed)
    created = client.post(
        "/api/v1/orders", content=encode_order(new), headers={**auth(), "prefer": "wait=20"}
    )
    assert created.status_code == 201, created.text
    return new


@pytest.fixture(scope="module")
def writers(servers: Servers, ingestor: ServiceProcess) -> Iterator[list[ServiceProcess]]:
    """Two replicas that take commands with either of two tokens (a rotation)."""
    replicas = [
        start_query(
            servers,
            f"query-commands-{index}",
            API_TOKENS=f"{TOKEN}, {ROTATED_TOKEN}",
            LOG_LEVEL="DEBUG",
            COMMAND_RATE_PER_MINUTE="100000",
        )
        for index in (1, 2)
    ]
    yield replicas
    for replica in replicas:
        replica.stop()


@pytest.fixture(scope="module")
def client(writers: list[ServiceProcess]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=writers[0].base_url, timeout=40) as http:
        yield http


def test_post_answers_202_with_location_and_publishes_keyed_with_trace_context(
    servers: Servers, client: httpx.Client
) -> None:
    new = order(9701)
    start = end_offsets(servers.kafka_bootstrap, ORDERS)

    response = client.post(
        "/api/v1/orders",
        content=encode_order(new),
        headers={**auth(), "traceparent": TRACEPARENT},
    )

    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/api/v1/orders/{new.order_uid}"
    (record,) = read_from(
        servers.kafka_bootstrap, ORDERS, start, count=1, key=new.order_uid.encode()
    )
    assert msgspec.json.decode(record.value, type=Order) == new
    traceparent = dict(record.headers)["traceparent"].decode()
    assert traceparent.split("-")[1] == TRACEPARENT.split("-")[1]
    eventually(lambda: client.get(f"/api/v1/orders/{new.order_uid}").status_code == 200)


def test_read_your_writes_across_two_replicas(
    servers: Servers, writers: list[ServiceProcess]
) -> None:
    first, second = writers
    new = order(9702)

    created = httpx.post(
        f"{first.base_url}/api/v1/orders",
        content=encode_order(new),
        headers={**auth(), "prefer": "wait=20"},
        timeout=40,
    )

    assert created.status_code == 201, created.text
    assert created.headers["preference-applied"] == "wait=20"
    assert created.content == encode_order(new)
    # The other replica got the same announcement.
    eventually(
        lambda: (
            httpx.get(f"{second.base_url}/api/v1/orders/{new.order_uid}").content
            == encode_order(new)
        ),
        timeout=10,
    )

    changed = msgspec.structs.replace(new, customer_id="changed-by-put")
    replaced = httpx.put(
        f"{second.base_url}/api/v1/orders/{new.order_uid}",
        content=encode_order(changed),
        headers={**auth(ROTATED_TOKEN), "prefer": "wait=20"},
        timeout=40,
    )

    assert replaced.status_code == 200, replaced.text
    assert replaced.headers["etag"] == '"2"'
    assert replaced.content == encode_order(changed)
    assert httpx.get(f"{second.base_url}/api/v1/orders/{new.order_uid}").content == (
        encode_order(changed)
    )
    eventually(
        lambda: (
            httpx.get(f"{first.base_url}/api/v1/orders/{new.order_uid}").content
            == encode_order(changed)
        ),
        timeout=10,
    )


def test_the_same_content_again_is_answered_at_once_with_the_stored_order(
    client: httpx.Client,
) -> None:
    new = order(9703)
    headers = {**auth(), "prefer": "wait=20"}
    assert (
        client.post("/api/v1/orders", content=encode_order(new), headers=headers).status_code == 201
    )

    again = client.put(
        f"/api/v1/orders/{new.order_uid}", content=encode_order(new), headers=headers
    )

    assert again.status_code == 200
    assert again.headers["etag"] == '"1"'


def test_invalid_order_is_422_with_every_problem_and_nothing_published(
    servers: Servers, client: httpx.Client
) -> None:
    document = json.loads(encode_order(order(9704)))
    document["items"][0]["price"] = "ten"
    document["payment"]["currency"] = 5
    del document["locale"]
    start = end_offsets(servers.kafka_bootstrap, ORDERS)

    response = client.post("/api/v1/orders", json=document, headers=auth())

    assert response.status_code == 422
    paths = {problem["path"] for problem in response.json()["problems"]}
    assert paths == {"$.items[0].price", "$.payment.currency", "$.locale"}
    # A marker published after it: once it is on the topic, the invalid one would be too.
    marker = order(9705)
    assert client.post("/api/v1/orders", content=encode_order(marker), headers=auth()).is_success
    read_from(servers.kafka_bootstrap, ORDERS, start, count=1, key=marker.order_uid.encode())
    assert not read_from(
        servers.kafka_bootstrap,
        ORDERS,
        start,
        count=1,
        key=document["order_uid"].encode(),
        timeout=2,
    )


def test_a_maximum_size_invalid_body_is_a_small_422_at_once(client: httpx.Client) -> None:
    """Failed before the bound: 1 MiB of empty items was walked element by element on the
    event loop for about a minute (the client gave up after 40 s), to answer millions of
    problems in hundreds of megabytes."""
    document = json.loads(encode_order(order(9791)))
    document["items"] = [{}] * 349_000
    body = json.dumps(document, separators=(",", ":")).encode()
    assert len(body) <= 1_048_576

    response = client.post("/api/v1/orders", content=body, headers=auth())

    assert response.status_code == 422
    answer = response.json()
    assert [problem["path"] for problem in answer["problems"]] == ["$.items[0]"]
    assert (answer["unlisted"], answer["complete"]) == (0, False)
    assert len(response.content) < 2_000


def test_at_most_100_problems_are_listed_and_the_rest_counted(client: httpx.Client) -> None:
    document = json.loads(encode_order(order(9792)))
    document["items"] = [{"chrt_id": "x"}] * 40  # 11 problems each

    response = client.post("/api/v1/orders", json=document, headers=auth())

    assert response.status_code == 422
    answer = response.json()
    assert len(answer["problems"]) == 100
    assert (answer["unlisted"], answer["complete"]) == (340, True)
    assert "340 more not listed" in answer["detail"]


def test_a_business_rule_violation_is_422_at_its_path(client: httpx.Client) -> None:
    document = json.loads(encode_order(order(9706)))
    document["payment"]["amount"] += 1

    response = client.post("/api/v1/orders", json=document, headers=auth())

    assert response.status_code == 422
    assert [p["path"] for p in response.json()["problems"]] == ["$.payment.amount"]


@pytest.mark.parametrize("body", [b"not json", b"", b"\xff\xfe{}"])
def test_a_body_that_is_not_json_is_400(client: httpx.Client, body: bytes) -> None:
    response = client.post("/api/v1/orders", content=body, headers=auth())

    assert response.status_code == 400
    assert "not JSON" in response.json()["detail"]


def test_a_body_over_the_message_limit_is_413(client: httpx.Client) -> None:
    response = client.post("/api/v1/orders", content=b" " * (1_048_576 + 1), headers=auth())

    assert response.status_code == 413


def test_put_with_another_id_in_the_body_is_409(client: httpx.Client) -> None:
    new = order(9707)

    response = client.put("/api/v1/orders/another-id", content=encode_order(new), headers=auth())

    assert response.status_code == 409
    assert new.order_uid in response.json()["detail"]


def test_a_malformed_id_in_the_path_is_400(client: httpx.Client) -> None:
    assert client.put("/api/v1/orders/bad%20id", content=b"{}", headers=auth()).status_code == 400
    assert client.delete("/api/v1/orders/bad%20id", headers=auth()).status_code == 400


@pytest.mark.parametrize("prefer", ["wait=abc", "wait=31", "wait=-1"])
def test_a_malformed_or_unbounded_wait_is_400(client: httpx.Client, prefer: str) -> None:
    response = client.post(
        "/api/v1/orders", content=encode_order(order(9708)), headers={**auth(), "prefer": prefer}
    )

    assert response.status_code == 400
    assert "Prefer" in response.json()["detail"]


def test_cancel_is_published_and_a_second_one_is_409_with_the_current_status(
    servers: Servers, client: httpx.Client
) -> None:
    new = stored_order(client, 9709)
    start = end_offsets(servers.kafka_bootstrap, ORDER_STATUS)

    cancelled = client.post(
        f"/api/v1/orders/{new.order_uid}/status",
        json={"status": "cancelled"},
        headers={**auth(), "prefer": "wait=20"},
    )

    assert cancelled.status_code == 200, cancelled.text
    assert client.get(f"/api/v1/orders/{new.order_uid}/status").json()["status"] == "cancelled"
    (record,) = read_from(
        servers.kafka_bootstrap, ORDER_STATUS, start, count=1, key=new.order_uid.encode()
    )
    message = json.loads(record.value)
    assert set(message) == {"order_uid", "status", "changed_at"}
    assert (message["order_uid"], message["status"]) == (new.order_uid, "cancelled")

    again = client.post(
        f"/api/v1/orders/{new.order_uid}/status", json={"status": "completed"}, headers=auth()
    )

    assert again.status_code == 409
    assert again.json()["current_status"] == "cancelled"


def test_status_of_an_unknown_order_is_404(client: httpx.Client) -> None:
    response = client.post(
        "/api/v1/orders/no-such-order-9710/status", json={"status": "completed"}, headers=auth()
    )

    assert response.status_code == 404


@pytest.mark.parametrize("body", [{"status": "created"}, {"status": "done"}, {}])
def test_an_invalid_status_command_is_422(client: httpx.Client, body: dict) -> None:
    response = client.post("/api/v1/orders/any-9711/status", json=body, headers=auth())

    assert response.status_code == 422
    assert response.json()["problems"]


def test_delete_publishes_a_tombstone_keyed_by_the_id(
    servers: Servers, client: httpx.Client
) -> None:
    new = stored_order(client, 9712)
    start = end_offsets(servers.kafka_bootstrap, ORDERS)

    response = client.delete(f"/api/v1/orders/{new.order_uid}", headers=auth())

    assert response.status_code == 202
    assert response.headers["location"] == f"/api/v1/orders/{new.order_uid}"
    (record,) = read_from(
        servers.kafka_bootstrap, ORDERS, start, count=1, key=new.order_uid.encode()
    )
    assert record.value is None


def test_delete_with_wait_answers_204_once_erased_here_and_the_id_then_makes_a_new_order(
    writers: list[ServiceProcess],
) -> None:
    first, second = writers
    new = order(9724)
    url = f"/api/v1/orders/{new.order_uid}"
    created = httpx.post(
        f"{first.base_url}/api/v1/orders",
        content=encode_order(new),
        headers={**auth(), "prefer": "wait=20"},
        timeout=40,
    )
    assert created.status_code == 201, created.text

    erased = httpx.delete(
        f"{second.base_url}{url}", headers={**auth(), "prefer": "wait=20"}, timeout=40
    )

    assert erased.status_code == 204, erased.text
    assert erased.headers["preference-applied"] == "wait=20"
    assert httpx.get(f"{second.base_url}{url}").status_code == 404
    assert httpx.get(f"{second.base_url}{url}/status").status_code == 410
    eventually(lambda: httpx.get(f"{first.base_url}{url}/status").status_code == 410, timeout=10)
    cancel = httpx.post(
        f"{first.base_url}{url}/status", json={"status": "cancelled"}, headers=auth()
    )
    assert cancel.status_code == 410, cancel.text
    assert httpx.delete(f"{first.base_url}{url}", headers=auth()).status_code == 410

    again = httpx.post(
        f"{first.base_url}/api/v1/orders",
        content=encode_order(new),
        headers={**auth(), "prefer": "wait=20"},
        timeout=40,
    )

    assert again.status_code == 201, again.text
    assert again.content == encode_order(new)


def test_delete_of_an_unknown_order_is_404(client: httpx.Client) -> None:
    assert client.delete("/api/v1/orders/no-such-order-9713", headers=auth()).status_code == 404


def test_a_retry_with_the_same_idempotency_key_publishes_once_and_gets_the_same_answer(
    servers: Servers, client: httpx.Client
) -> None:
    new = order(9714)
    headers = {**auth(), "idempotency-key": f"key-{new.order_uid}"}
    start = end_offsets(servers.kafka_bootstrap, ORDERS)

    first = client.post("/api/v1/orders", content=encode_order(new), headers=headers)
    second = client.post("/api/v1/orders", content=encode_order(new), headers=headers)

    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    records = read_from(
        servers.kafka_bootstrap, ORDERS, start, count=2, key=new.order_uid.encode(), timeout=3
    )
    assert len(records) == 1

    other = client.post(
        "/api/v1/orders",
        content=encode_order(msgspec.structs.replace(new, customer_id="other")),
        headers=headers,
    )
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]


def test_a_status_command_retried_with_its_key_gets_its_first_answer_not_409(
    servers: Servers, client: httpx.Client
) -> None:
    new = stored_order(client, 9721)
    headers = {**auth(), "idempotency-key": f"complete-{new.order_uid}", "prefer": "wait=20"}
    path = f"/api/v1/orders/{new.order_uid}/status"

    first = client.post(path, json={"status": "completed"}, headers=headers)
    retry = client.post(path, json={"status": "completed"}, headers=headers)

    assert first.status_code == retry.status_code == 200
    assert retry.content == first.content
    assert retry.headers["idempotent-replayed"] == "true"


def test_a_malformed_idempotency_key_is_400(client: httpx.Client) -> None:
    response = client.post(
        "/api/v1/orders",
        content=encode_order(order(9722)),
        headers={**auth(), "idempotency-key": "has spaces"},
    )

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]


def test_concurrent_duplicates_publish_once(
    servers: Servers, writers: list[ServiceProcess]
) -> None:
    new = order(9715)
    headers = {**auth(), "idempotency-key": f"concurrent-{new.order_uid}"}
    start = end_offsets(servers.kafka_bootstrap, ORDERS)

    def send(index: int) -> int:
        replica = writers[index % 2]
        return httpx.post(
            f"{replica.base_url}/api/v1/orders",
            content=encode_order(new),
            headers=headers,
            timeout=40,
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(send, range(8)))

    assert set(statuses) <= {202, 409} and 202 in statuses
    records = read_from(
        servers.kafka_bootstrap, ORDERS, start, count=2, key=new.order_uid.encode(), timeout=3
    )
    assert len(records) == 1


def test_a_command_without_a_token_is_401_with_www_authenticate(client: httpx.Client) -> None:
    response = client.post("/api/v1/orders", content=encode_order(order(9716)))

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "invalid_token" not in response.headers["www-authenticate"]


def test_a_wrong_token_is_401_invalid_token(client: httpx.Client) -> None:
    response = client.delete("/api/v1/orders/any-9717", headers=auth("wrong-" + TOKEN))

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_reads_stay_public_and_the_page_has_no_commands(client: httpx.Client) -> None:
    assert client.get("/api/v1/orders").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_tokens_are_never_logged(client: httpx.Client, writers: list[ServiceProcess]) -> None:
    client.post("/api/v1/orders", content=b"{}", headers=auth())
    client.post("/api/v1/orders", content=b"{}", headers=auth("wrong-" + TOKEN))
    client.get("/api/v1/orders", headers=auth())

    for replica in writers:
        log = replica.log_path.read_text()
        assert TOKEN not in log and ROTATED_TOKEN not in log


def test_commands_over_the_rate_are_429_with_retry_after(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    replica = start_query(
        servers, "query-rate-limited", API_TOKENS=RATE_TOKEN, COMMAND_RATE_PER_MINUTE="3"
    )
    url = f"{replica.base_url}/api/v1/orders/no-such-order-9718"
    try:
        statuses = [httpx.delete(url, headers=auth(RATE_TOKEN)) for _ in range(4)]
        # Without a valid token the client is its address. Other tests' unauthenticated
        # attempts count there too, and a window may end meanwhile: 8 within a minute
        # hold at least one window over 3.
        guesses = [httpx.delete(url, headers=auth("guess-" + TOKEN)) for _ in range(8)]
    finally:
        replica.stop()

    assert [r.status_code for r in statuses] == [404, 404, 404, 429]
    assert 0 < int(statuses[-1].headers["retry-after"]) <= 60
    assert statuses[-1].headers["x-content-type-options"] == "nosniff"
    assert "more than 3 commands a minute" in statuses[-1].json()["detail"]
    assert 429 in [r.status_code for r in guesses]
    assert {r.status_code for r in guesses} <= {401, 429}


def test_kafka_unreachable_is_503_with_a_message(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    replica = start_query(
        servers,
        "query-without-kafka",
        API_TOKENS=TOKEN,
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
    )
    try:
        response = httpx.post(
            f"{replica.base_url}/api/v1/orders",
            content=encode_order(order(9719)),
            headers=auth(),
            timeout=40,
        )
    finally:
        replica.stop()

    assert response.status_code == 503
    assert "Kafka" in response.json()["detail"]


def test_without_api_tokens_commands_are_refused(query_replicas: list[ServiceProcess]) -> None:
    response = httpx.post(
        f"{query_replicas[0].base_url}/api/v1/orders",
        content=encode_order(order(9720)),
        headers=auth(),
    )

    assert response.status_code == 401
    assert "API_TOKENS" in response.json()["detail"]


def test_without_api_tokens_a_command_with_no_token_is_told_api_tokens_is_unset(
    query_replicas: list[ServiceProcess],
) -> None:
    """Failed before: "this command needs Authorization: Bearer <token>", as if a token
    would help on a replica that takes none."""
    response = httpx.post(
        f"{query_replicas[0].base_url}/api/v1/orders", content=encode_order(order(9793))
    )

    assert response.status_code == 401
    assert "API_TOKENS is not set" in response.json()["detail"]


def test_a_stored_order_that_cannot_be_decoded_can_still_be_erased(
    servers: Servers, client: httpx.Client
) -> None:
    """Failed before with 422 "stored but cannot be read": such an order could only be
    erased with a Kafka client."""
    source = stored_order(client, 9794)
    unreadable = f"unreadable-{source.order_uid}"[:64]
    copy_order(servers, source.order_uid, unreadable, OUT_OF_RANGE)
    assert client.get(f"/api/v1/orders/{unreadable}").status_code == 422

    response = client.delete(
        f"/api/v1/orders/{unreadable}", headers={**auth(), "prefer": "wait=20"}
    )

    assert response.status_code == 204, response.text
    assert client.get(f"/api/v1/orders/{unreadable}").status_code == 404
    assert not query(
        servers.admin_database_url, "SELECT 1 FROM orders WHERE order_uid = %s", (unreadable,)
    )


def test_a_key_left_claimed_by_a_killed_replica_is_free_again_after_its_lease(
    servers: Servers, ingestor: ServiceProcess, client: httpx.Client
) -> None:
    """Failed before: the claim was written for IDEMPOTENCY_TTL_SECONDS (a day), so every
    retry after the kill got 409 "in progress", shaped as a status conflict with
    `current_status: null`."""
    new = order(9795)
    headers = {**auth(), "idempotency-key": f"killed-{new.order_uid}"}
    # A lease of 3 + 5 + 10 s: the longest wait, the Kafka send and a margin.
    doomed = start_query(
        servers,
        "query-killed-mid-command",
        API_TOKENS=TOKEN,
        COMMAND_WAIT_MAX_SECONDS="3",
        KAFKA_SEND_TIMEOUT_SECONDS="5",
    )
    redis_client = redis.Redis.from_url(servers.redis_url)
    claims_before = set(redis_client.keys("commands:idempotency:*"))
    # The ingestor frozen: the command is published and then waits for it, holding its key.
    ingestor.freeze()
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(
                httpx.post,
                f"{doomed.base_url}/api/v1/orders",
                content=encode_order(new),
                headers={**headers, "prefer": "wait=3"},
                timeout=40,
            )
            eventually(lambda: set(redis_client.keys("commands:idempotency:*")) - claims_before)
            doomed.kill()
            with pytest.raises(httpx.HTTPError):
                pending.result()
    finally:
        ingestor.thaw()
        doomed.stop()

    in_progress = client.post("/api/v1/orders", content=encode_order(new), headers=headers)
    assert in_progress.status_code == 409
    assert in_progress.headers["retry-after"]
    assert "current_status" not in in_progress.json()
    assert "in progress" in in_progress.json()["detail"]

    def retried() -> httpx.Response:
        response = client.post("/api/v1/orders", content=encode_order(new), headers=headers)
        assert response.status_code == 202, response.text
        return response

    eventually(retried, timeout=40, interval=1)


def test_openapi_documents_every_command_its_security_and_errors(client: httpx.Client) -> None:
    schema = client.get("/schema/openapi.json").json()

    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    commands = [
        ("/api/v1/orders", "post"),
        ("/api/v1/orders/{order_uid}", "put"),
        ("/api/v1/orders/{order_uid}", "delete"),
        ("/api/v1/orders/{order_uid}/status", "post"),
    ]
    for path, method in commands:
        operation = schema["paths"][path][method]
        assert operation["security"] == [{"bearer": []}]
        assert {"202", "400", "401", "422", "429", "503"} <= set(operation["responses"])
    assert schema["paths"]["/api/v1/orders"]["get"].get("security") is None
