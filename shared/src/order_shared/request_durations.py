"""HTTP request durations by route template, method and status class, for Prometheus.

`TimedRequests` wraps a Litestar app from outside: it times each request, and afterwards
reads the route template Litestar's router put in the scope (`/api/v1/orders/{order_uid}`,
never the raw path, which would make one series per order). A request that matched no
route (a 404 for an unknown path) is counted under `unmatched`. Status codes are counted
by class (`2xx`, `4xx`, ...): few series, and what an operator alerts on.

The counts are `BucketCounts`, so recording a request is a dictionary lookup, a `bisect`
and two additions; `RequestDurations` is the collector that exports them when scraped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from order_shared.bucket_counts import BucketCounts

# Seconds: from a cache hit's tens of microseconds to a slow database read.
DURATION_BOUNDS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
UNMATCHED_ROUTE = "unmatched"

# (method, route template, status class)
SeriesKey = tuple[str, str, str]


def status_class(status: int) -> str:
    return f"{status // 100}xx"


class RequestDurations(Collector):
    """One histogram family, `<name>{method,route,status_class}`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._series: dict[SeriesKey, BucketCounts] = {}

    def series(self, method: str, route: str, status: int) -> BucketCounts:
        """The counts of one label set; callers on a hot path may keep it."""
        key = (method, route, status_class(status))
        counts = self._series.get(key)
        if counts is None:
            counts = self._series[key] = BucketCounts(DURATION_BOUNDS)
        return counts

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            self.name,
            "HTTP request duration by route template, method and status class",
            labels=["method", "route", "status_class"],
        )
        for key, counts in list(self._series.items()):
            counts.add_to(family, key)
        yield family


class TimedRequests:
    """ASGI: `app`, with every HTTP request's duration recorded in `durations`."""

    def __init__(self, app: ASGIApp, durations: RequestDurations) -> None:
        self._app = app
        self._durations = durations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app fails before it starts a response

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, timed_send)
        finally:
            route = scope.get("path_template") or UNMATCHED_ROUTE
            self._durations.series(scope["method"], route, status).observe(
                time.perf_counter() - started
            )
