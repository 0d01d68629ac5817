"""The order model: the canonical document round-trips exactly; anything else is refused."""

from __future__ import annotations

import json

import msgspec
import pytest

from order_shared.model import decode_order, encode_order
from producer.demo import canonical_order

CANONICAL = canonical_order()


def canonical_with(**changes: object) -> bytes:
    return json.dumps({**json.loads(CANONICAL), **changes}).encode()


def test_canonical_document_round_trips_field_for_field() -> None:
    encoded = encode_order(decode_order(CANONICAL))

    assert json.loads(encoded) == json.loads(CANONICAL)
    assert list(json.loads(encoded)) == list(json.loads(CANONICAL))
    assert b'"date_created":"2021-11-26T06:22:19Z"' in encoded


@pytest.mark.parametrize(
    ("document", "where"),
    [
        (canonical_with(sm_id="99"), "$.sm_id"),
        (canonical_with(items=[]), "$.items"),
        (canonical_with(date_created="2021-11-26 06:22"), "$.date_created"),
        (canonical_with(date_created="2021-11-26T06:22:19"), "$.date_created"),
        (canonical_with(order_uid="has space"), "$.order_uid"),
        (canonical_with(unexpected="field"), "unexpected"),
    ],
)
def test_documents_that_break_the_model_are_refused_naming_the_field(
    document: bytes, where: str
) -> None:
    with pytest.raises(msgspec.ValidationError, match=__import__("re").escape(where)):
        decode_order(document)


def test_missing_field_is_refused() -> None:
    document = json.loads(CANONICAL)
    del document["payment"]["amount"]

    with pytest.raises(msgspec.ValidationError, match="amount"):
        decode_order(json.dumps(document).encode())


def test_negative_money_is_refused() -> None:
    document = json.loads(CANONICAL)
    document["payment"]["amount"] = -1

    with pytest.raises(msgspec.ValidationError, match=r"\$\.payment\.amount"):
        decode_order(json.dumps(document).encode())
