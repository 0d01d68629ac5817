"""A Redis server from Debian's packages, its data in a folder of ours.

Bounded like every deployment's (Compose, the chart's dev Redis): MAXMEMORY with the
`noeviction` policy, so that nothing that must stay (a live Idempotency-Key claim, a
rate-limit window) is ever evicted; at the limit Redis refuses writes instead, which the
query service counts and notes in its readiness (docs/operations/redis-memory.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from devstack.process import ServerCommand
from devstack.readiness import wait_until

MAXMEMORY = "256mb"
MAXMEMORY_POLICY = "noeviction"


def prepare_server(data_dir: Path, port: int) -> ServerCommand:
    """How to run Redis in the foreground on 127.0.0.1:port."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError("redis-server not found: install Debian's `redis-server` package")
    data_dir.mkdir(parents=True, exist_ok=True)
    return ServerCommand(
        "redis",
        [
            executable,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data_dir),
            "--save",
            "60 1",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--protected-mode",
            "yes",
            "--maxmemory",
            MAXMEMORY,
            "--maxmemory-policy",
            MAXMEMORY_POLICY,
        ],
    )


def url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


def wait_until_ready(port: int, timeout: float = 30.0) -> None:
    with redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1) as client:
        wait_until(
            client.ping,
            what=f"Redis on port {port}",
            timeout=timeout,
            interval=0.1,
            retry_on=redis.ConnectionError,
        )
