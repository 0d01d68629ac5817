"""Prometheus and Grafana for Docker Compose: Prometheus scrapes the services Compose runs
where they serve `/metrics`, Grafana is provisioned with the dashboard and its data
source, every dashboard query names only metrics that the services' code declares
(offline), and each of those metrics is on a running service's `/metrics` (the session's
ingestor and query replicas, and a courier service)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.courier_io import isolated_courier
from tests.deploy.conftest import COMPOSE_FILE, REPO
from tests.harness import Servers, ServiceProcess

OBSERVABILITY = REPO / "deploy" / "observability"
DASHBOARDS = OBSERVABILITY / "grafana" / "dashboards"
SERVICE_SOURCES = REPO / "services"

# What prometheus_client exposes for each kind of metric family, by suffix.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}
_DECLARED = re.compile(
    r"\b(Counter|Gauge|Histogram|CounterMetricFamily|GaugeMetricFamily|HistogramMetricFamily"
    r"|RequestDurations)\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\""
)
_KINDS = {"RequestDurations": "histogram"}  # order_shared.request_durations
# Litestar's Prometheus middleware: `<prefix>_request_duration_seconds` and its siblings.
_LITESTAR_PREFIX = re.compile(r"PrometheusConfig\([^)]*prefix=\"([a-z_]+)\"", re.DOTALL)
_LITESTAR_METRICS = {
    "requests": "counter",
    "request_duration_seconds": "histogram",
    "requests_in_progress": "gauge",
    "requests_error": "counter",
}


def exported_metric_names() -> set[str]:
    """Every series name the services' code can expose, read from the code."""
    families: dict[str, str] = {}
    for source in SERVICE_SOURCES.glob("*/src/**/*.py"):
        text = source.read_text()
        for constructor, name in _DECLARED.findall(text):
            kind = _KINDS.get(constructor) or constructor.removesuffix("MetricFamily").lower()
            families[name.removesuffix("_total")] = kind
        for prefix in _LITESTAR_PREFIX.findall(text):
            for name, kind in _LITESTAR_METRICS.items():
                families[f"{prefix}_{name}"] = kind
    return {name + suffix for name, kind in families.items() for suffix in _SUFFIXES[kind]}


def dashboards() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


_OUR_METRIC = re.compile(r"\b(?:ingestor|query|courier)_[a-z0-9_]+\b")


def panel_metrics(dashboard: Path) -> dict[str, set[str]]:
    """The metric names each panel's queries use, by panel title."""
    return {
        panel["title"]: {
            name for target in panel["targets"] for name in _OUR_METRIC.findall(target["expr"])
        }
        for panel in json.loads(dashboard.read_text())["panels"]
    }


def served_metric_names(metrics_text: str) -> set[str]:
    """Every series name a `/metrics` answer declares (with or without samples yet)."""
    names = set()
    for family in text_string_to_metric_families(metrics_text):
        kind = family.type if family.type in _SUFFIXES else "gauge"
        names |= {family.name + suffix for suffix in _SUFFIXES[kind]}
        names |= {sample.name for sample in family.samples}
    return names


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def mounts(service: dict) -> dict[str, Path]:
    """Container path -> host path of the service's bind mounts."""
    found = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("."):
            found[target] = (COMPOSE_FILE.parent / source).resolve()
    return found


def test_the_code_declares_the_metrics_the_dashboard_is_built_on() -> None:
    names = exported_metric_names()
    # The reader of this file itself must work: a few names it must find.
    assert {
        "ingestor_consumer_lag",
        "ingestor_outbox_oldest_unsent_seconds",
        "ingestor_messages_rejected_total",
        "ingestor_http_request_duration_seconds_bucket",
        "query_relists_total",
        "courier_consumer_lag",
    } <= names


def test_prometheus_scrapes_every_service_where_it_serves_metrics(compose: dict) -> None:
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        if job.get("metrics_path", "/metrics") == "/metrics"
        for static in job["static_configs"]
        for target in static["targets"]
    }
    services = compose["services"]
    expected = {
        f"{name}:{service['environment']['PORT']}"
        for name, service in services.items()
        if "build" in service and "PORT" in service.get("environment", {})
    }
    assert (
        targets
        == expected
        == {
            "ingestor:8081",
            "query-1:8080",
            "query-2:8080",
            "courier:8082",
        }
    )
    prometheus = services["prometheus"]
    assert mounts(prometheus)["/etc/prometheus/prometheus.yml"] == OBSERVABILITY / "prometheus.yml"


def test_grafana_is_provisioned_with_the_data_source_and_dashboards(compose: dict) -> None:
    grafana = compose["services"]["grafana"]
    mounted = mounts(grafana)
    provisioning = mounted["/etc/grafana/provisioning"]
    assert provisioning == OBSERVABILITY / "grafana" / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "order-service.yaml").read_text())[
        "providers"
    ]
    assert mounted[provider["options"]["path"]] == DASHBOARDS
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DASHBOARDS / Path(home).name).is_file()
    for dashboard in dashboards():
        for panel in json.loads(dashboard.read_text())["panels"]:
            assert panel["datasource"]["uid"] == source["uid"], panel["title"]


@pytest.mark.parametrize("dashboard", dashboards(), ids=lambda path: path.name)
def test_every_panel_queries_only_metrics_the_services_export(dashboard: Path) -> None:
    content = json.loads(dashboard.read_text())
    exported = exported_metric_names()
    panels = content["panels"]
    assert panels and len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            named = set(_OUR_METRIC.findall(target["expr"]))
            assert named, f"{panel['title']}: {target['expr']} names no metric of ours"
            assert named <= exported, f"{panel['title']}: unknown {named - exported}"


@pytest.fixture(scope="module")
def running_services(
    servers: Servers, ingestor: ServiceProcess, query_replicas: list[ServiceProcess]
) -> Iterator[list[ServiceProcess]]:
    """One of each service that serves `/metrics`."""
    with isolated_courier(servers, query_replicas[0]) as courier:
        yield [ingestor, query_replicas[0], courier.service]


@pytest.mark.parametrize("dashboard", dashboards(), ids=lambda path: path.name)
def test_every_panels_metric_is_served_by_a_running_service(
    dashboard: Path, running_services: list[ServiceProcess]
) -> None:
    served = set()
    for service in running_services:
        answer = httpx.get(f"{service.base_url}/metrics", timeout=10)
        assert answer.status_code == 200, service.command.name
        served |= served_metric_names(answer.text)
    for title, names in panel_metrics(dashboard).items():
        assert names, f"{title}: names no metric of ours"
        assert names <= served, f"{title}: no running service serves {names - served}"
