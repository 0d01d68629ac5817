"""Freshness benchmark: how soon an order committed by the ingestor is served by every
query replica, with orders arriving at a steady rate.

Real Kafka, PostgreSQL and Redis on free ports, the ingestor and two query replicas as
processes (devstack.session, as the tests do). The product's publisher
(`producer.publisher.publish`, what `order-producer` runs) sends generated orders to
`orders` at BENCH_FRESHNESS_RATE per second (default 1,000) for BENCH_FRESHNESS_SECONDS
(default 30). Each replica measures every announcement it applies: seconds from the
ingestor's database commit (carried in the announcement) to the apply, after which the
order is served from memory. The figures are p50 and p99 of that, per replica, from the
difference of its `query_announcement_freshness_seconds` histogram before and after,
interpolated within buckets as Prometheus's `histogram_quantile` does.
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench import figures
from devstack import session
from devstack.readiness import wait_until
from order_shared.topics import ORDERS
from producer.__main__ import generated_documents
from producer.publisher import publish

RATE = float(os.environ.get("BENCH_FRESHNESS_RATE", "1000"))
SECONDS = int(os.environ.get("BENCH_FRESHNESS_SECONDS", "30"))
FRESHNESS = "query_announcement_freshness_seconds"
SEED = 9690


def freshness_buckets(replica: session.ServiceProcess) -> dict[float, float]:
    """The replica's cumulative freshness buckets: upper bound -> count."""
    text = httpx.get(f"{replica.base_url}/metrics", timeout=10).text
    return {
        float(sample.labels["le"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == f"{FRESHNESS}_bucket"
    }


def quantile(q: float, buckets: dict[float, float]) -> float:
    """`histogram_quantile(q, ...)` over cumulative buckets."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            if bound == float("inf"):
                return lower  # beyond the last finite bound: its value is all we know
            inside = buckets[bound] - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, buckets[bound]
    return lower


def main() -> None:
    load_before = os.getloadavg()
    servers = session.make_servers()
    replicas: list[session.ServiceProcess] = []
    ingestor = None
    try:
        print(f"   starting Kafka, PostgreSQL and Redis under {servers.root}", flush=True)
        servers.start_all()
        ingestor = session.start_ingestor(servers, "bench-ingestor", LOG_LEVEL="WARNING")
        replicas = [
            session.start_query(
                servers, f"bench-query-{index}", RESYNC_INTERVAL_SECONDS="5", LOG_LEVEL="WARNING"
            )
            for index in (1, 2)
        ]
        # A first small burst, untimed: topic metadata, pools and JIT-free warm paths.
        asyncio.run(publish(servers.kafka_bootstrap, ORDERS, generated_documents(200, SEED)))
        time.sleep(3)
        before = [freshness_buckets(replica) for replica in replicas]
        count = int(RATE * SECONDS)
        started = time.monotonic()
        sent = asyncio.run(
            publish(
                servers.kafka_bootstrap,
                ORDERS,
                generated_documents(count, SEED + 1),
                rate=RATE,
            )
        )
        elapsed = time.monotonic() - started

        def every_replica_applied_all() -> bool:
            return all(
                freshness_buckets(replica)[float("inf")] - earlier[float("inf")] >= sent
                for replica, earlier in zip(replicas, before, strict=True)
            )

        wait_until(every_replica_applied_all, what="every replica applying", timeout=300)
        after = [freshness_buckets(replica) for replica in replicas]
    finally:
        for replica in replicas:
            replica.stop()
        if ingestor is not None:
            ingestor.stop()
        servers.stop_all()

    print(
        f"-- freshness: {sent:,} orders published at {sent / elapsed:,.0f}/s "
        f"(asked {RATE:,.0f}/s for {SECONDS} s) with producer.publisher; seconds from the "
        "ingestor's commit to each replica's apply (then served from memory)"
    )
    per_replica = []
    for index, (earlier, later) in enumerate(zip(before, after, strict=True), start=1):
        delta = {bound: later[bound] - earlier.get(bound, 0.0) for bound in later}
        print(
            f"   replica {index}: p50 {quantile(0.5, delta) * 1000:7.1f} ms   "
            f"p99 {quantile(0.99, delta) * 1000:7.1f} ms   ({delta[float('inf')]:,.0f} applied)"
        )
        per_replica.append(
            {
                "replica": index,
                "applied": delta[float("inf")],
                "p50_ms": round(quantile(0.5, delta) * 1000, 2),
                "p99_ms": round(quantile(0.99, delta) * 1000, 2),
                # Cumulative counts by upper bound in seconds, as Prometheus keeps them.
                "buckets": [
                    {"le": "+Inf" if bound == float("inf") else bound, "count": delta[bound]}
                    for bound in sorted(delta)
                ],
            }
        )
    figures.record(
        "freshness",
        {
            "orders": sent,
            "rate_asked_per_second": RATE,
            "rate_sent_per_second": round(sent / elapsed, 1),
            "replicas": per_replica,
        },
        load_before,
    )
