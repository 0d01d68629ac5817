"""Session fixtures: one set of real servers, one ingestor and two query replicas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Servers, ServiceProcess, make_servers, start_ingestor, start_query

CANONICAL_ORDER_PATH = Path(__file__).parent / "data" / "canonical_order.json"


@pytest.fixture(scope="session")
def canonical_order_bytes() -> bytes:
    return CANONICAL_ORDER_PATH.read_bytes()


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
