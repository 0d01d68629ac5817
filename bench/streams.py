"""Live streams under load: STREAMS open newest-orders streams on one query replica while
orders arrive at RATE a second, and the hot path's throughput with and without them.

Real Kafka, PostgreSQL and Redis on free ports, the ingestor and one query replica as
processes (devstack.session); the replica is pinned to one core, wrk to the other, as in
`bench query`. Each round publishes orders with the product's publisher at RATE for
SECONDS and runs wrk (GET of one cached order) meanwhile: once with no stream open, once
with STREAMS streams open, in interleaved rounds (BENCH_ROUNDS). The streams are held by
a client process of their own (asyncio, raw sockets, each stream from its own address in
`X-Forwarded-For`, which the replica trusts from 127.0.0.1), which also subscribes to
Redis `orders:changes` like a replica: the delivery delay of an order to a stream is from
the moment its announcement reached that subscriber to the moment the stream's client
read the event, on one clock. Newest-orders streams are the heavy kind: every one of them
gets every send of gathered changes (at most 20 orders every STREAM_NEWEST_INTERVAL_MS).

Printed: delivery delay p50/p99 over every order event every stream read, the events and
bytes read, and per round the hot path's req/s and the replica's CPU time per request
with and without the streams; the median round of each and their ratio; the load average.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import statistics
import threading
import time
from array import array
from dataclasses import dataclass
from multiprocessing.connection import Connection

import httpx
from redis.asyncio import Redis

from bench import figures
from bench.query import WRK_CPU, cpu_seconds, pin, wrk
from devstack import session
from order_shared.topics import CHANGES_CHANNEL, ORDERS
from producer.__main__ import generated_documents
from producer.publisher import publish

STREAMS = int(os.environ.get("BENCH_STREAMS", "1000"))
RATE = float(os.environ.get("BENCH_STREAMS_RATE", "1000"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SEED = 9727
_ORDER_ID = re.compile(rb'event: order\ndata: \{"order_uid":"([^"]+)"')
_UID_IN_ANNOUNCEMENT = re.compile(rb'"order_uid":"([^"]+)"')


def replica_counter(replica: session.ServiceProcess, name: str) -> float:
    text = httpx.get(f"{replica.base_url}/metrics", timeout=10).text
    found = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


@dataclass
class Round:
    rps: float
    cpu_us: float  # the replica's CPU time per hot-path request


async def _hold_streams(port: int, ready: asyncio.Event, stop: asyncio.Event) -> dict:
    """Open STREAMS newest-orders streams and read them until `stop`; the delays."""
    announced: dict[bytes, float] = {}
    delays = array("d")
    counts = {"events": 0, "bytes": 0, "refused": 0}
    redis_url = os.environ["BENCH_REDIS_URL"]
    redis = Redis.from_url(redis_url)
    pubsub = redis.pubsub()
    await pubsub.subscribe(CHANGES_CHANNEL)

    async def listen() -> None:
        clock = time.monotonic
        while not stop.is_set():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message is not None:
                found = _UID_IN_ANNOUNCEMENT.search(message["data"])
                if found:
                    announced.setdefault(found.group(1), clock())

    async def stream(number: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        address = f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"
        writer.write(
            b"GET /api/v1/events/newest-orders HTTP/1.1\r\nHost: bench\r\n"
            b"X-Forwarded-For: %s\r\n\r\n" % address.encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            counts["refused"] += 1
            writer.close()
            return
        clock = time.monotonic
        while not stop.is_set():
            chunk = await reader.read(1 << 16)
            if not chunk:
                break
            now = clock()
            counts["bytes"] += len(chunk)
            for found in _ORDER_ID.finditer(chunk):  # an event split across reads is rare
                at = announced.get(found.group(1))
                counts["events"] += 1
                if at is not None:
                    delays.append(now - at)
        writer.close()

    listener = asyncio.ensure_future(listen())
    tasks = []
    for number in range(STREAMS):
        tasks.append(asyncio.ensure_future(stream(number)))
        if number % 50 == 49:
            await asyncio.sleep(0.05)  # no thundering herd of connects
    await asyncio.sleep(1)
    ready.set()
    await stop.wait()
    for task in (*tasks, listener):
        task.cancel()
    await asyncio.gather(*tasks, listener, return_exceptions=True)
    await pubsub.aclose()
    await redis.aclose()
    ordered = sorted(delays)
    return {
        **counts,
        "samples": len(ordered),
        "p50": ordered[len(ordered) // 2] if ordered else float("nan"),
        "p99": ordered[int(len(ordered) * 0.99)] if ordered else float("nan"),
    }


def _client_process(port: int, redis_url: str, pipe: Connection) -> None:
    os.environ["BENCH_REDIS_URL"] = redis_url

    async def run() -> dict:
        stop, opened = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        holder = asyncio.ensure_future(_hold_streams(port, opened, stop))
        await opened.wait()
        pipe.send("ready")
        await loop.run_in_executor(None, pipe.recv)  # "stop"
        stop.set()
        return await holder

    pipe.send(asyncio.run(run()))


def _publish_at_rate(bootstrap: str, seed: int) -> threading.Thread:
    documents = generated_documents(int(RATE * (SECONDS + 2)), seed)
    thread = threading.Thread(
        target=lambda: asyncio.run(publish(bootstrap, ORDERS, documents, rate=RATE)), daemon=True
    )
    thread.start()
    return thread


def _hot_path_round(replica: session.ServiceProcess, url: str) -> Round:
    before = cpu_seconds(replica.pid)
    run = wrk(url, SECONDS, cpus={WRK_CPU})
    used = cpu_seconds(replica.pid) - before
    return Round(run.rps, used / run.requests * 1e6)


def main() -> None:
    servers = session.make_servers()
    ingestor = replica = None
    without: list[Round] = []
    with_streams: list[Round] = []
    results: list[dict] = []
    load_before = os.getloadavg()
    try:
        print(f"   starting Kafka, PostgreSQL and Redis under {servers.root}", flush=True)
        servers.start_all()
        ingestor = session.start_ingestor(servers, "bench-ingestor", LOG_LEVEL="WARNING")
        replica = session.start_query(
            servers,
            "bench-streams",
            RESYNC_INTERVAL_SECONDS="5",
            LOG_LEVEL="WARNING",
            STREAM_MAX_STREAMS=str(STREAMS + 10),
        )
        pin(replica.pid)
        asyncio.run(publish(servers.kafka_bootstrap, ORDERS, generated_documents(200, SEED)))
        time.sleep(3)
        first = httpx.get(f"{replica.base_url}/api/v1/orders?limit=1", timeout=10).json()
        url = f"{replica.base_url}/api/v1/orders/{first['orders'][0]['order_uid']}"
        redis_url = servers.redis_url
        for number in range(ROUNDS):
            publisher = _publish_at_rate(servers.kafka_bootstrap, SEED + 1 + 2 * number)
            time.sleep(1)
            without.append(_hot_path_round(replica, url))
            publisher.join()

            ours, theirs = multiprocessing.Pipe()
            clients = multiprocessing.Process(
                target=_client_process, args=(replica.port, redis_url, theirs), daemon=True
            )
            clients.start()
            assert ours.recv() == "ready"
            sends = replica_counter(replica, "query_stream_newest_sends_total")
            overflows = replica_counter(replica, "query_stream_overflows_total")
            publisher = _publish_at_rate(servers.kafka_bootstrap, SEED + 2 + 2 * number)
            time.sleep(1)
            with_streams.append(_hot_path_round(replica, url))
            publisher.join()
            sends = replica_counter(replica, "query_stream_newest_sends_total") - sends
            overflows = replica_counter(replica, "query_stream_overflows_total") - overflows
            ours.send("stop")
            results.append({**ours.recv(), "sends": sends, "overflows": overflows})
            clients.join(timeout=30)
            print(
                f"   round {number + 1}: {without[-1].rps:,.0f} req/s without streams, "
                f"{with_streams[-1].rps:,.0f} with {STREAMS:,}; delivery p50 "
                f"{results[-1]['p50'] * 1000:.0f} ms, p99 {results[-1]['p99'] * 1000:.0f} ms",
                flush=True,
            )
    finally:
        if replica is not None:
            replica.stop()
        if ingestor is not None:
            ingestor.stop()
        servers.stop_all()

    def median(rounds: list[Round]) -> Round:
        return sorted(rounds, key=lambda one: one.rps)[len(rounds) // 2]

    alone, loaded = median(without), median(with_streams)
    refused = sum(result["refused"] for result in results)
    events = sum(result["events"] for result in results)
    print(
        f"-- streams: {STREAMS:,} newest-orders streams on one replica, orders at "
        f"{RATE:,.0f}/s, {ROUNDS} interleaved rounds of {SECONDS} s (load average before "
        f"{load_before[0]:.1f}, after {os.getloadavg()[0]:.1f})"
    )
    p50s = ", ".join(f"{result['p50'] * 1000:.0f}" for result in results)
    p99s = ", ".join(f"{result['p99'] * 1000:.0f}" for result in results)
    median_p50 = statistics.median(result["p50"] for result in results) * 1000
    median_p99 = statistics.median(result["p99"] for result in results) * 1000
    print(
        "   delivery delay (announcement on Redis -> event read by the stream's client), "
        f"per round: p50 {p50s} ms; p99 {p99s} ms; median p50 {median_p50:.0f} ms, "
        f"p99 {median_p99:.0f} ms"
    )
    sends = sum(result["sends"] for result in results)
    overflows = sum(result["overflows"] for result in results)
    print(
        f"   {events:,} order events read ({sum(r['bytes'] for r in results) / 1e6:,.0f} MB); "
        f"{sends:,.0f} sends of gathered changes to every stream; {overflows:,.0f} streams "
        f"dropped for a full buffer; {refused} refused"
    )
    print(
        f"   hot path (wrk -t1 -c32, one cached order): {alone.rps:,.0f} req/s and "
        f"{alone.cpu_us:.1f} us CPU per request without streams; {loaded.rps:,.0f} req/s and "
        f"{loaded.cpu_us:.1f} us with them open: {loaded.rps / alone.rps:.2f} in req/s"
    )
    figures.record(
        "streams",
        {
            "streams": STREAMS,
            "orders_per_second": RATE,
            "delivery_p50_ms": round(median_p50, 1),
            "delivery_p99_ms": round(median_p99, 1),
            "events_read": events,
            "sends": sends,
            "overflows": overflows,
            "refused": refused,
            "hot_path_alone": {"requests_per_second": round(alone.rps), "cpu_us": alone.cpu_us},
            "hot_path_with_streams": {
                "requests_per_second": round(loaded.rps),
                "cpu_us": loaded.cpu_us,
            },
        },
        load_before,
    )
