"""Fixtures for the offline checks of deploy/: the tools, the rendered chart, the Compose file.

Tools come from scripts/install-deploy-tools.sh (Helm, Starlark, the Compose schema, in
.state/tools) and from the dev dependencies (hadolint, kubernetes-validate). A test that
needs a missing tool is skipped and says how to install it; CI installs them all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("DEPLOY_TOOLS_DIR", REPO / ".state" / "tools"))
CHART = REPO / "deploy" / "helm"
KIND_VALUES = CHART / "values-kind.yaml"
EXTERNAL_CLUSTER_VALUES = CHART / "values-external-cluster.yaml"
COMPOSE_FILE = REPO / "deploy" / "compose" / "compose.yaml"
TILTFILE = REPO / "Tiltfile"
INSTALL_HINT = "run `bash scripts/install-deploy-tools.sh` (Docker's: install-image-tools.sh)"

# The Kubernetes versions the chart supports (Chart.yaml kubeVersion) up to the newest one
# kubernetes-validate ships schemas for: every manifest must be valid on both ends.
KUBE_VERSIONS = ("1.27.0", "1.37.0")
RELEASE = "order-service"  # the release name the Tiltfile renders with


def tool(name: str) -> Path:
    """A tool from .state/tools/bin (or its Docker CLI plugins), the virtualenv or PATH, or
    a skip that says why."""
    candidates = (
        TOOLS / "bin" / name,
        TOOLS / "docker" / "cli-plugins" / name,
        Path(sys.executable).with_name(name),
    )
    for candidate in candidates:
        if candidate.exists():
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    missing(name)


def missing(what: str) -> NoReturn:
    # CI installs every tool: there a missing one is a broken install step, not a skip.
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not installed in CI: {INSTALL_HINT} first")
    pytest.skip(f"{what} is not installed: {INSTALL_HINT}")


def compose_schema_path() -> Path:
    path = TOOLS / "compose-spec.json"
    if not path.exists():
        missing("the Compose specification's schema")
    return path


def run(*argv: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(arg) for arg in argv], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, argv))} failed:\n{result.stdout}\n{result.stderr}")
    return result


@dataclass(frozen=True)
class Rendering:
    """`helm template` output for one set of values."""

    name: str
    documents: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.documents if doc["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        for doc in self.of_kind(kind):
            if doc["metadata"]["name"] == name:
                return doc
        raise KeyError(f"no {kind} {name} in the {self.name} rendering")

    def pod_specs(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(workload, pod spec) of every Deployment, StatefulSet, DaemonSet and Job."""
        for doc in self.documents:
            if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
                yield doc, doc["spec"]["template"]["spec"]


def helm_template(*extra: str | Path, kube_version: str = KUBE_VERSIONS[-1]) -> list[dict]:
    output = run(
        tool("helm"),
        "template",
        RELEASE,
        CHART,
        "--namespace",
        "default",
        "--kube-version",
        kube_version,
        *extra,
    ).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


@pytest.fixture(scope="session")
def default_rendering() -> Rendering:
    return Rendering("default", helm_template())


@pytest.fixture(scope="session")
def kind_rendering() -> Rendering:
    return Rendering("kind", helm_template("-f", KIND_VALUES))


@pytest.fixture(scope="session", params=["default", "kind"])
def rendering(request: pytest.FixtureRequest) -> Rendering:
    return request.getfixturevalue(f"{request.param}_rendering")


# Compose's `${NAME:-default}` with NAME unset, as on a laptop that sets nothing.
_COMPOSE_DEFAULT = re.compile(r"\$\{[A-Z_][A-Z0-9_]*:-([^}]*)\}")


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """The Compose file as `docker compose` reads it with no variable set."""
    return yaml.safe_load(_COMPOSE_DEFAULT.sub(r"\1", COMPOSE_FILE.read_text()))


TILT_API = Path(__file__).with_name("tilt_api.star")


def execute_tiltfile(tiltfile: Path = TILTFILE) -> list[dict[str, Any]]:
    """Run the Tiltfile in go.starlark.net after tilt_api.star; return the Tilt calls it made.

    The interpreter is the one Tilt embeds, with the dialect options Tilt turns on (global
    reassignment and top-level control flow, recursion), so what fails here fails in Tilt.
    """
    starlark = tool("starlark")
    stubs = TILT_API.read_text()
    offset = stubs.count("\n") + 1
    program = f"{stubs}\n{tiltfile.read_text()}\nprint(json.encode(CALLS))\n"
    result = subprocess.run(
        [str(starlark), "-globalreassign", "-recursion", "-c", program],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    if result.returncode != 0:
        # Report positions in the Tiltfile, not in the stubs + Tiltfile program.
        message = re.sub(
            r"cmdline:(\d+):",
            lambda m: f"{tiltfile.name}:{int(m.group(1)) - offset}:",
            result.stderr,
        )
        pytest.fail(f"the Tiltfile does not run:\n{message}")
    return json.loads(result.stderr.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def tilt_calls() -> list[dict[str, Any]]:
    return execute_tiltfile()


@pytest.fixture(scope="session")
def tilt_images(tilt_calls: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Image name -> its docker_build call."""
    return {call["ref"]: call for call in tilt_calls if call["fn"] == "docker_build"}
