"""Database errors that are not about a record's data wait and retry instead of
dead-lettering, readiness says when a partition stops moving, and the writer's sessions are
bounded so that no frozen writer holds the change counter for long."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from ingestor.settings import IngestorSettings
from order_shared.database import create_pool
from order_shared.model import Order
from order_shared.topics import ORDERS, ORDERS_DLQ
from tests.harness import Servers, ServiceProcess, eventually
from tests.kafka_io import end_offsets, publish
from tests.sample_orders import order_messages, sample_orders
from tests.store_io import query


def stored(servers: Servers, batch: list[Order]) -> int:
    return len(
        query(
            servers.admin_database_url,
            "SELECT 1 FROM orders WHERE order_uid = ANY(%s)",
            ([order.order_uid for order in batch],),
        )
    )


def readiness(ingestor: ServiceProcess) -> tuple[int, dict]:
    response = httpx.get(f"{ingestor.base_url}/readyz", timeout=5)
    return response.status_code, response.json()


def retries_for(ingestor: ServiceProcess, reason: str) -> float:
    prefix = f'ingestor_write_retries_total{{reason="{reason}"}} '
    for line in httpx.get(f"{ingestor.base_url}/metrics", timeout=5).text.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0


def admin(servers: Servers, statement: str) -> None:
    with psycopg.connect(servers.admin_database_url, autocommit=True) as connection:
        connection.execute(statement)


def test_a_revoked_privilege_pauses_the_ingestor_instead_of_dead_lettering(
    servers: Servers, ingestor: ServiceProcess
) -> None:
    batch = sample_orders(41201, 10)
    dlq_before = end_offsets(servers.kafka_bootstrap, ORDERS_DLQ)
    ingestor.restart(PROGRESS_DEADLINE_SECONDS="3")
    ingestor.wait_ready()
    retries_before = retries_for(ingestor, "InsufficientPrivilege")

    admin(servers, "REVOKE INSERT ON orders FROM order_writer")
    try:
        publish(servers.kafka_bootstrap, ORDERS, order_messages(batch))
        eventually(lambda: retries_for(ingestor, "InsufficientPrivilege") > retries_before)
        _, report = eventually(lambda: readiness(ingestor)[0] == 503 and readiness(ingestor))
        assert report["stalled_partitions"]
        assert "InsufficientPrivilege" in report["waiting_on"]
        assert stored(servers, batch) == 0
    finally:
        admin(servers, "GRANT INSERT ON orders TO order_writer")

    eventually(lambda: stored(servers, batch) == len(batch), timeout=60)
    assert end_offsets(servers.kafka_bootstrap, ORDERS_DLQ) == dlq_before
    eventually(lambda: readiness(ingestor)[0] == 200)
    assert readiness(ingestor)[1]["waiting_on"] is None
    ingestor.restart(PROGRESS_DEADLINE_SECONDS="120")
    ingestor.wait_ready()


@pytest.fixture
async def writer_pool(servers: Servers):
    settings = IngestorSettings(
        database_url=servers.database_url("order_ingestor"),
        database_idle_in_transaction_timeout_seconds=1,
        database_lock_timeout_seconds=2,
    )
    pool = create_pool(
        settings.database_url,
        name="timeouts-test",
        session_settings=settings.database_session_settings(),
    )
    await pool.open()
    yield pool
    await pool.close()


async def test_a_writer_idle_in_its_transaction_releases_the_change_counter(
    servers: Servers, writer_pool
) -> None:
    async with writer_pool.connection() as frozen:
        await frozen.execute("SELECT last_seq FROM change_counter FOR UPDATE")
        # Another writer gets the lock once the server has ended the idle transaction,
        # long before its own patience runs out.
        with psycopg.connect(servers.database_url("order_ingestor")) as other:
            other.execute("SET lock_timeout = '20s'")
            other.execute("SELECT last_seq FROM change_counter FOR UPDATE")
            other.rollback()
        with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout):
            await frozen.execute("SELECT 1")


async def test_writer_sessions_are_bounded_and_keep_their_connection_alive(writer_pool) -> None:
    async with writer_pool.connection() as connection:
        shown = {}
        for name in ("lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout"):
            (shown[name],) = await (await connection.execute(f"SHOW {name}")).fetchone()
        parameters = connection.info.get_parameters()

    assert shown == {
        "lock_timeout": "2s",
        "statement_timeout": "1min",
        "idle_in_transaction_session_timeout": "1s",
    }
    assert parameters["keepalives"] == "1"
    assert int(parameters["keepalives_idle"]) > 0
