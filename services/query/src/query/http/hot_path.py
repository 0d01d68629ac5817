"""The lean path: `GET /api/v1/orders/{id}` for an order held in memory, answered before
Litestar.

A cache hit needs no routing, validation or response object: the body is ready JSON and
every header but two (length, entity tag) is the same for every order. Routing and the
rest cost Litestar more than half of such a request, so this ASGI layer answers exactly
that case, and hands everything else to Litestar unchanged: other methods and paths,
misses (so the id check, the read, 404, 422 and 503 stay Litestar's), the OpenAPI
document, the page. What it answers is what the Litestar handler would: the same status,
headers (security headers included) and body; `test_query_api` runs against both.

It times its answers into the replica's request durations (two clock reads and a bucket
count) and, when the tracer is installed, makes a server span for a request whose trace
is recorded (`hot_path_spans`); an unsampled request costs no span.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from litestar.types import ASGIApp, Receive, Scope, Send
from opentelemetry import trace

from order_shared.request_durations import RequestDurations
from query.http.conditional import entity_tag, is_not_modified
from query.http.hot_path_spans import ORDER_ROUTE, HotPathSpans
from query.http.metrics import HitCount
from query.http.ready_response import JSON_CONTENT_TYPE, NO_CACHE
from query.http.security_headers import SECURITY_HEADERS
from query.informer.store import CachedOrder

ORDER_PATH = "/api/v1/orders/"
_PREFIX_LENGTH = len(ORDER_PATH)
# Every header a hit carries that does not depend on the order.
_FIXED_HEADERS = (JSON_CONTENT_TYPE, NO_CACHE, *SECURITY_HEADERS)
_NOT_MODIFIED_HEADERS = (NO_CACHE, *SECURITY_HEADERS)


class HotPath:
    """ASGI: a cached order's document, or 304, before `app`; everything else to `app`."""

    def __init__(
        self,
        cached: Callable[[str], CachedOrder | None],
        hits: HitCount,
        durations: RequestDurations,
        spans: HotPathSpans | None,
        app: ASGIApp,
    ) -> None:
        self._cached = cached
        self._hits = hits
        # The two series a hit can land in, looked up once.
        self._timed_ok = durations.series("GET", ORDER_ROUTE, 200)
        self._timed_not_modified = durations.series("GET", ORDER_ROUTE, 304)
        self._spans = spans
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            # A longer path (".../status") holds a "/" in what would be the id: never
            # cached, since only valid ids are.
            if path.startswith(ORDER_PATH):
                started = time.perf_counter()
                entry = self._cached(path[_PREFIX_LENGTH:])
                if entry is not None:
                    self._hits.value += 1
                    span = None if self._spans is None else self._spans.start(scope)
                    if span is None:
                        status = await _answer(entry, scope["headers"], send)
                    else:
                        with trace.use_span(span, end_on_exit=True):
                            status = await _answer(entry, scope["headers"], send)
                            span.set_attribute("http.response.status_code", status)
                    timed = self._timed_ok if status == 200 else self._timed_not_modified
                    timed.observe(time.perf_counter() - started)
                    return
        await self._app(scope, receive, send)


async def _answer(entry: CachedOrder, headers: list[tuple[bytes, bytes]], send: Send) -> int:
    """Send the document, or 304; return the status sent."""
    tag = entity_tag(entry.version)
    for name, value in headers:
        if name == b"if-none-match":
            if is_not_modified(value, tag):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 304,
                        "headers": [(b"etag", tag), *_NOT_MODIFIED_HEADERS],
                    }
                )
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return 304
            break
    body = entry.body
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-length", b"%d" % len(body)),
                (b"etag", tag),
                *_FIXED_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
    return 200
