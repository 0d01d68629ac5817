"""A PostgreSQL switchover under load: the primary is killed with SIGKILL while orders
arrive, its synchronous standby is promoted, and the services, which reach PostgreSQL
through a connection string of both hosts (`target_session_attrs=read-write`), must find
the new primary by themselves: every acknowledged order stored once and served, none
dead-lettered, the change sequence gap-free, and readiness naming what it waits on while
there is no writable server."""

from __future__ import annotations

import time
import uuid

import httpx

from order_shared.topics import ORDERS_DLQ
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import end_offsets, read_from
from tests.soak.test_bounce import SteadyPublisher, not_served_yet
from tests.store_io import query

# How long no PostgreSQL host takes writes: from the primary's crash to the promotion.
PRIMARY_AWAY_SECONDS = 20


def stored_since(servers: Servers, prefix: str) -> dict[str, int]:
    """order_uid -> how many rows the new primary has of it, for the orders of `prefix`."""
    rows = query(
        servers.admin_database_url,
        "SELECT order_uid, count(*) FROM orders WHERE order_uid LIKE %s GROUP BY order_uid",
        (f"{prefix}-%",),
    )
    return dict(rows)


def change_sequence_gaps(servers: Servers) -> list[int]:
    """The change numbers missing between 1 and the newest one handed out (by each number's
    predecessor: linear, where `NOT IN` over a soak's 300,000 rows is quadratic)."""
    (row,) = query(
        servers.admin_database_url,
        "SELECT coalesce(array_agg(n ORDER BY n), '{}') FROM ("
        "  SELECT change_seq, lag(change_seq, 1, 0::bigint) OVER (ORDER BY change_seq) AS prev"
        "  FROM (SELECT change_seq FROM orders UNION ALL SELECT change_seq FROM erased_orders)"
        "  AS every) AS steps, generate_series(steps.prev + 1, steps.change_seq - 1) AS n"
        " WHERE steps.change_seq - steps.prev > 1",
    )
    return list(row[0])


def test_writers_find_the_promoted_standby_and_nothing_acknowledged_is_lost(
    cluster: Servers, cluster_ingestor: ServiceProcess, cluster_query: ServiceProcess
) -> None:
    prefix = f"switchover-{uuid.uuid4().hex[:8]}"
    dlq_start = end_offsets(cluster.kafka_bootstrap, ORDERS_DLQ)
    publisher = SteadyPublisher(cluster.kafka_bootstrap, prefix)
    publisher.start()
    readiness_while_away: list[dict] = []
    try:
        time.sleep(5)
        old_primary = cluster.primary
        cluster.kill(old_primary)
        killed_at = time.monotonic()
        # Until the promotion no host takes writes: readiness must say which and why.
        readiness_while_away.append(eventually(lambda: _waiting_on_database(cluster_ingestor)))
        # Long enough for reconnection attempts to back off, as a promotion that waits for
        # an operator or a failover timeout would.
        time.sleep(max(0.0, killed_at + PRIMARY_AWAY_SECONDS - time.monotonic()))
        cluster.promote_standby()
        promoted_at = time.monotonic()
        # An order sent after the promotion is written on the new primary within seconds.
        newest = f"{prefix}-{len(publisher.sent)}"
        eventually(lambda: _all_stored(cluster, prefix, {newest}), timeout=60, interval=0.1)
        recovered_after = time.monotonic() - promoted_at
        time.sleep(3)
    finally:
        publisher.stop()

    expected = {uid: publisher.sent[uid] for uid in publisher.acknowledged}
    stored = eventually(lambda: _all_stored(cluster, prefix, set(expected)), timeout=30)
    print(
        f"\nswitchover: primary killed, standby promoted {promoted_at - killed_at:.1f} s later,"
        f" the ingestor writing again {recovered_after:.1f} s after that;"
        f" {len(expected)} acknowledged orders, all stored"
    )
    assert [uid for uid, rows in stored.items() if rows != 1] == []  # none twice
    assert set(stored) - set(publisher.sent) == set()  # none unexpected
    assert change_sequence_gaps(cluster) == []
    eventually(lambda: not_served_yet(cluster_query, expected) == {}, timeout=30)
    dead_lettered = [
        message
        for message in read_from(
            cluster.kafka_bootstrap, ORDERS_DLQ, dlq_start, count=10**9, timeout=5
        )
        if (message.key or b"").startswith(prefix.encode())
    ]
    assert dead_lettered == []
    (report,) = readiness_while_away
    assert report["ready"] is False
    # libpq's account of each host: the killed one refuses, the standby is read-only.
    assert "read-only" in report["database_problem"]
    assert f"port {cluster.ports.port_of(old_primary)}" in report["database_problem"]
    assert eventually(lambda: _readiness(cluster_ingestor)["database_problem"] is None)


def _readiness(service: ServiceProcess) -> dict:
    return httpx.get(f"{service.base_url}/readyz", timeout=5).json()


def _waiting_on_database(service: ServiceProcess) -> dict:
    report = _readiness(service)
    assert report["database_problem"], report
    return report


def _all_stored(cluster: Servers, prefix: str, expected: set[str]) -> dict[str, int]:
    stored = stored_since(cluster, prefix)
    missing = expected - set(stored)
    assert not missing, f"{len(missing)} acknowledged orders not stored yet"
    return stored
