"""The command publisher: one idempotent Kafka producer (acks=all) per replica, started
and stopped by the app's lifespan.

The replica must serve reads while Kafka is away, so the producer is started in the
background and retried; until it is running, and whenever a send is not acknowledged in
time, a command is refused with `PublishUnavailable` (503), never a 500.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata
from opentelemetry import context, trace

from order_shared.outcomes import OUTCOME_WANTED
from order_shared.telemetry import trace_headers
from order_shared.topics import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)
tracer = trace.get_tracer("query.commands")

_RETRY_SECONDS = 1.0


class PublishUnavailable(Exception):
    """Kafka did not take the record; the command was not (or may not have been) published."""


class CommandPublisher:
    def __init__(self, bootstrap_servers: str, send_timeout_seconds: float) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._send_timeout = send_timeout_seconds
        self._producer: AIOKafkaProducer | None = None

    async def run(self) -> None:
        """Start the producer, retrying until Kafka answers; stop it when cancelled."""
        try:
            while self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap_servers,
                    enable_idempotence=True,
                    acks="all",
                    linger_ms=1,
                    max_request_size=MAX_MESSAGE_BYTES,
                    request_timeout_ms=round(self._send_timeout * 1000),
                )
                try:
                    await producer.start()
                except KafkaError as error:
                    await producer.stop()
                    log.warning("command producer cannot reach Kafka: %s; retrying", error)
                    await asyncio.sleep(_RETRY_SECONDS)
                    continue
                self._producer = producer
            await asyncio.Event().wait()
        finally:
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None

    async def send(
        self,
        topic: str,
        key: str,
        value: bytes | None,
        trace_context: context.Context,
        *,
        want_outcome: bool = False,
    ) -> RecordMetadata:
        """Publish and wait for every in-sync replica's acknowledgement; the record's
        partition and offset. The trace context travels in the headers, and with
        `want_outcome` the header that asks the ingestor to tell what it did with it."""
        producer = self._producer
        if producer is None:
            raise PublishUnavailable("Kafka is not reachable yet")
        with tracer.start_as_current_span(
            f"{topic} publish", context=trace_context, kind=trace.SpanKind.PRODUCER
        ) as span:
            if span.is_recording():
                span.set_attribute("messaging.kafka.message.key", key)
            try:
                # aiokafka gives up after request_timeout_ms; the outer bound only guards
                # against a wait that would outlive it.
                return await asyncio.wait_for(
                    producer.send_and_wait(
                        topic,
                        value=value,
                        key=key.encode(),
                        headers=[*trace_headers(), *([OUTCOME_WANTED] if want_outcome else [])],
                    ),
                    self._send_timeout * 2,
                )
            except (KafkaError, TimeoutError) as error:
                raise PublishUnavailable(
                    f"Kafka did not acknowledge the record: {error!r}"
                ) from None
