"""Policy over every rendered manifest: probes, resources, security, and where images come from.

Each rule holds for every container of every workload the chart renders, with the default
(production) values and with the kind values, dev servers included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import COMPOSE_FILE, REPO, Rendering, run


def containers(rendering: Rendering):
    for workload, pod in rendering.pod_specs():
        for container in pod.get("initContainers", []) + pod["containers"]:
            yield workload, pod, container


def where(workload: dict[str, Any], container: dict[str, Any]) -> str:
    return f"{workload['kind']}/{workload['metadata']['name']} container {container['name']}"


def test_every_long_running_container_has_liveness_and_readiness_probes(
    rendering: Rendering,
) -> None:
    missing = [
        where(workload, container)
        for workload, _, container in containers(rendering)
        # A Job's container is judged by its exit status: there is nothing to route to
        # (readiness) and a hung run is ended by the Job's activeDeadlineSeconds.
        if workload["kind"] != "Job"
        and not ("livenessProbe" in container and "readinessProbe" in container)
    ]
    assert not missing, f"without probes: {missing}"


def test_jobs_have_a_deadline_instead_of_probes(rendering: Rendering) -> None:
    for job in rendering.of_kind("Job"):
        assert job["spec"]["activeDeadlineSeconds"] > 0
        assert job["spec"]["backoffLimit"] >= 0


def test_our_services_probe_their_real_health_endpoints(rendering: Rendering) -> None:
    expected = {
        "ingestor": ("/healthz", "/readyz"),
        "query": ("/healthz", "/readyz"),
        "courier": ("/healthz", "/readyz"),
    }
    for _, _, container in containers(rendering):
        if container["name"] in expected:
            liveness, readiness = expected[container["name"]]
            assert container["livenessProbe"]["httpGet"]["path"] == liveness
            assert container["readinessProbe"]["httpGet"]["path"] == readiness
            assert container["livenessProbe"]["httpGet"]["port"] == "http"


def test_every_container_has_cpu_and_memory_requests_and_limits(rendering: Rendering) -> None:
    for workload, _, container in containers(rendering):
        resources = container.get("resources", {})
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= resources.get(bound, {}).keys(), (
                f"{where(workload, container)} lacks {bound}"
            )


def effective(pod: dict[str, Any], container: dict[str, Any], key: str) -> Any:
    """A security setting as Kubernetes applies it: the container's, else the pod's."""
    return container.get("securityContext", {}).get(key, pod.get("securityContext", {}).get(key))


def test_every_container_is_locked_down(rendering: Rendering) -> None:
    problems = []
    for workload, pod, container in containers(rendering):
        context = container.get("securityContext", {})
        name = where(workload, container)
        if effective(pod, container, "runAsNonRoot") is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        if effective(pod, container, "runAsUser") in (None, 0):
            problems.append(f"{name}: no non-zero runAsUser (an image's USER is not checked)")
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: root filesystem is writable")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: privilege escalation is allowed")
        if context.get("privileged", False):
            problems.append(f"{name}: privileged")
        if context.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{name}: capabilities are not all dropped")
        if context.get("capabilities", {}).get("add"):
            problems.append(f"{name}: adds capabilities")
        if effective(pod, container, "seccompProfile") != {"type": "RuntimeDefault"}:
            problems.append(f"{name}: no RuntimeDefault seccomp profile")
    assert not problems, "\n".join(problems)


def test_no_pod_gets_a_kubernetes_api_token(rendering: Rendering) -> None:
    for workload, pod in rendering.pod_specs():
        assert pod.get("automountServiceAccountToken") is False, workload["metadata"]["name"]
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")


def test_writable_paths_are_volumes_on_a_read_only_root(rendering: Rendering) -> None:
    for workload, pod, container in containers(rendering):
        volumes = {volume["name"] for volume in pod.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in volumes, where(workload, container)


# --- images --------------------------------------------------------------------------


def image_name(reference: str) -> tuple[str, str]:
    """(name, tag) of an image reference."""
    name, _, tag = reference.rpartition(":")
    return (name, tag) if "/" not in tag else (reference, "")


def dockerfiles_in_repository() -> set[str]:
    """Every Dockerfile in the tree, tracked or new (git's view, ignoring what it ignores)."""
    listed = run("git", "ls-files", "--cached", "--others", "--exclude-standard").stdout
    return {path for path in listed.splitlines() if Path(path).name.endswith("Dockerfile")}


def test_one_dockerfile_builds_every_image_tilt_builds(tilt_images: dict) -> None:
    assert dockerfiles_in_repository() == {"Dockerfile"}
    for call in tilt_images.values():
        assert call["dockerfile"] == "Dockerfile"
        assert call["context"] == "."


def test_every_image_the_chart_names_is_built_here_or_pinned(
    rendering: Rendering, tilt_images: dict
) -> None:
    for workload, _, container in containers(rendering):
        name, tag = image_name(container["image"])
        if name in tilt_images:
            continue  # ours: built by the Dockerfile Tilt names, tagged with the chart version
        assert tag and tag != "latest" and not tag.endswith("-latest"), (
            f"{where(workload, container)}: {container['image']} is neither built here "
            f"(names: {sorted(tilt_images)}) nor an external image pinned to a version"
        )


def test_the_chart_runs_every_image_built_here(kind_rendering: Rendering, tilt_images: dict):
    used = {image_name(c["image"])[0] for _, _, c in containers(kind_rendering)}
    assert set(tilt_images) <= used, f"built but never deployed: {set(tilt_images) - used}"


def test_compose_builds_the_same_images_from_the_same_dockerfiles(tilt_images: dict) -> None:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    compose_dir = COMPOSE_FILE.parent
    built = {}
    for service_name, service in compose["services"].items():
        if "build" not in service:
            continue
        context = (compose_dir / service["build"]["context"]).resolve()
        dockerfile = str((context / service["build"]["dockerfile"]).relative_to(REPO))
        name, _ = image_name(service["image"])
        assert context == REPO, f"{service_name}: builds from {context}"
        assert name in tilt_images, f"{service_name}: image {name} is not a name Tilt builds"
        tilt = tilt_images[name]
        assert tilt["dockerfile"] == dockerfile, service_name
        # The same member installed; Tilt's dev target is the release target plus ownership.
        assert tilt["build_args"] == service["build"]["args"], service_name
        assert tilt["target"].removesuffix("-dev") == service["build"]["target"], service_name
        built[name] = dockerfile
    assert set(built) == set(tilt_images)


def test_dev_servers_run_the_same_versions_in_compose_and_on_kind(
    kind_rendering: Rendering,
) -> None:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    compose_images = {service.get("image") for service in compose["services"].values()}
    for workload, _, container in containers(kind_rendering):
        component = workload["metadata"]["labels"]["app.kubernetes.io/component"]
        if component in ("kafka", "postgres", "redis", "jaeger"):
            assert container["image"] in compose_images, container["image"]


@pytest.mark.parametrize("dockerfile", sorted(dockerfiles_in_repository()))
def test_dockerfile_runs_as_the_uid_the_chart_expects(dockerfile: str) -> None:
    chart_values = yaml.safe_load((REPO / "deploy/helm/values.yaml").read_text())
    uid = chart_values["podSecurityContext"]["runAsUser"]
    text = Path(REPO / dockerfile).read_text()
    assert f"USER {uid}:{uid}" in text
