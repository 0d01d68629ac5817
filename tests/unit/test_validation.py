"""Batch validation turns every record into an accepted order or a rejection with a reason."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from aiokafka.structs import ConsumerRecord

from ingestor.records import AcceptedErasure, AcceptedOrder, AcceptedStatus, Rejection
from ingestor.validation import validate_record
from producer.demo import canonical_order

CANONICAL = canonical_order()
LIMIT = 1_048_576


def record(value: bytes | None, topic: str = "orders") -> ConsumerRecord:
    return ConsumerRecord(
        topic=topic,
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


def rejection(value: bytes | None, topic: str = "orders") -> Rejection:
    outcome = validate_record(record(value, topic), LIMIT)
    assert isinstance(outcome, Rejection)
    return outcome


def test_canonical_order_is_accepted_with_its_canonical_bytes() -> None:
    outcome = validate_record(record(CANONICAL), LIMIT)

    assert isinstance(outcome, AcceptedOrder)
    assert json.loads(outcome.document) == json.loads(CANONICAL)
    assert len(outcome.content_hash) == 32


def test_same_content_gives_the_same_hash_whatever_the_whitespace() -> None:
    pretty = json.dumps(json.loads(CANONICAL), indent=4).encode()

    first = validate_record(record(CANONICAL), LIMIT)
    second = validate_record(record(pretty), LIMIT)

    assert isinstance(first, AcceptedOrder) and isinstance(second, AcceptedOrder)
    assert first.content_hash == second.content_hash


def test_not_json_is_rejected_as_malformed() -> None:
    assert rejection(b"hello").error_class == "MalformedJson"


def test_invalid_utf8_is_rejected() -> None:
    assert (
        rejection(CANONICAL.replace(b"Mascaras", b"Mascar\xff\xfe")).error_class
        == "InvalidEncoding"
    )


def test_empty_values_and_status_tombstones_are_rejected() -> None:
    assert rejection(b"").error_class == "EmptyMessage"
    assert "tombstone" in rejection(None, topic="order-status").reason


def test_a_tombstone_on_orders_erases_the_order_its_key_names() -> None:
    outcome = validate_record(record(None), LIMIT)

    assert isinstance(outcome, AcceptedErasure)
    assert outcome.order_uid == "k"


def test_oversized_message_is_rejected_before_decoding() -> None:
    outcome = rejection(b" " * (LIMIT + 1))

    assert outcome.error_class == "MessageTooLarge"
    assert str(LIMIT) in outcome.reason


def test_nul_character_is_rejected_but_an_escaped_backslash_is_not() -> None:
    with_nul = CANONICAL.replace(b"Mascaras", b"Masc\\u0000aras")
    with_backslash = CANONICAL.replace(b"Mascaras", b"Masc\\\\u0000aras")

    assert "NUL" in rejection(with_nul).reason
    assert isinstance(validate_record(record(with_backslash), LIMIT), AcceptedOrder)


def test_wrong_type_names_the_field() -> None:
    document = json.loads(CANONICAL)
    document["items"][0]["price"] = "453"

    outcome = rejection(json.dumps(document).encode())

    assert outcome.error_class == "SchemaViolation"
    assert "$.items[0].price" in outcome.reason


def canonical_with(change: Callable[[dict], None]) -> bytes:
    document = json.loads(CANONICAL)
    change(document)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["delivery"].update(email="not-an-email"), "$.delivery.email"),
        (lambda d: d["delivery"].update(phone="12345"), "$.delivery.phone"),
        (lambda d: d.update(date_created="yesterday"), "$.date_created"),
        (lambda d: d["payment"].update(currency="usd"), "$.payment.currency"),
        (lambda d: d["payment"].update(delivery_cost=-5), "$.payment.delivery_cost"),
        (lambda d: d.update(items=[]), "$.items"),
        (lambda d: d.update(track_number="x" * 257), "$.track_number"),
        (lambda d: d.update(sm_id=10**20), "$.sm_id"),
        (lambda d: d.update(surprise=True), "surprise"),
        # Patterns match the whole string: `$` must not match before a final newline.
        (lambda d: d.update(order_uid="b563feb7b2b84b6test\n"), "$.order_uid"),
        (lambda d: d["delivery"].update(email="test@gmail.com\n"), "$.delivery.email"),
        (lambda d: d["delivery"].update(phone="+9720000000\n"), "$.delivery.phone"),
        (lambda d: d["payment"].update(currency="USD\n"), "$.payment.currency"),
        # Valid RFC 3339, but outside years 1-9999 once normalised to UTC.
        (lambda d: d.update(date_created="9999-12-31T23:00:00-05:00"), "$.date_created"),
        (lambda d: d.update(date_created="0001-01-01T00:30:00+01:00"), "$.date_created"),
    ],
)
def test_schema_violations_name_the_field(change: Callable[[dict], None], field: str) -> None:
    outcome = rejection(canonical_with(change))

    assert outcome.error_class == "SchemaViolation"
    assert field in outcome.reason


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["payment"].update(currency="ABC"), "$.payment.currency"),
        (lambda d: d["payment"].update(goods_total=318, amount=1818), "$.payment.goods_total"),
        (lambda d: d["payment"].update(amount=1816), "$.payment.amount"),
        (lambda d: d["items"][0].update(track_number="OTHER"), "$.items[0].track_number"),
    ],
)
def test_business_rule_violations_name_the_field(
    change: Callable[[dict], None], field: str
) -> None:
    outcome = rejection(canonical_with(change))

    assert outcome.error_class == "BusinessRuleViolation"
    assert field in outcome.reason


def test_a_repeated_item_rid_is_rejected() -> None:
    def repeat_item(document: dict) -> None:
        document["items"].append(dict(document["items"][0]))
        document["payment"]["goods_total"] = 634
        document["payment"]["amount"] = 2134

    outcome = rejection(canonical_with(repeat_item))

    assert outcome.error_class == "BusinessRuleViolation"
    assert "$.items[1].rid" in outcome.reason
    assert "position 0" in outcome.reason


def test_the_last_representable_moment_is_accepted() -> None:
    raw = canonical_with(lambda d: d.update(date_created="9999-12-31T18:59:59.999999-05:00"))

    assert isinstance(validate_record(record(raw), LIMIT), AcceptedOrder)


def test_status_change_is_accepted() -> None:
    raw = b'{"order_uid": "abc", "status": "cancelled", "changed_at": "2024-01-01T00:00:00Z"}'

    outcome = validate_record(record(raw, "order-status"), LIMIT)

    assert isinstance(outcome, AcceptedStatus)
    assert outcome.change.status == "cancelled"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"order_uid": "abc", "status": "created", "changed_at": "2024-01-01T00:00:00Z"}',
        b'{"order_uid": "abc", "status": "cancelled", "changed_at": "2024-01-01"}',
        b'{"order_uid": "abc", "status": "cancelled"}',
        b'{"order_uid": "abc\\n", "status": "cancelled", "changed_at": "2024-01-01T00:00:00Z"}',
        b'{"order_uid": "abc", "status": "cancelled", "changed_at": "9999-12-31T23:59:59-00:01"}',
    ],
)
def test_bad_status_changes_are_rejected(raw: bytes) -> None:
    assert rejection(raw, "order-status").error_class == "SchemaViolation"
