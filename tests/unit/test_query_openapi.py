"""The query API's OpenAPI document states what the service does: every status it
answers and every rule it enforces on a request (what the fuzzing in
tests/integration/test_api_fuzzing.py relies on), read from the app itself."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.serialization import encode_json

from order_shared.model import ORDER_UID_PATTERN
from query.http.app import build
from query.settings import QuerySettings


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    # Encoded and decoded as `/schema/openapi.json` serves it.
    return json.loads(encode_json(build(QuerySettings()).framework.openapi_schema.to_schema()))


@pytest.mark.parametrize(
    "path", ["/api/v1/orders/{order_uid}", "/api/v1/orders/{order_uid}/status"]
)
def test_the_order_id_states_the_ids_the_service_accepts(
    document: dict[str, Any], path: str
) -> None:
    (order_uid,) = document["paths"][path]["get"]["parameters"]
    assert order_uid["schema"]["pattern"] == ORDER_UID_PATTERN


def test_readiness_documents_its_503(document: dict[str, Any]) -> None:
    assert {"200", "503"} <= set(document["paths"]["/readyz"]["get"]["responses"])
