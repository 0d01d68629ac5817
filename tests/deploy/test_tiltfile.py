"""The Tiltfile runs in Tilt's Starlark interpreter and wires images, chart and resources."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from courier.app import create_app as create_courier_app
from courier.gateway import OrderGateway
from courier.reconcile import Reconciler
from courier.retry_queue import RetryPolicy
from order_shared.consumer_readiness import ConsumerReadiness
from query.http.app import create_app
from query.settings import QuerySettings
from tests.deploy.conftest import (
    CHART,
    KIND_VALUES,
    RELEASE,
    REPO,
    TILTFILE,
    Rendering,
    execute_tiltfile,
    helm_template,
)

SERVERS = ("postgres", "kafka", "redis", "jaeger")


def calls_of(calls: list[dict], fn: str) -> list[dict]:
    return [call for call in calls if call["fn"] == fn]


def resources(calls: list[dict]) -> dict[str, dict]:
    return {call["new_name"] or call["workload"]: call for call in calls_of(calls, "k8s_resource")}


@pytest.fixture(scope="module")
def tilt_rendering(tilt_calls: list[dict]) -> Rendering:
    """The chart rendered exactly as the Tiltfile's helm() call asks."""
    (call,) = calls_of(tilt_calls, "helm")
    extra: list[str] = []
    for values in call["values"]:
        extra += ["-f", str(REPO / values)]
    for assignment in call["set"]:
        extra += ["--set", assignment]
    return Rendering("tilt", helm_template(*extra))


def test_a_syntax_error_in_the_tiltfile_is_reported_at_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "Tiltfile"
    lines = TILTFILE.read_text().splitlines()
    lines.insert(20, "RELEASE = = 1")
    broken.write_text("\n".join(lines))
    with pytest.raises(pytest.fail.Exception, match=r"Tiltfile:21:"):
        execute_tiltfile(broken)


def test_tiltfile_deploys_the_chart_with_the_kind_values(tilt_calls: list[dict]) -> None:
    (call,) = calls_of(tilt_calls, "helm")
    assert REPO / call["paths"] == CHART
    assert REPO / call["values"][0] == KIND_VALUES
    assert call["name"] == RELEASE
    assert [c["yaml"] for c in calls_of(tilt_calls, "k8s_yaml")] == [f"<helm:{call['paths']}>"]
    assert calls_of(tilt_calls, "allow_k8s_contexts")[0]["contexts"] == "kind-order-service"


def test_every_tilt_resource_names_a_workload_the_chart_renders(
    tilt_calls: list[dict], tilt_rendering: Rendering
) -> None:
    workloads = {
        doc["metadata"]["name"]
        for doc in tilt_rendering.documents
        if doc["kind"] in ("Deployment", "StatefulSet", "Job")
    }
    objects = {
        f"{doc['metadata']['name']}:{doc['kind'].lower()}" for doc in tilt_rendering.documents
    }
    for name, resource in resources(tilt_calls).items():
        if resource["workload"]:
            assert resource["workload"] in workloads, f"{name}: no workload"
        else:
            assert resource["new_name"] and resource["objects"], f"{name}: a resource of nothing"
        for selector in resource["objects"]:
            assert selector in objects, f"{name}: no object {selector}"
    named = {resource["workload"] for resource in resources(tilt_calls).values()}
    assert workloads <= named, f"workloads without a named resource: {workloads - named}"
    # Every object has a home, so nothing lands in Tilt's "uncategorized" resource.
    grouped = {s for resource in resources(tilt_calls).values() for s in resource["objects"]}
    services = {f"{d['metadata']['name']}:service" for d in tilt_rendering.of_kind("Service")}
    workload_objects = {f"{name}:{kind}" for name in workloads for kind in ("deployment", "job")}
    stray = objects - grouped - services - workload_objects
    assert not stray, f"objects no resource claims: {sorted(stray)}"


def test_configuration_is_applied_before_the_servers_that_read_it(tilt_calls: list[dict]):
    by_name = resources(tilt_calls)
    assert any(s.endswith(":secret") for s in by_name["config"]["objects"])
    for server in SERVERS:
        assert "config" in by_name[server]["resource_deps"], server


def test_migrations_run_before_the_services_and_after_the_servers(tilt_calls: list[dict]):
    by_name = resources(tilt_calls)
    assert set(by_name["migrations"]["resource_deps"]) >= {"postgres", "kafka"}
    for service in ("ingestor", "query", "courier"):
        assert "migrations" in by_name[service]["resource_deps"], service
    # The courier's gateway is the query service.
    assert "query" in by_name["courier"]["resource_deps"]
    assert "ingestor" in by_name["demo-orders"]["resource_deps"]
    assert set(SERVERS) <= set(by_name)


def test_tilt_renders_the_migrations_as_a_plain_job(tilt_rendering: Rendering) -> None:
    for job in tilt_rendering.of_kind("Job"):
        # Tilt skips Helm hooks: a hook-annotated Job would never run under Tilt.
        assert "helm.sh/hook" not in job["metadata"].get("annotations", {})


def test_resources_are_labelled_and_expose_their_ui(tilt_calls: list[dict]) -> None:
    by_name = resources(tilt_calls)
    for name, resource in by_name.items():
        assert resource["labels"], f"{name} has no label"
    assert [pf["local_port"] for pf in by_name["query"]["port_forwards"]] == [8080]
    assert [pf["local_port"] for pf in by_name["jaeger"]["port_forwards"]] == [16686]
    assert [pf["local_port"] for pf in by_name["courier"]["port_forwards"]] == [8082]
    assert any(link["url"] == "http://localhost:8000/" for link in by_name["query"]["links"])


def test_live_update_syncs_existing_sources_into_the_installed_packages(
    tilt_images: dict,
) -> None:
    for ref in ("order-ingestor", "order-query", "order-courier"):
        build = tilt_images[ref]
        dockerfile = (REPO / build["dockerfile"]).read_text()
        assert re.search(rf"^FROM .* AS {build['target']}$", dockerfile, re.MULTILINE)
        python = re.search(r"PYTHON_IMAGE=python:(\d+\.\d+)", dockerfile).group(1)
        syncs = [step for step in build["live_update"] if step["step"] == "sync"]
        assert syncs, ref
        for step in syncs:
            assert (REPO / step["local_path"]).is_dir(), step["local_path"]
            remote = step["remote_path"]
            assert remote == "/app/web" or remote.startswith(
                f"/app/.venv/lib/python{python}/site-packages/"
            ), remote
            # The dev stage makes exactly these paths writable for the app user.
            assert remote in dockerfile or remote.rsplit("/", 1)[-1] in dockerfile
        fallback = next(s for s in build["live_update"] if s["step"] == "fall_back_on")
        assert "uv.lock" in fallback["files"]
        # The process restarts when a synced file changes.
        assert build["entrypoint"][0] == "watchfiles"


def ingress_backend(rendering: Rendering, path: str) -> str:
    """The component the Ingress sends `path` to: its longest Prefix path that matches,
    element by element, as Kubernetes matches them."""
    paths = [
        entry
        for ingress in rendering.of_kind("Ingress")
        for rule in ingress["spec"]["rules"]
        for entry in rule["http"]["paths"]
    ]
    matching = [
        entry
        for entry in paths
        if entry["path"] == "/"
        or path == entry["path"]
        or path.startswith(entry["path"].rstrip("/") + "/")
    ]
    longest = max(matching, key=lambda entry: len(entry["path"]))
    service = rendering.named("Service", longest["backend"]["service"]["name"])
    return service["metadata"]["labels"]["app.kubernetes.io/component"]


async def test_every_link_to_the_ingress_answers_from_the_service_behind_it(
    tilt_calls: list[dict], tilt_rendering: Rendering
):
    """The links are paths behind the ingress: ask the real app of the service the Ingress
    routes each to (built offline; nothing that would reach for the servers is run). The
    query app answers its links; the courier's answers read its database, so for those the
    courier app must have the route (its OpenAPI schema lists it)."""
    by_name = resources(tilt_calls)
    ingress = next(link["url"] for link in by_name["query"]["links"] if "ingress" in link["name"])
    paths = [
        link["url"].removeprefix(ingress.rstrip("/"))
        for resource in by_name.values()
        for link in resource["links"]
        if link["url"].startswith(ingress)
    ]
    by_backend = {
        backend: [path for path in paths if ingress_backend(tilt_rendering, path) == backend]
        for backend in ("query", "courier")
    }
    assert len(by_backend["query"]) >= 2 and by_backend["courier"], by_backend
    assert sum(map(len, by_backend.values())) == len(paths), paths
    app = create_app(QuerySettings(database_url="postgresql://nobody:x@127.0.0.1:9/orders"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
        for path in by_backend["query"]:
            response = await client.get(path)
            assert response.status_code == 200, f"{path}: {response.status_code}"
    pool = AsyncConnectionPool("postgresql://nobody:x@127.0.0.1:9/orders", open=False)
    reconciler = Reconciler(
        pool,
        OrderGateway(httpx.AsyncClient()),
        RetryPolicy(1, 1, 1),
        concurrency=1,
        round_seconds=1,
    )
    courier_app = create_courier_app(pool, ConsumerReadiness(), reconciler)
    courier_routes = courier_app.openapi_schema.paths or {}
    for path in by_backend["courier"]:
        assert path in courier_routes, f"{path}: not a route of the courier API"
