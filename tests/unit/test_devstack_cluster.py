"""The cluster variant's addresses: what `make up CLUSTER=1` and the cluster tests hand
the services."""

from __future__ import annotations

from devstack import stack
from devstack.servers import ServerPorts


def test_the_cluster_gives_every_service_both_postgresql_hosts_and_every_broker() -> None:
    ports = ServerPorts.cluster()
    commands = stack.replica_commands(ports, "t" * 32)
    assert commands
    for command in commands:
        env = command.env
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
        assert "@127.0.0.1:5432,127.0.0.1:5433/orders" in env["DATABASE_URL"]
        assert env["DATABASE_URL"].endswith("?target_session_attrs=read-write")


def test_the_single_node_stays_the_default() -> None:
    ports = ServerPorts()
    assert ports.server_names == ("postgres", "redis", "kafka")
    assert ports.kafka_bootstrap == "127.0.0.1:9092"
    assert ports.database_url("u") == "postgresql://u:u@127.0.0.1:5432/orders"


def test_cluster_servers_start_primary_then_standby_then_the_brokers() -> None:
    ports = ServerPorts.cluster()
    assert ports.server_names == (
        "postgres-1",
        "postgres-2",
        "redis",
        "kafka-1",
        "kafka-2",
        "kafka-3",
    )
    assert [ports.port_of(name) for name in ports.server_names] == [
        5432,
        5433,
        6379,
        9092,
        9094,
        9096,
    ]
