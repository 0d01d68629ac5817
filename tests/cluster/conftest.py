"""The cluster tests' stack: three Kafka brokers (replication factor 3,
`min.insync.replicas=2`), a PostgreSQL primary with a synchronous standby, an ingestor and
a query replica, all on free loopback ports; one stack per test module, as its faults
(a promoted standby, a rebuilt primary) leave it changed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import Servers, ServiceProcess, make_servers, start_ingestor, start_query


@pytest.fixture(scope="module")
def cluster() -> Iterator[Servers]:
    running = make_servers(cluster=True)
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


@pytest.fixture(scope="module")
def cluster_ingestor(cluster: Servers) -> Iterator[ServiceProcess]:
    service = start_ingestor(cluster, "cluster-ingestor")
    yield service
    service.stop()


@pytest.fixture(scope="module")
def cluster_query(cluster: Servers, cluster_ingestor: ServiceProcess) -> Iterator[ServiceProcess]:
    replica = start_query(cluster, "cluster-query")
    yield replica
    replica.stop()
