"""Command benchmark on the real stack (Kafka, the ingestor, a query replica taking
commands):

* accepted commands per second: `POST /api/v1/orders` without `Prefer`, N orders at
  CONCURRENCY at once from this process; each answer is a 202 after the broker's
  acknowledgement (acks=all) of an idempotent producer, so Kafka is inside.
* POST to visible: orders posted one at a time per client, at a few at once, each with
  `Prefer: wait=30`; the time from sending the POST to its 201, which comes when this
  replica has applied the ingestor's announcement of the record. Kafka, the ingestor's
  batch (BATCH_WAIT_MS included), PostgreSQL's commit and Redis are all inside. p50, p99.

    BENCH_COMMAND_ORDERS=3000 BENCH_COMMAND_VISIBLE_ORDERS=300 uv run python -m bench.commands
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import statistics
import time

import httpx
import uvloop

from devstack.session import make_servers, start_ingestor, start_query
from order_shared.model import Order, encode_order
from producer.generator import generate_order

ORDER_COUNT = int(os.environ.get("BENCH_COMMAND_ORDERS", "3000"))
VISIBLE_ORDERS = int(os.environ.get("BENCH_COMMAND_VISIBLE_ORDERS", "300"))
CONCURRENCY = int(os.environ.get("BENCH_COMMAND_CONCURRENCY", "32"))
VISIBLE_CONCURRENCY = int(os.environ.get("BENCH_COMMAND_VISIBLE_CONCURRENCY", "4"))
TOKEN = secrets.token_urlsafe(32)


async def _post_all(
    base_url: str, orders: list[Order], concurrency: int, prefer: str | None
) -> list[float]:
    """POST each order; the seconds each took. Any answer but the expected one fails."""
    expected = 202 if prefer is None else 201
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    if prefer is not None:
        headers["prefer"] = prefer
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:

        async def post(order: Order) -> float:
            body = encode_order(order)
            async with gate:
                started = time.perf_counter()
                response = await client.post("/api/v1/orders", content=body, headers=headers)
                took = time.perf_counter() - started
            if response.status_code != expected:
                raise RuntimeError(f"{order.order_uid}: {response.status_code} {response.text}")
            return took

        return await asyncio.gather(*(post(order) for order in orders))


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    print(
        f"== commands: {ORDER_COUNT} POSTs at {CONCURRENCY} at once; {VISIBLE_ORDERS} with "
        f"Prefer: wait at {VISIBLE_CONCURRENCY} at once =="
    )
    rng = random.Random(2029)
    accepted_orders = [generate_order(rng) for _ in range(ORDER_COUNT)]
    visible_orders = [generate_order(rng) for _ in range(VISIBLE_ORDERS)]
    servers = make_servers()
    try:
        servers.start_all()
        ingestor = start_ingestor(servers, "bench-ingestor")
        query = start_query(
            servers,
            "bench-query",
            API_TOKENS=TOKEN,
            COMMAND_RATE_PER_MINUTE="10000000",
            RESYNC_INTERVAL_SECONDS="5",
        )
        try:
            # A few first, so that connections and the producer are warm.
            uvloop.run(_post_all(query.base_url, accepted_orders[:50], CONCURRENCY, None))
            started = time.perf_counter()
            uvloop.run(_post_all(query.base_url, accepted_orders[50:], CONCURRENCY, None))
            seconds = time.perf_counter() - started
            count = len(accepted_orders) - 50
            print(
                f"accepted commands: {count / seconds:,.0f} POST/s ({count} orders in "
                f"{seconds:.1f} s, {CONCURRENCY} at once; each acknowledged by Kafka)",
                flush=True,
            )
            took = uvloop.run(
                _post_all(query.base_url, visible_orders, VISIBLE_CONCURRENCY, "wait=30")
            )
            millis = [seconds * 1000 for seconds in took]
            print(
                f"POST to visible (Prefer: wait): p50 {statistics.median(millis):.0f} ms, "
                f"p99 {_percentile(millis, 0.99):.0f} ms ({len(millis)} orders, "
                f"{VISIBLE_CONCURRENCY} at once; Kafka, the ingestor's batch, PostgreSQL "
                "and the announcement inside)",
                flush=True,
            )
        finally:
            query.stop()
            ingestor.stop()
    finally:
        servers.stop_all()


if __name__ == "__main__":
    main()
