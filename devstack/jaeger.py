"""Jaeger v2 built from its Go module (`scripts/install-jaeger.sh`): OTLP on loopback,
traces kept in memory, the query API for people and tests.

Its first build takes minutes, so `make up` does not wait for it: the server's command
builds it first when the pinned version is not there yet (progress in Jaeger's log), and
the services, whose exporters already name its OTLP address, begin exporting once it
answers.

The module build serves the query API (`/api/traces/{id}`, `/api/v3/...`) but not the web
UI's assets; the Compose and kind Jaeger images have them.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from devstack.process import ServerCommand
from devstack.versions import TOOLS, TOOLS_BIN, pin

REPO = Path(__file__).resolve().parents[1]
BINARY = TOOLS_BIN / "jaeger"
CONFIG = Path(__file__).with_name("jaeger.yaml")
INSTALL_SCRIPT = REPO / "scripts" / "install-jaeger.sh"


@dataclass(frozen=True)
class JaegerPorts:
    otlp_grpc: int = 4317
    otlp_http: int = 4318
    query: int = 16686
    query_grpc: int = 16685


def is_installed() -> bool:
    """Whether the pinned version is built (a build of another pin does not count)."""
    recorded = TOOLS / "jaeger.version"
    return (
        BINARY.is_file()
        and recorded.is_file()
        and recorded.read_text().strip() == pin("JAEGER_MODULE_VERSION")
    )


def prepare_server(
    ports: JaegerPorts, max_traces: int = 100_000, *, build_if_missing: bool = False
) -> ServerCommand:
    """How to run Jaeger in the foreground with every address on 127.0.0.1; with
    `build_if_missing`, a command that first builds the pinned version when it is absent."""
    serve = [str(BINARY), "--config", str(CONFIG)]
    if not is_installed():
        if not build_if_missing:
            raise RuntimeError(f"{BINARY} not found: run scripts/install-jaeger.sh")
        build = f"bash {shlex.quote(str(INSTALL_SCRIPT))}"
        serve = ["bash", "-c", f"{build} && exec {shlex.join(serve)}"]
    return ServerCommand(
        "jaeger",
        serve,
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


def readiness_problem(ports: JaegerPorts) -> str | None:
    """None when the query API answers (the receivers start before it), else why not."""
    try:
        answer = httpx.get(f"{query_url(ports)}/api/services", timeout=2)
    except httpx.HTTPError as error:
        return str(error) or type(error).__name__
    return None if answer.status_code == 200 else f"status {answer.status_code}"


def wait_until_ready(ports: JaegerPorts, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (problem := readiness_problem(ports)) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"Jaeger's query API on port {ports.query} not ready: {problem}")
        time.sleep(0.2)
