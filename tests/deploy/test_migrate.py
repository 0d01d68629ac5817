"""The release-preparation job (`order-migrate`, db/src/order_migrations), offline and on
real servers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from order_migrations.logins import Login, logins_from_environment
from order_migrations.schema import migrations_folder, yoyo_url
from order_shared.topics import ALL_TOPICS
from tests.deploy.conftest import REPO

ORDER_MIGRATE = str(Path(sys.executable).with_name("order-migrate"))


def test_logins_come_from_login_for_variables_one_group_each() -> None:
    environ = {
        "LOGIN_FOR_ORDER_WRITER": "postgresql://order_ingestor:s%40cret@db:5432/orders",
        "LOGIN_FOR_ORDER_READER": "postgresql://order_query:q@db/orders, postgresql://a:b@db/x",
        "LOGIN_FOR_EMPTY": "",
        "DATABASE_URL": "postgresql://ignored:x@db/orders",
    }
    assert logins_from_environment(environ) == [
        Login("order_query", "q", "order_reader"),
        Login("a", "b", "order_reader"),
        Login("order_ingestor", "s@cret", "order_writer"),
    ]


def test_a_login_url_without_a_password_is_refused_with_the_variable_name() -> None:
    with pytest.raises(ValueError, match="LOGIN_FOR_ORDER_WRITER"):
        logins_from_environment({"LOGIN_FOR_ORDER_WRITER": "postgresql://nopassword@db/orders"})


def test_yoyo_gets_its_psycopg3_url() -> None:
    assert yoyo_url("postgres://u:p@h:5432/d") == "postgresql+psycopg://u:p@h:5432/d"
    with pytest.raises(ValueError, match="mysql"):
        yoyo_url("mysql://u:p@h/d")


def test_a_checkout_reads_the_repository_migrations() -> None:
    """Installed editable, the package reads db/migrations; the image test covers the wheel."""
    assert migrations_folder() == REPO / "db" / "migrations"


def test_bad_configuration_stops_the_job_naming_the_variable() -> None:
    result = subprocess.run(
        [ORDER_MIGRATE],
        env={"PATH": os.environ["PATH"], "MIGRATIONS_DATABASE_URL": "mysql://x"},
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 2
    assert "MIGRATIONS_DATABASE_URL" in result.stderr
    assert "KAFKA_BOOTSTRAP_SERVERS" in result.stderr


@pytest.mark.integration
def test_job_migrates_creates_logins_and_topics_on_real_servers(servers) -> None:
    """Rerunning on servers the harness prepared is a no-op, plus one new dev login."""
    login = f"postgresql://deploy_check_reader:pw@127.0.0.1:{servers.postgres_port}/orders"
    env = {
        "PATH": os.environ["PATH"],
        "MIGRATIONS_DATABASE_URL": servers.admin_database_url,
        "KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap,
        "LOGIN_FOR_ORDER_READER": login,
        "WAIT_SECONDS": "60",
    }
    for _ in range(2):  # idempotent: the second run changes nothing and succeeds
        result = subprocess.run(
            [ORDER_MIGRATE],
            env=env,
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr
    with psycopg.connect(login) as connection:
        roles = {
            row[0]
            for row in connection.execute(
                "SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON m.roleid = b.oid"
                " JOIN pg_roles u ON m.member = u.oid WHERE u.rolname = current_user"
            )
        }
        assert roles == {"order_reader"}
        connection.execute("SELECT count(*) FROM orders")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("DELETE FROM orders")

    async def topics() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=servers.kafka_bootstrap)
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    assert set(ALL_TOPICS) <= asyncio.run(topics())
