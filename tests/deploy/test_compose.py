"""The Compose file: valid against the Compose specification, healthy, and started in order."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from devstack.demo_couriers import DEMO_COURIERS
from tests.deploy.conftest import COMPOSE_FILE, REPO, compose_schema_path, run, tool

ONE_SHOT = "x-one-shot"


def test_compose_file_validates_against_the_compose_specification() -> None:
    schema = json.loads(compose_schema_path().read_text())
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]
    assert not errors, "\n".join(errors)


def test_every_long_running_service_has_a_healthcheck(compose: dict) -> None:
    for name, service in compose["services"].items():
        if ONE_SHOT in service:
            # Says why it has none; it runs once and exits, so nothing may restart it.
            assert len(service[ONE_SHOT].split()) >= 5, f"{name}: {ONE_SHOT} needs a reason"
            assert service.get("restart") == "no", name
            assert "healthcheck" not in service or service["healthcheck"].get("disable")
        else:
            check = service.get("healthcheck", {})
            assert check.get("test") and not check.get("disable"), f"{name}: no healthcheck"


def test_services_wait_for_what_they_depend_on(compose: dict) -> None:
    services = compose["services"]
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for dependency, rule in depends_on.items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            expected = (
                "service_completed_successfully"
                if ONE_SHOT in services[dependency]
                else "service_healthy"
            )
            assert rule["condition"] == expected, f"{name} -> {dependency}"


def start_order(compose: dict) -> list[str]:
    services = compose["services"]
    order: list[str] = []
    while len(order) < len(services):
        ready = [
            name
            for name, service in services.items()
            if name not in order and set(service.get("depends_on", {})) <= set(order)
        ]
        assert ready, f"a dependency cycle among {set(services) - set(order)}"
        order += sorted(ready)
    return order


def test_compose_comes_up_in_the_right_order_with_no_manual_step(compose: dict) -> None:
    order = start_order(compose)
    assert order.index("migrations") > max(order.index(s) for s in ("postgres", "kafka"))
    for service in ("ingestor", "query-1", "query-2"):
        assert order.index(service) > order.index("migrations")
    assert order.index("proxy") > max(order.index("query-1"), order.index("query-2"))
    assert order.index("demo-orders") > order.index("ingestor")
    # The courier's gateway is the query service; its topic comes from the migrations; the
    # proxy resolves its name at start; the demo couriers are added through its API.
    assert order.index("courier") > max(
        order.index(s) for s in ("migrations", "kafka", "query-1", "query-2")
    )
    assert order.index("proxy") > order.index("courier")
    assert order.index("demo-couriers") > order.index("courier")


def test_the_proxy_spreads_the_page_and_api_over_both_query_replicas(compose: dict) -> None:
    proxy = compose["services"]["proxy"]
    assert "127.0.0.1:8080:8080" in proxy["ports"]
    config_path = next(v.split(":")[0] for v in proxy["volumes"] if "nginx.conf" in v)
    config = (COMPOSE_FILE.parent / config_path).read_text()
    upstreams = re.findall(r"server (query-\d):8080", config)
    assert upstreams == ["query-1", "query-2"]
    assert re.search(r"location / \{\s*proxy_pass http://query;", config)


def test_every_image_is_pinned(compose: dict) -> None:
    for name, service in compose["services"].items():
        image = service.get("image", "")
        if "build" in service:
            continue  # built here, tagged :dev
        tag = image.rpartition(":")[2]
        assert ":" in image and tag and tag != "latest", f"{name}: {image!r} is not pinned"


def test_our_containers_are_locked_down(compose: dict) -> None:
    for name, service in compose["services"].items():
        if "build" in service or name == "proxy":
            assert service.get("read_only") is True, name
            assert service.get("cap_drop") == ["ALL"], name
            assert "no-new-privileges:true" in service.get("security_opt", []), name


@pytest.mark.parametrize("name", ["ingestor", "query-1", "query-2", "courier"])
def test_service_healthchecks_probe_readiness_on_the_service_port(compose: dict, name: str):
    service = compose["services"][name]
    port = service["environment"]["PORT"]
    assert f"http://127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])


def test_build_contexts_exist(compose: dict) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            context = (COMPOSE_FILE.parent / service["build"]["context"]).resolve()
            assert context == REPO, name
            assert (context / service["build"]["dockerfile"]).is_file(), name


def test_published_ports_are_on_loopback_and_host_tools_reach_kafka_and_otlp(compose: dict):
    published = {name: service.get("ports", []) for name, service in compose["services"].items()}
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is open beyond loopback"
    assert "127.0.0.1:9092:9092" in published["kafka"]
    # `make demo` on the host exports its spans like the containers do.
    assert "127.0.0.1:4318:4318" in published["jaeger"]


def _nginx_config(compose: dict) -> str:
    proxy = compose["services"]["proxy"]
    config_path = next(v.split(":")[0] for v in proxy["volumes"] if "nginx.conf" in v)
    return (COMPOSE_FILE.parent / config_path).read_text()


def test_the_proxy_re_resolves_replicas_that_are_recreated(compose: dict) -> None:
    """A recreated replica gets a new address; nginx must look the name up again."""
    config = _nginx_config(compose)
    resolver = re.search(r"^\s*resolver\s+([^;]+);", config, re.MULTILINE)
    assert resolver, "no resolver: names are resolved once, at start"
    assert resolver.group(1).split()[0] == "127.0.0.11", "Docker's embedded DNS"
    assert re.search(r"\bvalid=\d+s\b", resolver.group(1))
    upstream = re.search(r"upstream query \{(.*?)\}", config, re.DOTALL).group(1)
    assert re.search(r"^\s*zone\s+\S+\s+\d+k;", upstream, re.MULTILINE)
    servers = re.findall(r"^\s*server\s+(.*);", upstream, re.MULTILINE)
    assert servers and all(" resolve" in server for server in servers), servers
    # `resolve` in an upstream is open-source nginx from 1.27.3 on.
    tag = compose["services"]["proxy"]["image"].rpartition(":")[2]
    version = tuple(int(part) for part in tag.split("-")[0].split("."))
    assert version >= (1, 27, 3), tag


def test_the_kafka_healthcheck_runs_a_small_jvm(compose: dict) -> None:
    command = " ".join(compose["services"]["kafka"]["healthcheck"]["test"])
    heap = re.search(r"KAFKA_HEAP_OPTS='([^']*)'", command)
    assert heap, "the probe's JVM would take the broker's heap settings"
    maximum = re.search(r"-Xmx(\d+)m", heap.group(1))
    assert maximum and int(maximum.group(1)) <= 128, heap.group(1)


def test_jaeger_is_healthy_by_its_health_extension_not_its_ui(compose: dict) -> None:
    command = " ".join(compose["services"]["jaeger"]["healthcheck"]["test"])
    assert "http://127.0.0.1:13133/status" in command


def test_the_proxy_sends_the_courier_api_to_the_courier_service(compose: dict) -> None:
    """As the chart's Ingress does (Prefix paths: the path and what lies below it), so the
    page reaches the courier API on its own origin."""
    config = _nginx_config(compose)
    upstream = re.search(r"upstream courier \{(.*?)\}", config, re.DOTALL).group(1)
    port = compose["services"]["courier"]["environment"]["PORT"]
    assert re.search(rf"^\s*server courier:{port} resolve;", upstream, re.MULTILINE)
    (pattern,) = re.findall(r"location ~ (\S+) \{\s*proxy_pass http://courier;", config)
    courier_paths = ["/api/v1/couriers", "/api/v1/couriers/7", "/api/v1/couriers/stats"]
    courier_paths += ["/api/v1/assignments/x", "/api/v1/assignments"]
    for path in courier_paths:
        assert re.search(pattern, path), path
    for path in ["/", "/api/v1/orders/x", "/api/v1/couriersx", "/app.js", "/schema"]:
        assert not re.search(pattern, path), path


def test_the_demo_couriers_are_the_ones_make_up_adds(compose: dict) -> None:
    demo = compose["services"]["demo-couriers"]
    source = next(v.split(":")[0] for v in demo["volumes"] if "couriers.json" in v)
    assert json.loads((COMPOSE_FILE.parent / source).read_text()) == list(DEMO_COURIERS)
    assert demo["image"] == compose["services"]["courier"]["image"]
    assert demo["entrypoint"] == ["python", "-c"]
    (script,) = demo["command"]
    compile(script, "demo-couriers", "exec")
    assert "http://courier:8082/api/v1/couriers" in script
    assert "(201, 409)" in script, "a rerun finds them there already"


def test_the_courier_gateway_is_a_name_every_query_replica_answers_to(compose: dict) -> None:
    """Like the query Service in a cluster: the courier reaches whichever replicas run."""
    services = compose["services"]
    gateway = urlsplit(services["courier"]["environment"]["ORDER_GATEWAY_URL"])
    for replica in ("query-1", "query-2"):
        aliases = services[replica]["networks"]["default"]["aliases"]
        assert gateway.hostname in aliases, replica
        assert str(gateway.port) == services[replica]["environment"]["PORT"], replica
    others = [name for name, s in services.items() if gateway.hostname in str(s.get("networks"))]
    assert sorted(others) == ["query-1", "query-2"]


def _compose_config(path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(tool("docker-compose"), "-f", path, "config", *args, check=check)


def test_docker_compose_itself_accepts_the_file() -> None:
    """Compose's own loading and checks (references between services, merges, types), not
    only its schema."""
    _compose_config(COMPOSE_FILE, "--quiet")


def test_docker_compose_refuses_a_service_that_depends_on_no_service(tmp_path: Path) -> None:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    document["services"]["ingestor"]["depends_on"]["no-such-service"] = {
        "condition": "service_started"
    }
    broken = tmp_path / "compose.yaml"
    broken.write_text(yaml.safe_dump(document))
    refused = _compose_config(broken, "--quiet", check=False)
    assert refused.returncode != 0
    assert "no-such-service" in refused.stderr


def test_docker_compose_reads_each_service_as_these_checks_do(compose: dict) -> None:
    """The `compose` fixture resolves `${NAME:-default}` itself; real Compose, with no
    variable set, must arrive at the same images, builds and environments."""
    real = json.loads(_compose_config(COMPOSE_FILE, "--format", "json").stdout)
    assert set(real["services"]) == set(compose["services"])
    for name, service in compose["services"].items():
        resolved = real["services"][name]
        assert resolved.get("image") == service.get("image"), name
        if "build" in service:
            assert resolved["build"]["target"] == service["build"]["target"], name
            assert resolved["build"]["args"] == service["build"].get("args", {}), name
        environment = service.get("environment", {})
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        expected = {
            key: None if value is None else str(value) for key, value in environment.items()
        }
        assert resolved.get("environment", {}) == expected, name
