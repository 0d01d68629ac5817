"""Command benchmark on the real stack (Kafka, the ingestor, a query replica taking
commands):

* accepted commands per second: `POST /api/v1/orders` without `Prefer`, by wrk with
  CONCURRENCY connections for BENCH_SECONDS, each request the next of N distinct orders;
  each answer is a 202 after the broker's acknowledgement (acks=all) of an idempotent
  producer, so Kafka is inside. (An httpx client in this process was the bottleneck.)
* POST to visible: orders posted one at a time per client, at a few at once, each with
  `Prefer: wait=30`; the time from sending the POST to its 201, which comes when this
  replica hears the ingestor's outcome of the record (published after the record's
  announcement, which the replica has applied by then). Kafka, the ingestor's batch
  (BATCH_WAIT_MS included), PostgreSQL's commit and Redis are all inside. p50, p99.

    BENCH_COMMAND_ORDERS=8000 BENCH_COMMAND_VISIBLE_ORDERS=300 uv run python -m bench.commands
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import uvloop

from bench import figures
from bench.query import cpu_seconds, wrk
from devstack.session import make_servers, start_ingestor, start_query
from order_shared.model import Order, encode_order
from producer.generator import generate_order

ORDER_COUNT = int(os.environ.get("BENCH_COMMAND_ORDERS", "8000"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
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


def _posting_script(folder: Path, orders: list[Order]) -> Path:
    """A wrk script that POSTs the orders in turn, with the bearer token."""
    bodies = ",\n".join(f"[==[{encode_order(order).decode()}]==]" for order in orders)
    script = folder / "post-orders.lua"
    script.write_text(
        f"local bodies = {{\n{bodies}\n}}\n"
        "local next_body = 0\n"
        "local headers = {\n"
        '  ["Content-Type"] = "application/json",\n'
        f'  ["Authorization"] = "Bearer {TOKEN}",\n'
        "}\n"
        "request = function()\n"
        "  next_body = next_body % #bodies + 1\n"
        '  return wrk.format("POST", "/api/v1/orders", headers, bodies[next_body])\n'
        "end\n"
    )
    return script


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    load_before = os.getloadavg()
    print(
        f"== commands: POSTs of {ORDER_COUNT} orders by wrk; {VISIBLE_ORDERS} with "
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
            with tempfile.TemporaryDirectory() as folder:
                script = _posting_script(Path(folder), accepted_orders)
                wrk(query.base_url + "/api/v1/orders", 1, CONCURRENCY, script)  # warm up
                before = cpu_seconds(query.pid)
                run = wrk(query.base_url + "/api/v1/orders", SECONDS, CONCURRENCY, script)
                cpu_us = (cpu_seconds(query.pid) - before) / run.requests * 1e6
            print(
                f"accepted commands: {run.rps:,.0f} POST/s (wrk, {CONCURRENCY} connections, "
                f"{SECONDS} s; latency p50 {run.p50_ms:.0f} ms, p99 {run.p99_ms:.0f} ms; "
                f"{cpu_us:,.0f} us of the replica's CPU per command; each a 202 after "
                "Kafka's acknowledgement)",
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
            figures.record(
                "commands",
                {
                    "accepted": {
                        "connections": CONCURRENCY,
                        "posts_per_second": round(run.rps),
                        "p50_ms": run.p50_ms,
                        "p99_ms": run.p99_ms,
                        "cpu_us_per_command": round(cpu_us),
                    },
                    "post_to_visible": {
                        "orders": len(millis),
                        "at_once": VISIBLE_CONCURRENCY,
                        "p50_ms": round(statistics.median(millis), 1),
                        "p99_ms": round(_percentile(millis, 0.99), 1),
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
