"""A second, independent Kafka client for the tests: librdkafka (through confluent-kafka),
the C library behind most non-Java producers. It publishes what other producers send:
batches in every compression codec, and records in committed and aborted transactions.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaException, Producer

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Record:
    key: bytes
    value: bytes
    partition: int


def _producer(bootstrap: str, codec: str, **config: object) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": codec,
            # Records wait a little, so that each batch holds several: a compressed batch.
            "linger.ms": 20,
            **config,
        }
    )


def publish(bootstrap: str, topic: str, records: Sequence[Record], *, codec: str) -> None:
    """Publish `records` in batches compressed with `codec`; each acknowledged."""
    producer = _producer(bootstrap, codec)
    failures: list[str] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    for record in records:
        producer.produce(
            topic, record.value, record.key, partition=record.partition, on_delivery=delivered
        )
    if producer.flush(TIMEOUT_SECONDS) or failures:
        raise KafkaException(f"not acknowledged: {failures or 'flush timed out'}")


def publish_in_transaction(
    bootstrap: str, topic: str, records: Sequence[Record], *, codec: str, commit: bool
) -> None:
    """Publish `records` in one transaction, committed or aborted, compressed with `codec`."""
    producer = _producer(bootstrap, codec, **{"transactional.id": f"test-{uuid.uuid4()}"})
    producer.init_transactions(TIMEOUT_SECONDS)
    producer.begin_transaction()
    for record in records:
        producer.produce(topic, record.value, record.key, partition=record.partition)
    if commit:
        producer.commit_transaction(TIMEOUT_SECONDS)
    else:
        producer.flush(TIMEOUT_SECONDS)  # on the broker, then aborted
        producer.abort_transaction(TIMEOUT_SECONDS)
