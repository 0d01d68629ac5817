"""The servers our services need — PostgreSQL, Redis and Kafka — for `make up`, the tests
and the benchmarks alike: their ports, how to run each and when each is ready.

A single node of each by default. The cluster variant (`ServerPorts.cluster`, `make up
CLUSTER=1`) runs three Kafka brokers (replication factor 3, `min.insync.replicas=2`) and a
PostgreSQL primary with a synchronous streaming standby, and gives the services a
bootstrap list of every broker and a connection string of both PostgreSQL hosts that
finds the writable one (`target_session_attrs=read-write`).
"""

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
    """Where the servers listen on 127.0.0.1 (the defaults are `make up`'s).

    In a cluster `postgres` is the first PostgreSQL node (the primary at first) and
    `postgres_standby` the second; `kafka_more` holds the (port, controller port) of the
    brokers after the first."""

    postgres: int = 5432
    redis: int = 6379
    kafka: int = 9092
    kafka_controller: int = 9093
    postgres_standby: int | None = None
    kafka_more: tuple[tuple[int, int], ...] = ()

    @classmethod
    def cluster(cls) -> ServerPorts:
        """`make up CLUSTER=1`'s ports: two PostgreSQL nodes and three brokers."""
        return cls(postgres_standby=5433, kafka_more=((9094, 9095), (9096, 9097)))

    @property
    def is_cluster(self) -> bool:
        return self.postgres_standby is not None

    @property
    def brokers(self) -> tuple[tuple[int, int], ...]:
        """(port, controller port) of every broker, node 1 first."""
        return ((self.kafka, self.kafka_controller), *self.kafka_more)

    @property
    def postgres_nodes(self) -> tuple[int, ...]:
        return (
            (self.postgres,)
            if self.postgres_standby is None
            else (
                self.postgres,
                self.postgres_standby,
            )
        )

    @property
    def server_names(self) -> tuple[str, ...]:
        """Every server, in start order: in a cluster `postgres-1` (primary), `postgres-2`
        (its standby), `redis`, `kafka-1`...; else SERVER_NAMES."""
        if not self.is_cluster:
            return SERVER_NAMES
        return (
            "postgres-1",
            "postgres-2",
            "redis",
            *(f"kafka-{node}" for node in range(1, len(self.brokers) + 1)),
        )

    def port_of(self, name: str) -> int:
        """The client port of server `name`."""
        kind, _, node = name.partition("-")
        index = int(node or 1) - 1
        if kind == "postgres":
            return self.postgres_nodes[index]
        if kind == "kafka":
            return self.brokers[index][0]
        if kind == "redis":
            return self.redis
        raise ValueError(f"no server {name!r}: one of {', '.join(self.server_names)}")

    @property
    def kafka_bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port, _ in self.brokers)

    @property
    def redis_url(self) -> str:
        return redis_server.url(self.redis)

    def _hosts(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.postgres_nodes)

    def _cluster_query(self) -> str:
        return "?target_session_attrs=read-write" if self.is_cluster else ""

    @property
    def admin_database_url(self) -> str:
        """The superuser on the `orders` database of the writable node."""
        url = postgres.admin_url(self.postgres).replace(f"127.0.0.1:{self.postgres}", self._hosts())
        return url + self._cluster_query()

    def database_url(self, user: str) -> str:
        """`user` on the writable node: writers and readers alike, so that a reader never
        serves what is older than what it was told of."""
        return f"postgresql://{user}:{user}@{self._hosts()}/{postgres.DATABASE}" + (
            self._cluster_query()
        )


def fetch_once() -> None:
    """Fetch what the servers need once per checkout: the Kafka broker's pinned jars."""
    kafka_broker.ensure_jars(KAFKA_LIBS)


def server_command(name: str, ports: ServerPorts, data_root: Path) -> ServerCommand:
    """How to run server `name` with its data in `data_root / name` (prepared on first use;
    a standby is cloned from the primary, which must be running, by `prepare_standby`)."""
    if name in ("postgres", "postgres-1"):
        return postgres.prepare_server(data_root / name, ports.port_of(name))
    if name.startswith("postgres-"):
        return postgres.server_command(data_root / name, ports.port_of(name))
    if name == "redis":
        return redis_server.prepare_server(data_root / "redis", ports.redis)
    if name == "kafka" or name.startswith("kafka-"):
        libs = kafka_broker.ensure_jars(KAFKA_LIBS)
        node = int(name.partition("-")[2] or 1)
        port, controller_port = ports.brokers[node - 1]
        quorum = None
        if ports.is_cluster:
            quorum = kafka_broker.cluster_quorum(data_root, [c for _, c in ports.brokers])
        argv = kafka_broker.prepare_broker(
            libs, data_root / name, port, controller_port, node_id=node, quorum=quorum
        )
        return ServerCommand(name, argv)
    raise ValueError(f"no server {name!r}: one of {', '.join(ports.server_names)}")


def needs_clone(name: str, data_root: Path) -> bool:
    """Whether server `name` is a standby not cloned yet."""
    return name == "postgres-2" and not (data_root / name / "PG_VERSION").exists()


def prepare_standby(name: str, primary: str, ports: ServerPorts, data_root: Path) -> None:
    """Clone `name` afresh from the running `primary` and make the primary commit
    synchronously once it streams (see `standby_streams`)."""
    postgres.clone_standby(data_root / name, ports.port_of(primary))


def standby_streams(primary: str, ports: ServerPorts) -> None:
    """Wait until the standby streams from `primary`, then require it for every commit."""
    primary_port = ports.port_of(primary)
    postgres.wait_until_streaming(primary_port)
    postgres.require_standby(primary_port, required=True)


def wait_until_server_ready(name: str, ports: ServerPorts) -> None:
    kind = name.partition("-")[0]
    if kind == "postgres":
        postgres.wait_until_ready(ports.port_of(name))
    elif kind == "redis":
        redis_server.wait_until_ready(ports.redis)
    elif kind == "kafka":
        bootstrap = f"127.0.0.1:{ports.port_of(name)}"
        kafka_broker.wait_until_ready(bootstrap, timeout=120, brokers_expected=len(ports.brokers))
    else:
        raise ValueError(f"no server {name!r}: one of {', '.join(ports.server_names)}")
