"""A query replica restarted with Redis and Kafka down warms from PostgreSQL alone, and
says it is not ready until it has."""

from __future__ import annotations

import random

import httpx
import psycopg

from order_shared.model import encode_order
from order_shared.topics import ORDERS
from producer.generator import generate_order
from tests.harness import Servers, ServiceProcess, eventually, start_query
from tests.kafka_io import Message, publish


def readiness(replica: ServiceProcess) -> int:
    try:
        return httpx.get(f"{replica.base_url}/readyz", timeout=2).status_code
    except httpx.HTTPError:
        return 0


def test_replica_restarted_without_redis_and_kafka_warms_from_postgres(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> None:
    order = generate_order(random.Random(4004))
    publish(
        servers.kafka_bootstrap, ORDERS, [Message(order.order_uid.encode(), encode_order(order))]
    )
    eventually(
        lambda: (
            httpx.get(f"{query_replicas[0].base_url}/api/v1/orders/{order.order_uid}").status_code
            == 200
        )
    )

    servers.stop("redis")
    servers.stop("kafka")
    try:
        # Hold the warm-up back with a lock, so "not ready until warm" is observed for sure.
        with psycopg.connect(servers.admin_database_url) as blocker:
            blocker.execute("LOCK TABLE change_counter IN ACCESS EXCLUSIVE MODE")
            replica = start_query(servers, "query-restarted", wait=False)
            try:
                assert eventually(lambda: readiness(replica) == 503, timeout=30)
                assert readiness(replica) == 503
                blocker.rollback()

                replica.wait_ready()
                # Warm before any request: the count comes from the list, not a miss.
                assert httpx.get(f"{replica.base_url}/readyz").json()["cached_orders"] >= 1
                response = httpx.get(
                    f"{replica.base_url}/api/v1/orders/{order.order_uid}", timeout=5
                )
                assert response.status_code == 200
                assert response.content == encode_order(order)
            finally:
                replica.stop()
    finally:
        servers.start("redis")
        servers.start("kafka")
