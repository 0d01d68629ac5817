"""The shared validator lists every problem of a document, each with its JSON path, and
its verdict is msgspec's strict decoding plus the business rules (what the ingestor uses)."""

from __future__ import annotations

import json

import msgspec
import pytest

from order_shared.model import decode_order
from order_shared.validation import Invalid, Problem, ValidOrder, validate_order
from producer.demo import canonical_order

CANONICAL = json.loads(canonical_order())
LIMIT = 1_048_576


def invalid(document: object) -> Invalid:
    outcome = validate_order(json.dumps(document).encode(), LIMIT)
    assert isinstance(outcome, Invalid)
    return outcome


def test_canonical_order_is_valid_with_its_canonical_bytes() -> None:
    outcome = validate_order(canonical_order(), LIMIT)

    assert isinstance(outcome, ValidOrder)
    assert json.loads(outcome.document) == CANONICAL


def test_every_schema_problem_is_listed_with_its_path() -> None:
    document = json.loads(json.dumps(CANONICAL))
    document["items"][0]["price"] = "ten"
    document["delivery"]["phone"] = "call me"
    del document["locale"]
    document["colour"] = "red"
    document["date_created"] = "yesterday"

    outcome = invalid(document)

    assert outcome.error_class == "SchemaViolation"
    paths = {problem.path for problem in outcome.problems}
    assert paths == {
        "$.items[0].price",
        "$.delivery.phone",
        "$.locale",
        "$.colour",
        "$.date_created",
    }
    assert Problem("$.colour", "unknown field") in outcome.problems
    assert Problem("$.locale", "required field is missing") in outcome.problems


def test_list_length_and_element_problems_are_both_listed() -> None:
    document = json.loads(json.dumps(CANONICAL))
    document["items"] = []

    assert [problem.path for problem in invalid(document).problems] == ["$.items"]


def test_every_rule_violation_is_listed_with_its_path() -> None:
    document = json.loads(json.dumps(CANONICAL))
    document["payment"]["currency"] = "XXY"
    document["payment"]["amount"] += 1

    outcome = invalid(document)

    assert outcome.error_class == "BusinessRuleViolation"
    assert [problem.path for problem in outcome.problems] == [
        "$.payment.currency",
        "$.payment.amount",
    ]


def test_a_nul_character_is_found_where_it_is() -> None:
    document = json.loads(json.dumps(CANONICAL))
    document["items"][0]["name"] = "a\x00b"

    assert [problem.path for problem in invalid(document).problems] == ["$.items[0].name"]


def test_a_date_outside_utc_years_is_a_problem_at_its_path() -> None:
    document = json.loads(json.dumps(CANONICAL))
    document["date_created"] = "9999-12-31T23:00:00-05:00"

    problems = invalid(document).problems

    assert [problem.path for problem in problems] == ["$.date_created"]
    assert "outside years 1 to 9999" in problems[0].reason


def test_not_json_and_too_large_are_their_own_classes() -> None:
    not_json = validate_order(b"{", LIMIT)
    too_large = validate_order(b" " * (LIMIT + 1), LIMIT)

    assert isinstance(not_json, Invalid) and not_json.error_class == "MalformedJson"
    assert isinstance(too_large, Invalid) and too_large.error_class == "MessageTooLarge"


def test_the_reason_is_the_decoders_and_the_walk_lists_the_field() -> None:
    document = json.loads(json.dumps(CANONICAL))
    document["sm_id"] = 1.0

    outcome = invalid(document)
    with pytest.raises(msgspec.ValidationError) as error:
        decode_order(json.dumps(document).encode())
    assert outcome.reason == str(error.value)
    assert [problem.path for problem in outcome.problems] == ["$.sm_id"]
