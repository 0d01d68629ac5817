"""The courier service from the tests: an isolated instance (its own database and consumer
group, starting at the end of `order-events`), its API, and orders to drive it with."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import psycopg

from devstack import postgres
from order_migrations.schema import apply_migrations
from order_shared.events import OrderEvent, encode_event
from order_shared.model import Order, encode_order
from order_shared.topics import ORDER_EVENTS, ORDER_STATUS, ORDERS
from producer.generator import generate_order
from tests.harness import (
    IngressProcess,
    Servers,
    ServiceProcess,
    eventually,
    free_port,
    start_courier,
    start_query,
)
from tests.kafka_io import (
    Message,
    committed_offsets,
    end_offsets,
    publish,
    start_group_at_end,
)

COURIER_LOGIN = "order_courier_app"


@dataclass
class CourierUnderTest:
    service: ServiceProcess
    database_admin_url: str
    group: str
    topic: str

    @property
    def api(self) -> CourierApi:
        return CourierApi(self.service.base_url)

    def rows(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_admin_url, connect_timeout=10) as connection:
            return connection.execute(statement, params).fetchall()


@contextmanager
def isolated_courier(
    servers: Servers,
    gateway: ServiceProcess | IngressProcess,
    name: str = "courier",
    *,
    topic: str = ORDER_EVENTS,
    **extra: str,
) -> Iterator[CourierUnderTest]:
    """A courier service whose tables and consumer group are its own, so a test knows every
    courier and every order it sees; it starts at the current end of `topic`."""
    with postgres.scratch_database(servers.postgres_port, "courier") as admin_url:
        apply_migrations(admin_url)
        database = admin_url.rsplit("/", 1)[1]
        group = f"order-courier-{uuid.uuid4().hex[:8]}"
        start_group_at_end(servers.kafka_bootstrap, group, topic)
        url = f"postgresql://{COURIER_LOGIN}:{COURIER_LOGIN}@127.0.0.1:{servers.postgres_port}"
        service = start_courier(
            servers,
            name,
            gateway_url=gateway.base_url,
            DATABASE_URL=f"{url}/{database}",
            CONSUMER_GROUP=group,
            ORDER_EVENTS_TOPIC=topic,
            **extra,
        )
        try:
            yield CourierUnderTest(service, admin_url, group, topic)
        finally:
            service.stop()


@contextmanager
def frozen_gateway(servers: Servers) -> Iterator[ServiceProcess]:
    """A query replica of its own, frozen (SIGSTOP): its socket takes connections and it
    answers none, so every status request runs into the courier's timeout."""
    replica = start_query(servers, f"query-frozen-{uuid.uuid4().hex[:6]}")
    replica.freeze()
    try:
        yield replica
    finally:
        replica.thaw()
        replica.stop()


def publish_events(servers: Servers, topic: str, events: list[OrderEvent]) -> None:
    publish(
        servers.kafka_bootstrap,
        topic,
        [Message(event.order_id.encode(), encode_event(event)) for event in events],
    )


def unknown_orders_created(prefix: str, count: int) -> list[OrderEvent]:
    """`created` events of orders no order service has (every status request gets 404)."""
    now = datetime.now(UTC)
    return [
        OrderEvent(f"{prefix}-{uuid.uuid4().hex[:8]}-{n}", "created", now, 1) for n in range(count)
    ]


class CourierApi:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(method, f"{self.base_url}{path}", json=body, timeout=10)

    def add_courier(self, name: str, phone: str, transport: str = "scooter", **more: str) -> dict:
        response = self.request(
            "POST",
            "/api/v1/couriers",
            {"name": name, "phone": phone, "transport": transport, **more},
        )
        assert response.status_code == 201, response.text
        return response.json()

    def change_courier(self, courier_id: int, **changes: str) -> httpx.Response:
        return self.request("PATCH", f"/api/v1/couriers/{courier_id}", changes)

    def courier(self, courier_id: int) -> dict:
        response = self.request("GET", f"/api/v1/couriers/{courier_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def assignment(self, order_id: str) -> dict | None:
        response = self.request("GET", f"/api/v1/assignments/{order_id}")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return response.json()

    def state_of(self, order_id: str) -> tuple[str, int | None] | None:
        """(state, courier id) of an order, or None if the service has not seen it."""
        found = self.assignment(order_id)
        if found is None:
            return None
        return found["state"], (found["courier"] or {}).get("id")

    def stats(self) -> dict:
        response = self.request("GET", "/api/v1/couriers/stats")
        assert response.status_code == 200, response.text
        return response.json()

    def deliveries(self) -> dict[int, int]:
        return {c["id"]: c["completed_deliveries"] for c in self.stats()["couriers"]}

    def metric(self, name: str) -> float:
        """A metric's value (the sum over its labels), 0 if absent."""
        total = 0.0
        for line in httpx.get(f"{self.base_url}/metrics", timeout=10).text.splitlines():
            if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total


def another_replica(courier: CourierUnderTest, name: str, **extra: str) -> ServiceProcess:
    """A second replica of `courier`: its database, consumer group and topic, not waited
    for (it may start while PostgreSQL is away)."""
    env = {key: value for key, value in courier.service.command.env.items() if key != "PORT"}
    return ServiceProcess("order-courier", name, free_port(), {**env, **extra})


def settled(courier: CourierUnderTest, order_id: str, state: str) -> tuple[str, int | None]:
    """Wait until the order is in `state`; return (state, courier id)."""
    return eventually(
        lambda: (found := courier.api.state_of(order_id)) and found[0] == state and found,
        timeout=30,
    )


def consumed_everything(servers: Servers, courier: CourierUnderTest) -> bool:
    """The courier's group has committed every record of its topic."""
    ends = end_offsets(servers.kafka_bootstrap, courier.topic)
    committed = committed_offsets(servers.kafka_bootstrap, courier.group, courier.topic)
    return all(committed.get(partition, 0) >= end for partition, end in ends.items() if end)


def orders_created_in_order(seed: int, count: int) -> list[Order]:
    """Orders whose creation times are a minute apart, oldest first."""
    rng = random.Random(seed)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    return [
        msgspec.structs.replace(generate_order(rng), date_created=start + timedelta(minutes=n))
        for n in range(count)
    ]


def publish_orders(servers: Servers, orders: list[Order]) -> None:
    publish(
        servers.kafka_bootstrap,
        ORDERS,
        [Message(order.order_uid.encode(), encode_order(order)) for order in orders],
    )


def publish_tombstone(servers: Servers, order_id: str) -> None:
    """Erase the order (a tombstone on `orders`)."""
    publish(servers.kafka_bootstrap, ORDERS, [Message(order_id.encode(), None)])


def gateway_answer(gateway: ServiceProcess, order_id: str) -> tuple[int, str | None]:
    """(HTTP status, ETag) of the order's status on `gateway`, as the courier asks it."""
    response = httpx.get(f"{gateway.base_url}/api/v1/orders/{order_id}/status", timeout=10)
    return response.status_code, response.headers.get("etag")


def publish_status(servers: Servers, order_id: str, status: str) -> None:
    body = {"order_uid": order_id, "status": status, "changed_at": "2026-11-21T10:00:00Z"}
    publish(
        servers.kafka_bootstrap,
        ORDER_STATUS,
        [Message(order_id.encode(), json.dumps(body).encode())],
    )


def phone(n: int) -> str:
    return f"+1555{n:07d}"
