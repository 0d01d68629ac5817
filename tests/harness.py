"""The test harness: devstack's throwaway stack (devstack.session: real PostgreSQL, Redis
and Kafka on free loopback ports, our services as real processes) with the tests'
fault-injection hooks installed in every service, and `eventually` for assertions that
become true in time.

The devstack names below are re-exported so that tests import one module.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from devstack import session
from devstack.readiness import wait_until
from devstack.session import (
    ARTIFACTS,
    REPO,
    IngressProcess,
    Servers,
    ServiceProcess,
    free_port,
    service_env,
    start_courier,
    start_ingestor,
    start_ingress,
    start_query,
    start_service,
    start_storage,
)

__all__ = [
    "ARTIFACTS",
    "FAILPOINTS",
    "REPO",
    "IngressProcess",
    "Servers",
    "ServiceProcess",
    "eventually",
    "free_port",
    "make_servers",
    "service_env",
    "start_courier",
    "start_ingestor",
    "start_ingress",
    "start_query",
    "start_service",
    "start_storage",
]

T = TypeVar("T")


# The fault-injection hooks (see its sitecustomize), on the PYTHONPATH of every service.
FAILPOINTS: Path = REPO / "tests" / "failpoints"


def make_servers(*, cluster: bool = False) -> Servers:
    """Servers whose services load the fault-injection hooks; none started yet. A
    `cluster`: three Kafka brokers, a PostgreSQL primary and its synchronous standby."""
    return session.make_servers(service_env={"PYTHONPATH": str(FAILPOINTS)}, cluster=cluster)


def eventually(check: Callable[[], T], timeout: float = 20.0, interval: float = 0.2) -> T:
    """Poll `check` until it returns a truthy value without failing an assertion (or
    timing out); return that value. At the deadline its last failure is raised."""
    return wait_until(
        check,
        what="eventually",
        timeout=timeout,
        interval=interval,
        retry_on=(AssertionError, TimeoutError),
    )
