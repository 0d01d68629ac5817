"""Batch validation: every consumed record becomes an accepted order (with what its write
needs: the canonical document, its hash, its rows), an accepted status change, or a
rejection with a reason. Nothing is dropped: a rejection goes to the dead-letter topic."""

from __future__ import annotations

import hashlib
import re

import msgspec
from aiokafka.structs import ConsumerRecord

from ingestor.order_rows import order_lines
from ingestor.records import AcceptedOrder, AcceptedStatus, Outcome, Rejection
from order_shared.model import decode_order, decode_status_change, encode_order
from order_shared.rules import rule_violations
from order_shared.topics import ORDER_STATUS, ORDERS

# A NUL in any string: PostgreSQL text cannot hold it. Matched in the canonical JSON,
# where it can only appear as an unescaped `\u0000` (a literal backslash is `\\`).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def validate_record(record: ConsumerRecord, max_message_bytes: int) -> Outcome:
    problem = _envelope_problem(record, max_message_bytes)
    if problem is not None:
        return problem
    if record.topic == ORDERS:
        return _validate_order(record)
    if record.topic == ORDER_STATUS:
        return _validate_status(record)
    return Rejection(record, "UnknownTopic", f"the ingestor does not consume {record.topic!r}")


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
