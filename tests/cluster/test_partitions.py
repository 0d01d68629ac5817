"""The soak's network partitions: a process cut off answers nothing while it is, and
everything is put back afterwards (rule, cgroup), even when the body fails."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from tests.harness import free_port
from tests.partitions import cgroup, cgroup2_mount, partitions_available


@pytest.fixture
def listener() -> subprocess.Popen:
    reason = partitions_available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    port = free_port()
    with cgroup("probe") as group:
        server = subprocess.Popen(
            group.wrap([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server.port = port  # type: ignore[attr-defined]
        server.group = group  # type: ignore[attr-defined]
        for _ in range(100):
            if _answers(port):
                break
            time.sleep(0.1)
        yield server
        server.kill()
        server.wait()
    assert _leftovers() == ([], [])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
            return sock.recv(12).startswith(b"HTTP/")
    except OSError:
        return False


def _leftovers() -> tuple[list[str], list[str]]:
    mount = cgroup2_mount()
    assert mount is not None
    rules = subprocess.run(["iptables", "-S", "OUTPUT"], capture_output=True, text=True)
    groups = [path.name for path in mount.glob("order-partition-*")]
    return [line for line in rules.stdout.splitlines() if "order-partition-" in line], groups


def test_a_partitioned_process_answers_nothing_until_the_partition_heals(
    listener: subprocess.Popen,
) -> None:
    port = listener.port  # type: ignore[attr-defined]
    assert _answers(port)
    with listener.group.cut_off():  # type: ignore[attr-defined]
        assert not _answers(port)
    assert _answers(port)


def test_the_partition_is_undone_when_the_body_fails(listener: subprocess.Popen) -> None:
    with pytest.raises(RuntimeError), listener.group.cut_off():  # type: ignore[attr-defined]
        raise RuntimeError("a fault test that failed half way")
    assert _answers(listener.port)  # type: ignore[attr-defined]
    rules, _ = _leftovers()
    assert rules == []
