"""Our services as every local stack runs them: one entry each in SERVICES, from which
`make up` (under supervisord), the tests and the benchmarks (with Popen) take the command,
the environment, the database login and the readiness check.

Adding a service is one entry: its console script, its database login and the group role
the migrations grant that login, the ports `make up` gives its replicas, the variables
that carry another service's URL, and the paths the local ingress sends to it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack import postgres
from devstack.process import ServerCommand
from devstack.readiness import wait_until
from devstack.servers import ServerPorts
from order_migrations.logins import Login
from order_migrations.release import prepare_release


@dataclass(frozen=True)
class Service:
    """One of our services, as much of it as a local stack needs to run it."""

    # Its console script in the virtual environment.
    executable: str
    # Its login (the password is the user's name: development only) and the group role
    # the migrations made for it.
    database_user: str
    database_role: str
    # `make up` runs one replica on each port.
    ports: tuple[int, ...]
    # Environment variable -> the name of the service whose base URL it carries.
    links: Mapping[str, str] = field(default_factory=dict)
    # The paths the local ingress sends to it, as the chart's `ingressPaths` (Prefix).
    ingress_paths: tuple[str, ...] = ()


SERVICES: dict[str, Service] = {
    "ingestor": Service("order-ingestor", "order_ingestor", "order_writer", ports=(8081,)),
    "query": Service("order-query", "order_query", "order_reader", ports=(8080, 8090)),
    "courier": Service(
        "order-courier",
        "order_courier_app",
        "order_courier",
        ports=(8082,),
        links={"ORDER_GATEWAY_URL": "query"},
        ingress_paths=("/api/v1/couriers", "/api/v1/assignments"),
    ),
}
# The service behind the ingress's `/` (the page and the order API), as the chart's
# `ingress.service`.
INGRESS_DEFAULT = "query"
# Its live streams (server-sent events), which a proxy must pass on unbuffered, as the
# chart's `ingress.streams`.
STREAMS_PATH = "/api/v1/events"


def logins() -> list[Login]:
    """The login of every service, for release preparation."""
    return [
        Login(service.database_user, service.database_user, service.database_role)
        for service in SERVICES.values()
    ]


def prepare_servers(ports: ServerPorts, *, with_kafka: bool = True) -> None:
    """Ready the servers for the services: the `orders` database, then what the release
    job prepares — migrations, every service's login and (with Kafka) the topics.
    Idempotent, as `make up` runs it on every start."""
    postgres.create_database(ports.postgres)
    kafka = ports.kafka_bootstrap if with_kafka else None
    replication = min(3, len(ports.brokers))
    prepare_release(ports.admin_database_url, kafka, logins(), topic_replication_factor=replication)


def executable_path(executable: str) -> Path:
    """A console script of this virtual environment."""
    return Path(sys.executable).with_name(executable)


def server_environment(ports: ServerPorts, database_user: str) -> dict[str, str]:
    """What every service reads to reach the servers, as `database_user`."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": ports.kafka_bootstrap,
        "REDIS_URL": ports.redis_url,
        "DATABASE_URL": ports.database_url(database_user),
        "PYTHONUNBUFFERED": "1",
    }


def links(name: str, urls: Mapping[str, str] | None) -> dict[str, str]:
    """The variables that carry other services' URLs to service `name`, from `urls`
    (service name -> base URL). A link missing from `urls` is left out: the service then
    stops at start naming the variable."""
    urls = urls or {}
    return {
        variable: urls[target]
        for variable, target in SERVICES[name].links.items()
        if target in urls
    }


def environment(
    name: str, ports: ServerPorts, port: int, urls: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Service `name`'s environment: the servers, its port and its links."""
    service = SERVICES[name]
    return {
        **server_environment(ports, service.database_user),
        "PORT": str(port),
        **links(name, urls),
    }


def command(
    name: str, replica: str, ports: ServerPorts, port: int, urls: Mapping[str, str] | None = None
) -> ServerCommand:
    """How to run one replica (named `replica`) of service `name` on `port`."""
    return ServerCommand(
        replica,
        [str(executable_path(SERVICES[name].executable))],
        env=environment(name, ports, port, urls),
    )


def base_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def wait_until_ready(
    url: str, timeout: float = 60.0, *, still_running: Callable[[], None] = lambda: None
) -> None:
    """Until the service at `url` answers 200 on /readyz. `still_running` raises if the
    service has exited, which ends the wait at once."""

    def ready() -> bool:
        still_running()
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200

    wait_until(ready, what=f"{url}/readyz", timeout=timeout, retry_on=httpx.HTTPError)
