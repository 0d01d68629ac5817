"""Batch validation: every consumed record becomes an accepted order (with what its write
needs: the canonical document, its hash, its rows), an accepted status change, or a
rejection with a reason. Nothing is dropped: a rejection goes to the dead-letter topic.

What makes a document valid is `order_shared.validation`, the validator the query
service's commands use too; this module adds what only a consumed record has."""

from __future__ import annotations

import hashlib

from aiokafka.structs import ConsumerRecord

from ingestor.order_rows import order_lines
from ingestor.records import AcceptedOrder, AcceptedStatus, Outcome, Rejection
from order_shared.topics import ORDER_STATUS, ORDERS
from order_shared.validation import Invalid, validate_order, validate_status_change


def validate_record(record: ConsumerRecord, max_message_bytes: int) -> Outcome:
    raw = record.value
    if raw is None:
        return Rejection(record, "EmptyMessage", "the message has no value (a tombstone)")
    if record.topic == ORDERS:
        return _validate_order(record, max_message_bytes)
    if record.topic == ORDER_STATUS:
        return _validate_status(record, max_message_bytes)
    return Rejection(record, "UnknownTopic", f"the ingestor does not consume {record.topic!r}")


def _rejection(record: ConsumerRecord, invalid: Invalid) -> Rejection:
    return Rejection(record, invalid.error_class, invalid.reason)


def _validate_order(record: ConsumerRecord, max_message_bytes: int) -> AcceptedOrder | Rejection:
    valid = validate_order(record.value, max_message_bytes)
    if isinstance(valid, Invalid):
        return _rejection(record, valid)
    content_hash = hashlib.sha256(valid.document).digest()
    return AcceptedOrder(
        record,
        valid.order,
        valid.document,
        content_hash,
        order_lines(valid.order, valid.document, content_hash),
    )


def _validate_status(record: ConsumerRecord, max_message_bytes: int) -> AcceptedStatus | Rejection:
    change = validate_status_change(record.value, max_message_bytes)
    if isinstance(change, Invalid):
        return _rejection(record, change)
    return AcceptedStatus(record, change)
