"""The documentation site builds with every warning an error (`mkdocs build --strict`, as
`make docs` and CI build it), a broken link fails that build, the generated pages hold
what the code says, and the README stays a short page whose links all lead somewhere."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.test_environment import SETTINGS_BY_PROCESS, variables_read_by

REPO = Path(__file__).resolve().parents[2]


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=REPO,  # the README's snippets are found from here
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    built = build(REPO / "mkdocs.yml", folder)
    assert built.returncode == 0, built.stderr[-5000:]
    assert "WARNING" not in built.stderr, built.stderr[-5000:]
    return folder


def text_of(page: Path) -> str:
    return re.sub(r"<[^>]+>", " ", page.read_text())


def test_the_site_builds_with_no_warning(site: Path) -> None:
    assert (site / "index.html").exists()


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    docs = shutil.copytree(REPO / "docs", tmp_path / "docs")
    with (docs / "contracts.md").open("a") as page:
        page.write("\nSee [the retired page](architecture/retired.md).\n")
    config = (REPO / "mkdocs.yml").read_text()
    config = config.replace("docs_dir: docs", f"docs_dir: {docs}")
    config = config.replace("- docsite/hooks.py", f"- {REPO / 'docsite' / 'hooks.py'}")
    (tmp_path / "mkdocs.yml").write_text(config)
    built = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert built.returncode != 0
    assert "architecture/retired.md" in built.stderr


@pytest.mark.parametrize("settings_class", sorted(set(SETTINGS_BY_PROCESS.values()), key=str))
def test_every_environment_variable_is_on_the_configuration_page(
    site: Path, settings_class: type
) -> None:
    page = text_of(site / "configuration" / "index.html")
    assert f"{settings_class.__module__}.{settings_class.__name__}" in page
    missing = {name for name in variables_read_by(settings_class) if name not in page}
    assert not missing


def test_the_variables_other_libraries_read_are_on_the_configuration_page(site: Path) -> None:
    page = text_of(site / "configuration" / "index.html")
    for name in ("OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
        assert name in page


@pytest.mark.parametrize("service", ["query", "courier"])
def test_each_openapi_page_renders_the_document_it_publishes(site: Path, service: str) -> None:
    document = json.loads((site / "api" / f"{service}-openapi.json").read_text())
    page = text_of(site / "api" / service / "index.html")
    for path in document["paths"]:
        assert path.split("{")[0].rstrip("/") in page


def test_every_committed_figure_is_drawn_as_a_chart(site: Path) -> None:
    figures = sorted((REPO / "docs" / "figures").glob("*.json"))
    assert figures
    for source in figures:
        measured = json.loads(source.read_text())
        assert {"command", "load_average", "figures"} <= set(measured)
        assert (site / "figures" / f"{source.stem}.svg").read_text().startswith("<?xml")


def test_the_readme_is_short_and_its_links_lead_somewhere() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    local = [target for target in targets if "://" not in target]
    assert local
    assert [target for target in local if not (REPO / target).exists()] == []
