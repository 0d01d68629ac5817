"""The local stack of `make up`: every server and service under one supervisord, with
its state in `.state/` so a second `make up` finds the orders of the first."""

from __future__ import annotations

import configparser
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack import jaeger, kafka_broker, postgres, redis_server
from devstack.process import ServerCommand
from order_migrations.release import prepare_release

REPO = Path(__file__).resolve().parents[1]
STATE = REPO / ".state"


@dataclass(frozen=True)
class Ports:
    postgres: int = 5432
    redis: int = 6379
    kafka: int = 9092
    kafka_controller: int = 9093
    ingestor: int = 8081
    query: tuple[int, ...] = (8080, 8090)
    jaeger: jaeger.JaegerPorts = field(default_factory=jaeger.JaegerPorts)


def service_environment(ports: Ports) -> dict[str, str]:
    """What the services read, pointing at the local servers."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{ports.kafka}",
        "REDIS_URL": redis_server.url(ports.redis),
        "OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint(ports.jaeger),
        # A demo's few orders are all worth reading in Jaeger.
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        "PYTHONUNBUFFERED": "1",
    }


def service_commands(ports: Ports) -> list[ServerCommand]:
    bin_dir = Path(sys.executable).parent
    common = service_environment(ports)
    commands = [
        ServerCommand(
            "ingestor",
            [str(bin_dir / "order-ingestor")],
            env={
                **common,
                "PORT": str(ports.ingestor),
                "DATABASE_URL": postgres.service_url(ports.postgres, "order_ingestor"),
            },
        )
    ]
    for index, port in enumerate(ports.query, start=1):
        commands.append(
            ServerCommand(
                f"query-{index}",
                [str(bin_dir / "order-query")],
                env={
                    **common,
                    "PORT": str(port),
                    "DATABASE_URL": postgres.service_url(ports.postgres, "order_query"),
                },
            )
        )
    return commands


def server_commands(ports: Ports) -> list[ServerCommand]:
    libs = kafka_broker.ensure_jars(STATE / "kafka-libs")
    return [
        postgres.prepare_server(STATE / "postgres", ports.postgres),
        redis_server.prepare_server(STATE / "redis", ports.redis),
        ServerCommand(
            "kafka",
            kafka_broker.prepare_broker(libs, STATE / "kafka", ports.kafka, ports.kafka_controller),
        ),
        jaeger.prepare_server(ports.jaeger),
    ]


def _program_section(command: ServerCommand, autostart: bool) -> dict[str, str]:
    section = {
        "command": shlex.join(command.argv),
        "directory": str(REPO),
        "autostart": str(autostart).lower(),
        "autorestart": "unexpected" if autostart else "true",
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


def wait_until_http_ready(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not become ready within {timeout:.0f} s")


def up(ports: Ports) -> None:
    """Start everything in the background under supervisord; return when all are ready."""
    if is_running():
        raise SystemExit("the stack is already running: `make down` stops it")
    STATE.mkdir(exist_ok=True)
    STATE.chmod(0o755)  # the postgres user must reach its data folder
    print("preparing servers (first run: downloads the Kafka broker jars)...", flush=True)
    servers = server_commands(ports)
    services = service_commands(ports)
    config = write_supervisor_config(servers, services)
    subprocess.run(
        [str(Path(sys.executable).with_name("supervisord")), "-c", str(config)], check=True
    )
    postgres.wait_until_ready(ports.postgres)
    redis_server.wait_until_ready(ports.redis)
    kafka_broker.wait_until_ready(f"127.0.0.1:{ports.kafka}", timeout=120)
    jaeger.wait_until_ready(ports.jaeger)
    postgres.create_database(ports.postgres)
    prepare_release(
        postgres.admin_url(ports.postgres), f"127.0.0.1:{ports.kafka}", postgres.SERVICE_LOGINS
    )
    supervisorctl("start", *(command.name for command in services))
    wait_until_http_ready(f"http://127.0.0.1:{ports.ingestor}/readyz")
    for port in ports.query:
        wait_until_http_ready(f"http://127.0.0.1:{port}/readyz")


def down() -> None:
    if not is_running():
        print("the stack is not running")
        return
    supervisorctl("shutdown")
    pid_file = STATE / "supervisord.pid"
    deadline = time.monotonic() + 60
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
