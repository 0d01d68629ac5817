"""The live streams of a query replica (`/api/v1/events/...`, server-sent events) on the
real stack: each change the replica applies reaches the streams watching it, a client
resumes with `Last-Event-ID` (on another replica too) or is told to reload, a stuck client
is dropped without holding anyone up, the caps answer 503 with `Retry-After`, and the
streams end cleanly when the replica stops.

Nothing here times anything: a test waits, with a deadline, for an event to arrive."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator

import httpx
import msgspec
import pytest

from order_shared.model import Order
from order_shared.topics import ORDERS
from tests.courier_io import (
    CourierUnderTest,
    orders_created_in_order,
    phone,
    publish_orders,
    publish_status,
    settled,
)
from tests.harness import Servers, ServiceProcess, eventually, start_query
from tests.kafka_io import Message, publish
from tests.metrics_io import metric_total
from tests.stream_io import is_order, reading, stuck_client


def order_stream(replica: ServiceProcess, order_uid: str, since: int | None = None) -> str:
    query = "" if since is None else f"?last_event_id={since}"
    return f"{replica.base_url}/api/v1/events/orders/{order_uid}{query}"


def newest_stream(replica: ServiceProcess) -> str:
    return f"{replica.base_url}/api/v1/events/newest-orders"


def held_by(replica: ServiceProcess, order_uid: str) -> bool:
    return httpx.get(f"{replica.base_url}/api/v1/orders/{order_uid}", timeout=5).status_code == 200


def erase(servers: Servers, order_uid: str) -> None:
    publish(servers.kafka_bootstrap, ORDERS, [Message(order_uid.encode(), None)])


@pytest.fixture
def replica(servers: Servers, query_replicas: list[ServiceProcess]) -> ServiceProcess:
    return query_replicas[0]


def test_an_order_stream_sends_the_order_then_its_status_change_then_its_erasure(
    servers: Servers, replica: ServiceProcess
) -> None:
    (order,) = orders_created_in_order(2701, 1)
    publish_orders(servers, [order])
    eventually(lambda: held_by(replica, order.order_uid), timeout=30)

    with reading(order_stream(replica, order.order_uid)) as stream:
        assert stream.opened() == 200
        assert stream.response_headers is not None
        assert stream.response_headers["content-type"].startswith("text/event-stream")
        assert stream.response_headers["x-accel-buffering"] == "no"
        first = stream.wait_for(is_order(order.order_uid))
        assert first.id == "1" and first.data["version"] == 1
        assert first.data["status"] == "created"
        assert msgspec.json.decode(msgspec.json.encode(first.data["order"]), type=Order) == order

        publish_status(servers, order.order_uid, "completed")
        completed = stream.wait_for(is_order(order.order_uid, status="completed"))
        assert completed.id == str(completed.data["version"]) and completed.data["version"] > 1
        assert "order" not in completed.data  # the document did not change

        erase(servers, order.order_uid)
        erased = stream.wait_for(lambda event: event.kind == "erased")
        assert erased.data["order_uid"] == order.order_uid
        assert erased.data["version"] > completed.data["version"]
        assert erased.id == str(erased.data["version"])


def test_an_order_stream_resumed_at_the_current_version_sends_only_later_changes(
    servers: Servers, replica: ServiceProcess
) -> None:
    (order,) = orders_created_in_order(2702, 1)
    publish_orders(servers, [order])
    eventually(lambda: held_by(replica, order.order_uid), timeout=30)

    with reading(order_stream(replica, order.order_uid, since=1)) as stream:
        assert stream.opened() == 200
        publish_status(servers, order.order_uid, "cancelled")
        stream.wait_for(is_order(order.order_uid, status="cancelled"))
        assert [event.data["version"] for event in stream.events if event.kind == "order"] == [2]

    # Resumed from before the change: the order as it is now, at once.
    with reading(order_stream(replica, order.order_uid), {"Last-Event-ID": "1"}) as stream:
        resumed = stream.wait_for(is_order(order.order_uid))
        assert resumed.data["status"] == "cancelled" and resumed.data["version"] == 2


def test_an_unknown_order_stream_sends_the_order_when_it_arrives(
    servers: Servers, replica: ServiceProcess
) -> None:
    (order,) = orders_created_in_order(2703, 1)
    with reading(order_stream(replica, order.order_uid)) as stream:
        assert stream.opened() == 200
        publish_orders(servers, [order])
        arrived = stream.wait_for(is_order(order.order_uid), timeout=30)
        assert arrived.data["version"] == 1 and arrived.data["status"] == "created"


def test_the_newest_orders_stream_sends_new_orders_as_the_list_shows_them(
    servers: Servers, replica: ServiceProcess
) -> None:
    orders = orders_created_in_order(2704, 3)
    with reading(newest_stream(replica)) as stream:
        assert stream.opened() == 200
        publish_orders(servers, orders)
        rows = [stream.wait_for(is_order(order.order_uid), timeout=30) for order in orders]
        publish_status(servers, orders[0].order_uid, "completed")
        status = stream.wait_for(is_order(orders[0].order_uid, status="completed"))

    listed = httpx.get(f"{replica.base_url}/api/v1/orders?limit=100", timeout=10).json()["orders"]
    by_id = {row["order_uid"]: row for row in listed}
    for row in rows:
        summary = {name: value for name, value in row.data.items() if name != "version"}
        expected = {**by_id[row.data["order_uid"]], "status": "created"}
        assert summary == expected
        assert row.data["version"] == 1 and int(row.id or 0) > 0
    assert status.data == {
        "order_uid": orders[0].order_uid,
        "version": 2,
        "status": "completed",
    }


def test_a_newest_orders_client_resumes_on_the_other_replica_with_what_it_missed(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    first, *missed = orders_created_in_order(2705, 4)
    with reading(newest_stream(query_replicas[0])) as stream:
        publish_orders(servers, [first])
        seen = stream.wait_for(is_order(first.order_uid), timeout=30)
    assert seen.id is not None

    publish_orders(servers, missed)
    for order in missed:
        eventually(lambda order=order: held_by(query_replicas[1], order.order_uid), timeout=30)

    with reading(newest_stream(query_replicas[1]), {"Last-Event-ID": seen.id}) as stream:
        for order in missed:
            stream.wait_for(is_order(order.order_uid, version=1))
        assert not any(event.kind == "reload" for event in stream.events)


def test_a_newest_orders_client_resuming_from_before_the_history_is_told_to_reload(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    replica = start_query(servers, "query-short-history", STREAM_HISTORY_CHANGES="2")
    try:
        orders = orders_created_in_order(2706, 4)
        with reading(newest_stream(replica)) as stream:
            publish_orders(servers, orders)
            stream.wait_for(is_order(orders[-1].order_uid), timeout=30)
        with reading(newest_stream(replica), {"Last-Event-ID": "0"}) as stream:
            reload = stream.wait_for(lambda event: event.kind == "reload")
        assert reload.data == {"reason": "history"}
        assert int(reload.id or 0) > 0
    finally:
        replica.stop()


def test_a_malformed_last_event_id_is_400(replica: ServiceProcess) -> None:
    for headers in ({"Last-Event-ID": "x1"}, {"Last-Event-ID": "-1"}):
        answer = httpx.get(newest_stream(replica), headers=headers, timeout=5)
        assert answer.status_code == 400, headers
        assert "Last-Event-ID" in answer.json()["detail"]
    bad_id = httpx.get(f"{replica.base_url}/api/v1/events/orders/bad%20id", timeout=5)
    assert bad_id.status_code == 400


@pytest.fixture
def capped_replica(servers: Servers, ingestor: ServiceProcess) -> Iterator[ServiceProcess]:
    replica = start_query(
        servers, "query-capped", STREAM_MAX_STREAMS="3", STREAM_MAX_PER_ADDRESS="2"
    )
    yield replica
    replica.stop()


def test_streams_beyond_the_caps_are_answered_503_with_retry_after(
    capped_replica: ServiceProcess,
) -> None:
    url = newest_stream(capped_replica)
    with reading(url) as one, reading(url) as two:
        assert one.opened() == 200 and two.opened() == 200
        per_address = httpx.get(url, timeout=5)
        assert per_address.status_code == 503
        assert per_address.headers["retry-after"] == "5"
        assert "streams are open from 127.0.0.1" in per_address.json()["detail"]
        # Behind a trusted proxy (127.0.0.1 by default) the client is X-Forwarded-For's.
        with reading(url, {"X-Forwarded-For": "203.0.113.9"}) as three:
            assert three.opened() == 200
            per_replica = httpx.get(url, headers={"X-Forwarded-For": "203.0.113.10"}, timeout=5)
            assert per_replica.status_code == 503
            assert per_replica.headers["retry-after"] == "5"
            assert "this replica serves 3 streams" in per_replica.json()["detail"]
    # The places are given back when the streams close.
    eventually(lambda: metric_total(capped_replica, "query_streams_open") == 0)
    with reading(url) as again:
        assert again.opened() == 200
    refused = metric_total(capped_replica, "query_streams_refused_total")
    assert refused == 2


@pytest.fixture
def small_buffer_replica(servers: Servers, ingestor: ServiceProcess) -> Iterator[ServiceProcess]:
    replica = start_query(servers, "query-small-buffer", STREAM_BUFFER_EVENTS="2")
    yield replica
    replica.stop()


def large_versions(seed: int, count: int) -> list[Order]:
    """Versions of one order of about 400 KB each (900 items), each with other content."""
    (base,) = orders_created_in_order(seed, 1)
    items = [
        msgspec.structs.replace(base.items[0], rid=f"rid-{seed}-{n}", name="n" * 200)
        for n in range(900)
    ]
    goods_total = sum(item.total_price for item in items)
    payment = msgspec.structs.replace(
        base.payment,
        goods_total=goods_total,
        amount=goods_total + base.payment.delivery_cost + base.payment.custom_fee,
    )
    return [
        msgspec.structs.replace(base, items=items, payment=payment, internal_signature=f"v{n}")
        for n in range(count)
    ]


def test_a_client_that_stops_reading_is_dropped_and_the_others_get_every_change(
    servers: Servers, small_buffer_replica: ServiceProcess
) -> None:
    """The kernel's buffers take a few MB before the replica's writes to a client that
    reads nothing block; after that, two more changes fill its buffer of 2."""
    versions = large_versions(2707, 24)
    order_uid = versions[0].order_uid
    url = order_stream(small_buffer_replica, order_uid)
    with stuck_client(url) as stuck, reading(url) as reader:
        assert reader.opened() == 200
        for number, version in enumerate(versions, start=1):
            publish_orders(servers, [version])
            reader.wait_for(is_order(order_uid, version=number), timeout=30)
            if metric_total(small_buffer_replica, "query_stream_overflows_total"):
                break
        assert metric_total(small_buffer_replica, "query_stream_overflows_total") == 1
        # The reader still gets what comes next.
        publish_status(servers, order_uid, "completed")
        reader.wait_for(is_order(order_uid, status="completed"), timeout=30)
        # The stuck client's stream was ended by the replica: reading it all reaches its
        # end, `reload` and the end of the body if they fitted in, else the connection's.
        stuck.settimeout(20)
        received = b""
        while not received.endswith(b"\r\n0\r\n\r\n") and (chunk := stuck.recv(1 << 20)):
            received += chunk
        assert received.startswith(b"HTTP/1.1 200")
        if received.endswith(b"\r\n0\r\n\r\n"):
            assert b"event: reload" in received[-300:]
        assert b"completed" not in received


@pytest.mark.parametrize("workers", ["1", "2"])
def test_streams_end_cleanly_when_the_replica_stops(
    servers: Servers, ingestor: ServiceProcess, workers: str
) -> None:
    replica = start_query(servers, f"query-stopping-{workers}", WORKERS=workers)
    try:
        with (
            reading(newest_stream(replica)) as newest,
            reading(order_stream(replica, "not-yet-sent-2709")) as one,
        ):
            assert newest.opened() == 200 and one.opened() == 200
            replica.process.send_signal(signal.SIGTERM)
            assert replica.process.wait(timeout=30) == 0
            assert newest.wait_until_ended() and one.wait_until_ended()
            assert newest.clean_end and one.clean_end
    finally:
        replica.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", replica.port), timeout=2).close()


def test_a_quiet_stream_gets_heart_beat_comments(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    replica = start_query(servers, "query-heartbeat", STREAM_HEARTBEAT_SECONDS="0.2")
    try:
        with reading(order_stream(replica, "never-sent-2710")) as stream:
            assert stream.opened() == 200
            eventually(lambda: stream.comments >= 3)
            assert stream.events == []
    finally:
        replica.stop()


def test_an_order_stream_tells_when_its_courier_is_assigned_and_when_the_delivery_ends(
    servers: Servers, courier: CourierUnderTest
) -> None:
    """The courier's tables notify on commit (migration 0012); the replica relays it."""
    database = courier.database_admin_url.rsplit("/", 1)[1]
    replica = start_query(
        servers,
        "query-courier-events",
        COURIER_DATABASE_URL=(
            f"postgresql://order_query:order_query@127.0.0.1:{servers.postgres_port}/{database}"
        ),
    )
    try:
        courier.api.add_courier("Live Rider", phone(2711))
        (order,) = orders_created_in_order(2711, 1)
        with reading(order_stream(replica, order.order_uid)) as stream:
            assert stream.opened() == 200
            publish_orders(servers, [order])
            settled(courier, order.order_uid, "assigned")
            assigned = stream.wait_for(lambda event: event.kind == "courier", timeout=30)
            assert assigned.data == {"order_uid": order.order_uid, "version": 1}
            before = len(stream.events)

            publish_status(servers, order.order_uid, "completed")
            settled(courier, order.order_uid, "delivered")
            stream.wait_for(
                lambda event: event.kind == "courier" and stream.events.index(event) >= before,
                timeout=30,
            )
    finally:
        replica.stop()


def test_more_open_streams_than_the_server_s_default_concurrency_hold_back_no_request(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    """Granian serves 128 requests at once by default: 140 open streams made every other
    request wait for ever (it failed so: /healthz timed out). The replica now lets
    STREAM_MAX_STREAMS stay open beside its other requests."""
    replica = start_query(servers, "query-many-streams")
    connections = []
    try:
        for number in range(140):
            connection = socket.create_connection(("127.0.0.1", replica.port), timeout=10)
            connection.sendall(
                b"GET /api/v1/events/newest-orders HTTP/1.1\r\nHost: x\r\n"
                b"X-Forwarded-For: 10.0.%d.%d\r\n\r\n" % (number // 256, number % 256)
            )
            connections.append(connection)
        eventually(lambda: metric_total(replica, "query_streams_open") == 140, timeout=30)
        assert httpx.get(f"{replica.base_url}/healthz", timeout=10).status_code == 200
    finally:
        for connection in connections:
            connection.close()
        replica.stop()
