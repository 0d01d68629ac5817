"""The courier's tables and role: each service writes only its own tables, the schema
itself refuses what the service must never store, and the migration rolls back."""

from __future__ import annotations

import psycopg
import pytest

from order_migrations.schema import apply_migrations, roll_back_migration
from tests.harness import Servers
from tests.integration.test_migrations import scratch_database  # noqa: F401 (fixture)


def test_the_courier_role_writes_its_tables_and_cannot_touch_the_orders(
    servers: Servers,
) -> None:
    with psycopg.connect(servers.database_url("order_courier_app")) as connection:
        connection.execute(
            "INSERT INTO couriers (name, phone, transport) VALUES ('x', '+15550000009', 'car')"
        )
        connection.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("UPDATE orders SET status = 'cancelled'")
        connection.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("SELECT order_uid FROM orders LIMIT 1")


@pytest.mark.parametrize("user", ["order_ingestor", "order_query"])
def test_the_order_roles_cannot_write_the_courier_tables(servers: Servers, user: str) -> None:
    with psycopg.connect(servers.database_url(user)) as connection:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute(
                "INSERT INTO couriers (name, phone, transport) VALUES ('x', '+15550000001', 'car')"
            )
        connection.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("DELETE FROM courier_orders")


def test_the_schema_refuses_a_second_order_for_one_courier_and_a_bad_phone(
    scratch_database: str,  # noqa: F811
) -> None:
    apply_migrations(scratch_database)
    with psycopg.connect(scratch_database) as connection:
        (courier,) = connection.execute(
            "INSERT INTO couriers (name, phone, transport, status)"
            " VALUES ('Ada', '+15550000002', 'scooter', 'busy') RETURNING id"
        ).fetchone()
        connection.execute(
            "INSERT INTO courier_orders (order_id, courier_id, state) VALUES ('a', %s, 'assigned')",
            (courier,),
        )
        with pytest.raises(psycopg.errors.UniqueViolation):
            connection.execute(
                "INSERT INTO courier_orders (order_id, courier_id, state)"
                " VALUES ('b', %s, 'assigned')",
                (courier,),
            )
        connection.rollback()
        with pytest.raises(psycopg.errors.CheckViolation):
            connection.execute(
                "INSERT INTO couriers (name, phone, transport) VALUES ('Bo', '5550000003', 'car')"
            )


def test_the_courier_migration_rolls_back_and_applies_again(
    scratch_database: str,  # noqa: F811
) -> None:
    apply_migrations(scratch_database)
    roll_back_migration(scratch_database, "0007.couriers")
    with psycopg.connect(scratch_database) as connection:
        (tables,) = connection.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename IN ('couriers', 'courier_orders')"
        ).fetchone()
    assert tables == 0

    apply_migrations(scratch_database)
    with psycopg.connect(scratch_database) as connection:
        (tables,) = connection.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename IN ('couriers', 'courier_orders')"
        ).fetchone()
    assert tables == 2
