"""Batch validation: every consumed record becomes an accepted order or a rejection with a
reason. Nothing is dropped: a rejection goes to the dead-letter topic."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import msgspec
from aiokafka.structs import ConsumerRecord

from order_shared.model import Order, decode_order, encode_order

# A NUL in any string: PostgreSQL text cannot hold it. Matched in the canonical JSON,
# where it can only appear as an unescaped `\u0000` (a literal backslash is `\\`).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


@dataclass(frozen=True, slots=True)
class AcceptedOrder:
    record: ConsumerRecord
    order: Order
    document: bytes
    content_hash: bytes


@dataclass(frozen=True, slots=True)
class Rejection:
    record: ConsumerRecord
    error_class: str
    reason: str


def validate_order_record(
    record: ConsumerRecord, max_message_bytes: int
) -> AcceptedOrder | Rejection:
    raw = record.value
    if raw is None:
        return Rejection(record, "EmptyMessage", "the message has no value (a tombstone)")
    if not raw:
        return Rejection(record, "EmptyMessage", "the message value is empty")
    if len(raw) > max_message_bytes:
        return Rejection(
            record,
            "MessageTooLarge",
            f"the message is {len(raw)} bytes; the limit is {max_message_bytes}",
        )
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return Rejection(record, "InvalidEncoding", f"the value is not UTF-8: {error}")
    try:
        order = decode_order(raw)
    except msgspec.ValidationError as error:  # a subclass of DecodeError: test it first
        return Rejection(record, "SchemaViolation", str(error))
    except msgspec.DecodeError as error:
        return Rejection(record, "MalformedJson", str(error))
    document = encode_order(order)
    if _NUL_ESCAPE.search(document):
        return Rejection(record, "SchemaViolation", "a string holds a NUL character (\\u0000)")
    return AcceptedOrder(record, order, document, hashlib.sha256(document).digest())
