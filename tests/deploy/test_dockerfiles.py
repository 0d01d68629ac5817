"""The Dockerfiles: hadolint-clean, multi-stage from the lockfile, non-root, health-checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO, run, tool

DOCKERFILES = sorted(
    str(path.relative_to(REPO))
    for path in (*REPO.glob("services/*/Dockerfile"), *REPO.glob("db/Dockerfile"))
)
# One-shot images: nothing listens, so `HEALTHCHECK NONE` says so explicitly.
ONE_SHOT = {"services/producer/Dockerfile", "db/Dockerfile"}
# Services that run with `make up` and in the tests but have no image yet, and why.
NOT_YET_PACKAGED = {
    "courier": "its Dockerfile, chart entry and Compose service come with the deploy/ "
    "restructuring (issue 13)",
}


def stages(dockerfile: str) -> dict[str, str]:
    """Stage name -> its instructions (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", (REPO / dockerfile).read_text())
    found: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"FROM\s+\S+(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if match:
            current = match.group(1) or f"stage{len(found)}"
            found[current] = ""
        elif current:
            found[current] += line + "\n"
    return found


def test_every_service_has_a_dockerfile() -> None:
    services = {path.parent.name for path in REPO.glob("services/*/pyproject.toml")}
    packaged = {Path(d).parent.name for d in DOCKERFILES if d.startswith("services/")}
    assert packaged == services - set(NOT_YET_PACKAGED)
    assert not packaged & set(NOT_YET_PACKAGED), "packaged now: drop it from NOT_YET_PACKAGED"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_passes_hadolint(dockerfile: str) -> None:
    result = run(tool("hadolint"), "--failure-threshold", "info", dockerfile, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dependencies_come_from_the_lockfile_in_a_builder_stage(dockerfile: str) -> None:
    builder = stages(dockerfile)["builder"]
    syncs = re.findall(r"uv sync [^&\n]*", builder)
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs), syncs
    assert "pip install" not in builder.replace("uv pip install", "")


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_release_image_has_no_build_tools_and_runs_unprivileged(dockerfile: str) -> None:
    all_stages = stages(dockerfile)
    assert list(all_stages)[-1] == "release", "the default target must be the release image"
    release = all_stages["release"]
    text = (REPO / dockerfile).read_text()
    release_base = re.search(r"FROM\s+(\S+)\s+AS\s+release", text).group(1)
    chain = release + (all_stages.get(release_base, "") if release_base in all_stages else "")
    # Only the built virtualenv crosses over; uv, compilers and caches stay in the builder.
    assert not re.search(r"COPY --from=uv|apt-get install|apk add|\buv\b sync", chain)
    assert re.search(r"^USER 10001:10001$", release, re.MULTILINE)


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_declares_its_healthcheck(dockerfile: str) -> None:
    text = (REPO / dockerfile).read_text()
    if dockerfile in ONE_SHOT:
        assert "HEALTHCHECK NONE" in text
    else:
        assert re.search(r"HEALTHCHECK --interval=\S+ .*CMD .*/healthz", text.replace("\\\n", ""))


def test_the_query_image_ships_the_page_where_web_root_points() -> None:
    text = (REPO / "services/query/Dockerfile").read_text()
    assert "COPY web /app/web" in text
    assert "WEB_ROOT=/app/web" in text


def test_dockerignore_sends_only_what_the_images_install() -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") - 1].startswith("#") or "*" in ignore
    for needed in ("!uv.lock", "!pyproject.toml", "!shared/src/", "!services/*/src/", "!web/"):
        assert needed in ignore, needed
