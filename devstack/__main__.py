"""`python -m devstack up|down|status`: the local stack behind `make up` and `make down`.

`up` starts PostgreSQL, Redis, Kafka, the ingestor and two query replicas under
supervisord, loads demo orders, prints the URLs and stays in the foreground:
Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading

from devstack import jaeger, stack


def _publish_demo_orders(ports: stack.Ports) -> None:
    producer = [sys.executable, "-m", "producer", "--bootstrap-servers", f"127.0.0.1:{ports.kafka}"]
    env = {**os.environ, **stack.service_environment(ports)}
    subprocess.run([*producer, "--canonical"], check=True, env=env)
    # Seeded, so a second `make up` re-sends the same orders and changes nothing.
    subprocess.run([*producer, "--generate", "20", "--seed", "1"], check=True, env=env)


def _print_urls(ports: stack.Ports) -> None:
    first, *others = ports.query
    print(
        f"""
Order Service is up.
  page and API   http://127.0.0.1:{first}/   (try order b563feb7b2b84b6test)
  second replica {"  ".join(f"http://127.0.0.1:{port}/" for port in others)}
  OpenAPI        http://127.0.0.1:{first}/schema
  ingestor       http://127.0.0.1:{ports.ingestor}/readyz  /metrics
  Kafka          127.0.0.1:{ports.kafka}
  PostgreSQL     127.0.0.1:{ports.postgres}
  Redis          127.0.0.1:{ports.redis}
  Jaeger API     {jaeger.query_url(ports.jaeger)}/api/traces/<trace id>  (no UI assets)
  OTLP           {jaeger.otlp_endpoint(ports.jaeger)}  127.0.0.1:{ports.jaeger.otlp_grpc} (gRPC)
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
    ports = stack.Ports()
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
