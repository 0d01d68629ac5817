"""Ingest benchmark: a topic pre-filled with N generated orders (1 to 5 items each), the
time until the ingestor has committed them all, and, as the ceiling, the time PostgreSQL
itself takes to COPY the same rows into the same tables.

The timed orders follow untimed warm-up orders in the same topic, so the broker's JIT,
the ingestor's start and PostgreSQL's first batches are not in the figure. The ceiling
is the median of three COPY runs: one run on a shared machine varies by a fifth.

Each run reads the whole topic with a fresh consumer group into emptied tables; the batch
sizes take turns, three runs each, and each figure is the median of its runs.

Where the time goes: over the timed window, the ingestor's own
`ingestor_consumer_stage_seconds{stage}` (order_shared.batch_consumer) and its process's CPU
time, as shares of the window, for the median run of each batch size: fetch (waiting for
Kafka and decoding), prepare (validation: JSON decoding, the schema, the canonical form and
the COPY lines), handle (the database write: staging, the fence, the merge, the change
counter, the outbox), commit and acknowledge (offsets, announcements). prepare runs while
the previous batch is written, so the shares add up to more than the window.

    BENCH_INGEST_ORDERS=50000 BENCH_INGEST_WARMUP=10000 BENCH_INGEST_BATCHES=2000,5000 \
        uv run python -m bench ingest
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import psycopg
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from bench import figures
from bench.query import cpu_seconds
from devstack.session import Servers, ServiceProcess, make_servers, start_ingestor
from ingestor.order_rows import (
    COPY_DELIVERIES,
    COPY_ITEMS,
    COPY_ORDERS,
    COPY_PAYMENTS,
    head_line,
    order_lines,
)
from order_shared.model import Order, encode_order
from order_shared.topics import ORDERS
from producer.generator import generate_order

ORDER_COUNT = int(os.environ.get("BENCH_INGEST_ORDERS", "50000"))
WARM_UP_COUNT = int(os.environ.get("BENCH_INGEST_WARMUP", "10000"))
# The service's default batch size, and a larger one that trades latency for throughput.
BATCH_SIZES = [int(size) for size in os.environ.get("BENCH_INGEST_BATCHES", "2000,5000").split(",")]
RUNS = int(os.environ.get("BENCH_INGEST_RUNS", "3"))
CEILING_RUNS = 3
DEADLINE_SECONDS = 900


async def _prefill(bootstrap: str, orders: list[Order]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=1_048_576
    )
    await producer.start()
    try:
        pending = [
            await producer.send(ORDERS, key=o.order_uid.encode(), value=encode_order(o))
            for o in orders
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def _copy_payloads(orders: list[Order]) -> list[tuple[str, bytes]]:
    """COPY statements and data for the rows the ingestor writes for these new orders,
    made by its own `order_rows`."""
    now = datetime.now(UTC).isoformat()
    heads: list[str] = []
    deliveries: list[str] = []
    payments: list[str] = []
    items: list[str] = []
    for seq, order in enumerate(orders, start=1):
        document = encode_order(order)
        lines = order_lines(order, document, hashlib.sha256(document).digest())
        heads.append(head_line(lines, "created", now, 1, seq, (0, seq)))
        deliveries.append(lines.delivery)
        payments.append(lines.payment)
        items.extend(lines.items)
    return [
        (statement, "".join(table_lines).encode())
        for statement, table_lines in (
            (COPY_ORDERS, heads),
            (COPY_DELIVERIES, deliveries),
            (COPY_PAYMENTS, payments),
            (COPY_ITEMS, items),
        )
    ]


def _copy_seconds(database_url: str, orders: list[Order]) -> float:
    """Empty the tables, then time COPY of the same rows in one transaction."""
    payloads = _copy_payloads(orders)
    _empty_tables(database_url)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("CHECKPOINT")
        started = time.perf_counter()
        with connection.transaction(), connection.cursor() as cursor:
            for statement, data in payloads:
                with cursor.copy(statement) as copy:
                    copy.write(data)
        return time.perf_counter() - started


def _changes_committed(connection: psycopg.Connection) -> int:
    """The global change sequence: one change per new order here. Polled on one open
    connection, and cheap, unlike counting rows or connecting each time, which would load
    the very machine the ingestor is being timed on."""
    return connection.execute("SELECT last_seq FROM change_counter").fetchone()[0]  # type: ignore[index]


def _committed_at(polling: psycopg.Connection, changes: int, deadline: float) -> float:
    """When the ingestor had committed `changes` changes, to within the 50 ms polling step."""
    while (committed := _changes_committed(polling)) < changes:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {committed} of {changes} orders committed in time")
        time.sleep(0.05)
    return time.perf_counter()


def _count(database_url: str) -> int:
    with psycopg.connect(database_url) as connection:
        return connection.execute("SELECT count(*) FROM orders").fetchone()[0]  # type: ignore[index]


def _empty_tables(database_url: str) -> None:
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "TRUNCATE orders, deliveries, payments, items, order_events, pending_status_changes"
        )
        connection.execute("UPDATE change_counter SET last_seq = 0")


STAGE_METRIC = "ingestor_consumer_stage_seconds_total"
CPU = "CPU (the process)"


def _time_spent(ingestor: ServiceProcess) -> dict[str, float]:
    """Seconds so far in each consumer stage, and the process's CPU seconds."""
    text = httpx.get(f"{ingestor.base_url}/metrics", timeout=5).text
    spent = {
        sample.labels["stage"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == STAGE_METRIC
    }
    spent[CPU] = cpu_seconds(ingestor.pid)
    return spent


@dataclass(frozen=True)
class IngestRun:
    rate: float  # orders per second
    shares: dict[str, float]  # of the timed window, by stage (and CPU)


def _ingest_rate(servers: Servers, batch_size: int, run: int) -> IngestRun:
    """Orders per second over the timed orders, all of the topic read by a new group, and
    where the ingestor's time went meanwhile."""
    _empty_tables(servers.admin_database_url)
    spawned = time.perf_counter()
    deadline = spawned + DEADLINE_SECONDS
    name = f"bench-ingestor-{batch_size}-{run}"
    ingestor = start_ingestor(servers, name, BATCH_MAX_RECORDS=str(batch_size), CONSUMER_GROUP=name)
    try:
        with psycopg.connect(servers.admin_database_url, autocommit=True) as polling:
            warmed_at = _committed_at(polling, WARM_UP_COUNT, deadline)
            before = _time_spent(ingestor)
            finished_at = _committed_at(polling, WARM_UP_COUNT + ORDER_COUNT, deadline)
            after = _time_spent(ingestor)
    finally:
        ingestor.stop()
    stored = _count(servers.admin_database_url)
    if stored != WARM_UP_COUNT + ORDER_COUNT:
        raise RuntimeError(f"{stored} orders stored, {WARM_UP_COUNT + ORDER_COUNT} expected")
    rate = ORDER_COUNT / (finished_at - warmed_at)
    print(
        f"ingestor, batches of {batch_size}: {rate:,.0f} orders/s ({ORDER_COUNT} orders in "
        f"{finished_at - warmed_at:.1f} s; the process started {warmed_at - spawned:.1f} s "
        "before, for the warm-up)",
        flush=True,
    )
    window = finished_at - warmed_at
    shares = {stage: (after[stage] - before.get(stage, 0)) / window for stage in after}
    return IngestRun(rate, shares)


def main() -> None:
    load_before = os.getloadavg()
    print(
        f"== ingest: {ORDER_COUNT} generated orders, 1 to 5 items each, "
        f"after {WARM_UP_COUNT} untimed ==",
        flush=True,
    )
    rng = random.Random(2026)
    warm_up = [generate_order(rng) for _ in range(WARM_UP_COUNT)]
    orders = [generate_order(rng) for _ in range(ORDER_COUNT)]
    items = sum(len(o.items) for o in orders)
    servers = make_servers()
    try:
        servers.start_all()
        started = time.perf_counter()
        asyncio.run(_prefill(servers.kafka_bootstrap, warm_up + orders))
        print(f"topic pre-filled in {time.perf_counter() - started:.1f} s ({items} timed items)")
        runs_by_size: dict[int, list[IngestRun]] = {size: [] for size in BATCH_SIZES}
        for run in range(RUNS):
            for size in BATCH_SIZES:
                runs_by_size[size].append(_ingest_rate(servers, size, run))
        medians = {
            size: sorted(runs, key=lambda run: run.rate)[len(runs) // 2]
            for size, runs in runs_by_size.items()
        }

        copy_runs = [_copy_seconds(servers.admin_database_url, orders) for _ in range(CEILING_RUNS)]
        copy_seconds = sorted(copy_runs)[CEILING_RUNS // 2]
        ceiling = ORDER_COUNT / copy_seconds
        runs = ", ".join(f"{seconds:.2f}" for seconds in copy_runs)
        print(f"PostgreSQL COPY of the same rows: {ceiling:,.0f} orders/s (median of {runs} s)")
        for size, median in medians.items():
            print(
                f"batches of {size}: {median.rate:,.0f} orders/s (median of {RUNS} runs); "
                f"ratio ingestor / COPY ceiling: {median.rate / ceiling:.2f}"
            )
            split = ", ".join(f"{stage} {share:.0%}" for stage, share in median.shares.items())
            print(f"   where the time went (shares of that run's window): {split}")
        figures.record(
            "ingest",
            {
                "orders": ORDER_COUNT,
                "items": items,
                "warm_up_orders": WARM_UP_COUNT,
                "copy_ceiling_orders_per_second": round(ceiling),
                "copy_runs_seconds": [round(seconds, 3) for seconds in copy_runs],
                "batch_sizes": [
                    {
                        "batch_max_records": size,
                        "orders_per_second": round(medians[size].rate),
                        "runs_orders_per_second": [round(r.rate) for r in runs_by_size[size]],
                        "ratio_to_copy": round(medians[size].rate / ceiling, 3),
                        "time_shares": {
                            stage: round(share, 3) for stage, share in medians[size].shares.items()
                        },
                    }
                    for size in BATCH_SIZES
                ],
            },
            load_before,
        )
    finally:
        servers.stop_all()


if __name__ == "__main__":
    main()
