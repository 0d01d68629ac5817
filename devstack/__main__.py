"""`python -m devstack up|down|status`: the local stack behind `make up` and `make down`.

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

from devstack import demo_couriers, jaeger, stack
from devstack.servers import ServerPorts


def _publish_demo_orders(ports: ServerPorts) -> None:
    producer = [sys.executable, "-m", "producer", "--bootstrap-servers", ports.kafka_bootstrap]
    env = {**os.environ, **stack.TRACING}
    subprocess.run([*producer, "--canonical"], check=True, env=env)
    # Seeded, so a second `make up` re-sends the same orders and changes nothing.
    subprocess.run([*producer, "--generate", "20", "--seed", "1"], check=True, env=env)


def _print_urls(ports: ServerPorts) -> None:
    queries = [replica.url for replica in stack.replicas() if replica.service == "query"]
    services = "\n".join(
        f"  {replica.name:14} {replica.url}/readyz  /metrics"
        for replica in stack.replicas()
        if replica.service != "query"
    )
    tracing = stack.JAEGER_PORTS
    print(
        f"""
Order Service is up.
  page and APIs  {stack.INGRESS_URL}/   (try order b563feb7b2b84b6test; nginx: the query
                 replicas, balanced, and the courier API, as the chart's Ingress routes)
  query replicas {"  ".join(f"{url}/" for url in queries)}
  OpenAPI        {stack.INGRESS_URL}/schema
  API token      {stack.dev_api_token()}  (for commands; also in {stack.DEV_API_TOKEN})
{services}
  Kafka          {ports.kafka_bootstrap}
  PostgreSQL     127.0.0.1:{ports.postgres}
  Redis          127.0.0.1:{ports.redis}
  Jaeger API     {jaeger.query_url(tracing)}/api/traces/<trace id>  (no UI assets)
  OTLP           {jaeger.otlp_endpoint(tracing)}  127.0.0.1:{tracing.otlp_grpc} (gRPC)
  logs           {stack.STATE / "logs"}
Publish more orders with `make demo`. Ctrl-C (or `make down`) stops everything.
""",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="devstack")
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--detach", action="store_true", help="up: return once everything is ready")
    args = parser.parse_args()
    ports = ServerPorts()
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
    try:
        stack.up(ports)
        (courier,) = (replica for replica in stack.replicas() if replica.service == "courier")
        demo_couriers.add_demo_couriers(courier.url)
        _publish_demo_orders(ports)
    except BaseException:
        stack.down()
        raise
    _print_urls(ports)
    if args.detach:
        return
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    while not stopped.wait(1.0):
        if not stack.is_running():
            return
    print("stopping...", flush=True)
    stack.down()


if __name__ == "__main__":
    main()
