"""The courier bounce test, in the style of the ingestor's (test_bounce).

Orders are created at a steady rate for about a minute, and most of them later completed,
cancelled or erased, while the courier service is killed with SIGKILL twice, a second
courier replica joins and leaves (two real rebalances, the second while PostgreSQL is
down after a SIGKILL), PostgreSQL is restarted, and the two query replicas the courier
asks (through the ingress, as in a cluster) are stopped and started in turn. Afterwards
the courier's tables must match the orders' final statuses exactly: no courier with two
orders, every live order assigned or waiting, every completed order that had a courier
counted once in its deliveries, and no cancelled or erased order counted.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import msgspec
import pytest
from aiokafka import AIOKafkaProducer

from order_shared.model import encode_order
from order_shared.topics import ORDER_STATUS, ORDERS
from producer.generator import generate_order
from tests.courier_io import (
    CourierUnderTest,
    another_replica,
    consumed_everything,
    gateway_answer,
    isolated_courier,
    phone,
)
from tests.harness import Servers, ServiceProcess, eventually, start_ingress

Fate = Literal["created", "completed", "cancelled", "erased"]
FATES: list[Fate] = ["created", "completed", "cancelled", "erased"]
FATE_WEIGHTS = [20, 45, 25, 10]
RATE_PER_SECOND = 5
# An order's fate is published this long after the order.
FATE_DELAY_SECONDS = (1.0, 6.0)
COURIERS = 12


@dataclass
class SteadyOrders:
    """Publishes fresh orders at a steady rate from its own thread and event loop, and each
    order's fate a few seconds later; remembers what the broker acknowledged."""

    bootstrap: str
    prefix: str
    fates: dict[str, Fate] = field(default_factory=dict)
    acknowledged: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=asyncio.run, args=(self._publish(),), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=120)

    def final_status(self, order_id: str) -> Fate:
        """What the order ends as: its fate if both its messages were acknowledged."""
        return self.fates[order_id] if self.acknowledged[order_id] == 2 else "created"

    async def _publish(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, enable_idempotence=True, acks="all"
        )
        await producer.start()
        rng = random.Random(self.prefix)
        due: list[tuple[float, str]] = []
        try:
            number, next_at = 0, time.monotonic()
            while not self._stop.is_set() or due:
                now = time.monotonic()
                for at, order_id in [item for item in due if item[0] <= now]:
                    due.remove((at, order_id))
                    await self._send_fate(producer, order_id)
                if not self._stop.is_set() and now >= next_at:
                    order = msgspec.structs.replace(
                        generate_order(rng), order_uid=f"{self.prefix}-{number}"
                    )
                    number += 1
                    fate = rng.choices(FATES, FATE_WEIGHTS)[0]
                    self.fates[order.order_uid] = fate
                    await self._send(producer, ORDERS, order.order_uid, encode_order(order))
                    if fate == "created":
                        self.acknowledged[order.order_uid] += 1
                    else:
                        due.append((now + rng.uniform(*FATE_DELAY_SECONDS), order.order_uid))
                    next_at += 1 / RATE_PER_SECOND
                await asyncio.sleep(0.02)
        finally:
            await producer.stop()

    async def _send_fate(self, producer: AIOKafkaProducer, order_id: str) -> None:
        fate = self.fates[order_id]
        if fate == "erased":
            await self._send(producer, ORDERS, order_id, None)
            return
        body = {"order_uid": order_id, "status": fate, "changed_at": datetime.now(UTC).isoformat()}
        await self._send(producer, ORDER_STATUS, order_id, json.dumps(body).encode())

    async def _send(
        self, producer: AIOKafkaProducer, topic: str, order_id: str, value: bytes | None
    ) -> None:
        await producer.send_and_wait(topic, key=order_id.encode(), value=value)
        self.acknowledged[order_id] += 1


def courier_tables(courier: CourierUnderTest) -> dict[str, tuple[str, int | None]]:
    """Order id -> (state as the assignment API names it, courier id)."""
    states: dict[str, tuple[str, int | None]] = {}
    for order_id, state, courier_id in courier.rows(
        "SELECT order_id, state, courier_id FROM courier_orders"
    ):
        states[order_id] = (state, courier_id)
    for (order_id,) in courier.rows("SELECT order_id FROM waiting_orders"):
        assert order_id not in states, f"{order_id} both waits and has a courier"
        states[order_id] = ("waiting", None)
    for order_id, status in courier.rows("SELECT order_id, status FROM closed_orders"):
        if order_id not in states:
            states[order_id] = (status, None)
    return states


def test_the_courier_tables_match_the_final_statuses_after_crashes_rebalances_and_restarts(
    servers: Servers,
    ingestor: ServiceProcess,
    query_replicas: list[ServiceProcess],
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = f"courier-bounce-{uuid.uuid4().hex[:8]}"
    # The courier asks both query replicas, balanced by the ingress, which sends a request
    # to the other replica while one is away. (The ingress's courier route is not used.)
    gateway = start_ingress(
        servers, {"query": query_replicas, "courier": query_replicas[:1]}, "courier-gateway"
    )
    publisher = SteadyOrders(servers.kafka_bootstrap, prefix)
    try:
        with isolated_courier(servers, gateway) as courier:
            for n in range(COURIERS):
                courier.api.add_courier(f"Bounce {n}", phone(8000 + n))
            second: list[ServiceProcess] = []

            def crash_courier() -> None:
                courier.service.kill()
                courier.service.restart()

            schedule = [
                (8, crash_courier),
                (14, lambda: second.append(another_replica(courier, "courier-bounce-2"))),
                (22, lambda: servers.kill("postgres")),
                # A rebalance each way; this one while batches wait for the database.
                (24, lambda: second.pop().stop()),
                (28, lambda: servers.start("postgres")),
                (36, query_replicas[0].stop),
                (41, query_replicas[0].restart),
                (46, query_replicas[1].stop),
                (51, query_replicas[1].restart),
                (55, crash_courier),
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
            for replica in query_replicas:
                replica.wait_ready(timeout=120)
            courier.service.wait_ready(timeout=120)

            expected = {order_id: publisher.final_status(order_id) for order_id in publisher.fates}

            def every_status_served() -> bool:
                for order_id, status in expected.items():
                    answer = gateway_answer(query_replicas[0], order_id)
                    assert answer[0] == (410 if status == "erased" else 200), (order_id, answer)
                return True

            eventually(every_status_served, timeout=120, interval=1)
            eventually(lambda: consumed_everything(servers, courier), timeout=120, interval=1)

            def tables_match() -> dict[str, tuple[str, int | None]]:
                tables = courier_tables(courier)
                wrong = {}
                for order_id, status in expected.items():
                    state, _ = tables.get(order_id, ("unseen", None))
                    allowed = {
                        "created": {"assigned", "waiting"},
                        "completed": {"delivered", "completed"},
                        "cancelled": {"cancelled"},
                        "erased": {"erased"},
                    }[status]
                    if state not in allowed:
                        wrong[order_id] = (status, state)
                assert not wrong, f"{len(wrong)} orders disagree, e.g. {list(wrong.items())[:5]}"
                return tables

            def settled_everywhere() -> dict[str, tuple[str, int | None]]:
                tables = tables_match()
                assert courier.rows("SELECT count(*) FROM courier_retries") == [(0,)]
                return tables

            tables = eventually(settled_everywhere, timeout=120, interval=1)
            converged_after = time.monotonic() - last_fault_over

            assigned = Counter(
                courier_id for state, courier_id in tables.values() if state == "assigned"
            )
            delivered = Counter(
                courier_id for state, courier_id in tables.values() if state == "delivered"
            )
            couriers = {
                courier_id: (status, deliveries)
                for courier_id, status, deliveries in courier.rows(
                    "SELECT id, status, deliveries FROM couriers"
                )
            }
            states = Counter(state for state, _ in tables.values())
            with capsys.disabled():
                print(
                    f"\ncourier bounce: {len(expected)} orders "
                    f"({dict(Counter(expected.values()))}); courier tables "
                    f"{dict(states)}; {sum(delivered.values())} deliveries counted; "
                    f"converged {converged_after:.1f} s after the last fault"
                )

            assert len(expected) > RATE_PER_SECOND * 40  # the run published for real
            assert max(assigned.values(), default=0) <= 1  # no courier with two orders
            for courier_id, (status, deliveries) in couriers.items():
                assert (status == "busy") == (assigned[courier_id] == 1), courier_id
                # Each completed order it delivered counts once; nothing else counts.
                assert deliveries == delivered[courier_id], courier_id
            # Once everything has settled, no courier is free while an order waits.
            assert not (states["waiting"] and any(s == "available" for s, _ in couriers.values()))
            assert courier.rows("SELECT count(*) FROM courier_retries") == [(0,)]
    finally:
        gateway.stop()
        for replica in query_replicas:
            replica.wait_ready(timeout=120)
