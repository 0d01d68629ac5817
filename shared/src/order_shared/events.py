"""The message of Kafka `order-events`: "look at order X", with its status and version so a
consumer can drop repeats and stale events."""

from __future__ import annotations

from datetime import datetime

import msgspec

from order_shared.model import OrderStatus


class OrderEvent(msgspec.Struct, frozen=True):
    order_id: str
    status: OrderStatus
    created_at: datetime
    version: int


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(OrderEvent)


def encode_event(event: OrderEvent) -> bytes:
    return _encoder.encode(event)


def decode_event(raw: bytes) -> OrderEvent:
    return _decoder.decode(raw)
