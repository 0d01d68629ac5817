"""Reading a service's Prometheus metrics from the tests."""

from __future__ import annotations

import httpx

from tests.harness import ServiceProcess


def metric_total(service: ServiceProcess, name: str) -> float:
    """The sum of a counter or gauge over its labels; 0 if it is not exported yet."""
    text = httpx.get(f"{service.base_url}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((f"{name} ", f"{name}{{"))
    )
