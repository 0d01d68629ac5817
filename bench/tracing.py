"""The hot path's cost of tracing: query replicas exporting spans over OTLP against one
exporting nothing, all holding the same orders, under the same wrk load. One exports at
the default sampling: parent-based, 1 in 100 of the hits that begin a trace, at most
TRACED_HITS_PER_SECOND (10) of them a second. The other lifts that cap, so 1 in 100 of
all its hits are recorded: what each recorded span costs, in CPU and in the p99.

PostgreSQL and Redis on free ports (no Kafka; orders written straight into PostgreSQL as
`bench query` does), and Jaeger v2 built by scripts/install-jaeger.sh as the OTLP
receiver, pinned out of the way (`bench.query.pin_receiver`). The replicas run at once on
the same pinned core and take turns: rounds interleave, so other load on the machine hits
all, and each figure is the median round. wrk's requests carry no `traceparent`, so every
request begins a trace and the sampler decides; the figures at the end are how many of
them Jaeger received.

Knobs: BENCH_SECONDS (per wrk run, default 5), BENCH_ROUNDS (default 3),
BENCH_CONNECTIONS (default 32).
"""

from __future__ import annotations

import os
import shutil
import statistics

import httpx

from bench import figures
from bench.query import (
    CONNECTIONS,
    DEFAULT_TRACED_HITS,
    ROUNDS,
    SECONDS,
    SERVER_CPU,
    WRK_CPU,
    Scenario,
    WrkRun,
    load_orders,
    median_run,
    pin,
    pin_receiver,
    wrk,
    wrk_timed,
)
from devstack import jaeger, session
from devstack.process import RunningServer

ORDERS = 10_000
ORDER_UID = "bench0000000042"
# The exporting replicas: their name here, their service name in Jaeger, their cap.
TRACED = {
    "OTLP, default sampling": ("bench-query-traced", DEFAULT_TRACED_HITS),
    "OTLP, 1 in 100 uncapped": ("bench-query-uncapped", "1000000000"),
}
HOT_SPAN = "GET /api/v1/orders/{order_uid}"


def main() -> None:
    load_before = os.getloadavg()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: install Debian's `wrk` package (apt-get install wrk)")
    if SERVER_CPU == WRK_CPU:
        raise SystemExit("the tracing benchmark needs two CPUs: one for wrk, one for the server")
    if not jaeger.is_installed():
        raise SystemExit(f"{jaeger.BINARY} is missing: run scripts/install-jaeger.sh")
    servers = session.make_servers()
    ports = jaeger.JaegerPorts(*(session.free_port() for _ in range(4)))
    receiver = RunningServer(jaeger.prepare_server(ports), session.LOGS / "bench-jaeger.log")
    replicas: dict[str, session.ServiceProcess] = {}
    try:
        jaeger.wait_until_ready(ports)
        pin_receiver(receiver.pid)
        session.start_storage(servers)
        load_orders(servers.admin_database_url, 1, ORDERS)
        common = {"RESYNC_INTERVAL_SECONDS": "5", "LOG_LEVEL": "WARNING"}
        exporting = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint(ports),
            "OTEL_TRACES_SAMPLER": "",  # the default, whatever the caller's shell says
            **common,
        }
        replicas = {
            "no exporter": session.start_query(servers, "bench-query-untraced", **common),
            **{
                name: session.start_query(
                    servers,
                    service,
                    OTEL_SERVICE_NAME=service,
                    TRACED_HITS_PER_SECOND=cap,
                    **exporting,
                )
                for name, (service, cap) in TRACED.items()
            },
        }
        path = f"/api/v1/orders/{ORDER_UID}"
        for replica in replicas.values():
            httpx.get(replica.base_url + path, timeout=5).raise_for_status()
            pin(replica.pid)
            wrk(replica.base_url + path, 1)  # warm up
        scenario = Scenario(f"one id, {CONNECTIONS} connections", CONNECTIONS)
        runs: dict[str, list[WrkRun]] = {name: [] for name in replicas}
        for _ in range(ROUNDS):
            for name, replica in replicas.items():
                runs[name].append(wrk_timed(replica.pid, replica.base_url + path, scenario))
        hits = {name: _hits(replicas[name]) for name in TRACED}  # warm-up included
        for replica in replicas.values():
            replica.stop()  # the traced ones send their last spans as they exit
        received = {name: _traces_received(ports, service) for name, (service, _) in TRACED.items()}
    finally:
        for replica in replicas.values():
            replica.stop()
        receiver.stop()
        servers.stop_all()

    print(
        f"-- hot path with tracing: cache hits, {scenario.name}, {ROUNDS} interleaved rounds "
        f"x {SECONDS} s, the replicas on CPU {SERVER_CPU} (median round; its p99)"
    )
    for name, name_runs in runs.items():
        run = median_run(name_runs)
        print(
            f"   {name:24} {run.rps:9,.0f} req/s  p99 {run.p99_ms:6.2f} ms  "
            f"CPU {statistics.median(r.cpu_us for r in name_runs):5.1f} us/request  "
            f"(rounds {[round(r.rps) for r in name_runs]})"
        )
    for name in TRACED:
        print(
            f"   Jaeger received {received[name]:,} hot-path spans for the {name!r} replica's "
            f"{hits[name]:,.0f} cache hits ({received[name] / hits[name]:.2%})"
        )
    figures.record(
        "tracing",
        {
            "replicas": [
                {
                    "replica": name,
                    "requests_per_second": round(median_run(name_runs).rps),
                    "p99_ms": median_run(name_runs).p99_ms,
                    "cpu_us_per_request": round(statistics.median(r.cpu_us for r in name_runs), 1),
                    "spans_received": received.get(name),
                    "cache_hits": hits.get(name),
                }
                for name, name_runs in runs.items()
            ]
        },
        load_before,
    )


def _hits(replica: session.ServiceProcess) -> float:
    text = httpx.get(f"{replica.base_url}/metrics", timeout=10).text
    (line,) = [line for line in text.splitlines() if line.startswith("query_cache_hits_total ")]
    return float(line.split()[1])


def _traces_received(ports: jaeger.JaegerPorts, service: str) -> int:
    """How many hot-path spans of `service` Jaeger holds."""
    answer = httpx.get(
        f"{jaeger.query_url(ports)}/api/traces",
        params={
            "service": service,
            "limit": 99_999,  # below what Jaeger keeps (devstack.jaeger)
            "lookback": "1h",
        },
        timeout=60,
    )
    answer.raise_for_status()
    return sum(
        span["operationName"] == HOT_SPAN
        for found in answer.json()["data"] or []
        for span in found["spans"]
    )
