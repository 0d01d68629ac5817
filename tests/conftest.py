"""Session fixtures: one set of real servers, one ingestor and two query replicas."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from producer.demo import canonical_order as shipped_canonical_order
from tests.harness import Servers, ServiceProcess, make_servers, start_ingestor, start_query


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
