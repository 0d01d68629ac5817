"""`make up`'s supervisord configuration: the servers outlive the services at `make down`.

Found on `make up CLUSTER=1`: with every program at supervisord's default priority the
brokers and PostgreSQL were stopped before the ingestor and the courier, whose shutdown
then waited on them until supervisord killed them."""

from __future__ import annotations

from devstack.process import ServerCommand
from devstack.stack import _program_section


def test_servers_start_first_and_stop_last() -> None:
    command = ServerCommand("x", ["true"])
    server = _program_section(command, autostart=True)
    service = _program_section(command, autostart=False)

    # Supervisord starts lower priorities first and stops them last.
    assert int(server["priority"]) < int(service["priority"])
