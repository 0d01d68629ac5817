"""OpenTelemetry tracing for every service, and W3C trace context carried in Kafka headers.

Spans are exported over OTLP/HTTP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set;
otherwise the tracer provider still propagates context, so a trace begun by a
producer continues through the ingestor and into the Redis announcement.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def configure_tracing(service_name: str, otlp_endpoint: str | None) -> TracerProvider:
    """Install the global tracer provider; call once at start."""
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return provider


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )


def trace_headers() -> list[tuple[str, bytes]]:
    """The current trace context as Kafka headers (`traceparent`, `tracestate`)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [(key, value.encode()) for key, value in carrier.items()]


def context_from_headers(headers: Iterable[tuple[str, bytes]] | None) -> context.Context:
    """The trace context a Kafka message carries, or an empty one."""
    carrier = {
        key: value.decode("latin-1")
        for key, value in headers or ()
        if key in ("traceparent", "tracestate") and value is not None
    }
    return propagate.extract(carrier)


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def traceparent_of(headers: Iterable[tuple[str, bytes]] | None) -> str | None:
    """The W3C `traceparent` a Kafka message carries, if any."""
    for key, value in headers or ():
        if key == "traceparent" and value:
            return value.decode("latin-1")
    return None
