"""Every environment variable a process reads is set where it is deployed, and nothing else.

The lists come from the settings classes themselves (pydantic-settings), so a setting added
to a service fails here until the chart and the Compose file set it. Where the values are
known (the kind values, Compose), they are also loaded through the settings class, so a
value the service would refuse at start (a bad URL, `LOG_LEVEL=info`) fails here too.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from courier.settings import CourierSettings
from ingestor.settings import IngestorSettings
from order_migrations.job import MigrationSettings
from order_migrations.logins import LOGIN_PREFIX
from order_shared.settings import ServiceSettings
from query.settings import QuerySettings
from tests.deploy.conftest import RELEASE, Rendering

# Who reads what: chart workload component or Compose service -> settings class.
SETTINGS_BY_PROCESS: dict[str, type[BaseSettings]] = {
    "ingestor": IngestorSettings,
    "query": QuerySettings,
    "query-1": QuerySettings,
    "query-2": QuerySettings,
    "courier": CourierSettings,
    "migrations": MigrationSettings,
    "demo-orders": ServiceSettings,
}

# Settings a process reads but that are rightly left unset where it is deployed.
NOT_DEPLOYED = {
    # The publisher takes ServiceSettings for Kafka and telemetry; it never opens the
    # database or Redis.
    "demo-orders": {"DATABASE_URL", "REDIS_URL"},
}

# Variables set for someone other than the settings class.
READ_ELSEWHERE = {
    "OTEL_RESOURCE_ATTRIBUTES",  # the OpenTelemetry SDK's resource detector
    "POD_NAME",  # interpolated into OTEL_RESOURCE_ATTRIBUTES
    "POD_NAMESPACE",
}


def variables_read_by(settings_class: type[BaseSettings]) -> set[str]:
    prefix = settings_class.model_config.get("env_prefix", "")
    return {
        f"{prefix}{field.alias or name}".upper()
        for name, field in settings_class.model_fields.items()
    }


def required(process: str) -> set[str]:
    variables = variables_read_by(SETTINGS_BY_PROCESS[process])
    return variables - NOT_DEPLOYED.get(process, set())


def allowed_extra(process: str, variable: str) -> bool:
    if variable in READ_ELSEWHERE:
        return True
    return process == "migrations" and variable.startswith(LOGIN_PREFIX)


def load_through(settings_class: type[BaseSettings], environment: dict[str, str]) -> None:
    """Construct the settings as the process would at start, from exactly this environment."""
    values = {key.lower(): value for key, value in environment.items()}
    fields = {key: values[key] for key in settings_class.model_fields if key in values}
    settings_class(_env_file=None, **fields)


# --- the chart -------------------------------------------------------------------------

UNKNOWN = object()  # a value from a Secret the chart does not create


def container_environment(rendering: Rendering, pod: dict, container: dict) -> dict[str, Any]:
    def config_map(name: str) -> dict[str, str]:
        return rendering.named("ConfigMap", name).get("data", {})

    def secret(name: str) -> dict[str, Any] | None:
        try:
            document = rendering.named("Secret", name)
        except KeyError:
            return None
        data = {k: base64.b64decode(v).decode() for k, v in document.get("data", {}).items()}
        return data | document.get("stringData", {})

    environment: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            environment |= config_map(source["configMapRef"]["name"])
        else:
            found = secret(source["secretRef"]["name"])
            assert found is not None, "envFrom an external Secret hides which variables it sets"
            environment |= found
    for item in container.get("env", []):
        if "value" in item:
            environment[item["name"]] = item["value"]
        elif "secretKeyRef" in item["valueFrom"]:
            ref = item["valueFrom"]["secretKeyRef"]
            data = secret(ref["name"])
            if data is None:
                environment[item["name"]] = UNKNOWN
            else:
                assert ref["key"] in data, f"{item['name']}: no key {ref['key']} in {ref['name']}"
                environment[item["name"]] = data[ref["key"]]
        elif "configMapKeyRef" in item["valueFrom"]:
            ref = item["valueFrom"]["configMapKeyRef"]
            environment[item["name"]] = config_map(ref["name"])[ref["key"]]
        else:
            environment[item["name"]] = UNKNOWN
    return environment


def chart_processes(rendering: Rendering):
    for workload, pod in rendering.pod_specs():
        component = workload["metadata"]["labels"]["app.kubernetes.io/component"]
        if component in SETTINGS_BY_PROCESS:
            (container,) = pod["containers"]
            yield component, container_environment(rendering, pod, container)


def test_the_chart_deploys_every_process_that_has_settings(kind_rendering: Rendering) -> None:
    deployed = {process for process, _ in chart_processes(kind_rendering)}
    assert deployed == {"ingestor", "query", "courier", "migrations", "demo-orders"}


def test_the_chart_sets_every_variable_each_process_reads(rendering: Rendering) -> None:
    for process, environment in chart_processes(rendering):
        missing = required(process) - environment.keys()
        assert not missing, f"{process}: not set by the chart: {sorted(missing)}"


def test_the_chart_sets_no_variable_that_nobody_reads(rendering: Rendering) -> None:
    for process, environment in chart_processes(rendering):
        read = variables_read_by(SETTINGS_BY_PROCESS[process])
        unread = {v for v in environment.keys() - read if not allowed_extra(process, v)}
        assert not unread, f"{process}: set but never read (a typo?): {sorted(unread)}"


def test_services_listen_on_every_interface_in_pods(rendering: Rendering) -> None:
    for process, environment in chart_processes(rendering):
        if "HOST" in required(process):
            assert environment["HOST"] == "0.0.0.0", process


def test_the_kind_values_load_through_every_settings_class(kind_rendering: Rendering) -> None:
    for process, environment in chart_processes(kind_rendering):
        unknown = [k for k in required(process) if environment[k] is UNKNOWN]
        assert not unknown, f"{process}: values not known from the rendering: {unknown}"
        load_through(SETTINGS_BY_PROCESS[process], environment)


def test_each_service_logs_in_with_its_own_database_role(kind_rendering: Rendering) -> None:
    users = {}
    for process, environment in chart_processes(kind_rendering):
        if "DATABASE_URL" in required(process):
            users[process] = environment["DATABASE_URL"].split("://")[1].split(":")[0]
    assert users == {
        "ingestor": "order_ingestor",
        "query": "order_query",
        "courier": "order_courier_app",
    }
    job = kind_rendering.named("Job", f"{RELEASE}-migrations-1")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    logins = container_environment(kind_rendering, {}, container)
    assert "order_ingestor" in logins["LOGIN_FOR_ORDER_WRITER"]
    assert "order_query" in logins["LOGIN_FOR_ORDER_READER"]
    assert "order_courier_app" in logins["LOGIN_FOR_ORDER_COURIER"]


# --- Compose ---------------------------------------------------------------------------


def compose_processes(compose: dict):
    for name, service in compose["services"].items():
        if name in SETTINGS_BY_PROCESS:
            environment = service.get("environment", {})
            assert isinstance(environment, dict), f"{name}: use the mapping form"
            yield name, {key: str(value) for key, value in environment.items()}


COMPOSE_PROCESSES = ("ingestor", "query-1", "query-2", "courier", "migrations", "demo-orders")


def test_compose_runs_every_process_that_has_settings(compose: dict) -> None:
    assert {name for name, _ in compose_processes(compose)} == set(COMPOSE_PROCESSES)


@pytest.mark.parametrize("process", COMPOSE_PROCESSES)
def test_compose_sets_exactly_what_each_process_reads(compose: dict, process: str) -> None:
    environment = dict(compose_processes(compose))[process]
    missing = required(process) - environment.keys()
    assert not missing, f"{process}: not set in compose.yaml: {sorted(missing)}"
    read = variables_read_by(SETTINGS_BY_PROCESS[process])
    unread = {v for v in environment.keys() - read if not allowed_extra(process, v)}
    assert not unread, f"{process}: set but never read (a typo?): {sorted(unread)}"
    load_through(SETTINGS_BY_PROCESS[process], environment)
    if "HOST" in required(process):
        assert environment["HOST"] == "0.0.0.0"


def test_each_compose_service_logs_in_with_a_login_the_migrations_create(compose: dict) -> None:
    """The migrations make each service's dev login a member of its group role: a service
    whose user they do not create could not log in at all."""
    processes = dict(compose_processes(compose))
    logins = {
        value.split("://")[1].split(":")[0]
        for key, value in processes["migrations"].items()
        if key.startswith(LOGIN_PREFIX)
    }
    for process, environment in processes.items():
        if "DATABASE_URL" in required(process):
            user = environment["DATABASE_URL"].split("://")[1].split(":")[0]
            assert user in logins, f"{process} logs in as {user}, which no LOGIN_FOR_* creates"
