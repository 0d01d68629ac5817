"""The local stack of `make up`: every server and service under one supervisord, with
its state in `.state/` so a second `make up` finds the orders of the first."""

from __future__ import annotations

import configparser
import secrets
import shlex
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from devstack import ingress, jaeger, services
from devstack.process import ServerCommand
from devstack.readiness import wait_until
from devstack.servers import (
    ServerPorts,
    needs_clone,
    prepare_standby,
    server_command,
    standby_streams,
    wait_until_server_ready,
)
from devstack.services import SERVICES

REPO = Path(__file__).resolve().parents[1]
STATE = REPO / ".state"
# The bearer token of `make up`'s command API, for scripts: made once, then kept.
DEV_API_TOKEN = STATE / "dev-api-token"


@dataclass(frozen=True)
class Replica:
    """One replica of a service as `make up` runs it."""

    service: str
    name: str
    port: int

    @property
    def url(self) -> str:
        return services.base_url(self.port)


def replicas() -> list[Replica]:
    """Every replica of every service, on the ports SERVICES gives them, in start order."""
    return [
        Replica(name, name if len(service.ports) == 1 else f"{name}-{index}", port)
        for name, service in SERVICES.items()
        for index, port in enumerate(service.ports, start=1)
    ]


# The local ingress of `make up`: the page and every API on one origin, as in a cluster.
INGRESS_PORT = 8000
INGRESS_URL = ingress.url(INGRESS_PORT)


def ingress_command() -> ServerCommand:
    """nginx in front of every replica `make up` runs, its files in `.state/ingress`."""
    ports = {name: service.ports for name, service in SERVICES.items()}
    access_log = STATE / "logs" / "ingress-access.log"
    return ingress.prepare_server(STATE / "ingress", INGRESS_PORT, ports, access_log)


# `make up` only: its few demo orders are all worth reading in its Jaeger.
JAEGER_PORTS = jaeger.JaegerPorts()
TRACING = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint(JAEGER_PORTS),
    "OTEL_TRACES_SAMPLER": "parentbased_always_on",
}


def dev_api_token() -> str:
    """The development token of the command API: generated on the first `make up` into
    `.state/dev-api-token` (readable by its owner only), the same ever after."""
    if not DEV_API_TOKEN.exists():
        DEV_API_TOKEN.touch(mode=0o600)
        DEV_API_TOKEN.write_text(secrets.token_urlsafe(32) + "\n")
    return DEV_API_TOKEN.read_text().strip()


def replica_commands(ports: ServerPorts, api_token: str) -> list[ServerCommand]:
    """How to run every replica, exporting its traces to `make up`'s Jaeger; a link names
    the first replica of the service linked; query replicas take commands with
    `api_token`."""
    urls = {name: services.base_url(service.ports[0]) for name, service in SERVICES.items()}
    tokens = {"API_TOKENS": api_token}
    return [
        replace(
            command,
            env={**command.env, **TRACING, **(tokens if replica.service == "query" else {})},
        )
        for replica in replicas()
        for command in [services.command(replica.service, replica.name, ports, replica.port, urls)]
    ]


def _program_section(command: ServerCommand, autostart: bool) -> dict[str, str]:
    section = {
        "command": shlex.join(command.argv),
        "directory": str(REPO),
        "autostart": str(autostart).lower(),
        "autorestart": "unexpected" if autostart else "true",
        # Supervisord starts lower priorities first and stops them last: the servers (the
        # ones started at once) outlive the services, which stop while Kafka and
        # PostgreSQL still answer (else a service's shutdown waits on them until killed).
        "priority": "100" if autostart else "900",
        "startsecs": "2",
        "stopsignal": command.stop_signal.name.removeprefix("SIG"),
        "stopwaitsecs": "30",
        "stopasgroup": "true",
        "killasgroup": "true",
        "redirect_stderr": "true",
        "stdout_logfile": str(STATE / "logs" / f"{command.name}.log"),
        "stdout_logfile_maxbytes": "10MB",
        "stdout_logfile_backups": "2",
    }
    if command.user:
        section["user"] = command.user
    if command.env:
        section["environment"] = ",".join(f'{key}="{value}"' for key, value in command.env.items())
    return section


def write_supervisor_config(servers: list[ServerCommand], services: list[ServerCommand]) -> Path:
    config = configparser.ConfigParser(interpolation=None)
    config["unix_http_server"] = {"file": str(STATE / "supervisor.sock"), "chmod": "0700"}
    config["supervisord"] = {
        "logfile": str(STATE / "logs" / "supervisord.log"),
        "pidfile": str(STATE / "supervisord.pid"),
        "childlogdir": str(STATE / "logs"),
        "nodaemon": "false",
        "silent": "true",
    }
    config["rpcinterface:supervisor"] = {
        "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
    }
    config["supervisorctl"] = {"serverurl": f"unix://{STATE / 'supervisor.sock'}"}
    for command in servers:
        config[f"program:{command.name}"] = _program_section(command, autostart=True)
    for command in services:
        config[f"program:{command.name}"] = _program_section(command, autostart=False)
    path = STATE / "supervisord.conf"
    (STATE / "logs").mkdir(parents=True, exist_ok=True)
    with path.open("w") as file:
        config.write(file)
    return path


def supervisorctl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("supervisorctl")),
            "-c",
            str(STATE / "supervisord.conf"),
            *args,
        ],
        check=check,
        capture_output=True,
        text=True,
    )


def is_running() -> bool:
    config = STATE / "supervisord.conf"
    return config.exists() and supervisorctl("pid", check=False).returncode == 0


def up(ports: ServerPorts) -> None:
    """Start everything in the background under supervisord; return when all are ready but
    Jaeger, which may still be building (see `jaeger_is_building`)."""
    if is_running():
        raise SystemExit("the stack is already running: `make down` stops it")
    STATE.mkdir(exist_ok=True)
    STATE.chmod(0o755)  # the postgres user must reach its data folder
    print("preparing servers (first run: downloads the Kafka broker jars)...", flush=True)
    # The cluster's data apart from the single node's: either can be started again later.
    root = STATE / "cluster" if ports.is_cluster else STATE
    # A standby not cloned yet starts once its primary runs and it is cloned from it.
    later = [name for name in ports.server_names if needs_clone(name, root)]
    commands = [server_command(name, ports, root) for name in ports.server_names]
    servers = [
        *(command for command in commands if command.name not in later),
        jaeger.prepare_server(JAEGER_PORTS, build_if_missing=True),
        ingress_command(),  # answers 502 until the services behind it are up
    ]
    on_demand = [
        *(command for command in commands if command.name in later),
        *replica_commands(ports, dev_api_token()),
    ]
    config = write_supervisor_config(servers, on_demand)
    subprocess.run(
        [str(Path(sys.executable).with_name("supervisord")), "-c", str(config)], check=True
    )
    for name in ports.server_names:
        if name in later:
            prepare_standby(name, "postgres-1", ports, root)
            supervisorctl("start", name)
        wait_until_server_ready(name, ports)
    if ports.is_cluster:
        standby_streams("postgres-1", ports)
    if jaeger.is_installed():
        jaeger.wait_until_ready(JAEGER_PORTS)
    services.prepare_servers(ports)
    for service in SERVICES:  # in order: a service may need the ones before it
        started = [replica for replica in replicas() if replica.service == service]
        supervisorctl("start", *(replica.name for replica in started))
        for replica in started:
            services.wait_until_ready(replica.url, timeout=120)
    ingress.wait_until_ready(INGRESS_PORT)


def down() -> None:
    if not is_running():
        print("the stack is not running")
        return
    supervisorctl("shutdown")
    pid_file = STATE / "supervisord.pid"
    wait_until(lambda: not pid_file.exists(), what="supervisord's exit", timeout=60)
