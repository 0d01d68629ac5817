"""Server spans for the hot path's answers, made only for requests whose trace is recorded.

The hot path answers a cache hit in about 25 µs; starting a span through the SDK costs
about 4 µs even when the span is not recorded. So no span is begun unless it will be
recorded: a request whose `traceparent` has the sampled flag gets one (a child of it);
one whose `traceparent` says "not sampled" gets none (the caller decided); one without a
`traceparent` begins a trace here, and the provider's sampler is asked about a fresh
trace id first (`root_sampling`: one comparison at the default ratio) and the span, if
any, is given that id. Under the no-op tracer this module is not used at all.

Traces begun by hits are also capped per second (`TRACED_HITS_PER_SECOND`, a token
bucket holding one second's worth). A replica answers tens of thousands of hits a
second, and every recorded span costs it about 60 µs in the SDK and its exporter: at
the default 1 in 100, that was 400 spans a second, about 2% of the core, and each
export batch encoded while holding the GIL added over a millisecond to the p99
(docs/performance/query.md). Below the cap (about a thousand hits a second at the default
ratio, 10 traces a second) the ratio alone decides, as everywhere else. A caller's
sampled `traceparent` is never capped: the trace was decided upstream and is followed
whole.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from litestar.types import Scope
from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider

from order_shared.telemetry import PresetTraceIds, context_from_traceparent, root_sampling

ORDER_ROUTE = "/api/v1/orders/{order_uid}"
SPAN_NAME = f"GET {ORDER_ROUTE}"
_SAMPLED_FLAGS = frozenset(b"13579bdf")
_TRACEPARENT_LENGTH = 55


class RootBudget:
    """At most `per_second` traces begun per second: a token bucket that holds one
    second's worth (at least one trace, unless the rate is 0)."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_second
        self._capacity = max(per_second, 1.0) if per_second > 0 else 0.0
        self._tokens = self._capacity
        self._clock = clock
        self._refilled_at = clock()

    def take(self) -> bool:
        now = self._clock()
        earned = (now - self._refilled_at) * self._rate
        self._tokens = min(self._capacity, self._tokens + earned)
        self._refilled_at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class HotPathSpans:
    def __init__(
        self,
        provider: TracerProvider,
        roots_per_second: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(provider.id_generator, PresetTraceIds):
            raise ValueError("the tracer provider must come from configure_tracing")
        self._ids = provider.id_generator
        self._tracer = provider.get_tracer("query.hot_path")
        self._root_sampled = root_sampling(provider)
        self._root_budget = RootBudget(roots_per_second, clock)

    def start(self, scope: Scope) -> trace.Span | None:
        """The request's server span, started, if its trace is recorded; else None."""
        traceparent = None
        for name, value in scope["headers"]:
            if name == b"traceparent":
                traceparent = value
                break
        if traceparent is None:
            trace_id = random.getrandbits(128) or 1
            if not self._root_sampled(trace_id) or not self._root_budget.take():
                return None
            self._ids.preset(trace_id)
            parent = context.Context()
        elif len(traceparent) == _TRACEPARENT_LENGTH and traceparent[-1] in _SAMPLED_FLAGS:
            parent = context_from_traceparent(traceparent.decode("latin-1"))
        else:
            return None
        return self._tracer.start_span(
            SPAN_NAME,
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes={
                "http.request.method": "GET",
                "http.route": ORDER_ROUTE,
                "url.path": scope["path"],
                "query.hot_path": True,
            },
        )
