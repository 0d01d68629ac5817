"""Courier benchmark on the real stack (Kafka, the ingestor, a query replica as the
gateway, the courier service):

* reconcile rate: `order-events` already holds N `created` events (the ingestor wrote the
  orders and the query replica serves them); a courier service with a new consumer group
  reads them all, asks the gateway for each status and assigns each order a courier.
  Events per second, gateway included, from its first assignment to its last.
* the gateway alone: the same status requests from this process with the courier's own
  client, at 1, the service's default and 16 at once: the reconcile rate's ceiling.
* creation to assignment: orders published one by one to `orders` at a steady rate while
  the courier runs; for each, the time from just before its publication to the start of
  the transaction that assigned it (`courier_orders.assigned_at`), so the ingestor, the
  outbox relay, Kafka, the gateway and the courier's transaction are all inside. p50, p99.

    BENCH_COURIER_ORDERS=5000 BENCH_COURIER_LATENCY_ORDERS=300 BENCH_COURIER_RATE=20 \\
        uv run python -m bench.courier
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from datetime import UTC, datetime

import httpx
import psycopg
import uvloop
from aiokafka import AIOKafkaProducer

from bench import figures
from courier.gateway import OrderGateway, OrderState
from courier.settings import CourierSettings
from devstack.session import Servers, make_servers, start_courier, start_ingestor, start_query
from order_shared.model import Order, encode_order
from order_shared.topics import ORDERS
from producer.generator import generate_order
from producer.publisher import publish

ORDER_COUNT = int(os.environ.get("BENCH_COURIER_ORDERS", "5000"))
LATENCY_ORDERS = int(os.environ.get("BENCH_COURIER_LATENCY_ORDERS", "300"))
RATE = float(os.environ.get("BENCH_COURIER_RATE", "20"))
DEADLINE_SECONDS = 600
# The service's default: the harness's 2 s (quick for tests) would look again at every
# assigned order every 2 s, which is not what a deployment does.
SERVICE_RESYNC_SECONDS = "30"


async def _publish_paced(bootstrap: str, orders: list[Order]) -> dict[str, datetime]:
    """Each order alone, at RATE per second; returns when each was about to be sent."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    sent_at: dict[str, datetime] = {}
    try:
        started = time.perf_counter()
        for index, order in enumerate(orders):
            await asyncio.sleep(max(0.0, started + index / RATE - time.perf_counter()))
            sent_at[order.order_uid] = datetime.now(UTC)
            await producer.send_and_wait(
                ORDERS, key=order.order_uid.encode(), value=encode_order(order)
            )
    finally:
        await producer.stop()
    return sent_at


def _add_couriers(database_url: str, count: int) -> None:
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "INSERT INTO couriers (name, phone, transport)"
            " SELECT 'bench ' || n, '+1' || (2000000000 + n)::text, 'scooter'"
            "   FROM generate_series(1, %s) AS n",
            (count,),
        )


def _assigned(connection: psycopg.Connection) -> int:
    return connection.execute("SELECT count(*) FROM courier_orders").fetchone()[0]  # type: ignore[index]


def _wait_until(check, deadline: float, what: str) -> None:
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what} not reached in time")
        time.sleep(0.05)


def _reconcile_rate(servers: Servers, gateway_url: str) -> float:
    with psycopg.connect(servers.admin_database_url, autocommit=True) as polling:
        polling.execute("TRUNCATE courier_orders, waiting_orders, closed_orders, courier_retries")
        courier = start_courier(
            servers,
            "bench-courier-rate",
            gateway_url=gateway_url,
            CONSUMER_GROUP="bench-rate",
            RESYNC_INTERVAL_SECONDS=SERVICE_RESYNC_SECONDS,
        )
        try:
            deadline = time.perf_counter() + DEADLINE_SECONDS
            _wait_until(lambda: _assigned(polling) >= 1, deadline, "a first assignment")
            first_at = time.perf_counter()
            _wait_until(lambda: _assigned(polling) >= ORDER_COUNT, deadline, "every assignment")
            seconds = time.perf_counter() - first_at
        finally:
            courier.stop()
    print(
        f"reconcile rate: {ORDER_COUNT / seconds:,.0f} events/s ({ORDER_COUNT} orders assigned "
        f"in {seconds:.1f} s, a gateway request and a transaction each)",
        flush=True,
    )
    return ORDER_COUNT / seconds


def _gateway_ceiling(gateway_url: str, order_ids: list[str], concurrency: int) -> float:
    """Status requests per second from this process with the courier's own gateway client
    and nothing else: what the reconcile rate could reach if the database were free."""

    async def ask_all() -> float:
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=gateway_url, timeout=5, limits=limits) as client:
            gateway = OrderGateway(client)
            gate = asyncio.Semaphore(concurrency)

            async def ask(order_id: str) -> None:
                async with gate:
                    answer = await gateway.status(order_id)
                if not isinstance(answer, OrderState):
                    raise RuntimeError(f"no status for {order_id}: {answer}")

            started = time.perf_counter()
            await asyncio.gather(*(ask(order_id) for order_id in order_ids))
            return len(order_ids) / (time.perf_counter() - started)

    return uvloop.run(ask_all())


def _creation_to_assignment(servers: Servers, gateway_url: str) -> tuple[float, float]:
    with psycopg.connect(servers.admin_database_url, autocommit=True) as connection:
        # Free every courier again: the orders of the rate stay assigned otherwise.
        connection.execute("TRUNCATE courier_orders, waiting_orders, closed_orders")
        connection.execute("UPDATE couriers SET status = 'available'")
    courier = start_courier(
        servers,
        "bench-courier-latency",
        gateway_url=gateway_url,
        CONSUMER_GROUP="bench-rate",
        RESYNC_INTERVAL_SECONDS=SERVICE_RESYNC_SECONDS,
    )
    try:
        orders = [generate_order(random.Random(7000 + n)) for n in range(LATENCY_ORDERS)]
        sent_at = asyncio.run(_publish_paced(servers.kafka_bootstrap, orders))
        ids = list(sent_at)
        with psycopg.connect(servers.admin_database_url, autocommit=True) as polling:

            def all_assigned() -> bool:
                return polling.execute(
                    "SELECT count(*) FROM courier_orders WHERE order_id = ANY(%s)", (ids,)
                ).fetchone()[0] == len(ids)  # type: ignore[index]

            _wait_until(all_assigned, time.perf_counter() + DEADLINE_SECONDS, "assignments")
            assigned = dict(
                polling.execute(
                    "SELECT order_id, assigned_at FROM courier_orders WHERE order_id = ANY(%s)",
                    (ids,),
                ).fetchall()
            )
    finally:
        courier.stop()
    millis = sorted((assigned[i] - sent_at[i]).total_seconds() * 1000 for i in ids)
    p50 = statistics.median(millis)
    p99 = millis[min(len(millis) - 1, round(0.99 * (len(millis) - 1)))]
    print(
        f"creation to assignment: p50 {p50:.0f} ms, p99 {p99:.0f} ms ({len(ids)} orders at "
        f"{RATE:g}/s, through Kafka, the ingestor, its outbox, the gateway and the courier)",
        flush=True,
    )
    return p50, p99


def main() -> None:
    load_before = os.getloadavg()
    print(f"== courier: {ORDER_COUNT} orders for the rate, {LATENCY_ORDERS} for latency ==")
    rng = random.Random(2027)
    orders = [generate_order(rng) for _ in range(ORDER_COUNT)]
    servers = make_servers()
    try:
        servers.start_all()
        _add_couriers(servers.admin_database_url, ORDER_COUNT + LATENCY_ORDERS)
        ingestor = start_ingestor(servers, "bench-ingestor")
        query = start_query(servers, "bench-query")
        try:
            asyncio.run(publish(servers.kafka_bootstrap, ORDERS, map(encode_order, orders)))
            with httpx.Client(timeout=5) as client:
                last = orders[-1].order_uid
                _wait_until(
                    lambda: client.get(f"{query.base_url}/api/v1/orders/{last}").is_success,
                    time.perf_counter() + DEADLINE_SECONDS,
                    "the orders served by the query replica",
                )
            rate = _reconcile_rate(servers, query.base_url)
            ids = [order.order_uid for order in orders]
            default = CourierSettings.model_fields["gateway_concurrency"].default
            ceilings = {}
            for concurrency in sorted({1, default, 16}):
                ceiling = ceilings[concurrency] = _gateway_ceiling(query.base_url, ids, concurrency)
                note = (
                    f"; reconcile rate / this: {rate / ceiling:.2f}"
                    if concurrency == default
                    else ""
                )
                print(
                    f"gateway alone, {concurrency} at once: {ceiling:,.0f} status requests/s{note}",
                    flush=True,
                )
            p50, p99 = _creation_to_assignment(servers, query.base_url)
            figures.record(
                "courier",
                {
                    "orders": ORDER_COUNT,
                    "reconcile_events_per_second": round(rate),
                    "gateway_ceiling_per_second": {
                        str(concurrency): round(value) for concurrency, value in ceilings.items()
                    },
                    "creation_to_assignment": {
                        "orders": LATENCY_ORDERS,
                        "rate_per_second": RATE,
                        "p50_ms": round(p50, 1),
                        "p99_ms": round(p99, 1),
                    },
                },
                load_before,
            )
        finally:
            query.stop()
            ingestor.stop()
    finally:
        servers.stop_all()


if __name__ == "__main__":
    main()
