"""The Compose file: valid against the Compose specification, healthy, and started in order."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml

from tests.deploy.conftest import COMPOSE_FILE, REPO, compose_schema_path

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


@pytest.mark.parametrize("name", ["ingestor", "query-1", "query-2"])
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
