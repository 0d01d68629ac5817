"""Fixtures of the integration tests beyond the session's servers and services."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.courier_io import CourierUnderTest, isolated_courier
from tests.harness import Servers, ServiceProcess


@pytest.fixture
def courier(servers: Servers, query_replicas: list[ServiceProcess]) -> Iterator[CourierUnderTest]:
    """A courier service of this test's own (database, consumer group), asking the first
    query replica for statuses."""
    with isolated_courier(servers, query_replicas[0]) as running:
        yield running
