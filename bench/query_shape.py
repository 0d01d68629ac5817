"""Query benchmark of a pod's shape on real PostgreSQL and Redis started here: one replica
with two granian worker processes (WORKERS=2, one listening socket) against two
single-worker replicas (two ports, the load split evenly), serving cache hits of
`GET /api/v1/orders/{id}` for random ids over BENCH_SHAPE_ORDERS orders (default 100,000).

Each shape gets the machine's two cores; wrk runs beside them unpinned (two servers and the
load generator cannot each have a core of their own on two), so the figures compare the
shapes, not a server's ceiling. Printed per shape: req/s and p99 (the median of
BENCH_ROUNDS rounds, shapes interleaved) and the resident memory of every process (a
granian parent, then its workers, each holding every order). That every worker sees every
change on its own is tested, not benchmarked (tests/integration/test_query_workers.py).

Knobs: BENCH_SHAPE_ORDERS, BENCH_SECONDS (per wrk run, default 5), BENCH_ROUNDS (default 3).
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import figures
from bench.query import ROUNDS, SECONDS, WrkRun, load_orders, median_run, random_ids_script, wrk
from devstack import session
from devstack.session import ServiceProcess

ORDERS = int(os.environ.get("BENCH_SHAPE_ORDERS", "100000"))
CONNECTIONS = 64  # in all, split evenly over the ports of a shape
EVERY_CPU = set(range(os.cpu_count() or 1))


def resident_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def process_tree(pid: int) -> list[int]:
    """`pid` and every process below it."""
    found = [pid]
    for thread in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{thread}/children") as children:
            for child in children.read().split():
                found.extend(process_tree(int(child)))
    return found


@dataclass
class Shape:
    name: str
    replicas: list[ServiceProcess]

    def processes(self) -> list[int]:
        return [pid for replica in self.replicas for pid in process_tree(replica.pid)]

    def every_process_answers(self, path: str, check: str, timeout: float = 600) -> float:
        """Seconds until 40 requests in a row on new connections (which the kernel spreads
        over the workers) to each replica answer with `check` in the body."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if all(
                all(check in httpx.get(replica.base_url + path, timeout=5).text for _ in range(40))
                for replica in self.replicas
            ):
                return time.perf_counter() - started
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: not every process answered {check!r} in {timeout} s")

    def load(self, script: Path) -> WrkRun:
        """wrk against every replica at once, CONNECTIONS split evenly; summed req/s, the
        worst p50 and p99."""
        share = CONNECTIONS // len(self.replicas)
        path = f"/api/v1/orders/bench{1:010d}"
        with ThreadPoolExecutor(len(self.replicas)) as pool:
            runs = list(
                pool.map(
                    lambda replica: wrk(
                        replica.base_url + path, SECONDS, share, script, cpus=EVERY_CPU
                    ),
                    self.replicas,
                )
            )
        return WrkRun(
            rps=sum(run.rps for run in runs),
            p50_ms=max(run.p50_ms for run in runs),
            p99_ms=max(run.p99_ms for run in runs),
            requests=sum(run.requests for run in runs),
        )


def main() -> None:
    load_before = os.getloadavg()
    servers = session.make_servers()
    shapes: list[Shape] = []
    try:
        print(f"   starting PostgreSQL and Redis under {servers.root}", flush=True)
        session.start_storage(servers)
        load_orders(servers.admin_database_url, 1, ORDERS)
        common = {"LOG_LEVEL": "WARNING", "CACHE_MAX_ENTRIES": str(2 * ORDERS)}
        shapes = [
            Shape(
                "1 replica x 2 workers",
                [session.start_query(servers, "shape-workers", wait=False, WORKERS="2", **common)],
            ),
            Shape(
                "2 replicas x 1 worker",
                [
                    session.start_query(servers, f"shape-replica-{index}", wait=False, **common)
                    for index in (1, 2)
                ],
            ),
        ]
        for shape in shapes:
            for replica in shape.replicas:
                replica.wait_ready(timeout=600)
            # Ready is one worker's answer: wait until every worker holds every order.
            shape.every_process_answers("/readyz", '"ready":true')
        with tempfile.TemporaryDirectory() as folder:
            script = random_ids_script(Path(folder), ORDERS)
            runs: dict[str, list[WrkRun]] = {}
            for _ in range(ROUNDS):
                for shape in shapes:
                    runs.setdefault(shape.name, []).append(shape.load(script))
        memory = {shape.name: [resident_mib(pid) for pid in shape.processes()] for shape in shapes}
    finally:
        for shape in shapes:
            for replica in shape.replicas:
                replica.stop()
        servers.stop_all()

    print(
        f"-- a pod's shape: cache hits for random ids of {ORDERS:,} orders, {CONNECTIONS} "
        f"connections in all, {ROUNDS} interleaved rounds x {SECONDS} s; servers and wrk "
        f"share the machine's {os.cpu_count()} CPUs (median round)"
    )
    for shape in shapes:
        run = median_run(runs[shape.name])
        print(
            f"   {shape.name}  {run.rps:9,.0f} req/s  p50 {run.p50_ms:6.2f} ms  "
            f"p99 {run.p99_ms:6.2f} ms  (rounds {[round(r.rps) for r in runs[shape.name]]})"
        )
        print(
            "     resident memory per process (MiB): "
            f"{', '.join(f'{mib:,.0f}' for mib in memory[shape.name])}"
        )
    figures.record(
        "query_shape",
        {
            "orders": ORDERS,
            "shapes": [
                {
                    "shape": shape.name,
                    **{
                        "requests_per_second": round(median_run(runs[shape.name]).rps),
                        "p50_ms": median_run(runs[shape.name]).p50_ms,
                        "p99_ms": median_run(runs[shape.name]).p99_ms,
                    },
                    "rounds_requests_per_second": [round(r.rps) for r in runs[shape.name]],
                    "resident_mib_per_process": [round(mib) for mib in memory[shape.name]],
                }
                for shape in shapes
            ],
        },
        load_before,
    )
