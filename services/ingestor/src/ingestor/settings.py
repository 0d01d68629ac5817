"""The ingestor's settings, read once at start from the environment (and `.env`)."""

from __future__ import annotations

from pydantic import Field

from order_shared.settings import ConsumerServiceSettings, Port
from order_shared.topics import MAX_MESSAGE_BYTES


class IngestorSettings(ConsumerServiceSettings):
    port: Port = 8081
    host: str = "127.0.0.1"
    consumer_group: str = Field(default="order-ingestor", min_length=1)
    batch_max_records: int = Field(default=2000, ge=1, le=100_000)
    batch_wait_ms: int = Field(default=200, ge=0, le=60_000)
    max_message_bytes: int = Field(default=1_048_576, ge=1024, le=MAX_MESSAGE_BYTES)
    database_pool_size: int = Field(default=4, ge=1, le=100)
    outbox_batch_size: int = Field(default=2000, ge=1, le=100_000)
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=3600)
