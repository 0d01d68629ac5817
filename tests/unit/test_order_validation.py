"""The shared validator lists the problems of a document, each with its JSON path, with
bounded work whatever the document; its verdict is msgspec's strict decoding plus the
business rules (what the ingestor uses)."""

from __future__ import annotations

import json

import msgspec
import pytest

from order_shared.model import decode_order
from order_shared.validation import (
    MAX_COUNTED_PROBLEMS,
    MAX_LISTED_PROBLEMS,
    WALK_MAX_BYTES,
    Invalid,
    Problem,
    ValidOrder,
    validate_order,
)
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


def test_an_empty_list_is_one_problem_at_its_path() -> None:
    document = json.loads(json.dumps(CANONICAL))
    document["items"] = []

    assert [problem.path for problem in invalid(document).problems] == ["$.items"]


def test_a_list_whose_length_is_wrong_is_not_walked() -> None:
    """Failed before the bound with 11,012 problems: each of the 1,001 empty items was
    walked after the length problem, 11 missing fields each."""
    document = json.loads(json.dumps(CANONICAL))
    document["items"] = [{}] * 1001

    outcome = invalid(document)

    assert [problem.path for problem in outcome.problems] == ["$.items"]
    assert (outcome.unlisted, outcome.complete) == (0, True)


def test_at_most_100_problems_are_listed_and_the_rest_are_counted() -> None:
    """Failed before the bound: all 440 problems were listed (and no count of the rest)."""
    document = json.loads(json.dumps(CANONICAL))
    document["items"] = [{"chrt_id": "x"}] * 40  # 1 wrong type and 10 missing fields each

    outcome = invalid(document)

    assert len(outcome.problems) == MAX_LISTED_PROBLEMS == 100
    assert outcome.problems[0] == Problem("$.items[0].chrt_id", "Expected `int`, got `str`")
    assert (outcome.unlisted, outcome.complete) == (440 - 100, True)


def test_counting_stops_at_1000_problems() -> None:
    document = json.loads(json.dumps(CANONICAL))
    document["items"] = [{}] * 1000  # 11,000 missing fields

    outcome = invalid(document)

    assert len(outcome.problems) == 100
    assert (outcome.unlisted, outcome.complete) == (MAX_COUNTED_PROBLEMS - 100, False)


def test_a_maximum_size_document_is_not_walked_and_its_answer_stays_small() -> None:
    """Failed before the bound: 1 MiB of empty items took a minute to walk (3.8 million
    problems, hundreds of megabytes of answer); now msgspec's one message is the answer."""
    document = json.loads(json.dumps(CANONICAL))
    document["items"] = [{}] * 349_000
    raw = json.dumps(document, separators=(",", ":")).encode()
    assert WALK_MAX_BYTES < len(raw) <= LIMIT

    outcome = validate_order(raw, LIMIT)

    assert isinstance(outcome, Invalid)
    assert outcome.problems == (Problem("$.items[0]", "Object missing required field `chrt_id`"),)
    assert (outcome.unlisted, outcome.complete) == (0, False)
    assert len(msgspec.json.encode(outcome)) < 1000


def test_rule_violations_are_listed_up_to_the_bound_and_the_reason_stays_short() -> None:
    """Failed before the bound: 1,000 violations listed, and all of them in the reason."""
    document = json.loads(json.dumps(CANONICAL))
    item = document["items"][0]
    document["items"] = [{**item, "rid": f"r{i}", "track_number": "OTHER"} for i in range(1000)]
    document["payment"]["goods_total"] = 1000 * item["total_price"]
    document["payment"]["amount"] = (
        document["payment"]["goods_total"]
        + document["payment"]["delivery_cost"]
        + document["payment"]["custom_fee"]
    )

    outcome = invalid(document)

    assert outcome.error_class == "BusinessRuleViolation"
    assert len(outcome.problems) == 100
    assert (outcome.unlisted, outcome.complete) == (900, True)
    assert len(outcome.reason) < 20_000
    assert outcome.reason.endswith("and 900 more")


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
