"""Batch validation turns every record into an accepted order or a rejection with a reason."""

from __future__ import annotations

import json
from pathlib import Path

from aiokafka.structs import ConsumerRecord

from ingestor.validation import AcceptedOrder, Rejection, validate_order_record

CANONICAL = (Path(__file__).parents[1] / "data" / "canonical_order.json").read_bytes()
LIMIT = 1_048_576


def record(value: bytes | None) -> ConsumerRecord:
    return ConsumerRecord(
        topic="orders",
        partition=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=value,
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=len(value or b""),
        headers=(),
    )


def rejection(value: bytes | None) -> Rejection:
    outcome = validate_order_record(record(value), LIMIT)
    assert isinstance(outcome, Rejection)
    return outcome


def test_canonical_order_is_accepted_with_its_canonical_bytes() -> None:
    outcome = validate_order_record(record(CANONICAL), LIMIT)

    assert isinstance(outcome, AcceptedOrder)
    assert json.loads(outcome.document) == json.loads(CANONICAL)
    assert len(outcome.content_hash) == 32


def test_same_content_gives_the_same_hash_whatever_the_whitespace() -> None:
    pretty = json.dumps(json.loads(CANONICAL), indent=4).encode()

    first = validate_order_record(record(CANONICAL), LIMIT)
    second = validate_order_record(record(pretty), LIMIT)

    assert isinstance(first, AcceptedOrder) and isinstance(second, AcceptedOrder)
    assert first.content_hash == second.content_hash


def test_not_json_is_rejected_as_malformed() -> None:
    assert rejection(b"hello").error_class == "MalformedJson"


def test_invalid_utf8_is_rejected() -> None:
    assert (
        rejection(CANONICAL.replace(b"Mascaras", b"Mascar\xff\xfe")).error_class
        == "InvalidEncoding"
    )


def test_empty_and_null_values_are_rejected() -> None:
    assert rejection(b"").error_class == "EmptyMessage"
    assert "tombstone" in rejection(None).reason


def test_oversized_message_is_rejected_before_decoding() -> None:
    outcome = rejection(b" " * (LIMIT + 1))

    assert outcome.error_class == "MessageTooLarge"
    assert str(LIMIT) in outcome.reason


def test_nul_character_is_rejected_but_an_escaped_backslash_is_not() -> None:
    with_nul = CANONICAL.replace(b"Mascaras", b"Masc\\u0000aras")
    with_backslash = CANONICAL.replace(b"Mascaras", b"Masc\\\\u0000aras")

    assert "NUL" in rejection(with_nul).reason
    assert isinstance(validate_order_record(record(with_backslash), LIMIT), AcceptedOrder)


def test_wrong_type_names_the_field() -> None:
    document = json.loads(CANONICAL)
    document["items"][0]["price"] = "453"

    outcome = rejection(json.dumps(document).encode())

    assert outcome.error_class == "SchemaViolation"
    assert "$.items[0].price" in outcome.reason
