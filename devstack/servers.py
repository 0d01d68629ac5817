"""The servers our services need — PostgreSQL, Redis and Kafka — for `make up`, the tests
and the benchmarks alike: their ports, how to run each and when each is ready."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devstack import kafka_broker, postgres, redis_server
from devstack.process import ServerCommand

REPO = Path(__file__).resolve().parents[1]
# The broker's jars, fetched once per checkout and shared by every stack.
KAFKA_LIBS = REPO / ".state" / "kafka-libs"

SERVER_NAMES = ("postgres", "redis", "kafka")


@dataclass(frozen=True)
class ServerPorts:
    """Where the servers listen on 127.0.0.1 (the defaults are `make up`'s)."""

    postgres: int = 5432
    redis: int = 6379
    kafka: int = 9092
    kafka_controller: int = 9093

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka}"

    @property
    def redis_url(self) -> str:
        return redis_server.url(self.redis)

    @property
    def admin_database_url(self) -> str:
        return postgres.admin_url(self.postgres)

    def database_url(self, user: str) -> str:
        return postgres.service_url(self.postgres, user)


def fetch_once() -> None:
    """Fetch what the servers need once per checkout: the Kafka broker's pinned jars."""
    kafka_broker.ensure_jars(KAFKA_LIBS)


def server_command(name: str, ports: ServerPorts, data_root: Path) -> ServerCommand:
    """How to run server `name` with its data in `data_root / name` (prepared on first use)."""
    if name == "postgres":
        return postgres.prepare_server(data_root / "postgres", ports.postgres)
    if name == "redis":
        return redis_server.prepare_server(data_root / "redis", ports.redis)
    if name == "kafka":
        libs = kafka_broker.ensure_jars(KAFKA_LIBS)
        argv = kafka_broker.prepare_broker(
            libs, data_root / "kafka", ports.kafka, ports.kafka_controller
        )
        return ServerCommand("kafka", argv)
    raise ValueError(f"no server {name!r}: one of {', '.join(SERVER_NAMES)}")


def wait_until_server_ready(name: str, ports: ServerPorts) -> None:
    if name == "postgres":
        postgres.wait_until_ready(ports.postgres)
    elif name == "redis":
        redis_server.wait_until_ready(ports.redis)
    elif name == "kafka":
        kafka_broker.wait_until_ready(ports.kafka_bootstrap, timeout=120)
    else:
        raise ValueError(f"no server {name!r}: one of {', '.join(SERVER_NAMES)}")
