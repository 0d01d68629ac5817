"""Which traces the services record when nobody configured sampling, and that the standard
variables take over when set."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision

from order_shared.telemetry import DEFAULT_ROOT_RATIO, default_sampler

TRACE_IDS = range(1, 2**64, 2**64 // 10_000)  # spread over the ratio sampler's range


def parent(sampled: bool) -> Context:
    flags = trace.TraceFlags(trace.TraceFlags.SAMPLED if sampled else 0)
    span_context = trace.SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=flags)
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context))


def test_a_trace_begun_elsewhere_is_recorded_exactly_when_its_parent_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    sampler = default_sampler()
    assert sampler is not None

    for sampled, expected in ((True, Decision.RECORD_AND_SAMPLE), (False, Decision.DROP)):
        result = sampler.should_sample(parent(sampled), 0xABC, "orders process")
        assert result.decision is expected


def test_a_hundredth_of_the_traces_begun_here_is_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    sampler = default_sampler()
    assert sampler is not None

    recorded = sum(
        sampler.should_sample(None, trace_id, "orders process").decision.is_sampled()
        for trace_id in TRACE_IDS
    )
    assert recorded / len(TRACE_IDS) == pytest.approx(DEFAULT_ROOT_RATIO, abs=0.002)


def test_the_standard_variable_takes_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")

    assert default_sampler() is None  # the SDK reads OTEL_TRACES_SAMPLER(_ARG) itself
