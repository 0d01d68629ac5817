"""Every version is pinned once, in versions.env, and what names a version agrees with it:
the Dockerfile's uv image, the Kafka and Jaeger images of Compose and the chart, the
install scripts. A tool installed at another version than its pin fails here (in CI a
missing one does too)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack import versions
from devstack.versions import pin

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"


def _dockerfile_arg(name: str) -> str:
    (value,) = re.findall(rf"^ARG {name}=(\S+)$", (REPO / "Dockerfile").read_text(), re.M)
    return value


def _tag(image: str) -> str:
    return image.rpartition(":")[2]


def _chart_values() -> dict[str, Any]:
    return yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())


def test_the_dockerfiles_uv_image_is_the_pinned_uv():
    assert _tag(_dockerfile_arg("UV_IMAGE")) == pin("UV_VERSION")


@pytest.mark.parametrize(
    ("server", "pinned"), [("kafka", "KAFKA_VERSION"), ("jaeger", "JAEGER_VERSION")]
)
def test_compose_and_the_chart_run_the_pinned_kafka_and_jaeger(
    compose: dict, server: str, pinned: str
):
    assert _tag(compose["services"][server]["image"]) == pin(pinned)
    assert _tag(_chart_values()["dev"][server]["image"]) == pin(pinned)


def test_no_install_script_or_pom_declares_a_version_of_its_own():
    """A version assigned in a script would be a second pin that drifts from versions.env."""
    for script in SCRIPTS.glob("*.sh"):
        assignments = re.findall(r"^\s*([A-Z_]*VERSION)=", script.read_text(), re.M)
        assert not assignments, f"{script.name} pins {assignments}: move them to versions.env"
    pom = (REPO / "devstack" / "kafka" / "pom.xml").read_text()
    assert "<kafka.version>" not in pom and "<log4j.version>" not in pom


def test_every_pin_is_used():
    """A pin nothing reads is a version that pretends to be enforced."""
    readers = [*SCRIPTS.glob("*.sh"), *(REPO / "devstack").glob("*.py")]
    text = "\n".join(path.read_text() for path in readers)
    unused = [name for name in versions.PINS if name not in text]
    assert not unused, f"pinned in versions.env but read nowhere: {unused}"


def test_installed_tools_are_at_their_pins():
    found = list(versions.found_versions())
    differing = [row for row in found if row.found is not None and not row.matches]
    assert not differing, "\n".join(
        f"{row.tool}: pinned {row.pinned}, found {row.found}" for row in differing
    )
    missing = [row.tool for row in found if row.found is None]
    if missing and os.environ.get("CI"):
        pytest.fail(f"not installed in CI: {', '.join(missing)}")


def test_versions_file_rejects_an_unquoted_list(tmp_path: Path):
    bad = tmp_path / "versions.env"
    bad.write_text("DEBIAN_PACKAGES=a=1 b=2\n")
    with pytest.raises(ValueError, match="quote a value with spaces"):
        versions.read_pins(bad)
