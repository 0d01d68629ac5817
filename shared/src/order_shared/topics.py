"""Kafka topics and Redis channels of the design's message contracts, and their creation."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

ORDERS = "orders"
ORDER_STATUS = "order-status"
ORDER_EVENTS = "order-events"
ORDERS_DLQ = "orders.dlq"
ALL_TOPICS = (ORDERS, ORDER_STATUS, ORDER_EVENTS, ORDERS_DLQ)

CHANGES_CHANNEL = "orders:changes"

# The largest message the topics accept: well above any valid order, so an oversized one
# reaches the ingestor, is rejected with its reason and is kept whole in the DLQ.
MAX_MESSAGE_BYTES = 16 * 1_048_576
_TOPIC_CONFIGS = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}


def min_insync_replicas(replication_factor: int) -> int:
    """Replicas that must have a record before an `acks=all` producer is told it is
    written: all but one, so that one broker may fail or lag without stopping producers,
    and an acknowledged record survives the loss of any one broker."""
    return max(1, replication_factor - 1)


async def ensure_topics(
    bootstrap_servers: str, partitions: int = 3, replication_factor: int = 1
) -> None:
    """Create every topic of the contract that does not exist yet; existing ones are kept.
    Each new topic sets its own `min.insync.replicas` (`min_insync_replicas`), whatever the
    brokers' default."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name=name,
                num_partitions=partitions,
                replication_factor=replication_factor,
                topic_configs={
                    **_TOPIC_CONFIGS,
                    "min.insync.replicas": str(min_insync_replicas(replication_factor)),
                },
            )
            for name in ALL_TOPICS
            if name not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
