"""OpenTelemetry tracing and structured logs for every service, and W3C trace context
carried in Kafka headers.

Spans are exported over OTLP/HTTP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. A
service that exports nothing makes no spans at all (the API's no-op tracer): creating
even unsampled spans cost the ingestor several microseconds per record for nothing. The
trace context still travels: the no-op tracer hands a record's own context on, so a trace
begun by a producer continues through the ingestor into the Redis announcement and the
order events. The producer begins traces whether or not it exports them.

Sampling follows the standard `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` (the
SDK reads them). Unset, it is parent-based with a ratio of `DEFAULT_ROOT_RATIO` for traces
that begin here: a trace is decided once, where it begins, and every later service
follows the decision, so a sampled order is traced whole and an unsampled one costs each
later service only a non-recording span. Not `parentbased_always_on`, the SDK's own
default: recording every order's spans roughly halved the ingestor's peak rate (see
docs/operations/index.md), and a hundredth of the orders is plenty to read from.

Logs: every record, ours and the libraries' (aiokafka, psycopg, uvicorn), goes through
structlog's processors to one line on standard error: a JSON object with `time`,
`level`, `logger`, `message`, `trace_id`/`span_id` when a span is current and whatever
the call adds (`extra={"order_id": ...}`), or the same rendered for a terminal
(`LOG_FORMAT=console`). Passwords in URLs are masked before a line is written, and
aiokafka's producer never logs below INFO (its DEBUG lines carry message values).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, Literal

import structlog
from opentelemetry import context, propagate, trace
from opentelemetry.sdk.environment_variables import OTEL_TRACES_SAMPLER
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased

LogFormat = Literal["json", "console"]

# The share of traces beginning in a service that are recorded, unless OTEL_TRACES_SAMPLER
# says otherwise.
DEFAULT_ROOT_RATIO = 0.01
_DEFAULT_ROOT_SAMPLER = TraceIdRatioBased(DEFAULT_ROOT_RATIO)
_DEFAULT_SAMPLER = ParentBased(_DEFAULT_ROOT_SAMPLER)


def default_sampler() -> Sampler | None:
    """None when `OTEL_TRACES_SAMPLER` is set (the SDK then reads it and its argument)."""
    if os.environ.get(OTEL_TRACES_SAMPLER):
        return None
    return _DEFAULT_SAMPLER


class PresetTraceIds(RandomIdGenerator):
    """Random ids, except that the next trace id can be chosen beforehand.

    A path that must stay cheap (the query replica's hot path) asks the sampler about a
    trace id first and starts a span only if that trace is recorded; the span must then
    get that very id, or a ratio sampler would decide again on another one."""

    def __init__(self) -> None:
        self._next_trace_id = 0

    def preset(self, trace_id: int) -> None:
        self._next_trace_id = trace_id

    def generate_trace_id(self) -> int:
        trace_id, self._next_trace_id = self._next_trace_id, 0
        return trace_id or super().generate_trace_id()


def root_sampling(provider: TracerProvider) -> Callable[[int], bool]:
    """Whether the provider's sampler records a trace that begins here with `trace_id`,
    without making a span: the SDK's own rule for the default ratio (one comparison),
    the sampler's `should_sample` for any other."""
    sampler = provider.sampler
    if sampler is _DEFAULT_SAMPLER:
        bound, limit = _DEFAULT_ROOT_SAMPLER.bound, TraceIdRatioBased.TRACE_ID_LIMIT
        return lambda trace_id: trace_id & limit < bound

    def decided(trace_id: int) -> bool:
        return sampler.should_sample(None, trace_id, "root").decision.is_sampled()

    return decided


def _instance_id() -> str:
    """`service.instance.id`: tells replicas of one service apart in Jaeger (the pod's
    name is its host name); `OTEL_RESOURCE_ATTRIBUTES` may set another."""
    return f"{socket.gethostname()}:{os.getpid()}"


def configure_tracing(
    service_name: str, otlp_endpoint: str | None, *, begins_traces: bool = False
) -> TracerProvider | None:
    """Install the global tracer provider when there is something to do with spans: an
    endpoint to export them to, or (`begins_traces`) trace ids to begin for the services
    after this one. Otherwise leave the no-op tracer. Call once at start."""
    if not otlp_endpoint and not begins_traces:
        return None
    resource = Resource({SERVICE_INSTANCE_ID: _instance_id()}).merge(
        Resource.create({SERVICE_NAME: service_name})
    )
    provider = TracerProvider(
        resource=resource, sampler=default_sampler(), id_generator=PresetTraceIds()
    )
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return provider


def installed_tracer_provider() -> TracerProvider | None:
    """The SDK provider `configure_tracing` installed, or None under the no-op tracer."""
    provider = trace.get_tracer_provider()
    return provider if isinstance(provider, TracerProvider) else None


# `scheme://user:password@host`: the password is replaced before a line is written.
_URL_PASSWORD = re.compile(r"(?P<prefix>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)


def mask_url_passwords(text: str) -> str:
    return _URL_PASSWORD.sub(r"\g<prefix>***@", text)


def _mask_passwords(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str) and "://" in value:
            event[key] = mask_url_passwords(value)
    return event


def _add_trace_context(
    _: Any, __: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event["trace_id"] = format(span_context.trace_id, "032x")
        event["span_id"] = format(span_context.span_id, "016x")
    return event


def configure_logging(level: str, log_format: LogFormat = "json") -> None:
    """Route every logger through structlog to standard error; call once at start."""
    before_rendering: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
        _add_trace_context,
    ]
    if log_format == "json":
        rendering: list[Any] = [
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            _mask_passwords,
            structlog.processors.JSONRenderer(),
        ]
    else:
        rendering = [_mask_passwords, structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=before_rendering,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # Its DEBUG lines hold every message's whole value: order documents stay out of logs.
    logging.getLogger("aiokafka.producer.producer").setLevel(
        max(logging.INFO, logging.getLevelName(level))
    )
    structlog.configure(
        processors=[*before_rendering, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
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


def context_from_traceparent(traceparent: str | None) -> context.Context:
    """The trace context of a stored W3C `traceparent`, or an empty one."""
    return propagate.extract({"traceparent": traceparent} if traceparent else {})


def is_sampled(traceparent: str | None) -> bool:
    """True if a W3C `traceparent` says its trace is recorded (its flags' last bit)."""
    return traceparent is not None and len(traceparent) == 55 and traceparent[-1] in "13579bdf"


def traceparent_of_span(span: trace.Span) -> str | None:
    """The W3C `traceparent` naming `span` as the parent, or None for an invalid span."""
    span_context = span.get_span_context()
    if not span_context.is_valid:
        return None
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
        f"{int(span_context.trace_flags):02x}"
    )


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
