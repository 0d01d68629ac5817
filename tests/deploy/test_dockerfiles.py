"""The Dockerfile: hadolint-clean, multi-stage from the lockfile, one target per image, each
non-root and health-checked; the targets Compose builds are the images that ship."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml

from tests.deploy.conftest import COMPOSE_FILE, REPO, run, tool
from tests.deploy.dockerfile import Dockerfile, Stage

DOCKERFILE = REPO / "Dockerfile"


def compose_builds() -> dict[str, dict]:
    """Compose service -> its build section (query-1 and query-2 build the same image)."""
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    return {
        name: {**service["build"], "one_shot": "x-one-shot" in service}
        for name, service in compose["services"].items()
        if "build" in service
    }


SHIPPED = sorted({build["target"] for build in compose_builds().values()})
ONE_SHOT = {build["target"] for build in compose_builds().values() if build["one_shot"]}


def instructions(stages: list[Stage], keyword: str) -> list[str]:
    return [rest for stage in stages for word, rest in stage.instructions if word == keyword]


def workspace_members() -> dict[str, str]:
    """Package name -> its folder, for every member of the uv workspace."""
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    members = {}
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for folder in sorted(REPO.glob(pattern)):
            manifest = folder / "pyproject.toml"
            if manifest.is_file():
                name = tomllib.loads(manifest.read_text())["project"]["name"]
                members[name] = str(folder.relative_to(REPO))
    return members


def test_dockerfile_passes_hadolint() -> None:
    result = run(tool("hadolint"), "--failure-threshold", "info", DOCKERFILE, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependencies_come_from_the_lockfile_in_a_builder_stage() -> None:
    builder = Dockerfile(DOCKERFILE).stages["builder"]
    runs = instructions([builder], "RUN")
    syncs = [re.search(r"uv sync [^&]*", line).group(0) for line in runs]
    assert len(syncs) == 2, runs
    assert all("--frozen" in s and "--no-dev" in s and '"${PACKAGE}"' in s for s in syncs)
    assert "pip install" not in " ".join(runs)


def test_the_dependency_layer_sees_every_workspace_manifest() -> None:
    """uv resolves the workspace from its manifests: a member left out of the bind mounts
    (a new service) would make the first `uv sync` see another workspace than uv.lock's."""
    (first, _) = instructions([Dockerfile(DOCKERFILE).stages["builder"]], "RUN")
    mounted = set(re.findall(r"--mount=type=bind,source=(\S+?),target=\1(?:\s|$)", first))
    manifests = {f"{folder}/pyproject.toml" for folder in workspace_members().values()}
    assert mounted == {"uv.lock", "pyproject.toml", *manifests}


def test_every_workspace_program_has_a_target_that_installs_it() -> None:
    stages = Dockerfile(DOCKERFILE).stages
    programs = {name.removeprefix("order-") for name in workspace_members()} - {"shared"}
    assert programs <= set(stages), programs - set(stages)
    assert set(SHIPPED) == programs
    for build in compose_builds().values():
        assert build["args"] == {"PACKAGE": f"order-{build['target']}"}, build


@pytest.mark.parametrize("target", SHIPPED)
def test_image_has_no_build_tools_and_runs_unprivileged(target: str) -> None:
    chain = Dockerfile(DOCKERFILE).chain(target)
    assert "builder" not in {stage.name for stage in chain}
    text = "\n".join(f"{word} {rest}" for stage in chain for word, rest in stage.instructions)
    # Only the built virtualenv crosses over; uv, compilers and caches stay in the builder.
    assert not re.search(r"COPY --from=uv|apt-get install|apk add|\buv\b sync", text)
    assert instructions(chain, "COPY")[0] == "--from=builder /app/.venv /app/.venv"
    assert instructions(chain, "USER")[-1] == "10001:10001"


@pytest.mark.parametrize("target", ["ingestor-dev", "query-dev", "courier-dev"])
def test_dev_targets_run_unprivileged_too(target: str) -> None:
    assert instructions(Dockerfile(DOCKERFILE).chain(target), "USER")[-1] == "10001:10001"


@pytest.mark.parametrize("target", SHIPPED)
def test_image_declares_its_healthcheck(target: str) -> None:
    (healthcheck, *_) = reversed(instructions(Dockerfile(DOCKERFILE).chain(target), "HEALTHCHECK"))
    if target in ONE_SHOT:
        assert healthcheck == "NONE"
    else:
        assert re.search(r"--interval=\S+ .*CMD .*/healthz", healthcheck)


def test_the_query_image_ships_the_page_where_web_root_points() -> None:
    chain = Dockerfile(DOCKERFILE).chain("query")
    assert "web /app/web" in instructions(chain, "COPY")
    assert any("WEB_ROOT=/app/web" in env for env in instructions(chain, "ENV"))


def test_dockerignore_sends_only_what_the_images_install() -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") - 1].startswith("#") or "*" in ignore
    for needed in ("!uv.lock", "!pyproject.toml", "!shared/src/", "!services/*/src/", "!web/"):
        assert needed in ignore, needed
