"""Publishing to Kafka: each document keyed by its `order_uid`, with the trace context in
the headers, through an idempotent producer, optionally paced to a rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import msgspec
from aiokafka import AIOKafkaProducer
from opentelemetry import trace

from order_shared.telemetry import trace_headers
from order_shared.topics import MAX_MESSAGE_BYTES

tracer = trace.get_tracer("producer")


class _KeyOnly(msgspec.Struct):
    order_uid: str = ""


_key_decoder = msgspec.json.Decoder(_KeyOnly)


def order_key(document: bytes) -> bytes | None:
    """The document's `order_uid` as the message key; None if it has none we can read."""
    try:
        return _key_decoder.decode(document).order_uid.encode() or None
    except msgspec.DecodeError:
        return None


async def publish(
    bootstrap_servers: str, topic: str, documents: Iterable[bytes], rate: float | None = None
) -> int:
    """Send every document and wait for the broker's acknowledgements; return the count."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        # Whatever the topics take: a broken or oversized document is published too,
        # for the ingestor to dead-letter.
        max_request_size=MAX_MESSAGE_BYTES,
    )
    try:
        await producer.start()
    except BaseException:
        await producer.stop()  # what start() opened before it failed
        raise
    sent = 0
    started = time.monotonic()
    pending: list[asyncio.Future] = []
    try:
        for document in documents:
            key = order_key(document)
            with tracer.start_as_current_span(
                f"{topic} publish", kind=trace.SpanKind.PRODUCER
            ) as span:
                if key is not None and span.is_recording():
                    # The order id, so that Jaeger finds the order's trace by it.
                    span.set_attribute("messaging.kafka.message.key", key.decode())
                pending.append(
                    await producer.send(topic, value=document, key=key, headers=trace_headers())
                )
            sent += 1
            if rate:
                delay = started + sent / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent
