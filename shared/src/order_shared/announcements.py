"""The change announcement on Redis `orders:changes`: what the ingestor publishes after a
commit and what every query replica applies if it is newer than what it holds.

`erased` says the order was erased at this version (a tombstone on `orders`): replicas
drop it and answer that it is gone. Left out when false, so older readers see the same
message as before."""

from __future__ import annotations

import msgspec

from order_shared.model import OrderStatus

_NULL = msgspec.Raw(b"null")


class ChangeAnnouncement(msgspec.Struct, frozen=True, omit_defaults=True):
    order_uid: str
    version: int
    seq: int
    status: OrderStatus = "created"
    # The order document exactly as served (canonical JSON); JSON null invalidates.
    order: msgspec.Raw = _NULL
    # The W3C trace context of the order's record in the ingestor, only if that trace is
    # recorded: a replica continues it with its `apply` span.
    traceparent: str | None = None
    # The (partition, offset) on Kafka `orders` of the record the content came from, when
    # known: a command that published that record waits until a replica has applied it.
    source_partition: int | None = None
    source_offset: int | None = None
    # When the ingestor's transaction committed (Unix seconds): a replica's freshness.
    committed_at: float | None = None
    erased: bool = False

    @property
    def document(self) -> bytes | None:
        body = bytes(self.order)
        return None if body == b"null" else body


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ChangeAnnouncement)


def encode_announcement(announcement: ChangeAnnouncement) -> bytes:
    return _encoder.encode(announcement)


def decode_announcement(raw: bytes) -> ChangeAnnouncement:
    return _decoder.decode(raw)
