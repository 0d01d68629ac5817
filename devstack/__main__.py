"""`python -m devstack up|down|status|prepare`: the local stack behind `make up` and `make down`.

`prepare` fetches what the servers need once per checkout (the Kafka broker's jars), as
scripts/install-prerequisites.sh does.

`up --cluster` (`make up CLUSTER=1`) runs three Kafka brokers and a PostgreSQL primary with
a synchronous streaming standby instead of one of each (devstack.servers).

`up` starts PostgreSQL, Redis, Kafka, Jaeger, every service in devstack.services and the
local ingress (nginx on port 8000) under supervisord, adds demo couriers, loads demo
orders, prints the URLs and stays in the foreground: Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time

from devstack import demo_couriers, jaeger, servers, stack
from devstack.servers import ServerPorts


def _publish_demo_orders(ports: ServerPorts, export_traces: bool) -> None:
    producer = [sys.executable, "-m", "producer", "--bootstrap-servers", ports.kafka_bootstrap]
    # While Jaeger is still being built, the producer's exporter would only retry for
    # seconds at exit and print its failures here.
    env = {**os.environ, **(stack.TRACING if export_traces else {})}
    subprocess.run([*producer, "--canonical"], check=True, env=env)
    # Seeded, so a second `make up` re-sends the same orders and changes nothing.
    subprocess.run([*producer, "--generate", "20", "--seed", "1"], check=True, env=env)


def _jaeger_line(building: bool) -> str:
    tracing = stack.JAEGER_PORTS
    if building:
        log = stack.STATE / "logs" / "jaeger.log"
        return (
            "  Jaeger         building in the background (first run only, about 5 to 9 minutes on\n"
            "                 2 cores); the services export traces once it answers. Progress:\n"
            f"                 tail -f {log}"
        )
    return (
        f"  Jaeger API     {jaeger.query_url(tracing)}/api/traces/<trace id>  (no UI assets)\n"
        f"  OTLP           {jaeger.otlp_endpoint(tracing)}  127.0.0.1:{tracing.otlp_grpc} (gRPC)"
    )


def _postgres_line(ports: ServerPorts) -> str:
    if not ports.is_cluster:
        return f"127.0.0.1:{ports.postgres}"
    return (
        f"127.0.0.1:{ports.postgres} (primary), 127.0.0.1:{ports.postgres_standby} (synchronous"
        " standby); services: target_session_attrs=read-write"
    )


def _print_urls(ports: ServerPorts, jaeger_building: bool, seconds_to_page: float) -> None:
    queries = [replica.url for replica in stack.replicas() if replica.service == "query"]
    services = "\n".join(
        f"  {replica.name:14} {replica.url}/readyz  /metrics"
        for replica in stack.replicas()
        if replica.service != "query"
    )
    print(
        f"""
Order Service is up: the page answered {seconds_to_page:.0f} s after `make up` began.
  page and APIs  {stack.INGRESS_URL}/   (try order b563feb7b2b84b6test; nginx: the query
                 replicas, balanced, and the courier API, as the chart's Ingress routes)
  query replicas {"  ".join(f"{url}/" for url in queries)}
  OpenAPI        {stack.INGRESS_URL}/schema
  API token      {stack.dev_api_token()}  (for commands; also in {stack.DEV_API_TOKEN})
{services}
  Kafka          {ports.kafka_bootstrap}
  PostgreSQL     {_postgres_line(ports)}
  Redis          127.0.0.1:{ports.redis}
{_jaeger_line(jaeger_building)}
  logs           {stack.STATE / "logs"}
Publish more orders with `make demo`. Ctrl-C (or `make down`) stops everything.
""",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="devstack")
    parser.add_argument("command", choices=["up", "down", "status", "prepare"])
    parser.add_argument("--detach", action="store_true", help="up: return once everything is ready")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="up: three Kafka brokers and a PostgreSQL primary with a synchronous standby",
    )
    args = parser.parse_args()
    ports = ServerPorts.cluster() if args.cluster else ServerPorts()
    if args.command == "prepare":
        servers.fetch_once()
        return
    if args.command == "down":
        stack.down()
        return
    if args.command == "status":
        print(
            stack.supervisorctl("status", check=False).stdout
            if stack.is_running()
            else "not running"
        )
        return
    # `make up` passes when it began (before installing anything); else this process began.
    began = float(os.environ.get("MAKE_UP_BEGAN", time.time()))
    jaeger_building = not jaeger.is_installed()
    try:
        stack.up(ports)
        (courier,) = (replica for replica in stack.replicas() if replica.service == "courier")
        demo_couriers.add_demo_couriers(courier.url)
        _publish_demo_orders(ports, export_traces=not jaeger_building)
    except BaseException:
        stack.down()
        raise
    _print_urls(ports, jaeger_building, time.time() - began)
    if args.detach:
        return
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    while not stopped.wait(1.0):
        if not stack.is_running():
            return
        if jaeger_building and jaeger.readiness_problem(stack.JAEGER_PORTS) is None:
            jaeger_building = False
            print(
                f"Jaeger is up, {time.time() - began:.0f} s after `make up` began:\n"
                f"{_jaeger_line(building=False)}",
                flush=True,
            )
    print("stopping...", flush=True)
    stack.down()


if __name__ == "__main__":
    main()
