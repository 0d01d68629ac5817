"""`make kind-up` and the scripts around it agree on ports and names (the run needs Docker)."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.deploy.conftest import REPO, TILTFILE, run

SCRIPTS = [
    "deploy/kind/up.sh",
    "deploy/kind/down.sh",
    "deploy/kind/images.sh",
    "scripts/install-deploy-tools.sh",
]


@pytest.mark.parametrize("script", SCRIPTS)
def test_shell_script_parses(script: str) -> None:
    run("bash", "-n", REPO / script)


def test_ingress_port_is_the_same_in_kind_tilt_and_the_notes() -> None:
    cluster = yaml.safe_load((REPO / "deploy/kind/cluster.yaml").read_text())
    (node,) = cluster["nodes"]
    (mapping,) = node["extraPortMappings"]
    up = (REPO / "deploy/kind/up.sh").read_text()
    assert f"ports.web.nodePort={mapping['containerPort']}" in up
    url = f"http://localhost:{mapping['hostPort']}/"
    assert f'INGRESS_URL = "{url}"' in TILTFILE.read_text()
    assert url in (REPO / "deploy/helm/templates/NOTES.txt").read_text()
    assert node["labels"]["ingress-ready"] == "true"
    assert "nodeSelector.ingress-ready=true" in up


def test_cluster_name_is_the_context_tilt_allows() -> None:
    cluster = yaml.safe_load((REPO / "deploy/kind/cluster.yaml").read_text())
    context = f"kind-{cluster['name']}"
    assert re.search(rf'allow_k8s_contexts\("{context}"\)', TILTFILE.read_text())
    assert f"--context {context}" in (REPO / "Makefile").read_text()


def test_ingress_class_of_the_kind_values_is_the_one_kind_up_installs() -> None:
    values = yaml.safe_load((REPO / "deploy/helm/values-kind.yaml").read_text())
    assert values["ingress"]["className"] == "traefik"
    assert "helm upgrade --install traefik traefik" in (REPO / "deploy/kind/up.sh").read_text()


def test_kind_images_builds_what_tilt_builds_under_the_chart_default_tag(tilt_images: dict):
    """Without Tilt the chart pulls `order-<target>:<appVersion>`: `make images`
    (scripts/images.sh) makes exactly those, from the Dockerfile targets and PACKAGE values
    Tilt uses, and kind/images.sh hands each of them to the cluster."""
    builder = (REPO / "scripts/images.sh").read_text()
    script = (REPO / "deploy/kind/images.sh").read_text()
    targets = re.search(r"^targets=\(([^)]*)\)", builder, re.MULTILINE).group(1).split()
    loaded = re.search(r"^targets=\(([^)]*)\)", script, re.MULTILINE).group(1).split()
    assert loaded == targets
    built = {f"order-{target}": target for target in targets}
    assert set(built) == set(tilt_images)
    for name, target in built.items():
        assert tilt_images[name]["target"].removesuffix("-dev") == target
        assert tilt_images[name]["build_args"] == {"PACKAGE": f"order-{target}"}
    assert '--build-arg "PACKAGE=order-$target"' in builder
    assert '-t "order-$target:$app_version"' in builder and "appVersion" in builder
    assert 'image="order-$target:$tag"' in script
    cluster = yaml.safe_load((REPO / "deploy/kind/cluster.yaml").read_text())["name"]
    assert f"cluster={cluster}" in script
    assert "appVersion" in script and "Chart.yaml" in script
    values = yaml.safe_load((REPO / "deploy/helm/values.yaml").read_text())
    assert values["image"]["tag"] == "", "the chart's default tag is its appVersion"
    kind_values = yaml.safe_load((REPO / "deploy/helm/values-kind.yaml").read_text())
    # A loaded image is on the node only: `Always` would try a registry that lacks it.
    assert kind_values["image"]["pullPolicy"] == "IfNotPresent"
