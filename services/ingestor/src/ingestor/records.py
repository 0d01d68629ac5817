"""The ingestor's records of one message's way through it: what validation made of a
record (an accepted order, erasure or status change, or a rejection with its reason), and
what a committed write announces."""

from __future__ import annotations

import msgspec
from aiokafka.structs import ConsumerRecord

from ingestor.order_rows import OrderLines
from order_shared.model import Order, OrderStatus, StatusChange


class AcceptedOrder(msgspec.Struct, frozen=True, gc=False):
    """An order document that passed validation, with what its write needs."""

    record: ConsumerRecord
    order: Order
    # The canonical JSON, its SHA-256 and its COPY lines.
    document: bytes
    content_hash: bytes
    lines: OrderLines

    @property
    def order_uid(self) -> str:
        return self.order.order_uid


class AcceptedErasure(msgspec.Struct, frozen=True, gc=False):
    """A tombstone on `orders` (a null value keyed by a valid order id): erase the order."""

    record: ConsumerRecord
    order_uid: str


# What the writer takes from `orders`, in partition order: an order's records apply in the
# order they were produced, erasures among them.
OrderRecord = AcceptedOrder | AcceptedErasure


class AcceptedStatus(msgspec.Struct, frozen=True, gc=False):
    record: ConsumerRecord
    change: StatusChange


class Rejection(msgspec.Struct, frozen=True, gc=False):
    """A message for the dead-letter topic, and why."""

    record: ConsumerRecord
    error_class: str
    reason: str


Outcome = AcceptedOrder | AcceptedErasure | AcceptedStatus | Rejection


class OrderChange(msgspec.Struct, frozen=True, gc=False):
    """What to announce: the order's newest state; no document if only its status changed,
    or if the order was erased (`erased`). A batch that erased the order before its last
    change announces each such erasure too, before it, each with its own sequence."""

    order_uid: str
    version: int
    seq: int
    status: OrderStatus
    document: bytes | None
    # The trace of the message that made the last change, carried on to the replicas.
    traceparent: str | None = None
    # The (partition, offset) of the `orders` record the content came from, if known.
    source: tuple[int, int] | None = None
    erased: bool = False
