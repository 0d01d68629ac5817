"""The migrations on a scratch database of the test server: the outbox position resumes
before the oldest unsent event, rolls back to per-row marks, and holds every event
insert to the change counter's order."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from devstack import postgres
from order_migrations.schema import apply_migrations, roll_back_migration
from tests.harness import Servers


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
