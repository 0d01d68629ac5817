"""`make soak`: the bounce test on the cluster, Jepsen-style.

Orders with unique ids are published at SOAK_RATE per second (default 1,000) for
SOAK_SECONDS (default 300) to three brokers (replication factor 3,
`min.insync.replicas=2`, `acks=all`) while at least 20 faults hit the stack one after
another: each broker killed with SIGKILL in turn, brokers cut off the network, the
PostgreSQL primary killed and its standby promoted (the old primary then rebuilt as the
new standby), the ingestor and a query replica cut off the network, the single-node
faults (the ingestor killed, a second ingestor joining and leaving, a replica frozen,
Redis killed). Then: lost = none, unexpected = none, none dead-lettered, every replica
serves every acknowledged order byte for byte, the change sequence has no gap, and the
time from the end of the last fault until every replica serves the newest acknowledged
order is printed (aim: under 5 s).

Not part of `make test` (it takes about six minutes): `make soak` sets ORDER_SOAK=1.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import httpx
import msgspec
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from order_shared.model import encode_order
from order_shared.topics import ORDERS, ORDERS_DLQ
from producer.generator import generate_order
from tests.cluster.test_postgres_switchover import change_sequence_gaps
from tests.harness import Servers, ServiceProcess, make_servers, start_service
from tests.kafka_io import end_offsets, read_from
from tests.partitions import Cgroup, partitions_available
from tests.store_io import query

RATE = int(os.environ.get("SOAK_RATE", "1000"))
SECONDS = float(os.environ.get("SOAK_SECONDS", "300"))
PARTITION_SECONDS = 10.0
FREEZE_SECONDS = 8.0
CONVERGENCE_LIMIT_SECONDS = 120.0

pytestmark = pytest.mark.skipif(
    os.environ.get("ORDER_SOAK") != "1", reason="the soak runs with `make soak` (ORDER_SOAK=1)"
)


@dataclass
class RatePublisher:
    """Publishes fresh orders at `rate` per second from its own thread and event loop
    (`acks=all`, idempotent), remembering what was sent and what the brokers acknowledged,
    in send order."""

    bootstrap: str
    prefix: str
    rate: int
    sent: dict[str, bytes] = field(default_factory=dict)
    acknowledged: set[str] = field(default_factory=set)
    newest_acknowledged: int = -1
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=asyncio.run, args=(self._publish(),), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=180)

    async def _publish(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            request_timeout_ms=30_000,
        )
        await producer.start()
        rng = random.Random(self.prefix)
        template = generate_order(rng)
        pending: set[asyncio.Future] = set()
        try:
            number = 0
            started = time.monotonic()
            while not self._stop.is_set():
                # Each tick sends what the rate asks for by now (at most a second's worth).
                due = int((time.monotonic() - started) * self.rate)
                for _ in range(min(due - number, self.rate)):
                    order_uid = f"{self.prefix}-{number}"
                    order = msgspec.structs.replace(template, order_uid=order_uid)
                    document = encode_order(order)
                    self.sent[order_uid] = document
                    try:
                        delivery = await producer.send(
                            ORDERS, value=document, key=order_uid.encode()
                        )
                    except KafkaError:
                        number += 1
                        continue
                    delivery.add_done_callback(self._on_delivery(order_uid, number))
                    pending.add(delivery)
                    delivery.add_done_callback(pending.discard)
                    number += 1
                await asyncio.sleep(0.005)
            if pending:
                await asyncio.wait(pending, timeout=120)
        finally:
            await producer.stop()

    def _on_delivery(self, order_uid: str, number: int) -> Callable[[asyncio.Future], None]:
        def record(delivery: asyncio.Future) -> None:
            if not delivery.cancelled() and delivery.exception() is None:
                self.acknowledged.add(order_uid)
                self.newest_acknowledged = max(self.newest_acknowledged, number)

        return record


async def _not_served(
    replica: ServiceProcess, expected: dict[str, bytes], concurrency: int = 16
) -> set[str]:
    """The orders `replica` does not serve byte for byte."""
    missing: set[str] = set()
    queue = list(expected.items())
    async with httpx.AsyncClient(base_url=replica.base_url, timeout=10) as client:

        async def worker() -> None:
            while queue:
                order_uid, document = queue.pop()
                try:
                    response = await client.get(f"/api/v1/orders/{order_uid}")
                except httpx.HTTPError:
                    missing.add(order_uid)
                    continue
                if response.status_code != 200 or response.content != document:
                    missing.add(order_uid)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return missing


async def _not_served_pipelined(
    replica: ServiceProcess, expected: dict[str, bytes], connections: int = 4, depth: int = 200
) -> set[str]:
    """As `_not_served`, with HTTP/1.1 requests pipelined `depth` at a time on a few
    keep-alive connections: some ten times fewer CPU seconds than a client that waits for
    each answer, which a check of every order of a five-minute run at 1,000/s needs on 2
    cores. Whatever this reads badly counts as not served (and is asked again by
    `_not_served`)."""
    items = list(expected.items())
    missing: set[str] = set()

    async def one(chunk: list[tuple[str, bytes]]) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", replica.port)
        except OSError:
            missing.update(uid for uid, _ in chunk)
            return
        done = 0
        try:
            for start in range(0, len(chunk), depth):
                batch = chunk[start : start + depth]
                writer.write(
                    b"".join(
                        f"GET /api/v1/orders/{uid} HTTP/1.1\r\nHost: soak\r\n\r\n".encode()
                        for uid, _ in batch
                    )
                )
                await writer.drain()
                for uid, document in batch:
                    status = int((await reader.readline()).split()[1])
                    length = 0
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        name, _, value = line.decode("latin-1").partition(":")
                        if name.strip().lower() == "content-length":
                            length = int(value)
                    body = await reader.readexactly(length) if length else b""
                    if status != 200 or body != document:
                        missing.add(uid)
                    done += 1
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            missing.update(uid for uid, _ in chunk[done:])
        finally:
            writer.close()

    await asyncio.gather(*(one(items[index::connections]) for index in range(connections)))
    return missing


def not_served(replica: ServiceProcess, expected: dict[str, bytes]) -> set[str]:
    """The orders `replica` does not serve byte for byte: a pipelined pass over all, then
    what it found missing asked again one request at a time."""
    suspects = asyncio.run(_not_served_pipelined(replica, expected))
    return asyncio.run(_not_served(replica, {uid: expected[uid] for uid in suspects}))


def _served_everywhere_after(
    publisher: RatePublisher, replicas: list[ServiceProcess], since: float
) -> float:
    """Seconds from `since` until every replica serves the newest order acknowledged at
    `since`, byte for byte (infinity if not within CONVERGENCE_LIMIT_SECONDS)."""
    newest = f"{publisher.prefix}-{publisher.newest_acknowledged}"
    expected = {newest: publisher.sent[newest]}
    while any(not_served(replica, expected) for replica in replicas):
        if time.monotonic() - since > CONVERGENCE_LIMIT_SECONDS:
            return float("inf")
        time.sleep(0.05)
    return time.monotonic() - since


@pytest.fixture
def soak_stack() -> Iterator[tuple[Servers, dict[str, Cgroup], list[ServiceProcess]]]:
    """The cluster with broker 2 and 3, the ingestor and the first replica each started in
    a cgroup of its own (to be cut off); everything stopped and removed afterwards."""
    reason = partitions_available()
    if reason:
        pytest.fail(reason)
    with ExitStack() as cleanup:
        groups = {}
        for label in ("kafka-2", "kafka-3", "ingestor", "query-1"):
            groups[label] = Cgroup(label)
            cleanup.callback(groups[label].remove)
        servers = make_servers(cluster=True)
        servers.wrappers = {name: groups[name].wrap for name in ("kafka-2", "kafka-3")}
        cleanup.callback(servers.stop_all)
        servers.start_all()
        ingestor = start_service(servers, "ingestor", "soak-ingestor", wrap=groups["ingestor"].wrap)
        cleanup.callback(ingestor.stop)
        replicas = []
        for index in (1, 2):
            label = f"query-{index}"
            replica = start_service(
                servers,
                "query",
                f"soak-{label}",
                wrap=groups[label].wrap if label in groups else None,
                RESYNC_INTERVAL_SECONDS="1",
            )
            cleanup.callback(replica.stop)
            replicas.append(replica)
        yield servers, groups, [ingestor, *replicas]


@pytest.mark.timeout(3600)
def test_the_cluster_keeps_every_acknowledged_order_through_twenty_faults(
    soak_stack: tuple[Servers, dict[str, Cgroup], list[ServiceProcess]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    servers, groups, (ingestor, *replicas) = soak_stack
    prefix = f"soak-{uuid.uuid4().hex[:8]}"
    dlq_start = end_offsets(servers.kafka_bootstrap, ORDERS_DLQ)
    publisher = RatePublisher(servers.kafka_bootstrap, prefix, RATE)
    second: list[ServiceProcess] = []
    log: list[str] = []

    def kill_broker(name: str) -> Callable[[], None]:
        def fault() -> None:
            servers.kill(name)
            servers.start(name)

        return fault

    def cut_off(label: str) -> Callable[[], None]:
        def fault() -> None:
            with groups[label].cut_off():
                time.sleep(PARTITION_SECONDS)

        return fault

    def crash_ingestor() -> None:
        ingestor.kill()
        ingestor.restart()

    def freeze(replica: ServiceProcess) -> Callable[[], None]:
        def fault() -> None:
            replica.freeze()
            try:
                time.sleep(FREEZE_SECONDS)
            finally:
                replica.thaw()

        return fault

    def second_joins() -> None:
        second.append(start_service(servers, "ingestor", "soak-ingestor-2", wait=False))

    def second_leaves() -> None:
        second.pop().stop()

    def switchover() -> None:
        servers.kill(servers.primary)
        servers.promote_standby()
        servers.rebuild_standby()

    def crash_redis() -> None:
        servers.kill("redis")
        servers.start("redis")

    faults: list[tuple[str, Callable[[], None]]] = [
        ("kafka-1 SIGKILL", kill_broker("kafka-1")),
        ("ingestor SIGKILL", crash_ingestor),
        ("kafka-2 SIGKILL", kill_broker("kafka-2")),
        ("query-1 frozen", freeze(replicas[0])),
        ("kafka-3 SIGKILL", kill_broker("kafka-3")),
        ("kafka-2 partitioned", cut_off("kafka-2")),
        ("PostgreSQL primary SIGKILL, standby promoted, old primary rebuilt", switchover),
        ("ingestor partitioned", cut_off("ingestor")),
        ("second ingestor joins", second_joins),
        ("query-1 partitioned", cut_off("query-1")),
        ("second ingestor leaves", second_leaves),
        ("redis SIGKILL", crash_redis),
        ("ingestor SIGKILL", crash_ingestor),
        ("kafka-3 partitioned", cut_off("kafka-3")),
        ("PostgreSQL primary SIGKILL, standby promoted, old primary rebuilt", switchover),
        ("query-2 frozen", freeze(replicas[1])),
        ("ingestor partitioned", cut_off("ingestor")),
        ("second ingestor joins", second_joins),
        ("kafka-1 SIGKILL", kill_broker("kafka-1")),
        ("second ingestor leaves", second_leaves),
        ("query-1 partitioned", cut_off("query-1")),
        ("ingestor SIGKILL", crash_ingestor),
    ]
    spacing = (SECONDS - 20) / len(faults)
    started = time.monotonic()
    publisher.start()
    try:
        for index, (name, fault) in enumerate(faults):
            time.sleep(max(0.0, started + 10 + index * spacing - time.monotonic()))
            began = time.monotonic() - started
            fault()
            log.append(f"{began:6.1f} s  {name} ({time.monotonic() - started - began:.1f} s)")
        # The convergence figure: from the end of the last fault until every replica
        # serves the newest order acknowledged by then (orders keep arriving meanwhile).
        last_fault_over = time.monotonic()
        converged_after = _served_everywhere_after(publisher, replicas, last_fault_over)
        time.sleep(max(0.0, started + SECONDS - time.monotonic()))
    finally:
        publisher.stop()
        for process in second:
            process.stop()
    published_for = time.monotonic() - started
    # And after the last send: the newest acknowledged order of the whole run.
    converged_after_stop = _served_everywhere_after(publisher, replicas, time.monotonic())

    expected = {uid: publisher.sent[uid] for uid in publisher.acknowledged}
    lost: set[str] = set()
    for replica in replicas:
        missing = not_served(replica, expected)
        retry_until = time.monotonic() + 60
        while missing and time.monotonic() < retry_until:
            time.sleep(1)
            missing = not_served(replica, {uid: expected[uid] for uid in missing})
        lost |= missing
    stored = {
        uid
        for (uid,) in query(
            servers.admin_database_url,
            "SELECT order_uid FROM orders WHERE order_uid LIKE %s",
            (f"{prefix}-%",),
        )
    }
    unexpected = stored - set(publisher.sent)
    dead_lettered = [
        message
        for message in read_from(
            servers.kafka_bootstrap, ORDERS_DLQ, dlq_start, count=10**9, timeout=5
        )
        if (message.key or b"").startswith(prefix.encode())
    ]
    gaps = change_sequence_gaps(servers)
    with capsys.disabled():
        print("\nsoak faults (start, what, how long):\n  " + "\n  ".join(log))
        print(
            f"soak: {RATE}/s for {published_for:.0f} s, {len(faults)} faults;"
            f" sent {len(publisher.sent)}, acknowledged {len(expected)},"
            f" stored {len(stored)}, lost {len(lost)}, unexpected {len(unexpected)},"
            f" dead-lettered {len(dead_lettered)}, change_seq gaps {len(gaps)};"
            f" every replica served the newest acknowledged order {converged_after:.1f} s"
            f" after the last fault ended ({converged_after_stop:.1f} s after the last send)"
        )

    assert len(faults) >= 20
    assert len(expected) > RATE * SECONDS * 0.5  # the run published for real
    assert lost == set()
    assert unexpected == set()
    assert dead_lettered == []
    assert gaps == []
