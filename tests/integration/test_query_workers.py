"""A query replica with several granian worker processes (WORKERS=2): each worker is a
process of its own with its own informer and cache, so each must warm up, see new orders
and see changes on its own; one port serves them all."""

from __future__ import annotations

import contextlib
import json
import os
import random
from collections.abc import Iterator

import httpx
import pytest

from order_shared.model import encode_order
from order_shared.topics import ORDER_STATUS, ORDERS
from producer.generator import generate_order
from tests.harness import Servers, ServiceProcess, eventually, start_query
from tests.kafka_io import Message, publish

WORKERS = 2


def process_tree(pid: int) -> list[int]:
    """`pid` and every process below it."""
    found = [pid]
    for thread in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{thread}/children") as children:
            for child in children.read().split():
                found.extend(process_tree(int(child)))
    return found


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def server_side_inode(client_port: int, server_port: int) -> int:
    """The inode of the server's end of the loopback connection from `client_port`."""
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.split(":")[1], 16) == server_port and (
                int(remote.split(":")[1], 16) == client_port
            ):
                return int(fields[9])
    raise AssertionError(f"no connection from port {client_port} to {server_port}")


@contextlib.contextmanager
def one_connection_per_worker(replica: ServiceProcess) -> Iterator[list[httpx.Client]]:
    """Kept-alive connections opened until each worker process holds one of them (the
    kernel hands each new connection to one worker): one client per worker."""
    workers = process_tree(replica.pid)[1:]
    chosen: dict[int, httpx.Client] = {}
    opened: list[httpx.Client] = []
    try:
        while len(chosen) < len(workers) and len(opened) < 200:
            client = httpx.Client(base_url=replica.base_url, timeout=10)
            opened.append(client)
            response = client.get("/healthz")
            client_port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
            inode = server_side_inode(client_port, replica.port)
            owner = next(pid for pid in workers if inode in socket_inodes(pid))
            chosen.setdefault(owner, client)
        assert len(chosen) == len(workers), f"200 connections did not reach each of {workers}"
        yield list(chosen.values())
    finally:
        for client in opened:
            client.close()


@pytest.fixture(scope="module")
def replica(servers: Servers, ingestor: ServiceProcess) -> Iterator[ServiceProcess]:
    running = start_query(servers, "query-workers", WORKERS=str(WORKERS))
    yield running
    running.stop()


def test_the_replica_runs_one_process_per_worker(replica: ServiceProcess) -> None:
    assert len(process_tree(replica.pid)) == 1 + WORKERS


def test_a_new_order_and_its_status_change_reach_every_worker(
    servers: Servers, replica: ServiceProcess
) -> None:
    order = generate_order(random.Random(9904))
    uid = order.order_uid
    publish(servers.kafka_bootstrap, ORDERS, [Message(uid.encode(), encode_order(order))])

    with one_connection_per_worker(replica) as workers:
        for worker in workers:
            eventually(lambda w=worker: w.get(f"/api/v1/orders/{uid}").status_code == 200)

        change = {"order_uid": uid, "status": "cancelled", "changed_at": "2026-11-21T10:00:00Z"}
        publish(
            servers.kafka_bootstrap,
            ORDER_STATUS,
            [Message(uid.encode(), json.dumps(change).encode())],
        )

        # Each worker's own informer must see the change: the order is in its cache now.
        for worker in workers:
            eventually(
                lambda w=worker: (
                    w.get(f"/api/v1/orders/{uid}/status").json()["status"] == "cancelled"
                )
            )
