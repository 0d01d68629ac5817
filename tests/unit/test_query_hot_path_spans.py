"""The hot path's server spans: named by route template, made for a request whose trace is
recorded and for no other, with the root decision taken by the configured sampler before
any span is built."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler

from order_shared.request_durations import RequestDurations
from order_shared.telemetry import PresetTraceIds, default_sampler, root_sampling
from query.http.hot_path import HotPath
from query.http.hot_path_spans import HotPathSpans
from query.http.metrics import HitCount
from query.informer.store import CachedOrder

ORDER = CachedOrder(3, 30, "created", b'{"order_uid":"span-1"}')
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SAMPLED = f"00-{TRACE_ID:032x}-00f067aa0ba902b7-01"
UNSAMPLED = f"00-{TRACE_ID:032x}-00f067aa0ba902b7-00"
TRACE_IDS = range(1, 2**64, 2**64 // 10_000)


class Traced:
    """A hot path over one cached order, its spans exported to memory, span starts counted."""

    def __init__(self, sampler: Sampler, roots_per_second: float = 1e9) -> None:
        self.exported = InMemorySpanExporter()
        provider = TracerProvider(sampler=sampler, id_generator=PresetTraceIds())
        provider.add_span_processor(SimpleSpanProcessor(self.exported))
        self.now = 100.0
        self.spans = HotPathSpans(provider, roots_per_second, clock=lambda: self.now)
        self.started = 0
        start_span = self.spans._tracer.start_span

        def counted_start_span(*args: object, **kwargs: object) -> trace.Span:
            self.started += 1
            return start_span(*args, **kwargs)  # type: ignore[arg-type]

        self.spans._tracer.start_span = counted_start_span  # type: ignore[method-assign]

        async def litestar(scope: object, receive: object, send: object) -> None:
            raise AssertionError("a hit never reaches Litestar")

        self.app = HotPath(
            {"span-1": ORDER}.get, HitCount(), RequestDurations("t"), self.spans, litestar
        )

    def get(self, headers: dict[str, str]) -> httpx.Response:
        async def request() -> httpx.Response:
            transport = httpx.ASGITransport(self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
                return await client.get("/api/v1/orders/span-1", headers=headers)

        return asyncio.run(request())


@pytest.fixture
def default(monkeypatch: pytest.MonkeyPatch) -> Iterator[Traced]:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    sampler = default_sampler()
    assert sampler is not None
    yield Traced(sampler)


def test_a_sampled_request_gets_a_server_span_named_by_route_template(default: Traced) -> None:
    response = default.get({"traceparent": SAMPLED})

    assert response.status_code == 200
    (span,) = default.exported.get_finished_spans()
    assert span.name == "GET /api/v1/orders/{order_uid}"
    assert span.kind is trace.SpanKind.SERVER
    assert span.context.trace_id == TRACE_ID
    assert span.parent is not None and span.parent.span_id == 0x00F067AA0BA902B7
    assert span.attributes is not None
    assert span.attributes["http.route"] == "/api/v1/orders/{order_uid}"
    assert span.attributes["url.path"] == "/api/v1/orders/span-1"
    assert span.attributes["http.response.status_code"] == 200


def test_an_unsampled_request_builds_no_span(default: Traced) -> None:
    for _ in range(50):
        assert default.get({"traceparent": UNSAMPLED}).status_code == 200

    assert default.started == 0
    assert not default.exported.get_finished_spans()


def test_requests_beginning_a_trace_build_spans_only_for_the_sampled_hundredth(
    default: Traced,
) -> None:
    for _ in range(400):
        default.get({})

    finished = default.exported.get_finished_spans()
    # Every span begun was recorded: the sampler was asked before any span was built.
    assert default.started == len(finished)
    assert 0 < len(finished) < 20  # about 4 of 400 at 1 in 100
    assert all(span.parent is None for span in finished)


def test_traces_begun_by_hits_are_capped_per_second() -> None:
    capped = Traced(ParentBased(ALWAYS_ON), roots_per_second=3)

    for _ in range(10):
        capped.get({})
    assert capped.started == 3  # a second's worth at once, then none

    capped.now += 0.5
    for _ in range(10):
        capped.get({})
    assert capped.started == 4  # half a second earns one and a half

    capped.now += 10
    for _ in range(10):
        capped.get({})
    assert capped.started == 7  # an idle spell saves up one second's worth, no more


def test_the_cap_never_refuses_a_caller_that_asked_for_its_trace() -> None:
    capped = Traced(ParentBased(ALWAYS_ON), roots_per_second=1)

    for _ in range(5):
        capped.get({"traceparent": SAMPLED})

    assert capped.started == 5
    assert len(capped.exported.get_finished_spans()) == 5


def test_a_cap_of_zero_lets_hits_begin_no_trace() -> None:
    never = Traced(ParentBased(ALWAYS_ON), roots_per_second=0)

    for _ in range(5):
        never.get({})

    assert never.started == 0


def test_a_sampler_chosen_by_the_standard_variables_decides_roots() -> None:
    never = Traced(ParentBased(ALWAYS_OFF))

    for _ in range(50):
        never.get({})
    never.get({"traceparent": SAMPLED})

    assert never.started == 1  # only for the caller that asked for its trace
    assert [span.name for span in never.exported.get_finished_spans()] == [
        "GET /api/v1/orders/{order_uid}"
    ]


def test_the_root_rule_is_the_samplers_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    sampler = default_sampler()
    assert sampler is not None
    provider = TracerProvider(sampler=sampler, id_generator=PresetTraceIds())
    rule = root_sampling(provider)

    for trace_id in TRACE_IDS:
        expected = sampler.should_sample(None, trace_id, "x").decision.is_sampled()
        assert rule(trace_id) is expected, hex(trace_id)
