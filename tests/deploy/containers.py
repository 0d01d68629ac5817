"""The images run by a real Docker engine: the engine itself (the machine's, or the project's
own started by scripts/docker-engine.sh), the images `make images` builds, containers that
run as the chart runs its pods, and the environment the chart gives each of them.

Every container uses the host's network and listens on 127.0.0.1 (the project's engine has
no bridge at all), so a chart's in-cluster address (`order-service-kafka:9092`) is
replaced by where the test's own server listens on loopback.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.deploy.conftest import REPO, Rendering, missing

ENGINE_SCRIPT = REPO / "scripts" / "docker-engine.sh"
IMAGES_SCRIPT = REPO / "scripts" / "images.sh"
PLUGINS = REPO / ".state" / "tools" / "docker"
CHART_VERSION = re.search(
    r'^appVersion: *"?([^"\n]+)"?$', (REPO / "deploy/helm/Chart.yaml").read_text(), re.M
)[1]


def _docker_env() -> dict[str, str]:
    env = dict(os.environ)
    if (PLUGINS / "cli-plugins" / "docker-buildx").exists():
        env.setdefault("DOCKER_CONFIG", str(PLUGINS))
    return env


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, env=_docker_env()
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def _engine_answers() -> bool:
    try:
        return docker("version", "--format", "{{.Server.Version}}", check=False).returncode == 0
    except FileNotFoundError:
        return False


@contextmanager
def docker_engine() -> Iterator[None]:
    """A Docker engine that answers: the one DOCKER_HOST (or docker's default) names, else
    the project's own (scripts/docker-engine.sh), started here if it is not running and then
    stopped afterwards by its pid. Skipped, saying why, only where no engine can run at all
    (no dockerd, or not root); in CI that fails."""
    if _engine_answers():
        yield
        return
    name, _, value = _engine_script("host").partition("=")
    previous = os.environ.get(name)
    os.environ[name] = value
    started_here = not _engine_answers()
    try:
        if started_here:
            _engine_script("start")
        yield
    finally:
        if started_here:
            _engine_script("stop")
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _engine_script(command: str) -> str:
    result = subprocess.run(["bash", ENGINE_SCRIPT, command], capture_output=True, text=True)
    if result.returncode != 0:
        missing(f"a Docker engine ({result.stderr.strip()})")
    return result.stdout.strip()


def build_images() -> None:
    """`make images`: cached, so seconds when CI built them beforehand. Behind a
    TLS-inspecting proxy the machine names its CA bundle (SSL_CERT_FILE): the local base
    image then trusts it too."""
    env = _docker_env()
    bundle = os.environ.get("IMAGE_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    if bundle:
        env["IMAGE_CA_BUNDLE"] = bundle
    result = subprocess.run(
        ["bash", IMAGES_SCRIPT], capture_output=True, text=True, env=env, timeout=1200
    )
    if result.returncode != 0:
        raise AssertionError(f"make images failed:\n{result.stdout}{result.stderr}")


@dataclass
class Container:
    name: str

    def logs(self) -> str:
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def state(self) -> dict[str, Any]:
        return json.loads(docker("inspect", "--format", "{{json .State}}", self.name).stdout)

    def config(self) -> dict[str, Any]:
        return json.loads(docker("inspect", "--format", "{{json .Config}}", self.name).stdout)

    def wait(self, timeout: float) -> int:
        """The exit status once it has exited."""
        return int(docker("wait", self.name, timeout=timeout).stdout.strip())

    def stop(self, grace_seconds: int) -> float:
        """SIGTERM, SIGKILL after `grace_seconds` as the kubelet does; seconds it took."""
        began = time.monotonic()
        docker("stop", "--time", str(grace_seconds), self.name, timeout=grace_seconds + 30)
        return time.monotonic() - began

    def remove(self) -> None:
        docker("rm", "--force", self.name, check=False)


def pod_security(rendering: Rendering, workload: dict[str, Any]) -> list[str]:
    """`docker run` options for what the chart's pod and container security contexts say."""
    pod = workload["spec"]["template"]["spec"]
    user = pod["securityContext"]
    container = pod["containers"][0]["securityContext"]
    options = ["--user", f"{user['runAsUser']}:{user['runAsGroup']}"]
    if container.get("readOnlyRootFilesystem"):
        options += ["--read-only", "--tmpfs", "/tmp"]  # the chart mounts an emptyDir there
    options += [f"--cap-drop={cap}" for cap in container["capabilities"]["drop"]]
    if container.get("allowPrivilegeEscalation") is False:
        options += ["--security-opt", "no-new-privileges"]
    return options


def run_container(
    image: str, env: Mapping[str, str], options: list[str], args: list[str] | None = None
) -> Container:
    """Started detached, on the host's network, with `env` and nothing else set."""
    name = f"order-test-{image.split(':')[0].removeprefix('order-')}-{uuid.uuid4().hex[:8]}"
    env_args = [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]
    docker(
        "run",
        "--detach",
        "--name",
        name,
        "--network",
        "host",
        *options,
        *env_args,
        image,
        *(args or []),
    )
    return Container(name)


def chart_environment(
    rendering: Rendering, workload: dict[str, Any], addresses: Mapping[str, str]
) -> dict[str, str]:
    """The environment the chart gives the workload's container: its config maps, its
    secrets' values, its field references and `$(VAR)` expansions, resolved as the kubelet
    does; then each in-cluster `service:port` replaced by `addresses[service:port]`."""
    pod = workload["spec"]["template"]["spec"]
    container = pod["containers"][0]
    secrets = {
        doc["metadata"]["name"]: doc.get("stringData", {}) for doc in rendering.of_kind("Secret")
    }
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env |= rendering.named("ConfigMap", source["configMapRef"]["name"])["data"]
    for variable in container.get("env", []):
        if "value" in variable:
            value = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), variable["value"])
        elif "secretKeyRef" in variable["valueFrom"]:
            ref = variable["valueFrom"]["secretKeyRef"]
            if ref["key"] not in secrets.get(ref["name"], {}):
                assert ref.get("optional"), f"{variable['name']}: no {ref['key']} in {ref['name']}"
                continue
            value = secrets[ref["name"]][ref["key"]]
        else:
            field = variable["valueFrom"]["fieldRef"]["fieldPath"]
            value = {
                "metadata.name": f"{workload['metadata']['name']}-0",
                "metadata.namespace": "default",
            }[field]
        env[variable["name"]] = value
    for key, value in env.items():
        for in_cluster, on_loopback in addresses.items():
            value = value.replace(in_cluster, on_loopback)
        env[key] = value
    return env


def not_json(text: str) -> list[str]:
    """The non-empty lines of `text` that are not a JSON object."""
    lines = []
    for line in text.splitlines():
        try:
            if line.strip() and not isinstance(json.loads(line), dict):
                lines.append(line)
        except json.JSONDecodeError:
            lines.append(line)
    return lines


def image_user(image: str) -> str:
    return docker("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()
