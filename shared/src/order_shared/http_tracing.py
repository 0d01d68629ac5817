"""HTTP server spans for the services' Litestar apps, named by route template.

OpenTelemetry's ASGI instrumentation makes one server span per request, a child of the
caller's `traceparent`, sampled by the provider's sampler (`OTEL_TRACES_SAMPLER`). It is
added as ordinary app middleware, which Litestar runs after routing, so the span is named
by the route as declared (`GET /api/v1/orders/{order_uid}/status`), never by the raw
path: one name per route, not one per order. Litestar's own OpenTelemetry plugin wraps
the app before routing, where only the raw path is known, hence the instrumentation
itself here. A request that matches no route (404, 405) is therefore not traced. The
probes' `/healthz` and the scrapes' `/metrics` are left out.
"""

from __future__ import annotations

from typing import Any

from litestar.middleware.base import DefineMiddleware
from litestar.types import Scope
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.util.http import ExcludeList

UNTRACED_PATHS = ExcludeList(["/healthz$", "/metrics$"])


def route_span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The span's name and `http.route`: the route template, never the raw path."""
    route = scope["path_template"]
    return f"{scope['method']} {route}", {"http.route": route}


def route_tracing() -> DefineMiddleware:
    """The middleware to add to a Litestar app's `middleware`."""
    return DefineMiddleware(
        OpenTelemetryMiddleware,
        excluded_urls=UNTRACED_PATHS,
        default_span_details=route_span_details,
        exclude_spans=["receive", "send"],
    )
