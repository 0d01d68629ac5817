"""Batch validation: every consumed record becomes an accepted order (with what its write
needs: the canonical document, its hash, its rows), an accepted erasure (a tombstone on
`orders` keyed by a valid order id), an accepted status change, or a rejection with a
reason. Nothing is dropped: a rejection goes to the dead-letter topic."""

from __future__ import annotations

import hashlib
import re

import msgspec
from aiokafka.structs import ConsumerRecord

from ingestor.order_rows import order_lines
from ingestor.records import AcceptedErasure, AcceptedOrder, AcceptedStatus, Outcome, Rejection
from order_shared.model import (
    ORDER_UID_PATTERN,
    decode_order,
    decode_status_change,
    encode_order,
)
from order_shared.rules import rule_violations
from order_shared.topics import ORDER_STATUS, ORDERS

# A NUL in any string: PostgreSQL text cannot hold it. Matched in the canonical JSON,
# where it can only appear as an unescaped `\u0000` (a literal backslash is `\\`).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_ORDER_UID = re.compile(ORDER_UID_PATTERN.encode())


def validate_record(record: ConsumerRecord, max_message_bytes: int) -> Outcome:
    if record.value is None and record.topic == ORDERS:
        return _validate_erasure(record)
    problem = _envelope_problem(record, max_message_bytes)
    if problem is not None:
        return problem
    if record.topic == ORDERS:
        return _validate_order(record)
    if record.topic == ORDER_STATUS:
        return _validate_status(record)
    return Rejection(record, "UnknownTopic", f"the ingestor does not consume {record.topic!r}")


def _validate_erasure(record: ConsumerRecord) -> AcceptedErasure | Rejection:
    """A tombstone erases the order its key names; with no valid id there is nothing to
    erase, and the producer that sent it has a bug worth seeing in the dead letters."""
    key = record.key
    if key is None:
        return Rejection(record, "InvalidTombstone", "a tombstone needs the order id as its key")
    if not _ORDER_UID.fullmatch(key):
        shown = key[:80].decode("utf-8", "replace")
        return Rejection(
            record,
            "InvalidTombstone",
            f"the tombstone's key {shown!r} is not an order id "
            "(1 to 64 letters, digits, '_' or '-')",
        )
    return AcceptedErasure(record, key.decode())


def _envelope_problem(record: ConsumerRecord, max_message_bytes: int) -> Rejection | None:
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
    return None


def _decode_problem(record: ConsumerRecord, error: msgspec.DecodeError) -> Rejection:
    if isinstance(error, msgspec.ValidationError):
        return Rejection(record, "SchemaViolation", str(error))
    return Rejection(record, "MalformedJson", str(error))


def _validate_order(record: ConsumerRecord) -> AcceptedOrder | Rejection:
    try:
        order = decode_order(record.value)
    except msgspec.DecodeError as error:
        return _decode_problem(record, error)
    violations = rule_violations(order)
    if violations:
        return Rejection(record, "BusinessRuleViolation", "; ".join(violations))
    document = encode_order(order)
    if b"\\u0000" in document and _NUL_ESCAPE.search(document):
        return Rejection(record, "SchemaViolation", "a string holds a NUL character (\\u0000)")
    content_hash = hashlib.sha256(document).digest()
    return AcceptedOrder(
        record, order, document, content_hash, order_lines(order, document, content_hash)
    )


def _validate_status(record: ConsumerRecord) -> AcceptedStatus | Rejection:
    try:
        return AcceptedStatus(record, decode_status_change(record.value))
    except msgspec.DecodeError as error:
        return _decode_problem(record, error)
