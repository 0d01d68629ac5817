"""The query API's OpenAPI document states what the service does: every status it
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
    return openapi.query_document()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/orders/{order_uid}"),
        ("get", "/api/v1/orders/{order_uid}/status"),
        ("put", "/api/v1/orders/{order_uid}"),
        ("delete", "/api/v1/orders/{order_uid}"),
        ("post", "/api/v1/orders/{order_uid}/status"),
    ],
)
def test_the_order_id_states_the_ids_the_service_accepts(
    document: dict[str, Any], method: str, path: str
) -> None:
    parameters = document["paths"][path][method]["parameters"]
    (order_uid,) = (parameter for parameter in parameters if parameter["name"] == "order_uid")
    assert order_uid["schema"]["pattern"] == ORDER_UID_PATTERN


def test_readiness_documents_its_503(document: dict[str, Any]) -> None:
    assert {"200", "503"} <= set(document["paths"]["/readyz"]["get"]["responses"])


def test_every_reference_names_a_schema_of_the_document(document: dict[str, Any]) -> None:
    # A dangling `$ref` hides a body from every client generator and from the fuzzing.
    named = set(document["components"]["schemas"])
    referenced = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(document)))
    assert referenced <= named, f"references without a schema: {sorted(referenced - named)}"


@pytest.mark.parametrize("name", ["Order", "Delivery", "Payment", "Item"])
def test_the_order_objects_take_no_other_fields(document: dict[str, Any], name: str) -> None:
    assert document["components"]["schemas"][name]["additionalProperties"] is False


@pytest.mark.parametrize(
    "path", ["/api/v1/events/orders/{order_uid}", "/api/v1/events/newest-orders"]
)
def test_the_live_streams_are_documented_as_event_streams(
    document: dict[str, Any], path: str
) -> None:
    answers = document["paths"][path]["get"]["responses"]
    assert set(answers) == {"200", "400", "503"}
    assert set(answers["200"]["content"]) == {"text/event-stream"}
    assert "retry-after" in answers["503"]["description"].lower().replace("`", "")
