"""Jaeger v2 built from its Go module (`scripts/install-jaeger.sh`): OTLP on loopback,
traces kept in memory, the query API for people and tests.

The module build serves the query API (`/api/traces/{id}`, `/api/v3/...`) but not the web
UI's assets; the Compose and kind Jaeger images have them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from devstack.process import ServerCommand

REPO = Path(__file__).resolve().parents[1]
BINARY = REPO / ".state" / "tools" / "bin" / "jaeger"
CONFIG = Path(__file__).with_name("jaeger.yaml")


@dataclass(frozen=True)
class JaegerPorts:
    otlp_grpc: int = 4317
    otlp_http: int = 4318
    query: int = 16686
    query_grpc: int = 16685


def is_installed() -> bool:
    return BINARY.is_file()


def prepare_server(ports: JaegerPorts, max_traces: int = 100_000) -> ServerCommand:
    """How to run Jaeger in the foreground with every address on 127.0.0.1."""
    if not is_installed():
        raise RuntimeError(f"{BINARY} not found: run scripts/install-jaeger.sh")
    return ServerCommand(
        "jaeger",
        [str(BINARY), "--config", str(CONFIG)],
        env={
            "JAEGER_OTLP_GRPC_PORT": str(ports.otlp_grpc),
            "JAEGER_OTLP_HTTP_PORT": str(ports.otlp_http),
            "JAEGER_QUERY_PORT": str(ports.query),
            "JAEGER_QUERY_GRPC_PORT": str(ports.query_grpc),
            "JAEGER_MAX_TRACES": str(max_traces),
        },
    )


def otlp_endpoint(ports: JaegerPorts) -> str:
    """What `OTEL_EXPORTER_OTLP_ENDPOINT` names: the OTLP/HTTP receiver."""
    return f"http://127.0.0.1:{ports.otlp_http}"


def query_url(ports: JaegerPorts) -> str:
    return f"http://127.0.0.1:{ports.query}"


def wait_until_ready(ports: JaegerPorts, timeout: float = 60.0) -> None:
    """Until the query API answers (the receivers start before it)."""
    deadline = time.monotonic() + timeout
    problem = "no answer yet"
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{query_url(ports)}/api/services", timeout=2)
            if answer.status_code == 200:
                return
            problem = f"status {answer.status_code}"
        except httpx.HTTPError as error:
            problem = str(error)
        time.sleep(0.2)
    raise TimeoutError(f"Jaeger's query API on port {ports.query} not ready: {problem}")
