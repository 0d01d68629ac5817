"""Batch validation: every consumed record becomes an accepted order (with what its write
needs: the canonical document, its hash, its rows), an accepted erasure (a tombstone on
`orders` keyed by a valid order id), an accepted status change, or a rejection with a
reason. Nothing is dropped: a rejection goes to the dead-letter topic.

What makes a document valid is `order_shared.validation`, the validator the query
service's commands use too; this module adds what only a consumed record has."""

from __future__ import annotations

import hashlib
import re

from aiokafka.structs import ConsumerRecord

from ingestor.order_rows import order_lines
from ingestor.records import AcceptedErasure, AcceptedOrder, AcceptedStatus, Outcome, Rejection
from order_shared.model import ORDER_UID_PATTERN
from order_shared.topics import ORDER_STATUS, ORDERS
from order_shared.validation import Invalid, validate_order, validate_status_change

_ORDER_UID = re.compile(ORDER_UID_PATTERN.encode())


def validate_record(record: ConsumerRecord, max_message_bytes: int) -> Outcome:
    raw = record.value
    if raw is None and record.topic == ORDERS:
        return _validate_erasure(record)
    if raw is None:
        return Rejection(record, "EmptyMessage", "the message has no value (a tombstone)")
    if record.topic == ORDERS:
        return _validate_order(record, max_message_bytes)
    if record.topic == ORDER_STATUS:
        return _validate_status(record, max_message_bytes)
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
