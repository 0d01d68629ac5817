"""The five images, built by `make images` and run by a real Docker engine as the chart runs
them: the proof that the images the chart and Compose name actually work.

On servers of this module's own (PostgreSQL, Redis and Kafka on loopback, nothing
prepared), the migrations image prepares the empty database and the topics; then the
ingestor, two query replicas and the courier run from their images, each with the
environment, user, read-only root file system and dropped capabilities the chart gives its
pod (in-cluster addresses replaced by loopback ones, each on its own port); the producer
image publishes the canonical order; both replicas serve the same bytes, the canonical
document with its fields in order, and the courier
assigns it. Each long-running container then stops on SIGTERM within the chart's grace
period, and everything each service logged is JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack import postgres
from devstack.demo_couriers import DEMO_COURIERS
from producer.demo import CANONICAL_ORDER_UID
from tests.deploy.conftest import Rendering
from tests.deploy.containers import (
    CHART_VERSION,
    Container,
    build_images,
    chart_environment,
    docker_engine,
    image_user,
    not_json,
    pod_security,
    run_container,
)
from tests.harness import Servers, eventually, free_port, make_servers

pytestmark = pytest.mark.integration

LONG_RUNNING = ("ingestor", "query-1", "query-2", "courier")


@pytest.fixture(scope="module")
def engine() -> Iterator[None]:
    with docker_engine():
        build_images()
        yield


@pytest.fixture(scope="module")
def bare_servers() -> Iterator[Servers]:
    """PostgreSQL with an empty `orders` database (as the chart's dev server starts), Redis
    and Kafka: no migration, no login, no topic. Those are the migrations image's job."""
    servers = make_servers()
    try:
        for name in ("postgres", "redis", "kafka"):
            servers.start(name)
        postgres.create_database(servers.postgres_port)
        yield servers
    finally:
        servers.stop_all()


def _workload(rendering: Rendering, kind: str, component: str) -> dict[str, Any]:
    (found,) = (
        doc
        for doc in rendering.of_kind(kind)
        if doc["metadata"]["labels"]["app.kubernetes.io/component"] == component
    )
    return found


def _image(workload: dict[str, Any]) -> str:
    image = workload["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith(f":{CHART_VERSION}"), image
    return image


def _ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_images_run_the_service_as_the_chart_deploys_it(
    engine: None, bare_servers: Servers, kind_rendering: Rendering, canonical_order_bytes: bytes
) -> None:
    servers = bare_servers
    ports = {name: free_port() for name in LONG_RUNNING}
    addresses = {
        "order-service-postgres:5432": f"127.0.0.1:{servers.postgres_port}",
        "order-service-redis:6379": f"127.0.0.1:{servers.redis_port}",
        "order-service-kafka:9092": servers.kafka_bootstrap,
        "order-service-query:8080": f"127.0.0.1:{ports['query-1']}",
    }
    containers: dict[str, Container] = {}
    try:
        migrations = _workload(kind_rendering, "Job", "migrations")
        env = chart_environment(kind_rendering, migrations, addresses)
        job = run_container(_image(migrations), env, pod_security(kind_rendering, migrations))
        containers["migrations"] = job
        assert job.wait(timeout=180) == 0, job.logs()

        grace = {}
        for name in LONG_RUNNING:
            component = name.split("-")[0]
            workload = _workload(kind_rendering, "Deployment", component)
            env = chart_environment(kind_rendering, workload, addresses)
            # Each on its own loopback port: the host's network is shared by all four.
            env |= {
                "HOST": "127.0.0.1",
                "PORT": str(ports[name]),
                "OTEL_EXPORTER_OTLP_ENDPOINT": "",
            }
            image = _image(workload)
            options = pod_security(kind_rendering, workload)
            assert image_user(image) == options[1], f"{image} runs as another user than its pod"
            containers[name] = run_container(image, env, options)
            grace[name] = workload["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        for name in LONG_RUNNING:
            url = f"http://127.0.0.1:{ports[name]}"
            eventually(lambda url=url: _ready(url), timeout=120)

        courier_url = f"http://127.0.0.1:{ports['courier']}"
        for courier in DEMO_COURIERS[:2]:
            answer = httpx.post(f"{courier_url}/api/v1/couriers", json=courier, timeout=10)
            assert answer.status_code == 201, answer.text

        demo = _workload(kind_rendering, "Job", "demo-orders")
        producer = run_container(
            _image(demo),
            {"KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap, "OTEL_EXPORTER_OTLP_ENDPOINT": ""},
            pod_security(kind_rendering, demo),
            ["--canonical"],
        )
        containers["producer"] = producer
        assert producer.wait(timeout=120) == 0, producer.logs()

        bodies = []
        for name in ("query-1", "query-2"):
            url = f"http://127.0.0.1:{ports[name]}/api/v1/orders/{CANONICAL_ORDER_UID}"

            def served(url: str = url) -> httpx.Response | None:
                answer = httpx.get(url, timeout=5)
                return answer if answer.status_code == 200 else None

            bodies.append(eventually(served, timeout=60).content)
        assert bodies[0] == bodies[1]
        served_order, shipped_order = json.loads(bodies[0]), json.loads(canonical_order_bytes)
        assert served_order == shipped_order
        assert list(served_order) == list(shipped_order)  # the same fields, in the same order

        def assigned() -> dict | None:
            answer = httpx.get(f"{courier_url}/api/v1/assignments/{CANONICAL_ORDER_UID}", timeout=5)
            found = answer.json() if answer.status_code == 200 else None
            return found if found and found["state"] == "assigned" else None

        assert eventually(assigned, timeout=60)["courier"]["name"] in {
            courier["name"] for courier in DEMO_COURIERS[:2]
        }

        for name in LONG_RUNNING:
            took = containers[name].stop(grace[name])
            state = containers[name].state()
            assert state["ExitCode"] != 137 and not state["OOMKilled"], (name, state)
            assert took < grace[name], f"{name} took {took:.1f} s of its {grace[name]} s grace"
        # The producer is a command: the one line it prints is its result, not a log.
        services = [name for name in containers if name != "producer"]
        plain = {name: not_json(containers[name].logs()) for name in services}
        assert plain == {name: [] for name in services}
    finally:
        for container in containers.values():
            container.remove()
