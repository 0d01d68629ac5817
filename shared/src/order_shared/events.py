"""The message of Kafka `order-events`: "look at order X", with its status and version so a
consumer can drop repeats and stale events. `erased` says the order was erased (a tombstone
on `orders`) at that version."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from order_shared.model import OrderStatus

EventStatus = OrderStatus | Literal["erased"]


class OrderEvent(msgspec.Struct, frozen=True):
    order_id: str
    status: EventStatus
    created_at: datetime
    version: int


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(OrderEvent)


def encode_event(event: OrderEvent) -> bytes:
    return _encoder.encode(event)


def decode_event(raw: bytes) -> OrderEvent:
    return _decoder.decode(raw)
