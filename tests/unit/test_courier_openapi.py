"""The courier API's OpenAPI document states what the service does: every status it
answers and every rule it enforces on a request (what the fuzzing in
tests/integration/test_api_fuzzing.py relies on), read from the app itself."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from docsite import openapi
from order_shared.model import ORDER_UID_PATTERN


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    # Encoded and decoded as `/schema/openapi.json` serves it (and the docs site shows it).
    return openapi.courier_document()


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return document["paths"][path][method]


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("post", "/api/v1/couriers", {"201", "400", "409"}),
        ("get", "/api/v1/couriers/{courier_id}", {"200", "400", "404"}),
        ("patch", "/api/v1/couriers/{courier_id}", {"200", "400", "404", "409"}),
        ("get", "/api/v1/assignments/{order_id}", {"200", "400", "404"}),
        ("get", "/readyz", {"200", "503"}),
    ],
)
def test_every_status_an_operation_answers_is_documented(
    document: dict[str, Any], method: str, path: str, statuses: set[str]
) -> None:
    assert statuses <= set(operation(document, method, path)["responses"])


def test_the_list_cursor_states_its_minimum(document: dict[str, Any]) -> None:
    (after,) = [
        parameter
        for parameter in operation(document, "get", "/api/v1/couriers")["parameters"]
        if parameter["name"] == "after"
    ]
    assert after["schema"]["minimum"] == 0


def test_a_change_names_at_least_one_field_and_none_is_null(document: dict[str, Any]) -> None:
    changes = document["components"]["schemas"]["CourierChanges"]

    assert changes["minProperties"] == 1
    for name, field in changes["properties"].items():
        assert "null" not in str(field), name


def test_the_order_id_states_the_ids_the_service_accepts(document: dict[str, Any]) -> None:
    (order_id,) = operation(document, "get", "/api/v1/assignments/{order_id}")["parameters"]
    assert order_id["schema"]["pattern"] == ORDER_UID_PATTERN


@pytest.mark.parametrize("schema_name", ["NewCourier", "CourierChanges"])
def test_request_bodies_state_that_unknown_fields_are_rejected(
    document: dict[str, Any], schema_name: str
) -> None:
    assert document["components"]["schemas"][schema_name]["additionalProperties"] is False


@pytest.mark.parametrize("method", ["get", "patch"])
def test_the_courier_id_states_its_exact_maximum(document: dict[str, Any], method: str) -> None:
    (courier_id,) = operation(document, method, "/api/v1/couriers/{courier_id}")["parameters"]
    # As an integer: 2**63 - 1 as a float is 2**63, one more than the service takes.
    assert courier_id["schema"]["maximum"] == 2**63 - 1
    assert isinstance(courier_id["schema"]["maximum"], int)


def test_every_reference_names_a_schema_of_the_document(document: dict[str, Any]) -> None:
    # A dangling `$ref` hides a body from every client generator and from the fuzzing.
    named = set(document["components"]["schemas"])
    referenced = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(document)))
    assert referenced <= named, f"references without a schema: {sorted(referenced - named)}"
