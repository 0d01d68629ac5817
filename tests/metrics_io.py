"""Reading a service's Prometheus metrics from the tests."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import ServiceProcess


def metric_total(service: ServiceProcess, name: str) -> float:
    """The sum of a counter or gauge over its labels; 0 if it is not exported yet."""
    text = httpx.get(f"{service.base_url}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((f"{name} ", f"{name}{{"))
    )


def metric_value(service: ServiceProcess, name: str, **labels: str) -> float:
    """One series' value (the sample whose labels include `labels`); 0 if not exported."""
    text = httpx.get(f"{service.base_url}/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )
