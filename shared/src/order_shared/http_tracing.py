"""HTTP server spans for the services' Litestar apps, named by route template.

Litestar's OpenTelemetry plugin (the ASGI instrumentation underneath) makes one server
span per request, a child of the caller's `traceparent`, sampled by the provider's
sampler (`OTEL_TRACES_SAMPLER`). As app middleware it runs after routing, so the span can
be named by the route as declared (`GET /api/v1/orders/{order_uid}`), never by the raw
path: one name per route, not one per order. The probes' `/healthz` and the scrapes'
`/metrics` are left out of traces.
"""

from __future__ import annotations

from typing import Any

from litestar.middleware.base import DefineMiddleware
from litestar.plugins.opentelemetry import OpenTelemetryConfig
from litestar.types import Scope

UNTRACED_PATHS = ["^/healthz$", "^/metrics$"]


def route_span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The span's name and `http.route`: the route template, never the raw path."""
    route = scope.get("path_template") or scope.get("path", "")
    return f"{scope.get('method', 'GET')} {route}", {"http.route": route}


def route_tracing() -> DefineMiddleware:
    """The middleware to add to a Litestar app's `middleware`."""
    return OpenTelemetryConfig(
        scope_span_details_extractor=route_span_details,
        exclude=UNTRACED_PATHS,
        exclude_spans=["receive", "send"],
    ).middleware
