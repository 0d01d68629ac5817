"""One trace per order in a real Jaeger v2: the producer's publish, the ingestor's span for
the record as its child, the write, the dead letter, the announcement and the outbox
relay under that, and the outbox event's headers carrying the same trace on."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from devstack import jaeger
from order_shared.telemetry import traceparent_of
from order_shared.topics import ORDER_EVENTS, ORDERS, ORDERS_DLQ
from producer.__main__ import generated_documents
from producer.publisher import order_key
from tests.harness import Servers, ServiceProcess, eventually
from tests.jaeger_io import Trace, find_traces, get_trace
from tests.kafka_io import end_offsets, read_from

ORDER_COUNT = 5
SEED = 7011


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


def order_trace(query_url: str, order_uid: str, expected_spans: set[str]) -> Trace:
    """The one trace whose ingestor record span names the order, once it has every span."""

    def complete() -> Trace | None:
        found = find_traces(query_url, "ingestor", tags={"messaging.kafka.message.key": order_uid})
        assert len(found) == 1, f"{len(found)} traces for order {order_uid}"
        whole = get_trace(query_url, found[0].trace_id)
        missing = expected_spans - {span.name for span in whole.spans}
        assert not missing, f"order {order_uid}: no span {missing} yet"
        return whole

    return eventually(complete, timeout=60, interval=1.0)


def test_each_order_is_one_trace_from_the_producer_through_the_outbox(
    servers: Servers, traced_ingestor: ServiceProcess, jaeger_ports: jaeger.JaegerPorts
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
    }
    events = read_from(
        servers.kafka_bootstrap, ORDER_EVENTS, events_before, count=ORDER_COUNT, timeout=60
    )
    event_traceparents = {
        event.key.decode(): traceparent_of(event.headers) for event in events if event.key
    }
    for order_uid in order_uids:
        whole = order_trace(query_url, order_uid, expected)
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
