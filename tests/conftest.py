"""Session fixtures: one set of real servers, one ingestor and two query replicas; and per
test, a courier service of its own and the local ingress in front of it all."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import jaeger
from devstack.process import RunningServer
from producer.demo import canonical_order as shipped_canonical_order
from tests.courier_io import CourierUnderTest, isolated_courier
from tests.harness import (
    ARTIFACTS,
    IngressProcess,
    Servers,
    ServiceProcess,
    free_port,
    make_servers,
    start_ingestor,
    start_ingress,
    start_query,
)


@pytest.fixture(scope="session")
def canonical_order_bytes() -> bytes:
    """The canonical order as the producer ships it (`order-producer --canonical`)."""
    return shipped_canonical_order()


@pytest.fixture(scope="session")
def canonical_order(canonical_order_bytes: bytes) -> dict:
    return json.loads(canonical_order_bytes)


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    running = make_servers()
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


@pytest.fixture(scope="session")
def ingestor(servers: Servers) -> Iterator[ServiceProcess]:
    service = start_ingestor(servers)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def query_replicas(servers: Servers, ingestor: ServiceProcess) -> Iterator[list[ServiceProcess]]:
    replicas = [start_query(servers, f"query-{index}") for index in (1, 2)]
    yield replicas
    for replica in replicas:
        replica.stop()


@pytest.fixture(scope="session")
def jaeger_ports() -> Iterator[jaeger.JaegerPorts]:
    """A Jaeger v2 on free loopback ports, started only for the tests that trace."""
    if not jaeger.is_installed():
        pytest.skip(f"{jaeger.BINARY} is missing: run scripts/install-jaeger.sh")
    ports = jaeger.JaegerPorts(free_port(), free_port(), free_port(), free_port())
    (ARTIFACTS / "logs").mkdir(parents=True, exist_ok=True)
    server = RunningServer(jaeger.prepare_server(ports), ARTIFACTS / "logs" / "jaeger.log")
    try:
        jaeger.wait_until_ready(ports)
        yield ports
    finally:
        server.stop()


@pytest.fixture
def courier(servers: Servers, query_replicas: list[ServiceProcess]) -> Iterator[CourierUnderTest]:
    """A courier service of this test's own (database, consumer group), asking the first
    query replica for statuses."""
    with isolated_courier(servers, query_replicas[0]) as running:
        yield running


@pytest.fixture
def ingress(
    servers: Servers, query_replicas: list[ServiceProcess], courier: CourierUnderTest
) -> Iterator[IngressProcess]:
    """The local ingress as `make up` runs it (nginx): both query replicas and this test's
    courier service behind one origin."""
    running = start_ingress(servers, {"query": query_replicas, "courier": [courier.service]})
    yield running
    running.stop()


# The long fault tests (the bounce tests, the cluster's, the soak) run in `make soak`, CI's
# step after `make test`, which keeps `make test` within its 20 minutes.
_SOAK_FOLDERS = ("soak", "cluster")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("ORDER_SOAK") == "1":
        return
    skip = pytest.mark.skip(reason="a long fault test: it runs with `make soak` (ORDER_SOAK=1)")
    tests_root = Path(__file__).parent
    for item in items:
        folder = item.path.relative_to(tests_root).parts[0]
        if folder in _SOAK_FOLDERS:
            item.add_marker(skip)
