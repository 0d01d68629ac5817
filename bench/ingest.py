"""Ingest benchmark: a topic pre-filled with N generated orders (1 to 5 items each), the
time until the ingestor has committed them all, and, as the ceiling, the time PostgreSQL
itself takes to COPY the same rows into the same tables.

The timed orders follow untimed warm-up orders in the same topic, so the broker's JIT,
the ingestor's start and PostgreSQL's first batches are not in the figure. The ceiling
is the median of three COPY runs: one run on a shared machine varies by a fifth.

Each run reads the whole topic with a fresh consumer group into emptied tables; the batch
sizes take turns, three runs each, and each figure is the median of its runs.

    BENCH_INGEST_ORDERS=50000 BENCH_INGEST_WARMUP=10000 BENCH_INGEST_BATCHES=2000,5000 \
        uv run python -m bench ingest
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import random
import time

import psycopg
from aiokafka import AIOKafkaProducer

from order_shared.model import Order, encode_order
from order_shared.topics import ORDERS
from producer.generator import generate_order
from tests.harness import Servers, make_servers, start_ingestor

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


def _copy_text(rows: list[tuple[object, ...]]) -> bytes:
    """Rows in COPY's text format (our values hold no tabs, newlines or backslashes)."""
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(str(value) for value in row))
        buffer.write("\n")
    return buffer.getvalue().encode()


def _copy_payloads(orders: list[Order]) -> dict[str, tuple[str, bytes]]:
    order_rows, delivery_rows, payment_rows, item_rows = [], [], [], []
    for seq, o in enumerate(orders, start=1):
        digest = "\\\\x" + hashlib.sha256(encode_order(o)).hexdigest()
        order_rows.append((
            o.order_uid, o.track_number, o.entry, o.locale, o.internal_signature or "",
            o.customer_id, o.delivery_service, o.shardkey, o.sm_id,
            o.date_created.isoformat(), o.oof_shard, 1, seq, digest,
        ))  # fmt: skip
        d = o.delivery
        delivery_rows.append(
            (o.order_uid, d.name, d.phone, d.zip, d.city, d.address, d.region, d.email)
        )
        p = o.payment
        payment_rows.append((
            o.order_uid, p.transaction, p.request_id or "", p.currency, p.provider, p.amount,
            p.payment_dt, p.bank, p.delivery_cost, p.goods_total, p.custom_fee,
        ))  # fmt: skip
        for position, i in enumerate(o.items):
            item_rows.append((
                o.order_uid, position, i.chrt_id, i.track_number, i.price, i.rid, i.name,
                i.sale, i.size, i.total_price, i.nm_id, i.brand, i.status,
            ))  # fmt: skip
    return {
        "orders": (
            "COPY orders (order_uid, track_number, entry, locale, internal_signature, "
            "customer_id, delivery_service, shardkey, sm_id, date_created, oof_shard, "
            "version, change_seq, content_hash) FROM STDIN",
            _copy_text(order_rows),
        ),
        "deliveries": (
            "COPY deliveries (order_uid, name, phone, zip, city, address, region, email) "
            "FROM STDIN",
            _copy_text(delivery_rows),
        ),
        "payments": (
            "COPY payments (order_uid, transaction, request_id, currency, provider, amount, "
            "payment_dt, bank, delivery_cost, goods_total, custom_fee) FROM STDIN",
            _copy_text(payment_rows),
        ),
        "items": (
            "COPY items (order_uid, position, chrt_id, track_number, price, rid, name, sale, "
            "size, total_price, nm_id, brand, status) FROM STDIN",
            _copy_text(item_rows),
        ),
    }


def _copy_seconds(database_url: str, orders: list[Order]) -> float:
    """Empty the tables, then time COPY of the same rows in one transaction."""
    payloads = _copy_payloads(orders)
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "TRUNCATE orders, deliveries, payments, items, order_events, pending_status_changes"
        )
        connection.commit()
        connection.execute("CHECKPOINT")
        started = time.perf_counter()
        with connection.transaction(), connection.cursor() as cursor:
            for statement, data in payloads.values():
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


def _ingest_rate(servers: Servers, batch_size: int, run: int) -> float:
    """Orders per second over the timed orders, all of the topic read by a new group."""
    _empty_tables(servers.admin_database_url)
    spawned = time.perf_counter()
    deadline = spawned + DEADLINE_SECONDS
    name = f"bench-ingestor-{batch_size}-{run}"
    ingestor = start_ingestor(servers, name, BATCH_MAX_RECORDS=str(batch_size), CONSUMER_GROUP=name)
    try:
        with psycopg.connect(servers.admin_database_url, autocommit=True) as polling:
            warmed_at = _committed_at(polling, WARM_UP_COUNT, deadline)
            finished_at = _committed_at(polling, WARM_UP_COUNT + ORDER_COUNT, deadline)
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
    return rate


def main() -> None:
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
        runs_by_size: dict[int, list[float]] = {size: [] for size in BATCH_SIZES}
        for run in range(RUNS):
            for size in BATCH_SIZES:
                runs_by_size[size].append(_ingest_rate(servers, size, run))
        rates = {size: sorted(runs)[len(runs) // 2] for size, runs in runs_by_size.items()}

        copy_runs = [_copy_seconds(servers.admin_database_url, orders) for _ in range(CEILING_RUNS)]
        copy_seconds = sorted(copy_runs)[CEILING_RUNS // 2]
        ceiling = ORDER_COUNT / copy_seconds
        runs = ", ".join(f"{seconds:.2f}" for seconds in copy_runs)
        print(f"PostgreSQL COPY of the same rows: {ceiling:,.0f} orders/s (median of {runs} s)")
        for size, rate in rates.items():
            print(
                f"batches of {size}: {rate:,.0f} orders/s (median of {RUNS} runs); "
                f"ratio ingestor / COPY ceiling: {rate / ceiling:.2f}"
            )
    finally:
        servers.stop_all()


if __name__ == "__main__":
    main()
