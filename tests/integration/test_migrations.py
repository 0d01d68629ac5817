"""The migrations on a scratch database of the test server: the outbox position resumes
before the oldest unsent event, rolls back to per-row marks, and holds every event
insert to the change counter's order."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from devstack import postgres
from order_migrations.schema import apply_migrations, roll_back_migration
from tests.harness import Servers, free_port


@pytest.fixture
def scratch_database(servers: Servers) -> Iterator[str]:
    with postgres.scratch_database(servers.postgres_port, "migrations") as url:
        yield url


def test_outbox_position_resumes_before_the_oldest_unsent_event_and_rolls_back(
    scratch_database: str,
) -> None:
    apply_migrations(scratch_database)
    roll_back_migration(scratch_database, "0005.outbox-position")
    with psycopg.connect(scratch_database) as connection:
        connection.execute(
            "INSERT INTO order_events (order_uid, status, created_at, version, published_at)"
            " SELECT 'o' || n, 'created', now(), 1, CASE WHEN n = 3 THEN NULL ELSE now() END"
            "   FROM generate_series(1, 4) AS n"
        )

    apply_migrations(scratch_database)
    with psycopg.connect(scratch_database) as connection:
        (position,) = connection.execute("SELECT last_sent_id FROM outbox_position").fetchone()
    assert position == 2  # event 4 goes out again after 3; nothing is skipped

    roll_back_migration(scratch_database, "0005.outbox-position")
    with psycopg.connect(scratch_database) as connection:
        marks = connection.execute(
            "SELECT order_uid, published_at IS NOT NULL FROM order_events ORDER BY id"
        ).fetchall()
    assert marks == [("o1", True), ("o2", True), ("o3", False), ("o4", False)]


def test_an_event_insert_waits_for_the_change_counter(scratch_database: str) -> None:
    apply_migrations(scratch_database)
    with (
        psycopg.connect(scratch_database) as writer,
        psycopg.connect(scratch_database) as other,
    ):
        writer.execute("SELECT last_seq FROM change_counter FOR UPDATE")
        other.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            other.execute(
                "INSERT INTO order_events (order_uid, status, created_at, version)"
                " VALUES ('late', 'created', now(), 1)"
            )


def test_erased_orders_are_written_by_the_ingestor_alone_and_read_by_the_query_service(
    servers: Servers,
) -> None:
    remember = (
        "INSERT INTO erased_orders (order_uid, version, change_seq, source_partition,"
        " source_offset) VALUES ('role-test-9890', 2, -9890, 0, 1)"
    )
    with psycopg.connect(servers.database_url("order_ingestor")) as connection:
        connection.execute(remember)
        connection.rollback()
    for user in ("order_query", "order_courier_app"):
        with psycopg.connect(servers.database_url(user)) as connection:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute(remember)
            connection.rollback()
            if user == "order_query":
                connection.execute("SELECT order_uid FROM erased_orders LIMIT 1")


def test_the_erasure_migration_rolls_back_and_applies_again(scratch_database: str) -> None:
    apply_migrations(scratch_database)
    with psycopg.connect(scratch_database) as connection:
        connection.execute(
            "INSERT INTO order_events (order_uid, status, created_at, version)"
            " VALUES ('e', 'erased', now(), 2)"
        )
        connection.execute(
            "INSERT INTO closed_orders (order_id, status, erased_version) VALUES ('e', 'erased', 2)"
        )

    roll_back_migration(scratch_database, "0010.order-erasures")
    with psycopg.connect(scratch_database) as connection:
        assert connection.execute("SELECT count(*) FROM order_events").fetchone() == (0,)
        with pytest.raises(psycopg.errors.CheckViolation):
            connection.execute(
                "INSERT INTO order_events (order_uid, status, created_at, version)"
                " VALUES ('e', 'erased', now(), 2)"
            )
    apply_migrations(scratch_database)
    with psycopg.connect(scratch_database) as connection:
        assert connection.execute("SELECT count(*) FROM erased_orders").fetchone() == (0,)


def test_migrations_run_through_a_connection_string_of_several_hosts(
    scratch_database: str,
) -> None:
    """A production cluster's URL names every PostgreSQL host and lets libpq find the
    writable one; the first host here refuses connections, as a failed primary does."""
    down = free_port()
    several = scratch_database.replace("@127.0.0.1:", f"@127.0.0.1:{down},127.0.0.1:", 1)
    apply_migrations(f"{several}?target_session_attrs=read-write")
    with psycopg.connect(scratch_database) as connection:
        (tables,) = connection.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'change_counter'"
        ).fetchone()
    assert tables == 1
