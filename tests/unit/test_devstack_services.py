"""devstack's catalogue of services: what `make up` runs, and that a new service is one
entry in SERVICES."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import services, stack
from devstack.servers import ServerPorts
from devstack.services import SERVICES, Service


def test_make_up_runs_its_services_on_the_contract_ports() -> None:
    replicas = [(replica.name, replica.port) for replica in stack.replicas()]

    assert replicas == [("ingestor", 8081), ("query-1", 8080), ("query-2", 8090), ("courier", 8082)]


def test_make_up_gives_the_courier_the_first_query_replica_as_its_gateway() -> None:
    (courier,) = [
        command
        for command in stack.replica_commands(ServerPorts(), "t" * 32)
        if command.name == "courier"
    ]

    assert courier.env["ORDER_GATEWAY_URL"] == "http://127.0.0.1:8080"


def test_make_up_gives_its_token_to_the_query_replicas_only() -> None:
    commands = stack.replica_commands(ServerPorts(), "dev-token-of-make-up")

    assert {command.name for command in commands if "API_TOKENS" in command.env} == {
        "query-1",
        "query-2",
    }
    assert {command.env.get("API_TOKENS") for command in commands} == {
        "dev-token-of-make-up",
        None,
    }


def test_the_dev_token_is_made_once_and_readable_by_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack, "DEV_API_TOKEN", tmp_path / "dev-api-token")

    first, again = stack.dev_api_token(), stack.dev_api_token()

    assert first == again and len(first) >= 32
    assert (tmp_path / "dev-api-token").stat().st_mode & 0o777 == 0o600


def test_a_service_reads_the_servers_and_logs_in_as_its_own_user() -> None:
    ports = ServerPorts(postgres=15432, redis=16379, kafka=19092, kafka_controller=19093)

    env = services.environment("query", ports, 18080)

    assert env == {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
        "REDIS_URL": "redis://127.0.0.1:16379/0",
        "DATABASE_URL": "postgresql://order_query:order_query@127.0.0.1:15432/orders",
        "PYTHONUNBUFFERED": "1",
        "PORT": "18080",
    }


def test_a_new_service_is_one_entry_with_its_login_its_replicas_and_its_links(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    courier = Service(
        "order-courier",
        "order_courier",
        "order_courier_writer",
        ports=(8082,),
        links={"ORDER_GATEWAY_URL": "query"},
    )
    monkeypatch.setitem(SERVICES, "courier", courier)

    commands = {
        command.name: command for command in stack.replica_commands(ServerPorts(), "t" * 32)
    }

    assert commands["courier"].argv == [str(services.executable_path("order-courier"))]
    assert commands["courier"].env["PORT"] == "8082"
    assert commands["courier"].env["ORDER_GATEWAY_URL"] == "http://127.0.0.1:8080"
    assert commands["courier"].env["DATABASE_URL"].startswith("postgresql://order_courier:")
    assert services.logins()[-1].group == "order_courier_writer"


def test_a_link_the_caller_cannot_resolve_is_left_for_the_service_to_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    linked = Service("order-x", "order_x", "order_reader", ports=(1,), links={"X_URL": "query"})
    monkeypatch.setitem(SERVICES, "x", linked)

    assert "X_URL" not in services.environment("x", ServerPorts(), 1)
    assert services.environment("x", ServerPorts(), 1, {"query": "http://q"})["X_URL"] == "http://q"
