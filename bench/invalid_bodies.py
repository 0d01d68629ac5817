"""Invalid bodies benchmark: what maximum-size invalid command bodies cost the cached reads
of the same replica.

One replica holding BENCH_INVALID_ORDERS orders (written straight into PostgreSQL, as
bench.query does) serves cache hits of random ids to wrk (pinned to its own core, the
replica to the other) for BENCH_SECONDS, twice: alone, then while another client (one
token) posts bodies as fast as the rate limit allows (COMMAND_RATE_PER_MINUTE, the
default 600 a minute), in BENCH_ROUNDS interleaved rounds (default 3) so that other
load on the machine hits both; the median round's p50 and p99 are printed. Two kinds of
invalid body, each a 422:

* the largest a command may be (MAX_MESSAGE_BYTES, 1 MiB): an order whose items are
  empty objects, 349,000 of them (the issue's case: a minute on the event loop before
  the validator's bound);
* the costliest the validator still walks: 64 KiB with 1,000 problems to count.

    BENCH_SECONDS=10 uv run python -m bench invalid_bodies
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from bench import figures
from bench.query import (
    SERVER_CPU,
    WRK_CPU,
    load_orders,
    median_run,
    pin,
    random_ids_script,
    wrk,
)
from devstack import session
from order_shared.validation import WALK_MAX_BYTES
from producer.demo import canonical_order

ORDERS = int(os.environ.get("BENCH_INVALID_ORDERS", "20000"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
RATE_PER_MINUTE = 600  # the service's default COMMAND_RATE_PER_MINUTE
TOKEN = secrets.token_urlsafe(32)


def largest_body() -> bytes:
    document = json.loads(canonical_order())
    document["items"] = [{}] * 349_000
    body = json.dumps(document, separators=(",", ":")).encode()
    assert len(body) <= 1_048_576
    return body


def costliest_walked_body() -> bytes:
    document = json.loads(canonical_order())
    wrong = {name: [] for name in document["items"][0]}  # every field of the wrong type
    document["items"] = [wrong] * 1000
    while len(json.dumps(document)) > WALK_MAX_BYTES:
        document["items"].pop()
    return json.dumps(document).encode()


class Sender(threading.Thread):
    """Posts `body` RATE_PER_MINUTE times a minute until stopped; counts the answers."""

    def __init__(self, base_url: str, body: bytes) -> None:
        super().__init__(daemon=True)
        self._base_url = base_url
        self._body = body
        self.stop = threading.Event()
        self.statuses: dict[int, int] = {}

    def run(self) -> None:
        os.sched_setaffinity(0, {WRK_CPU})
        interval = 60 / RATE_PER_MINUTE
        headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
        with httpx.Client(base_url=self._base_url, timeout=60) as client:
            next_at = time.monotonic()
            while not self.stop.is_set():
                response = client.post("/api/v1/orders", content=self._body, headers=headers)
                self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
                next_at += interval
                self.stop.wait(max(0.0, next_at - time.monotonic()))


def main() -> None:
    load_before = os.getloadavg()
    measured = []
    if SERVER_CPU == WRK_CPU:
        raise SystemExit("this benchmark needs two CPUs: one for wrk, one for the server")
    print(
        f"== invalid bodies: cache hits of {ORDERS:,} orders by wrk, alone and while one "
        f"client posts invalid bodies at {RATE_PER_MINUTE} a minute =="
    )
    servers = session.make_servers()
    try:
        session.start_storage(servers)
        load_orders(servers.admin_database_url, 1, ORDERS)
        replica = session.start_query(
            servers, "bench-invalid", wait=False, API_TOKENS=TOKEN, LOG_LEVEL="WARNING"
        )
        try:
            replica.wait_ready(timeout=600)
            pin(replica.pid)
            with tempfile.TemporaryDirectory() as folder:
                script = random_ids_script(Path(folder), ORDERS)
                url = replica.base_url + "/api/v1/orders/bench0000000001"
                wrk(url, 1, script=script)  # warm up
                for name, body in (
                    (f"{len(largest_body()):,}-byte body of empty items", largest_body()),
                    (
                        f"{len(costliest_walked_body()):,}-byte body walked to 1,000 problems",
                        costliest_walked_body(),
                    ),
                ):
                    alone_runs, loaded_runs, statuses = [], [], Counter[int]()
                    for _ in range(ROUNDS):
                        alone_runs.append(wrk(url, SECONDS, script=script))
                        sender = Sender(replica.base_url, body)
                        sender.start()
                        try:
                            loaded_runs.append(wrk(url, SECONDS, script=script))
                        finally:
                            sender.stop.set()
                            sender.join()
                        statuses.update(sender.statuses)
                    alone, loaded = median_run(alone_runs), median_run(loaded_runs)
                    measured.append(
                        {
                            "body": name,
                            "answers": {str(k): v for k, v in sorted(statuses.items())},
                            "reads_alone": {
                                "requests_per_second": round(alone.rps),
                                "p50_ms": alone.p50_ms,
                                "p99_ms": alone.p99_ms,
                            },
                            "reads_beside_bodies": {
                                "requests_per_second": round(loaded.rps),
                                "p50_ms": loaded.p50_ms,
                                "p99_ms": loaded.p99_ms,
                            },
                        }
                    )
                    print(
                        f"-- {name}: cached reads p99 {alone.p99_ms:.2f} ms alone, "
                        f"{loaded.p99_ms:.2f} ms beside the bodies (p50 {alone.p50_ms:.2f} / "
                        f"{loaded.p50_ms:.2f} ms; {alone.rps:,.0f} / {loaded.rps:,.0f} req/s; "
                        f"answers to the bodies {dict(sorted(statuses.items()))}; p99 per "
                        f"round {[round(r.p99_ms, 1) for r in alone_runs]} / "
                        f"{[round(r.p99_ms, 1) for r in loaded_runs]})",
                        flush=True,
                    )
        finally:
            replica.stop()
    finally:
        servers.stop_all()
    figures.record("invalid_bodies", {"orders": ORDERS, "bodies": measured}, load_before)


if __name__ == "__main__":
    main()
