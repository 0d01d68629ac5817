"""The OpenAPI pages of the documentation site are what the running services serve: the
site renders `docsite.openapi`'s documents, made offline from the apps, and each must equal
the document a real replica and a real courier service answer at `/schema/openapi.json`."""

from __future__ import annotations

import copy
import difflib
import json
from typing import Any

import httpx

from docsite import openapi
from tests.courier_io import CourierUnderTest
from tests.harness import ServiceProcess


# Litestar makes up an example for each schema of a response it was given none for
# (ResponseSpec's `generate_examples`): random strings, numbers and clock times, different
# in every process. Those are left out of the comparison; everything else, the examples
# the code writes included, must be equal.
def comparable(document: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    for schema in document.get("components", {}).get("schemas", {}).values():
        schema.pop("examples", None)
        for field in schema.get("properties", {}).values():
            field.pop("examples", None)
    return document


def differences(page: dict[str, Any], answer: dict[str, Any]) -> str:
    lines = [
        json.dumps(document, indent=1, sort_keys=True).splitlines() for document in (page, answer)
    ]
    return "\n".join(difflib.unified_diff(*lines, "site", "served", lineterm="", n=1))


def served(base_url: str) -> dict[str, Any]:
    answer = httpx.get(f"{base_url}/schema/openapi.json", timeout=10)
    answer.raise_for_status()
    return answer.json()


def test_the_query_page_is_the_document_a_replica_serves(
    query_replicas: list[ServiceProcess],
) -> None:
    page = comparable(openapi.query_document())
    answer = comparable(served(query_replicas[0].base_url))
    assert page == answer, differences(page, answer)


def test_the_courier_page_is_the_document_the_courier_service_serves(
    courier: CourierUnderTest,
) -> None:
    page = comparable(openapi.courier_document())
    answer = comparable(served(courier.service.base_url))
    assert page == answer, differences(page, answer)
