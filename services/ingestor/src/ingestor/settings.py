"""The ingestor's settings, read once at start from the environment (and `.env`)."""

from __future__ import annotations

from pydantic import Field

from order_shared.settings import ConsumerServiceSettings, Port
from order_shared.topics import MAX_MESSAGE_BYTES


class IngestorSettings(ConsumerServiceSettings):
    port: Port = 8081
    """The port of the health, readiness and metrics endpoints."""
    host: str = "127.0.0.1"
    """The address they listen on."""
    consumer_group: str = Field(default="order-ingestor", min_length=1)
    """The Kafka consumer group of `orders` and `order-status`."""
    batch_max_records: int = Field(default=2000, ge=1, le=100_000)
    """The most records one transaction takes. A fetch returns what is there, so a large batch adds
    no latency when traffic is light."""
    batch_wait_ms: int = Field(default=200, ge=0, le=60_000)
    """How long a fetch waits for records."""
    max_message_bytes: int = Field(default=1_048_576, ge=1024, le=MAX_MESSAGE_BYTES)
    """Larger messages are dead-lettered (the topics accept up to 16 MiB, so an oversized message
    still reaches the DLQ whole). Keep the query service's equal."""
    database_pool_size: int = Field(default=4, ge=1, le=100)
    """Connections to PostgreSQL."""
    outbox_batch_size: int = Field(default=2000, ge=1, le=100_000)
    """Events the outbox relay publishes to `order-events` per round."""
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=3600)
    """How often the relay looks for unsent events when no commit woke it."""
