"""An erasure is a boundary in an order's history (README, "Erasing an order"), on the real
stack: what was sent before it never reaches the order sent again, every reader hears of
it even when one batch also re-creates the order, and a command that waits is answered
with what the writer did with its own record.

The ingestor is frozen while the commands of one case are published, so that they land in
one batch, as they would under load."""

from __future__ import annotations

import random
import secrets
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import msgspec
import pytest

from order_shared.model import Order, encode_order
from order_shared.topics import ORDERS
from producer.generator import generate_order
from tests.harness import Servers, ServiceProcess, eventually, start_query
from tests.kafka_io import Message, publish
from tests.store_io import listening_to_changes
from tests.stream_io import is_order, reading

TOKEN = "boundary-" + secrets.token_urlsafe(24)
AUTH = {"authorization": f"Bearer {TOKEN}"}
_rng = random.Random(23001)


def new_order() -> Order:
    """An order under an id no other test uses."""
    order = generate_order(_rng)
    return msgspec.structs.replace(order, order_uid=f"b23{uuid.uuid4().hex[:20]}")


def changed(order: Order) -> Order:
    return msgspec.structs.replace(order, shardkey=str(int(order.shardkey) % 9 + 1))


@pytest.fixture(scope="module")
def writer(servers: Servers, ingestor: ServiceProcess) -> Iterator[ServiceProcess]:
    replica = start_query(
        servers, "query-boundary", API_TOKENS=TOKEN, COMMAND_RATE_PER_MINUTE="100000"
    )
    yield replica
    replica.stop()


@pytest.fixture(scope="module")
def client(writer: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=writer.base_url, timeout=40) as http:
        yield http


@contextmanager
def one_batch(ingestor: ServiceProcess) -> Iterator[ThreadPoolExecutor]:
    """Commands sent in the block reach the ingestor together: it is frozen until they
    are all on Kafka (a command with `Prefer: wait` waits in a thread meanwhile)."""
    pool = ThreadPoolExecutor(4)
    ingestor.freeze()
    try:
        # A fetch in flight when it froze would bring the first record alone: it ends
        # within the consumer's fetch wait (500 ms), empty, before anything is sent.
        time.sleep(1.0)
        yield pool
        time.sleep(1.0)  # the threads' records are on Kafka (acknowledged) by then
    finally:
        ingestor.thaw()
        pool.shutdown(wait=True)


def create(client: httpx.Client, order: Order) -> None:
    answer = client.post(
        "/api/v1/orders", content=encode_order(order), headers={**AUTH, "prefer": "wait=20"}
    )
    assert answer.status_code == 201, answer.text


def waiting(
    pool: ThreadPoolExecutor, client: httpx.Client, method: str, path: str, body: bytes = b""
) -> Future[httpx.Response]:
    headers = {**AUTH, "prefer": "wait=8"}
    return pool.submit(client.request, method, path, content=body, headers=headers)


def status_of(client: httpx.Client, order_uid: str) -> tuple[int, str | None, str | None]:
    answer = client.get(f"/api/v1/orders/{order_uid}/status")
    body = answer.json() if answer.status_code == 200 else {}
    return answer.status_code, body.get("status"), answer.headers.get("etag")


def test_a_status_sent_before_an_erasure_never_reaches_the_order_sent_again(
    client: httpx.Client, ingestor: ServiceProcess
) -> None:
    order = new_order()
    create(client, order)
    with one_batch(ingestor):
        sent = client.post(
            f"/api/v1/orders/{order.order_uid}/status", json={"status": "cancelled"}, headers=AUTH
        )
        erased = client.delete(f"/api/v1/orders/{order.order_uid}", headers=AUTH)
    assert (sent.status_code, erased.status_code) == (202, 202)
    eventually(lambda: status_of(client, order.order_uid)[0] == 410)

    create(client, order)

    # Erased at 2, sent again at 3, and it starts as `created`: the cancellation was the
    # erased order's.
    assert status_of(client, order.order_uid) == (200, "created", '"3"')


def test_an_erasure_and_a_recreation_in_one_batch_are_both_announced_and_answered(
    servers: Servers, client: httpx.Client, ingestor: ServiceProcess, writer: ServiceProcess
) -> None:
    order = new_order()
    create(client, order)
    again = changed(order)
    stream_url = f"{writer.base_url}/api/v1/events/orders/{order.order_uid}"
    with listening_to_changes(servers.redis_url) as listener, reading(stream_url) as stream:
        assert stream.opened() == 200
        stream.wait_for(is_order(order.order_uid, version=1))
        with one_batch(ingestor) as pool:
            deleting = waiting(pool, client, "DELETE", f"/api/v1/orders/{order.order_uid}")
            time.sleep(0.5)  # the tombstone goes first
            putting = waiting(
                pool, client, "PUT", f"/api/v1/orders/{order.order_uid}", encode_order(again)
            )
        erased, put = deleting.result(), putting.result()
        eventually(lambda: len(listener.of(order.order_uid)) >= 2, timeout=5)
        heard = listener.of(order.order_uid)
        # The live stream of the order: its erasure, then the order sent again.
        stream.wait_for(is_order(order.order_uid, version=3))
        after_first = [
            (event.kind, event.data.get("version"))
            for event in stream.events
            if event.kind in ("order", "erased")
        ][1:]

    assert erased.status_code == 204, erased.text
    # No order stood under the id when the PUT's record was written: it created one.
    assert (put.status_code, put.headers.get("etag")) == (201, '"3"'), put.text
    assert [(a.version, a.erased, a.document is not None) for a in heard] == [
        (2, True, False),
        (3, False, True),
    ]
    assert heard[0].seq < heard[1].seq
    assert after_first == [("erased", 2), ("order", 3)]


def test_a_status_command_waiting_is_answered_gone_when_the_order_is_erased(
    client: httpx.Client, ingestor: ServiceProcess
) -> None:
    order = new_order()
    create(client, order)
    with one_batch(ingestor) as pool:
        finishing = waiting(
            pool,
            client,
            "POST",
            f"/api/v1/orders/{order.order_uid}/status",
            b'{"status": "completed"}',
        )
        time.sleep(0.5)
        client.delete(f"/api/v1/orders/{order.order_uid}", headers=AUTH)

    answer = finishing.result()
    assert answer.status_code == 410, answer.text


def test_of_two_concurrent_creators_only_the_first_record_is_answered_created(
    client: httpx.Client, ingestor: ServiceProcess
) -> None:
    order = new_order()
    with one_batch(ingestor) as pool:
        first = waiting(pool, client, "POST", "/api/v1/orders", encode_order(order))
        time.sleep(0.5)
        second = waiting(pool, client, "POST", "/api/v1/orders", encode_order(changed(order)))

    answers = [(first.result().status_code, first.result().headers.get("etag"))]
    answers.append((second.result().status_code, second.result().headers.get("etag")))
    assert answers == [(201, '"1"'), (200, '"2"')]


def test_the_same_document_after_an_erasure_not_yet_seen_here_is_a_new_order(
    client: httpx.Client, ingestor: ServiceProcess
) -> None:
    order = new_order()
    create(client, order)
    with one_batch(ingestor) as pool:
        # This replica still holds version 1 while the tombstone waits on Kafka.
        assert client.delete(f"/api/v1/orders/{order.order_uid}", headers=AUTH).status_code == 202
        again = waiting(
            pool, client, "PUT", f"/api/v1/orders/{order.order_uid}", encode_order(order)
        )

    answer = again.result()
    assert (answer.status_code, answer.headers.get("etag")) == (201, '"3"'), answer.text


def test_a_retry_whose_first_record_landed_is_answered_at_once_as_unchanged(
    servers: Servers, client: httpx.Client, ingestor: ServiceProcess
) -> None:
    order = new_order()
    with one_batch(ingestor) as pool:
        # The first attempt's record reached Kafka although its answer was a 503.
        publish(
            servers.kafka_bootstrap,
            ORDERS,
            [Message(order.order_uid.encode(), encode_order(order))],
        )
        retry = waiting(pool, client, "POST", "/api/v1/orders", encode_order(order))

    answer = retry.result()
    assert (answer.status_code, answer.headers.get("etag")) == (200, '"1"'), answer.text
    assert answer.content == encode_order(order)
