"""The ingestor's settings, read once at start from the environment (and `.env`)."""

from __future__ import annotations

from pydantic import Field

from order_shared.settings import Port, ServiceSettings
from order_shared.topics import MAX_MESSAGE_BYTES


class IngestorSettings(ServiceSettings):
    port: Port = 8081
    host: str = "127.0.0.1"
    consumer_group: str = Field(default="order-ingestor", min_length=1)
    batch_max_records: int = Field(default=2000, ge=1, le=100_000)
    batch_wait_ms: int = Field(default=200, ge=0, le=60_000)
    max_message_bytes: int = Field(default=1_048_576, ge=1024, le=MAX_MESSAGE_BYTES)
    database_pool_size: int = Field(default=4, ge=1, le=100)
    outbox_batch_size: int = Field(default=2000, ge=1, le=100_000)
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=3600)
    # Readiness turns false when a fetched batch has waited this long without being
    # settled (the database or the broker away, a record that cannot be dead-lettered).
    progress_deadline_seconds: float = Field(default=120.0, gt=0, le=86_400)
    # Bounds on how long one writer can hold the change counter's lock, which every
    # writer needs: a writer frozen or cut off mid-transaction is ended by the server.
    database_lock_timeout_seconds: float = Field(default=15.0, gt=0, le=3600)
    database_statement_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    database_idle_in_transaction_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)

    def database_session_settings(self) -> dict[str, str]:
        """PostgreSQL settings of every session of the writer's pool."""
        return {
            "lock_timeout": _milliseconds(self.database_lock_timeout_seconds),
            "statement_timeout": _milliseconds(self.database_statement_timeout_seconds),
            "idle_in_transaction_session_timeout": _milliseconds(
                self.database_idle_in_transaction_timeout_seconds
            ),
        }


def _milliseconds(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"
