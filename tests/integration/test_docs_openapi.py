"""The OpenAPI pages of the documentation site are what the running services serve: the
site renders `docsite.openapi`'s documents, made offline from the apps, and each must equal
the document a real replica and a real courier service answer at `/schema/openapi.json`,
byte for byte once parsed (the services' response specs ask Litestar for no made-up
examples, which would differ in every process)."""

from __future__ import annotations

import difflib
import json
from typing import Any

import httpx

from docsite import openapi
from tests.courier_io import CourierUnderTest
from tests.harness import ServiceProcess


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
    page = openapi.query_document()
    answer = served(query_replicas[0].base_url)
    assert page == answer, differences(page, answer)


def test_the_courier_page_is_the_document_the_courier_service_serves(
    courier: CourierUnderTest,
) -> None:
    page = openapi.courier_document()
    answer = served(courier.service.base_url)
    assert page == answer, differences(page, answer)
