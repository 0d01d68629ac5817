"""The local ingress's nginx configuration: what `make up` puts behind port 8000, valid
for Debian's nginx, and refused when a service it routes to has no replicas."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from devstack import ingress, stack
from devstack.services import SERVICES


def test_make_up_puts_every_query_replica_and_the_courier_behind_port_8000(
    tmp_path: Path,
) -> None:
    replicas = {name: service.ports for name, service in SERVICES.items()}

    command = ingress.prepare_server(tmp_path, stack.INGRESS_PORT, replicas, tmp_path / "a.log")

    config = (tmp_path / "nginx.conf").read_text()
    assert re.search(r"^\s*listen 127\.0\.0\.1:8000;$", config, re.MULTILINE)
    upstreams = {
        name: re.findall(r"server 127\.0\.0\.1:(\d+)", body)
        for name, body in re.findall(r"upstream (\w+) \{(.*?)\}", config, re.DOTALL)
    }
    assert upstreams == {"query": ["8080", "8090"], "courier": ["8082"]}
    checked = subprocess.run([*command.argv, "-t"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    assert "/var/" not in config


def test_a_service_the_ingress_routes_to_must_have_replicas(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="courier"):
        ingress.render_config(8000, {"query": [8080]}, tmp_path, tmp_path / "a.log")
