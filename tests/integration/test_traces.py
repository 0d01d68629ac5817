"""One trace per order in a real Jaeger v2: the producer's publish, the ingestor's span for
the record as its child, the write, the dead letter, the announcement and the outbox
relay under that, each query replica's apply of the announcement under it too, and the
outbox event's headers carrying the same trace on. HTTP requests on the ingestor, the
query replicas (hot path included) and the courier service are server spans named by
route template, children of the caller's `traceparent`."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from devstack import jaeger
from order_shared.telemetry import traceparent_of
from order_shared.topics import ORDER_EVENTS, ORDERS, ORDERS_DLQ
from producer.__main__ import generated_documents
from producer.publisher import order_key
from tests.courier_io import isolated_courier
from tests.harness import Servers, ServiceProcess, eventually
from tests.jaeger_io import Span, Trace, find_traces, get_trace
from tests.kafka_io import end_offsets, read_from

ORDER_COUNT = 5
SEED = 7011
HTTP_SEED = 9601
CAPPED_SEED = 9695
HITS = 200
APPLY = "orders:changes apply"


@pytest.fixture(scope="module")
def traced_ingestor(
    ingestor: ServiceProcess, jaeger_ports: jaeger.JaegerPorts
) -> Iterator[ServiceProcess]:
    """The session's ingestor, restarted to export its spans to Jaeger; restored after."""
    ingestor.restart(
        OTEL_EXPORTER_OTLP_ENDPOINT=jaeger.otlp_endpoint(jaeger_ports),
        OTEL_TRACES_SAMPLER="parentbased_always_on",
    )
    ingestor.wait_ready()
    yield ingestor
    ingestor.restart(OTEL_EXPORTER_OTLP_ENDPOINT="", OTEL_TRACES_SAMPLER="")
    ingestor.wait_ready()


def exporting_to(ports: jaeger.JaegerPorts) -> dict[str, str]:
    """The environment of a service that records every trace and exports it to Jaeger."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint(ports),
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
    }


@pytest.fixture(scope="module")
def traced_replicas(
    query_replicas: list[ServiceProcess], jaeger_ports: jaeger.JaegerPorts
) -> Iterator[list[ServiceProcess]]:
    """Both of the session's query replicas, restarted to export to Jaeger; restored after."""
    for replica in query_replicas:
        replica.restart(**exporting_to(jaeger_ports))
    for replica in query_replicas:
        replica.wait_ready()
    yield query_replicas
    for replica in query_replicas:
        replica.restart(OTEL_EXPORTER_OTLP_ENDPOINT="", OTEL_TRACES_SAMPLER="")
    for replica in query_replicas:
        replica.wait_ready()


def run_producer(
    servers: Servers, ports: jaeger.JaegerPorts, *args: str, stdin: bytes = b""
) -> None:
    """`order-producer` as a user runs it, exporting its spans to Jaeger."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap,
        "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint(ports),
        # Every order traced: the default records one trace in a hundred.
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
    }
    subprocess.run(
        [sys.executable, "-m", "producer", *args], input=stdin, env=env, check=True, timeout=60
    )


def order_trace(
    query_url: str, order_uid: str, expected_spans: set[str], replicas: int = 0
) -> Trace:
    """The one trace whose ingestor record span names the order, once it has every span
    (and an apply from each of `replicas`)."""

    def complete() -> Trace | None:
        found = find_traces(query_url, "ingestor", tags={"messaging.kafka.message.key": order_uid})
        assert len(found) == 1, f"{len(found)} traces for order {order_uid}"
        whole = get_trace(query_url, found[0].trace_id)
        missing = expected_spans - {span.name for span in whole.spans}
        assert not missing, f"order {order_uid}: no span {missing} yet"
        assert len(whole.named(APPLY)) >= replicas, f"order {order_uid}: not every apply yet"
        return whole

    return eventually(complete, timeout=60, interval=1.0)


def test_each_order_is_one_trace_from_the_producer_through_the_outbox_and_both_replicas(
    servers: Servers,
    traced_ingestor: ServiceProcess,
    traced_replicas: list[ServiceProcess],
    jaeger_ports: jaeger.JaegerPorts,
) -> None:
    documents = list(generated_documents(ORDER_COUNT, SEED))
    order_uids = [order_key(document).decode() for document in documents]  # type: ignore[union-attr]
    events_before = end_offsets(servers.kafka_bootstrap, ORDER_EVENTS)

    run_producer(servers, jaeger_ports, "--generate", str(ORDER_COUNT), "--seed", str(SEED))

    query_url = jaeger.query_url(jaeger_ports)
    expected = {
        f"{ORDERS} publish",
        f"{ORDERS} process",
        "orders write",
        "orders:changes publish",
        f"{ORDER_EVENTS} publish",
        APPLY,
    }
    events = read_from(
        servers.kafka_bootstrap, ORDER_EVENTS, events_before, count=ORDER_COUNT, timeout=60
    )
    event_traceparents = {
        event.key.decode(): traceparent_of(event.headers) for event in events if event.key
    }
    for order_uid in order_uids:
        whole = order_trace(query_url, order_uid, expected, replicas=len(traced_replicas))
        (published,) = whole.named(f"{ORDERS} publish", "producer")
        (processed,) = whole.named(f"{ORDERS} process", "ingestor")
        assert processed.parent_id == published.span_id
        assert published.parent_id is None  # the producer began the trace
        assert published.tags["messaging.kafka.message.key"] == order_uid
        children = {span.name: span for span in whole.children_of(processed)}
        assert {"orders write", "orders:changes publish", f"{ORDER_EVENTS} publish"} <= set(
            children
        )
        relayed = children[f"{ORDER_EVENTS} publish"]
        # The event on `order-events` continues the trace from the relay's span.
        traceparent = event_traceparents[order_uid]
        assert traceparent is not None
        _, trace_id, parent_span_id, _ = traceparent.split("-")
        assert trace_id == whole.trace_id.rjust(32, "0")
        assert parent_span_id == relayed.span_id.rjust(16, "0")
        # Each replica applied the order's announcement as a child of the record's span.
        applied = whole.named(APPLY, "query")
        assert len({span.instance for span in applied}) == len(applied) == len(traced_replicas)
        for span in applied:
            assert span.parent_id == processed.span_id
            assert span.tags["order.id"] == order_uid
            assert span.tags["query.applied"] is True


def test_a_dead_lettered_message_is_traced_to_its_dead_letter(
    servers: Servers, traced_ingestor: ServiceProcess, jaeger_ports: jaeger.JaegerPorts
) -> None:
    order_uid = "trace-rejected-order-1"
    dead_before = end_offsets(servers.kafka_bootstrap, ORDERS_DLQ)

    run_producer(servers, jaeger_ports, "-", stdin=f'{{"order_uid": "{order_uid}"}}'.encode())

    read_from(servers.kafka_bootstrap, ORDERS_DLQ, dead_before, count=1, key=order_uid.encode())
    whole = order_trace(
        jaeger.query_url(jaeger_ports), order_uid, {f"{ORDERS} process", f"{ORDERS_DLQ} publish"}
    )
    (processed,) = whole.named(f"{ORDERS} process", "ingestor")
    (dead_letter,) = whole.named(f"{ORDERS_DLQ} publish", "ingestor")
    (published,) = whole.named(f"{ORDERS} publish", "producer")
    assert processed.parent_id == published.span_id
    assert dead_letter.parent_id == processed.span_id
    assert not whole.named("orders write")


def test_health_requests_are_traced_by_route(
    traced_ingestor: ServiceProcess, jaeger_ports: jaeger.JaegerPorts
) -> None:
    httpx.get(f"{traced_ingestor.base_url}/readyz", timeout=5)

    def traced() -> list[Trace]:
        return find_traces(jaeger.query_url(jaeger_ports), "ingestor", operation="GET /readyz")

    (first, *_) = eventually(traced, timeout=30, interval=1.0)
    (span,) = first.named("GET /readyz")
    assert span.tags["http.route"] == "/readyz"


def sampled_request(url: str) -> tuple[str, str]:
    """GET `url` as a caller whose trace is recorded; (trace id, the caller's span id)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    answer = httpx.get(url, headers={"traceparent": f"00-{trace_id}-{span_id}-01"}, timeout=10)
    assert answer.status_code < 500, answer.text
    return trace_id, span_id


def server_span(query_url: str, trace_id: str, service: str) -> Span:
    """The one span of `service` in the trace, once Jaeger has it."""

    def found() -> Span:
        answer = httpx.get(f"{query_url}/api/traces/{trace_id}", timeout=10)
        assert answer.status_code == 200, f"trace {trace_id} not in Jaeger yet"
        (span,) = get_trace(query_url, trace_id).named_by(service)
        return span

    return eventually(found, timeout=30, interval=1.0)


def test_sampled_requests_are_server_spans_named_by_route_template(
    servers: Servers,
    traced_ingestor: ServiceProcess,
    traced_replicas: list[ServiceProcess],
    jaeger_ports: jaeger.JaegerPorts,
) -> None:
    (document,) = generated_documents(1, HTTP_SEED)
    order_uid = order_key(document).decode()  # type: ignore[union-attr]
    run_producer(servers, jaeger_ports, "--generate", "1", "--seed", str(HTTP_SEED))
    replica = traced_replicas[0]
    order_url = f"{replica.base_url}/api/v1/orders/{order_uid}"
    eventually(lambda: httpx.get(order_url, timeout=5).status_code == 200, timeout=60)
    query_url = jaeger.query_url(jaeger_ports)

    with isolated_courier(servers, replica, **exporting_to(jaeger_ports)) as courier:
        calls = {
            # A cached order: answered by the hot path, before Litestar.
            "GET /api/v1/orders/{order_uid}": (order_url, "query"),
            "GET /api/v1/orders/{order_uid}/status": (f"{order_url}/status", "query"),
            "GET /api/v1/assignments/{order_id}": (
                f"{courier.service.base_url}/api/v1/assignments/{order_uid}",
                "courier",
            ),
        }
        for name, (url, service) in calls.items():
            trace_id, caller_span_id = sampled_request(url)
            span = server_span(query_url, trace_id, service)
            assert span.name == name
            assert span.parent_id == caller_span_id
            assert span.tags["http.route"] == name.removeprefix("GET ")
            assert order_uid not in span.name


def test_hits_begin_at_most_traced_hits_per_second_traces(
    servers: Servers,
    traced_ingestor: ServiceProcess,
    traced_replicas: list[ServiceProcess],
    jaeger_ports: jaeger.JaegerPorts,
) -> None:
    """The replicas record every trace that begins with them (`parentbased_always_on`), yet
    hits begin at most TRACED_HITS_PER_SECOND (the default, 10) a second; a caller's
    sampled `traceparent` is followed all the same."""
    (document,) = generated_documents(1, CAPPED_SEED)
    order_uid = order_key(document).decode()  # type: ignore[union-attr]
    run_producer(servers, jaeger_ports, "--generate", "1", "--seed", str(CAPPED_SEED))
    replica = traced_replicas[1]
    order_url = f"{replica.base_url}/api/v1/orders/{order_uid}"
    eventually(lambda: httpx.get(order_url, timeout=5).status_code == 200, timeout=60)
    query_url = jaeger.query_url(jaeger_ports)

    started = time.monotonic()
    with httpx.Client(timeout=5) as client:
        for _ in range(HITS):
            assert client.get(order_url).status_code == 200
    elapsed = time.monotonic() - started
    # Exported after the hits, by the same batch processor: once it is in Jaeger, so are
    # the hits' spans.
    marker_trace_id, _ = sampled_request(order_url)
    server_span(query_url, marker_trace_id, "query")

    begun = [
        found
        for found in find_traces(
            query_url,
            "query",
            operation="GET /api/v1/orders/{order_uid}",
            # The hot path's spans: the misses before the order arrived went to Litestar.
            tags={"url.path": f"/api/v1/orders/{order_uid}", "query.hot_path": "true"},
        )
        if found.trace_id != marker_trace_id
    ]
    # The bucket holds a second's worth and earns 10 more a second; the GET that found
    # the order cached took one, a moment before `started`.
    allowed = 10 + 10 * elapsed + 2
    assert 10 <= len(begun) <= allowed, (len(begun), HITS, elapsed)
    assert len(begun) < HITS / 2
