"""Redis is bounded and evicts nothing: at its limit it refuses writes, and the query
service says so (a metric, a note in readiness) instead of failing silently."""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import redis

from order_shared.model import encode_order
from producer.generator import generate_order
from tests.harness import Servers, ServiceProcess, start_query
from tests.metrics_io import metric_value

TOKEN = "memory-" + secrets.token_urlsafe(24)


def test_the_stacks_redis_is_bounded_and_evicts_nothing(servers: Servers) -> None:
    """Failed before: `maxmemory` 0, no bound at all (the same in Compose and the chart)."""
    client = redis.Redis.from_url(servers.redis_url)

    assert int(client.config_get("maxmemory")["maxmemory"]) > 0
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"


@contextmanager
def redis_out_of_memory(servers: Servers) -> Iterator[None]:
    client = redis.Redis.from_url(servers.redis_url)
    limit = client.config_get("maxmemory")["maxmemory"]
    client.config_set("maxmemory", 1)  # below what it holds: every write is refused
    try:
        yield
    finally:
        client.config_set("maxmemory", limit)


def test_writes_refused_for_memory_are_counted_and_noted_in_readiness(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    """Failed before: the command got its 503, and nothing counted or told the refusal."""
    replica = start_query(servers, "query-redis-full", API_TOKENS=TOKEN)
    try:
        order = generate_order(random.Random(2106))
        headers = {
            "authorization": f"Bearer {TOKEN}",
            "idempotency-key": f"full-{order.order_uid}",
        }
        with redis_out_of_memory(servers):
            response = httpx.post(
                f"{replica.base_url}/api/v1/orders",
                content=encode_order(order),
                headers=headers,
                timeout=20,
            )
            ready = httpx.get(f"{replica.base_url}/readyz", timeout=5)

        assert response.status_code == 503
        assert "idempotency keys cannot be checked" in response.json()["detail"]
        assert metric_value(replica, "query_redis_write_refusals_total", what="idempotency") >= 1
        assert metric_value(replica, "query_redis_write_refusals_total", what="rate_limit") >= 1
        assert ready.status_code == 200  # reads are still served from memory
        assert "maxmemory" in ready.json()["redis_writes_refused"]
    finally:
        replica.stop()
