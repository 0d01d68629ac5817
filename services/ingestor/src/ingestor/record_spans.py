"""One trace per order through the ingestor: a consumer span for every record, a child of
the trace context in the record's headers, and under it a span for each step the record
went through (the database write, dead-lettering, the announcement).

A batch span with links would lose most orders (a span keeps 128 links; a batch holds
2,000), so each record gets its own span. The steps are done for the whole batch at
once, so their spans are made afterwards with the step's start and end times, and only
for records whose span records: an unsampled record costs one non-recording span.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from aiokafka.structs import ConsumerRecord
from opentelemetry import trace

from order_shared.telemetry import context_from_headers, traceparent_of_span

tracer = trace.get_tracer("ingestor")


class RecordSpans:
    """The consumer spans of one fetched batch, by record."""

    __slots__ = ("_spans", "recording")

    def __init__(self, records: Iterable[ConsumerRecord]) -> None:
        self._spans: dict[int, trace.Span] = {}
        # False when no record of the batch is sampled: the steps then make no spans, and
        # callers need not even gather their records.
        self.recording = False
        for record in records:
            span = tracer.start_span(
                f"{record.topic} process",
                context=context_from_headers(record.headers),
                kind=trace.SpanKind.CONSUMER,
            )
            if span.is_recording():
                self.recording = True
                span.set_attributes(
                    {
                        "messaging.system": "kafka",
                        "messaging.destination.name": record.topic,
                        "messaging.destination.partition.id": str(record.partition),
                        "messaging.kafka.offset": record.offset,
                        "messaging.kafka.message.key": (record.key or b"").decode("latin-1"),
                    }
                )
            self._spans[id(record)] = span

    def span(self, record: ConsumerRecord) -> trace.Span:
        return self._spans[id(record)]

    def traceparent(self, record: ConsumerRecord) -> str | None:
        """The context later steps continue from (an outbox event, the announcement)."""
        span = self._spans.get(id(record))
        return None if span is None else traceparent_of_span(span)

    def step(
        self,
        name: str,
        records: Iterable[ConsumerRecord],
        started_ns: int,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: dict[str, str] | None = None,
    ) -> None:
        """A span from `started_ns` to now under each recording record span."""
        if not self.recording:
            return
        ended_ns = time.time_ns()
        for record in records:
            parent = self._spans.get(id(record))
            if parent is None or not parent.is_recording():
                continue
            child = tracer.start_span(
                name,
                context=trace.set_span_in_context(parent),
                kind=kind,
                attributes=attributes,
                start_time=started_ns,
            )
            child.end(end_time=ended_ns)

    def end(self, outcome: str) -> None:
        """End every record span, saying what became of its batch."""
        for span in self._spans.values():
            if span.is_recording():
                span.set_attribute("ingestor.batch.outcome", outcome)
            span.end()
