"""The bounce test, in the style of Kafka Connect's bounce test and Jepsen's set checker.

Orders with unique ids are published at a steady rate for about a minute while the
ingestor is killed with SIGKILL twice, a second ingestor joins and leaves (two real
rebalances), and PostgreSQL, Redis and Kafka are each killed with SIGKILL and restarted.
Afterwards every order the broker acknowledged must be served byte for byte by every query
replica (lost: none), no order that was never sent may exist (unexpected: none), none may
be dead-lettered, and the replicas must converge within seconds of the last fault.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx
import msgspec
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from order_shared.model import encode_order
from order_shared.topics import ORDERS, ORDERS_DLQ
from producer.generator import generate_order
from tests.harness import Servers, ServiceProcess, free_port, service_env
from tests.kafka_io import end_offsets, read_from
from tests.store_io import query

RATE_PER_SECOND = 40
# Replicas must serve every acknowledged order this soon after the last fault.
CONVERGENCE_LIMIT_SECONDS = 60.0


@dataclass
class SteadyPublisher:
    """Publishes fresh orders at a steady rate from its own thread and event loop, and
    remembers which ones the broker acknowledged."""

    bootstrap: str
    prefix: str
    sent: dict[str, bytes] = field(default_factory=dict)
    acknowledged: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=asyncio.run, args=(self._publish(),), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=120)

    async def _publish(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            enable_idempotence=True,
            acks="all",
            request_timeout_ms=20_000,
        )
        await producer.start()
        rng = random.Random(self.prefix)
        pending: set[asyncio.Future] = set()
        try:
            number = 0
            next_at = time.monotonic()
            while not self._stop.is_set():
                order = msgspec.structs.replace(
                    generate_order(rng), order_uid=f"{self.prefix}-{number}"
                )
                number += 1
                document = encode_order(order)
                self.sent[order.order_uid] = document
                try:
                    delivery = await producer.send(
                        ORDERS, value=document, key=order.order_uid.encode()
                    )
                except KafkaError:
                    continue
                delivery.add_done_callback(self._on_delivery(order.order_uid))
                pending.add(delivery)
                delivery.add_done_callback(pending.discard)
                next_at += 1 / RATE_PER_SECOND
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if pending:
                await asyncio.wait(pending, timeout=60)
        finally:
            await producer.stop()

    def _on_delivery(self, order_uid: str):
        def record(delivery: asyncio.Future) -> None:
            if not delivery.cancelled() and delivery.exception() is None:
                self.acknowledged.add(order_uid)

        return record


def not_served_yet(replica: ServiceProcess, expected: dict[str, bytes]) -> dict[str, bytes]:
    """The orders the replica does not serve byte for byte yet."""
    missing = {}
    with httpx.Client(base_url=replica.base_url, timeout=5) as client:
        for order_uid, document in expected.items():
            try:
                response = client.get(f"/api/v1/orders/{order_uid}")
            except httpx.HTTPError:
                missing[order_uid] = document
                continue
            if response.status_code != 200 or response.content != document:
                missing[order_uid] = document
    return missing


def test_every_acknowledged_order_survives_crashes_rebalances_and_server_restarts(
    servers: Servers,
    ingestor: ServiceProcess,
    query_replicas: list[ServiceProcess],
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = f"bounce-{uuid.uuid4().hex[:8]}"
    dlq_start = end_offsets(servers.kafka_bootstrap, ORDERS_DLQ)
    publisher = SteadyPublisher(servers.kafka_bootstrap, prefix)
    second: list[ServiceProcess] = []

    def crash_ingestor() -> None:
        ingestor.kill()
        ingestor.restart()

    def second_joins() -> None:
        env = service_env(servers, "order_ingestor")
        second.append(ServiceProcess("order-ingestor", "ingestor-bounce", free_port(), env))

    schedule = [
        (5, crash_ingestor),
        (12, second_joins),  # a rebalance
        (20, crash_ingestor),
        (27, lambda: second.pop().stop()),  # a rebalance
        (32, lambda: (servers.kill("postgres"), servers.start("postgres"))),
        (40, lambda: (servers.kill("redis"), servers.start("redis"))),
        (47, lambda: (servers.kill("kafka"), servers.start("kafka"))),
    ]
    started = time.monotonic()
    publisher.start()
    try:
        for at, fault in schedule:
            time.sleep(max(0.0, started + at - time.monotonic()))
            fault()
        time.sleep(max(0.0, started + 60 - time.monotonic()))
    finally:
        publisher.stop()
        for process in second:
            process.stop()
    last_fault_over = time.monotonic()
    ingestor.wait_ready(timeout=120)

    expected = {uid: publisher.sent[uid] for uid in publisher.acknowledged}
    pending = {replica.command.name: dict(expected) for replica in query_replicas}
    deadline = last_fault_over + CONVERGENCE_LIMIT_SECONDS
    while any(pending.values()) and time.monotonic() < deadline:
        for replica in query_replicas:
            name = replica.command.name
            pending[name] = not_served_yet(replica, pending[name])
        if any(pending.values()):
            time.sleep(0.5)
    converged_after = time.monotonic() - last_fault_over
    lost = set().union(*(set(missing) for missing in pending.values()))
    stored = {
        uid
        for (uid,) in query(
            servers.admin_database_url,
            "SELECT order_uid FROM orders WHERE order_uid LIKE %s",
            (f"{prefix}-%",),
        )
    }
    unexpected = stored - set(publisher.sent)
    dead_lettered = [
        message
        for message in read_from(
            servers.kafka_bootstrap, ORDERS_DLQ, dlq_start, count=10**9, timeout=5
        )
        if (message.key or b"").startswith(prefix.encode())
    ]
    with capsys.disabled():
        print(
            f"\nbounce: sent {len(publisher.sent)}, acknowledged {len(expected)}, "
            f"stored {len(stored)}, lost {len(lost)}, unexpected {len(unexpected)}, "
            f"dead-lettered {len(dead_lettered)}, every replica served every acknowledged "
            f"order {converged_after:.1f} s after the last fault"
        )

    assert len(expected) > RATE_PER_SECOND * 30  # the run published for real
    assert lost == set()
    assert unexpected == set()
    assert dead_lettered == []
