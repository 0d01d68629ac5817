"""Query benchmark, on real PostgreSQL and Redis started here, orders written straight into
PostgreSQL (no Kafka):

1. Warm-up: listing BENCH_ORDERS orders (default 1,000,000) into the store, in orders per
   second, against PostgreSQL's own `COPY (the same statement) TO STDOUT`.
2. Memory per cached order: the process's resident memory growth over that warm-up.
3. Cache hits over HTTP with wrk on loopback, one replica holding every order: requests
   per second and p50/p99 latency against three references, each returning the same
   bytes from a dict on one core: the raw ASGI ceiling and the raw RSGI ceiling (a bare
   handler on the same granian with the same settings, `bench/ceiling.py`) and a lean Go
   server (`net/http`, GOMAXPROCS=1, `bench/go_reference`, built here with the machine's
   Go toolchain) — for one id with BENCH_CONNECTIONS and twice as many connections, and
   for random ids over all the orders. Rounds interleave the four servers, so other load
   on the machine hits all; each figure is the median round, and each ratio comes from
   the one run. The replica traces at its default
   sampling (parent-based, 1 in 100 of the hits that begin a trace, at most
   TRACED_HITS_PER_SECOND of them a second; `bench tracing` shows the cost without that
   cap), exporting over OTLP to a Jaeger v2 started here (pinned out of the way:
   `pin_receiver`), when scripts/install-jaeger.sh has built one; without it, under the
   no-op tracer.

Knobs: BENCH_ORDERS, BENCH_SECONDS (per wrk run, default 5), BENCH_ROUNDS (default 3),
BENCH_CONNECTIONS (default 32).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import httpx
import psycopg
import uvloop
from psycopg import sql
from redis.asyncio import Redis

from bench import figures as bench_figures
from devstack import jaeger, session
from devstack.process import RunningServer, ServerCommand
from devstack.readiness import wait_until
from order_shared.database import create_pool
from query.informer import order_reader
from query.informer.reflector import OrderReflector
from query.informer.store import OrderStore
from query.settings import QuerySettings

ORDERS = int(os.environ.get("BENCH_ORDERS", "1000000"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
# The replica's default cap on traces begun by hits, whatever the caller's shell says.
DEFAULT_TRACED_HITS = str(QuerySettings.model_fields["traced_hits_per_second"].default)

# Realistic orders (1 to 5 items, about 1.3 kB of JSON each), generated inside PostgreSQL.
_LOAD = [
    """
INSERT INTO orders (order_uid, track_number, entry, locale, internal_signature, customer_id,
    delivery_service, shardkey, sm_id, date_created, oof_shard, status, version, change_seq,
    content_hash)
SELECT 'bench' || lpad(g::text, 10, '0'), 'WB' || upper(substr(md5(g::text), 1, 12)), 'WBIL',
       'en', '', substr(md5(g::text || 'c'), 1, 8),
       (ARRAY['meest', 'cdek', 'dhl', 'boxberry'])[1 + g %% 4], (g %% 10)::text, g %% 100,
       timestamptz '2026-01-01' - make_interval(secs => g * 2.5), (g %% 10)::text,
       (ARRAY['created', 'created', 'cancelled', 'completed'])[1 + g %% 4], 1,
       %(base)s::bigint + g - %(first)s::integer + 1, sha256(convert_to(g::text, 'UTF8'))
  FROM generate_series(%(first)s::integer, %(last)s::integer) AS g
""",
    """
INSERT INTO deliveries (order_uid, name, phone, zip, city, address, region, email)
SELECT 'bench' || lpad(g::text, 10, '0'), 'Customer ' || g,
       '+9720' || lpad((g %% 10000000)::text, 7, '0'), (2639809 + g %% 1000)::text,
       'Kiryat Mozkin', 'Ploshad Mira ' || (g %% 200), 'Kraiot', 'customer' || g || '@example.com'
  FROM generate_series(%(first)s::integer, %(last)s::integer) AS g
""",
    """
INSERT INTO payments (order_uid, transaction, request_id, currency, provider, amount,
    payment_dt, bank, delivery_cost, goods_total, custom_fee)
SELECT 'bench' || lpad(g::text, 10, '0'), 'bench' || lpad(g::text, 10, '0'), '', 'USD', 'wbpay',
       1500 + (1 + g %% 5) * 1000, 1637907727 + g, 'alpha', 1500, (1 + g %% 5) * 1000, 0
  FROM generate_series(%(first)s::integer, %(last)s::integer) AS g
""",
    """
INSERT INTO items (order_uid, position, chrt_id, track_number, price, rid, name, sale, size,
    total_price, nm_id, brand, status)
SELECT 'bench' || lpad(g::text, 10, '0'), p, 9934930 + p,
       'WB' || upper(substr(md5(g::text), 1, 12)), 1000, substr(md5(g::text || p::text), 1, 21),
       'Mascaras', 0, '0', 1000, 2389212 + p, 'Vivienne Sabo', 202
  FROM generate_series(%(first)s::integer, %(last)s::integer) AS g, generate_series(0, g %% 5) AS p
""",
    "UPDATE change_counter SET last_seq = last_seq + %(last)s::integer - %(first)s::integer + 1",
]


def load_orders(admin_url: str, first: int, last: int) -> None:
    with psycopg.connect(admin_url) as connection:
        connection.execute("SET synchronous_commit = off")
        (base,) = connection.execute(  # type: ignore[misc]
            "SELECT last_seq FROM change_counter FOR UPDATE"
        ).fetchone()
        for statement in _LOAD:
            connection.execute(statement, {"first": first, "last": last, "base": base})
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE orders, deliveries, payments, items")


# -- HTTP ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkRun:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    # The server's CPU time per request (user + system, every thread): unlike req/s it
    # hardly moves when other work on the machine takes the server's core away.
    cpu_us: float = 0.0


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


# One core for the server under test, the other for wrk: a replica's figures, not a
# scheduler's (with both free, the kernel's per-session groups skewed them either way).
SERVER_CPU = (os.cpu_count() or 1) - 1
WRK_CPU = 0


def pin(pid: int) -> None:
    """Every thread of `pid` onto SERVER_CPU (threads it starts later inherit it)."""
    for thread in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(thread), {SERVER_CPU})


def pin_receiver(pid: int) -> None:
    """The span receiver (Jaeger) onto WRK_CPU at idle priority: it stands in for a
    collector on another machine, so it must neither take the server's core nor delay
    wrk's reading of answers (which would count as the server's latency)."""
    for thread in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(thread), {WRK_CPU})
        os.sched_setscheduler(int(thread), os.SCHED_IDLE, os.sched_param(0))


def wrk(
    url: str,
    seconds: int,
    connections: int = CONNECTIONS,
    script: Path | None = None,
    cpus: set[int] | None = None,
) -> WrkRun:
    """One wrk run, on WRK_CPU unless `cpus` says otherwise."""
    output = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            *(["-s", str(script)] if script else []),
            url,
        ],
        preexec_fn=lambda: os.sched_setaffinity(0, cpus or {WRK_CPU}),
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    if re.search(r"Non-2xx or 3xx responses", output) or "Socket errors" in output:
        raise RuntimeError(f"wrk saw errors:\n{output}")

    def latency(percent: int) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\b", output, re.M).groups()  # type: ignore[union-attr]
        return float(value) * _UNITS_MS[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    return WrkRun(rps, latency(50), latency(99), requests)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of every thread of `pid` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk_timed(pid: int, url: str, scenario: Scenario) -> WrkRun:
    """A wrk run against the server `pid`, with the server's CPU time per request."""
    before = cpu_seconds(pid)
    run = wrk(url, SECONDS, scenario.connections, scenario.script)
    used = cpu_seconds(pid) - before
    return dataclasses.replace(run, cpu_us=used / run.requests * 1e6)


def median_run(runs: list[WrkRun]) -> WrkRun:
    """The run with the median throughput: its latencies belong to the same run."""
    return sorted(runs, key=lambda run: run.rps)[len(runs) // 2]


GO_REFERENCE_SOURCE = Path(__file__).resolve().parent / "go_reference"


def build_go_reference() -> Path:
    """bench/go_reference built with the machine's Go toolchain (cached by Go)."""
    go = shutil.which("go")
    if go is None:
        raise SystemExit("go not found: the query benchmark builds its Go reference with it")
    binary = session.REPO / ".state" / "bench" / "go-reference"
    binary.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [go, "build", "-trimpath", "-o", str(binary), "."],
        cwd=GO_REFERENCE_SOURCE,
        env={**os.environ, "CGO_ENABLED": "0"},
        check=True,
        timeout=600,
    )
    return binary


def start_reference(name: str, command: Callable[[int], list[str]]) -> tuple[RunningServer, str]:
    """A server the replica is measured against, on a free port, once it answers."""
    port = session.free_port()
    process = RunningServer(
        ServerCommand(name, command(port), env={"PYTHONPATH": str(session.REPO)}),
        session.LOGS / f"bench-{name}.log",
    )
    base_url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if process.process.poll() is not None:
            raise RuntimeError(f"{name} exited; see {process.log_path}")
        httpx.get(f"{base_url}/api/v1/orders/x", timeout=1)
        return True

    try:
        wait_until(answers, what=f"{name} at {base_url}", timeout=120, retry_on=httpx.HTTPError)
    except BaseException:
        process.stop()
        raise
    return process, base_url


def reference_commands(body_file: Path, orders: int) -> dict[str, Callable[[int], list[str]]]:
    """What the replica is measured against, each answering the replica's own bytes from a
    dict (a map) on one core: the raw ASGI ceiling (the replica's interface), the raw RSGI
    ceiling (granian's own interface) and a lean Go server (net/http)."""
    go_reference = build_go_reference()

    def ceiling(interface: str) -> Callable[[int], list[str]]:
        return lambda port: [
            sys.executable, "-m", "bench.ceiling", str(port), str(body_file), str(orders), interface
        ]  # fmt: skip

    return {
        "ASGI ceiling": ceiling("asgi"),
        "RSGI ceiling": ceiling("rsgi"),
        "Go net/http": lambda port: [str(go_reference), str(port), str(body_file), str(orders)],
    }


@dataclass(frozen=True)
class Scenario:
    name: str
    connections: int
    script: Path | None = None  # a wrk Lua script choosing each request's path


REPLICA = "replica"
# Each server's key in the figures' JSON (BENCH_FIGURES_DIR), which the docs' charts read.
FIGURE_KEYS = {
    REPLICA: "replica",
    "ASGI ceiling": "ceiling",
    "RSGI ceiling": "rsgi_ceiling",
    "Go net/http": "go_net_http",
}


@dataclass(frozen=True)
class HttpFigures:
    """One scenario: the median round of each server, and its median CPU per request."""

    runs: dict[str, WrkRun]
    cpu_us: dict[str, float]


def random_ids_script(folder: Path, orders: int) -> Path:
    script = folder / "random-ids.lua"
    script.write_text(
        "math.randomseed(42)\n"
        "request = function()\n"
        f'  return wrk.format("GET", string.format("/api/v1/orders/bench%010d", '
        f"math.random(1, {orders})))\n"
        "end\n"
    )
    return script


def bench_http(
    servers: session.Servers, order_uid: str, orders: int, tracing: dict[str, str]
) -> dict[str, HttpFigures]:
    """The replica against the references, one round of each scenario after the other."""
    path = f"/api/v1/orders/{order_uid}"
    replica = session.start_query(
        servers,
        "bench-query",
        wait=False,
        RESYNC_INTERVAL_SECONDS="5",
        LOG_LEVEL="WARNING",
        CACHE_MAX_ENTRIES=str(2 * orders),
        **tracing,
    )
    references: list[RunningServer] = []
    try:
        replica.wait_ready(timeout=900)  # it lists every order first
        response = httpx.get(replica.base_url + path, timeout=5)
        response.raise_for_status()
        with tempfile.TemporaryDirectory() as folder:
            body_file = Path(folder) / "order.json"
            body_file.write_bytes(response.content)
            servers_under_test = {REPLICA: (replica.pid, replica.base_url)}
            for name, command in reference_commands(body_file, orders).items():
                process, base_url = start_reference(name, command)
                references.append(process)
                servers_under_test[name] = (process.pid, base_url)
                assert httpx.get(base_url + path, timeout=5).content == response.content
            for pid, _ in servers_under_test.values():
                pin(pid)
            scenarios = [
                Scenario(f"one id, {CONNECTIONS} connections", CONNECTIONS),
                Scenario(f"one id, {2 * CONNECTIONS} connections", 2 * CONNECTIONS),
                Scenario(
                    f"random ids of {orders:,}, {CONNECTIONS} connections",
                    CONNECTIONS,
                    random_ids_script(Path(folder), orders),
                ),
            ]
            for _, base_url in servers_under_test.values():
                wrk(base_url + path, 1)  # warm up
            runs: dict[tuple[str, str], list[WrkRun]] = {}
            for _ in range(ROUNDS):  # interleaved: other load on the machine hits all
                for scenario in scenarios:
                    for name, (pid, base_url) in servers_under_test.items():
                        run = wrk_timed(pid, base_url + path, scenario)
                        runs.setdefault((scenario.name, name), []).append(run)
        for scenario in scenarios:
            rounds = {
                name: [round(run.rps) for run in runs[scenario.name, name]]
                for name in servers_under_test
            }
            print(f"   {scenario.name}: req/s per round {rounds}", flush=True)
        return {
            scenario.name: HttpFigures(
                {name: median_run(runs[scenario.name, name]) for name in servers_under_test},
                {
                    name: statistics.median(run.cpu_us for run in runs[scenario.name, name])
                    for name in servers_under_test
                },
            )
            for scenario in scenarios
        }
    finally:
        for process in references:
            process.stop()
        replica.stop()


# -- Warm-up and memory -------------------------------------------------------------------


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def copy_seconds(database_url: str) -> tuple[float, int]:
    """PostgreSQL's own COPY of the warm-up statement's rows, read and thrown away."""
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        started = time.perf_counter()
        size = 0
        statement = sql.SQL("COPY ({}) TO STDOUT").format(sql.SQL(order_reader.CHANGED_SINCE))
        async with connection.cursor().copy(statement, {"since": 0}) as copy:
            async for block in copy:
                size += len(block)
        return time.perf_counter() - started, size


async def warm_up(database_url: str, redis_url: str) -> tuple[float, int, int, OrderStore]:
    """(seconds, orders, resident growth in bytes, store) of one full list into a store."""
    store = OrderStore(
        max_entries=10 * ORDERS,
        max_bytes=1024**4,
        ttl_seconds=3600,
        not_found_ttl_seconds=2,
    )
    pool = create_pool(database_url, max_size=2, name="bench")
    await pool.open()
    redis = Redis.from_url(redis_url)
    try:
        reflector = OrderReflector(store, pool, redis, catch_up_interval=3600, list_batch_size=5000)
        gc.collect()
        before = resident_bytes()
        started = time.perf_counter()
        count = await reflector.relist()
        seconds = time.perf_counter() - started
        gc.collect()
        return seconds, count, resident_bytes() - before, store
    finally:
        await redis.aclose()
        await pool.close()


# -- Report -------------------------------------------------------------------------------


def main() -> None:
    load_before = os.getloadavg()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: install Debian's `wrk` package (apt-get install wrk)")
    if SERVER_CPU == WRK_CPU:
        raise SystemExit("the query benchmark needs two CPUs: one for wrk, one for the server")
    servers = session.make_servers()
    receiver: RunningServer | None = None
    tracing: dict[str, str] = {}
    if jaeger.is_installed():
        ports = jaeger.JaegerPorts(*(session.free_port() for _ in range(4)))
        receiver = RunningServer(jaeger.prepare_server(ports), session.LOGS / "bench-jaeger.log")
        jaeger.wait_until_ready(ports)
        pin_receiver(receiver.pid)
        tracing = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint(ports),
            "OTEL_TRACES_SAMPLER": "",  # the default, whatever the caller's shell says
            "TRACED_HITS_PER_SECOND": DEFAULT_TRACED_HITS,
        }
    try:
        print(f"   starting PostgreSQL and Redis under {servers.root}", flush=True)
        session.start_storage(servers)
        started = time.perf_counter()
        load_orders(servers.admin_database_url, 1, ORDERS)
        generated = time.perf_counter() - started
        print(f"-- {ORDERS:,} orders generated in PostgreSQL in {generated:.0f} s", flush=True)
        query_url = servers.database_url("order_query")
        copy_time, copy_bytes = asyncio.run(copy_seconds(query_url))
        warm_time, count, growth, store = uvloop.run(warm_up(query_url, servers.redis_url))
        sample = [store.peek(f"bench{index:010d}") for index in range(1, min(count, 10_000) + 1)]
        bodies = sum(len(entry.body) for entry in sample if entry is not None)
        estimate = store.nbytes / len(store)
        del store, sample  # the replica below needs the memory
        gc.collect()
        print(f"-- warm-up of {count:,} orders", flush=True)
        print(
            f"   list into the store  {warm_time:6.1f} s  {count / warm_time:9,.0f} orders/s\n"
            f"   COPY ... TO STDOUT   {copy_time:6.1f} s  {count / copy_time:9,.0f} orders/s"
            f"  ({copy_bytes / 1e6:,.0f} MB)   list/COPY {copy_time / warm_time:.2f}"
        )
        print(
            f"-- memory per cached order: {growth / count:,.0f} bytes resident "
            f"(JSON body {bodies / min(count, 10_000):,.0f} bytes; the store's estimate "
            f"{estimate:,.0f})",
            flush=True,
        )
        print(
            f"-- cache hits over HTTP: wrk -t1 on CPU {WRK_CPU}, the server on CPU "
            f"{SERVER_CPU}, {ROUNDS} interleaved rounds x {SECONDS} s; a replica holding "
            f"{ORDERS:,} orders against the raw ASGI and RSGI ceilings (bench/ceiling.py) and "
            "a Go net/http server (bench/go_reference); the replica "
            + (
                "exports spans over OTLP at its default sampling"
                if tracing
                else "under the no-op tracer (no Jaeger: scripts/install-jaeger.sh)"
            ),
            flush=True,
        )
        http = bench_http(servers, "bench0000000042", ORDERS, tracing)
    finally:
        servers.stop_all()  # and deletes a million orders' 2 GB of data
        if receiver is not None:
            receiver.stop()

    print("-- cache hits, one replica (median round; p50/p99 of that round)")
    for scenario, figures in http.items():
        print(f"   {scenario}")
        for name, run in figures.runs.items():
            print(
                f"     {name:13} {run.rps:9,.0f} req/s  p50 {run.p50_ms:6.2f} ms  "
                f"p99 {run.p99_ms:6.2f} ms  CPU {figures.cpu_us[name]:5.1f} us/request"
            )
        replica = figures.runs[REPLICA]
        for name, run in figures.runs.items():
            if name != REPLICA:
                print(
                    f"     replica/{name:13} {replica.rps / run.rps:.2f} in req/s, "
                    f"{figures.cpu_us[name] / figures.cpu_us[REPLICA]:.2f} in CPU per request"
                )
    bench_figures.record(
        "query",
        {
            "orders": ORDERS,
            "rounds": ROUNDS,
            "seconds_per_round": SECONDS,
            "traced": bool(tracing),
            "warm_up": {
                "list_orders_per_second": round(count / warm_time),
                "copy_orders_per_second": round(count / copy_time),
                "resident_bytes_per_order": round(growth / count),
            },
            "scenarios": [
                {
                    "scenario": scenario,
                    **{
                        FIGURE_KEYS[name]: {
                            "requests_per_second": round(run.rps),
                            "p50_ms": run.p50_ms,
                            "p99_ms": run.p99_ms,
                            "cpu_us_per_request": round(result.cpu_us[name], 1),
                        }
                        for name, run in result.runs.items()
                    },
                }
                for scenario, result in http.items()
            ],
        },
        load_before,
    )
    print(
        f"   granian {version('granian')}, embedded in the app's uvloop event loop, one "
        "runtime thread, no access log (query/server.py), for the replica and both "
        "ceilings; the Go server with GOMAXPROCS=1 (bench/go_reference); each on one core"
    )
