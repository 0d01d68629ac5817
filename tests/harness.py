"""The test harness: real PostgreSQL, Redis and Kafka on free loopback ports, and the
product's services as real processes that tests can stop, kill, freeze and restart."""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack import kafka_broker, postgres, redis_server
from devstack.process import RunningServer, ServerCommand
from order_migrations.release import prepare_release

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
FAILPOINTS = REPO / "tests" / "failpoints"
KAFKA_LIBS = REPO / ".state" / "kafka-libs"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Servers:
    """PostgreSQL, Redis and Kafka for one test session."""

    root: Path
    postgres_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    kafka_port: int = field(default_factory=free_port)
    kafka_controller_port: int = field(default_factory=free_port)
    running: dict[str, RunningServer] = field(default_factory=dict)

    @property
    def logs(self) -> Path:
        path = ARTIFACTS / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return redis_server.url(self.redis_port)

    @property
    def admin_database_url(self) -> str:
        return postgres.admin_url(self.postgres_port)

    def database_url(self, user: str) -> str:
        return postgres.service_url(self.postgres_port, user)

    def _command(self, name: str) -> ServerCommand:
        if name == "postgres":
            return postgres.prepare_server(self.root / "postgres", self.postgres_port)
        if name == "redis":
            return redis_server.prepare_server(self.root / "redis", self.redis_port)
        libs = kafka_broker.ensure_jars(KAFKA_LIBS)
        argv = kafka_broker.prepare_broker(
            libs, self.root / "kafka", self.kafka_port, self.kafka_controller_port
        )
        return ServerCommand("kafka", argv)

    def start(self, name: str) -> None:
        self.running[name] = RunningServer(self._command(name), self.logs / f"{name}.log")
        if name == "postgres":
            postgres.wait_until_ready(self.postgres_port)
        elif name == "redis":
            redis_server.wait_until_ready(self.redis_port)
        else:
            kafka_broker.wait_until_ready(self.kafka_bootstrap, timeout=120)

    def stop(self, name: str) -> None:
        self.running.pop(name).stop()

    def kill(self, name: str) -> None:
        """SIGKILL, a crash: no clean shutdown, whatever was in flight is cut off."""
        self.running.pop(name).kill()

    def prepare_release(self) -> None:
        """The `orders` database, then what the release job prepares (as `make up` does);
        topics only when Kafka runs."""
        postgres.create_database(self.postgres_port)
        kafka = self.kafka_bootstrap if "kafka" in self.running else None
        prepare_release(self.admin_database_url, kafka, postgres.SERVICE_LOGINS)

    def start_all(self) -> None:
        for name in ("postgres", "redis", "kafka"):
            self.start(name)
        self.prepare_release()

    def stop_all(self) -> None:
        """Stop every server and delete its data; the logs stay in test-artifacts."""
        for name in list(self.running):
            self.stop(name)
        shutil.rmtree(self.root, ignore_errors=True)


def make_servers() -> Servers:
    root = Path(tempfile.mkdtemp(prefix="order-service-test-"))
    root.chmod(0o755)  # the postgres user must reach its data folder when we are root
    return Servers(root)


class ServiceProcess(RunningServer):
    """One of our services (`order-ingestor`, `order-query`, `order-courier`) running as a
    real process."""

    def __init__(self, executable: str, name: str, port: int, env: dict[str, str]) -> None:
        self.port = port
        command = ServerCommand(
            name,
            [str(Path(sys.executable).with_name(executable))],
            # tests/failpoints: the fault-injection hooks (see its sitecustomize).
            env={"PORT": str(port), "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(FAILPOINTS), **env},
        )
        super().__init__(command, ARTIFACTS / "logs" / f"{name}.log")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                name, code = self.command.name, self.process.returncode
                raise RuntimeError(f"{name} exited with {code}; see {self.log_path}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.command.name} not ready after {timeout} s; see {self.log_path}")


def service_env(servers: Servers, database_user: str) -> dict[str, str]:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap,
        "REDIS_URL": servers.redis_url,
        "DATABASE_URL": servers.database_url(database_user),
        "LOG_LEVEL": "INFO",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",
    }
    return env


def start_ingestor(servers: Servers, name: str = "ingestor", **extra: str) -> ServiceProcess:
    service = ServiceProcess(
        "order-ingestor", name, free_port(), {**service_env(servers, "order_ingestor"), **extra}
    )
    service.wait_ready()
    return service


def start_query(
    servers: Servers, name: str = "query", *, wait: bool = True, **extra: str
) -> ServiceProcess:
    service = ServiceProcess(
        "order-query",
        name,
        free_port(),
        {**service_env(servers, "order_query"), "RESYNC_INTERVAL_SECONDS": "1", **extra},
    )
    if wait:
        service.wait_ready()
    return service


def start_courier(
    servers: Servers, name: str = "courier", *, gateway_url: str, wait: bool = True, **extra: str
) -> ServiceProcess:
    """The courier service asking `gateway_url` (a query replica) for statuses; retries and
    resyncs come quickly so that tests see them within seconds."""
    service = ServiceProcess(
        "order-courier",
        name,
        free_port(),
        {
            **service_env(servers, "order_courier_app"),
            "ORDER_GATEWAY_URL": gateway_url,
            "RETRY_INITIAL_SECONDS": "0.2",
            "RETRY_MAX_SECONDS": "2",
            "RETRY_POLL_SECONDS": "0.2",
            "RESYNC_INTERVAL_SECONDS": "2",
            **extra,
        },
    )
    if wait:
        service.wait_ready()
    return service


def eventually(check, timeout: float = 20.0, interval: float = 0.2):
    """Poll `check` until it returns a truthy value or raises nothing; return that value."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (AssertionError, TimeoutError) as error:
            last_error = error
        time.sleep(interval)
    if last_error:
        raise last_error
    raise AssertionError(f"condition not met within {timeout} s")


def start_storage(servers: Servers) -> None:
    """PostgreSQL (migrated, with the services' users) and Redis, without Kafka: enough for
    the query service when the orders are written straight into PostgreSQL (benchmarks)."""
    for name in ("postgres", "redis"):
        servers.start(name)
    servers.prepare_release()
