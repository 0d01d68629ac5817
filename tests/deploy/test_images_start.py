"""Every image Compose builds starts from its own files: laid out as its Dockerfile lays them
out (tests/deploy/image_layout.py), run chrooted at the image's paths, as the image's user.

Each entry point is started far enough to prove that its imports and its default paths
resolve in the image, on the test session's real servers where that changes nothing the
other tests see (a scratch database, a scratch topic, an unreachable Kafka for the ingestor
and the courier service, whose consumers would otherwise join the shared topics).
"""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from psycopg import sql

from devstack import postgres
from producer.demo import CANONICAL_ORDER_UID, canonical_order
from tests.deploy.conftest import REPO, missing
from tests.deploy.image_layout import ImageRoot, lay_out
from tests.harness import Servers, eventually, free_port
from tests.kafka_io import read_from

pytestmark = pytest.mark.integration


def _namespaces_work() -> bool:
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def image(compose: dict, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], ImageRoot]:
    """Image name (as Compose tags it, without `:dev`) -> its laid-out root, built once."""
    if not _namespaces_work():
        missing("a private mount namespace (`unshare --mount`, as root)")
    builds = {
        service["image"].partition(":")[0]: service["build"]
        for service in compose["services"].values()
        if "build" in service
    }
    laid_out: dict[str, ImageRoot] = {}

    def get(name: str) -> ImageRoot:
        if name not in laid_out:
            build = builds[name]
            laid_out[name] = lay_out(
                REPO / build["dockerfile"],
                build.get("target", "release"),
                tmp_path_factory.mktemp(name),
                build.get("args", {}),
            )
        return laid_out[name]

    return get


@pytest.fixture
def scratch_database(servers: Servers) -> Iterator[str]:
    with postgres.scratch_database(servers.postgres_port, "image") as url:
        yield url


def _run(image: ImageRoot, argv: list[str], env: dict[str, str]) -> str:
    result = image.run(argv, env=env, timeout=240)
    assert result.returncode == 0, f"{shlex.join(argv)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_migrations_image_migrates_a_database_from_empty(
    image: Callable[[str], ImageRoot], servers: Servers, scratch_database: str
) -> None:
    migrations = image("order-migrations")
    login = f"image_reader_{uuid.uuid4().hex[:8]}"
    login_url = scratch_database.replace("postgres:postgres@", f"{login}:pw@")
    try:
        _run(
            migrations,
            migrations.default_argv,
            {
                "MIGRATIONS_DATABASE_URL": scratch_database,
                "KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap,
                "LOGIN_FOR_ORDER_READER": login_url,
                "WAIT_SECONDS": "60",
            },
        )
        shipped = sorted(
            path.name.removesuffix(".sql")
            for path in (REPO / "db" / "migrations").glob("*.sql")
            if not path.name.endswith(".rollback.sql")
        )
        with psycopg.connect(scratch_database) as connection:
            applied = [
                row[0]
                for row in connection.execute(
                    "SELECT migration_id FROM _yoyo_migration ORDER BY migration_id"
                )
            ]
        assert applied == shipped
        with psycopg.connect(login_url) as connection:
            connection.execute("SELECT count(*) FROM orders")
    finally:
        with psycopg.connect(servers.admin_database_url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login)))


def _start(image: ImageRoot, env: dict[str, str], log: Path) -> subprocess.Popen:
    return image.start(image.default_argv, env, log)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_query_image_serves_the_page_it_ships(
    image: Callable[[str], ImageRoot], servers: Servers, tmp_path: Path
) -> None:
    query = image("order-query")
    port = free_port()
    process = _start(
        query,
        {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "DATABASE_URL": servers.database_url("order_query"),
            "REDIS_URL": servers.redis_url,
            "KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap,
            "OTEL_EXPORTER_OTLP_ENDPOINT": "",
        },
        tmp_path / "query.log",
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            assert process.poll() is None, (tmp_path / "query.log").read_text()
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        eventually(healthy, timeout=90)
        page = httpx.get(f"{base}/", timeout=5)
        assert page.status_code == 200
        assert page.content == (REPO / "web" / "index.html").read_bytes()
        assert httpx.get(f"{base}/app.js", timeout=5).status_code == 200
    finally:
        _stop(process)


def test_ingestor_image_starts_and_reaches_for_kafka(
    image: Callable[[str], ImageRoot], servers: Servers, tmp_path: Path
) -> None:
    """Against an unreachable Kafka it serves liveness and says what it is waiting for."""
    ingestor = image("order-ingestor")
    port = free_port()
    log = tmp_path / "ingestor.log"
    process = _start(
        ingestor,
        {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "DATABASE_URL": servers.database_url("order_ingestor"),
            "REDIS_URL": servers.redis_url,
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "",
        },
        log,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def reaching_for_kafka() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                alive = httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False
            return alive and "Kafka unreachable" in log.read_text()

        eventually(reaching_for_kafka, timeout=90)
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["consumer_started"] is False
    finally:
        _stop(process)


def test_courier_image_serves_its_api_and_reaches_for_kafka(
    image: Callable[[str], ImageRoot], servers: Servers, tmp_path: Path
) -> None:
    """Against an unreachable Kafka it serves liveness and its API from its own database
    login, reports itself not ready because its consumer has not joined, and says why."""
    courier = image("order-courier")
    port = free_port()
    log = tmp_path / "courier.log"
    process = _start(
        courier,
        {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "DATABASE_URL": servers.database_url("order_courier_app"),
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            # Never called here: no record arrives from the unreachable Kafka.
            "ORDER_GATEWAY_URL": f"http://127.0.0.1:{free_port()}",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "",
        },
        log,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def reaching_for_kafka_with_the_database_up() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                ready = httpx.get(f"{base}/readyz", timeout=2)
            except httpx.HTTPError:
                return False
            return ready.json()["database_reachable"] and "Kafka unreachable" in log.read_text()

        eventually(reaching_for_kafka_with_the_database_up, timeout=90)
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["consumer_started"] is False
        couriers = httpx.get(f"{base}/api/v1/couriers", params={"limit": 1}, timeout=5)
        assert couriers.status_code == 200, couriers.text
        assert "couriers" in couriers.json()
    finally:
        _stop(process)


def _create_topic(bootstrap: str, name: str) -> None:
    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
        finally:
            await admin.close()

    asyncio.run(create())


def test_producer_image_publishes_the_canonical_order_it_ships(
    image: Callable[[str], ImageRoot], servers: Servers, compose: dict
) -> None:
    """Compose's demo publishes `--canonical`: the order inside the producer's wheel."""
    producer = image("order-producer")
    demo = compose["services"]["demo-orders"]
    assert "order-producer --canonical" in " ".join(demo["command"])
    topic = f"image-check-{uuid.uuid4().hex[:8]}"
    _create_topic(servers.kafka_bootstrap, topic)
    output = _run(
        producer,
        [*producer.entrypoint, "--topic", topic, "--canonical"],
        {"KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap, "OTEL_EXPORTER_OTLP_ENDPOINT": ""},
    )
    assert f"published 1 messages to {topic}" in output
    (message,) = read_from(servers.kafka_bootstrap, topic, {0: 0}, count=1)
    assert message.value == canonical_order().strip()
    assert message.key == CANONICAL_ORDER_UID.encode()
