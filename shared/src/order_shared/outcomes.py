"""Record outcomes on Redis `orders:outcomes`: what the writer did with one Kafka record,
told to the command that published it and waits for it (`Prefer: wait`).

A command asks for its record's outcome with the Kafka header `outcome: wanted`; the
ingestor publishes the outcome of every such record after the batch's announcements, in
the same order on the same server, so a replica that hears an outcome has applied the
change it speaks of (unless that announcement was lost: `seq` then tells it what to
catch up on). A record is named by its topic, partition and offset, which the producer's
acknowledgement gave the command."""

from __future__ import annotations

from typing import Literal

import msgspec

from order_shared.model import OrderStatus

OUTCOMES_CHANNEL = "orders:outcomes"
# The Kafka header by which a record asks for its outcome.
OUTCOME_HEADER = "outcome"
OUTCOME_WANTED = (OUTCOME_HEADER, b"wanted")

Outcome = Literal[
    # An order document: no order stood under the id (new, or sent again after its
    # erasure); an order stood and its content changed; the same content again; a record
    # at or before the position the order already holds (a replay).
    "created",
    "replaced",
    "unchanged",
    "stale",
    # A tombstone: it erased the order; there was none (never seen); erased already.
    "erased",
    "not_found",
    "gone",
    # A status change: applied; the order had it already; another status is final
    # (`status` says which); the order is erased (the change belonged to it, or waits for
    # the id to be sent again); no order yet, it waits for it.
    "applied",
    "repeated",
    "conflict",
    "order_erased",
    "pending",
    # Dead-lettered for another reason (`reason` says which).
    "rejected",
]


class RecordOutcome(msgspec.Struct, frozen=True, omit_defaults=True):
    order_uid: str
    topic: str
    partition: int
    offset: int
    outcome: Outcome
    # The order's version and status the record left (0 and None when it has none), and
    # the change sequence of the announcement that carries it (0: nothing announced).
    version: int = 0
    status: OrderStatus | None = None
    seq: int = 0
    reason: str | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(RecordOutcome)


def encode_outcome(outcome: RecordOutcome) -> bytes:
    return _encoder.encode(outcome)


def decode_outcome(raw: bytes) -> RecordOutcome:
    return _decoder.decode(raw)


def wants_outcome(headers: object) -> bool:
    """True if a consumed record's headers ask for its outcome."""
    return any(key == OUTCOME_HEADER for key, _ in headers or ())  # type: ignore[attr-defined]
