"""A throwaway stack for one test session or one benchmark run: PostgreSQL, Redis and
Kafka on free loopback ports with their data in a temporary folder, and our services as
real processes (Popen) that can be stopped, killed, frozen and restarted.

The commands, environments and readiness checks are `make up`'s (devstack.servers,
devstack.services); only the ports, the data folder and the process runner differ.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from devstack import ingress, postgres, services
from devstack.process import RunningServer, ServerCommand
from devstack.servers import (
    ServerPorts,
    needs_clone,
    prepare_standby,
    server_command,
    standby_streams,
    wait_until_server_ready,
)

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
LOGS = ARTIFACTS / "logs"

# Settings a throwaway stack fixes whatever the caller's shell says: its services log at
# INFO and export no traces.
ISOLATED = {"LOG_LEVEL": "INFO", "OTEL_EXPORTER_OTLP_ENDPOINT": ""}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Servers:
    """PostgreSQL, Redis and Kafka on free ports, data under `root`, logs in LOGS.

    `service_env` is added to the environment of every service started against them
    (the test harness puts its fault-injection hooks there)."""

    root: Path
    postgres_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    kafka_port: int = field(default_factory=free_port)
    kafka_controller_port: int = field(default_factory=free_port)
    running: dict[str, RunningServer] = field(default_factory=dict)
    service_env: Mapping[str, str] = field(default_factory=dict)
    # The cluster variant (`make_servers(cluster=True)`): a standby and two more brokers.
    postgres_standby_port: int | None = None
    kafka_more: tuple[tuple[int, int], ...] = ()
    # The PostgreSQL node that takes writes now (a cluster's changes at a switchover).
    primary: str = "postgres"
    # Server name -> how to wrap its argv (the soak starts some inside a cgroup).
    wrappers: dict[str, Callable[[list[str]], list[str]]] = field(default_factory=dict)

    @property
    def ports(self) -> ServerPorts:
        return ServerPorts(
            self.postgres_port,
            self.redis_port,
            self.kafka_port,
            self.kafka_controller_port,
            self.postgres_standby_port,
            self.kafka_more,
        )

    @property
    def standby(self) -> str:
        """A cluster's PostgreSQL node that is not the primary."""
        (other,) = (name for name in ("postgres-1", "postgres-2") if name != self.primary)
        return other

    @property
    def logs(self) -> Path:
        LOGS.mkdir(parents=True, exist_ok=True)
        return LOGS

    @property
    def kafka_bootstrap(self) -> str:
        return self.ports.kafka_bootstrap

    @property
    def redis_url(self) -> str:
        return self.ports.redis_url

    @property
    def admin_database_url(self) -> str:
        return self.ports.admin_database_url

    def database_url(self, user: str) -> str:
        return self.ports.database_url(user)

    def start(self, name: str, *, wait: bool = True) -> None:
        """Start server `name` (its data kept from an earlier start; a standby cloned from
        the primary the first time) and, by default, wait until ready."""
        if needs_clone(name, self.root):
            prepare_standby(name, self.primary, self.ports, self.root)
        command = server_command(name, self.ports, self.root)
        if name in self.wrappers:
            command = replace(command, argv=self.wrappers[name](command.argv))
        self.running[name] = RunningServer(command, self.logs / f"{name}.log")
        if wait:
            wait_until_server_ready(name, self.ports)

    def promote_standby(self) -> str:
        """Promote the cluster's standby (the primary gone or going): it takes writes from
        now on, without a standby of its own. Returns the new primary's name."""
        postgres.promote(self.ports.port_of(self.standby))
        self.primary = self.standby
        return self.primary

    def rebuild_standby(self) -> None:
        """The node that is not the primary (stopped) cloned afresh from the primary,
        started, and required again for every commit once it streams: as an operator
        rebuilds a failed primary as the new standby."""
        name = self.standby
        if name in self.running:
            self.kill(name)
        prepare_standby(name, self.primary, self.ports, self.root)
        self.start(name)
        standby_streams(self.primary, self.ports)

    def stop(self, name: str) -> None:
        self.running.pop(name).stop()

    def kill(self, name: str) -> None:
        """SIGKILL, a crash: no clean shutdown, whatever was in flight is cut off."""
        self.running.pop(name).kill()

    def prepare_release(self) -> None:
        """What `make up` prepares before the services start; topics only when Kafka runs."""
        services.prepare_servers(
            self.ports, with_kafka=any(name.startswith("kafka") for name in self.running)
        )

    def start_all(self) -> None:
        names = self.ports.server_names
        for name in names:
            # A broker of a cluster is ready only once a quorum of them runs.
            self.start(name, wait=not (self.ports.is_cluster and name.startswith("kafka")))
        for name in names:
            if self.ports.is_cluster and name.startswith("kafka"):
                wait_until_server_ready(name, self.ports)
        if self.ports.is_cluster:
            standby_streams(self.primary, self.ports)
        self.prepare_release()

    def stop_all(self) -> None:
        """Stop every server and delete its data; the logs stay in LOGS."""
        # Every broker told at once: a cluster's last brokers would otherwise wait for a
        # quorum that has already gone.
        for server in self.running.values():
            if server.process.poll() is None:
                server.process.send_signal(server.command.stop_signal)
        for name in list(self.running):
            self.stop(name)
        shutil.rmtree(self.root, ignore_errors=True)


def make_servers(service_env: Mapping[str, str] | None = None, *, cluster: bool = False) -> Servers:
    """Servers with their data in a new temporary folder; none started yet. A `cluster`
    has three Kafka brokers and a PostgreSQL primary (`postgres-1`) with a standby."""
    root = Path(tempfile.mkdtemp(prefix="order-service-test-"))
    root.chmod(0o755)  # the postgres user must reach its data folder when we are root
    servers = Servers(root, service_env=dict(service_env or {}))
    if cluster:
        servers.postgres_standby_port = free_port()
        servers.kafka_more = ((free_port(), free_port()), (free_port(), free_port()))
        servers.primary = "postgres-1"
    return servers


def start_storage(servers: Servers) -> None:
    """PostgreSQL (migrated, with the services' users) and Redis, without Kafka: enough for
    the query service when the orders are written straight into PostgreSQL (benchmarks)."""
    for name in ("postgres", "redis"):
        servers.start(name)
    servers.prepare_release()


class ServiceProcess(RunningServer):
    """One of our services running as a real process on `port`, logging to LOGS."""

    def __init__(
        self,
        executable: str,
        name: str,
        port: int,
        env: Mapping[str, str],
        wrap: Callable[[list[str]], list[str]] | None = None,
    ) -> None:
        self.port = port
        argv = [str(services.executable_path(executable))]
        command = ServerCommand(
            name,
            wrap(argv) if wrap else argv,
            env={"PORT": str(port), "PYTHONUNBUFFERED": "1", **env},
        )
        super().__init__(command, LOGS / f"{name}.log")

    @property
    def base_url(self) -> str:
        return services.base_url(self.port)

    def _still_running(self) -> None:
        if self.process.poll() is not None:
            name, code = self.command.name, self.process.returncode
            raise RuntimeError(f"{name} exited with {code}; see {self.log_path}")

    def wait_ready(self, timeout: float = 60.0) -> None:
        services.wait_until_ready(self.base_url, timeout, still_running=self._still_running)


def service_env(servers: Servers, database_user: str) -> dict[str, str]:
    """A service's environment against `servers` as `database_user` (without its port)."""
    return {
        **services.server_environment(servers.ports, database_user),
        **ISOLATED,
        **servers.service_env,
    }


def start_service(
    servers: Servers,
    kind: str,
    name: str,
    *,
    urls: Mapping[str, str] | None = None,
    wait: bool = True,
    wrap: Callable[[list[str]], list[str]] | None = None,
    **extra: str,
) -> ServiceProcess:
    """A replica of service `kind` (a key of SERVICES) named `name` on a free port, with
    `extra` added to its environment and its argv passed through `wrap`; by default once
    it is ready."""
    service = services.SERVICES[kind]
    env = {**service_env(servers, service.database_user), **services.links(kind, urls), **extra}
    process = ServiceProcess(service.executable, name, free_port(), env, wrap)
    if wait:
        process.wait_ready()
    return process


def start_ingestor(servers: Servers, name: str = "ingestor", **extra: str) -> ServiceProcess:
    return start_service(servers, "ingestor", name, **extra)


def start_query(
    servers: Servers, name: str = "query", *, wait: bool = True, **extra: str
) -> ServiceProcess:
    """A query replica that resyncs every second (unless `extra` says otherwise), so a
    missed announcement is caught up with soon."""
    return start_service(
        servers, "query", name, wait=wait, **{"RESYNC_INTERVAL_SECONDS": "1", **extra}
    )


def start_courier(
    servers: Servers, name: str = "courier", *, gateway_url: str, wait: bool = True, **extra: str
) -> ServiceProcess:
    """The courier service asking `gateway_url` (a query replica) for statuses; retries and
    resyncs come quickly, so that tests and benchmarks see them within seconds."""
    return start_service(
        servers,
        "courier",
        name,
        urls={"query": gateway_url},
        wait=wait,
        **{
            "RETRY_INITIAL_SECONDS": "0.2",
            "RETRY_MAX_SECONDS": "2",
            "RETRY_POLL_SECONDS": "0.2",
            "RESYNC_INTERVAL_SECONDS": "2",
            **extra,
        },
    )


class IngressProcess(RunningServer):
    """The local ingress (nginx, as `make up` runs it) on `port`, logging to LOGS."""

    def __init__(self, command: ServerCommand, port: int) -> None:
        self.port = port
        super().__init__(command, LOGS / f"{command.name}.log")

    @property
    def base_url(self) -> str:
        return ingress.url(self.port)


def start_ingress(
    servers: Servers, replicas: Mapping[str, Sequence[ServiceProcess]], name: str = "ingress"
) -> IngressProcess:
    """nginx on a free port in front of `replicas` (service name -> its running replicas),
    routing as `make up`'s does; its files under the servers' data folder."""
    port = free_port()
    ports = {
        service: [replica.port for replica in running] for service, running in replicas.items()
    }
    access_log = LOGS / f"{name}-access.log"
    command = ingress.prepare_server(servers.root / name, port, ports, access_log, name)
    process = IngressProcess(command, port)
    ingress.wait_until_ready(port)
    return process
