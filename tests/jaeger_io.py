"""Reading traces back from Jaeger's query API (`/api/traces`), as a person would."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Span:
    span_id: str
    parent_id: str | None
    name: str
    service: str
    tags: dict[str, object]
    # `service.instance.id` of the process that made it: which replica.
    instance: str | None = None


@dataclass(frozen=True)
class Trace:
    trace_id: str
    spans: list[Span]

    def named(self, name: str, service: str | None = None) -> list[Span]:
        return [
            span
            for span in self.spans
            if span.name == name and (service is None or span.service == service)
        ]

    def named_by(self, service: str) -> list[Span]:
        return [span for span in self.spans if span.service == service]

    def children_of(self, parent: Span) -> list[Span]:
        return [span for span in self.spans if span.parent_id == parent.span_id]


def _trace(data: dict) -> Trace:
    services = {key: process["serviceName"] for key, process in data["processes"].items()}
    instances = {
        key: tags.get("service.instance.id")
        for key, process in data["processes"].items()
        for tags in [{tag["key"]: tag["value"] for tag in process.get("tags", [])}]
    }
    spans = []
    for span in data["spans"]:
        parents = [
            ref["spanID"] for ref in span.get("references", []) if ref["refType"] == "CHILD_OF"
        ]
        spans.append(
            Span(
                span["spanID"],
                parents[0] if parents else None,
                span["operationName"],
                services[span["processID"]],
                {tag["key"]: tag["value"] for tag in span.get("tags", [])},
                instances[span["processID"]],
            )
        )
    return Trace(data["traceID"], spans)


def find_traces(query_url: str, service: str, **search: object) -> list[Trace]:
    """Traces with a span of `service` matching `search` (`operation`, `tags`)."""
    params: dict[str, object] = {"service": service, "limit": 100, "lookback": "1h"}
    if "operation" in search:
        params["operation"] = search["operation"]
    if "tags" in search:
        params["tags"] = json.dumps(search["tags"])
    answer = httpx.get(f"{query_url}/api/traces", params=params, timeout=10)
    answer.raise_for_status()
    return [_trace(data) for data in answer.json()["data"] or []]


def get_trace(query_url: str, trace_id: str) -> Trace:
    answer = httpx.get(f"{query_url}/api/traces/{trace_id}", timeout=10)
    answer.raise_for_status()
    (data,) = answer.json()["data"]
    return _trace(data)
