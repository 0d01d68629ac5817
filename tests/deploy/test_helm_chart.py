"""The Helm chart: lint, render, validate against the Kubernetes API schemas, and behave."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from devstack import ingress
from devstack.services import INGRESS_DEFAULT, STREAMS_PATH
from tests.deploy.conftest import (
    CHART,
    EXTERNAL_CLUSTER_VALUES,
    KIND_VALUES,
    KUBE_VERSIONS,
    RELEASE,
    Rendering,
    helm_template,
    run,
    tool,
)

VALUE_SETS = {
    "default": (),
    "kind": ("-f", str(KIND_VALUES)),
    "external-cluster": ("-f", str(EXTERNAL_CLUSTER_VALUES)),
}


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_chart_passes_helm_lint_in_strict_mode(values: tuple[str, ...]) -> None:
    run(tool("helm"), "lint", CHART, "--strict", "--kube-version", KUBE_VERSIONS[-1], *values)


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_rendered_manifest_is_valid_kubernetes(
    values: tuple[str, ...], kube_version: str
) -> None:
    documents = helm_template(*values, kube_version=kube_version)
    assert documents
    errors = []
    for document in documents:
        try:
            # strict: an unknown or misplaced field is an error, not silently dropped.
            kubernetes_validate.validate(document, kube_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            name = f"{document['kind']}/{document['metadata']['name']}"
            errors.append(f"{name}: {error.message} at {list(error.path)}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize(
    "override, complaint",
    [
        (("--set", "bogus=1"), "additional properties 'bogus' not allowed"),
        (("--set", "services.query.replicas=two"), "got string, want integer"),
        (("--set", "services.query.resources.limits=null"), "missing property 'limits'"),
        (("--set", "ingress.hostname=x"), "additional properties 'hostname' not allowed"),
        (("--set", "services.courier.ingressPaths={api}"), "/services/courier/ingressPaths/0"),
        (("--set", "dev.kafka.image=apache/kafka:latest"), "/dev/kafka/image"),
        (("--set", "connections.logLevel=info"), "/connections/logLevel"),
        (("--set", "podSecurityContext.runAsNonRoot=false"), "/podSecurityContext/runAsNonRoot"),
        (("--set-string", "services.query.env.WORKERS=0"), "/services/query/env/WORKERS"),
        (("--set-string", "services.query.env.WORKERS=33"), "/services/query/env/WORKERS"),
    ],
)
def test_values_schema_rejects_unknown_keys_and_wrong_types(
    override: tuple[str, ...], complaint: str
) -> None:
    result = run(tool("helm"), "template", RELEASE, CHART, *override, check=False)
    assert result.returncode != 0
    assert complaint in result.stderr


def test_values_schema_is_strict_at_every_level() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    loose = []

    def visit(node: object, path: str) -> None:
        if not isinstance(node, dict):
            return
        if node.get("type") == "object" and "properties" in node:
            if "additionalProperties" not in node and "patternProperties" not in node:
                # Security contexts are Kubernetes types, validated by the API schemas.
                if not path.endswith(("SecurityContext", "affinity")):
                    loose.append(path)
        for key, child in node.items():
            if isinstance(child, dict):
                visit(child, f"{path}/{key}")
            elif isinstance(child, list):
                for index, item in enumerate(child):
                    visit(item, f"{path}/{key}/{index}")

    visit(schema, "")
    assert not loose, f"objects that accept unknown keys: {loose}"


def test_production_migrations_are_a_pre_install_and_pre_upgrade_hook(
    default_rendering: Rendering,
) -> None:
    (job,) = default_rendering.of_kind("Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    # A pre-install hook runs before the chart's ServiceAccount exists.
    assert "serviceAccountName" not in job["spec"]["template"]["spec"]


def test_production_deploys_no_servers_and_expects_an_existing_secret(
    default_rendering: Rendering,
) -> None:
    components = {
        doc["metadata"]["labels"]["app.kubernetes.io/component"]
        for doc in default_rendering.of_kind("Deployment")
    }
    assert components == {"ingestor", "query", "courier"}
    assert default_rendering.of_kind("Secret") == []


def test_kind_values_run_migrations_as_an_ordinary_job_with_dev_servers(
    kind_rendering: Rendering,
) -> None:
    job = kind_rendering.named("Job", f"{RELEASE}-migrations-1")
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {})
    env = {item["name"] for item in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {"LOGIN_FOR_ORDER_WRITER", "LOGIN_FOR_ORDER_READER", "LOGIN_FOR_ORDER_COURIER"} <= env
    for server in ("kafka", "postgres", "redis", "jaeger"):
        kind_rendering.named("Deployment", f"{RELEASE}-{server}")
        kind_rendering.named("Service", f"{RELEASE}-{server}")


def test_hook_with_a_chart_made_secret_is_refused_with_the_reason() -> None:
    result = run(
        tool("helm"),
        "template",
        RELEASE,
        CHART,
        "--set",
        "connections.secret.create=true",
        check=False,
    )
    assert result.returncode != 0
    assert "pre-install hook runs before this chart creates its own resources" in result.stderr


def test_query_service_autoscales_keeps_a_disruption_budget_and_spreads(
    default_rendering: Rendering,
) -> None:
    query = default_rendering.named("Deployment", f"{RELEASE}-query")
    hpa = default_rendering.named("HorizontalPodAutoscaler", f"{RELEASE}-query")
    assert hpa["spec"]["scaleTargetRef"]["name"] == query["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = default_rendering.named("PodDisruptionBudget", f"{RELEASE}-query")
    selector = query["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["selector"]["matchLabels"] == selector
    spread = query["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} >= {"kubernetes.io/hostname"}
    assert all(c["labelSelector"]["matchLabels"] == selector for c in spread)


def test_every_service_selects_exactly_its_own_pods(rendering: Rendering) -> None:
    workloads = rendering.of_kind("Deployment")
    for service in rendering.of_kind("Service"):
        selector = service["spec"]["selector"].items()
        matching = [
            w["metadata"]["name"]
            for w in workloads
            if selector <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matching) == 1, f"{service['metadata']['name']} selects {matching}"
        (workload,) = (w for w in workloads if w["metadata"]["name"] == matching[0])
        ports = {
            port["name"]
            for container in workload["spec"]["template"]["spec"]["containers"]
            for port in container.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports


def ingress_paths(rendering: Rendering) -> list[dict]:
    """Every path of every Ingress (each has one rule: one host)."""
    paths = []
    for document in rendering.of_kind("Ingress"):
        (rule,) = document["spec"]["rules"]
        paths.extend(rule["http"]["paths"])
    return paths


def ingress_routes(rendering: Rendering) -> dict[str, str]:
    """Ingress path -> the component of the Service it sends to (whose port it names)."""
    routes = {}
    for path in ingress_paths(rendering):
        assert path["pathType"] == "Prefix", path
        backend = path["backend"]["service"]
        service = rendering.named("Service", backend["name"])
        assert backend["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}
        routes[path["path"]] = service["metadata"]["labels"]["app.kubernetes.io/component"]
    return routes


def test_ingress_sends_the_page_and_the_api_to_the_query_service(rendering: Rendering) -> None:
    assert ingress_routes(rendering)["/"] == "query"


def test_the_live_streams_have_an_ingress_that_passes_them_unbuffered(
    rendering: Rendering,
) -> None:
    streams = rendering.named("Ingress", "order-service-streams")
    (rule,) = streams["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == STREAMS_PATH
    assert ingress_routes(rendering)[STREAMS_PATH] == "query"
    annotations = streams["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    main = next(doc for doc in rendering.of_kind("Ingress") if doc is not streams)
    assert "nginx.ingress.kubernetes.io/proxy-buffering" not in (
        main["metadata"].get("annotations") or {}
    )


def test_ingress_sends_the_courier_api_to_the_courier_service(rendering: Rendering) -> None:
    routes = ingress_routes(rendering)
    assert routes["/api/v1/couriers"] == "courier"
    assert routes["/api/v1/assignments"] == "courier"
    assert set(routes) == {"/", "/api/v1/couriers", "/api/v1/assignments", STREAMS_PATH}


def test_the_local_ingress_of_make_up_routes_as_the_chart_ingress_does(
    default_rendering: Rendering,
) -> None:
    """`make up`'s nginx takes its routes from devstack.services; they must be the chart's."""
    local = {path: service for service, paths in ingress.routes().items() for path in paths}
    assert ingress_routes(default_rendering) == {
        "/": INGRESS_DEFAULT,
        STREAMS_PATH: INGRESS_DEFAULT,
        **local,
    }


def test_a_disabled_service_takes_its_ingress_paths_with_it() -> None:
    rendering = Rendering("no courier", helm_template("--set", "services.courier.enabled=false"))
    assert ingress_routes(rendering) == {"/": "query", STREAMS_PATH: "query"}


def test_notes_tell_the_user_how_to_reach_the_page(tmp_path: Path) -> None:
    # Helm prints NOTES.txt only on install, which wants a cluster; render it offline by
    # including it from a template added to a copy of the chart.
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    (chart / "templates" / "notes-probe.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: |\n"
        '{{ include (print $.Template.BasePath "/NOTES.txt") . | indent 4 }}\n'
    )
    output = run(
        tool("helm"),
        "template",
        RELEASE,
        chart,
        "-f",
        KIND_VALUES,
        "--kube-version",
        KUBE_VERSIONS[-1],
        "--show-only",
        "templates/notes-probe.yaml",
    ).stdout
    notes = yaml.safe_load(output)["data"]["notes"]
    assert "http://localhost:8000/" in notes
    assert f"port-forward service/{RELEASE}-query 8080:8080" in notes
    assert "http://127.0.0.1:16686/" in notes
    assert f"port-forward service/{RELEASE}-courier 8082:8082" in notes
    assert "/api/v1/couriers and /api/v1/assignments" in notes


def test_config_changes_roll_the_pods(default_rendering: Rendering) -> None:
    for name in ("ingestor", "query", "courier"):
        deployment = default_rendering.named("Deployment", f"{RELEASE}-{name}")
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert {"checksum/config", "checksum/secret"} <= annotations.keys()


@pytest.mark.parametrize("values_file", [KIND_VALUES, EXTERNAL_CLUSTER_VALUES], ids=str)
def test_values_files_are_plain_yaml_overriding_known_keys(values_file: Path) -> None:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    kind = yaml.safe_load(values_file.read_text())

    def unknown(override: dict, base: dict, path: str = "") -> list[str]:
        found = []
        for key, value in override.items():
            if key not in base:
                found.append(f"{path}{key}")
            elif isinstance(value, dict) and isinstance(base[key], dict) and base[key]:
                found += unknown(value, base[key], f"{path}{key}.")
        return found

    assert unknown(kind, defaults) == []


HELM_DEFAULT_TIMEOUT_SECONDS = 300  # `helm install/upgrade --timeout`, 5m unless given


def test_the_migrations_hook_fails_as_itself_inside_helms_default_timeout(
    default_rendering: Rendering,
) -> None:
    job = default_rendering.named("Job", f"{RELEASE}-migrations")
    assert "pre-install" in job["metadata"]["annotations"]["helm.sh/hook"]
    deadline = job["spec"]["activeDeadlineSeconds"]
    assert deadline < HELM_DEFAULT_TIMEOUT_SECONDS, "Helm would time out before the Job fails"
    env = {
        item["name"]: item.get("value")
        for item in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert float(env["WAIT_SECONDS"]) < deadline


def test_a_wait_longer_than_the_jobs_deadline_is_refused_with_the_reason() -> None:
    result = run(
        tool("helm"),
        "template",
        RELEASE,
        CHART,
        "--set",
        "migrations.env.WAIT_SECONDS=600",
        check=False,
    )
    assert result.returncode != 0
    assert "WAIT_SECONDS (600) must be below migrations.activeDeadlineSeconds" in result.stderr


def test_an_autoscaled_deployment_starts_at_the_hpa_minimum(rendering: Rendering) -> None:
    hpas = {
        hpa["spec"]["scaleTargetRef"]["name"]: hpa
        for hpa in rendering.of_kind("HorizontalPodAutoscaler")
    }
    for deployment in rendering.of_kind("Deployment"):
        hpa = hpas.get(deployment["metadata"]["name"])
        if hpa:
            assert deployment["spec"]["replicas"] == hpa["spec"]["minReplicas"]
        else:
            assert deployment["spec"]["replicas"] >= 1
    if rendering.name == "default":
        assert hpas, "the default values autoscale the query service"


def test_dev_jaeger_is_probed_on_its_health_extension_not_its_ui(
    kind_rendering: Rendering,
) -> None:
    jaeger = kind_rendering.named("Deployment", f"{RELEASE}-jaeger")
    (container,) = jaeger["spec"]["template"]["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        check = container[probe]["httpGet"]
        assert (ports[check["port"]], check["path"]) == (13133, "/status"), probe


@pytest.mark.parametrize(
    "paths, complaint",
    [
        ("{/api/v1/couriers}", "/api/v1/couriers is claimed by services.courier already"),
        ("{/}", "/ is ingress.service's"),
    ],
)
def test_an_ingress_path_claimed_twice_is_refused_with_the_reason(
    paths: str, complaint: str
) -> None:
    result = run(
        tool("helm"),
        "template",
        RELEASE,
        CHART,
        "--set",
        f"services.ingestor.ingressPaths={paths}",
        check=False,
    )
    assert result.returncode != 0
    assert complaint in result.stderr


def test_the_external_cluster_values_reach_every_broker_and_replicate_the_topics() -> None:
    """The example for a production Kafka and PostgreSQL: no servers of its own, the
    platform's Secret, a bootstrap list of several brokers, and topics made with
    replication factor 3 (each with min.insync.replicas 2, order_shared.topics)."""
    rendering = Rendering("external-cluster", helm_template("-f", EXTERNAL_CLUSTER_VALUES))
    components = {
        doc["metadata"]["labels"]["app.kubernetes.io/component"]
        for doc in rendering.of_kind("Deployment")
    }
    assert components == {"ingestor", "query", "courier"}
    assert rendering.of_kind("Secret") == []
    bootstraps = {
        value
        for config in rendering.of_kind("ConfigMap")
        for key, value in config.get("data", {}).items()
        if key == "KAFKA_BOOTSTRAP_SERVERS"
    }
    assert bootstraps and all(len(value.split(",")) == 3 for value in bootstraps)
    (job,) = rendering.of_kind("Job")
    env = {
        item["name"]: item.get("value")
        for item in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["KAFKA_TOPIC_REPLICATION_FACTOR"] == "3"
    for _, pod in rendering.pod_specs():
        for container in pod["containers"]:
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    assert source["secretRef"]["name"] == "order-service-connections"
